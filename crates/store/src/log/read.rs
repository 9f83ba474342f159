//! Reading the log: a record at a position, a chain walked or sought by
//! index, time or msgid, and the CHATHISTORY queries over it.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::record::{self, Header, HEADER, NONE};
use super::{msgid_time, Head, State, LEGACY_MSGID_REACH, MSGID_SLACK_MS};
use crate::{Bound, HistoryQuery, StoredMessage};

impl State {
    pub(super) fn header(&self, at: u64) -> Option<Header> {
        let f = self.files.get(&((at >> 32) as u32))?;
        let mut b = [0u8; HEADER];
        f.read_exact_at(&mut b, at & 0xFFFF_FFFF).ok()?;
        Header::parse(&b)
    }

    pub(super) fn record(&self, at: u64) -> Option<(Header, StoredMessage)> {
        self.record_with_key(at).map(|(h, _, m)| (h, m))
    }

    pub(super) fn record_with_key(&self, at: u64) -> Option<(Header, String, StoredMessage)> {
        let f = self.files.get(&((at >> 32) as u32))?;
        let mut b = vec![0u8; 512];
        let off = at & 0xFFFF_FFFF;
        let got = read_some_at(f, &mut b, off)?;
        let h = Header::parse(&b[..got])?;
        let len = h.len as usize;
        if len > got {
            b.resize(len, 0);
            f.read_exact_at(&mut b[got..], off + got as u64).ok()?;
        }
        record::decode(&b[..len])
    }

    /// The position of the live (not redacted) record with `msgid` in
    /// `key`'s chain.
    pub(super) fn locate(&self, key: &str, msgid: &str) -> Option<u64> {
        let head = self.heads.get(key)?;
        let n = self.find_msgid(head, msgid)?;
        self.seek_index(head, n)
    }

    /// The position of record `target` of the chain that `head` ends.
    pub(super) fn seek_index(&self, head: &Head, target: u64) -> Option<u64> {
        let (mut at, mut n) = (head.pos, head.n);
        while n > target {
            let h = self.header(at).filter(|h| h.n == n)?;
            let m = n & (n - 1);
            if h.jump != NONE && m >= target {
                at = h.jump;
                n = m;
            } else if h.prev != NONE {
                at = h.prev;
                n -= 1;
            } else {
                return None;
            }
        }
        self.header(at).filter(|h| h.n == n).map(|_| at)
    }

    /// The newest record of the chain with a time below `t` (strictly):
    /// its index and position. None when every record is at `t` or later
    /// (or the chain's older part is gone).
    pub(super) fn seek_time_below(&self, head: &Head, t: i64) -> Option<(u64, u64)> {
        if head.time_ms < t {
            return Some((head.n, head.pos));
        }
        let (mut at, mut n) = (head.pos, head.n);
        loop {
            // A record that is not the one expected (a chain whose start
            // was pruned before a restart) ends the seek.
            let h = self.header(at).filter(|h| h.n == n)?;
            if h.time_ms < t {
                return Some((n, at));
            }
            if n == 0 {
                return None;
            }
            let m = n & (n - 1);
            if h.jump != NONE && m < n - 1 {
                let j = self.header(h.jump).filter(|j| j.n == m);
                if j.is_some_and(|j| j.time_ms >= t) {
                    at = h.jump;
                    n = m;
                    continue;
                }
            }
            if h.prev == NONE {
                return None;
            }
            at = h.prev;
            n -= 1;
        }
    }

    /// The index of the record with `msgid` in the chain.
    pub(super) fn find_msgid(&self, head: &Head, msgid: &str) -> Option<u64> {
        let (mut at, mut n, reach, stop_below) = match msgid_time(msgid) {
            Some(t) => {
                let (n, at) = self.seek_time_below(head, t + MSGID_SLACK_MS + 1)?;
                (at, n, usize::MAX, t - MSGID_SLACK_MS)
            }
            None => (head.pos, head.n, LEGACY_MSGID_REACH, i64::MIN),
        };
        for _ in 0..reach {
            let (h, m) = self.record(at).filter(|(h, _)| h.n == n)?;
            if m.time_ms < stop_below || m.time_ms < self.floor_ms {
                return None;
            }
            if m.msgid == msgid {
                return Some(n);
            }
            if h.prev == NONE || n == 0 {
                return None;
            }
            at = h.prev;
            n -= 1;
        }
        None
    }

