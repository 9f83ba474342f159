//! History in SQLite: one table for every conversation, indexed by key
//! and time, and by each party of a direct conversation.

use rusqlite::{params, Connection, OptionalExtension};

use super::{backend, msg_from_row, SqliteStore, MSG_COLS};
use crate::{dm_parties, Bound, HistoryQuery, HistoryStore, Result, StoredMessage};

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

impl HistoryStore for SqliteStore {
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
    use super::super::test_support::{msg, temp_store};
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
        assert_eq!(s.prune_history(500).unwrap(), 4);
    }

    #[test]
    fn msgid_bounds_within_one_millisecond() {
        let (_dir, s) = temp_store();
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
}
