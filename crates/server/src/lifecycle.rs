//! What a connection goes through: registration completing (the nick's
//! checks, the welcome burst, friends told it is online), a nick's grace
//! period running out, and its end, for whatever reason ([`disconnect`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::{numeric::*, Line};
use tracing::{info, warn};

use crate::client::{Client, Detached};
use crate::ctx::{then, Ctx, Reject};
use crate::event::Event;
use crate::server::WhowasEntry;
use crate::session::Session;
use crate::{accounts, route, welcome, Server};

/// Completes registration once NICK, USER (and CAP END) are in.
pub(crate) fn try_register(cx: &mut Ctx<'_>) {
    if cx.s.registered || cx.s.cap_negotiating {
        return;
    }
    if cx.s.folded_nick.is_none() && cx.s.more.attach.is_none() {
        return;
    }
    let Some((user, realname)) = cx.s.user.as_deref().cloned() else {
        return;
    };
    if let Some(want) = &cx.server.config().password {
        if cx.s.more.pass.as_deref() != Some(want.as_str()) {
            cx.reject(Reject::PasswdMismatch);
            cx.s.quit = Some("Bad password".into());
            return;
        }
    }
    if let Some(f) = cx.s.more.if_made().and_then(|m| m.attach.take()) {
        match crate::devices::attach(cx, &f, &user, &realname) {
            crate::devices::Attach::Attached => return,
            crate::devices::Attach::Refused => {
                let nick = std::mem::replace(&mut cx.me().info().nick, "*".into());
                cx.reject(Reject::NicknameInUse(
                    nick.into(),
                    "Nickname is already in use",
                ));
                return;
            }
            // Its holder left meanwhile: the nick may be free now.
            crate::devices::Attach::Gone => {
                let me = cx.me().clone();
                if cx.server.registry.claim_nick(&f, &me).is_err() {
                    let nick = std::mem::replace(&mut me.info().nick, "*".into());
                    cx.reject(Reject::NicknameInUse(
                        nick.into(),
                        "Nickname is already in use",
                    ));
                    return;
                }
                cx.s.folded_nick = Some(f);
            }
        }
    }
    let folded = cx.s.folded_nick.clone().expect("checked above");
    if !may_use_nick(cx, &folded, true) {
        return;
    }
    {
        let me = cx.me().clone();
        let host = me.info().host.clone();
        if let Some(reason) = crate::guard::kline_reason(cx.server, &user, &host, me.ip) {
            cx.num(
                ERR_YOUREBANNEDCREEP,
                &[&format!("You are banned from this server: {reason}")],
            );
            cx.s.quit = Some(format!("K-lined: {reason}").into());
            return;
        }
    }
    let me = cx.me().clone();
    if let Some(c) = cx.server.cluster().cloned() {
        if !c.holds(me.id, &folded) {
            // The nick is this node's; the cluster's first (docs/CLUSTER.md).
            return claim_then_register(cx, c, folded);
        }
    }
    let nick = {
        let mut info = me.info();
        info.user = user.into();
        info.realname = realname.into();
        info.signon = cx.server.clock.unix_secs();
        info.nick.clone()
    };
    mark_registered(cx);
    let n = cx.server.users.fetch_add(1, Ordering::Relaxed) + 1;
    cx.server.max_users.fetch_max(n, Ordering::Relaxed);
    info!(conn = me.id, %nick, "registered");
    {
        let i = me.info();
        let text = format!(
            "Client connecting: {} ({}@{}) [{}]",
            i.nick,
            i.user,
            i.host,
            me.ip.to_canonical()
        );
        drop(i);
        cx.server.snote('c', &text);
    }
    welcome::welcome(cx);
    crate::metadata::registered(cx);
    route::monitor_online(cx.server, &me, &folded);
    if me.info().modes.callerid {
        cx.reply.line(format!(":{nick} MODE {nick} :+g"));
    }
    if me.nick_deadline.load(Ordering::Relaxed) != 0 {
        let grace = cx.server.config().accounts.nick_grace.as_secs();
        accounts::nickserv_say(cx, &rename_warning(&nick, grace));
    }
    if cx.s.after_login_pending {
        accounts::after_login(cx);
    }
}

/// Registration waits for the cluster's claim of its nick: granted, it
/// goes on; held by a user of another node, `433` (the nick given back
/// here too); the bus unreachable, a FAIL, and the nick given back.
fn claim_then_register(
    cx: &mut Ctx<'_>,
    c: std::sync::Arc<crate::cluster::Cluster>,
    folded: String,
) {
    let id = cx.me().id;
    cx.defer(async move {
        let r = c.claim(id, &folded).await;
        then(move |cx: &mut Ctx<'_>| {
            let still = !cx.s.registered && cx.s.folded_nick.as_deref() == Some(folded.as_str());
            match r {
                Ok(true) if still => {
                    c.commit(id, &folded);
                    try_register(cx);
                }
                Ok(true) => {
                    // It chose another nick meanwhile.
                    tokio::spawn(async move { c.unclaim(id, &folded).await });
                }
                Ok(false) | Err(_) if !still => {}
                Ok(false) => {
                    let nick = give_nick_back(cx, &folded);
                    cx.reject(Reject::NicknameInUse(nick, "Nickname is already in use"));
                }
                Err(e) => {
                    warn!(error = %e.0, "cluster: a nick claim could not be decided");
                    let nick = give_nick_back(cx, &folded);
                    cx.fail(
                        "TEMPORARILY_UNAVAILABLE",
                        &[&nick],
                        "The cluster cannot confirm this nick now; try again",
                    );
                }
            }
        })
    });
}

