//! PostgreSQL: the shared store of a cluster (`--store postgres://...`),
//! or one node's store on a database server. One file per domain, as
//! `sqlite` (each `impl XStore for PgStore`); this file connects, migrates
//! and runs the writer.
//!
//! The traits block (see the crate docs), so the store owns a small tokio
//! runtime of its own: each method hands its queries to that runtime and
//! waits for them (`block`). That works the same on the server's
//! blocking pool and in `ferry account` with no runtime at all, and the
//! connections' tasks never run on the server's workers. A pool of
//! `pool_size` connections (one or two per node: PostgreSQL's default
//! `max_connections` is 100) serves them.
//!
//! Offline messages, the one write on the message path, go to a writer
//! task instead (`offline.rs`): it takes every batch waiting, runs each
//! inside a savepoint of one transaction, commits once, then calls each
//! batch's `done` — a burst from many connections costs one commit, as on
//! SQLite.
//!
//! Every write commits before it returns (PostgreSQL's default
//! `synchronous_commit = on`: on the server's disk, WAL flushed).

mod accounts;
mod bans;
mod channels;
mod friends;
mod history;
mod markers;
mod metadata;
mod offline;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tracing::info;

use crate::{Result, StoreError, StoredMessage};

/// The schema, one migration a step: `ferry_schema` says how far a
/// database is. The tables are SQLite's, in PostgreSQL's types, so `ferry
/// store migrate` copies rows column for column.
const MIGRATIONS: &[&str] = &[
    // 1: everything as of SQLite schema 14
    "CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BYTEA NOT NULL,
        scram_iterations BIGINT NOT NULL,
        scram_stored_key BYTEA NOT NULL,
        scram_server_key BYTEA NOT NULL,
        email TEXT,
        callerid BOOLEAN NOT NULL,
        created_ms BIGINT NOT NULL,
        suspended_reason TEXT,
        suspended_by TEXT,
        suspended_ms BIGINT,
        always_on BOOLEAN,
        last_seen_ms BIGINT,
        always_on_state TEXT,
        multiclient BOOLEAN
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
        id BIGSERIAL PRIMARY KEY,
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
        id BIGSERIAL PRIMARY KEY,
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
        tags TEXT NOT NULL,
        redacted BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX history_by_key ON history (key, id);
    CREATE INDEX history_by_key_time ON history (key, time_ms);
    CREATE INDEX history_by_msgid ON history (key, msgid);
    CREATE INDEX history_by_time ON history (time_ms);
    CREATE INDEX history_by_party_a ON history (party_a, time_ms);
    CREATE INDEX history_by_party_b ON history (party_b, time_ms);
    CREATE TABLE account_certs (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        added_ms BIGINT NOT NULL
    );
    CREATE INDEX account_certs_by_account ON account_certs (account);
    CREATE TABLE server_bans (
        kind TEXT NOT NULL,
        mask TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_ms BIGINT NOT NULL,
        expires_ms BIGINT,
        PRIMARY KEY (kind, mask)
    );
    CREATE TABLE channels (
        name TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        founder TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        created_ms BIGINT NOT NULL,
        topic TEXT,
        topic_set_by TEXT,
        topic_set_ms BIGINT,
        modes TEXT NOT NULL
    );
    CREATE INDEX channels_by_founder ON channels (founder);
    CREATE TABLE login_tokens (
        id TEXT NOT NULL,
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        hash BYTEA NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        last_used_ms BIGINT NOT NULL,
        PRIMARY KEY (account, id)
    );
    CREATE TABLE read_markers (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        target TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (account, target)
    );
    CREATE TABLE account_metadata (
        account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE TABLE channel_access (
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
    );
    CREATE TABLE channel_settings (
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

/// A PostgreSQL store.
pub struct PgStore {
    /// Taken only by `drop`.
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    writer: offline::Writer,
}

/// An error of the client or the server, with its causes: the pool's and
/// the client's own messages ("db error") say little without them.
fn backend<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> StoreError {
    let e: Box<dyn std::error::Error + Send + Sync> = e.into();
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    StoreError::Backend(text)
}

/// Shown in errors and logs: the URL without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The TLS client config for PostgreSQL: the certificates of `ca_file`
/// (PEM) as roots, else the web's (webpki-roots).
fn tls_config(ca_file: Option<&Path>) -> Result<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| backend(format!("{}: {e}", path.display())))?;
            for c in certs {
                let c = c.map_err(|e| backend(format!("{}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| backend(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(backend(format!("{}: no certificate in it", path.display())));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    Ok(
        tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(backend)?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or the
    /// `key=value` form libpq takes) with a pool of `pool_size`
    /// connections, and migrates the database. No TLS unless the URL says
    /// `sslmode=require` (see [`PgStore::connect`]).
    pub fn open(url: &str, pool_size: usize) -> Result<PgStore> {
        PgStore::connect(url, pool_size, None)
    }

    /// [`PgStore::open`], over TLS when the URL says `sslmode=require` or
    /// `ca_file` is given: the server's certificate is checked against
    /// `ca_file` (PEM), else the web's roots, and its name against the
    /// URL's host. `sslmode=prefer` (the default) without `ca_file`: no
    /// TLS.
    pub fn connect(url: &str, pool_size: usize, ca_file: Option<&Path>) -> Result<PgStore> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| backend(format!("{}: {e}", redacted(url))))?;
        let tls =
            ca_file.is_some() || cfg.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        if tls {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferry-pg")
            .enable_all()
            .build()
            .map_err(backend)?;
        let mc = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let mgr = if tls {
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_file)?);
            Manager::from_config(cfg, connector, mc)
        } else {
            Manager::from_config(cfg, tokio_postgres::NoTls, mc)
        };
        let pool = Pool::builder(mgr)
            .max_size(pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(backend)?;
        let writer = {
            let _guard = rt.enter();
            offline::Writer::start(pool.clone())
        };
        let s = PgStore {
            rt: Some(rt),
            pool,
            writer,
        };
        s.block(migrate(s.pool.clone()))?;
        Ok(s)
    }

    /// Runs `f` on the store's runtime and waits for it.
    pub(crate) fn block<R: Send + 'static>(
        &self,
        f: impl Future<Output = Result<R>> + Send + 'static,
    ) -> Result<R> {
        let rt = self.rt.as_ref().ok_or(StoreError::Closed)?;
        let task = rt.spawn(f);
        let wait = async move { task.await.unwrap_or(Err(StoreError::Closed)) };
        // A thread of the server's runtime may not block on another's;
        // the blocking pool and plain threads may.
        match tokio::runtime::Handle::try_current() {
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| rt.block_on(wait))
                    .join()
                    .unwrap_or(Err(StoreError::Closed))
            }),
            Err(_) => rt.block_on(wait),
        }
    }

    pub(crate) fn pool(&self) -> Pool {
        self.pool.clone()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropped where blocking is not allowed (the server's last `Arc`
        // goes on a worker): its tasks are stopped without a wait. Every
        // write it acknowledged was committed already.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A connection from the pool, or why none came.
pub(crate) async fn conn(pool: &Pool) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(backend)
}

async fn migrate(pool: Pool) -> Result<()> {
    let mut c = conn(&pool).await?;
    // One node migrates at a time (several starting at once on a new
    // database): the others wait on this lock, held to the commit.
    // `CREATE TABLE IF NOT EXISTS` alone is not safe when two run at once.
    let tx = c.transaction().await.map_err(backend)?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(4650419551813288569); \
         CREATE TABLE IF NOT EXISTS ferry_schema (version BIGINT NOT NULL)",
    )
    .await
    .map_err(backend)?;
    let version: Option<i64> = tx
        .query_one("SELECT MAX(version) FROM ferry_schema", &[])
        .await
        .map_err(backend)?
        .get(0);
    let version = version.unwrap_or(0) as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute(
            "INSERT INTO ferry_schema (version) VALUES ($1)",
            &[&((i + 1) as i64)],
        )
        .await
        .map_err(backend)?;
        info!(version = i + 1, "PostgreSQL store migrated");
    }
    tx.commit().await.map_err(backend)
}

/// A [`StoredMessage`]'s columns, the same in `offline_messages` and
/// `history`.
pub(crate) const MSG_COLS: &str =
    "msgid, time_ms, source, sender_account, command, target, text, tags";

/// Reads a [`StoredMessage`] from the row's columns `at` and on.
pub(crate) fn msg_from_row(r: &Row, at: usize) -> StoredMessage {
    StoredMessage {
        msgid: r.get(at),
        time_ms: r.get(at + 1),
        source: r.get(at + 2),
        account: r.get(at + 3),
        command: r.get(at + 4),
        target: r.get(at + 5),
        text: r.get(at + 6),
        tags: r.get(at + 7),
    }
}

/// Whether the account `name` exists.
pub(crate) async fn account_exists(
    c: &impl deadpool_postgres::GenericClient,
    name: &str,
) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM accounts WHERE name = $1", &[&name])
            .await
            .map_err(backend)?
            .is_some(),
    )
}
