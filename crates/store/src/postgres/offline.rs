//! Offline messages in PostgreSQL, and the writer task that commits them
//! in groups ([`OfflineStore::enqueue_offline_batch`]).
//!
//! Unlike SQLite's writer, this one keeps nothing about recipients between
//! transactions: other nodes change the same accounts. Each recipient's
//! account row is locked (`FOR UPDATE`) while a group decides its
//! messages, so two nodes storing for one account count its waiting
//! messages one after the other, and the cap holds cluster-wide.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use deadpool_postgres::Pool;
use tokio::sync::mpsc;
use tracing::error;

use super::friends::insert_request;
use super::{backend, conn, msg_from_row, PgStore, MSG_COLS};
use crate::{
    Admit, EnqueueDone, EnqueueRefused, Enqueued, Judge, ListEntry, ListKind, OfflineItem,
    OfflineStore, Recipient, Result, StoreError, StoredMessage,
};

/// Batches a group transaction takes at most.
const GROUP: usize = 1024;

/// One batch for the writer.
struct Job {
    items: Vec<OfflineItem>,
    cap: usize,
    judge: Judge,
    done: DoneOnce,
}

/// Calls a batch's `done` exactly once: with the outcome, or with `Closed`
/// if the job is dropped unrun.
struct DoneOnce(Option<EnqueueDone>);

impl DoneOnce {
    fn call(mut self, r: Result<Vec<Enqueued>>) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }
}

impl Drop for DoneOnce {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(StoreError::Closed));
        }
    }
}

/// The writer: a task on the store's runtime.
pub(super) struct Writer {
    /// Unbounded: each job has a caller waiting for its `done`.
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the task (on the runtime entered).
    pub(super) fn start(pool: Pool) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, rx));
        Writer { jobs: tx }
    }
}

async fn writer(pool: Pool, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut c = match conn(&pool).await {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "offline writer: no connection");
                for j in jobs {
                    j.done.call(Err(backend(e.to_string())));
                }
                continue;
            }
        };
        let mut tx = match c.transaction().await {
            Ok(tx) => tx,
            Err(e) => {
                for j in jobs {
                    j.done.call(Err(backend(e.to_string())));
                }
                continue;
            }
        };
        let mut outcomes = Vec::with_capacity(jobs.len());
        for j in jobs {
            let Job {
                items,
                cap,
                judge,
                done,
            } = j;
            // A failing batch undoes only itself.
            let r = match tx.savepoint("job").await {
                Ok(sp) => {
                    let r = enqueue_batch(&sp, &items, cap, judge).await;
                    match r {
                        Ok(out) => sp.commit().await.map(|_| out).map_err(backend),
                        Err(e) => {
                            let _ = sp.rollback().await;
                            Err(e)
                        }
                    }
                }
                Err(e) => Err(backend(e)),
            };
            outcomes.push((done, r));
        }
        let commit = tx.commit().await.map_err(backend);
        if let Err(e) = &commit {
            error!(error = %e, "offline writer: commit failed");
        }
        for (done, r) in outcomes {
            done.call(match (&commit, r) {
                (Ok(()), r) => r,
                (Err(e), Ok(_)) => Err(backend(e.to_string())),
                (Err(_), Err(e)) => Err(e),
            });
        }
    }
}

/// What a group knows of a recipient while it decides its messages.
struct RecipientState {
    callerid: bool,
    silence: Vec<ListEntry>,
    accept: Vec<ListEntry>,
    waiting: usize,
}

async fn load_recipient(c: &impl GenericClient, account: &str) -> Result<Option<RecipientState>> {
    let Some(row) = c
        .query_opt(
            "SELECT callerid FROM accounts WHERE name = $1 FOR UPDATE",
            &[&account],
        )
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let waiting: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM offline_messages WHERE account = $1",
            &[&account],
        )
        .await
        .map_err(backend)?
        .get(0);
    Ok(Some(RecipientState {
        callerid: row.get(0),
        silence: super::friends::read_list(c, account, ListKind::Silence).await?,
        accept: super::friends::read_list(c, account, ListKind::Accept).await?,
        waiting: waiting as usize,
    }))
}