/// An unregistered connection gives up the nick it held: its name.
fn give_nick_back(cx: &mut Ctx<'_>, folded: &str) -> String {
    let me = cx.me().clone();
    cx.server.registry.release_nick(folded, me.id);
    cx.s.folded_nick = None;
    let nick = std::mem::replace(&mut me.info().nick, "*".into());
    nick.to_string()
}

/// The connection is registered: what was kept for registration goes (USER
/// is in `info` from now on, PASS is spent).
pub(crate) fn mark_registered(cx: &mut Ctx<'_>) {
    cx.s.registered = true;
    cx.s.user = None;
    if let Some(m) = cx.s.more.if_made() {
        m.pass = None;
        m.nick_attempt = None;
    }
    cx.s.more.tidy();
    cx.conn().set_registered();
}

/// May this session go by the registered nick `folded`? Under "refuse",
/// no (433) unless logged in to it; under "rename", yes for a grace period,
/// after which the sweeper renames it.
pub(crate) fn may_use_nick(cx: &mut Ctx<'_>, folded: &str, registering: bool) -> bool {
    use crate::config::NickEnforcement;
    if !cx.server.registered_names.contains(folded) || cx.s.account.as_deref() == Some(folded) {
        cx.me().clear_nick_deadline();
        return true;
    }
    let nick = cx.me().nick();
    match cx.server.config().accounts.nick_enforcement {
        NickEnforcement::None => true,
        NickEnforcement::Refuse => {
            if registering {
                // Give the nick back: an unregistered connection must not
                // hold it against its owner while it picks another.
                let me = cx.me().clone();
                cx.server.registry.release_nick(folded, me.id);
                cx.s.folded_nick = None;
                me.info().nick = "*".into();
            }
            cx.reject(Reject::NicknameInUse(
                nick,
                "Nickname is reserved by a different account; log in to use it",
            ));
            false
        }
        NickEnforcement::Rename => {
            let grace = cx.server.config().accounts.nick_grace;
            let deadline = cx.server.uptime_secs() + grace.as_secs().max(1);
            // Uptime seconds: a u32 lasts 136 years.
            let deadline = u32::try_from(deadline).unwrap_or(u32::MAX);
            cx.me().nick_deadline.store(deadline, Ordering::Relaxed);
            // NickServ speaks after the welcome burst when registering
            // (`try_register`).
            if !registering {
                accounts::nickserv_say(cx, &rename_warning(&nick, grace.as_secs()));
            }
            true
        }
    }
}

pub(crate) fn rename_warning(nick: &str, grace_secs: u64) -> String {
    format!(
        "{nick} is a registered account. Log in (SASL, or /msg NickServ IDENTIFY <password>) within {grace_secs} seconds, or your nick will be changed."
    )
}

/// The sweeper found this client past its nick deadline: rename it.
pub(crate) fn force_guest_nick(server: &Arc<Server>, s: &mut Session) {
    let n: u32 = rand::random::<u32>() % 100_000;
    let line = format!("NICK Guest{n:05}");
    s.client.clear_nick_deadline();
    crate::commands::handle_line(server, s, line.as_bytes());
}

/// Everything that happens when a connection ends, for whatever reason:
/// the client gets ERROR; if it was the user's last connection (and the
/// user is not always-on), peers see QUIT and channels and maps forget it.
pub(crate) fn disconnect(server: &Server, s: &mut Session, ending: &Ending) {
    let conn = s.client.clone();
    s.client.outbox.close();
    let me = s.user().clone();
    // Cut off for SendQ: what it missed comes from history at next login.
    if conn.outbox.overflowed().is_some() {
        if let Some(account) = &s.account {
            let since = conn.backlog_since.load(Ordering::Relaxed);
            let since = if since == 0 {
                server.clock.unix_ms() - 1000
            } else {
                since - 1
            };
            server.missed_since.insert(account.clone(), since);
        }
    }
    if let Some(account) = s.account.clone() {
        server.registry.remove_device(&account, conn.id);
        crate::accounts::detach_markers(server, s, &account);
        if s.registered {
            seen(server, account);
        }
    }
    for (f, _) in s
        .more
        .if_made()
        .map(|m| std::mem::take(&mut m.monitoring))
        .unwrap_or_default()
    {
        server.registry.unwatch(&f, conn.id);
    }
    // Limits hit, for operators watching floods (b) and limits (f).
    let hit = if ending.quit == "Excess Flood" {
        Some('b')
    } else if ending.quit.starts_with("SendQ exceeded") {
        Some('f')
    } else {
        None
    };
    if let Some(letter) = hit {
        let text = format!(
            "{} from {} ({})",
            ending.quit,
            me.nick(),
            conn.ip.to_canonical()
        );
        server.snote(letter, &text);
    }
    if s.registered {
        match me.detach(conn.id) {
            Detached::Last => quit_user(server, &me, &ending.quit),
            // One device of several, or the last of an always-on user:
            // the user stays, and nobody sees the connection go.
            Detached::Stays => {
                info!(conn = conn.id, nick = %me.nick(), "a device left; the user stays");
            }
            Detached::Parked => {
                info!(conn = conn.id, nick = %me.nick(), "the last device left; always-on, the user stays");
                if let Some(a) = &s.account {
                    crate::always_on::park(server, &me, a);
                }
            }
        }
    } else if let Some(f) = s.folded_nick.take() {
        server.registry.release_nick(&f, me.id);
        if let Some(c) = server.cluster() {
            c.release(me.id);
        }
    }
    server.metadata.forget_conn(conn.id);
    if let Some(line) = error_line(ending) {
        s.client.send_final(line);
    }
}

