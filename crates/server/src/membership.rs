//! What the channel commands share about membership: leaving a channel
//! (PART, JOIN 0), the NAMES reply (JOIN, NAMES) and the topic reply
//! (JOIN, TOPIC). Below `commands/`, so no handler imports another.

use std::sync::Arc;

use ferry_proto::numeric::*;

use crate::caps::Cap;
use crate::channel::{ChanState, Channel, Topic};
use crate::ctx::Ctx;
use crate::route;

/// 353 lines then 366 for one channel, as this client may see them.
pub(crate) fn send_names(cx: &mut Ctx<'_>, ch: &Channel) {
    send_names_lines(cx, ch);
    cx.num(RPL_ENDOFNAMES, &[&ch.name, "End of /NAMES list"]);
}

/// The 353 lines of one channel.
pub(crate) fn send_names_lines(cx: &mut Ctx<'_>, ch: &Channel) {
    let me = cx.me().clone();
    let nick = me.nick();
    let (multi, uhnames) = (
        cx.caps().has(Cap::MultiPrefix),
        cx.caps().has(Cap::UserhostInNames),
    );
    let lines = {
        let st = ch.lock();
        names_lines(&cx.server.name, &nick, &ch.name, &st, me.id, multi, uhnames)
    };
    for l in lines {
        cx.reply.line(l);
    }
}

/// `:server 353 <nick> <symbol> <channel> :names...` lines, as one who is
/// (or is not) a `member` sees them: none for a secret channel seen from
/// outside, invisible users only from inside.
pub(crate) fn names_lines(
    server: &str,
    nick: &str,
    chname: &str,
    st: &ChanState,
    viewer: crate::client::ClientId,
    multi: bool,
    uhnames: bool,
) -> Vec<String> {
    // Under +u a viewer without status (or from outside) sees the
    // statused members and itself.
    let member = st.members.contains_key(&viewer);
    if st.modes.secret && !member {
        return Vec::new();
    }
    let symbol = if st.modes.secret { "@" } else { "=" };
    let mut names = Vec::with_capacity(st.members.len());
    for (id, m) in &st.members {
        if !st.sees(viewer, *id) {
            continue;
        }
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
    let head = format!(":{server} {RPL_NAMREPLY} {nick} {symbol} {chname} ");
    // The colon only where the list needs it (more than one name).
    let finish = |line: String| {
        if line.contains(' ') {
            format!("{head}:{line}")
        } else {
            format!("{head}{line}")
        }
    };
    let mut out = Vec::new();
    let mut line = String::new();
    for n in names {
        if !line.is_empty() && line.len() + n.len() > 380 {
            out.push(finish(std::mem::take(&mut line)));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&n);
    }
    if !line.is_empty() {
        out.push(finish(line));
    }
    out
}

/// Removes this client from `ch`, telling every member; false if not on it.
pub(crate) fn part_one(cx: &mut Ctx<'_>, ch: &Arc<Channel>, reason: &str) -> bool {
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
        if !st.members.contains_key(&me.id) {
            return false;
        }
        route::to_members_seeing(&st, me.id, &e, sendq);
        st.members.remove(&me.id);
        st.members.is_empty()
    };
    me.info().channels.retain(|c| !Arc::ptr_eq(c, ch));
    cx.push_event(&e);
    if empty {
        cx.server.registry.remove_channel_if_empty(ch);
    }
    true
}

/// RPL_TOPIC and RPL_TOPICWHOTIME for a channel's topic.
pub(crate) fn send_topic(cx: &mut Ctx<'_>, chname: &str, t: &Topic) {
    cx.num(RPL_TOPIC, &[chname, &t.text]);
    cx.num(
        RPL_TOPICWHOTIME,
        &[chname, &t.set_by, &t.set_at.to_string()],
    );
}
