//! `heads.snap`: the log's in-memory heads as of one position in it, so
//! that a start reads only what came after (see `mod.rs`).
//!
//! ```text
//! "FHS1" covered:u64 next_id:u64 floor_ms:i64
//! nsegs:u32  { seg:u32 max_time:i64 records:u64 }*
//! nkeys:u64  { keylen:u16 key pos:u64 n:u64 time:i64 first:u64 nlevels:u8 level:u64* }*
//! crc:u32 (CRC-32 of everything before it)
//! ```
//!
//! Written to a temporary file, synced, then renamed over the old one: a
//! crash leaves the old snapshot or the new, never half of one.

use std::io::Write;
use std::path::Path;

use super::{io_err, pos, Head, SegInfo, State};
use crate::Result;

const MAGIC: &[u8; 4] = b"FHS1";

pub(super) struct Snap {
    pub covered: u64,
    next_id: u64,
    floor_ms: i64,
    segs: Vec<(u32, SegInfo)>,
    heads: Vec<(String, Head)>,
}

pub(super) fn write(dir: &Path, st: &State) -> Result<()> {
    let mut b = Vec::with_capacity(64 + st.heads.len() * 64);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&pos(st.active_seg, st.active_len).to_le_bytes());
    b.extend_from_slice(&st.next_id.to_le_bytes());
    b.extend_from_slice(&st.floor_ms.to_le_bytes());
    b.extend_from_slice(&(st.segs.len() as u32).to_le_bytes());
    for (s, i) in &st.segs {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&i.max_time.to_le_bytes());
        b.extend_from_slice(&i.records.to_le_bytes());
    }
    b.extend_from_slice(&(st.heads.len() as u64).to_le_bytes());
    for (k, h) in &st.heads {
        b.extend_from_slice(&(k.len() as u16).to_le_bytes());
        b.extend_from_slice(k.as_bytes());
        for v in [h.pos, h.n, h.time_ms as u64, h.first] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.push(h.levels.len() as u8);
        for l in &h.levels {
            b.extend_from_slice(&l.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("heads.snap.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err("snapshot", e))?;
    f.write_all(&b)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("snapshot", e))?;
    std::fs::rename(&tmp, dir.join("heads.snap")).map_err(|e| io_err("snapshot", e))?;
    Ok(())
}

/// The snapshot, if there is a whole one.
pub(super) fn read(dir: &Path) -> Option<Snap> {
    let b = std::fs::read(dir.join("heads.snap")).ok()?;
    let (body, crc) = b.split_at(b.len().checked_sub(4)?);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    parse(body.strip_prefix(MAGIC)?)
}

fn parse(mut r: &[u8]) -> Option<Snap> {
    fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if r.len() < n {
            return None;
        }
        let (a, rest) = r.split_at(n);
        *r = rest;
        Some(a)
    }
    fn u64_(r: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(r, 8)?.try_into().ok()?))
    }
    fn u32_(r: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(r, 4)?.try_into().ok()?))
    }
    let covered = u64_(&mut r)?;
    let next_id = u64_(&mut r)?;
    let floor_ms = u64_(&mut r)? as i64;
    let nsegs = u32_(&mut r)?;
    let mut segs = Vec::new();
    for _ in 0..nsegs {
        let s = u32_(&mut r)?;
        let max_time = u64_(&mut r)? as i64;
        let records = u64_(&mut r)?;
        segs.push((s, SegInfo { max_time, records }));
    }
    let nkeys = u64_(&mut r)?;
    let mut heads = Vec::new();
    for _ in 0..nkeys {
        let kl = u16::from_le_bytes(take(&mut r, 2)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(&mut r, kl)?.to_vec()).ok()?;
        let (p, n, t, first) = (u64_(&mut r)?, u64_(&mut r)?, u64_(&mut r)?, u64_(&mut r)?);
        let nl = *take(&mut r, 1)?.first()? as usize;
        let mut levels = Vec::with_capacity(nl);
        for _ in 0..nl {
            levels.push(u64_(&mut r)?);
        }
        heads.push((
            key,
            Head {
                pos: p,
                n,
                time_ms: t as i64,
                first,
                levels,
            },
        ));
    }
    r.is_empty().then_some(Snap {
        covered,
        next_id,
        floor_ms,
        segs,
        heads,
    })
}

/// Loads a snapshot into a fresh state; returns the position it covers.
pub(super) fn apply(st: &mut State, snap: Snap) -> u64 {
    st.next_id = snap.next_id;
    st.floor_ms = snap.floor_ms;
    for (s, i) in snap.segs {
        if st.files.contains_key(&s) {
            st.segs.insert(s, i);
        }
    }
    for (k, h) in snap.heads {
        let (at, t) = (h.pos, h.time_ms);
        st.add_key(&k, at, t);
        if let Some(slot) = st.heads.get_mut(&k) {
            *slot = h;
        }
    }
    snap.covered
}