/// The user `me` is gone (its last connection ended, or it was killed with
/// none): peers see its QUIT, channels and maps forget it.
pub(crate) fn quit_user(server: &Server, me: &Arc<Client>, quit: &str) {
    server.snotice_watchers.remove(&me.id);
    let account = me.info().account.clone().filter(|_| me.is_always_on());
    if let Some(a) = account.and_then(|a| server.fold_nick(&a)) {
        // Gone for good: not to be restored at the next start.
        crate::always_on::forget(server, a);
    }
    server.metadata.forget_user(me.id);
    let info = me.info().clone();
    server.snote(
        'c',
        &format!(
            "Client exiting: {} ({}@{}) [{quit}]",
            info.nick,
            info.user,
            me.ip.to_canonical(),
        ),
    );
    // The nick is free before anyone sees the QUIT (a peer may take it or
    // WHOIS it at once).
    let folded = server.fold_nick(&info.nick);
    if let Some(c) = server.cluster() {
        c.release(me.id);
    }
    if let Some(f) = &folded {
        server.registry.release_nick(f, me.id);
        server.add_whowas(WhowasEntry {
            folded: f.clone(),
            nick: info.nick.to_string(),
            user: info.user.to_string(),
            host: info.host.to_string(),
            realname: info.realname.to_string(),
            at: server.clock.unix_secs(),
        });
    }
    let e = Event::new(
        format!(":{} QUIT :{quit}\r\n", info.prefix()),
        server.clock.wall(),
    )
    .with_msgid(server.msgid())
    .with_account(info.account.as_deref().map(str::to_string));
    route::to_channel_peers(server, me, &e);
    for ch in &info.channels {
        server.registry.leave(ch, me.id);
    }
    me.info().channels.clear();
    server.users.fetch_sub(1, Ordering::Relaxed);
    if info.modes.oper {
        server.opers.fetch_sub(1, Ordering::Relaxed);
    }
    if info.modes.invisible {
        server.invisible.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(f) = folded {
        route::monitor_offline(server, &f, &info.nick);
    }
}

/// Records (in the background) when a connection of `account` ended:
/// its registered channels' messages since are replayed at its next login.
fn seen(server: &Server, account: String) {
    let (store, now) = (server.store.clone(), server.clock.unix_ms());
    // Off the connection's task, which is ending: nobody waits for it.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(move || {
            if let Err(e) = store.set_last_seen(&account, now) {
                tracing::warn!(error = %e, "could not record when an account was last seen");
            }
        });
    }
}

/// Ends the user `c` — every connection of it — with `reason` (KILL, a
/// ban, a suspension). An always-on user with no connection has no task
/// to do it: its QUIT happens here.
pub(crate) fn kill_user(server: &Server, c: &Arc<Client>, reason: String) {
    if c.kill(reason.clone()) {
        quit_user(server, c, &reason);
    }
}

/// With several devices, another device may have changed the user's
/// nick: the folded nick this session goes by follows it, before each line.
pub(crate) fn sync_device_nick(server: &Server, s: &mut Session) {
    if s.registered && (s.more.identity.is_some() || s.client.has_devices()) {
        s.folded_nick = server.fold_nick(&s.user().nick());
    }
}

/// Why a connection ended: what the client and its peers are told.
pub(crate) struct Ending {
    /// The QUIT message others see.
    pub quit: String,
    /// The ERROR line's text for the client itself (None: no ERROR).
    pub error: Option<String>,
    pub log: String,
}

impl Ending {
    pub(crate) fn new(quit: impl Into<String>, error: Option<String>) -> Ending {
        let quit = quit.into();
        Ending {
            log: quit.clone(),
            quit,
            error,
        }
    }
}

/// The ERROR line a closing client gets.
pub(crate) fn error_line(e: &Ending) -> Option<Bytes> {
    e.error
        .as_ref()
        .map(|t| Bytes::from(Line::new().verb("ERROR").trailing(t).finish()))
}
