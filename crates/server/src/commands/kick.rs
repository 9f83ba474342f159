//! KICK <#channel>[,<#channel>] <nick>[,<nick>] [:<reason>].

use std::sync::Arc;

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome, Reject};
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
