//! TRACE [mask]: the connections an operator may see.

use std::sync::atomic::Ordering;

use ferry_proto::{mask, numeric::*, Message};

use crate::ctx::{Ctx, Outcome};

/// TRACE lists at most this many clients; a mask narrows it down.
const TRACE_MAX: usize = 1000;

/// TRACE [mask]: operators see every connection (or those whose nick or
/// nick!user@host matches the mask), at most [`TRACE_MAX`]; others see
/// only themselves.
pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let oper = cx.me().info().modes.oper;
    let server = cx.server.clone();
    let casemap = server.config().casemap;
    let want = msg
        .param(0)
        .filter(|m| *m != server.name && !m.is_empty())
        .map(|m| casemap.fold_lossy(m));
    let now = server.uptime_secs();
    let mut shown = 0;
    let mut matched = 0;
    let mut users = 0;
    let mut opers = 0;
    let mut unknown = 0;
    let me = cx.me().id;
    let all = server.registry.clients();
    for c in all {
        if !oper && c.id != me {
            continue;
        }
        let (nick, prefix, is_oper) = {
            let i = c.info();
            (i.nick.clone(), i.prefix(), i.modes.oper)
        };
        if let Some(w) = &want {
            let folded_nick = casemap.fold_lossy(&nick);
            let folded_prefix = casemap.fold_lossy(&prefix);
            if !mask::matches(w, &folded_nick) && !mask::matches(w, &folded_prefix) {
                continue;
            }
        }
        matched += 1;
        let registered = c.is_registered();
        match (registered, is_oper) {
            (false, _) => unknown += 1,
            (true, true) => opers += 1,
            (true, false) => users += 1,
        }
        if shown >= TRACE_MAX {
            continue;
        }
        shown += 1;
        let ip = c.ip.to_canonical().to_string();
        if !registered {
            cx.num(
                RPL_TRACEUNKNOWN,
                &["????", "unregistered", &format!("[{ip}]")],
            );
            continue;
        }
        let idle = now
            .saturating_sub(c.last_active.load(Ordering::Relaxed))
            .to_string();
        let ip = format!("({ip})");
        let sendq = c.outbox.pending().to_string();
        if is_oper {
            cx.num(
                RPL_TRACEOPERATOR,
                &["Oper", "opers", &prefix, &ip, &idle, &sendq],
            );
        } else {
            cx.num(
                RPL_TRACEUSER,
                &["User", "users", &prefix, &ip, &idle, &sendq],
            );
        }
    }
    if oper {
        for (class, n) in [
            ("opers", opers),
            ("users", users),
            ("unregistered", unknown),
        ] {
            if n > 0 {
                cx.num(RPL_TRACECLASS, &["Class", class, &n.to_string()]);
            }
        }
        if matched > shown {
            cx.server_notice(&format!(
                "TRACE shows {shown} of {matched} connections: give a mask to see others"
            ));
        }
    }
    let version = crate::VERSION;
    let name = server.name.clone();
    cx.num(RPL_TRACEEND, &[&name, version, "End of TRACE"]);
    Ok(())
}
