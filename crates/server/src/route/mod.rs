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

mod nicks;
mod outbox;
mod server;
mod watchers;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::{mask, numeric::*};

pub(crate) use nicks::{to_nick, Kind, ToNick};
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
        if *id == joiner || !st.sees(*id, joiner) {
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
    to_channel_by(cx, name, status, e, |to, sendq| {
        deliver(e, to, sendq);
    })
}

/// [`to_channel`] where `send` delivers to each recipient (a multiline
/// batch: one form or another per connection); `e` is what the channel's
/// rules judge (its first line).
fn to_channel_by(
    cx: &mut Ctx<'_>,
    name: &str,
    status: Option<Prefix>,
    e: &Event,
    mut send: impl FnMut(&Client, usize),
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
        send(&m.client, sendq);
    }
    drop(st);
    Ok(ch)
}

/// A multiline batch (draft/multiline) to a channel or a nick: `batched`
/// to each connection with the cap, `fallback` (its lines as plain
/// messages) to the others. The rules are those of a message: judged on
/// the fallback's first line.
pub(crate) fn multiline(
    cx: &mut Ctx<'_>,
    target: &str,
    folded: &str,
    kind: Kind,
    batched: &[Event],
    fallback: &[Event],
) -> Result<Multi, Reject> {
    let send = |to: &Client, sendq: usize| {
        for e in batched {
            deliver_if(e, to, sendq, |c| c.has(Cap::Multiline));
        }
        for e in fallback {
            deliver_if(e, to, sendq, |c| !c.has(Cap::Multiline));
        }
    };
    let probe = &fallback[0];
    if target.starts_with('#') {
        return to_channel_by(cx, target, None, probe, send).map(Multi::Channel);
    }
    nicks::to_nick_by(cx, target, folded, kind, send).map(Multi::Nick)
}

/// Where a multiline batch went.
pub(crate) enum Multi {
    Channel(Arc<Channel>),
    Nick(ToNick),
}

/// What one device of `user` sent, to its other connections whose caps
/// pass `want`.
pub(crate) fn to_own_devices_if(
    server: &Server,
    user: &Client,
    except: ClientId,
    e: &Event,
    want: impl Fn(Caps) -> bool,
) {
    let sendq = server.config().limits.sendq_bytes;
    user.each_conn(|c| {
        let caps = c.caps();
        if c.id != except && want(caps) && e.wanted_by(caps) {
            deliver_one(e, c, caps, sendq);
        }
    });
}

/// A channel was renamed (draft/channel-rename): each member's
/// connection with the cap gets `e` (the RENAME); the others get
/// `legacy(member, caps)` — their own PART of the old name and JOIN of the
/// new, as if they had left and come back. Not `except` (the renamer's
/// connection: its reply has it).
pub(crate) fn renamed(
    server: &Server,
    st: &ChanState,
    except: ClientId,
    e: &Event,
    legacy: impl Fn(&Client, Caps) -> Bytes,
) {
    let sendq = server.config().limits.sendq_bytes;
    for m in st.members.values() {
        let user = &m.client;
        user.each_conn(|c| {
            if c.id == except {
                return;
            }
            let caps = c.caps();
            if caps.has(Cap::ChannelRename) {
                deliver_one(e, c, caps, sendq);
            } else {
                c.outbox.deliver(&[&legacy(user, caps)], sendq);
            }
        });
    }
}

/// An INVITE for its target, unless the target SILENCEd the inviter
/// (then it is dropped without a word to the inviter).
pub(crate) fn invite(server: &Server, target: &Client, inviter_prefix: &str, e: &Event) {
    let mask = server.config().casemap.fold_lossy(inviter_prefix);
    if !is_silenced(target, &mask) {
        deliver(e, target, server.config().limits.sendq_bytes);
    }
}

/// What became of a private message another node of the cluster sent
/// here for one of this node's users (crate::cluster).
pub(crate) enum FromAfar {
    /// Delivered; the recipient's away message, if any.
    Delivered { away: Option<String> },
    /// The recipient SILENCEs the sender: dropped, quietly.
    Dropped,
    /// The recipient is `+g` and has not ACCEPTed the sender.
    Refused,
}

/// A private message from a user of another node to `to`, one of ours:
/// the recipient's SILENCE and `+g` lists decide, as for a local sender
/// (`nicks::to_nick_by`). `sender_mask` is the sender's folded
/// `nick!user@host`; `sender` its (folded nick, folded account).
pub(crate) fn from_afar(
    server: &Server,
    to: &Client,
    e: &Event,
    sender_mask: &str,
    sender: (&str, Option<&str>),
) -> FromAfar {
    if is_silenced(to, sender_mask) {
        return FromAfar::Dropped;
    }
    let (away, callerid) = {
        let i = to.info();
        (i.away.clone(), i.modes.callerid)
    };
    if callerid && !nicks::accepts(&to.lists().accept, Some(sender.0), sender.1) {
        return FromAfar::Refused;
    }
    deliver(e, to, server.config().limits.sendq_bytes);
    FromAfar::Delivered {
        away: away.map(|a| a.to_string()),
    }
}

/// Has `to` SILENCEd this sender (by its folded mask)?
fn is_silenced(to: &Client, sender_mask: &str) -> bool {
    if !to.has_silence() {
        return false;
    }
    let l = to.lists();
    l.silence.iter().any(|(_, m)| mask::matches(m, sender_mask))
}

// -------------------------------------------------------------- accounts

/// Messages were stored for `account` (casefolded): one of its logged-in
/// connections (whatever nick it goes by) fetches what waits — its login
/// fetch may have missed them. One, so they are delivered once.
pub(crate) fn poke_account(server: &Server, account: &str) {
    if let Some(c) = server
        .registry
        .devices(account)
        .into_iter()
        .find(|c| c.is_registered())
    {
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
/// (Under +u, of a channel where `me` has no status, only those with one.)
fn channel_peers(me: &Client) -> Vec<Arc<Client>> {
    let channels = me.info().channels.clone();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ch in channels {
        let st = ch.lock();
        for (id, m) in &st.members {
            if *id != me.id && st.sees(*id, me.id) && seen.insert(*id) {
                out.push(m.client.clone());
            }
        }
    }
    out
}

/// Every member but `except`, that may see `member` (+u): a PART.
pub(crate) fn to_members_seeing(st: &ChanState, member: ClientId, e: &Event, sendq: usize) {
    for (id, m) in &st.members {
        if *id != member && st.sees(*id, member) {
            deliver(e, &m.client, sendq);
        }
    }
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
