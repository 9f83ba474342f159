//! Offline messages in SQLite: the writer's recipient cache and the
//! batch path ([`OfflineStore::enqueue_offline_batch`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::friends::insert_request;
use super::{backend, msg_from_row, Completion, Job, Run, SqliteStore, MSG_COLS};
use crate::{
    Admit, EnqueueDone, EnqueueRefused, Enqueued, Judge, ListEntry, ListKind, OfflineItem,
    OfflineStore, Recipient, Result, StoreError, StoredMessage,
};

/// What the writer knows of an offline recipient during one transaction.
struct RecipientState {
    callerid: bool,
    silence: Vec<ListEntry>,
    accept: Vec<ListEntry>,
    /// Offline messages waiting for it.
    waiting: usize,
}

thread_local! {
    /// The writer thread's recipients, by account; `None`: no such account.
    /// Every writer that changes what it holds forgets that account; all of
    /// it is forgotten when a job or a commit rolls back, and when another
    /// connection (`ferry account` from another process) has committed
    /// since, which `PRAGMA data_version` tells at each transaction's start.
    /// Kept across transactions: loading a recipient (account, lists and a
    /// count of what waits for it) cost more than storing a message.
    static RECIPIENTS: RefCell<HashMap<String, Option<RecipientState>>> = RefCell::new(HashMap::new());
    /// `PRAGMA data_version` when `RECIPIENTS` was last known good.
    static SEEN_VERSION: Cell<Option<i64>> = const { Cell::new(None) };
}

/// Recipients kept in memory at most; past it the cache starts over.
const RECIPIENTS_MAX: usize = 65_536;

pub(super) fn forget_recipients() {
    RECIPIENTS.with(|r| r.borrow_mut().clear());
}

/// At a transaction's start: forgets every recipient if any other
/// connection has committed since the last look (or the version cannot be
/// read), or if the cache has grown past its bound.
pub(super) fn keep_recipients_if_unchanged(c: &Connection) {
    let now = c
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
        .ok();
    let seen = SEEN_VERSION.with(|v| v.replace(now));
    let full = RECIPIENTS.with(|r| r.borrow().len() >= RECIPIENTS_MAX);
    if now.is_none() || now != seen || full {
        forget_recipients();
    }
}

pub(super) fn forget_recipient(account: &str) {
    RECIPIENTS.with(|r| {
        r.borrow_mut().remove(account);
    });
}

