//! `ferry store migrate --from DIR --to URL`: a single node's SQLite store
//! (the database and the history log) copied into an empty PostgreSQL
//! database, in one transaction, then checked by counts.
//!
//! The tables are the same on both (postgres/mod.rs), so rows are copied
//! column for column; SQLite's 0/1 integers become booleans. History comes
//! from the log, each conversation's live messages in order (redacted and
//! expired ones stay behind). Offline messages get new ids in the order
//! they were stored.

use std::path::Path;

use rusqlite::types::ValueRef;
use tokio_postgres::types::ToSql;

use crate::postgres::{conn, PgStore};
use crate::{HistoryQuery, HistoryStore, Result, SqliteStore, StoreError, StoredMessage};

/// How a column is read from SQLite.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
    Blob,
}
use Kind::*;

/// Every table but `history` (which comes from the log), parents first.
const TABLES: &[(&str, Columns)] = &[
    (
        "accounts",
        &[
            ("name", Text),
            ("display", Text),
            ("password_hash", Text),
            ("scram_salt", Blob),
            ("scram_iterations", Int),
            ("scram_stored_key", Blob),
            ("scram_server_key", Blob),
            ("email", Text),
            ("callerid", Bool),
            ("created_ms", Int),
            ("suspended_reason", Text),
            ("suspended_by", Text),
            ("suspended_ms", Int),
            ("always_on", Bool),
            ("last_seen_ms", Int),
            ("always_on_state", Text),
            ("multiclient", Bool),
        ],
    ),
    (
        "account_lists",
        &[
            ("account", Text),
            ("kind", Text),
            ("entry", Text),
            ("display", Text),
        ],
    ),
    (
        "friend_requests",
        &[("account", Text), ("requester", Text), ("time_ms", Int)],
    ),
    (
        "offline_messages",
        &[
            ("account", Text),
            ("msgid", Text),
            ("time_ms", Int),
            ("source", Text),
            ("sender_account", Text),
            ("command", Text),
            ("target", Text),
            ("text", Text),
            ("tags", Text),
        ],
    ),
    (
        "account_certs",
        &[("fingerprint", Text), ("account", Text), ("added_ms", Int)],
    ),
    (
        "server_bans",
        &[
            ("kind", Text),
            ("mask", Text),
            ("reason", Text),
            ("set_by", Text),
            ("set_ms", Int),
            ("expires_ms", Int),
        ],
    ),
    (
        "channels",
        &[
            ("name", Text),
            ("display", Text),
            ("founder", Text),
            ("created_ms", Int),
            ("topic", Text),
            ("topic_set_by", Text),
            ("topic_set_ms", Int),
            ("modes", Text),
        ],
    ),
    (
        "login_tokens",
        &[
            ("id", Text),
            ("account", Text),
            ("hash", Blob),
            ("label", Text),
            ("created_ms", Int),
            ("last_used_ms", Int),
        ],
    ),
    (
        "read_markers",
        &[
            ("account", Text),
            ("target", Text),
            ("time_ms", Int),
            ("seq", Int),
        ],
    ),
    (
        "account_metadata",
        &[("account", Text), ("key", Text), ("value", Text)],
    ),
    (
        "channel_access",
        &[("channel", Text), ("account", Text), ("level", Text)],
    ),
    (
        "channel_masks",
        &[
            ("channel", Text),
            ("kind", Text),
            ("mask", Text),
            ("set_by", Text),
            ("set_at", Int),
        ],
    ),
    (
        "channel_settings",
        &[("channel", Text), ("key", Text), ("value", Text)],
    ),
    (
        "purged_channels",
        &[
            ("name", Text),
            ("display", Text),
            ("by", Text),
            ("reason", Text),
            ("at_ms", Int),
        ],
    ),
];

type Value = Box<dyn ToSql + Sync + Send>;
/// A table's columns and how each is read.
type Columns = &'static [(&'static str, Kind)];

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("migrate: {what}: {e}"))
}

/// One SQLite value as PostgreSQL takes it for a column of `kind`.
fn value(v: ValueRef<'_>, kind: Kind) -> std::result::Result<Value, String> {
    Ok(match (kind, v) {
        (Text, ValueRef::Null) => Box::new(None::<String>),
        (Text, ValueRef::Text(t)) => Box::new(Some(
            std::str::from_utf8(t)
                .map_err(|e| e.to_string())?
                .to_string(),
        )),
        (Int, ValueRef::Null) => Box::new(None::<i64>),
        (Int, ValueRef::Integer(i)) => Box::new(Some(i)),
        (Bool, ValueRef::Null) => Box::new(None::<bool>),
        (Bool, ValueRef::Integer(i)) => Box::new(Some(i != 0)),
        (Blob, ValueRef::Null) => Box::new(None::<Vec<u8>>),
        (Blob, ValueRef::Blob(b)) => Box::new(Some(b.to_vec())),
        (_, v) => return Err(format!("unexpected {:?}", v.data_type())),
    })
}

