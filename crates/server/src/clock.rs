//! The server's time: one [`Clock`], owned by `Server` (`server.clock`),
//! that everything asks instead of calling `Instant::now()` or
//! `SystemTime::now()` itself, so that a test can later put a paused or
//! offset clock in its place.
//!
//! Timers that sleep (the fake-lag wait, parking after idleness, history's
//! flush) run on tokio's own clock, which a test can pause
//! (`tokio::time::pause`); what they compare against comes from here. The
//! line processor (`net::Lines`) takes `now` as a parameter, so the
//! fuzzer runs flood control on a clock of its own.
//!
//! It is on the message path (every event is stamped), so it stays a thin,
//! `Copy` wrapper over the system clocks: no lock, no allocation, no
//! indirection.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Monotonic time for timers and rates, wall time for what users see and
/// what is stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    _system: (),
}

impl Clock {
    /// The system's clocks.
    pub const fn system() -> Clock {
        Clock { _system: () }
    }

    /// Monotonic: for timers, windows and rates.
    #[inline]
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Wall time.
    #[inline]
    pub fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    /// Wall time in milliseconds since the Unix epoch (0 before it).
    #[inline]
    pub fn unix_ms(&self) -> i64 {
        since_epoch(self.wall()).as_millis() as i64
    }

    /// Wall time in whole seconds since the Unix epoch.
    #[inline]
    pub fn unix_secs(&self) -> u64 {
        since_epoch(self.wall()).as_secs()
    }
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_units_agree() {
        let c = Clock::system();
        let (s, ms) = (c.unix_secs(), c.unix_ms());
        assert!(ms >= 0 && (ms as u64) / 1000 >= s, "{s} {ms}");
        assert!(c.now() <= c.now());
    }
}
