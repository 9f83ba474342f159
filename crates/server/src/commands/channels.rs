//! JOIN, PART, TOPIC, NAMES, LIST, INVITE, KICK.

use std::sync::Arc;

use ferry_proto::validate::is_valid_channel;
use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::channel::{ChanState, Channel, Member, Prefix, Topic};
use crate::ctx::{Ctx, Outcome, Reject};
use crate::event::Event;
use crate::route;
use crate::unix_now;

pub(super) fn join(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
            .channel_or_create(&folded, name, unix_now());
        let mut st = ch.lock();
        if st.dead {
            continue;
        }
        if st.members.contains_key(&me.id) {
            return Ok(());
        }
        let chname = ch.name.clone();
        let new = st.members.is_empty();
        if !new {
            let invited = st.invited.contains(&me.id);
            if let Some(k) = &st.modes.key {
                if key != Some(k.as_str()) && !invited {
                    return Err(Reject::Numeric(
                        ERR_BADCHANNELKEY,
                        vec![chname, "Cannot join channel (+k)".into()],
                    ));
                }
            }
            if st.members.len() >= cfg.limits.channel_members {
                // The server's own cap: no invitation gets past it.
                return Err(Reject::Numeric(
                    ERR_CHANNELISFULL,
                    vec![chname, "Cannot join channel (channel is full)".into()],
                ));
            }
            if let Some(l) = st.modes.limit {
                if st.members.len() >= l && !invited {
                    return Err(Reject::Numeric(
                        ERR_CHANNELISFULL,
                        vec![chname, "Cannot join channel (+l)".into()],
                    ));
                }
            }
            if st.modes.invite_only && !invited && !ChanState::list_matches(&st.invex, &who) {
                return Err(Reject::Numeric(
                    ERR_INVITEONLYCHAN,
                    vec![chname, "Cannot join channel (+i)".into()],
                ));
            }
            if st.is_banned(&who) && !invited {
                return Err(Reject::Numeric(
                    ERR_BANNEDFROMCHAN,
                    vec![chname, "Cannot join channel (+b)".into()],
                ));
            }
        } else {
            st.modes.no_external = true;
            st.modes.topic_lock = true;
        }
        st.invited.remove(&me.id);
        st.members.insert(
            me.id,
            Member {
                client: me.clone(),
                prefix: Prefix {
                    op: new,
                    voice: false,
                },
            },
        );
        let plain = cx.event(format!(":{prefix} JOIN {chname}\r\n"));
        let ext = cx.event(format!(
            ":{prefix} JOIN {chname} {} :{realname}\r\n",
            account.as_deref().unwrap_or("*")
        ));
        let away_ev = away
            .as_ref()
            .map(|a| Event::new(format!(":{prefix} AWAY :{a}\r\n")));
        route::join(&st, me.id, &plain, &ext, away_ev.as_ref(), sendq);
        let topic = st.topic.clone();
        drop(st);
        me.info().channels.push(ch.clone());
        if cx.caps().has(Cap::ExtendedJoin) {
            cx.push_event(&ext);
        } else {
            cx.push_event(&plain);
        }
        if let Some(t) = topic {
            cx.num(RPL_TOPIC, &[&chname, &t.text]);
            cx.num(
                RPL_TOPICWHOTIME,
                &[&chname, &t.set_by, &t.set_at.to_string()],
            );
        }
        if !cx.caps().has(Cap::NoImplicitNames) {
            send_names(cx, &ch);
        }
        return Ok(());
    }
}

/// 353 lines then 366 for one channel, as this client may see them.
pub(crate) fn send_names(cx: &mut Ctx<'_>, ch: &Channel) {
    send_names_lines(cx, ch);
    cx.num(RPL_ENDOFNAMES, &[&ch.name, "End of /NAMES list"]);
}

