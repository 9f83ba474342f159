//! Reading history for a client: which store keys a target's history is
//! under, from when it may be seen, and a query over all of them.
//!
//! A channel renamed (RENAME) keeps its history: what was said under its
//! former names is read with what is said under the new one.

use ferry_store::{Bound, HistoryQuery, Store, StoredMessage};

use crate::ctx::Ctx;
use crate::history::{identity, my_identity};

/// What a client may read of one target's history.
#[derive(Debug, Clone)]
pub(crate) struct Readable {
    /// The key it is kept under now.
    pub key: String,
    /// The keys of its former names (a renamed channel), newest first.
    pub former: Vec<String>,
    /// A renamed channel's name now: what was said under a former name
    /// is shown addressed to it.
    pub name: String,
}

impl Readable {
    fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.former.iter().map(String::as_str))
    }
}

/// The history this client may read: a channel it is on, or its direct
/// conversation with a nick or account.
pub(crate) fn readable(cx: &Ctx<'_>, target: &str) -> Option<Readable> {
    let me = cx.me().clone();
    if target.starts_with('#') {
        let ch = cx.server.find_channel(target)?;
        let st = ch.lock();
        if !st.members.contains_key(&me.id) {
            return None;
        }
        return Some(Readable {
            key: ch.folded.clone(),
            former: st.former_keys.iter().rev().cloned().collect(),
            name: ch.name.clone(),
        });
    }
    let folded = cx.server.fold_nick(target)?;
    let other = match cx.server.find_nick(target) {
        Some(c) => identity(cx.server, &c),
        None if cx.server.registered_names.contains(&folded) => format!("a:{folded}"),
        None => format!("n:{folded}"),
    };
    Some(Readable {
        key: ferry_store::dm_key(&my_identity(cx.s)?, &other),
        former: Vec::new(),
        name: target.to_string(),
    })
}

/// The message `msgid` in this history, under whichever of its keys.
pub(crate) fn find(
    s: &dyn Store,
    r: &Readable,
    msgid: &str,
) -> ferry_store::Result<Option<(String, StoredMessage)>> {
    for k in r.keys() {
        if let Some(m) = s.find_history(k, msgid)? {
            return Ok(Some((k.to_string(), m)));
        }
    }
    Ok(None)
}

/// `query` over every key of `r`, nothing before `from_ms`, at most
/// `limit` messages, oldest first.
pub(crate) fn read(
    s: &dyn Store,
    r: &Readable,
    query: HistoryQuery,
    limit: usize,
    from_ms: i64,
) -> ferry_store::Result<Vec<StoredMessage>> {
    let from = from_ms;
    let mut query = query;
    if !r.former.is_empty() {
        // A msgid is under one key; as a time it bounds them all.
        let as_time = |b: Bound| -> ferry_store::Result<Option<Bound>> {
            Ok(match b {
                Bound::Msgid(id) => find(s, r, &id)?.map(|(_, m)| Bound::Time(m.time_ms)),
                b => Some(b),
            })
        };
        let q = match query {
            HistoryQuery::Latest(b) => match b {
                None => Some(HistoryQuery::Latest(None)),
                Some(b) => as_time(b)?.map(|b| HistoryQuery::Latest(Some(b))),
            },
            HistoryQuery::Before(b) => as_time(b)?.map(HistoryQuery::Before),
            HistoryQuery::After(b) => as_time(b)?.map(HistoryQuery::After),
            HistoryQuery::Around(b) => as_time(b)?.map(HistoryQuery::Around),
            HistoryQuery::Between(a, b) => match (as_time(a)?, as_time(b)?) {
                (Some(a), Some(b)) => Some(HistoryQuery::Between(a, b)),
                _ => None,
            },
        };
        let Some(q) = q else { return Ok(Vec::new()) };
        query = q;
    }
    let query = clamp(query, from);
    if r.former.is_empty() {
        let mut rows = s.history(&r.key, &query, limit)?;
        rows.retain(|m| m.time_ms >= from);
        return Ok(rows);
    }
    let mut rows = Vec::new();
    for k in r.keys() {
        rows.extend(s.history(k, &query, limit)?);
    }
    rows.retain(|m| m.time_ms >= from);
    rows.sort_by_key(|m| m.time_ms);
    let mut rows = select(rows, &query, limit);
    for m in &mut rows {
        m.target.clone_from(&r.name);
    }
    Ok(rows)
}

/// A lower time bound raised to `from` (nothing before it is read).
fn clamp(q: HistoryQuery, from: i64) -> HistoryQuery {
    match q {
        HistoryQuery::After(Bound::Time(t)) => HistoryQuery::After(Bound::Time(t.max(from))),
        HistoryQuery::Between(Bound::Time(a), Bound::Time(b)) if a <= b => {
            HistoryQuery::Between(Bound::Time(a.max(from)), Bound::Time(b))
        }
        q => q,
    }
}

/// Of the messages of several keys, merged by time, the `limit` the query
/// asks for: the newest (LATEST, BEFORE, BETWEEN backwards), the oldest
/// (AFTER, BETWEEN forwards), or those around its point (AROUND).
fn select(mut rows: Vec<StoredMessage>, q: &HistoryQuery, limit: usize) -> Vec<StoredMessage> {
    if rows.len() <= limit {
        return rows;
    }
    let (start, end) = match q {
        HistoryQuery::After(_) => (0, limit),
        HistoryQuery::Between(Bound::Time(a), Bound::Time(b)) if a <= b => (0, limit),
        HistoryQuery::Around(Bound::Time(t)) => {
            let pivot = rows.partition_point(|m| m.time_ms < *t);
            let start = pivot.saturating_sub(limit / 2).min(rows.len() - limit);
            (start, start + limit)
        }
        _ => (rows.len() - limit, rows.len()),
    };
    rows.truncate(end);
    rows.drain(..start);
    rows
}
