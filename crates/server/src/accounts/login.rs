//! What logging in and out does, however it happened (SASL, NickServ,
//! REGISTER): the account shows on the user, friends are told, and the
//! account's stored state comes back — its MONITOR, ACCEPT and SILENCE
//! lists, friend requests that arrived while it was away, and the
//! messages that waited for it.

use std::collections::HashSet;
use std::sync::Arc;

use ferry_proto::numeric::*;
use ferry_store::{Account, Bound, HistoryQuery, ListEntry, ListKind};
use tracing::{info, warn};

use super::monitor::sync_stored_monitor;
use super::offline::deliver_offline;
use super::replay::send_batch;
use crate::caps::Cap;
use crate::client::Client;
use crate::ctx::{then, Ctx};
use crate::event::{format_time, Event};
use crate::route::notify_peers;

/// The client is now logged in to `a`.
pub(crate) fn logged_in(cx: &mut Ctx<'_>, a: &Account) {
    if let Some(old) = cx.s.account.replace(a.name.clone()) {
        // Logged in again, to another account (SASL reauthentication).
        cx.server.registry.remove_device(&old, cx.conn().id);
        super::markers::detach_markers(cx.server, cx.s, &old);
    }
    cx.server.registry.add_device(&a.name, cx.conn());
    if let Some(m) = cx.s.more.if_made() {
        m.sasl = None;
    }
    cx.s.more.tidy();
    cx.server.registered_names.insert(a.name.clone());
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.account = Some(a.display.as_str().into());
        i.modes.callerid = a.callerid;
        i.prefix()
    };
    info!(account = %a.display, "logged in");
    cx.num(
        RPL_LOGGEDIN,
        &[
            &prefix,
            &a.display,
            &format!("You are now logged in as {}", a.display),
        ],
    );
    if cx.server.fold_nick(&me.nick()).as_deref() == Some(a.name.as_str()) {
        me.clear_nick_deadline();
    }
    me.set_always_on(cx.server.config().accounts.always_on.applies(a.always_on));
    me.set_multiclient(a.multiclient != Some(false));
    if cx.s.registered {
        account_notify(cx, &me, &prefix, &a.display);
        if a.callerid {
            let nick = me.nick();
            cx.reply.line(format!(":{nick} MODE {nick} :+g"));
        }
        after_login(cx);
    } else {
        cx.s.after_login_pending = true;
    }
}

/// The client logged out (NickServ LOGOUT, DROP).
pub(crate) fn logged_out(cx: &mut Ctx<'_>) {
    let Some(account) = cx.s.account.take() else {
        return;
    };
    cx.server.registry.remove_device(&account, cx.conn().id);
    super::markers::detach_markers(cx.server, cx.s, &account);
    let me = cx.me().clone();
    me.set_always_on(false);
    let prefix = {
        let mut i = me.info();
        i.account = None;
        i.prefix()
    };
    {
        let mut l = me.lists();
        // Logged out: no lists, and nothing held for them (its devices
        // stay: they are connections, not a list).
        let devices = std::mem::take(&mut l.devices);
        *l = crate::client::LazyLists::default();
        if devices.in_use() {
            l.devices = devices;
        }
        me.sync_silence_flag(&l);
    }
    cx.num(RPL_LOGGEDOUT, &[&prefix, "You are now logged out"]);
    if cx.s.registered {
        account_notify(cx, &me, &prefix, "*");
    }
}

/// `ACCOUNT <name>` (or `*`, logged out) to the peers with account-notify.
fn account_notify(cx: &Ctx<'_>, me: &Arc<Client>, prefix: &str, account: &str) {
    let e = Event::new(
        format!(":{prefix} ACCOUNT {account}\r\n"),
        cx.server.clock.wall(),
    );
    let folded = cx.s.folded_nick.as_deref();
    notify_peers(cx.server, me, folded, Cap::AccountNotify, &e);
}

