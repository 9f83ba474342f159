//! AWAY, SETNAME and MONITOR: what others see of a user's presence.

use ferry_proto::{numeric::*, Message};

use ferry_store::{ListEntry, ListKind};
use tracing::warn;

use crate::accounts::{
    chunk_list, monitor_add, monitor_remove, monitored_names, persist_monitor, send_status,
};
use crate::caps::Cap;
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::event::Event;
use crate::route::notify_peers;

pub(super) fn away(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let max = cx.server.config().limits.away_length;
    let text: Option<String> = msg
        .param(0)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(max).collect());
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.away = text.as_deref().map(Into::into);
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
    if name.is_empty() || name.chars().count() > cx.server.config().limits.realname_length {
        return Err(Reject::Fail(
            "INVALID_REALNAME",
            vec![],
            "Realname is not valid".into(),
        ));
    }
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.realname = name.into();
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

/// `ACCEPT name[,name]` / `ACCEPT -name` / `ACCEPT *`: who may message a +g user.
pub(super) fn accept(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let arg = msg.param(0).unwrap_or("");
    let me = cx.me().clone();
    let limit = cx.server.config().limits.accept_entries;
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for item in arg.split(',').filter(|i| !i.is_empty()) {
        if item == "*" {
            let names = me.lists().accept_display.clone();
            for n in names {
                cx.num(RPL_ACCEPTLIST, &[&n]);
            }
            cx.num(RPL_ENDOFACCEPT, &["End of /ACCEPT list."]);
            continue;
        }
        let (adding, name) = match item.strip_prefix('-') {
            Some(n) => (false, n),
            None => (true, item.strip_prefix('+').unwrap_or(item)),
        };
        let Some(key) = cx.server.fold_nick(name) else {
            cx.num(ERR_NOSUCHNICK, &[name, "No such nick/channel"]);
            continue;
        };
        // An online nick (its account if it has one) or a registered account.
        let (key, display) = match cx.server.find_nick(name) {
            Some(c) => {
                let i = c.info();
                match &i.account {
                    Some(a) => (cx.server.fold_nick(a).unwrap_or(key), a.to_string()),
                    None => (key, i.nick.to_string()),
                }
            }
            None if cx.server.registered_names.contains(&key) || !adding => (key, name.to_string()),
            None => {
                cx.num(ERR_NOSUCHNICK, &[name, "No such nick/channel"]);
                continue;
            }
        };
        let mut l = me.lists();
        if adding {
            if l.accept.contains(&key) {
                drop(l);
                cx.num(
                    ERR_ACCEPTEXIST,
                    &[&display, "is already on your accept list"],
                );
                continue;
            }
            if l.accept.len() >= limit {
                drop(l);
                cx.num(ERR_ACCEPTFULL, &["Accept list is full"]);
                continue;
            }
            l.accept.insert(key.clone());
            l.accept_display.push(display.clone());
            add.push(ListEntry { key, display });
        } else {
            if !l.accept.remove(&key) {
                drop(l);
                cx.num(ERR_ACCEPTNOT, &[name, "is not on your accept list"]);
                continue;
            }
            let casemap = cx.server.config().casemap;
            l.accept_display
                .retain(|d| casemap.fold(d).as_deref() != Some(key.as_str()));
            remove.push(key);
        }
    }
    persist_list(cx, ListKind::Accept, add, remove);
    Ok(())
}

/// `SILENCE` / `SILENCE +mask` / `SILENCE -mask`: senders to drop without a word.
pub(super) fn silence(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let me = cx.me().clone();
    let nick = me.nick();
    let Some(arg) = msg.param(0).filter(|a| !a.is_empty()) else {
        let list = me.lists().silence.clone();
        for (mask, _) in list {
            cx.num(RPL_SILELIST, &[&nick, &mask]);
        }
        cx.num(RPL_ENDOFSILELIST, &["End of Silence List"]);
        return Ok(());
    };
    let casemap = cx.server.config().casemap;
    let limit = cx.server.config().limits.silence_entries;
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    let prefix = cx.prefix();
    for item in arg.split(',').filter(|i| !i.is_empty()) {
        let (adding, raw) = match item.strip_prefix('-') {
            Some(m) => (false, m),
            None => (true, item.strip_prefix('+').unwrap_or(item)),
        };
        let mask = ferry_proto::mask::normalize(raw);
        let folded = casemap.fold_lossy(&mask);
        let mut l = me.lists();
        let exists = l.silence.iter().any(|(_, f)| *f == folded);
        if adding {
            if exists {
                continue;
            }
            if l.silence.len() >= limit {
                drop(l);
                cx.num(ERR_SILELISTFULL, &[&mask, "Your silence list is full"]);
                continue;
            }
            l.silence.push((mask.clone(), folded.clone()));
            add.push(ListEntry {
                key: folded,
                display: mask.clone(),
            });
        } else {
            if !exists {
                continue;
            }
            l.silence.retain(|(_, f)| *f != folded);
            remove.push(folded);
        }
        me.sync_silence_flag(&l);
        drop(l);
        let sign = if adding { '+' } else { '-' };
        cx.reply.line(format!(":{prefix} SILENCE {sign}{mask}"));
    }
    persist_list(cx, ListKind::Silence, add, remove);
    Ok(())
}

/// Saves an ACCEPT or SILENCE edit for a logged-in account.
fn persist_list(cx: &mut Ctx<'_>, kind: ListKind, add: Vec<ListEntry>, remove: Vec<String>) {
    let Some(account) = cx.s.account.clone() else {
        return;
    };
    if add.is_empty() && remove.is_empty() {
        return;
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let r = server
            .store(move |s| s.edit_list(&account, kind, false, &add, &remove))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            if let Err(e) = r {
                warn!(error = %e, "could not save a list");
                cx.fail(
                    "TEMPORARILY_UNAVAILABLE",
                    &[],
                    "Your list could not be saved",
                );
            }
        })
    });
}
