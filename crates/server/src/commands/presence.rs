//! AWAY, SETNAME and MONITOR: what others see of a user's presence.

use ferry_proto::{numeric::*, Message};

use super::{notify_peers, Ctx, Outcome, Reject};
use crate::caps::Cap;
use crate::router::Event;

pub(super) fn away(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let max = cx.server.config.limits.away_length;
    let text: Option<String> = msg
        .param(0)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(max).collect());
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.away = text.clone();
        i.prefix()
    };
    match &text {
        Some(_) => cx.num(RPL_NOWAWAY, &["You have been marked as being away"]),
        None => cx.num(RPL_UNAWAY, &["You are no longer marked as being away"]),
    }
    let e = match &text {
        Some(t) => Event::new(format!(":{prefix} AWAY :{t}\r\n")),
        None => Event::new(format!(":{prefix} AWAY\r\n")),
    };
    notify_peers(
        cx.server,
        &me,
        cx.s.folded_nick.as_deref(),
        Cap::AwayNotify,
        &e,
    );
    Ok(())
}

pub(super) fn setname(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let name = msg.param(0).unwrap_or("");
    if name.is_empty() || name.chars().count() > cx.server.config.limits.realname_length {
        return Err(Reject::Fail(
            "INVALID_REALNAME",
            vec![],
            "Realname is not valid".into(),
        ));
    }
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.realname = name.to_string();
        i.prefix()
    };
    let e = cx.event(format!(":{prefix} SETNAME :{name}\r\n"));
    if cx.caps().has(Cap::Setname) {
        cx.push_event(&e);
    }
    notify_peers(
        cx.server,
        &me,
        cx.s.folded_nick.as_deref(),
        Cap::Setname,
        &e,
    );
    Ok(())
}

pub(super) fn monitor(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = msg.param(0).unwrap_or("");
    let targets = msg.param(1).unwrap_or("");
    let me = cx.me().clone();
    match sub {
        "+" => {
            let limit = cx.server.config.limits.monitor_entries;
            let mut online = Vec::new();
            let mut offline = Vec::new();
            let list: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
            for (i, nick) in list.iter().enumerate() {
                let Some(folded) = cx.server.fold_nick(nick) else {
                    continue;
                };
                if !cx.s.monitoring.iter().any(|(f, _)| *f == folded) {
                    if cx.s.monitoring.len() >= limit {
                        let rest = list[i..].join(",");
                        cx.num(
                            ERR_MONLISTFULL,
                            &[&limit.to_string(), &rest, "Monitor list is full."],
                        );
                        break;
                    }
                    cx.s.monitoring.push((folded.clone(), nick.to_string()));
                    cx.server
                        .monitors
                        .entry(folded.clone())
                        .or_default()
                        .insert(me.id, me.clone());
                }
                match cx.server.find_nick(nick) {
                    Some(c) => online.push(c.info().prefix()),
                    None => offline.push(nick.to_string()),
                }
            }
            send_status(cx, online, offline);
        }
        "-" => {
            for nick in targets.split(',').filter(|t| !t.is_empty()) {
                let Some(folded) = cx.server.fold_nick(nick) else {
                    continue;
                };
                cx.s.monitoring.retain(|(f, _)| *f != folded);
                if let Some(mut w) = cx.server.monitors.get_mut(&folded) {
                    w.remove(&me.id);
                }
                cx.server.monitors.remove_if(&folded, |_, w| w.is_empty());
            }
        }
        "C" | "c" => {
            for (folded, _) in std::mem::take(&mut cx.s.monitoring) {
                if let Some(mut w) = cx.server.monitors.get_mut(&folded) {
                    w.remove(&me.id);
                }
                cx.server.monitors.remove_if(&folded, |_, w| w.is_empty());
            }
        }
        "L" | "l" => {
            let names: Vec<String> = cx.s.monitoring.iter().map(|(_, n)| n.clone()).collect();
            for chunk in chunk_list(&names) {
                cx.num(RPL_MONLIST, &[&chunk]);
            }
            cx.num(RPL_ENDOFMONLIST, &["End of MONITOR list"]);
        }
        "S" | "s" => {
            let mut online = Vec::new();
            let mut offline = Vec::new();
            let names: Vec<String> = cx.s.monitoring.iter().map(|(_, n)| n.clone()).collect();
            for n in names {
                match cx.server.find_nick(&n) {
                    Some(c) => online.push(c.info().prefix()),
                    None => offline.push(n),
                }
            }
            send_status(cx, online, offline);
        }
        _ => {
            return Err(Reject::Numeric(
                ERR_UNKNOWNCOMMAND,
                vec!["MONITOR".into(), "Unknown MONITOR subcommand".into()],
            ))
        }
    }
    Ok(())
}

/// Comma-separated lists that fit in one line each.
fn chunk_list(items: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for i in items {
        if !cur.is_empty() && cur.len() + i.len() > 400 {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn send_status(cx: &mut Ctx<'_>, online: Vec<String>, offline: Vec<String>) {
    for chunk in chunk_list(&online) {
        cx.num(RPL_MONONLINE, &[&chunk]);
    }
    for chunk in chunk_list(&offline) {
        cx.num(RPL_MONOFFLINE, &[&chunk]);
    }
}
