//! Messages for an account that is offline: stored (committed before the
//! sender hears they are), and delivered at its next login.

use ferry_proto::{mask, numeric::*};
use ferry_store::{
    dm_key, Admit, Enqueued, Judge, OfflineItem, Recipient, StoreError, StoredMessage,
};
use tracing::{info, warn};

use super::replay::{self, Purpose};
use crate::caps::Cap;
use crate::ctx::{then, Ctx, Reject};
use crate::event::Event;
use crate::history::identity;
use crate::reply::Reply;
use crate::route::{self, Kind};

/// A message whose recipient is an offline account.
pub(crate) struct Waiting {
    /// The account, casefolded.
    pub account: String,
    /// As the sender typed it.
    pub target: String,
    pub event: Event,
    pub stored: StoredMessage,
}

/// Stores messages for offline accounts; the sender's echo (and any reply)
/// comes only after the store committed them. The store takes the batch
/// without a thread waiting on it (its writer judges each message against
/// the recipient's lists and group-commits it with other connections'),
/// and this connection's next line waits for the outcome.
pub(crate) fn store_for_later(cx: &mut Ctx<'_>, waiting: Vec<Waiting>, kind: Kind) {
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
        cx.server
            .stats
            .offline_stored
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Logged in meanwhile (its login fetch may have missed this one):
        // tell it to look again.
        route::poke_account(cx.server, &w.account);
        let me = cx.me().clone();
        let key = dm_key(&identity(cx.server, &me), &format!("a:{}", w.account));
        cx.server.history.record(key, w.stored.clone());
    }
    match outcome {
        Ok(Enqueued::Stored(_) | Enqueued::Silenced) => {
            if cx.caps().has(Cap::EchoMessage) {
                cx.push_own(&w.event);
            }
            cx.to_my_devices(&w.event);
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
            cx.reject(Reject::NoSuchNick(w.target.clone()))
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
    let now = cx.server.clock.unix_ms();
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

/// A sender's message to this account was committed after this session's
/// login fetched the waiting ones (the two raced): fetch and deliver what
/// waits now, as at login.
pub(crate) fn offline_poked(cx: &mut Ctx<'_>) {
    let Some(account) = cx.s.account.clone() else {
        return;
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let a = account.clone();
        let waiting = server.store(move |s| s.offline(&a)).await;
        then(move |cx: &mut Ctx<'_>| match waiting {
            Ok(msgs) if !msgs.is_empty() => deliver_offline(cx, &account, msgs),
            Ok(_) => {}
            Err(e) => warn!(error = %e, %account, "could not load waiting messages"),
        })
    });
}

/// Sends the messages that waited, in order, with their original time and
/// msgid, then forgets them in the store.
pub(crate) fn deliver_offline(cx: &mut Ctx<'_>, account: &str, msgs: Vec<(i64, StoredMessage)>) {
    let last_id = msgs.last().map(|(id, _)| *id).unwrap_or(0);
    let nick = cx.me().nick();
    // Not a reply to whatever command logged in: its own buffer, queued at
    // once, so it is on its way before the store forgets the messages.
    let mut out = Reply::new(cx.server_name(), None);
    let rows = msgs.iter().map(|(_, m)| m);
    replay::render_batch(&mut out, cx, &nick, rows, Some(&nick), Purpose::Offline);
    if let Some(bytes) = out.render(cx.caps(), String::new) {
        cx.s.client.send(&bytes, cx.sendq());
    }
    info!(%account, count = msgs.len(), "delivered offline messages");
    let server = cx.server_arc();
    let account = account.to_string();
    // Forget them only once they left for the client's socket (or after a
    // bound, for a client that is not reading; it gets them again later).
    let me = cx.conn().clone();
    cx.defer(async move {
        for _ in 0..500 {
            if me.outbox.pending() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if me.outbox.pending() != 0 || me.outbox.overflowed().is_some() {
            warn!(%account, "offline messages not acknowledged: the client is not reading");
            return then(|_cx: &mut Ctx<'_>| {});
        }
        let a = account.clone();
        if let Err(e) = server.store(move |s| s.ack_offline(&a, last_id)).await {
            warn!(error = %e, %account, "could not acknowledge offline messages");
        }
        then(|_cx: &mut Ctx<'_>| {})
    });
}
