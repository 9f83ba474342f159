//! The open-loop timetable: message `n` is due `n / rate` seconds after the
//! start, whatever became of the messages before it. Nothing here waits
//! for a delivery, so a slow server shows as latency and loss, never as a
//! lower offered rate.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// `total` events at `rate` per second.
    pub(crate) fn new(rate: f64, total: u64) -> Schedule {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        Schedule { rate, total }
    }

    /// As many events as `rate` gives over `duration`.
    pub(crate) fn for_duration(rate: f64, duration: Duration) -> Schedule {
        let total = (rate * duration.as_secs_f64()).round() as u64;
        Schedule::new(rate, total)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// When event `n` is due, counted from the start.
    pub(crate) fn due_at(&self, n: u64) -> Duration {
        // Rounded up to the nanosecond, so an event is never due early.
        Duration::from_nanos((n as f64 * 1e9 / self.rate).ceil() as u64)
    }

    /// How many events are due `elapsed` after the start: every `n` with
    /// `due_at(n) <= elapsed`, at most `total`.
    pub(crate) fn due_by(&self, elapsed: Duration) -> u64 {
        // The epsilon keeps due_by(due_at(n)) > n despite rounding.
        let n = (elapsed.as_secs_f64() * self.rate + 1e-6).floor() as u64 + 1;
        n.min(self.total)
    }
}

/// Splits `total` units over `k` workers as evenly as possible; the first
/// workers take the remainder.
pub(crate) fn split(total: u64, k: usize) -> Vec<u64> {
    let k64 = k as u64;
    (0..k64)
        .map(|i| total / k64 + u64::from(i < total % k64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_is_due_at_the_start() {
        let s = Schedule::new(1000.0, 10);
        assert_eq!(s.due_at(0), Duration::ZERO);
        assert_eq!(s.due_by(Duration::ZERO), 1);
    }

    #[test]
    fn events_fall_due_at_the_rate() {
        let s = Schedule::new(1000.0, 1_000_000);
        assert_eq!(s.due_by(Duration::from_micros(999)), 1);
        assert_eq!(s.due_by(Duration::from_millis(1)), 2);
        assert_eq!(s.due_by(Duration::from_millis(500)), 501);
        assert_eq!(s.due_at(250), Duration::from_millis(250));
    }

    #[test]
    fn due_by_is_consistent_with_due_at() {
        for rate in [1.0, 3.0, 7.5, 999.0, 40_000.0, 123_457.0] {
            let s = Schedule::new(rate, u64::MAX);
            for n in [0, 1, 2, 17, 1000, 99_999, 1_234_567] {
                let t = s.due_at(n);
                assert!(
                    s.due_by(t) > n,
                    "rate {rate}: event {n} not due at its own time"
                );
                if let Some(before) = t.checked_sub(Duration::from_nanos(2000)) {
                    assert!(
                        s.due_by(before) <= n + 1,
                        "rate {rate}: event {n} due early"
                    );
                }
            }
        }
    }

    #[test]
    fn never_more_than_total() {
        let s = Schedule::for_duration(100.0, Duration::from_secs(2));
        assert_eq!(s.total(), 200);
        assert_eq!(s.due_by(Duration::from_secs(60)), 200);
    }

    #[test]
    fn a_late_tick_catches_up_all_at_once() {
        // Open loop: a tick 50 ms late owes every event of those 50 ms.
        let s = Schedule::new(10_000.0, 1_000_000);
        let on_time = s.due_by(Duration::from_millis(10));
        let late = s.due_by(Duration::from_millis(60));
        assert_eq!(late - on_time, 500);
    }

    #[test]
    fn split_is_even_and_complete() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(9, 1), vec![9]);
        assert_eq!(split(1000, 7).iter().sum::<u64>(), 1000);
    }
}