/// The 353 lines of one channel.
fn send_names_lines(cx: &mut Ctx<'_>, ch: &Channel) {
    let me = cx.me().id;
    let multi = cx.caps().has(Cap::MultiPrefix);
    let uhnames = cx.caps().has(Cap::UserhostInNames);
    let (symbol, names) = {
        let st = ch.lock();
        let member = st.members.contains_key(&me);
        if st.modes.secret && !member {
            (None, Vec::new())
        } else {
            let symbol = if st.modes.secret { "@" } else { "=" };
            let mut names = Vec::with_capacity(st.members.len());
            for m in st.members.values() {
                let i = m.client.info();
                if !member && i.modes.invisible {
                    continue;
                }
                let who = if uhnames {
                    i.prefix()
                } else {
                    i.nick.to_string()
                };
                names.push(format!("{}{who}", m.prefix.symbols(multi)));
            }
            (Some(symbol), names)
        }
    };
    if let Some(symbol) = symbol {
        let mut line = String::new();
        for n in names {
            if !line.is_empty() && line.len() + n.len() > 380 {
                cx.num(
                    RPL_NAMREPLY,
                    &[symbol, &ch.name, &std::mem::take(&mut line)],
                );
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&n);
        }
        if !line.is_empty() {
            cx.num(RPL_NAMREPLY, &[symbol, &ch.name, &line]);
        }
    }
}

/// Removes this client from `ch`, telling every member; false if not on it.
fn part_one(cx: &mut Ctx<'_>, ch: &Arc<Channel>, reason: &str) -> bool {
    let me = cx.me().clone();
    let prefix = cx.prefix();
    let e = if reason.is_empty() {
        cx.event(format!(":{prefix} PART {}\r\n", ch.name))
    } else {
        cx.event(format!(":{prefix} PART {} :{reason}\r\n", ch.name))
    };
    let sendq = cx.sendq();
    let empty = {
        let mut st = ch.lock();
        if st.members.remove(&me.id).is_none() {
            return false;
        }
        route::to_members(&st, None, &e, sendq);
        st.members.is_empty()
    };
    me.info().channels.retain(|c| !Arc::ptr_eq(c, ch));
    cx.push_event(&e);
    if empty {
        cx.server.registry.remove_channel_if_empty(ch);
    }
    true
}

pub(super) fn part(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let reason = msg.param(1).unwrap_or("");
    for name in msg
        .param(0)
        .unwrap_or("")
        .split(',')
        .filter(|n| !n.is_empty())
    {
        let Some(ch) = cx.server.find_channel(name) else {
            cx.reject(Reject::NoSuchChannel(name.into()));
            continue;
        };
        if !part_one(cx, &ch, reason) {
            cx.reject(Reject::NotOnChannel(ch.name.clone()));
        }
    }
    Ok(())
}

pub(super) fn topic(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let name = msg.param(0).unwrap_or("");
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let Some(text) = msg.param(1) else {
        let (topic, visible) = {
            let st = ch.lock();
            (
                st.topic.clone(),
                st.members.contains_key(&me.id) || !st.modes.secret,
            )
        };
        if !visible {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        }
        match topic {
            Some(t) => {
                cx.num(RPL_TOPIC, &[&ch.name, &t.text]);
                cx.num(
                    RPL_TOPICWHOTIME,
                    &[&ch.name, &t.set_by, &t.set_at.to_string()],
                );
            }
            None => cx.num(RPL_NOTOPIC, &[&ch.name, "No topic is set"]),
        }
        return Ok(());
    };
    let text: String = text
        .chars()
        .take(cx.server.config().limits.topic_length)
        .collect();
    let prefix = cx.prefix();
    let e = cx.event(format!(":{prefix} TOPIC {} :{text}\r\n", ch.name));
    let sendq = cx.sendq();
    {
        let mut st = ch.lock();
        let Some(p) = st.prefix_of(me.id) else {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        };
        if st.modes.topic_lock && !p.op {
            return Err(Reject::ChanOpPrivsNeeded(ch.name.clone()));
        }
        st.topic = (!text.is_empty()).then(|| Topic {
            text: text.clone(),
            set_by: prefix.clone(),
            set_at: unix_now(),
        });
        route::to_members(&st, Some(me.id), &e, sendq);
    }
    cx.push_event(&e);
    // A channel event, replayed to clients with draft/event-playback.
    let account = me.info().account.as_deref().map(str::to_string);
    cx.server.history.record(
        ch.folded.clone(),
        ferry_store::StoredMessage {
            msgid: e.msgid.clone().unwrap_or_default(),
            time_ms: e.time_ms,
            source: prefix,
            account,
            command: "TOPIC".into(),
            target: ch.name.clone(),
            text,
            tags: String::new(),
        },
    );
    Ok(())
}

