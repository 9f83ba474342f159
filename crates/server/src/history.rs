//! History: every relayed PRIVMSG, NOTICE and TAGMSG (and, for channels,
//! JOIN/PART/QUIT/KICK/TOPIC/MODE/NICK events for event-playback) goes to
//! the store in batches, off the message path.
//!
//! The relaying task only `try_send`s into a bounded queue; one task
//! collects rows and appends them every [`FLUSH_EVERY`] or [`BATCH`] rows,
//! whichever comes first, gathering the next batch while one is written.
//! A CHATHISTORY query first asks for a flush, so a client never misses
//! its own latest messages. If the queue is full (the disk cannot keep
//! up), rows are dropped and counted, never the relay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_store::{Store, StoredMessage};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::clock::Clock;
use crate::text::concat;

/// How long a relayed message may wait before it is in the store: the
/// most history a crash can lose (docs/DURABILITY.md). Long on purpose:
/// history's indexes are by conversation, so each append dirties index
/// pages all over the file, and a batch that holds many rows of each
/// conversation writes each of those pages once for many rows
/// (docs/PERFORMANCE.md: 10x the batch cut the history cost per message
/// by most of it).
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
const BATCH: usize = 16_384;
const QUEUE: usize = 65_536;
/// The most rows one batch gathers while the last is being written.
const GATHER_MAX: usize = 1 << 20;

enum Op {
    Row(String, StoredMessage),
    Flush(oneshot::Sender<()>),
}

pub(crate) struct History {
    tx: mpsc::Sender<Op>,
    /// Rows handed over, and rows dropped (queue or batch full): STATS t.
    recorded: AtomicU64,
    dropped: Arc<AtomicU64>,
}

impl History {
    /// Starts the writer task; it stops (after a last flush) on `cancel`.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        retention: Duration,
        clock: Clock,
        cancel: CancellationToken,
    ) -> (History, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(writer(store, rx, retention, clock, cancel, dropped.clone()));
        (
            History {
                tx,
                recorded: AtomicU64::new(0),
                dropped,
            },
            task,
        )
    }

    /// Queues one message for history; never waits.
    pub(crate) fn record(&self, key: String, msg: StoredMessage) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(Op::Row(key, msg)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                warn!(dropped = n, "history queue full: rows dropped");
            }
        }
    }

    /// Rows recorded since the start, and how many of them were dropped.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.recorded.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    /// Waits until everything recorded so far is committed.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Op::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Appends one batch on the blocking pool; returns how many rows it held.
fn append(store: &Arc<dyn Store>, batch: Vec<(String, StoredMessage)>) -> JoinHandle<u64> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        let n = batch.len();
        if let Err(e) = s.append_history(batch) {
            warn!(error = %e, rows = n, "history append failed");
        }
        n as u64
    })
}

/// Collects rows and appends them, one batch at a time: while a batch is
/// being written (a `write` and an `fdatasync`), the next one gathers, so
/// a slow disk makes batches bigger, not the queue fuller. A batch starts
/// when the last is done and [`BATCH`] rows are waiting, or the oldest has
/// waited [`FLUSH_EVERY`], or a CHATHISTORY query asked for a flush; a
/// flush is answered once every row recorded before it is written.
async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Op>,
    retention: Duration,
    clock: Clock,
    cancel: CancellationToken,
    dropped: Arc<AtomicU64>,
) {
    let push = |rows: &mut Vec<(String, StoredMessage)>, row| push(rows, row, &dropped);
    let mut rows: Vec<(String, StoredMessage)> = Vec::new();
    // Rows received, and rows written, since the start.
    let (mut received, mut written) = (0u64, 0u64);
    // Flushes waiting: each for the rows received before it.
    let mut waiters: Vec<(u64, oneshot::Sender<()>)> = Vec::new();
    let mut inflight: Option<JoinHandle<u64>> = None;
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    // When the oldest unwritten row must be written.
    let mut due: Option<tokio::time::Instant> = None;
    let mut closing = false;
    loop {
        let idle = inflight.is_none();
        let start = idle
            && !rows.is_empty()
            && (closing
                || rows.len() >= BATCH
                || waiters.iter().any(|(n, _)| *n > written)
                || due.is_some_and(|d| d <= tokio::time::Instant::now()));
        if start {
            inflight = Some(append(&store, std::mem::take(&mut rows)));
            due = None;
            continue;
        }
        if idle {
            // Everything received is written: answer every flush.
            if rows.is_empty() {
                for (_, w) in waiters.drain(..) {
                    let _ = w.send(());
                }
                if closing {
                    return;
                }
            }
        }
        let writing = inflight.is_some();
        let deadline = async {
            match due {
                Some(d) if !writing => tokio::time::sleep_until(d).await,
                _ => std::future::pending().await,
            }
        };
        let done = async {
            match inflight.as_mut() {
                Some(h) => h.await.unwrap_or(0),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            n = done => {
                inflight = None;
                written += n;
                let answered: Vec<_> = {
                    let (ready, wait): (Vec<_>, Vec<_>) =
                        waiters.drain(..).partition(|(n, _)| *n <= written);
                    waiters = wait;
                    ready
                };
                for (_, w) in answered {
                    let _ = w.send(());
                }
            }
            op = rx.recv(), if !closing => match op {
                Some(Op::Row(k, m)) => {
                    received += 1;
                    push(&mut rows, (k, m));
                    due.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_EVERY);
                    // Take what else is queued now without another wake-up.
                    while let Ok(op) = rx.try_recv() {
                        match op {
                            Op::Row(k, m) => {
                                received += 1;
                                push(&mut rows, (k, m));
                            }
                            Op::Flush(w) => waiters.push((received, w)),
                        }
                    }
                }
                Some(Op::Flush(w)) => waiters.push((received, w)),
                None => closing = true,
            },
            _ = deadline => {}
            _ = prune.tick(), if !writing => {
                let before = clock.unix_ms() - retention.as_millis() as i64;
                let s = store.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.prune_history(before)).await {
                    warn!(error = %e, "history pruning failed");
                }
            }
            _ = cancel.cancelled(), if !closing => {
                // Take what is already queued, write it, stop.
                while let Ok(op) = rx.try_recv() {
                    if let Op::Row(k, m) = op {
                        received += 1;
                        push(&mut rows, (k, m));
                    }
                }
                closing = true;
            }
        }
    }
}

