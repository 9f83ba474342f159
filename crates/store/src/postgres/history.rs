//! History in PostgreSQL: one table, in the order rows were appended
//! (`id`), with the same query semantics as the SQLite backend's log
//! (`crate::log::read`): bounds exclusive, by time or msgid; LATEST and
//! BEFORE the newest `limit`, AFTER the oldest; redacted rows skipped.

use deadpool_postgres::GenericClient;

use super::{backend, conn, msg_from_row, PgStore, MSG_COLS};
use crate::{dm_parties, Bound, HistoryQuery, HistoryStore, Result, StoredMessage};

/// The first id after a bound (exclusive lower end), None if a msgid
/// bound is not there.
async fn lower(c: &impl GenericClient, key: &str, b: &Bound) -> Result<Option<i64>> {
    let r = match b {
        Bound::Time(t) => c
            .query_one(
                "SELECT COALESCE(MAX(id), 0) + 1 FROM history WHERE key = $1 AND time_ms <= $2",
                &[&key, t],
            )
            .await
            .map_err(backend)?
            .get(0),
        Bound::Msgid(id) => match msgid_row(c, key, id).await? {
            Some(n) => n + 1,
            None => return Ok(None),
        },
    };
    Ok(Some(r))
}

/// The last id before a bound (exclusive upper end).
async fn upper(c: &impl GenericClient, key: &str, b: &Bound) -> Result<Option<i64>> {
    let r = match b {
        Bound::Time(t) => c
            .query_one(
                "SELECT COALESCE(MAX(id), 0) FROM history WHERE key = $1 AND time_ms < $2",
                &[&key, t],
            )
            .await
            .map_err(backend)?
            .get(0),
        Bound::Msgid(id) => match msgid_row(c, key, id).await? {
            Some(n) => n - 1,
            None => return Ok(None),
        },
    };
    Ok(Some(r))
}

async fn msgid_row(c: &impl GenericClient, key: &str, msgid: &str) -> Result<Option<i64>> {
    Ok(c.query_opt(
        "SELECT id FROM history WHERE key = $1 AND msgid = $2 AND NOT redacted",
        &[&key, &msgid],
    )
    .await
    .map_err(backend)?
    .map(|r| r.get(0)))
}

/// Rows `lo..=hi` (ids) of `key`, ascending: the newest `limit` when
/// `newest`, else the oldest.
async fn range(
    c: &impl GenericClient,
    key: &str,
    lo: i64,
    hi: i64,
    newest: bool,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    if limit == 0 || lo > hi {
        return Ok(Vec::new());
    }
    let order = if newest { "DESC" } else { "ASC" };
    let rows = c
        .query(
            &format!(
                "SELECT {MSG_COLS} FROM history WHERE key = $1 AND id >= $2 AND id <= $3 \
                 AND NOT redacted ORDER BY id {order} LIMIT $4"
            ),
            &[&key, &lo, &hi, &(limit as i64)],
        )
        .await
        .map_err(backend)?;
    let mut out: Vec<StoredMessage> = rows.iter().map(|r| msg_from_row(r, 0)).collect();
    if newest {
        out.reverse();
    }
    Ok(out)
}

