//! Read markers in PostgreSQL.

use super::{account_exists, backend, conn, PgStore};
use crate::{MarkerStore, ReadMarker, Result, MAX_MARKERS};

impl MarkerStore for PgStore {
    fn markers(&self, account: &str) -> Result<Vec<ReadMarker>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT target, time_ms FROM read_markers WHERE account = $1 ORDER BY seq DESC",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| ReadMarker {
                    target: r.get(0),
                    time_ms: r.get(1),
                })
                .collect())
        })
    }

    fn set_marker(&self, account: &str, target: &str, time_ms: i64) -> Result<Option<i64>> {
        let (pool, account, target) = (self.pool(), account.to_string(), target.to_string());
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            // The account's row locked: its markers move one at a time,
            // whichever node moves them.
            if !account_exists(&tx, &account).await? {
                return Ok(None);
            }
            tx.execute("SELECT 1 FROM accounts WHERE name = $1 FOR UPDATE", &[&account])
                .await
                .map_err(backend)?;
            // `seq` orders what is forgotten past MAX_MARKERS: the
            // conversations whose marker moved longest ago.
            tx.execute(
                "INSERT INTO read_markers (account, target, time_ms, seq) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM read_markers WHERE account = $1)) \
                 ON CONFLICT (account, target) DO UPDATE SET \
                   time_ms = excluded.time_ms, seq = excluded.seq \
                 WHERE excluded.time_ms > read_markers.time_ms",
                &[&account, &target, &time_ms],
            )
            .await
            .map_err(backend)?;
            let stored: i64 = tx
                .query_one(
                    "SELECT time_ms FROM read_markers WHERE account = $1 AND target = $2",
                    &[&account, &target],
                )
                .await
                .map_err(backend)?
                .get(0);
            tx.execute(
                "DELETE FROM read_markers WHERE account = $1 AND target NOT IN \
                 (SELECT target FROM read_markers WHERE account = $1 ORDER BY seq DESC LIMIT $2)",
                &[&account, &(MAX_MARKERS as i64)],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(Some(stored))
        })
    }
}
