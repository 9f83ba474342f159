//! Read markers in SQLite.

use rusqlite::params;

use super::{account_exists, backend, SqliteStore};
use crate::{MarkerStore, ReadMarker, Result, MAX_MARKERS};

impl MarkerStore for SqliteStore {
    fn markers(&self, account: &str) -> Result<Vec<ReadMarker>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT target, time_ms FROM read_markers WHERE account = ?1 \
                 ORDER BY seq DESC",
            )?;
            let rows = st.query_map([account], |r| {
                Ok(ReadMarker {
                    target: r.get(0)?,
                    time_ms: r.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    fn set_marker(&self, account: &str, target: &str, time_ms: i64) -> Result<Option<i64>> {
        let (account, target) = (account.to_string(), target.to_string());
        self.write(move |c| {
            if !account_exists(c, &account)? {
                return Ok(None);
            }
            // `seq` orders what is forgotten past MAX_MARKERS: the
            // conversations whose marker moved longest ago.
            c.prepare_cached(
                "INSERT INTO read_markers (account, target, time_ms, seq) \
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM read_markers WHERE account = ?1)) \
                 ON CONFLICT (account, target) DO UPDATE SET \
                   time_ms = excluded.time_ms, seq = excluded.seq \
                 WHERE excluded.time_ms > read_markers.time_ms",
            )
            .and_then(|mut st| st.execute(params![account, target, time_ms]))
            .map_err(backend)?;
            let stored: i64 = c
                .query_row(
                    "SELECT time_ms FROM read_markers WHERE account = ?1 AND target = ?2",
                    params![account, target],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            c.prepare_cached(
                "DELETE FROM read_markers WHERE account = ?1 AND target NOT IN \
                 (SELECT target FROM read_markers WHERE account = ?1 \
                  ORDER BY seq DESC LIMIT ?2)",
            )
            .and_then(|mut st| st.execute(params![account, MAX_MARKERS as i64]))
            .map_err(backend)?;
            Ok(Some(stored))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, temp_store};
    use crate::prelude::*;

    #[test]
    fn markers_only_move_forward_and_go_with_the_account() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        assert!(s.markers("bob").unwrap().is_empty());
        assert_eq!(s.set_marker("bob", "#c", 2000).unwrap(), Some(2000));
        assert_eq!(s.set_marker("bob", "#c", 1000).unwrap(), Some(2000));
        assert_eq!(s.set_marker("bob", "alice", 500).unwrap(), Some(500));
        assert_eq!(s.set_marker("bob", "#c", 3000).unwrap(), Some(3000));
        let m = s.markers("bob").unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|m| m.target == "#c" && m.time_ms == 3000));
        assert!(m.iter().any(|m| m.target == "alice" && m.time_ms == 500));
        assert_eq!(s.set_marker("nobody", "#c", 1).unwrap(), None);
        s.delete_account("bob").unwrap();
        assert!(s.markers("bob").unwrap().is_empty());
    }

    #[test]
    fn an_account_keeps_a_bounded_number_of_markers() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        for i in 0..super::MAX_MARKERS + 5 {
            s.set_marker("bob", &format!("#c{i}"), 1).unwrap();
        }
        assert_eq!(s.markers("bob").unwrap().len(), super::MAX_MARKERS);
    }
}
