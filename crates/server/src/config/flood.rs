//! `[flood]`: receive flood control and the target-change limit.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawFlood {
    lines_per_second: f64,
    burst: u32,
    recvq_bytes: usize,
    target_changes: u32,
    target_change_secs: u64,
    write_hold_max_ms: u64,
    write_hold_above_cpu: f64,
}

impl Default for RawFlood {
    fn default() -> Self {
        RawFlood {
            lines_per_second: 2.0,
            burst: 20,
            recvq_bytes: 8192,
            target_changes: 20,
            target_change_secs: 30,
            write_hold_max_ms: 0,
            write_hold_above_cpu: 0.85,
        }
    }
}

/// Receive flood control: a token bucket per client.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Lines per second once the burst is spent (0: no flood control).
    pub lines_per_second: f64,
    pub burst: u32,
    /// Bytes a throttled client may have waiting before `Excess Flood`.
    pub recvq_bytes: usize,
    /// New private-message targets a client may start at once (0: no
    /// limit), and how often it gets one more (target-change limit).
    pub target_changes: u32,
    pub target_change_every: Duration,
    /// While the process uses more than `write_hold_above_cpu` of its
    /// cores, lines others queue for a client are held up to this long
    /// so that one write carries several (0, the default: never hold).
    pub write_hold_max_ms: u64,
    pub write_hold_above_cpu: f64,
}

pub(super) fn validate(f: RawFlood, src: &Source<'_>) -> Result<Flood, ConfigError> {
    if !(0.0..=1000.0).contains(&f.write_hold_above_cpu) || f.write_hold_max_ms > 1000 {
        return Err(src.invalid(
            "flood.write_hold_max_ms",
            "flood needs write_hold_max_ms <= 1000 and write_hold_above_cpu >= 0".into(),
        ));
    }
    if f.lines_per_second < 0.0 || f.burst == 0 || f.recvq_bytes < 1024 {
        return Err(src.invalid(
            "flood.recvq_bytes",
            "flood needs lines_per_second >= 0, burst >= 1 and recvq_bytes >= 1024".into(),
        ));
    }
    Ok(Flood {
        lines_per_second: f.lines_per_second,
        burst: f.burst,
        recvq_bytes: f.recvq_bytes,
        target_changes: f.target_changes,
        target_change_every: Duration::from_secs(f.target_change_secs.max(1)),
        write_hold_max_ms: f.write_hold_max_ms,
        write_hold_above_cpu: f.write_hold_above_cpu,
    })
}
