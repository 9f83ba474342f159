//! RENAME (IRCv3 `draft/channel-rename`): `RENAME <channel> <new name>
//! [:<reason>]`, by a channel operator. The channel keeps its members,
//! modes, topic, lists and metadata under the new name, and the old name
//! is free. Members with the cap see `RENAME`; the others see themselves
//! leave the old name and join the new one (PART, JOIN, topic, names).
//! History before the rename stays under the old name.

use bytes::Bytes;
use ferry_proto::numeric::*;
use ferry_proto::validate::is_valid_channel;
use ferry_proto::Message;

use crate::caps::{Cap, Caps};
use crate::channel::{ChanState, Channel};
use crate::client::Client;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::membership::names_lines;
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(old), Some(new)) = (msg.param(0), msg.param(1)) else {
        return Err(Reject::NeedMoreParams);
    };
    let reason = msg.param(2).unwrap_or("").to_string();
    let Some(ch) = cx.server.find_channel(old) else {
        return Err(Reject::NoSuchChannel(old.into()));
    };
    let me = cx.me().clone();
    let is_op = ch.lock().members.get(&me.id).map(|m| m.prefix.op);
    match is_op {
        None => return Err(Reject::NotOnChannel(ch.name.clone())),
        Some(false) => return Err(Reject::ChanOpPrivsNeeded(ch.name.clone())),
        Some(true) => {}
    }
    let cfg = cx.server.config();
    let refuse = |code: &'static str, why: &str| {
        Err(Reject::Fail(
            code,
            vec![old.to_string(), new.to_string()],
            why.into(),
        ))
    };
    if !is_valid_channel(new, cfg.casemap, cfg.limits.channel_length) {
        return refuse("CANNOT_RENAME", "That is not a valid channel name");
    }
    let folded = cfg.casemap.fold_lossy(new);
    drop(cfg);
    if cx.server.purged.contains_key(&folded) {
        return refuse(
            "CANNOT_RENAME",
            "That channel was closed by the server operators",
        );
    }
    if ch.lock().registered.is_some() {
        return refuse(
            "CANNOT_RENAME",
            "A registered channel keeps its name (UNREGISTER it first)",
        );
    }
    let old_name = ch.name.clone();
    let Ok(renamed) = cx.server.registry.rename_channel(&ch, new, &folded) else {
        return refuse("CHANNEL_NAME_IN_USE", "A channel by that name exists");
    };
    if ch.folded != folded {
        // Its history so far stays its own (crate::history_read).
        renamed.lock().former_keys.push(ch.folded.clone());
    }
    let prefix = cx.prefix();
    let mut e = cx.event(format!(":{prefix} RENAME {old_name} {new} :{reason}\r\n"));
    e.needs = Some(Cap::ChannelRename);
    let server = cx.server_name().to_string();
    {
        let st = renamed.lock();
        // Each member's own list of channels now holds the new one.
        for m in st.members.values() {
            for c in m.client.info().channels.iter_mut() {
                if std::sync::Arc::ptr_eq(c, &ch) {
                    *c = renamed.clone();
                }
            }
        }
        let legacy = |user: &Client, caps: Caps| {
            Bytes::from(rejoin(&server, user, caps, &old_name, &renamed, &st).join(""))
        };
        route::renamed(cx.server, &st, cx.conn().id, &e, legacy);
        if cx.caps().has(Cap::ChannelRename) {
            cx.push_own(&e);
        } else {
            for l in rejoin(&server, &me, cx.caps(), &old_name, &renamed, &st) {
                cx.reply.line(l.trim_end().to_string());
            }
        }
    }
    Ok(())
}

/// What a member without the cap sees: itself leaving the old name and
/// joining the new one, with the topic and the names (CRLF-terminated).
fn rejoin(
    server: &str,
    user: &Client,
    caps: Caps,
    old: &str,
    ch: &Channel,
    st: &ChanState,
) -> Vec<String> {
    let (prefix, nick, account, realname) = {
        let i = user.info();
        (
            i.prefix(),
            i.nick.to_string(),
            i.account.clone(),
            i.realname.clone(),
        )
    };
    let new = &ch.name;
    let mut out = vec![format!(":{prefix} PART {old} :Renamed to {new}\r\n")];
    out.push(if caps.has(Cap::ExtendedJoin) {
        let a = account.as_deref().unwrap_or("*");
        format!(":{prefix} JOIN {new} {a} :{realname}\r\n")
    } else {
        format!(":{prefix} JOIN {new}\r\n")
    });
    if let Some(t) = &st.topic {
        out.push(format!(
            ":{server} {RPL_TOPIC} {nick} {new} :{}\r\n",
            t.text
        ));
        out.push(format!(
            ":{server} {RPL_TOPICWHOTIME} {nick} {new} {} {}\r\n",
            t.set_by, t.set_at
        ));
    }
    let (multi, uh) = (caps.has(Cap::MultiPrefix), caps.has(Cap::UserhostInNames));
    for l in names_lines(server, &nick, new, st, user.id, multi, uh) {
        out.push(format!("{l}\r\n"));
    }
    out.push(format!(
        ":{server} {RPL_ENDOFNAMES} {nick} {new} :End of /NAMES list\r\n"
    ));
    out
}
