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
}

impl Default for RawFlood {
    fn default() -> Self {
        RawFlood {
            lines_per_second: 2.0,
            burst: 20,
            recvq_bytes: 8192,
            target_changes: 20,
            target_change_secs: 30,
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
}

pub(super) fn validate(f: RawFlood, src: &Source<'_>) -> Result<Flood, ConfigError> {
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
    })
}
