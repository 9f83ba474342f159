//! History: every relayed PRIVMSG, NOTICE and TAGMSG (and, for channels,
//! JOIN/PART/QUIT/KICK/TOPIC/MODE/NICK events for event-playback) goes to
//! the store in batches, off the message path.
//!
//! The relaying task only `try_send`s into a bounded queue; one task
//! collects rows and appends them every [`FLUSH_EVERY`] or [`BATCH`] rows,
//! whichever comes first. A CHATHISTORY query first asks for a flush, so a
//! client never misses its own latest messages. If the queue is full (the
//! disk cannot keep up), rows are dropped and counted, never the relay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_store::{Store, StoredMessage};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::clock::Clock;

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

enum Op {
    Row(String, StoredMessage),
    Flush(oneshot::Sender<()>),
}

pub(crate) struct History {
    tx: mpsc::Sender<Op>,
    pub dropped: AtomicU64,
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
        let task = tokio::spawn(writer(store, rx, retention, clock, cancel));
        (
            History {
                tx,
                dropped: AtomicU64::new(0),
            },
            task,
        )
    }

    /// Queues one message for history; never waits.
    pub(crate) fn record(&self, key: String, msg: StoredMessage) {
        if self.tx.try_send(Op::Row(key, msg)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                warn!(dropped = n, "history queue full: rows dropped");
            }
        }
    }

    /// Waits until everything recorded so far is committed.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Op::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn append(store: &Arc<dyn Store>, rows: &mut Vec<(String, StoredMessage)>) {
    if rows.is_empty() {
        return;
    }
    let batch = std::mem::take(rows);
    let s = store.clone();
    let n = batch.len();
    match tokio::task::spawn_blocking(move || s.append_history(batch)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, rows = n, "history append failed"),
        Err(e) => warn!(error = %e, rows = n, "history append panicked"),
    }
}

async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Op>,
    retention: Duration,
    clock: Clock,
    cancel: CancellationToken,
) {
    let mut rows = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    // When the oldest unwritten row must be written.
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let deadline = async {
            match due {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            op = rx.recv() => match op {
                Some(Op::Row(k, m)) => {
                    rows.push((k, m));
                    due.get_or_insert_with(|| tokio::time::Instant::now() + FLUSH_EVERY);
                    if rows.len() < BATCH {
                        continue;
                    }
                }
                Some(Op::Flush(w)) => waiters.push(w),
                None => {
                    append(&store, &mut rows).await;
                    return;
                }
            },
            _ = deadline => {}
            _ = prune.tick() => {
                let before = clock.unix_ms() - retention.as_millis() as i64;
                let s = store.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.prune_history(before)).await {
                    warn!(error = %e, "history pruning failed");
                }
                continue;
            }
            _ = cancel.cancelled() => {
                // Take what is already queued, write it, stop.
                while let Ok(op) = rx.try_recv() {
                    if let Op::Row(k, m) = op {
                        rows.push((k, m));
                    }
                }
                append(&store, &mut rows).await;
                return;
            }
        }
        // Drain whatever else is queued right now into the same batch.
        while rows.len() < BATCH {
            match rx.try_recv() {
                Ok(Op::Row(k, m)) => rows.push((k, m)),
                Ok(Op::Flush(w)) => waiters.push(w),
                Err(_) => break,
            }
        }
        append(&store, &mut rows).await;
        due = None;
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Who someone is in history keys: `a:` and their account if logged in,
/// else `n:` and their nick — so a nick's conversations do not become an
/// account's when someone later registers that name.
pub(crate) fn identity(server: &crate::Server, c: &crate::client::Client) -> String {
    let i = c.info();
    match &i.account {
        Some(a) => format!(
            "a:{}",
            server.fold_nick(a).unwrap_or_else(|| a.to_lowercase())
        ),
        None => format!(
            "n:{}",
            server
                .fold_nick(&i.nick)
                .unwrap_or_else(|| i.nick.to_lowercase())
        ),
    }
}

/// [`identity`] of a connection's own client, from what its session
/// already holds casefolded.
pub(crate) fn my_identity(s: &crate::session::Session) -> Option<String> {
    match &s.account {
        Some(a) => Some(format!("a:{a}")),
        None => s.folded_nick.as_ref().map(|n| format!("n:{n}")),
    }
}
