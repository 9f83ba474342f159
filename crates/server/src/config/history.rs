//! `[history]`: how long messages are kept, how many one query returns,
//! and how long a sender may take a message back.

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawHistory {
    retention_days: u64,
    max_query: usize,
    redact_window_secs: u64,
    replay_missed: usize,
}

impl Default for RawHistory {
    fn default() -> Self {
        RawHistory {
            retention_days: 30,
            max_query: 1000,
            redact_window_secs: 900,
            replay_missed: 100,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub retention_days: u64,
    /// Most messages one CHATHISTORY reply carries.
    pub max_query: usize,
    /// How long after sending a message its sender may redact it (REDACT);
    /// channel and IRC operators may at any time.
    pub redact_window: std::time::Duration,
    /// Messages of each registered channel an account is on the access
    /// list of that are replayed at its login, from those it missed since
    /// its last connection ended (to clients without draft/chathistory;
    /// 0: none).
    pub replay_missed: usize,
}

pub(super) fn validate(h: RawHistory, src: &Source<'_>) -> Result<HistoryConfig, ConfigError> {
    if h.max_query == 0 {
        return Err(src.invalid("history.max_query", "must be at least 1".into()));
    }
    Ok(HistoryConfig {
        retention_days: h.retention_days,
        max_query: h.max_query,
        redact_window: std::time::Duration::from_secs(h.redact_window_secs),
        replay_missed: h.replay_missed,
    })
}
