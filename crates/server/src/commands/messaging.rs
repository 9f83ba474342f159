//! PRIVMSG, NOTICE and TAGMSG to nicks, channels and channel status
//! groups; to NickServ; and to registered accounts that are offline, whose
//! messages wait in the store (docs/DURABILITY.md, docs/FRIENDS.md).

use std::sync::atomic::Ordering;

use ferry_proto::{mask, numeric::*, Message};
use ferry_store::{
    dm_key, Admit, Enqueued, Judge, OfflineItem, Recipient, StoreError, StoredMessage,
};
use tracing::warn;

use super::account::{nickserv, NICKSERV};
use super::{then, Ctx, Outcome, Reject};
use crate::caps::Cap;
use crate::channel::Prefix;
use crate::client::Client;
use crate::router::Event;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    fn verb(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

pub(super) fn privmsg(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Privmsg)
}

pub(super) fn notice(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Notice)
}

pub(super) fn tagmsg(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Tagmsg)
}

/// Client-only tags worth relaying, escaped as received.
fn client_tags(msg: &Message<'_>) -> Option<String> {
    let mut out = String::new();
    for t in msg.tags().filter(|t| t.is_client_only()) {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(t.key);
        if let Some(v) = t.raw_value.filter(|v| !v.is_empty()) {
            out.push('=');
            out.push_str(v);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A message whose recipient is an offline account.
struct Waiting {
    account: String,
    target: String,
    event: Event,
    stored: StoredMessage,
}

fn relay(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: Kind) -> Outcome {
    let verb = kind.verb();
    let Some(targets) = msg.param(0).filter(|t| !t.is_empty()) else {
        return Err(Reject::Numeric(
            ERR_NORECIPIENT,
            vec![format!("No recipient given ({verb})")],
        ));
    };
    let text = msg.param(1).unwrap_or("");
    if kind != Kind::Tagmsg && text.is_empty() {
        return Err(Reject::Numeric(
            ERR_NOTEXTTOSEND,
            vec!["No text to send".into()],
        ));
    }
    let tags = if cx.caps().has(Cap::MessageTags) {
        client_tags(msg)
    } else {
        None
    };
    if kind == Kind::Tagmsg && tags.is_none() && msg.tags_raw.is_none() {
        return Ok(());
    }
    let max = cx.server.config().limits.max_targets;
    let prefix = cx.prefix();
    let casemap = cx.server.config().casemap;
    let mut seen: Vec<String> = Vec::new();
    let mut waiting = Vec::new();
    for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
        if i >= max {
            cx.num(
                ERR_TOOMANYTARGETS,
                &[target, "Too many targets. Message not delivered"],
            );
            continue;
        }
        let folded = casemap.fold_lossy(target);
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        let folded = seen.last().expect("just pushed");
        let body = match kind {
            Kind::Tagmsg => format!(":{prefix} {verb} {target}\r\n"),
            _ => format!(":{prefix} {verb} {target} :{text}\r\n"),
        };
        let mut event = cx.event(body);
        event.client_tags = tags.clone();
        event.tags_only = kind == Kind::Tagmsg;
        let r = if let Some((status, chan)) = status_target(target) {
            to_channel(cx, chan, Some(status), &event, text, kind)
        } else if target.starts_with('#') {
            to_channel(cx, target, None, &event, text, kind)
        } else if target.eq_ignore_ascii_case(NICKSERV) && kind == Kind::Privmsg {
            // No echo: what is said to NickServ holds passwords.
            nickserv(cx, text)?;
            continue;
        } else if !target_change_ok(cx, target, folded) {
            continue;
        } else {
            match to_nick(cx, target, &event, text, kind) {
                Ok(ToNick::Later(w)) => {
                    waiting.push(*w);
                    continue;
                }
                // Answered already (716, 717).
                Ok(ToNick::Refused) => continue,
                Ok(ToNick::Sent) => Ok(()),
                Err(e) => Err(e),
            }
        };
        match r {
            Ok(()) => {
                if cx.caps().has(Cap::EchoMessage) {
                    cx.push_event(&event);
                }
            }
            // No automatic reply to a NOTICE (RFC 2812).
            Err(_) if kind == Kind::Notice => {}
            Err(e) => super::reject(cx, e),
        }
    }
    if kind != Kind::Tagmsg {
        cx.me().info().last_message = crate::unix_now();
    }
    if !waiting.is_empty() {
        store_for_later(cx, waiting, kind);
    }
    Ok(())
}

/// `@#chan` / `+#chan`: the lowest prefix a recipient must have.
fn status_target(t: &str) -> Option<(Prefix, &str)> {
    let mut chars = t.chars();
    let p = match chars.next()? {
        '@' => Prefix {
            op: true,
            voice: false,
        },
        '+' => Prefix {
            op: false,
            voice: true,
        },
        _ => return None,
    };
    let rest = chars.as_str();
    rest.starts_with('#').then_some((p, rest))
}

/// The message as the store keeps it.
fn stored(cx: &Ctx<'_>, e: &Event, kind: Kind, target: &str, text: &str) -> StoredMessage {
    let (source, account) = {
        let i = cx.me().info();
        (i.prefix(), i.account.as_deref().map(str::to_string))
    };
    StoredMessage {
        msgid: e.msgid.clone().unwrap_or_default(),
        time_ms: e.time_ms,
        source,
        account,
        command: kind.verb().to_string(),
        target: target.to_string(),
        text: text.to_string(),
        tags: e.client_tags.clone().unwrap_or_default(),
    }
}

/// Who someone is in history keys: `a:` and their account if logged in,
/// else `n:` and their nick — so a nick's conversations do not become an
/// account's when someone later registers that name.
pub(super) fn identity(cx: &Ctx<'_>, c: &Client) -> String {
    let i = c.info();
    match &i.account {
        Some(a) => format!(
            "a:{}",
            cx.server.fold_nick(a).unwrap_or_else(|| a.to_lowercase())
        ),
        None => format!(
            "n:{}",
            cx.server
                .fold_nick(&i.nick)
                .unwrap_or_else(|| i.nick.to_lowercase())
        ),
    }
}

fn to_channel(
    cx: &mut Ctx<'_>,
    name: &str,
    status: Option<Prefix>,
    e: &Event,
    text: &str,
    kind: Kind,
) -> Outcome {
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let mask = cx.server.config().casemap.fold_lossy(&me.info().prefix());
    let sendq = cx.sendq();
    {
        let st = ch.lock();
        let who = crate::channel::Who {
            mask: &mask,
            account: cx.s.account.as_deref(),
        };
        if !st.can_send(me.id, &who) {
            let reason = if !st.members.contains_key(&me.id) && st.modes.no_external {
                "Cannot send to channel (no external messages)"
            } else if st.modes.moderated {
                "Cannot send to channel (+m)"
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
            e.deliver(&m.client, sendq);
        }
    }
    if status.is_none() {
        let row = stored(cx, e, kind, &ch.name, text);
        cx.server.history.record(ch.folded.clone(), row);
    }
    Ok(())
}

/// Has `to` SILENCEd this sender (by its folded mask)?
pub(super) fn is_silenced(to: &Client, sender_mask: &str) -> bool {
    if !to.has_silence() {
        return false;
    }
    let l = to.lists();
    l.silence.iter().any(|(_, m)| mask::matches(m, sender_mask))
}

/// May this sender write to a `+g` recipient? (ACCEPTed account or nick.)
fn accepted(cx: &Ctx<'_>, accept: &std::collections::HashSet<String>) -> bool {
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

/// What became of a message to a nick.
enum ToNick {
    Sent,
    /// The nick may be an offline account: the message should wait for it.
    Later(Box<Waiting>),
    /// Refused by +g; the sender was told.
    Refused,
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
    if !cx.server.nicks.contains_key(folded) && !cx.server.registered_names.contains(folded) {
        return true;
    }
    let h = crate::guard::target_hash(folded);
    let me = cx.me().clone();
    let free = me.last_dm_from.load(Ordering::Relaxed) == h
        || cx.s.folded_nick.as_deref() == Some(folded)
        || me.lists().accept.contains(folded);
    let now = std::time::Instant::now();
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

/// Delivers to an online nick, or says the message should wait for an
/// offline account.
fn to_nick(
    cx: &mut Ctx<'_>,
    nick: &str,
    e: &Event,
    text: &str,
    kind: Kind,
) -> Result<ToNick, Reject> {
    let Some(target) = cx.server.find_nick(nick) else {
        // Not online: maybe an account (the store decides, so accounts made
        // by `ferry account add` while the server runs count too).
        if let Some(account) = cx.server.fold_nick(nick) {
            let stored = stored(cx, e, kind, nick, text);
            return Ok(ToNick::Later(Box::new(Waiting {
                account,
                target: nick.to_string(),
                event: e.clone(),
                stored,
            })));
        }
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let me = cx.me().clone();
    // The sender's folded mask only for a recipient with a SILENCE list.
    let silenced = target.id != me.id && target.has_silence() && {
        let my_mask = cx.server.config().casemap.fold_lossy(&me.info().prefix());
        is_silenced(&target, &my_mask)
    };
    let (tnick, away, callerid) = {
        let i = target.info();
        (i.nick.clone(), i.away.clone(), i.modes.callerid)
    };
    if silenced {
        // Dropped without a word: the sender sees what it always sees.
        return Ok(ToNick::Sent);
    }
    if callerid && target.id != me.id && !me.info().modes.oper {
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
    e.deliver(&target, cx.sendq());
    if let Some(mine) = &cx.s.folded_nick {
        target
            .last_dm_from
            .store(crate::guard::target_hash(mine), Ordering::Relaxed);
    }
    let mine = super::chathistory::my_identity(cx).unwrap_or_else(|| identity(cx, &me));
    let key = dm_key(&mine, &identity(cx, &target));
    let row = stored(cx, e, kind, nick, text);
    cx.server.history.record(key, row);
    if kind == Kind::Privmsg {
        if let Some(away) = away {
            cx.num(RPL_AWAY, &[&tnick, &away]);
        }
    }
    Ok(ToNick::Sent)
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
        target.send_bytes(&line.into(), cx.sendq());
        cx.num(
            RPL_TARGNOTIFY,
            &[tnick, "has been informed that you messaged them."],
        );
    }
}

/// Stores messages for offline accounts; the sender's echo (and any reply)
/// comes only after the store committed them. The store takes the batch
/// without a thread waiting on it (its writer judges each message against
/// the recipient's lists and group-commits it with other connections'),
/// and this connection's next line waits for the outcome.
fn store_for_later(cx: &mut Ctx<'_>, waiting: Vec<Waiting>, kind: Kind) {
    let me_account = cx
        .me()
        .info()
        .account
        .clone()
        .and_then(|a| cx.server.fold_nick(&a));
    let me_nick = cx.s.folded_nick.clone().unwrap_or_default();
    let my_mask = cx.server.config().casemap.fold_lossy(&cx.prefix());
    let display_nick = cx.me().nick();
    let cap = cx.server.config().accounts.offline_max_messages;
    let judge: Judge = Box::new(move |_, r: &Recipient<'_>| {
        if r.silence.iter().any(|e| mask::matches(&e.key, &my_mask)) {
            return Admit::Silenced;
        }
        let accepted = || {
            r.accept
                .iter()
                .any(|e| Some(&e.key) == me_account.as_ref() || e.key == me_nick)
        };
        if r.callerid && !accepted() {
            return Admit::Request(display_nick.to_string());
        }
        Admit::Store
    });
    let items = waiting
        .iter()
        .map(|w| OfflineItem {
            account: w.account.clone(),
            msg: w.stored.clone(),
        })
        .collect();
    let (tx, rx) = tokio::sync::oneshot::channel();
    cx.server.store.enqueue_offline_batch(
        items,
        cap,
        judge,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    cx.defer_chainable(async move {
        let outcomes = rx.await.unwrap_or(Err(StoreError::Closed));
        then(move |cx: &mut Ctx<'_>| {
            let outcomes = match outcomes {
                Ok(o) => o.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => {
                    warn!(error = %e, "could not store offline messages");
                    waiting.iter().map(|_| Err(())).collect()
                }
            };
            for (w, outcome) in waiting.into_iter().zip(outcomes) {
                after_store(cx, w, outcome, kind);
            }
        })
    });
}

/// Tells the sender what became of one message for an offline account.
fn after_store(cx: &mut Ctx<'_>, w: Waiting, outcome: Result<Enqueued, ()>, kind: Kind) {
    if let Ok(Enqueued::Stored(_) | Enqueued::Request | Enqueued::Full | Enqueued::Silenced) =
        outcome
    {
        if !cx.server.registered_names.contains(&w.account) {
            cx.server.registered_names.insert(w.account.clone());
        }
    }
    if let Ok(Enqueued::Stored(_)) = outcome {
        // Logged in meanwhile (its login fetch may have missed this one):
        // tell it to look again.
        let online = cx.server.nicks.get(&w.account).map(|c| c.clone());
        if let Some(c) = online {
            let same = c
                .info()
                .account
                .as_deref()
                .and_then(|a| cx.server.fold_nick(a));
            if same.as_deref() == Some(w.account.as_str()) {
                c.poke_offline();
            }
        }
        let me = cx.me().clone();
        let key = dm_key(&identity(cx, &me), &format!("a:{}", w.account));
        cx.server.history.record(key, w.stored.clone());
    }
    match outcome {
        Ok(Enqueued::Stored(_) | Enqueued::Silenced) => {
            if cx.caps().has(Cap::EchoMessage) {
                cx.push_event(&w.event);
            }
            if kind == Kind::Privmsg && matches!(outcome, Ok(Enqueued::Stored(_))) {
                tell_stored(cx, &w.target);
            }
        }
        _ if kind == Kind::Notice => {}
        Ok(Enqueued::Request) => cx.num(
            ERR_TARGUMODEG,
            &[
                &w.target,
                "is in +g mode (server-side ignore); they will see your request when they log in.",
            ],
        ),
        Ok(Enqueued::Full) => cx.fail(
            "OFFLINE_QUEUE_FULL",
            &[&w.target],
            "Too many messages are waiting for this user; yours was not accepted",
        ),
        Ok(Enqueued::Gone) => {
            cx.server.registered_names.remove(&w.account);
            super::reject(cx, Reject::NoSuchNick(w.target.clone()))
        }
        Err(()) => cx.fail(
            "TEMPORARILY_UNAVAILABLE",
            &[&w.target],
            "Your message could not be stored; try again",
        ),
    }
}

/// "Will be delivered later", once per burst to the same target.
fn tell_stored(cx: &mut Ctx<'_>, target: &str) {
    let now = crate::unix_millis();
    let folded = cx.server.fold_nick(target).unwrap_or_default();
    if let Some((t, at)) = cx.s.more.offline_told.as_ref() {
        if *t == folded && now - at < 60_000 {
            return;
        }
    }
    cx.s.more.offline_told = Some((folded, now));
    cx.num(
        RPL_AWAY,
        &[
            target,
            "is offline; your messages will be delivered when they log in",
        ],
    );
}