pub(super) fn names(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(list) = msg.param(0).filter(|p| !p.is_empty()) else {
        cx.num(RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
        return Ok(());
    };
    // One 366 at the end, naming what was asked for (RFC 2812, Modern IRC).
    for name in list.split(',').filter(|n| !n.is_empty()) {
        if let Some(ch) = cx.server.find_channel(name) {
            send_names_lines(cx, &ch);
        }
    }
    cx.num(RPL_ENDOFNAMES, &[list, "End of /NAMES list"]);
    Ok(())
}

/// One ELIST condition of LIST.
enum Filter {
    Mask(String, bool),
    UsersAbove(usize),
    UsersBelow(usize),
    CreatedBefore(u64),
    CreatedAfter(u64),
    TopicBefore(u64),
    TopicAfter(u64),
}

fn parse_filter(f: &str, now: u64, casemap: ferry_proto::Casemap) -> Option<Filter> {
    let minutes = |s: &str| s.parse::<u64>().ok().map(|m| now.saturating_sub(m * 60));
    if let Some(n) = f.strip_prefix('>') {
        return n.parse().ok().map(Filter::UsersAbove);
    }
    if let Some(n) = f.strip_prefix('<') {
        return n.parse().ok().map(Filter::UsersBelow);
    }
    // C<n: created less than n minutes ago; C>n: more than n minutes ago.
    if let Some(n) = f.strip_prefix("C<") {
        return minutes(n).map(Filter::CreatedAfter);
    }
    if let Some(n) = f.strip_prefix("C>") {
        return minutes(n).map(Filter::CreatedBefore);
    }
    if let Some(n) = f.strip_prefix("T<") {
        return minutes(n).map(Filter::TopicAfter);
    }
    if let Some(n) = f.strip_prefix("T>") {
        return minutes(n).map(Filter::TopicBefore);
    }
    if let Some(m) = f.strip_prefix('!') {
        return Some(Filter::Mask(casemap.fold_lossy(m), false));
    }
    Some(Filter::Mask(casemap.fold_lossy(f), true))
}

pub(super) fn list(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let now = unix_now();
    let casemap = cx.server.config().casemap;
    let filters: Vec<Filter> = msg
        .param(0)
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
        .filter_map(|f| parse_filter(f, now, casemap))
        .collect();
    let me = cx.me().id;
    let chans: Vec<Arc<Channel>> = cx.server.registry.channels();
    cx.num(RPL_LISTSTART, &["Channel", "Users  Name"]);
    let masks: Vec<&Filter> = filters
        .iter()
        .filter(|f| matches!(f, Filter::Mask(_, true)))
        .collect();
    for ch in chans {
        let (visible, count, topic, created, topic_at, modes) = {
            let st = ch.lock();
            let member = st.members.contains_key(&me);
            (
                !st.modes.secret || member,
                st.members.len(),
                st.topic
                    .as_ref()
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
                st.created,
                st.topic.as_ref().map(|t| t.set_at).unwrap_or(0),
                st.modes.to_mode_string(member).0,
            )
        };
        if !visible {
            continue;
        }
        let name_ok = masks.is_empty()
            || masks.iter().any(
                |f| matches!(f, Filter::Mask(m, _) if ferry_proto::mask::matches(m, &ch.folded)),
            );
        let ok = name_ok
            && filters.iter().all(|f| match f {
                Filter::Mask(_, true) => true,
                Filter::Mask(m, false) => !ferry_proto::mask::matches(m, &ch.folded),
                Filter::UsersAbove(n) => count > *n,
                Filter::UsersBelow(n) => count < *n,
                Filter::CreatedBefore(t) => created < *t,
                Filter::CreatedAfter(t) => created > *t,
                Filter::TopicBefore(t) => topic_at < *t,
                Filter::TopicAfter(t) => topic_at > *t,
            });
        if ok {
            cx.num(
                RPL_LIST,
                &[&ch.name, &count.to_string(), &format!("[{modes}] {topic}")],
            );
        }
    }
    cx.num(RPL_LISTEND, &["End of /LIST"]);
    Ok(())
}

pub(super) fn invite(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(nick), Some(name)) = (msg.param(0), msg.param(1)) else {
        if msg.params().is_empty() {
            cx.num(RPL_ENDOFINVITELIST, &["End of /INVITE list"]);
            return Ok(());
        }
        return Err(Reject::NeedMoreParams);
    };
    let Some(target) = cx.server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let prefix = cx.prefix();
    let tnick = target.nick();
    let e = cx.event(format!(":{prefix} INVITE {tnick} {}\r\n", ch.name));
    let sendq = cx.sendq();
    {
        let mut st = ch.lock();
        let Some(p) = st.prefix_of(me.id) else {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        };
        if st.modes.invite_only && !p.op {
            return Err(Reject::ChanOpPrivsNeeded(ch.name.clone()));
        }
        if st.members.contains_key(&target.id) {
            return Err(Reject::Numeric(
                ERR_USERONCHANNEL,
                vec![tnick, ch.name.clone(), "is already on channel".into()],
            ));
        }
        st.invited.insert(target.id);
        route::to_members_with(&st, me.id, Cap::InviteNotify, &e, sendq);
    }
    cx.num(RPL_INVITING, &[&tnick, &ch.name]);
    // SILENCE drops invites too, without a word to the inviter.
    route::invite(cx.server, &target, &prefix, &e);
    let away = target.info().away.clone();
    if let Some(a) = away {
        cx.num(RPL_AWAY, &[&tnick, &a]);
    }
    Ok(())
}

