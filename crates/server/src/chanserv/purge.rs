//! `ChanServ PURGE ADD|DEL|LIST` (as Ergo; IRC operators only): closing a
//! channel. A purged channel is unregistered, its members are kicked, and
//! nobody may join (or create) it until it is reopened with `PURGE DEL`.

use std::sync::Arc;

use ferry_store::PurgedChannel;
use tracing::{info, warn};

use super::{say, CHANSERV};
use crate::ctx::{then, Ctx, Outcome};
use crate::event::Event;
use crate::route;

const SYNTAX: &str = "Syntax: PURGE ADD <#channel> [reason] | PURGE DEL <#channel> | PURGE LIST";

/// `PURGE ...`: `args` after the word PURGE.
pub(crate) fn purge(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    if !cx.me().info().modes.oper {
        say(cx, "Only IRC operators may purge channels.");
        return Ok(());
    }
    let sub = args.first().map(|s| s.to_ascii_uppercase());
    match (sub.as_deref(), args.get(1)) {
        (Some("LIST"), _) => {
            let mut all: Vec<PurgedChannel> =
                cx.server.purged.iter().map(|p| p.value().clone()).collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            if all.is_empty() {
                say(cx, "No channel is purged.");
            }
            for p in all {
                say(
                    cx,
                    &format!("{} purged by {}: {}", p.display, p.by, p.reason),
                );
            }
        }
        (Some("ADD"), Some(name)) => add(cx, name, &args[2..].join(" ")),
        (Some("DEL"), Some(name)) => del(cx, name),
        _ => say(cx, SYNTAX),
    }
    Ok(())
}

fn add(cx: &mut Ctx<'_>, name: &str, reason: &str) {
    let cfg = cx.server.config();
    if !ferry_proto::validate::is_valid_channel(name, cfg.casemap, cfg.limits.channel_length) {
        return say(cx, &format!("{name} is not a channel name."));
    }
    let folded = cfg.casemap.fold_lossy(name);
    drop(cfg);
    let display = cx
        .server
        .find_channel(name)
        .map_or_else(|| name.to_string(), |c| c.name.clone());
    let p = PurgedChannel {
        name: folded,
        display,
        by: cx.me().nick(),
        reason: if reason.is_empty() {
            "closed by the server operators".into()
        } else {
            reason.to_string()
        },
        at_ms: cx.server.clock.unix_ms(),
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let kept = p.clone();
        let r = server.store(move |s| s.purge_channel(&kept)).await;
        then(move |cx: &mut Ctx<'_>| {
            if let Err(e) = r {
                warn!(error = %e, "could not purge a channel");
                return say(cx, "Could not purge it now, try again.");
            }
            let shown = p.display.clone();
            cx.server.purged.entry(p.name.clone()).or_insert(p.clone());
            empty_channel(cx, &p);
            info!(channel = %shown, by = %p.by, "channel purged");
            say(
                cx,
                &format!("{shown} is purged: nobody may join it until PURGE DEL."),
            );
        })
    });
}

/// Everyone leaves the channel (ChanServ kicks them, each member sees
/// every KICK), and it is no longer registered.
fn empty_channel(cx: &mut Ctx<'_>, p: &PurgedChannel) {
    let Some(ch) = cx.server.find_channel(&p.name) else {
        return;
    };
    let sendq = cx.sendq();
    let members = {
        let mut st = ch.lock();
        st.registered = None;
        let nicks: Vec<_> = st.members.values().map(|m| m.client.clone()).collect();
        for c in &nicks {
            let line = format!(
                ":{CHANSERV}!{CHANSERV}@{} KICK {} {} :{}\r\n",
                cx.server.name,
                ch.name,
                c.nick(),
                p.reason
            );
            let e = Event::new(line, cx.server.clock.wall()).with_msgid(cx.server.msgid());
            route::to_members(&st, None, &e, sendq);
            st.members.remove(&c.id);
        }
        ch.set_keeps_history(true);
        nicks
    };
    for c in members {
        c.info().channels.retain(|x| !Arc::ptr_eq(x, &ch));
    }
    cx.server.registry.remove_channel_if_empty(&ch);
}

fn del(cx: &mut Ctx<'_>, name: &str) {
    let name = name.to_string();
    let folded = cx.server.config().casemap.fold_lossy(&name);
    let server = cx.server_arc();
    cx.defer(async move {
        let n = folded.clone();
        let r = server.store(move |s| s.unpurge_channel(&n)).await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(_) if cx.server.purged.remove(&folded).is_some() => {
                say(cx, &format!("{name} is open again."))
            }
            Ok(_) => say(cx, &format!("{name} is not purged.")),
            Err(_) => say(cx, "Could not reopen it now, try again."),
        })
    });
}
