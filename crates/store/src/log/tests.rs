//! The log against a model: every query answered as a plain filter over
//! all rows would answer it (the semantics the SQLite history had), on
//! random histories, across restarts, torn tails and pruning.

use proptest::prelude::*;

use super::*;
use crate::{dm_key, Bound, HistoryQuery, StoredMessage};

fn msg(key: &str, i: u64, t: i64) -> StoredMessage {
    StoredMessage {
        // ferry's own form: the time in the first 11 hex digits.
        msgid: format!("{t:011x}{:08x}{i:06x}", 0xabcdu32),
        time_ms: t,
        source: format!("u{i}!u@h"),
        account: i.is_multiple_of(3).then(|| format!("acct{i}")),
        command: "PRIVMSG".into(),
        target: key.trim_start_matches('@').into(),
        text: format!("message {i} 你好"),
        tags: if i.is_multiple_of(5) {
            "+x=y".into()
        } else {
            String::new()
        },
    }
}

/// All rows of one key in append order, with what the model needs.
struct Model {
    rows: Vec<(String, StoredMessage)>,
}

impl Model {
    fn of(&self, key: &str) -> Vec<&StoredMessage> {
        self.rows
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, m)| m)
            .collect()
    }

    /// The index of a bound's message in `v`; for a time, where it falls.
    fn idx(v: &[&StoredMessage], b: &Bound) -> Option<usize> {
        match b {
            Bound::Msgid(id) => v.iter().position(|m| &m.msgid == id),
            Bound::Time(_) => Some(0),
        }
    }

    fn after(v: &[&StoredMessage], b: &Bound, i: usize) -> bool {
        match b {
            Bound::Time(t) => v[i].time_ms > *t,
            Bound::Msgid(_) => i > Self::idx(v, b).expect("known"),
        }
    }

    fn before(v: &[&StoredMessage], b: &Bound, i: usize) -> bool {
        match b {
            Bound::Time(t) => v[i].time_ms < *t,
            Bound::Msgid(_) => i < Self::idx(v, b).expect("known"),
        }
    }

    fn query(&self, key: &str, q: &HistoryQuery, limit: usize) -> Vec<StoredMessage> {
        let v = self.of(key);
        let known = |b: &Bound| Self::idx(&v, b).is_some();
        let sel = |f: &dyn Fn(usize) -> bool, newest: bool, limit: usize| -> Vec<StoredMessage> {
            let mut idx: Vec<usize> = (0..v.len()).filter(|&i| f(i)).collect();
            if newest {
                let skip = idx.len().saturating_sub(limit);
                idx.drain(..skip);
            } else {
                idx.truncate(limit);
            }
            idx.into_iter().map(|i| v[i].clone()).collect()
        };
        match q {
            HistoryQuery::Latest(None) => sel(&|_| true, true, limit),
            HistoryQuery::Latest(Some(b)) if known(b) => {
                sel(&|i| Self::after(&v, b, i), true, limit)
            }
            HistoryQuery::Before(b) if known(b) => sel(&|i| Self::before(&v, b, i), true, limit),
            HistoryQuery::After(b) if known(b) => sel(&|i| Self::after(&v, b, i), false, limit),
            HistoryQuery::Around(b) if known(b) => {
                let mut out = sel(&|i| Self::before(&v, b, i), true, limit / 2);
                let rest = limit - out.len();
                out.extend(sel(&|i| !Self::before(&v, b, i), false, rest));
                out
            }
            HistoryQuery::Between(a, b) if known(a) && known(b) => {
                let (ia, ib) = (Self::lo(&v, a), Self::lo(&v, b));
                if ia <= ib {
                    sel(
                        &|i| Self::after(&v, a, i) && Self::before(&v, b, i),
                        false,
                        limit,
                    )
                } else {
                    sel(
                        &|i| Self::after(&v, b, i) && Self::before(&v, a, i),
                        true,
                        limit,
                    )
                }
            }
            _ => Vec::new(),
        }
    }

    /// Where a bound starts, in index space, for ordering two bounds.
    fn lo(v: &[&StoredMessage], b: &Bound) -> i64 {
        match b {
            Bound::Msgid(_) => Self::idx(v, b).expect("known") as i64 + 1,
            Bound::Time(t) => v.iter().filter(|m| m.time_ms <= *t).count() as i64,
        }
    }
}

/// Rows over a few keys with times that only go up (as the writer makes
/// them along each chain) and often share a millisecond.
fn history(steps: &[(u8, u8)]) -> Vec<(String, StoredMessage)> {
    let keys = ["#a".to_string(), "#b".to_string(), dm_key("x", "y")];
    let mut t = 1_700_000_000_000i64;
    steps
        .iter()
        .enumerate()
        .map(|(i, &(k, dt))| {
            t += i64::from(dt % 4);
            let key = keys[k as usize % keys.len()].clone();
            let m = msg(&key, i as u64, t);
            (key, m)
        })
        .collect()
}

