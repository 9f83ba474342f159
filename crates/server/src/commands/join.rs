//! JOIN <#channel>[,<#channel>] [<key>[,<key>]]; JOIN 0 leaves every channel.

use ferry_proto::validate::is_valid_channel;
use ferry_proto::{numeric::*, Message};

use crate::accounts::send_marker_if_wanted;
use crate::caps::Cap;
use crate::channel::{ChanState, Channel, Member, Topic};
use crate::client::ClientId;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::event::Event;
use crate::membership::{part_one, send_names, send_topic};
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let names = msg.param(0).unwrap_or("");
    if names == "0" {
        let chans = cx.me().info().channels.clone();
        for ch in chans {
            part_one(cx, &ch, "Left all channels");
        }
        return Ok(());
    }
    let mut keys = msg.param(1).unwrap_or("").split(',');
    for name in names.split(',') {
        let key = keys.next().filter(|k| !k.is_empty());
        if name.is_empty() {
            continue;
        }
        if let Err(r) = join_one(cx, name, key) {
            cx.reject(r);
        }
    }
    Ok(())
}

fn join_one(cx: &mut Ctx<'_>, name: &str, key: Option<&str>) -> Outcome {
    let cfg = &cx.server.config();
    if !is_valid_channel(name, cfg.casemap, cfg.limits.channel_length) {
        return Err(Reject::NoSuchChannel(name.into()));
    }
    let folded = cfg
        .casemap
        .fold(name)
        .expect("valid channel names fold")
        .into_owned();
    if let Some(p) = cx.server.purged.get(&folded) {
        return Err(Reject::Numeric(
            ERR_NOSUCHCHANNEL,
            vec![
                name.into(),
                format!("Cannot join channel (it was closed: {})", p.reason),
            ],
        ));
    }
    let me = cx.me().clone();
    let (prefix, realname, account, away, n_chans) = {
        let i = me.info();
        (
            i.prefix(),
            i.realname.clone(),
            i.account.clone(),
            i.away.clone(),
            i.channels.len(),
        )
    };
    if n_chans >= cfg.limits.channels_per_user {
        return Err(Reject::Numeric(
            ERR_TOOMANYCHANNELS,
            vec![name.into(), "You have joined too many channels".into()],
        ));
    }
    let mask = cfg.casemap.fold_lossy(&prefix);
    let account_key = cx.s.account.clone();
    let who = crate::channel::Who {
        mask: &mask,
        account: account_key.as_deref(),
    };
    let sendq = cx.sendq();
    loop {
        let ch = cx
            .server
            .registry
            .channel_or_create(&folded, name, cx.server.clock.unix_secs());
        let mut st = ch.lock();
        if st.dead {
            continue;
        }
        if st.members.contains_key(&me.id) {
            return Ok(());
        }
        let chname = ch.name.clone();
        // A new channel's first member is its operator; a registered
        // channel (kept while empty) gives status by its access list.
        let fresh = st.members.is_empty() && st.registered.is_none();
        if !fresh {
            may_join(&st, me.id, &chname, key, &who, cfg.limits.channel_members)?;
        } else {
            st.modes.no_external = true;
            st.modes.topic_lock = true;
        }
        let status = crate::chanserv::status_on_join(&st, account_key.as_deref());
        st.invited.remove(&me.id);
        st.members.insert(
            me.id,
            Member {
                client: me.clone(),
                prefix: crate::chanserv::join_prefix(fresh, status),
                joined_ms: cx.server.clock.unix_ms(),
            },
        );
        let plain = cx.event(format!(":{prefix} JOIN {chname}\r\n"));
        let ext = cx.event(format!(
            ":{prefix} JOIN {chname} {} :{realname}\r\n",
            account.as_deref().unwrap_or("*")
        ));
        let away_ev = away
            .as_ref()
            .map(|a| Event::new(format!(":{prefix} AWAY :{a}\r\n"), cx.server.clock.wall()));
        route::join(&st, me.id, &plain, &ext, away_ev.as_ref(), sendq);
        let status_line = status.and_then(|p| {
            crate::chanserv::announce_status(cx.server, &st, me.id, &chname, &me.nick(), p)
        });
        let topic = st.topic.clone();
        drop(st);
        me.info().channels.push(ch.clone());
        joined(cx, &ch, &plain, &ext, topic);
        if let Some(e) = status_line {
            cx.push_event(&e);
        }
        return Ok(());
    }
}

/// Whether this client may join a channel that has members: its key,
/// the server's member cap, its limit, +i (with invitations and +I), +b.
fn may_join(
    st: &ChanState,
    me: ClientId,
    chname: &str,
    key: Option<&str>,
    who: &crate::channel::Who<'_>,
    channel_members: usize,
) -> Result<(), Reject> {
    let refused =
        |code, why: &str| Err(Reject::Numeric(code, vec![chname.to_string(), why.into()]));
    let invited = st.invited.contains(&me);
    if let Some(k) = &st.modes.key {
        if key != Some(k.as_str()) && !invited {
            return refused(ERR_BADCHANNELKEY, "Cannot join channel (+k)");
        }
    }
    if st.members.len() >= channel_members {
        // The server's own cap: no invitation gets past it.
        return refused(ERR_CHANNELISFULL, "Cannot join channel (channel is full)");
    }
    if let Some(l) = st.modes.limit {
        if st.members.len() >= l && !invited {
            return refused(ERR_CHANNELISFULL, "Cannot join channel (+l)");
        }
    }
    if st.modes.invite_only && !invited && !ChanState::list_matches(&st.invex, who) {
        return refused(ERR_INVITEONLYCHAN, "Cannot join channel (+i)");
    }
    if st.is_banned(who) && !invited {
        return refused(ERR_BANNEDFROMCHAN, "Cannot join channel (+b)");
    }
    Ok(())
}

/// What the joining client sees: its JOIN, the topic, the names.
fn joined(cx: &mut Ctx<'_>, ch: &Channel, plain: &Event, ext: &Event, topic: Option<Topic>) {
    if cx.caps().has(Cap::ExtendedJoin) {
        cx.push_event(ext);
    } else {
        cx.push_event(plain);
    }
    if let Some(t) = topic {
        send_topic(cx, &ch.name, &t);
    }
    // Before RPL_ENDOFNAMES, as draft/read-marker asks.
    send_marker_if_wanted(cx, &ch.name);
    if !cx.caps().has(Cap::NoImplicitNames) {
        send_names(cx, ch);
    }
    crate::metadata::on_join(cx, ch);
}
