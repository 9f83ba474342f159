//! Private messages to a nick: the sender's target-change limit, the
//! recipient's SILENCE and `+g`/ACCEPT lists, and what became of it.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferry_proto::numeric::*;

use super::{deliver, deliver_line, is_silenced};
use crate::client::Client;
use crate::ctx::{Ctx, Reject};
use crate::event::Event;

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
    to_nick_by(cx, nick, folded, kind, |to, sendq| {
        deliver(e, to, sendq);
    })
}

/// [`to_nick`] where `send` delivers (see [`to_channel_by`]).
pub(super) fn to_nick_by(
    cx: &mut Ctx<'_>,
    nick: &str,
    folded: &str,
    kind: Kind,
    send: impl FnOnce(&Client, usize),
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
    send(&target, cx.sendq());
    if let Some(mine) = &cx.s.folded_nick {
        target
            .last_dm_from
            .store(crate::guard::target_hash(mine), Ordering::Relaxed);
    }
    Ok(ToNick::Sent { to: target, away })
}

/// May this sender write to a `+g` recipient? (ACCEPTed account or nick.)
fn accepted(cx: &Ctx<'_>, accept: &HashSet<String>) -> bool {
    let account = cx
        .me()
        .info()
        .account
        .as_deref()
        .and_then(|a| cx.server.fold_nick(a));
    accepts(accept, cx.s.folded_nick.as_deref(), account.as_deref())
}

/// Does an ACCEPT list let in a sender by its folded nick or account?
pub(super) fn accepts(accept: &HashSet<String>, nick: Option<&str>, account: Option<&str>) -> bool {
    account.is_some_and(|a| accept.contains(a)) || nick.is_some_and(|n| accept.contains(n))
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
