//! MONITOR + | - | C | L | S: follow when nicks come online or go offline.
//! The list itself, and its stored copy, live in `accounts/`.

use ferry_proto::{numeric::*, Message};
use ferry_store::ListEntry;

use crate::accounts::{
    chunk_list, monitor_add, monitor_remove, monitored_names, persist_monitor, send_status,
};
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = msg.param(0).unwrap_or("");
    let targets = msg.param(1).unwrap_or("");
    if !cx.s.monitor_used {
        cx.s.monitor_used = true;
        crate::accounts::sync_stored_monitor(cx);
    }
    let list: Vec<String> = targets
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    match sub {
        "+" => {
            let (online, offline, overflow) = monitor_add(cx, &list);
            send_status(cx, online, offline);
            if !overflow.is_empty() {
                let limit = cx.server.config().limits.monitor_entries.to_string();
                cx.num(
                    ERR_MONLISTFULL,
                    &[&limit, &overflow.join(","), "Monitor list is full."],
                );
            }
            let add: Vec<ListEntry> = list
                .iter()
                .filter(|n| !overflow.contains(n))
                .filter_map(|n| {
                    Some(ListEntry {
                        key: cx.server.fold_nick(n)?,
                        display: n.clone(),
                    })
                })
                .collect();
            persist_monitor(cx, false, add, Vec::new());
        }
        "-" => {
            let mut removed = Vec::new();
            for nick in &list {
                let Some(folded) = cx.server.fold_nick(nick) else {
                    continue;
                };
                monitor_remove(cx, &folded);
                removed.push(folded);
            }
            persist_monitor(cx, false, Vec::new(), removed);
        }
        "C" | "c" => {
            for (folded, _) in cx.s.more.monitoring.clone() {
                monitor_remove(cx, &folded);
            }
            persist_monitor(cx, true, Vec::new(), Vec::new());
        }
        "L" | "l" => {
            let names = monitored_names(cx);
            for chunk in chunk_list(&names) {
                cx.num(RPL_MONLIST, &[&chunk]);
            }
            cx.num(RPL_ENDOFMONLIST, &["End of MONITOR list"]);
        }
        "S" | "s" => {
            let mut online = Vec::new();
            let mut offline = Vec::new();
            let names = monitored_names(cx);
            for n in names {
                match cx.server.find_nick(&n) {
                    Some(c) => online.push(c.info().prefix()),
                    None => offline.push(n),
                }
            }
            send_status(cx, online, offline);
        }
        _ => {
            return Err(Reject::UnknownCommand(
                "MONITOR".into(),
                "Unknown MONITOR subcommand",
            ))
        }
    }
    Ok(())
}