fn queries(rows: &[(String, StoredMessage)], picks: &[u16]) -> Vec<(String, HistoryQuery, usize)> {
    let mut out = Vec::new();
    let keys = ["#a", "#b", "@x y", "#none"];
    for (j, &p) in picks.iter().enumerate() {
        let key = keys[p as usize % keys.len()].to_string();
        let pick = |q: u16| -> Bound {
            let r = &rows[(q as usize) % rows.len().max(1)];
            if q.is_multiple_of(3) {
                Bound::Time(r.1.time_ms + i64::from(q % 7) - 3)
            } else if q.is_multiple_of(11) {
                Bound::Msgid("nosuchmsgid".into())
            } else {
                Bound::Msgid(r.1.msgid.clone())
            }
        };
        let (a, b) = (
            pick(p.wrapping_mul(7)),
            pick(p.wrapping_mul(13).wrapping_add(1)),
        );
        let q = match j % 6 {
            0 => HistoryQuery::Latest(None),
            1 => HistoryQuery::Latest(Some(a)),
            2 => HistoryQuery::Before(a),
            3 => HistoryQuery::After(a),
            4 => HistoryQuery::Around(a),
            _ => HistoryQuery::Between(a, b),
        };
        out.push((key, q, 1 + (p as usize % 9)));
    }
    out
}

fn check(log: &HistoryLog, model: &Model, qs: &[(String, HistoryQuery, usize)]) {
    for (key, q, limit) in qs {
        let got = log.query(key, q, *limit);
        let want = model.query(key, q, *limit);
        assert_eq!(got, want, "{key} {q:?} limit {limit}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn queries_match_the_model(
        steps in proptest::collection::vec((0u8..3, 0u8..8), 1..300),
        picks in proptest::collection::vec(any::<u16>(), 1..60),
        split in 0usize..300,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rows = history(&steps);
        let model = Model { rows: rows.clone() };
        let qs = queries(&rows, &picks);
        let cut = split.min(rows.len());
        {
            let log = HistoryLog::open(dir.path()).unwrap();
            log.append(&rows[..cut]).unwrap();
            // Reopened halfway: from the snapshot written at close.
        }
        let log = HistoryLog::open(dir.path()).unwrap();
        log.append(&rows[cut..]).unwrap();
        check(&log, &model, &qs);
        drop(log);
        // Without a snapshot: everything from the segments.
        std::fs::remove_file(dir.path().join("heads.snap")).unwrap();
        let log = HistoryLog::open(dir.path()).unwrap();
        check(&log, &model, &qs);
    }
}

#[test]
fn long_chains_seek_by_time_and_msgid() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::open(dir.path()).unwrap();
    let rows: Vec<(String, StoredMessage)> = (0..5000u64)
        .map(|i| ("#big".to_string(), msg("#big", i, 1_000_000 + i as i64 / 3)))
        .collect();
    for chunk in rows.chunks(777) {
        log.append(chunk).unwrap();
    }
    let model = Model { rows: rows.clone() };
    for q in [
        HistoryQuery::Before(Bound::Msgid(rows[17].1.msgid.clone())),
        HistoryQuery::After(Bound::Msgid(rows[4000].1.msgid.clone())),
        HistoryQuery::After(Bound::Time(1_000_100)),
        HistoryQuery::Before(Bound::Time(1_000_001)),
        HistoryQuery::Around(Bound::Msgid(rows[2500].1.msgid.clone())),
        HistoryQuery::Between(Bound::Time(1_001_000), Bound::Time(1_000_500)),
        HistoryQuery::Latest(Some(Bound::Msgid(rows[4990].1.msgid.clone()))),
    ] {
        assert_eq!(
            log.query("#big", &q, 50),
            model.query("#big", &q, 50),
            "{q:?}"
        );
    }
}

#[test]
fn a_late_message_keeps_its_chain_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::open(dir.path()).unwrap();
    log.append(&[
        ("#a".into(), msg("#a", 1, 500)),
        ("#a".into(), msg("#a", 2, 499)),
    ])
    .unwrap();
    let got = log.query("#a", &HistoryQuery::Latest(None), 10);
    assert_eq!(
        got.iter().map(|m| m.time_ms).collect::<Vec<_>>(),
        [500, 500]
    );
}

#[test]
fn a_torn_tail_is_cut_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let rows = history(&[(0, 1), (1, 1), (0, 2), (2, 0), (0, 1)]);
    {
        let log = HistoryLog::open(dir.path()).unwrap();
        log.append(&rows[..4]).unwrap();
        // Killed before its snapshot: leak it.
        std::mem::forget(log);
    }
    let seg = seg_path(dir.path(), 0);
    let whole = std::fs::metadata(&seg).unwrap().len();
    // Half a record more, as a crash in the middle of a write leaves it.
    let mut extra = Vec::new();
    record::encode(&mut extra, "#a", &rows[4].1, 99, NONE, NONE, 0);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&extra[..extra.len() / 2]).unwrap();
    drop(f);
    let log = HistoryLog::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole);
    log.append(&rows[4..]).unwrap();
    let model = Model { rows: rows.clone() };
    for key in ["#a", "#b", "@x y"] {
        let q = HistoryQuery::Latest(None);
        assert_eq!(log.query(key, &q, 10), model.query(key, &q, 10), "{key}");
    }
}