async fn query(
    c: &impl GenericClient,
    key: &str,
    q: &HistoryQuery,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    let top = i64::MAX;
    Ok(match q {
        HistoryQuery::Latest(None) => range(c, key, 0, top, true, limit).await?,
        HistoryQuery::Latest(Some(b)) => match lower(c, key, b).await? {
            Some(lo) => range(c, key, lo, top, true, limit).await?,
            None => Vec::new(),
        },
        HistoryQuery::Before(b) => match upper(c, key, b).await? {
            Some(hi) => range(c, key, 0, hi, true, limit).await?,
            None => Vec::new(),
        },
        HistoryQuery::After(b) => match lower(c, key, b).await? {
            Some(lo) => range(c, key, lo, top, false, limit).await?,
            None => Vec::new(),
        },
        HistoryQuery::Around(b) => {
            // Before the bound, then the bound's own message (or
            // millisecond) and on.
            let Some(hi) = upper(c, key, b).await? else {
                return Ok(Vec::new());
            };
            let mut out = range(c, key, 0, hi, true, limit / 2).await?;
            let rest = limit - out.len();
            out.extend(range(c, key, hi + 1, top, false, rest).await?);
            out
        }
        HistoryQuery::Between(a, b) => {
            let (Some(la), Some(ua), Some(lb), Some(ub)) = (
                lower(c, key, a).await?,
                upper(c, key, a).await?,
                lower(c, key, b).await?,
                upper(c, key, b).await?,
            ) else {
                return Ok(Vec::new());
            };
            if la <= lb {
                range(c, key, la, ub, false, limit).await?
            } else {
                range(c, key, lb, ua, true, limit).await?
            }
        }
    })
}

impl HistoryStore for PgStore {
    fn append_history(&self, rows: Vec<(String, StoredMessage)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let pool = self.pool();
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            let st = tx
                .prepare(&format!(
                    "INSERT INTO history (key, party_a, party_b, {MSG_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .await
                .map_err(backend)?;
            for (key, m) in &rows {
                let (a, b) = match dm_parties(key) {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                };
                tx.execute(
                    &st,
                    &[
                        key, &a, &b, &m.msgid, &m.time_ms, &m.source, &m.account, &m.command,
                        &m.target, &m.text, &m.tags,
                    ],
                )
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    fn history(&self, key: &str, q: &HistoryQuery, limit: usize) -> Result<Vec<StoredMessage>> {
        let (pool, key, q) = (self.pool(), key.to_string(), q.clone());
        self.block(async move {
            let mut c = conn(&pool).await?;
            // One snapshot for the bounds and the rows.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(backend)?;
            let rows = query(&tx, &key, &q, limit).await?;
            tx.commit().await.map_err(backend)?;
            Ok(rows)
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
        let (pool, channels, party) = (self.pool(), channels.to_vec(), party.to_string());
        self.block(async move {
            // Each conversation's newest row (as the log's chain heads).
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT key, time_ms FROM ( \
                       SELECT DISTINCT ON (key) key, time_ms FROM history \
                       WHERE key = ANY($1) OR party_a = $2 OR party_b = $2 \
                       ORDER BY key, id DESC) heads \
                     WHERE time_ms > $3 AND time_ms < $4 ORDER BY time_ms LIMIT $5",
                    &[&channels, &party, &lo, &hi, &(limit as i64)],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn prune_history(&self, before_ms: i64) -> Result<usize> {
        let pool = self.pool();
        self.block(async move {
            let n = conn(&pool)
                .await?
                .execute("DELETE FROM history WHERE time_ms < $1", &[&before_ms])
                .await
                .map_err(backend)?;
            Ok(n as usize)
        })
    }

    fn find_history(&self, key: &str, msgid: &str) -> Result<Option<StoredMessage>> {
        let (pool, key, msgid) = (self.pool(), key.to_string(), msgid.to_string());
        self.block(async move {
            let r = conn(&pool)
                .await?
                .query_opt(
                    &format!(
                        "SELECT {MSG_COLS} FROM history WHERE key = $1 AND msgid = $2 \
                         AND NOT redacted"
                    ),
                    &[&key, &msgid],
                )
                .await
                .map_err(backend)?;
            Ok(r.map(|r| msg_from_row(&r, 0)))
        })
    }

    fn redact_history(&self, key: &str, msgid: &str) -> Result<bool> {
        let (pool, key, msgid) = (self.pool(), key.to_string(), msgid.to_string());
        self.block(async move {
            // The text and tags go; the row stays, marked, as the log's
            // scrubbed record does.
            let n = conn(&pool)
                .await?
                .execute(
                    "UPDATE history SET redacted = TRUE, text = '', tags = '' \
                     WHERE key = $1 AND msgid = $2 AND NOT redacted",
                    &[&key, &msgid],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }
}
