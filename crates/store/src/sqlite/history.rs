//! History is kept in the append-only log (`crate::log`, in
//! `<data>/history/`), not in SQLite: a row there costs a buffer append,
//! here it cost a B-tree insert into a table and four indexes. This file
//! answers [`HistoryStore`] through the log, and moves what an older
//! ferry kept in the `history` table into the log once, at open.

use rusqlite::Connection;

use super::{backend, msg_from_row, SqliteStore, MSG_COLS};
use crate::log::HistoryLog;
use crate::{HistoryQuery, HistoryStore, Result, StoredMessage};

/// Rows moved from the old table per log append.
const MOVE_CHUNK: usize = 10_000;

/// Moves the rows of the old `history` table into the log, in the order
/// they were kept (time, then id), then empties the table. A move cut
/// short by a crash left its first rows in the log, and the log held
/// nothing else then (the server starts after the move): those are
/// skipped, so nothing is moved twice.
pub(super) fn move_to_log(c: &Connection, log: &HistoryLog) -> Result<()> {
    let left: i64 = c
        .query_row("SELECT count(*) FROM history", [], |r| r.get(0))
        .map_err(backend)?;
    if left == 0 {
        return Ok(());
    }
    let mut skip = log.records();
    let mut st = c
        .prepare(&format!(
            "SELECT key, {MSG_COLS} FROM history ORDER BY time_ms, id"
        ))
        .map_err(backend)?;
    let mut rows = st.query([]).map_err(backend)?;
    let mut chunk = Vec::with_capacity(MOVE_CHUNK);
    let mut moved = 0u64;
    while let Some(r) = rows.next().map_err(backend)? {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        let key: String = r.get(0).map_err(backend)?;
        chunk.push((key, msg_from_row(r, 1).map_err(backend)?));
        if chunk.len() == MOVE_CHUNK {
            log.append(&chunk)?;
            moved += chunk.len() as u64;
            chunk.clear();
        }
    }
    log.append(&chunk)?;
    moved += chunk.len() as u64;
    drop(rows);
    drop(st);
    c.execute_batch("DELETE FROM history").map_err(backend)?;
    tracing::info!(rows = moved, "history moved from SQLite to the history log");
    Ok(())
}

impl HistoryStore for SqliteStore {
    fn append_history(&self, rows: Vec<(String, StoredMessage)>) -> Result<()> {
        self.history.append(&rows)
    }

    fn history(&self, key: &str, q: &HistoryQuery, limit: usize) -> Result<Vec<StoredMessage>> {
        Ok(self.history.query(key, q, limit))
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
        Ok(self.history.targets(channels, party, lo, hi, limit))
    }

    fn prune_history(&self, before_ms: i64) -> Result<usize> {
        self.history.prune(before_ms)
    }

    fn find_history(&self, key: &str, msgid: &str) -> Result<Option<StoredMessage>> {
        Ok(self.history.find(key, msgid))
    }

    fn redact_history(&self, key: &str, msgid: &str) -> Result<bool> {
        self.history.redact(key, msgid)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{msg, temp_store};
    use super::super::{SqliteStore, MSG_COLS};
    use crate::{dm_key, Bound, HistoryQuery, HistoryStore, StoredMessage};

    #[test]
    fn history_queries_targets_and_pruning() {
        let (_dir, s) = temp_store();
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
        // Pruning hides the older rows at once (their segment goes when
        // all of it is older).
        s.prune_history(500).unwrap();
        assert_eq!(
            texts(s.history(&key, &HistoryQuery::Latest(None), 20).unwrap()),
            ["t5", "t6", "t7", "t8", "t9", "t10"]
        );
    }

    /// History an older ferry kept in SQLite moves into the log once, in
    /// order, also when the first move was cut short.
    #[test]
    fn history_in_the_old_table_moves_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<(String, StoredMessage)> = (1..=25)
            .map(|i| {
                let key = if i % 2 == 0 { "#even" } else { "@a b" };
                (
                    key.to_string(),
                    msg(&format!("h{i}"), i * 10, &format!("t{i}")),
                )
            })
            .collect();
        {
            let s = SqliteStore::open(dir.path()).unwrap();
            s.close();
        }
        let put = |rows: &[(String, StoredMessage)]| {
            let c = rusqlite::Connection::open(dir.path().join("ferry.db")).unwrap();
            for (k, m) in rows {
                let (a, b) = crate::dm_parties(k).unzip();
                c.execute(
                    &format!(
                        "INSERT INTO history (key, party_a, party_b, {MSG_COLS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ),
                    rusqlite::params![
                        k, a, b, m.msgid, m.time_ms, m.source, m.account, m.command, m.target,
                        m.text, m.tags
                    ],
                )
                .unwrap();
            }
        };
        put(&rows);
        // A first move that got 7 rows into the log before a crash.
        {
            let log = crate::log::HistoryLog::open(&dir.path().join("history")).unwrap();
            log.append(&rows[..7]).unwrap();
        }
        let s = SqliteStore::open(dir.path()).unwrap();
        let all = |key: &str| {
            s.history(key, &HistoryQuery::Latest(None), 100)
                .unwrap()
                .into_iter()
                .map(|m| m.text)
                .collect::<Vec<_>>()
        };
        let want = |even: bool| {
            rows.iter()
                .filter(|(k, _)| (k == "#even") == even)
                .map(|(_, m)| m.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("#even"), want(true));
        assert_eq!(all("@a b"), want(false));
        let left: i64 = s
            .read(|c| c.query_row("SELECT count(*) FROM history", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(left, 0);
        s.close();
        drop(s);
        // And a second start moves nothing twice.
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            s.history("#even", &HistoryQuery::Latest(None), 100)
                .unwrap()
                .len(),
            12
        );
    }
}
