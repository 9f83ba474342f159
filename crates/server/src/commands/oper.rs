//! OPER, KILL, WALLOPS.

use std::sync::atomic::Ordering;

use ferry_proto::{numeric::*, Message};
use tracing::{info, warn};

use super::{Ctx, Outcome, Reject};
use crate::config::verify_password;
use crate::router::Event;

pub(super) fn oper(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (name, password) = (msg.param(0).unwrap_or(""), msg.param(1).unwrap_or(""));
    let block = cx
        .server
        .config
        .opers
        .iter()
        .find(|o| o.name == name)
        .cloned();
    let ok = block.is_some_and(|b| {
        // argon2 takes tens of milliseconds on purpose: keep it off the
        // runtime's scheduling path where the runtime allows it.
        let check = || verify_password(password, &b.password_hash);
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(check),
            _ => check(),
        }
    });
    let me = cx.me().clone();
    let nick = me.nick();
    if !ok {
        warn!(%nick, oper = name, "failed OPER attempt");
        return Err(Reject::Numeric(
            ERR_PASSWDMISMATCH,
            vec!["Password incorrect".into()],
        ));
    }
    let was = std::mem::replace(&mut me.info().modes.oper, true);
    if !was {
        cx.server.opers.fetch_add(1, Ordering::Relaxed);
    }
    cx.s.oper_name = Some(name.to_string());
    info!(%nick, oper = name, "oper up");
    cx.num(RPL_YOUREOPER, &["You are now an IRC operator"]);
    if !was {
        cx.reply.line(format!(":{nick} MODE {nick} :+o"));
    }
    Ok(())
}

pub(super) fn kill(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let me = cx.me().clone();
    if !me.info().modes.oper {
        return Err(Reject::NoPrivileges);
    }
    let nick = msg.param(0).unwrap_or("");
    let reason = msg.param(1).unwrap_or("");
    let Some(target) = cx.server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let by = me.nick();
    info!(target = %target.nick(), by = %by, reason, "kill");
    target.kill(format!("Killed ({by} ({reason}))"));
    Ok(())
}

pub(super) fn wallops(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let me = cx.me().clone();
    if !me.info().modes.oper {
        return Err(Reject::NoPrivileges);
    }
    let text = msg.param(0).unwrap_or("");
    let e = Event::new(format!(":{} WALLOPS :{text}\r\n", cx.prefix()));
    let sendq = cx.sendq();
    let all: Vec<_> = cx.server.nicks.iter().map(|c| c.value().clone()).collect();
    for c in all {
        if c.is_registered() && c.info().modes.wallops {
            if c.id == me.id {
                cx.push_event(&e);
            } else {
                e.deliver(&c, sendq);
            }
        }
    }
    Ok(())
}
