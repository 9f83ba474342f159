//! Every delivery to anyone but the current client.
//!
//! # The rule, by construction
//! A client's send queue ([`Outbox`]) takes lines only through
//! `Outbox::push`, which is visible in this module alone. Outside it, code
//! can queue only for its own connection, through the [`Me`] its session
//! holds — and a `Me` is made only from a new, not yet shared [`Client`]
//! ([`Me::new`]), so no handler can hold another connection's `Me`. Every
//! other client is an `Arc<Client>` whose queue nothing outside this module
//! can fill. So each kind of delivery below is one function, and what a
//! cluster, a second transport or new stored state needs of delivery has
//! one place to plug in.
//!
//! # The interface (what a cluster bus implements the remote half of)
//! Each function takes the server, what is delivered (an [`Event`]:
//! serialised once, rendered per recipient's tag caps) and the addressee;
//! it delivers to the local clients itself. A cluster node will do the
//! same locally and publish the event once per remote node that has a
//! recipient; the receiving node runs the same function for its own
//! clients. By addressee:
//! - **a nick** ([`to_nick`]): one client; the sender's target-change
//!   limit, the recipient's SILENCE list and `+g`/ACCEPT are checked here,
//!   and the caller learns whether it was delivered, dropped, refused, or
//!   is for an offline account (stored by `accounts::offline`).
//! - **a channel** ([`to_channel`] for messages, [`to_members`] and
//!   [`to_members_with`] for membership events such as JOIN, PART, KICK,
//!   TOPIC, MODE, INVITE): the channel's members, under its lock.
//! - **an account's devices** ([`poke_account`], [`to_devices`]): its
//!   logged-in clients.
//! - **the peers of a user** ([`to_channel_peers`], [`notify_peers`]):
//!   everyone sharing a channel (QUIT, NICK), and with a capability those
//!   and the extended-monitor watchers (AWAY, ACCOUNT, SETNAME, CHGHOST).
//! - **MONITOR watchers** ([`monitor_online`], [`monitor_offline`]) and
//!   **metadata subscribers** ([`to_subscribers`]: a profile or channel
//!   key changed).
//! - **operators** ([`Server::snote`], [`wallops`]) and server-made lines
//!   to one client ([`server_line`]: the sweeper's PING).
//!
//! Nothing here blocks or waits: a push into a full queue closes that
//! client alone (SendQ), never the sender.

mod outbox;
mod server;
mod watchers;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::{mask, numeric::*};

pub(crate) use outbox::{slowest_first, Budget, Outbox, Overflow};
pub(crate) use server::{kick_by_server, notice_everyone, wallops};
pub(crate) use watchers::{monitor_offline, monitor_online, to_subscribers, Audience};

use crate::caps::{Cap, Caps};
use crate::channel::{ChanState, Channel, Prefix};
use crate::client::{Client, ClientId};
use crate::ctx::{Ctx, Reject};
use crate::event::Event;
use crate::Server;

/// This connection's own client: the one handle through which code outside
/// this module may queue lines, and only for that connection.
pub(crate) struct Me(Arc<Client>);

impl Me {
    /// Takes a new connection's client before anyone else can hold it.
    pub(crate) fn new(client: Client) -> Me {
        Me(Arc::new(client))
    }

    /// Queues a whole line (or several, CRLF included) for this client.
    pub(crate) fn send(&self, line: &Bytes, sendq: usize) -> bool {
        self.0.outbox.push(&[line], sendq)
    }

    /// Queues the last line (the ERROR that says why the connection ends),
    /// even on a closed or full queue.
    pub(crate) fn send_final(&self, line: Bytes) {
        self.0.outbox.push_final(line)
    }
}

impl std::ops::Deref for Me {
    type Target = Arc<Client>;
    fn deref(&self) -> &Arc<Client> {
        &self.0
    }
}

impl std::fmt::Debug for Me {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Me").field(&self.0.id).finish()
    }
}

