//! The embedded default: SQLite in the data directory.
//!
//! One writer thread owns the write connection and commits in groups: it
//! takes every job waiting (up to 1,024), runs each inside a savepoint,
//! commits once, and only then answers each caller. Reads use a small pool
//! of their own connections (WAL lets them run beside the writer).
//!
//! Offline messages are the one write on a hot path (every message to an
//! offline account waits for its commit before the sender's echo), so they
//! have a path of their own: [`Store::enqueue_offline_batch`] hands the
//! writer a job and returns, with no thread waiting on it; the writer keeps
//! what it learnt about each recipient (caller-ID, lists, messages waiting)
//! for the rest of its transaction, so a burst to one recipient costs one
//! lookup and one INSERT per message.
//!
//! The SQL keeps to what PostgreSQL also accepts, so a second backend can
//! share it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, Row};
use tracing::{error, info};

use crate::*;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Run = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Work for the writer's next group transaction.
struct Job {
    run: Run,
    /// Acknowledged to someone once committed, so the commit must reach
    /// the disk (`synchronous = FULL`). History appends are not: a group of
    /// only those commits without an fsync of its own (the next durable
    /// commit's fsync of the log covers it).
    durable: bool,
}

const MIGRATIONS: &[&str] = &[
    // 1: accounts, lists, requests, offline messages, history
    "CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BLOB NOT NULL,
        scram_iterations INTEGER NOT NULL,
        scram_stored_key BLOB NOT NULL,
        scram_server_key BLOB NOT NULL,
        email TEXT,
        callerid INTEGER NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE account_lists (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        entry TEXT NOT NULL,
        display TEXT NOT NULL,
        PRIMARY KEY (account, kind, entry)
    );
    CREATE TABLE friend_requests (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        requester TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        PRIMARY KEY (account, requester)
    );
    CREATE TABLE offline_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        msgid TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        source TEXT NOT NULL,
        sender_account TEXT,
        command TEXT NOT NULL,
        target TEXT NOT NULL,
        text TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX offline_by_account ON offline_messages (account, id);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        party_a TEXT,
        party_b TEXT,
        msgid TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        source TEXT NOT NULL,
        sender_account TEXT,
        command TEXT NOT NULL,
        target TEXT NOT NULL,
        text TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX history_by_key ON history (key, time_ms);
    CREATE INDEX history_by_msgid ON history (msgid);
    CREATE INDEX history_by_party_a ON history (party_a, time_ms);
    CREATE INDEX history_by_party_b ON history (party_b, time_ms);",
    // 2: client certificates that log an account in (SASL EXTERNAL)
    "CREATE TABLE account_certs (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        added_ms BIGINT NOT NULL
    );
    CREATE INDEX account_certs_by_account ON account_certs (account);",
    // 3: server bans set by operators (KLINE, DLINE)
    "CREATE TABLE server_bans (
        kind TEXT NOT NULL,
        mask TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_ms BIGINT NOT NULL,
        expires_ms BIGINT,
        PRIMARY KEY (kind, mask)
    );",
];

/// Jobs one group transaction takes at most.
const GROUP: usize = 4096;

/// How long a durable group waits for more jobs to share its commit, in
/// steps: it stops at the first step in which none arrived. A commit
/// writes every page its rows dirtied and syncs the log, whether it holds
/// one message or a thousand; without the wait, a thousand senders each
/// waiting for their last commit came back a few at a time and got ~50
/// messages per commit. Like PostgreSQL's `commit_delay`, but only while
/// jobs keep coming, so a lone writer waits one step.
const GATHER_STEP: Duration = Duration::from_micros(200);
const GATHER_MAX: Duration = Duration::from_millis(2);