    /// Index of the first record after a bound (exclusive lower end).
    pub(super) fn lower(&self, head: &Head, b: &Bound) -> Option<i64> {
        match b {
            Bound::Time(t) => Some(match self.seek_time_below(head, t.saturating_add(1)) {
                Some((n, _)) => n as i64 + 1,
                None => 0,
            }),
            Bound::Msgid(id) => self.find_msgid(head, id).map(|n| n as i64 + 1),
        }
    }

    /// Index of the last record before a bound (exclusive upper end).
    pub(super) fn upper(&self, head: &Head, b: &Bound) -> Option<i64> {
        match b {
            Bound::Time(t) => Some(match self.seek_time_below(head, *t) {
                Some((n, _)) => n as i64,
                None => -1,
            }),
            Bound::Msgid(id) => self.find_msgid(head, id).map(|n| n as i64 - 1),
        }
    }

    /// Records `lo..=hi` of the chain, ascending: the newest `limit` of
    /// them when `newest`, else the oldest.
    pub(super) fn range(
        &self,
        head: &Head,
        lo: i64,
        hi: i64,
        newest: bool,
        limit: usize,
    ) -> Vec<StoredMessage> {
        let (lo, hi) = (lo.max(0), hi.min(head.n as i64));
        if limit == 0 || lo > hi {
            return Vec::new();
        }
        let end = if newest {
            hi
        } else {
            hi.min(lo + limit as i64 - 1)
        };
        let Some(mut at) = self.seek_index(head, end as u64) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut n = end;
        while n >= lo && out.len() < limit {
            let Some((h, m)) = self.record(at) else { break };
            if h.n != n as u64 || m.time_ms < self.floor_ms {
                break;
            }
            if !record::is_redacted(&m) {
                out.push(m);
            }
            if h.prev == NONE {
                break;
            }
            at = h.prev;
            n -= 1;
        }
        out.reverse();
        out
    }

    pub(super) fn query(&self, key: &str, q: &HistoryQuery, limit: usize) -> Vec<StoredMessage> {
        let Some(head) = self.heads.get(key) else {
            return Vec::new();
        };
        let top = head.n as i64;
        let lower = |b| self.lower(head, b);
        let upper = |b| self.upper(head, b);
        match q {
            HistoryQuery::Latest(None) => self.range(head, 0, top, true, limit),
            HistoryQuery::Latest(Some(b)) => match lower(b) {
                Some(lo) => self.range(head, lo, top, true, limit),
                None => Vec::new(),
            },
            HistoryQuery::Before(b) => match upper(b) {
                Some(hi) => self.range(head, 0, hi, true, limit),
                None => Vec::new(),
            },
            HistoryQuery::After(b) => match lower(b) {
                Some(lo) => self.range(head, lo, top, false, limit),
                None => Vec::new(),
            },
            HistoryQuery::Around(b) => {
                // Before the bound, then the bound's own message (or
                // millisecond) and on.
                let Some(hi) = upper(b) else {
                    return Vec::new();
                };
                let mut out = self.range(head, 0, hi, true, limit / 2);
                let rest = limit - out.len();
                out.extend(self.range(head, hi + 1, top, false, rest));
                out
            }
            HistoryQuery::Between(a, b) => {
                let (Some(la), Some(ua), Some(lb), Some(ub)) =
                    (lower(a), upper(a), lower(b), upper(b))
                else {
                    return Vec::new();
                };
                if la <= lb {
                    self.range(head, la, ub, false, limit)
                } else {
                    self.range(head, lb, ua, true, limit)
                }
            }
        }
    }
}

/// Reads what is there at `off`, up to `b.len()` bytes.
fn read_some_at(f: &File, b: &mut [u8], off: u64) -> Option<usize> {
    let mut got = 0;
    while got < b.len() {
        match f.read_at(&mut b[got..], off + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(got)
}