/// Loads the account's stored state and delivers what waited for it.
/// Runs once the connection is registered.
pub(crate) fn after_login(cx: &mut Ctx<'_>) {
    cx.s.after_login_pending = false;
    let Some(account) = cx.s.account.clone() else {
        return;
    };
    let server = cx.server_arc();
    // A client with chathistory fetches what it missed itself.
    let wants_replay = !cx.caps().has(Cap::Chathistory);
    cx.defer(async move {
        let a = account.clone();
        let missed_since = server.missed_since.remove(&account).map(|(_, t)| t);
        let max = server.config().history.max_query;
        let replay = if wants_replay { server.config().history.replay_missed } else { 0 };
        if missed_since.is_some() || replay > 0 {
            server.history.flush().await;
        }
        let loaded = server
            .store(move |s| {
                // Direct conversations since a SendQ cut-off, to replay.
                let mut missed = Vec::new();
                if let Some(since) = missed_since {
                    let party = format!("a:{a}");
                    for (key, _) in s.history_targets(&[], &party, since, i64::MAX, 100)? {
                        let rows = s.history(&key, &HistoryQuery::After(Bound::Time(since)), max)?;
                        missed.push(rows);
                    }
                }
                // What its registered channels saw since it was last here.
                let mut channels = Vec::new();
                let since = s.account(&a)?.and_then(|acct| acct.last_seen_ms);
                if let (Some(since), true) = (since, replay > 0) {
                    for (key, display) in s.channels_of(&a)? {
                        let rows: Vec<_> = s
                            .history(&key, &HistoryQuery::After(Bound::Time(since)), replay)?
                            .into_iter()
                            .filter(|m| matches!(m.command.as_str(), "PRIVMSG" | "NOTICE"))
                            .collect();
                        if !rows.is_empty() {
                            channels.push((display, rows));
                        }
                    }
                }
                Ok((
                    channels,
                    s.list(&a, ListKind::Accept)?,
                    s.list(&a, ListKind::Silence)?,
                    s.list(&a, ListKind::Monitor)?,
                    s.take_requests(&a)?,
                    s.offline(&a)?,
                    missed,
                    s.markers(&a)?,
                    s.metadata(&a)?,
                ))
            })
            .await;
        then(move |cx: &mut Ctx<'_>| {
            let (channels, accept, silence, monitor, requests, offline, missed, markers, profile) = match loaded {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, %account, "could not load the account's stored state");
                    return;
                }
            };
            install_lists(cx, &accept, &silence);
            if cx.s.account.as_deref() == Some(account.as_str()) {
                super::markers::attach_markers(cx, &account, markers);
                crate::metadata::logged_in(cx, &account, profile);
            }
            cx.s.more.stored_monitor = Some(monitor);
            if cx.s.monitor_used || cx.caps().extended_monitor() {
                sync_stored_monitor(cx);
            }
            for (from, time_ms) in requests {
                let when = format_time(std::time::UNIX_EPOCH + std::time::Duration::from_millis(time_ms.max(0) as u64));
                cx.num(
                    RPL_UMODEGMSG,
                    &[&from, "*", &format!("asked to message you while you were away ({when}); /ACCEPT {from} to allow")],
                );
            }
            let nick = cx.me().nick();
            for rows in missed.iter().filter(|r| !r.is_empty()) {
                // What was lost when the connection was cut off for SendQ.
                send_batch(cx, &nick, rows);
            }
            for (chname, rows) in &channels {
                // What its registered channels said while it was away
                // (not where members see only what came after they joined).
                if crate::chanserv::hides_before_join(cx.server, chname) {
                    continue;
                }
                super::replay::send_missed(cx, chname, rows);
            }
            if !offline.is_empty() {
                // Everything above first, then the waiting messages.
                cx.flush_unlabeled();
                deliver_offline(cx, &account, offline);
            }
        })
    });
}

fn install_lists(cx: &mut Ctx<'_>, accept: &[ListEntry], silence: &[ListEntry]) {
    let casemap = cx.server.config().casemap;
    let me = cx.me().clone();
    let mut l = me.lists();
    l.accept = accept.iter().map(|e| e.key.clone()).collect::<HashSet<_>>();
    l.accept_display = accept.iter().map(|e| e.display.clone()).collect();
    l.silence = silence
        .iter()
        .map(|e| (e.display.clone(), casemap.fold_lossy(&e.display)))
        .collect();
    me.sync_silence_flag(&l);
}