pub struct SqliteStore {
    /// Unbounded: each job has a caller waiting for it (a blocked thread, or
    /// a connection with its one deferred step), so the callers bound it.
    jobs: RwLock<Option<Sender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Opens a connection; `cache_kib` is its page cache (grown as used).
/// Statement journals (a savepoint's undo log, one per writer job) stay in
/// memory: as temporary files they cost a write system call per page.
fn open(path: &Path, cache_kib: u32) -> Result<Connection> {
    let c = Connection::open(path).map_err(backend)?;
    c.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(backend)?;
    Ok(c)
}

/// The writer's page cache: the tables and indexes it appends to stay
/// resident instead of being read back through the kernel.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// Each reader's.
const READER_CACHE_KIB: u32 = 8 * 1024;

fn migrate(c: &Connection) -> Result<()> {
    c.execute_batch("CREATE TABLE IF NOT EXISTS ferry_schema (version INTEGER NOT NULL)")
        .map_err(backend)?;
    let version: Option<i64> = c
        .query_row("SELECT MAX(version) FROM ferry_schema", [], |r| r.get(0))
        .map_err(backend)?;
    let version = version.unwrap_or(0) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        c.execute_batch("BEGIN").map_err(backend)?;
        let r = c.execute_batch(sql).and_then(|_| {
            c.execute(
                "INSERT INTO ferry_schema (version) VALUES (?1)",
                [i as i64 + 1],
            )
        });
        match r {
            Ok(_) => c.execute_batch("COMMIT").map_err(backend)?,
            Err(e) => {
                let _ = c.execute_batch("ROLLBACK");
                return Err(backend(format!("migration {}: {e}", i + 1)));
            }
        }
        info!(version = i + 1, "store migrated");
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/ferry.db` and migrates it.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| backend(format!("create {}: {e}", dir.display())))?;
        let path = dir.join("ferry.db");
        let conn = open(&path, WRITER_CACHE_KIB)?;
        migrate(&conn)?;
        let (tx, rx) = channel::<Job>();
        let writer = std::thread::Builder::new()
            .name("ferry-store-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(backend)?;
        Ok(SqliteStore {
            jobs: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    /// Runs `f` in the writer's next group transaction; returns after commit.
    fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.write_as(true, f)
    }

    /// [`Self::write`] for work nobody is told was kept (history).
    fn write_lazily<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.write_as(false, f)
    }

    fn write_as<R: Send + 'static>(
        &self,
        durable: bool,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = sync_channel::<Result<R>>(1);
        let run: Run = Box::new(move |c| match f(c) {
            Ok(r) => (
                true,
                Box::new(move |commit: Result<()>| {
                    let _ = tx.send(commit.map(|_| r));
                }) as Completion,
            ),
            Err(e) => (
                false,
                Box::new(move |_| {
                    let _ = tx.send(Err(e));
                }) as Completion,
            ),
        });
        self.submit(Job { run, durable })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Queues a job for the writer. A job that is never run is dropped,
    /// and with it the caller's way to hear back: callers see `Closed`.
    fn submit(&self, job: Job) -> Result<()> {
        let jobs = self.jobs.read().expect("jobs lock");
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        let conn = self.readers.lock().expect("readers lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => open(&self.path, READER_CACHE_KIB)?,
        };
        let r = f(&conn).map_err(backend);
        let mut pool = self.readers.lock().expect("readers lock");
        if pool.len() < 8 {
            pool.push(conn);
        }
        r
    }

    /// Stops the writer after it has committed everything queued.
    pub fn close(&self) {
        self.jobs.write().expect("jobs lock").take();
        if let Some(w) = self.writer.lock().expect("writer lock").take() {
            let _ = w.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(conn: Connection, rx: Receiver<Job>) {
    let mut synchronous_full = true;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        take_queued(&rx, &mut jobs);
        if jobs.iter().any(|j| j.durable) {
            let start = Instant::now();
            while jobs.len() < GROUP && start.elapsed() < GATHER_MAX {
                let before = jobs.len();
                std::thread::sleep(GATHER_STEP);
                take_queued(&rx, &mut jobs);
                if jobs.len() == before {
                    break;
                }
            }
        }
        let durable = jobs.iter().any(|j| j.durable);
        if durable != synchronous_full {
            let mode = if durable { "FULL" } else { "NORMAL" };
            match conn.execute_batch(&format!("PRAGMA synchronous = {mode}")) {
                Ok(()) => synchronous_full = durable,
                Err(e) => error!(error = %e, "store: cannot set synchronous = {mode}"),
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            error!(error = %e, "store: cannot begin a transaction");
            for j in jobs {
                // Never run: tell each caller.
                drop(j);
            }
            continue;
        }
        keep_recipients_if_unchanged(&conn);
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            let sp = run_cached(&conn, "SAVEPOINT job");
            let (ok, completion) = (job.run)(&conn);
            if sp.is_ok() {
                if ok {
                    let _ = run_cached(&conn, "RELEASE job");
                } else {
                    let _ = run_cached(&conn, "ROLLBACK TO job");
                    let _ = run_cached(&conn, "RELEASE job");
                }
            }
            if !ok {
                // What the job taught the cache may have been rolled back.
                forget_recipients();
            }
            done.push((ok, completion));
        }
        let commit = conn.execute_batch("COMMIT").map_err(backend);
        if let Err(e) = &commit {
            error!(error = %e, "store: commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            forget_recipients();
        }
        for (ok, c) in done {
            if ok {
                c(match &commit {
                    Ok(()) => Ok(()),
                    Err(e) => Err(backend(e)),
                });
            } else {
                c(Ok(()));
            }
        }
    }
}

/// Adds what is queued to a group, up to its bound.
fn take_queued(rx: &Receiver<Job>, jobs: &mut Vec<Job>) {
    while jobs.len() < GROUP {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
}

/// Runs a statement without parameters through the statement cache (the
/// writer's savepoints, twice per job, would otherwise be parsed each time).
fn run_cached(c: &Connection, sql: &str) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute([])
}

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

fn forget_recipients() {
    RECIPIENTS.with(|r| r.borrow_mut().clear());
}

/// At a transaction's start: forgets every recipient if any other
/// connection has committed since the last look (or the version cannot be
/// read), or if the cache has grown past its bound.
fn keep_recipients_if_unchanged(c: &Connection) {
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

fn forget_recipient(account: &str) {
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

/// The body of [`Store::enqueue_offline_batch`], on the writer thread.
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

fn insert_request(c: &Connection, account: &str, from: &str, time_ms: i64) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO friend_requests (account, requester, time_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, requester) DO UPDATE SET time_ms = excluded.time_ms",
    )
    .and_then(|mut st| st.execute(params![account, from, time_ms]))
    .map_err(backend)?;
    Ok(())
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

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        name: r.get(0)?,
        display: r.get(1)?,
        password_hash: r.get(2)?,
        scram: ScramCredentials {
            salt: r.get(3)?,
            iterations: r.get::<_, i64>(4)? as u32,
            stored_key: r.get(5)?,
            server_key: r.get(6)?,
        },
        email: r.get(7)?,
        callerid: r.get::<_, i64>(8)? != 0,
        created_ms: r.get(9)?,
    })
}

const ACCOUNT_COLS: &str =
    "name, display, password_hash, scram_salt, scram_iterations, scram_stored_key, \
                            scram_server_key, email, callerid, created_ms";
const MSG_COLS: &str = "msgid, time_ms, source, sender_account, command, target, text, tags";

fn msg_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        msgid: r.get(at)?,
        time_ms: r.get(at + 1)?,
        source: r.get(at + 2)?,
        account: r.get(at + 3)?,
        command: r.get(at + 4)?,
        target: r.get(at + 5)?,
        text: r.get(at + 6)?,
        tags: r.get(at + 7)?,
    })
}

/// Where a bound sits: its time and, for a msgid, its row id (messages
/// sharing a millisecond are in id order). Unknown msgid: None.
type At = (i64, Option<i64>);

fn bound_at(c: &Connection, key: &str, b: &Bound) -> rusqlite::Result<Option<At>> {
    match b {
        Bound::Time(t) => Ok(Some((*t, None))),
        Bound::Msgid(id) => c
            .query_row(
                "SELECT time_ms, id FROM history WHERE key = ?1 AND msgid = ?2",
                params![key, id],
                |r| Ok((r.get(0)?, Some(r.get(1)?))),
            )
            .optional(),
    }
}

/// A bound as the exclusive lower end of a range: a timestamp leaves out
/// its whole millisecond, a msgid only its own row.
fn after(at: At) -> (i64, i64) {
    (at.0, at.1.unwrap_or(i64::MAX))
}

/// A bound as the exclusive upper end of a range.
fn before(at: At) -> (i64, i64) {
    (at.0, at.1.unwrap_or(i64::MIN))
}

/// Rows strictly between two (time, id) positions.
fn select_range(
    c: &Connection,
    key: &str,
    after: Option<(i64, i64)>,
    before: Option<(i64, i64)>,
    newest: bool,
    limit: usize,
) -> rusqlite::Result<Vec<StoredMessage>> {
    let order = if newest { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {MSG_COLS} FROM history WHERE key = ?1 AND time_ms >= ?2 AND time_ms <= ?4 \
         AND (time_ms > ?2 OR id > ?3) AND (time_ms < ?4 OR id < ?5) \
         ORDER BY time_ms {order}, id {order} LIMIT ?6"
    );
    let (t1, id1) = after.unwrap_or((i64::MIN, i64::MIN));
    let (t2, id2) = before.unwrap_or((i64::MAX, i64::MAX));
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![key, t1, id1, t2, id2, limit as i64], |r| {
        msg_from_row(r, 0)
    })?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if newest {
        out.reverse();
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn create_account(&self, a: &Account) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            forget_recipient(&a.name);
            let r = c.execute(
                &format!("INSERT INTO accounts ({ACCOUNT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    a.name,
                    a.display,
                    a.password_hash,
                    a.scram.salt,
                    a.scram.iterations as i64,
                    a.scram.stored_key,
                    a.scram.server_key,
                    a.email,
                    a.callerid as i64,
                    a.created_ms
                ],
            );
            match r {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::AccountExists)
                }
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn account(&self, name: &str) -> Result<Option<Account>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE name = ?1"
            ))?
            .query_row([name], account_from_row)
            .optional()
        })
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts ORDER BY name"
            ))?;
            let rows = st.query_map([], account_from_row)?;
            rows.collect()
        })
    }

    fn set_credentials(&self, name: &str, hash: &str, scram: &ScramCredentials) -> Result<bool> {
        let (name, hash, s) = (name.to_string(), hash.to_string(), scram.clone());
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET password_hash = ?2, scram_salt = ?3, scram_iterations = ?4, \
                     scram_stored_key = ?5, scram_server_key = ?6 WHERE name = ?1",
                    params![name, hash, s.salt, s.iterations as i64, s.stored_key, s.server_key],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn set_callerid(&self, name: &str, on: bool) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET callerid = ?2 WHERE name = ?1",
                    params![name, on as i64],
                )
                .map_err(backend)?;
            forget_recipient(&name);
            Ok(n > 0)
        })
    }

    fn delete_account(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM accounts WHERE name = ?1", [&name])
                .map_err(backend)?;
            forget_recipient(&name);
            Ok(n > 0)
        })
    }

    fn add_cert(&self, account: &str, fingerprint: &str, time_ms: i64) -> Result<CertAdded> {
        let (account, fp) = (account.to_string(), fingerprint.to_string());
        self.write(move |c| {
            let owner: Option<String> = c
                .query_row(
                    "SELECT account FROM account_certs WHERE fingerprint = ?1",
                    [&fp],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            match owner {
                Some(o) if o == account => return Ok(CertAdded::Already),
                Some(_) => return Ok(CertAdded::OtherAccount),
                None => {}
            }
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM account_certs WHERE account = ?1",
                    [&account],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if n as usize >= MAX_CERTS {
                return Ok(CertAdded::Full);
            }
            c.execute(
                "INSERT INTO account_certs (fingerprint, account, added_ms) VALUES (?1, ?2, ?3)",
                params![fp, account, time_ms],
            )
            .map_err(backend)?;
            Ok(CertAdded::Added)
        })
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool> {
        let (account, fp) = (account.to_string(), fingerprint.to_string());
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM account_certs WHERE account = ?1 AND fingerprint = ?2",
                    params![account, fp],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn certs(&self, account: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT fingerprint FROM account_certs WHERE account = ?1 ORDER BY added_ms, fingerprint",
            )?;
            let rows = st.query_map([account], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM accounts WHERE name = \
                     (SELECT account FROM account_certs WHERE fingerprint = ?1)",
                    ACCOUNT_COLS
                ),
                [fingerprint],
                account_from_row,
            )
            .optional()
        })
    }

    fn add_ban(&self, ban: &ServerBan) -> Result<()> {
        let b = ban.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO server_bans (kind, mask, reason, set_by, set_ms, expires_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, mask) DO UPDATE SET \
                 reason = excluded.reason, set_by = excluded.set_by, set_ms = excluded.set_ms, \
                 expires_ms = excluded.expires_ms",
                params![
                    b.kind.code(),
                    b.mask,
                    b.reason,
                    b.set_by,
                    b.set_ms,
                    b.expires_ms
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn remove_ban(&self, kind: BanKind, mask: &str) -> Result<bool> {
        let mask = mask.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM server_bans WHERE kind = ?1 AND mask = ?2",
                    params![kind.code(), mask],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn bans(&self) -> Result<Vec<ServerBan>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT kind, mask, reason, set_by, set_ms, expires_ms FROM server_bans ORDER BY set_ms",
            )?;
            let rows = st.query_map([], |r| {
                let kind: String = r.get(0)?;
                Ok(ServerBan {
                    kind: if kind == "dline" { BanKind::Dline } else { BanKind::Kline },
                    mask: r.get(1)?,
                    reason: r.get(2)?,
                    set_by: r.get(3)?,
                    set_ms: r.get(4)?,
                    expires_ms: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    fn list(&self, account: &str, kind: ListKind) -> Result<Vec<ListEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT entry, display FROM account_lists WHERE account = ?1 AND kind = ?2 ORDER BY display",
            )?;
            let rows = st.query_map(params![account, kind.code()], |r| {
                Ok(ListEntry { key: r.get(0)?, display: r.get(1)? })
            })?;
            rows.collect()
        })
    }

    fn edit_list(
        &self,
        account: &str,
        kind: ListKind,
        clear: bool,
        add: &[ListEntry],
        remove: &[String],
    ) -> Result<()> {
        let (account, add, remove) = (account.to_string(), add.to_vec(), remove.to_vec());
        self.write(move |c| {
            forget_recipient(&account);
            let k = kind.code();
            if clear {
                c.execute("DELETE FROM account_lists WHERE account = ?1 AND kind = ?2", params![account, k])
                    .map_err(backend)?;
            }
            for e in &add {
                c.execute(
                    "INSERT INTO account_lists (account, kind, entry, display) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (account, kind, entry) DO UPDATE SET display = excluded.display",
                    params![account, k, e.key, e.display],
                )
                .map_err(backend)?;
            }
            for key in &remove {
                c.execute(
                    "DELETE FROM account_lists WHERE account = ?1 AND kind = ?2 AND entry = ?3",
                    params![account, k, key],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn add_request(&self, account: &str, from: &str, time_ms: i64) -> Result<()> {
        let (account, from) = (account.to_string(), from.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO friend_requests (account, requester, time_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, requester) DO UPDATE SET time_ms = excluded.time_ms",
                params![account, from, time_ms],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn take_requests(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let account = account.to_string();
        self.write(move |c| {
            let mut st = c
                .prepare_cached("SELECT requester, time_ms FROM friend_requests WHERE account = ?1 ORDER BY time_ms")
                .map_err(backend)?;
            let rows: Vec<(String, i64)> = st
                .query_map([&account], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .map_err(backend)?;
            c.execute("DELETE FROM friend_requests WHERE account = ?1", [&account]).map_err(backend)?;
            Ok(rows)
        })
    }

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

    fn append_history(&self, mut rows: Vec<(String, StoredMessage)>) -> Result<()> {
        // Grouped by conversation (stably, so each one's rows keep their
        // order and ids): its index entries then go to the same pages.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        self.write_lazily(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "INSERT INTO history (key, party_a, party_b, {MSG_COLS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))
                .map_err(backend)?;
            for (key, m) in &rows {
                let (a, b) = match dm_parties(key) {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                };
                st.execute(params![
                    key, a, b, m.msgid, m.time_ms, m.source, m.account, m.command, m.target,
                    m.text, m.tags
                ])
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn history(&self, key: &str, q: &HistoryQuery, limit: usize) -> Result<Vec<StoredMessage>> {
        self.read(|c| match q {
            HistoryQuery::Latest(None) => select_range(c, key, None, None, true, limit),
            HistoryQuery::Latest(Some(b)) => match bound_at(c, key, b)? {
                Some(at) => select_range(c, key, Some(after(at)), None, true, limit),
                None => Ok(Vec::new()),
            },
            HistoryQuery::Before(b) => match bound_at(c, key, b)? {
                Some(at) => select_range(c, key, None, Some(before(at)), true, limit),
                None => Ok(Vec::new()),
            },
            HistoryQuery::After(b) => match bound_at(c, key, b)? {
                Some(at) => select_range(c, key, Some(after(at)), None, false, limit),
                None => Ok(Vec::new()),
            },
            HistoryQuery::Around(b) => match bound_at(c, key, b)? {
                Some(at) => {
                    let (t, id) = before(at);
                    let mut out = select_range(c, key, None, Some((t, id)), true, limit / 2)?;
                    // The bound's own message (or millisecond) and on.
                    let from = Some((t, id.saturating_sub(1)));
                    let mut rest = select_range(c, key, from, None, false, limit - out.len())?;
                    out.append(&mut rest);
                    Ok(out)
                }
                None => Ok(Vec::new()),
            },
            HistoryQuery::Between(a, b) => match (bound_at(c, key, a)?, bound_at(c, key, b)?) {
                (Some(x), Some(y)) if (x.0, x.1.unwrap_or(0)) <= (y.0, y.1.unwrap_or(0)) => {
                    select_range(c, key, Some(after(x)), Some(before(y)), false, limit)
                }
                (Some(x), Some(y)) => {
                    select_range(c, key, Some(after(y)), Some(before(x)), true, limit)
                }
                _ => Ok(Vec::new()),
            },
        })
    }

    fn history_targets(
        &self,
        channels: &[String],
        party: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>> {
        let (lo, hi) = if from_ms <= to_ms {
            (from_ms, to_ms)
        } else {
            (to_ms, from_ms)
        };
        self.read(|c| {
            let mut out: Vec<(String, i64)> = Vec::new();
            // A conversation counts when its newest message is in the window.
            let mut st = c.prepare_cached(
                "SELECT key, MAX(time_ms) FROM history WHERE party_a = ?1 OR party_b = ?1 \
                 GROUP BY key HAVING MAX(time_ms) > ?2 AND MAX(time_ms) < ?3",
            )?;
            for r in st.query_map(params![party, lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))? {
                out.push(r?);
            }
            let mut st = c.prepare_cached("SELECT MAX(time_ms) FROM history WHERE key = ?1")?;
            for ch in channels {
                let t: Option<i64> = st.query_row(params![ch], |r| r.get(0))?;
                if let Some(t) = t.filter(|t| *t > lo && *t < hi) {
                    out.push((ch.clone(), t));
                }
            }
            out.sort_by_key(|(_, t)| *t);
            out.truncate(limit);
            Ok(out)
        })
    }

    fn prune_history(&self, before_ms: i64) -> Result<usize> {
        self.write(move |c| {
            c.execute("DELETE FROM history WHERE time_ms < ?1", [before_ms])
                .map_err(backend)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, t: i64, text: &str) -> StoredMessage {
        StoredMessage {
            msgid: id.into(),
            time_ms: t,
            source: "alice!~a@h".into(),
            account: Some("alice".into()),
            command: "PRIVMSG".into(),
            target: "bob".into(),
            text: text.into(),
            tags: String::new(),
        }
    }

    fn account(name: &str) -> Account {
        Account {
            name: name.into(),
            display: name.to_uppercase(),
            password_hash: "$argon2id$x".into(),
            scram: ScramCredentials {
                salt: vec![1],
                iterations: 4096,
                stored_key: vec![2],
                server_key: vec![3],
            },
            email: None,
            callerid: false,
            created_ms: 1,
        }
    }

    #[test]
    fn client_certificates_map_to_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        s.create_account(&account("bob")).unwrap();
        s.create_account(&account("eve")).unwrap();
        let fp = "ab".repeat(32);
        assert_eq!(s.account_by_cert(&fp).unwrap(), None);
        assert_eq!(s.add_cert("bob", &fp, 5).unwrap(), CertAdded::Added);
        assert_eq!(s.add_cert("bob", &fp, 6).unwrap(), CertAdded::Already);
        assert_eq!(s.add_cert("eve", &fp, 7).unwrap(), CertAdded::OtherAccount);
        assert_eq!(s.account_by_cert(&fp).unwrap().unwrap().name, "bob");
        assert_eq!(s.certs("bob").unwrap(), vec![fp.clone()]);
        assert!(s.certs("eve").unwrap().is_empty());
        for i in 1..MAX_CERTS {
            let other = format!("{i:064x}");
            assert_eq!(s.add_cert("bob", &other, 8).unwrap(), CertAdded::Added);
        }
        assert_eq!(
            s.add_cert("bob", &"cd".repeat(32), 9).unwrap(),
            CertAdded::Full
        );
        assert!(s.del_cert("bob", &fp).unwrap());
        assert!(!s.del_cert("bob", &fp).unwrap());
        assert_eq!(s.account_by_cert(&fp).unwrap(), None);
        // Deleting the account forgets its certificates.
        assert!(s.delete_account("bob").unwrap());
        assert!(s.account_by_cert(&format!("{:064x}", 1)).unwrap().is_none());
        assert_eq!(
            s.add_cert("eve", &format!("{:064x}", 1), 10).unwrap(),
            CertAdded::Added
        );
    }

    #[test]
    fn accounts_lists_offline_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        s.create_account(&account("bob")).unwrap();
        assert!(matches!(
            s.create_account(&account("bob")),
            Err(StoreError::AccountExists)
        ));
        assert_eq!(s.account("bob").unwrap().unwrap().display, "BOB");
        assert!(s.set_callerid("bob", true).unwrap());
        assert!(s.account("bob").unwrap().unwrap().callerid);

        let e = |k: &str| ListEntry {
            key: k.into(),
            display: k.to_uppercase(),
        };
        s.edit_list("bob", ListKind::Monitor, false, &[e("a"), e("b")], &[])
            .unwrap();
        s.edit_list("bob", ListKind::Monitor, false, &[e("c")], &["a".into()])
            .unwrap();
        let keys: Vec<String> = s
            .list("bob", ListKind::Monitor)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["b", "c"]);
        assert!(s.list("bob", ListKind::Accept).unwrap().is_empty());

        assert_eq!(
            s.enqueue_offline("bob", &msg("m1", 10, "one"), 2).unwrap(),
            Ok(1)
        );
        assert_eq!(
            s.enqueue_offline("bob", &msg("m2", 11, "two"), 2).unwrap(),
            Ok(2)
        );
        assert_eq!(
            s.enqueue_offline("bob", &msg("m3", 12, "three"), 2)
                .unwrap(),
            Err(EnqueueRefused::Full)
        );
        let waiting = s.offline("bob").unwrap();
        assert_eq!(
            waiting
                .iter()
                .map(|(_, m)| m.text.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        s.ack_offline("bob", waiting[0].0).unwrap();
        assert_eq!(s.offline("bob").unwrap().len(), 1);

        s.add_request("bob", "Carol", 5).unwrap();
        assert_eq!(
            s.take_requests("bob").unwrap(),
            vec![("Carol".to_string(), 5)]
        );
        assert!(s.take_requests("bob").unwrap().is_empty());

        let key = dm_key("bob", "alice");
        assert_eq!(key, "@alice bob");
        let rows: Vec<(String, StoredMessage)> = (1..=10)
            .map(|i| {
                (
                    key.clone(),
                    msg(&format!("h{i}"), i * 100, &format!("t{i}")),
                )
            })
            .collect();
        s.append_history(rows.clone()).unwrap();
        let texts = |v: Vec<StoredMessage>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
        assert_eq!(
            texts(s.history(&key, &HistoryQuery::Latest(None), 3).unwrap()),
            ["t8", "t9", "t10"]
        );
        assert_eq!(
            texts(
                s.history(&key, &HistoryQuery::Before(Bound::Msgid("h5".into())), 2)
                    .unwrap()
            ),
            ["t3", "t4"]
        );
        assert_eq!(
            texts(
                s.history(&key, &HistoryQuery::After(Bound::Time(800)), 5)
                    .unwrap()
            ),
            ["t9", "t10"]
        );
        assert_eq!(
            texts(
                s.history(
                    &key,
                    &HistoryQuery::Between(Bound::Time(1000), Bound::Time(700)),
                    5
                )
                .unwrap()
            ),
            ["t8", "t9"]
        );
        assert_eq!(
            texts(
                s.history(&key, &HistoryQuery::Around(Bound::Msgid("h5".into())), 3)
                    .unwrap()
            ),
            ["t4", "t5", "t6"]
        );
        assert_eq!(
            s.history_targets(&[], "bob", 0, 2000, 10).unwrap(),
            vec![(key.clone(), 1000)]
        );
        assert_eq!(s.prune_history(500).unwrap(), 4);

        assert!(s.delete_account("bob").unwrap());
        assert!(s.offline("bob").unwrap().is_empty());
    }

    #[test]
    fn msgid_bounds_within_one_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let key = "#c".to_string();
        let rows: Vec<(String, StoredMessage)> = (1..=5)
            .map(|i| (key.clone(), msg(&format!("h{i}"), 700, &format!("t{i}"))))
            .collect();
        s.append_history(rows.clone()).unwrap();
        let texts = |q: HistoryQuery, limit| {
            s.history(&key, &q, limit)
                .unwrap()
                .into_iter()
                .map(|m| m.text)
                .collect::<Vec<_>>()
        };
        let id = |i: u32| Bound::Msgid(format!("h{i}"));
        assert_eq!(texts(HistoryQuery::After(id(2)), 10), ["t3", "t4", "t5"]);
        assert_eq!(texts(HistoryQuery::Before(id(4)), 2), ["t2", "t3"]);
        assert_eq!(texts(HistoryQuery::Latest(Some(id(3))), 10), ["t4", "t5"]);
        assert_eq!(texts(HistoryQuery::Around(id(3)), 3), ["t2", "t3", "t4"]);
        assert_eq!(texts(HistoryQuery::Between(id(5), id(1)), 2), ["t3", "t4"]);
        // A timestamp bound takes or leaves the whole millisecond.
        assert!(texts(HistoryQuery::After(Bound::Time(700)), 10).is_empty());
        assert_eq!(texts(HistoryQuery::Before(Bound::Time(701)), 10).len(), 5);
        assert_eq!(
            texts(HistoryQuery::Around(Bound::Time(700)), 2),
            ["t1", "t2"]
        );
    }

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
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
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