async fn enqueue_batch(
    c: &deadpool_postgres::Transaction<'_>,
    items: &[OfflineItem],
    cap: usize,
    judge: Judge,
) -> Result<Vec<Enqueued>> {
    let mut known: HashMap<String, Option<RecipientState>> = HashMap::new();
    let insert = c
        .prepare(&format!(
            "INSERT INTO offline_messages (account, {MSG_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .await
        .map_err(backend)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !known.contains_key(&item.account) {
            let state = load_recipient(c, &item.account).await?;
            known.insert(item.account.clone(), state);
        }
        let Some(Some(r)) = known.get_mut(&item.account) else {
            out.push(Enqueued::Gone);
            continue;
        };
        let verdict = judge(
            item,
            &Recipient {
                callerid: r.callerid,
                silence: &r.silence,
                accept: &r.accept,
            },
        );
        out.push(match verdict {
            Admit::Silenced => Enqueued::Silenced,
            Admit::Request(from) => {
                insert_request(c, &item.account, &from, item.msg.time_ms).await?;
                Enqueued::Request
            }
            Admit::Store if r.waiting >= cap => Enqueued::Full,
            Admit::Store => {
                let m = &item.msg;
                c.execute(
                    &insert,
                    &[
                        &item.account,
                        &m.msgid,
                        &m.time_ms,
                        &m.source,
                        &m.account,
                        &m.command,
                        &m.target,
                        &m.text,
                        &m.tags,
                    ],
                )
                .await
                .map_err(backend)?;
                r.waiting += 1;
                Enqueued::Stored(r.waiting)
            }
        });
    }
    Ok(out)
}

impl OfflineStore for PgStore {
    fn enqueue_offline(
        &self,
        account: &str,
        msg: &StoredMessage,
        cap: usize,
    ) -> Result<std::result::Result<usize, EnqueueRefused>> {
        let item = OfflineItem {
            account: account.to_string(),
            msg: msg.clone(),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.enqueue_offline_batch(
            vec![item],
            cap,
            Box::new(|_, _| Admit::Store),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        let r = rx.recv().map_err(|_| StoreError::Closed)??;
        match r[..] {
            [Enqueued::Stored(n)] => Ok(Ok(n)),
            [Enqueued::Full] => Ok(Err(EnqueueRefused::Full)),
            _ => Err(backend(format!("no account {account:?}"))),
        }
    }

    fn enqueue_offline_batch(
        &self,
        items: Vec<OfflineItem>,
        cap: usize,
        judge: Judge,
        done: EnqueueDone,
    ) {
        // Refused (the writer gone), the job is dropped and `done` hears
        // `Closed`.
        let _ = self.writer.jobs.send(Job {
            items,
            cap,
            judge,
            done: DoneOnce(Some(done)),
        });
    }

    fn offline(&self, account: &str) -> Result<Vec<(i64, StoredMessage)>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    &format!(
                        "SELECT id, {MSG_COLS} FROM offline_messages WHERE account = $1 ORDER BY id"
                    ),
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), msg_from_row(r, 1)))
                .collect())
        })
    }

    fn ack_offline(&self, account: &str, up_to_id: i64) -> Result<()> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            conn(&pool)
                .await?
                .execute(
                    "DELETE FROM offline_messages WHERE account = $1 AND id <= $2",
                    &[&account, &up_to_id],
                )
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn redact_offline(&self, account: &str, msgid: &str) -> Result<bool> {
        let (pool, account, msgid) = (self.pool(), account.to_string(), msgid.to_string());
        self.block(async move {
            let n = conn(&pool)
                .await?
                .execute(
                    "DELETE FROM offline_messages WHERE account = $1 AND msgid = $2",
                    &[&account, &msgid],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }
}
