//! An online backup of a data directory (`ferry store backup`): taken
//! while the server runs, into a new directory a server can start on.
//!
//! - The database: `VACUUM INTO`, which SQLite runs in one read
//!   transaction, so the copy is the database as of one commit, whatever
//!   the writer does meanwhile (WAL readers do not block it, nor it them).
//! - The history log: its snapshot of heads first, then every segment.
//!   Segments only grow and are never rewritten, so each copy holds at
//!   least what the snapshot covers; the last may end in a record half
//!   written, which opening the copy cuts off as it would after a crash.
//!   A segment deleted by retention between the listing and its copy is
//!   skipped: it held only expired history.
//! - `cloak.key`, so cloaked hosts stay the same on the copy.
//!
//! The copy is then opened as a store — migrated, its log recovered — and
//! counted ([`Summary`]): a backup that cannot be opened is an error, not
//! a file.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use rusqlite::Connection;

use crate::sqlite::SqliteStore;
use crate::{Result, StoreError};

/// What a store holds, counted (a backup's check; a migration's later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub accounts: u64,
    pub list_entries: u64,
    pub offline_messages: u64,
    pub bans: u64,
    pub channels: u64,
    pub history_records: u64,
}

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("backup: {what}: {e}"))
}

/// Copies the store in `data_dir` to `dest` (which must not exist yet)
/// and returns what the copy holds.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<Summary> {
    let db = data_dir.join("ferry.db");
    if !db.exists() {
        return Err(err("no store", db.display()));
    }
    if dest.exists() {
        return Err(err("the destination exists", dest.display()));
    }
    fs::create_dir_all(dest.join("history")).map_err(|e| err("create", e))?;

    let c = Connection::open(&db).map_err(|e| err("open", e))?;
    c.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| err("open", e))?;
    let target = dest.join("ferry.db");
    let target = target.to_str().ok_or_else(|| err("path", "not UTF-8"))?;
    c.execute("VACUUM INTO ?1", [target])
        .map_err(|e| err("copy the database", e))?;
    drop(c);

    let from = data_dir.join("history");
    if from.is_dir() {
        copy_if_there(&from.join("heads.snap"), &dest.join("history/heads.snap"))?;
        let mut segs: Vec<_> = fs::read_dir(&from)
            .map_err(|e| err("list history", e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n.to_str().is_some_and(|n| n.ends_with(".seg")))
            .collect();
        segs.sort();
        for s in segs {
            copy_if_there(&from.join(&s), &dest.join("history").join(&s))?;
        }
    }
    copy_if_there(&data_dir.join("cloak.key"), &dest.join("cloak.key"))?;
    sync_dir(&dest.join("history"))?;
    sync_dir(dest)?;

    let copy = SqliteStore::open(dest)?;
    let summary = copy.summary();
    copy.close();
    summary
}

/// Copies `from` if it exists, and syncs the copy.
fn copy_if_there(from: &Path, to: &Path) -> Result<()> {
    match fs::copy(from, to) {
        Ok(_) => fs::File::open(to)
            .and_then(|f| f.sync_all())
            .map_err(|e| err("sync", e)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(&format!("copy {}", from.display()), e)),
    }
}

fn sync_dir(d: &Path) -> Result<()> {
    fs::File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| err("sync", e))
}

impl SqliteStore {
    /// Counts what the store holds.
    pub fn summary(&self) -> Result<Summary> {
        let history_records = self.history_records();
        self.read(|c| {
            let count = |table: &str| -> rusqlite::Result<u64> {
                c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
            };
            Ok(Summary {
                accounts: count("accounts")?,
                list_entries: count("account_lists")?,
                offline_messages: count("offline_messages")?,
                bans: count("server_bans")?,
                channels: count("channels")?,
                history_records,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::test_support::{account, msg};
    use crate::{AccountStore, HistoryQuery, HistoryStore};

    #[test]
    fn a_backup_opens_with_everything_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let live = SqliteStore::open(dir.path()).unwrap();
        live.create_account(&account("bob")).unwrap();
        live.append_history(vec![("#room".into(), msg("m1", 10, "hello"))])
            .unwrap();
        let dest = dir.path().join("copy");
        // Taken while the store is open and in use.
        let s = backup(dir.path(), &dest).unwrap();
        assert_eq!((s.accounts, s.history_records), (1, 1));
        assert!(backup(dir.path(), &dest).is_err(), "never over a copy");
        live.close();
        let copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(copy.account("bob").unwrap().unwrap().name, "bob");
        let rows = copy
            .history("#room", &HistoryQuery::Latest(None), 10)
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].text, "hello");
    }
}