/// Queues `e` for `to` (each of its connections), rendered for each one's
/// caps. False when a queue refused it (that connection is being cut off
/// for SendQ).
fn deliver(e: &Event, to: &Client, sendq: usize) -> bool {
    deliver_if(e, to, sendq, |_| true)
}

/// [`deliver`] to those of `to`'s connections whose caps pass `want`.
fn deliver_if(e: &Event, to: &Client, sendq: usize, want: impl Fn(Caps) -> bool) -> bool {
    let mut ok = true;
    to.each_conn(|c| {
        let caps = c.caps();
        if want(caps) && e.wanted_by(caps) {
            ok &= deliver_one(e, c, caps, sendq);
        }
    });
    ok
}

fn deliver_one(e: &Event, to: &Client, caps: Caps, sendq: usize) -> bool {
    let prefix = e.prefix_for(caps);
    if prefix.is_empty() {
        to.outbox.deliver(&[&e.body], sendq)
    } else {
        to.outbox.deliver(&[prefix, &e.body], sendq)
    }
}

/// A line made for `to` by the server (a numeric, a notice), to each of
/// its connections.
fn deliver_line(to: &Client, line: &Bytes, sendq: usize) -> bool {
    let mut ok = true;
    to.each_conn(|c| ok &= c.outbox.deliver(&[line], sendq));
    ok
}

/// What one device of `user` sent or did, to its other connections (all
/// but `except`): they see it as an echo, whatever their caps.
pub(crate) fn to_own_devices(server: &Server, user: &Client, except: ClientId, e: &Event) {
    let sendq = server.config().limits.sendq_bytes;
    user.each_conn(|c| {
        let caps = c.caps();
        if c.id != except && e.wanted_by(caps) {
            deliver_one(e, c, caps, sendq);
        }
    });
}

/// A line the server itself sends one client (the sweeper's PING).
pub(crate) fn server_line(to: &Client, line: &Bytes, sendq: usize) -> bool {
    to.outbox.push(&[line], sendq)
}

// ------------------------------------------------------------- channels

/// Every member of a channel but `except`.
pub(crate) fn to_members(st: &ChanState, except: Option<ClientId>, e: &Event, sendq: usize) {
    for (id, m) in &st.members {
        if Some(*id) != except {
            deliver(e, &m.client, sendq);
        }
    }
}

/// Every member but `except` that has `cap` (INVITE with invite-notify).
pub(crate) fn to_members_with(st: &ChanState, except: ClientId, cap: Cap, e: &Event, sendq: usize) {
    for (id, m) in &st.members {
        if *id != except {
            deliver_if(e, &m.client, sendq, |c| c.has(cap));
        }
    }
}

/// A JOIN as each member's caps want it: extended-join or plain, then the
/// joiner's AWAY for those with away-notify.
pub(crate) fn join(
    st: &ChanState,
    joiner: ClientId,
    plain: &Event,
    extended: &Event,
    away: Option<&Event>,
    sendq: usize,
) {
    for (id, m) in &st.members {
        if *id == joiner {
            continue;
        }
        deliver_if(extended, &m.client, sendq, |c| c.has(Cap::ExtendedJoin));
        deliver_if(plain, &m.client, sendq, |c| !c.has(Cap::ExtendedJoin));
        if let Some(a) = away {
            deliver_if(a, &m.client, sendq, |c| c.has(Cap::AwayNotify));
        }
    }
}