pub(super) fn kick(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let chans: Vec<&str> = msg
        .param(0)
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.is_empty())
        .collect();
    let users: Vec<&str> = msg
        .param(1)
        .unwrap_or("")
        .split(',')
        .filter(|n| !n.is_empty())
        .collect();
    let reason = msg.param(2);
    // One channel: every user is kicked from it; several: pairwise (RFC 2812).
    if chans.len() == 1 {
        return kick_from(cx, chans[0], &users, reason);
    }
    for (c, u) in chans.iter().zip(users.iter()) {
        if let Err(r) = kick_from(cx, c, &[u], reason) {
            cx.reject(r);
        }
    }
    Ok(())
}

fn kick_from(cx: &mut Ctx<'_>, name: &str, users: &[&str], reason: Option<&str>) -> Outcome {
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let prefix = cx.prefix();
    let my_nick = me.nick();
    let max = cx.server.config().limits.kick_length;
    let reason: String = reason
        .filter(|r| !r.is_empty())
        .unwrap_or(&my_nick)
        .chars()
        .take(max)
        .collect();
    let sendq = cx.sendq();
    for &nick in users {
        let Some(target) = cx.server.find_nick(nick) else {
            cx.reject(Reject::NoSuchNick(nick.into()));
            continue;
        };
        let tnick = target.nick();
        let e = cx.event(format!(":{prefix} KICK {} {tnick} :{reason}\r\n", ch.name));
        let empty = {
            let mut st = ch.lock();
            let Some(p) = st.prefix_of(me.id) else {
                return Err(Reject::NotOnChannel(ch.name.clone()));
            };
            if !p.op {
                return Err(Reject::ChanOpPrivsNeeded(ch.name.clone()));
            }
            if !st.members.contains_key(&target.id) {
                drop(st);
                cx.reject(Reject::UserNotInChannel(tnick, ch.name.clone()));
                continue;
            }
            route::to_members(&st, Some(me.id), &e, sendq);
            st.members.remove(&target.id);
            st.members.is_empty()
        };
        target.info().channels.retain(|c| !Arc::ptr_eq(c, &ch));
        cx.push_event(&e);
        if empty {
            cx.server.registry.remove_channel_if_empty(&ch);
        }
    }
    Ok(())
}
