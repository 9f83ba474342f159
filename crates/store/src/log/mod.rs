//! History as an append-only log: segment files written sequentially, one
//! chain of records per conversation, and a small in-memory head per
//! conversation.
//!
//! Hand-written because history is on the relay's hot path: every relayed
//! message is a row, and in SQLite each row was a B-tree insert into the
//! table and four indexes (~7 µs of CPU per message, a third of the
//! server's whole cost at 40,000 DMs/s, and more than one core can give at
//! 100,000/s). Here a row is ~100 bytes appended to a buffer, and a batch
//! is one `write` and one `fdatasync`.
//!
//! # Layout
//! `history/<n>.seg`: segments of at most [`SEGMENT_MAX`] bytes, records
//! back to back (`record.rs`). Each record points at its conversation's
//! previous record (`prev`) and at record `n & (n-1)` of it (`jump`, a
//! Fenwick-style skip pointer), so a conversation is a chain from its
//! newest record back, which a query walks or seeks in O(log² n) reads by
//! index or by time. Times along a chain never decrease (the writer
//! clamps a message that arrives a millisecond late to its predecessor's
//! time), so a time seek is exact.
//!
//! In memory, per conversation: the newest record's position, index and
//! time, and the positions a new record's `jump` can point at (one per
//! power of two below its count). A direct conversation's key names both
//! parties, so `parties` finds the conversations one person is in.
//!
//! `history/heads.snap` is those heads as of a position in the log,
//! written when a segment is full and when the log closes; at start the
//! log loads it and reads only what was written after it (at most one
//! segment after a crash), checking every record's CRC, and cuts a torn
//! last record off.
//!
//! # Durability
//! A batch is written and `fdatasync`ed before [`HistoryLog::append`]
//! returns; the server appends once a second (docs/DURABILITY.md).
//!
//! # Retention
//! [`HistoryLog::prune`] deletes whole segments whose newest record is
//! older than the cut-off, and hides older records of the segments it
//! keeps.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::warn;

use crate::{dm_parties, HistoryQuery, Result, StoreError, StoredMessage};

mod read;
mod record;
mod snapshot;

use record::{Header, NONE};

/// A segment is closed once it is this long.
const SEGMENT_MAX: u64 = 64 << 20;
/// A legacy msgid (no time in it) is looked for among this many of a
/// conversation's newest records.
const LEGACY_MSGID_REACH: usize = 20_000;
/// How far, in ms, a msgid's own time may be from its message's time.
const MSGID_SLACK_MS: i64 = 5;

fn io_err(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("history log: {what}: {e}"))
}

fn pos(seg: u32, off: u64) -> u64 {
    (u64::from(seg) << 32) | off
}

/// A conversation's newest record and the targets of the next `jump`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    pos: u64,
    n: u64,
    time_ms: i64,
    /// Position of record 0.
    first: u64,
    /// `levels[k]`: the newest record whose index is a multiple of 2^k
    /// (record 0 where the vector is shorter).
    levels: Vec<u64>,
}

impl Head {
    fn level(&self, k: usize) -> u64 {
        self.levels.get(k).copied().unwrap_or(self.first)
    }

    /// Where record `n` (the next one) must jump to: record n & (n-1).
    fn jump_for(&self, n: u64) -> u64 {
        if n == 0 {
            NONE
        } else {
            self.level(n.trailing_zeros() as usize + 1)
        }
    }

    /// Takes record `n` at `at` as the newest.
    fn advance(&mut self, n: u64, at: u64, time_ms: i64) {
        if n == 0 {
            self.first = at;
            self.levels.clear();
        } else {
            let upto = n.trailing_zeros() as usize;
            if self.levels.len() <= upto {
                let first = self.first;
                self.levels.resize(upto + 1, first);
            }
            for l in &mut self.levels[..=upto] {
                *l = at;
            }
        }
        self.pos = at;
        self.n = n;
        self.time_ms = time_ms;
    }