/// Adds a row to the gathering batch, unless the batch is already at its
/// bound (the disk far behind): then the row is dropped, and counted.
fn push(
    rows: &mut Vec<(String, StoredMessage)>,
    row: (String, StoredMessage),
    dropped: &AtomicU64,
) {
    if rows.len() < GATHER_MAX {
        rows.push(row);
    } else {
        let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            warn!(dropped = n, "history batch full: rows dropped");
        }
    }
}

/// Who someone is in history keys: `a:` and their account if logged in,
/// else `n:` and their nick — so a nick's conversations do not become an
/// account's when someone later registers that name.
pub(crate) fn identity(server: &crate::Server, c: &crate::client::Client) -> String {
    let i = c.info();
    match &i.account {
        Some(a) => concat(&[
            "a:",
            &server.fold_nick(a).unwrap_or_else(|| a.to_lowercase()),
        ]),
        None => concat(&[
            "n:",
            &server
                .fold_nick(&i.nick)
                .unwrap_or_else(|| i.nick.to_lowercase()),
        ]),
    }
}

/// The history key of a direct conversation between this connection's
/// client and `to`, whose nick folded is `to_folded`: [`identity`] of
/// both, built as one string (the relay's path: no string per party).
pub(crate) fn dm_key_to(
    server: &crate::Server,
    s: &crate::session::Session,
    me: &crate::client::Client,
    to: &crate::client::Client,
    to_folded: &str,
) -> String {
    let their_account = to
        .info()
        .account
        .as_deref()
        .map(|a| server.fold_nick(a).unwrap_or_else(|| a.to_lowercase()));
    let theirs = match &their_account {
        Some(a) => ["a:", a.as_str()],
        None => ["n:", to_folded],
    };
    match (&s.account, &s.folded_nick) {
        (Some(a), _) => ferry_store::dm_key_of(["a:", a], theirs),
        (None, Some(n)) => ferry_store::dm_key_of(["n:", n], theirs),
        (None, None) => ferry_store::dm_key_of([&identity(server, me), ""], theirs),
    }
}

/// [`identity`] of a connection's own client, from what its session
/// already holds casefolded.
pub(crate) fn my_identity(s: &crate::session::Session) -> Option<String> {
    match &s.account {
        Some(a) => Some(concat(&["a:", a])),
        None => s.folded_nick.as_ref().map(|n| concat(&["n:", n])),
    }
}

/// A relayed message as history keeps it: `e` with its msgid, time and
/// sender's account (taken when the event was made), `source` the
/// sender's prefix.
pub(crate) fn history_row(
    e: &crate::event::Event,
    source: &str,
    verb: &str,
    target: &str,
    text: &str,
) -> StoredMessage {
    StoredMessage {
        msgid: e.msgid.clone().unwrap_or_default(),
        time_ms: e.time_ms,
        source: source.to_string(),
        account: e.account.clone(),
        command: verb.to_string(),
        target: target.to_string(),
        text: text.to_string(),
        tags: e.client_tags.clone().unwrap_or_default(),
    }
}