fn load_recipient(c: &Connection, account: &str) -> Result<Option<RecipientState>> {
    let callerid: Option<i64> = c
        .prepare_cached("SELECT callerid FROM accounts WHERE name = ?1")
        .and_then(|mut st| st.query_row([account], |r| r.get(0)).optional())
        .map_err(backend)?;
    let Some(callerid) = callerid else {
        return Ok(None);
    };
    let mut state = RecipientState {
        callerid: callerid != 0,
        silence: Vec::new(),
        accept: Vec::new(),
        waiting: 0,
    };
    let mut st = c
        .prepare_cached(
            "SELECT kind, entry, display FROM account_lists \
             WHERE account = ?1 AND kind IN ('silence', 'accept') ORDER BY display",
        )
        .map_err(backend)?;
    let rows = st
        .query_map([account], |r| {
            Ok((
                r.get::<_, String>(0)?,
                ListEntry {
                    key: r.get(1)?,
                    display: r.get(2)?,
                },
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (kind, entry) = row.map_err(backend)?;
        if kind == ListKind::Silence.code() {
            state.silence.push(entry);
        } else {
            state.accept.push(entry);
        }
    }
    state.waiting = c
        .prepare_cached("SELECT COUNT(*) FROM offline_messages WHERE account = ?1")
        .and_then(|mut st| st.query_row([account], |r| r.get::<_, i64>(0)))
        .map_err(backend)? as usize;
    Ok(Some(state))
}

/// The body of [`OfflineStore::enqueue_offline_batch`], on the writer thread.
fn enqueue_batch(
    c: &Connection,
    items: &[OfflineItem],
    cap: usize,
    judge: &dyn Fn(&OfflineItem, &Recipient<'_>) -> Admit,
) -> Result<Vec<Enqueued>> {
    RECIPIENTS.with(|cell| {
        let mut known = cell.borrow_mut();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if !known.contains_key(&item.account) {
                let state = load_recipient(c, &item.account)?;
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
                    insert_request(c, &item.account, &from, item.msg.time_ms)?;
                    Enqueued::Request
                }
                Admit::Store if r.waiting >= cap => Enqueued::Full,
                Admit::Store => {
                    let m = &item.msg;
                    c.prepare_cached(&format!(
                        "INSERT INTO offline_messages (account, {MSG_COLS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ))
                    .and_then(|mut st| {
                        st.execute(params![
                            item.account,
                            m.msgid,
                            m.time_ms,
                            m.source,
                            m.account,
                            m.command,
                            m.target,
                            m.text,
                            m.tags
                        ])
                    })
                    .map_err(backend)?;
                    r.waiting += 1;
                    Enqueued::Stored(r.waiting)
                }
            });
        }
        Ok(out)
    })
}

/// Calls a batch's `done` exactly once: with the outcome, or with `Closed`
/// if the job is dropped unrun (the store closing, a transaction that could
/// not begin).
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

impl OfflineStore for SqliteStore {
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
        self.write(move |c| {
            match enqueue_batch(c, std::slice::from_ref(&item), cap, &|_, _| Admit::Store)?[..] {
                [Enqueued::Stored(n)] => Ok(Ok(n)),
                [Enqueued::Full] => Ok(Err(EnqueueRefused::Full)),
                _ => Err(backend(format!("no account {:?}", item.account))),
            }
        })
    }

    fn enqueue_offline_batch(
        &self,
        items: Vec<OfflineItem>,
        cap: usize,
        judge: Judge,
        done: EnqueueDone,
    ) {
        let done = DoneOnce(Some(done));
        let run: Run = Box::new(move |c| match enqueue_batch(c, &items, cap, &*judge) {
            Ok(out) => (
                true,
                Box::new(move |commit: Result<()>| done.call(commit.map(|_| out))) as Completion,
            ),
            Err(e) => (false, Box::new(move |_| done.call(Err(e))) as Completion),
        });
        // Refused, the job is dropped, and `done` hears `Closed`.
        let _ = self.submit(Job { run, durable: true });
    }

    fn offline(&self, account: &str) -> Result<Vec<(i64, StoredMessage)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id, {MSG_COLS} FROM offline_messages WHERE account = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([account], |r| Ok((r.get(0)?, msg_from_row(r, 1)?)))?;
            rows.collect()
        })
    }

    fn ack_offline(&self, account: &str, up_to_id: i64) -> Result<()> {
        let account = account.to_string();
        self.write(move |c| {
            c.execute(
                "DELETE FROM offline_messages WHERE account = ?1 AND id <= ?2",
                params![account, up_to_id],
            )
            .map_err(backend)?;
            forget_recipient(&account);
            Ok(())
        })
    }

    fn redact_offline(&self, account: &str, msgid: &str) -> Result<bool> {
        let (account, msgid) = (account.to_string(), msgid.to_string());
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM offline_messages WHERE account = ?1 AND msgid = ?2",
                    params![account, msgid],
                )
                .map_err(backend)?;
            forget_recipient(&account);
            Ok(n > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, msg, temp_store};
    use super::*;
    use crate::{AccountStore, FriendStore};

    #[test]
    fn concurrent_writers_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
        s.create_account(&account("bob")).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        s.enqueue_offline("bob", &msg(&format!("{t}-{i}"), i, "x"), 10_000)
                            .unwrap()
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.offline("bob").unwrap().len(), 400);
        drop(s);
        // Reopening sees every committed message.
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.offline("bob").unwrap().len(), 400);
    }

    /// Runs one batch and waits for its outcome.
    fn batch(s: &SqliteStore, items: &[(&str, &str)], cap: usize) -> Result<Vec<Enqueued>> {
        let items = items
            .iter()
            .map(|(to, id)| OfflineItem {
                account: to.to_string(),
                msg: msg(id, 1, "hi"),
            })
            .collect();
        // The same rule the server applies: silenced senders, and caller-ID
        // letting through only the accepted (here the sender is "carol").
        let judge: Judge = Box::new(|_, r| {
            if r.silence.iter().any(|e| e.key == "carol") {
                Admit::Silenced
            } else if r.callerid && !r.accept.iter().any(|e| e.key == "carol") {
                Admit::Request("Carol".into())
            } else {
                Admit::Store
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        s.enqueue_offline_batch(items, cap, judge, Box::new(move |r| tx.send(r).unwrap()));
        rx.recv().unwrap()
    }

    #[test]
    fn offline_batches_follow_each_recipients_lists() {
        use Enqueued::*;
        let (dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        s.create_account(&account("dave")).unwrap();
        let entry = |k: &str| ListEntry {
            key: k.into(),
            display: k.into(),
        };

        // Counts go on across the batch; a cap refuses the rest; no account.
        let out = batch(
            &s,
            &[
                ("bob", "1"),
                ("dave", "2"),
                ("bob", "3"),
                ("bob", "4"),
                ("nobody", "5"),
            ],
            2,
        )
        .unwrap();
        assert_eq!(out, vec![Stored(1), Stored(1), Stored(2), Full, Gone]);

        // Each change to a recipient is seen by the next batch, even when
        // both land in one group transaction: silence, then caller-ID,
        // then accept; reading the messages frees room under the cap.
        s.edit_list("dave", ListKind::Silence, false, &[entry("carol")], &[])
            .unwrap();
        assert_eq!(batch(&s, &[("dave", "6")], 10).unwrap(), vec![Silenced]);
        s.edit_list("dave", ListKind::Silence, true, &[], &[])
            .unwrap();
        s.set_callerid("dave", true).unwrap();
        assert_eq!(batch(&s, &[("dave", "7")], 10).unwrap(), vec![Request]);
        assert_eq!(
            s.take_requests("dave").unwrap(),
            vec![("Carol".to_string(), 1)]
        );
        s.edit_list("dave", ListKind::Accept, false, &[entry("carol")], &[])
            .unwrap();
        assert_eq!(batch(&s, &[("dave", "8")], 10).unwrap(), vec![Stored(2)]);
        let waiting = s.offline("bob").unwrap();
        s.ack_offline("bob", waiting.last().unwrap().0).unwrap();
        assert_eq!(batch(&s, &[("bob", "9")], 2).unwrap(), vec![Stored(1)]);
        s.delete_account("dave").unwrap();
        assert_eq!(batch(&s, &[("dave", "10")], 10).unwrap(), vec![Gone]);
        s.create_account(&account("dave")).unwrap();
        assert_eq!(batch(&s, &[("dave", "11")], 10).unwrap(), vec![Stored(1)]);

        // Another process's change (`ferry account`, its own connection)
        // is seen too: the writer's recipients are kept across
        // transactions only while no other connection has committed.
        let other = SqliteStore::open(dir.path()).unwrap();
        other.set_callerid("dave", true).unwrap();
        assert_eq!(batch(&s, &[("dave", "12")], 10).unwrap(), vec![Request]);

        let ids = |a| {
            s.offline(a)
                .unwrap()
                .into_iter()
                .map(|(_, m)| m.msgid)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("bob"), ["9"]);
        assert_eq!(ids("dave"), ["11"]);

        // A closed store answers at once, with Closed.
        s.close();
        assert!(matches!(
            batch(&s, &[("bob", "12")], 10),
            Err(StoreError::Closed)
        ));
    }
}
