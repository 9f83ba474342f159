//! MONITOR lists: what a session follows, and the account's stored list
//! merged in at login.

use ferry_proto::numeric::*;
use ferry_store::{ListEntry, ListKind};
use tracing::warn;

use crate::ctx::{then, Ctx};

/// Starts following `nicks` (as typed) in this session; returns the status
/// lines' contents (online prefixes, offline nicks) and what did not fit.
pub(crate) fn monitor_add(
    cx: &mut Ctx<'_>,
    nicks: &[String],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    // Watched per connection: each device has its own MONITOR list.
    let me = cx.conn().clone();
    let limit = cx.server.config().limits.monitor_entries;
    let (mut online, mut offline, mut overflow) = (Vec::new(), Vec::new(), Vec::new());
    for (i, nick) in nicks.iter().enumerate() {
        let Some(folded) = cx.server.fold_nick(nick) else {
            continue;
        };
        if !cx.s.more.monitoring.iter().any(|(f, _)| *f == folded) {
            if cx.s.more.monitoring.len() >= limit {
                overflow = nicks[i..].to_vec();
                break;
            }
            cx.s.more
                .monitoring
                .push((folded.clone(), nick.to_string()));
            cx.server.registry.watch(&folded, &me);
        }
        match cx.server.find_nick(nick) {
            Some(c) => online.push(c.info().prefix()),
            None => offline.push(nick.to_string()),
        }
    }
    (online, offline, overflow)
}

pub(crate) fn monitor_remove(cx: &mut Ctx<'_>, folded: &str) {
    let id = cx.conn().id;
    cx.s.more.monitoring.retain(|(f, _)| f != folded);
    cx.server.registry.unwatch(folded, id);
}

/// Merges the account's stored MONITOR list into this session and reports
/// its state (730/731), once per login.
pub(crate) fn sync_stored_monitor(cx: &mut Ctx<'_>) {
    let Some(stored) = cx.s.more.if_made().and_then(|m| m.stored_monitor.take()) else {
        return;
    };
    let nicks: Vec<String> = stored.into_iter().map(|e| e.display).collect();
    let (online, offline, _) = monitor_add(cx, &nicks);
    send_status(cx, online, offline);
}

/// Saves a MONITOR edit to the logged-in account's stored list.
pub(crate) fn persist_monitor(
    cx: &mut Ctx<'_>,
    clear: bool,
    add: Vec<ListEntry>,
    remove: Vec<String>,
) {
    let Some(account) = cx.s.account.clone() else {
        return;
    };
    if add.is_empty() && remove.is_empty() && !clear {
        return;
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let r = server
            .store(move |s| s.edit_list(&account, ListKind::Monitor, clear, &add, &remove))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            if let Err(e) = r {
                warn!(error = %e, "could not save the MONITOR list");
                cx.fail(
                    "TEMPORARILY_UNAVAILABLE",
                    &[],
                    "Your MONITOR list could not be saved",
                );
            }
        })
    });
}

/// Comma-separated lists that fit in one line each.
pub(crate) fn chunk_list(items: &[String]) -> Vec<String> {
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

pub(crate) fn send_status(cx: &mut Ctx<'_>, online: Vec<String>, offline: Vec<String>) {
    for chunk in chunk_list(&online) {
        cx.num(RPL_MONONLINE, &[&chunk]);
    }
    for chunk in chunk_list(&offline) {
        cx.num(RPL_MONOFFLINE, &[&chunk]);
    }
}

/// The nicks this session MONITORs, as it gave them.
pub(crate) fn monitored_names(cx: &Ctx<'_>) -> Vec<String> {
    cx.s.more
        .monitoring
        .iter()
        .map(|(_, n)| n.clone())
        .collect()
}