#[test]
fn segments_roll_and_prune_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::open(dir.path()).unwrap();
    // Three segments' worth: 64 MiB each, records of ~4 KiB.
    let big = "x".repeat(4000);
    let mut n = 0u64;
    let mut t = 10_000i64;
    while n < 50_000 {
        let batch: Vec<(String, StoredMessage)> = (0..1000)
            .map(|_| {
                n += 1;
                t += 1;
                let mut m = msg("#a", n, t);
                m.text = big.clone();
                ("#a".to_string(), m)
            })
            .collect();
        log.append(&batch).unwrap();
    }
    let segs = list_segments(dir.path()).unwrap();
    assert!(segs.len() >= 3, "{segs:?}");
    let before = log.query("#a", &HistoryQuery::Latest(None), 5);
    // Everything up to the middle of the run is older than the cut.
    let cut = 10_000 + 25_000;
    let gone = log.prune(cut).unwrap();
    assert!(gone > 0);
    assert!(list_segments(dir.path()).unwrap().len() < segs.len());
    assert_eq!(log.query("#a", &HistoryQuery::Latest(None), 5), before);
    let old = log.query("#a", &HistoryQuery::Before(Bound::Time(cut + 10)), 100);
    assert!(old.iter().all(|m| m.time_ms >= cut), "pruned rows shown");
    assert_eq!(old.len(), 10);
    // A restart keeps the pruned state.
    drop(log);
    let log = HistoryLog::open(dir.path()).unwrap();
    assert_eq!(log.query("#a", &HistoryQuery::Latest(None), 5), before);
    assert_eq!(
        log.query("#a", &HistoryQuery::Before(Bound::Time(cut + 10)), 100)
            .len(),
        10
    );
    assert_eq!(log.keys(), 1);
}

#[test]
fn targets_are_the_conversations_with_a_message_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::open(dir.path()).unwrap();
    let xy = dm_key("x", "y");
    let xz = dm_key("z", "x");
    log.append(&[
        (xy.clone(), msg(&xy, 1, 100)),
        (xz.clone(), msg(&xz, 2, 200)),
        ("#c".into(), msg("#c", 3, 300)),
        (dm_key("y", "z"), msg("@y z", 4, 400)),
    ])
    .unwrap();
    let t = log.targets(&["#c".into(), "#none".into()], "x", 0, 1000, 10);
    assert_eq!(
        t,
        vec![(xy.clone(), 100), (xz.clone(), 200), ("#c".into(), 300)]
    );
    assert_eq!(log.targets(&[], "x", 100, 1000, 10), vec![(xz, 200)]);
    assert_eq!(log.targets(&[], "x", 0, 1000, 1), vec![(xy, 100)]);
}

#[test]
fn a_redacted_message_is_gone_from_queries_and_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = HistoryLog::open(dir.path()).unwrap();
    let rows: Vec<(String, StoredMessage)> = (0..40u64)
        .map(|i| ("#r".to_string(), msg("#r", i, 2_000_000 + i as i64)))
        .collect();
    log.append(&rows).unwrap();
    let victim = rows[17].1.clone();
    assert_eq!(log.find("#r", &victim.msgid), Some(victim.clone()));
    assert!(!log.redact("#r", "nonexistent").unwrap());
    assert!(!log.redact("#other", &victim.msgid).unwrap());
    assert!(log.redact("#r", &victim.msgid).unwrap());
    assert!(!log.redact("#r", &victim.msgid).unwrap(), "twice");
    assert_eq!(log.find("#r", &victim.msgid), None);
    let model = Model {
        rows: rows
            .iter()
            .filter(|(_, m)| m.msgid != victim.msgid)
            .cloned()
            .collect(),
    };
    let qs = [
        HistoryQuery::Latest(None),
        HistoryQuery::Around(Bound::Msgid(rows[18].1.msgid.clone())),
        HistoryQuery::After(Bound::Msgid(rows[10].1.msgid.clone())),
        HistoryQuery::Before(Bound::Time(2_000_030)),
    ];
    for q in &qs {
        assert_eq!(log.query("#r", q, 100), model.query("#r", q, 100), "{q:?}");
    }
    // The chain still seeks past it, and a bound on it still works.
    let after = log.query(
        "#r",
        &HistoryQuery::After(Bound::Msgid(victim.msgid.clone())),
        3,
    );
    assert_eq!(
        after,
        vec![rows[18].1.clone(), rows[19].1.clone(), rows[20].1.clone()]
    );
    // Its words are not on the disk any more.
    drop(log);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let needle = victim.text.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }
    // And after a restart it stays redacted (and the rest is whole).
    let log = HistoryLog::open(dir.path()).unwrap();
    for q in &qs {
        assert_eq!(log.query("#r", q, 100), model.query("#r", q, 100), "{q:?}");
    }
}
