//! The embedded default: SQLite in the data directory, one file per
//! domain (`accounts.rs`, `friends.rs`, `offline.rs`, `history.rs`,
//! `bans.rs`, `channels.rs`, each `impl XStore for SqliteStore`); this file
//! opens the database, migrates it and runs the writer.
//!
//! One writer thread owns the write connection and commits in groups: it
//! takes every job waiting (up to 4,096), runs each inside a savepoint,
//! commits once, and only then answers each caller. Reads use a small pool
//! of their own connections (WAL lets them run beside the writer).
//!
//! Offline messages are the one write on a hot path (every message to an
//! offline account waits for its commit before the sender's echo), so they
//! have a path of their own: [`OfflineStore::enqueue_offline_batch`] hands
//! the writer a job and returns, with no thread waiting on it; the writer
//! keeps what it learnt about each recipient (caller-ID, lists, messages
//! waiting) across its transactions (`offline.rs`), so a burst to one
//! recipient costs one lookup and one INSERT per message.
//!
//! The SQL keeps to what PostgreSQL also accepts, so a second backend can
//! share it.

mod accounts;
mod bans;
mod channels;
mod friends;
mod history;
mod markers;
mod metadata;
mod offline;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Row};
use tracing::{error, info};

#[cfg(doc)]
use crate::OfflineStore;
use crate::{Result, StoreError, StoredMessage};
use offline::{forget_recipients, keep_recipients_if_unchanged};

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
    // 4: registered channels (ChanServ REGISTER: crate::ChannelStore)
    "CREATE TABLE channels (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        founder TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        created_ms BIGINT NOT NULL,
        topic TEXT,
        topic_set_by TEXT,
        topic_set_ms BIGINT,
        modes TEXT NOT NULL
    );
    CREATE INDEX channels_by_founder ON channels (founder);",
    // 5: accounts suspended by an administrator (the admin API)
    "ALTER TABLE accounts ADD COLUMN suspended_reason TEXT;
    ALTER TABLE accounts ADD COLUMN suspended_by TEXT;
    ALTER TABLE accounts ADD COLUMN suspended_ms BIGINT;",
    // 6: login tokens (the web page's "stay logged in"), kept as hashes
    "CREATE TABLE login_tokens (
        id TEXT NOT NULL,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        hash BLOB NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        last_used_ms BIGINT NOT NULL,
        PRIMARY KEY (account, id)
    );",
    // 7: read markers (draft/read-marker: crate::MarkerStore)
    "CREATE TABLE read_markers (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        target TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (account, target)
    );",
    // 8: the account's own always-on choice (NULL: the server's default)
    "ALTER TABLE accounts ADD COLUMN always_on INTEGER;",
    // 9: account metadata, the profile (draft/metadata-3: crate::MetadataStore)
    "CREATE TABLE account_metadata (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, key)
    );",
    // 10: registered channels' access and ban/exception/invite lists
    "CREATE TABLE channel_access (
        channel TEXT NOT NULL REFERENCES channels(name) ON DELETE CASCADE,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        level TEXT NOT NULL,
        PRIMARY KEY (channel, account)
    );
    CREATE TABLE channel_masks (
        channel TEXT NOT NULL REFERENCES channels(name) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at BIGINT NOT NULL,
        PRIMARY KEY (channel, kind, mask)
    );",
    // 11: when an account's connection last ended (missed channel replay)
    "ALTER TABLE accounts ADD COLUMN last_seen_ms BIGINT;",
    // 12: an always-on user with no device, to restore at start
    "ALTER TABLE accounts ADD COLUMN always_on_state TEXT;",
    // 13: the account's own multiclient choice (NULL: the server's)
    "ALTER TABLE accounts ADD COLUMN multiclient INTEGER;",
    // 14: registered channels' settings (ChanServ SET) and purged channels
    "CREATE TABLE channel_settings (
        channel TEXT NOT NULL REFERENCES channels(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (channel, key)
    );
    CREATE TABLE purged_channels (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        by TEXT NOT NULL,
        reason TEXT NOT NULL,
        at_ms BIGINT NOT NULL
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
    /// History, in its own append-only log beside the database.
    history: crate::log::HistoryLog,
    /// Told how long each group commit took (`observe_commits`).
    observer: Arc<OnceLock<CommitObserver>>,
}

/// Called by the writer with each group commit's duration (the `COMMIT`
/// statement: the write of its pages and, when durable, the fsync).
pub type CommitObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// Whether the account `name` (casefolded) exists, inside a job.
fn account_exists(c: &Connection, name: &str) -> Result<bool> {
    use rusqlite::OptionalExtension;
    Ok(
        c.query_row("SELECT 1 FROM accounts WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map_err(backend)?
            .is_some(),
    )
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
        let history = crate::log::HistoryLog::open(&dir.join("history"))?;
        history::move_to_log(&conn, &history)?;
        let (tx, rx) = channel::<Job>();
        let observer = Arc::new(OnceLock::new());
        let o = observer.clone();
        let writer = std::thread::Builder::new()
            .name("ferry-store-writer".into())
            .spawn(move || writer_loop(conn, rx, o))
            .map_err(backend)?;
        Ok(SqliteStore {
            jobs: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Vec::new()),
            path,
            history,
            observer,
        })
    }

    /// Has `f` told how long each group commit takes from now on (the
    /// server's `ferry_store_commit_seconds`). Only the first call counts.
    pub fn observe_commits(&self, f: CommitObserver) {
        let _ = self.observer.set(f);
    }

    /// The history log (`ferry store migrate` reads it whole).
    pub(crate) fn history_log(&self) -> &crate::log::HistoryLog {
        &self.history
    }

    /// Records ever appended to the history log.
    pub(crate) fn history_records(&self) -> u64 {
        self.history.records()
    }

    /// `Closed` once the writer is gone (closed, or its thread died).
    fn writer_alive(&self) -> Result<()> {
        let alive = self.jobs.read().expect("jobs lock").is_some()
            && self
                .writer
                .lock()
                .expect("writer lock")
                .as_ref()
                .is_some_and(|w| !w.is_finished());
        if alive {
            Ok(())
        } else {
            Err(StoreError::Closed)
        }
    }

    /// Runs `f` in the writer's next group transaction; returns after commit.
    fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.write_as(true, f)
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

    pub(crate) fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
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

fn writer_loop(conn: Connection, rx: Receiver<Job>, observer: Arc<OnceLock<CommitObserver>>) {
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
        let committing = Instant::now();
        let commit = conn.execute_batch("COMMIT").map_err(backend);
        if let Some(observe) = observer.get() {
            observe(committing.elapsed());
        }
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

/// A [`StoredMessage`]'s columns, the same in `offline_messages` and
/// `history`.
const MSG_COLS: &str = "msgid, time_ms, source, sender_account, command, target, text, tags";

/// Reads a [`StoredMessage`] from the row's columns `at` and on.
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

#[cfg(test)]
pub(crate) mod test_support {
    use super::SqliteStore;
    use crate::{Account, ScramCredentials, StoredMessage};

    /// A store in a directory of its own, removed with the `TempDir`.
    pub(crate) fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        (dir, s)
    }

    pub(crate) fn msg(id: &str, t: i64, text: &str) -> StoredMessage {
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

    pub(crate) fn account(name: &str) -> Account {
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
            suspended: None,
            always_on: None,
            last_seen_ms: None,
            multiclient: None,
        }
    }
}