    fn new_at(at: u64, time_ms: i64) -> Head {
        Head {
            pos: at,
            n: 0,
            time_ms,
            first: at,
            levels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SegInfo {
    max_time: i64,
    records: u64,
}

struct State {
    heads: HashMap<String, Head>,
    /// Party → the direct conversations it is in.
    parties: HashMap<String, Vec<String>>,
    segs: BTreeMap<u32, SegInfo>,
    files: HashMap<u32, File>,
    active: File,
    active_seg: u32,
    active_len: u64,
    next_id: u64,
    /// Records older than this are pruned (hidden where not deleted).
    floor_ms: i64,
    buf: Vec<u8>,
}

pub(crate) struct HistoryLog {
    dir: PathBuf,
    state: Mutex<State>,
}

fn seg_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{seg:08}.seg"))
}

fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io_err("list", e))? {
        let e = e.map_err(|e| io_err("list", e))?;
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        if let Ok(n) = stem.parse::<u32>() {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

impl State {
    fn add_key(&mut self, key: &str, at: u64, time_ms: i64) {
        self.heads
            .insert(key.to_string(), Head::new_at(at, time_ms));
        if let Some((a, b)) = dm_parties(key) {
            for p in [a, b] {
                self.parties
                    .entry(p.to_string())
                    .or_default()
                    .push(key.to_string());
            }
        }
    }

    /// Takes a record found in the log (at start) into the heads.
    fn replay(&mut self, key: String, h: &Header, at: u64) {
        let seg = (at >> 32) as u32;
        let info = self.segs.entry(seg).or_default();
        info.max_time = info.max_time.max(h.time_ms);
        info.records += 1;
        self.next_id = self.next_id.max(h.id + 1);
        match self.heads.get_mut(&key) {
            Some(head) => head.advance(h.n, at, h.time_ms),
            None => {
                self.add_key(&key, at, h.time_ms);
                if h.n != 0 {
                    // Its start was pruned: only the newest is known.
                    if let Some(head) = self.heads.get_mut(&key) {
                        head.n = h.n;
                    }
                }
            }
        }
    }

    /// Closes the active segment and starts the next one.
    fn roll(&mut self, dir: &Path) -> Result<()> {
        self.active.sync_data().map_err(|e| io_err("sync", e))?;
        let seg = self.active_seg + 1;
        let (w, r) = open_segment(dir, seg)?;
        self.active = w;
        self.files.insert(seg, r);
        self.segs.insert(seg, SegInfo::default());
        self.active_seg = seg;
        self.active_len = 0;
        snapshot::write(dir, self)?;
        Ok(())
    }
}

/// The time a msgid of ferry's carries: its first 11 hex digits, in
/// msgids of 25 characters or more (older ones, 24 at most, carry none).
fn msgid_time(msgid: &str) -> Option<i64> {
    if msgid.len() < 25 {
        return None;
    }
    i64::from_str_radix(msgid.get(..11)?, 16).ok()
}

/// A segment for appending, and one for reading.
fn open_segment(dir: &Path, seg: u32) -> Result<(File, File)> {
    let path = seg_path(dir, seg);
    let w = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err("open segment", e))?;
    let r = File::open(&path).map_err(|e| io_err("open segment", e))?;
    Ok((w, r))
}

impl HistoryLog {
    /// Opens (or creates) the log in `dir`, recovering what a crash left.
    pub(crate) fn open(dir: &Path) -> Result<HistoryLog> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", e))?;
        let segments = list_segments(dir)?;
        let snap = snapshot::read(dir);
        let last = segments.last().copied().unwrap_or(0);
        let (w, r) = open_segment(dir, last)?;
        let mut st = State {
            heads: HashMap::new(),
            parties: HashMap::new(),
            segs: BTreeMap::new(),
            files: HashMap::new(),
            active: w,
            active_seg: last,
            active_len: 0,
            next_id: 0,
            floor_ms: i64::MIN,
            buf: Vec::new(),
        };
        st.files.insert(last, r);
        for &s in &segments {
            if s != last {
                let f = File::open(seg_path(dir, s)).map_err(|e| io_err("open segment", e))?;
                st.files.insert(s, f);
            }
        }
        let from = match snap {
            Some(snap)
                if segments.contains(&((snap.covered >> 32) as u32)) || segments.is_empty() =>
            {
                snapshot::apply(&mut st, snap)
            }
            _ => 0,
        };
        let from_seg = (from >> 32) as u32;
        for &s in segments.iter().filter(|&&s| s >= from_seg) {
            let start = if s == from_seg { from & 0xFFFF_FFFF } else { 0 };
            scan(dir, &mut st, s, start, s == last)?;
        }
        st.segs.entry(last).or_default();
        st.active_len = st.active.metadata().map_err(|e| io_err("stat", e))?.len();
        Ok(HistoryLog {
            dir: dir.to_path_buf(),
            state: Mutex::new(st),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends messages (in order) and syncs them to disk.
    pub(crate) fn append(&self, rows: &[(String, StoredMessage)]) -> Result<()> {
        let mut st = self.lock();
        let mut buf = std::mem::take(&mut st.buf);
        buf.clear();
        let mut base = st.active_len;
        for (key, m) in rows {
            if base + buf.len() as u64 >= SEGMENT_MAX {
                st.active.write_all(&buf).map_err(|e| io_err("write", e))?;
                buf.clear();
                st.roll(&self.dir)?;
                base = 0;
            }
            let at = pos(st.active_seg, base + buf.len() as u64);
            let id = st.next_id;
            st.next_id += 1;
            let (n, prev, jump, time_ms) = match st.heads.get(key.as_str()) {
                Some(h) => (
                    h.n + 1,
                    h.pos,
                    h.jump_for(h.n + 1),
                    m.time_ms.max(h.time_ms),
                ),
                None => (0, NONE, NONE, m.time_ms),
            };
            if time_ms == m.time_ms {
                record::encode(&mut buf, key, m, id, prev, jump, n);
            } else {
                let m = StoredMessage {
                    time_ms,
                    ..m.clone()
                };
                record::encode(&mut buf, key, &m, id, prev, jump, n);
            }
            match st.heads.get_mut(key.as_str()) {
                Some(h) => h.advance(n, at, time_ms),
                None => st.add_key(key, at, time_ms),
            }
            let seg = st.active_seg;
            let info = st.segs.entry(seg).or_default();
            info.max_time = info.max_time.max(time_ms);
            info.records += 1;
            st.active_len = base + buf.len() as u64;
        }
        let res = st
            .active
            .write_all(&buf)
            .and_then(|()| st.active.sync_data())
            .map_err(|e| io_err("write", e));
        st.buf = buf;
        res
    }

    /// The message `msgid` of conversation `key`, unless it was redacted.
    pub(crate) fn find(&self, key: &str, msgid: &str) -> Option<StoredMessage> {
        let st = self.lock();
        let at = st.locate(key, msgid)?;
        st.record(at)
            .map(|(_, m)| m)
            .filter(|m| !record::is_redacted(m))
    }

    /// Redacts the message `msgid` of `key`: its record is rewritten in
    /// place, the same length, with its text and tags zeroed and its
    /// command marked (`record::scrub`), and synced. Queries skip it from
    /// then on, and its words are gone from the disk (not only hidden).
    /// False when there is no such message (or it was redacted already).
    pub(crate) fn redact(&self, key: &str, msgid: &str) -> Result<bool> {
        let st = self.lock();
        let Some(at) = st.locate(key, msgid) else {
            return Ok(false);
        };
        let Some((h, k, m)) = st.record_with_key(at) else {
            return Ok(false);
        };
        if record::is_redacted(&m) {
            return Ok(false);
        }
        let mut b = Vec::with_capacity(h.len as usize);
        record::encode(&mut b, &k, &record::scrub(m), h.id, h.prev, h.jump, h.n);
        if b.len() != h.len as usize {
            return Err(StoreError::Backend(
                "history log: a redacted record changed length".into(),
            ));
        }
        // A handle of its own: the active segment's writer appends.
        let f = OpenOptions::new()
            .write(true)
            .open(seg_path(&self.dir, (at >> 32) as u32))
            .map_err(|e| io_err("open segment", e))?;
        f.write_all_at(&b, at & 0xFFFF_FFFF)
            .and_then(|()| f.sync_data())
            .map_err(|e| io_err("redact", e))?;
        Ok(true)
    }

    pub(crate) fn query(&self, key: &str, q: &HistoryQuery, limit: usize) -> Vec<StoredMessage> {
        self.lock().query(key, q, limit)
    }

    /// See [`crate::HistoryStore::history_targets`].
    pub(crate) fn targets(
        &self,
        channels: &[String],
        party: &str,
        lo: i64,
        hi: i64,
        limit: usize,
    ) -> Vec<(String, i64)> {
        let st = self.lock();
        let mut out: Vec<(String, i64)> = Vec::new();
        let inside = |t: i64| t > lo && t < hi && t >= st.floor_ms;
        for key in st.parties.get(party).into_iter().flatten() {
            if let Some(h) = st.heads.get(key).filter(|h| inside(h.time_ms)) {
                out.push((key.clone(), h.time_ms));
            }
        }
        for ch in channels {
            if let Some(h) = st.heads.get(ch).filter(|h| inside(h.time_ms)) {
                out.push((ch.clone(), h.time_ms));
            }
        }
        out.sort_by_key(|(_, t)| *t);
        out.truncate(limit);
        out
    }

    /// Forgets history older than `before_ms`: deletes the segments
    /// wholly older, hides the older records of the others. Returns how
    /// many records the deleted segments held.
    pub(crate) fn prune(&self, before_ms: i64) -> Result<usize> {
        let mut st = self.lock();
        st.floor_ms = st.floor_ms.max(before_ms);
        let old: Vec<u32> = st
            .segs
            .iter()
            .filter(|(&s, i)| s != st.active_seg && i.max_time < before_ms)
            .map(|(&s, _)| s)
            .collect();
        let mut gone = 0u64;
        for s in old {
            if let Err(e) = std::fs::remove_file(seg_path(&self.dir, s)) {
                warn!(segment = s, error = %e, "history log: could not delete a segment");
                continue;
            }
            st.files.remove(&s);
            gone += st.segs.remove(&s).map_or(0, |i| i.records);
        }
        let floor = st.floor_ms;
        let expired: Vec<String> = st
            .heads
            .iter()
            .filter(|(_, h)| h.time_ms < floor)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            st.heads.remove(&k);
            if let Some((a, b)) = dm_parties(&k) {
                for p in [a, b] {
                    if let Some(v) = st.parties.get_mut(p) {
                        v.retain(|x| x != &k);
                        if v.is_empty() {
                            st.parties.remove(p);
                        }
                    }
                }
            }
        }
        snapshot::write(&self.dir, &st)?;
        Ok(gone as usize)
    }

    /// Records ever appended (ids given out so far).
    pub(crate) fn records(&self) -> u64 {
        self.lock().next_id
    }

    /// Conversations known (for tests and migration checks).
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().heads.len()
    }

    /// The key of every conversation the log holds (`ferry store migrate`).
    pub(crate) fn all_keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.lock().heads.keys().cloned().collect();
        k.sort();
        k
    }
}

impl Drop for HistoryLog {
    fn drop(&mut self) {
        let st = self.lock();
        if let Err(e) = snapshot::write(&self.dir, &st) {
            warn!(error = %e, "history log: could not write its snapshot");
        }
    }
}

/// Reads segment `seg` from `start`, taking every whole record into the
/// heads; in the last segment a damaged record and what follows are cut
/// off (a write torn by a crash), elsewhere skipped with a warning.
fn scan(dir: &Path, st: &mut State, seg: u32, start: u64, last: bool) -> Result<()> {
    let path = seg_path(dir, seg);
    let mut f = File::open(&path).map_err(|e| io_err("open segment", e))?;
    let mut b = Vec::new();
    f.read_to_end(&mut b)
        .map_err(|e| io_err("read segment", e))?;
    st.segs.entry(seg).or_default();
    let mut off = start as usize;
    while off < b.len() {
        let ok = record::Header::parse(&b[off..]).filter(|h| {
            let end = off + h.len as usize;
            end <= b.len() && crc32fast::hash(&b[off + 8..end]) == h.crc
        });
        let Some(h) = ok else { break };
        let Some(key) = record::key_of(&b[off..off + h.len as usize]) else {
            break;
        };
        st.replay(key, &h, pos(seg, off as u64));
        off += h.len as usize;
    }
    if off < b.len() {
        if last {
            warn!(
                segment = seg,
                at = off,
                "history log: cutting off a torn record"
            );
            let w = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_err("open segment", e))?;
            w.set_len(off as u64).map_err(|e| io_err("truncate", e))?;
            w.sync_all().map_err(|e| io_err("sync", e))?;
        } else {
            warn!(
                segment = seg,
                at = off,
                "history log: a damaged record; the rest of the segment is skipped"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