/// What was copied: rows per table (`history` last), equal on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub tables: Vec<(String, u64)>,
}

/// Copies the store in `data_dir` into the PostgreSQL database at `url`,
/// which must hold no ferry data yet, and checks that every table holds
/// as many rows there as were read here.
pub fn migrate_to_postgres(data_dir: &Path, url: &str, ca_file: Option<&Path>) -> Result<Migrated> {
    if !data_dir.join("ferry.db").exists() {
        return Err(err("no store in", data_dir.display()));
    }
    let src = SqliteStore::open(data_dir)?;
    let mut rows: Vec<(&str, Columns, Vec<Vec<Value>>)> = Vec::new();
    for &(table, cols) in TABLES {
        let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
        let order = if table == "offline_messages" {
            " ORDER BY id"
        } else {
            ""
        };
        let got = src.read(|c| {
            let mut st = c.prepare(&format!("SELECT {} FROM {table}{order}", names.join(", ")))?;
            let mut out = Vec::new();
            let mut q = st.query([])?;
            while let Some(r) = q.next()? {
                let mut row = Vec::with_capacity(cols.len());
                for (i, (_, kind)) in cols.iter().enumerate() {
                    let v = value(r.get_ref(i)?, *kind).map_err(|e| {
                        rusqlite::Error::InvalidColumnType(i, e, rusqlite::types::Type::Null)
                    })?;
                    row.push(v);
                }
                out.push(row);
            }
            Ok(out)
        })?;
        rows.push((table, cols, got));
    }
    // Each conversation's live history, merged in time order.
    let mut history: Vec<(String, StoredMessage)> = Vec::new();
    for key in src.history_keys() {
        for m in src.history(&key, &HistoryQuery::Latest(None), usize::MAX / 4)? {
            history.push((key.clone(), m));
        }
    }
    history.sort_by_key(|(_, m)| m.time_ms);
    src.close();

    let dst = PgStore::connect(url, 2, ca_file)?;
    let pool = dst.pool();
    let history_n = history.len() as u64;
    let counts: Vec<(String, u64)> = rows
        .iter()
        .map(|(t, _, r)| (t.to_string(), r.len() as u64))
        .chain(std::iter::once(("history".to_string(), history_n)))
        .collect();
    let want = counts.clone();
    dst.block(async move {
        let mut c = conn(&pool).await?;
        let tx = c.transaction().await.map_err(|e| err("begin", e))?;
        for table in ["accounts", "server_bans", "history", "purged_channels"] {
            let n: i64 = tx
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await
                .map_err(|e| err("count", e))?
                .get(0);
            if n > 0 {
                return Err(err(
                    "the database is not empty",
                    format!("{table} has {n} rows"),
                ));
            }
        }
        for (table, cols, rows) in &rows {
            let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
            let st = tx
                .prepare(&format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    names.join(", "),
                    marks.join(", ")
                ))
                .await
                .map_err(|e| err(table, e))?;
            for row in rows {
                let params: Vec<&(dyn ToSql + Sync)> =
                    row.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
                tx.execute(&st, &params).await.map_err(|e| err(table, e))?;
            }
        }
        let st = tx
            .prepare(
                "INSERT INTO history (key, party_a, party_b, msgid, time_ms, source, \
                 sender_account, command, target, text, tags) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(|e| err("history", e))?;
        for (key, m) in &history {
            let (a, b) = crate::dm_parties(key).unzip();
            tx.execute(
                &st,
                &[
                    key, &a, &b, &m.msgid, &m.time_ms, &m.source, &m.account, &m.command,
                    &m.target, &m.text, &m.tags,
                ],
            )
            .await
            .map_err(|e| err("history", e))?;
        }
        // Checked inside the transaction: a count that differs commits
        // nothing.
        for (table, n) in &want {
            let got: i64 = tx
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await
                .map_err(|e| err("count", e))?
                .get(0);
            if got as u64 != *n {
                return Err(err(table, format!("{n} rows read, {got} in PostgreSQL")));
            }
        }
        tx.commit().await.map_err(|e| err("commit", e))
    })?;
    Ok(Migrated { tables: counts })
}

impl SqliteStore {
    /// The keys of every conversation in the history log.
    pub(crate) fn history_keys(&self) -> Vec<String> {
        self.history_log().all_keys()
    }
}