/// A PRIVMSG, NOTICE or TAGMSG to a channel (`status`: to those with at
/// least that prefix, `@#chan`). Checks that the sender may speak there;
/// members who SILENCEd the sender are skipped. Returns the channel.
pub(crate) fn to_channel(
    cx: &mut Ctx<'_>,
    name: &str,
    status: Option<Prefix>,
    e: &Event,
) -> Result<Arc<Channel>, Reject> {
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let mask = cx.server.config().casemap.fold_lossy(&me.info().prefix());
    let sendq = cx.sendq();
    let st = ch.lock();
    let who = crate::channel::Who {
        mask: &mask,
        account: cx.s.account.as_deref(),
    };
    // +C: CTCP other than ACTION is refused (the text, in the body after
    // " :", starts with \x01).
    if st.modes.no_ctcp {
        let body = e.body.as_ref();
        let ctcp = body.windows(3).any(|w| w == b" :\x01")
            && !body.windows(9).any(|w| w == b" :\x01ACTION");
        if ctcp {
            return Err(Reject::Numeric(
                ERR_CANNOTSENDTOCHAN,
                vec![
                    ch.name.clone(),
                    "Cannot send to channel (+C: no CTCP)".into(),
                ],
            ));
        }
    }
    if !st.can_send(me.id, &who) {
        let reason = if !st.members.contains_key(&me.id) && st.modes.no_external {
            "Cannot send to channel (no external messages)"
        } else if st.modes.moderated {
            "Cannot send to channel (+m)"
        } else if st.is_muted(&who) && !st.is_banned(&who) {
            "Cannot send to channel (you're muted)"
        } else {
            "Cannot send to channel (you're banned)"
        };
        return Err(Reject::Numeric(
            ERR_CANNOTSENDTOCHAN,
            vec![ch.name.clone(), reason.into()],
        ));
    }
    for (id, m) in &st.members {
        if *id == me.id {
            continue;
        }
        if let Some(need) = status {
            let ok = if need.op {
                m.prefix.op
            } else {
                m.prefix.op || m.prefix.voice
            };
            if !ok {
                continue;
            }
        }
        if is_silenced(&m.client, &mask) {
            continue;
        }
        deliver(e, &m.client, sendq);
    }
    drop(st);
    Ok(ch)
}

/// An INVITE for its target, unless the target SILENCEd the inviter
/// (then it is dropped without a word to the inviter).
pub(crate) fn invite(server: &Server, target: &Client, inviter_prefix: &str, e: &Event) {
    let mask = server.config().casemap.fold_lossy(inviter_prefix);
    if !is_silenced(target, &mask) {
        deliver(e, target, server.config().limits.sendq_bytes);
    }
}

// ----------------------------------------------------------------- nicks

/// Which kind of message is being routed: replies differ (no automatic
/// reply to a NOTICE, RFC 2812; a +g request only for PRIVMSG).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// What became of a message to a nick.
pub(crate) enum ToNick {
    /// Queued for `to`; `away` is its away message (for 301).
    Sent {
        to: Arc<Client>,
        away: Option<Box<str>>,
    },
    /// Dropped by the recipient's SILENCE list: the sender sees what it
    /// always sees, and nothing is kept.
    Dropped,
    /// Refused (target-change limit, `+g`); the sender was told.
    Refused,
    /// Nobody online by that nick; it may be an account (casefolded
    /// here), for which the message should wait in the store.
    Offline(String),
}

/// A private message to `nick`: the sender's target-change limit, then the
/// recipient's SILENCE and `+g` (with ACCEPT) lists. Delivers it, or says
/// why not. Errors: 401 for a nick that cannot be an account.
pub(crate) fn to_nick(
    cx: &mut Ctx<'_>,
    nick: &str,
    folded: &str,
    e: &Event,
    kind: Kind,
) -> Result<ToNick, Reject> {
    if !target_change_ok(cx, nick, folded) {
        return Ok(ToNick::Refused);
    }
    // `folded` is the target already folded: no second casefold here.
    let Some(target) = cx.server.registry.find_nick(folded) else {
        // Not online: maybe an account (the store decides, so accounts made
        // by `ferry account add` while the server runs count too).
        return match cx.server.fold_nick(nick) {
            Some(account) => Ok(ToNick::Offline(account)),
            None => Err(Reject::NoSuchNick(nick.into())),
        };
    };
    if target.is_parked() {
        // Always-on with no device: kept for its next one, as for an
        // account that is offline.
        let account = target.info().account.clone();
        if let Some(account) = account.and_then(|a| cx.server.fold_nick(&a)) {
            return Ok(ToNick::Offline(account));
        }
    }
    let me = cx.me().clone();
    // The sender's folded mask only for a recipient with a SILENCE list.
    let silenced = target.id != me.id && target.has_silence() && {
        let my_mask = cx.server.config().casemap.fold_lossy(&me.info().prefix());
        is_silenced(&target, &my_mask)
    };
    if silenced {
        return Ok(ToNick::Dropped);
    }
    let (away, callerid) = {
        let i = target.info();
        (i.away.clone(), i.modes.callerid)
    };
    if callerid && target.id != me.id && !me.info().modes.oper {
        let tnick = target.info().nick.clone();
        let ok = accepted(cx, &target.lists().accept);
        if !ok {
            // 716, then 717 "has been informed" (the CALLERID order);
            // no automatic reply to a NOTICE.
            if kind != Kind::Notice {
                cx.num(
                    ERR_TARGUMODEG,
                    &[&tnick, "is in +g mode (server-side ignore)."],
                );
            }
            refuse_callerid(cx, &target, &tnick, kind);
            return Ok(ToNick::Refused);
        }
    }
    // A note to oneself arrives twice with echo-message (delivery and
    // echo), as irctest and other servers have it.
    deliver(e, &target, cx.sendq());
    if let Some(mine) = &cx.s.folded_nick {
        target
            .last_dm_from
            .store(crate::guard::target_hash(mine), Ordering::Relaxed);
    }
    Ok(ToNick::Sent { to: target, away })
}

/// Has `to` SILENCEd this sender (by its folded mask)?
fn is_silenced(to: &Client, sender_mask: &str) -> bool {
    if !to.has_silence() {
        return false;
    }
    let l = to.lists();
    l.silence.iter().any(|(_, m)| mask::matches(m, sender_mask))
}

/// May this sender write to a `+g` recipient? (ACCEPTed account or nick.)
fn accepted(cx: &Ctx<'_>, accept: &HashSet<String>) -> bool {
    let i = cx.me().info();
    let by_account = i
        .account
        .as_deref()
        .and_then(|a| cx.server.fold_nick(a))
        .is_some_and(|a| accept.contains(&a));
    by_account
        || cx
            .s
            .folded_nick
            .as_ref()
            .is_some_and(|n| accept.contains(n))
}

/// The target-change limit: may this client write to `target` (a nick)?
/// If not, it is told (707) and operators watching floods (+s b) once.
fn target_change_ok(cx: &mut Ctx<'_>, target: &str, folded: &str) -> bool {
    let cfg = cx.server.config();
    let f = &cfg.flood;
    if f.target_changes == 0 || cx.s.flood_exempt || cx.s.more.oper_name.is_some() {
        return true;
    }
    // A nick that does not exist is answered 401 and costs nothing.
    if !cx.server.registry.nick_taken(folded) && !cx.server.registered_names.contains(folded) {
        return true;
    }
    let h = crate::guard::target_hash(folded);
    let me = cx.me().clone();
    let free = me.last_dm_from.load(Ordering::Relaxed) == h
        || cx.s.folded_nick.as_deref() == Some(folded)
        || me.lists().accept.contains(folded);
    let now = cx.server.clock.now();
    let (max, every) = (f.target_changes, f.target_change_every);
    drop(cfg);
    let t =
        cx.s.more
            .targets
            .get_or_insert_with(|| crate::guard::TargetChanges::new(max, now));
    if t.allow(h, free, now, max, every) {
        return true;
    }
    let tell_opers = !std::mem::replace(&mut t.warned, true);
    cx.server
        .stats
        .target_change_refused
        .fetch_add(1, Ordering::Relaxed);
    cx.num(
        ERR_TARGCHANGE,
        &[target, "Targets changing too fast, message dropped"],
    );
    if tell_opers {
        let text = format!(
            "Target change limit: {} ({}) is writing to too many new nicks",
            me.nick(),
            me.ip.to_canonical()
        );
        cx.server.snote('b', &text);
    }
    false
}

/// Tells a +g user, at most once a minute per sender, that someone wants
/// to write (718), and the sender that it was told (717).
fn refuse_callerid(cx: &mut Ctx<'_>, target: &Client, tnick: &str, kind: Kind) {
    if kind != Kind::Privmsg {
        return;
    }
    let (nick, userhost) = {
        let i = cx.me().info();
        (i.nick.clone(), format!("{}@{}", i.user, i.host))
    };
    let now = cx.server.uptime_secs();
    let key = cx.s.folded_nick.clone().unwrap_or_default();
    let notify = {
        let mut l = target.lists();
        let last = l.notified.get(&key).copied();
        if last.is_none_or(|t| now.saturating_sub(t) >= 60) {
            l.notified.insert(key, now);
            true
        } else {
            false
        }
    };
    if notify {
        let line = format!(
            ":{} {RPL_UMODEGMSG} {tnick} {nick} {userhost} :is messaging you, and you have user mode +g set. Use /ACCEPT +{nick} to allow.\r\n",
            cx.server_name()
        );
        deliver_line(target, &line.into(), cx.sendq());
        cx.num(
            RPL_TARGNOTIFY,
            &[tnick, "has been informed that you messaged them."],
        );
    }
}

// -------------------------------------------------------------- accounts

/// Messages were stored for `account` (casefolded): its logged-in client,
/// if any, fetches what waits (its login fetch may have missed them).
pub(crate) fn poke_account(server: &Server, account: &str) {
    let Some(c) = server.registry.nick_holder(account) else {
        return;
    };
    let same = c
        .info()
        .account
        .as_deref()
        .and_then(|a| server.fold_nick(a));
    if same.as_deref() == Some(account) {
        c.poke_offline();
    }
}

/// The account's other logged-in connections that have `cap` (what one
/// device did that the others follow: a read marker).
pub(crate) fn to_devices(server: &Server, account: &str, except: ClientId, cap: Cap, e: &Event) {
    let sendq = server.config().limits.sendq_bytes;
    for c in server.registry.devices(account) {
        if c.id != except && c.is_registered() && c.caps().has(cap) {
            deliver(e, &c, sendq);
        }
    }
}

/// `e` to a user (each of its devices that wants it): what concerns it
/// alone and is not a message (a REDACT of a message it got).
pub(crate) fn to_user(server: &Server, to: &Client, e: &Event) {
    deliver(e, to, server.config().limits.sendq_bytes);
}

// ----------------------------------------------------------------- peers

/// Every distinct registered client sharing a channel with `me` (not `me`).
fn channel_peers(me: &Client) -> Vec<Arc<Client>> {
    let channels = me.info().channels.clone();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ch in channels {
        let st = ch.lock();
        for (id, m) in &st.members {
            if *id != me.id && seen.insert(*id) {
                out.push(m.client.clone());
            }
        }
    }
    out
}

/// `e` to everyone sharing a channel with `me`, once each (QUIT, NICK).
pub(crate) fn to_channel_peers(server: &Server, me: &Client, e: &Event) {
    let sendq = server.config().limits.sendq_bytes;
    for p in channel_peers(me) {
        deliver(e, &p, sendq);
    }
}

/// Delivers `e` to the channel peers that have `cap`, and to those who
/// MONITOR `me` (by `folded_nick`) with extended-monitor and `cap`.
pub(crate) fn notify_peers(
    server: &Server,
    me: &Client,
    folded_nick: Option<&str>,
    cap: Cap,
    e: &Event,
) {
    let sendq = server.config().limits.sendq_bytes;
    let mut seen = HashSet::new();
    for p in channel_peers(me) {
        seen.insert(p.id);
        deliver_if(e, &p, sendq, |c| c.has(cap));
    }
    let Some(f) = folded_nick else {
        return;
    };
    for c in server.registry.watchers(f) {
        let caps = c.caps();
        if c.id != me.id && !seen.contains(&c.id) && caps.has(cap) && caps.extended_monitor() {
            deliver(e, &c, sendq);
        }
    }
}
