//! `--max`: ramp the rate geometrically until a step fails, then bisect
//! between the best passing and the lowest failing rate.

#[derive(Debug, Clone)]
pub(crate) struct MaxSearch {
    start: f64,
    factor: f64,
    /// Stop bisecting once failing / passing is within 1 + precision.
    precision: f64,
    steps_left: usize,
    ceiling: f64,
    best: Option<f64>,
    lowest_fail: Option<f64>,
}

impl MaxSearch {
    pub(crate) fn new(start: f64, factor: f64, precision: f64, max_steps: usize) -> MaxSearch {
        MaxSearch {
            start: start.max(1.0),
            factor,
            precision,
            steps_left: max_steps,
            ceiling: 100_000_000.0,
            best: None,
            lowest_fail: None,
        }
    }

    /// The next rate to try, or `None` when the search is over.
    pub(crate) fn next(&self) -> Option<f64> {
        if self.steps_left == 0 {
            return None;
        }
        let rate = match (self.best, self.lowest_fail) {
            (None, None) => self.start,
            (Some(lo), None) => lo * self.factor,
            // Even the start failed: ramp down, but not forever.
            (None, Some(hi)) => {
                let r = hi / self.factor;
                if r < self.start / 1000.0 || r < 1.0 {
                    return None;
                }
                r
            }
            (Some(lo), Some(hi)) => {
                if hi <= lo * (1.0 + self.precision) {
                    return None;
                }
                (lo + hi) / 2.0
            }
        };
        let rate = rate.round().max(1.0);
        if rate > self.ceiling || Some(rate) == self.best || Some(rate) == self.lowest_fail {
            return None;
        }
        Some(rate)
    }

    pub(crate) fn record(&mut self, rate: f64, pass: bool) {
        self.steps_left = self.steps_left.saturating_sub(1);
        if pass {
            self.best = Some(self.best.map_or(rate, |b| b.max(rate)));
        } else {
            self.lowest_fail = Some(self.lowest_fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The highest rate that passed.
    pub(crate) fn best(&self) -> Option<f64> {
        self.best
    }

    /// The lowest rate that failed.
    pub(crate) fn lowest_fail(&self) -> Option<f64> {
        self.lowest_fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server that passes every rate up to `limit`.
    fn run(start: f64, limit: f64, steps: usize) -> (MaxSearch, Vec<f64>) {
        let mut s = MaxSearch::new(start, 2.0, 0.05, steps);
        let mut tried = Vec::new();
        while let Some(r) = s.next() {
            tried.push(r);
            s.record(r, r <= limit);
        }
        (s, tried)
    }

    #[test]
    fn ramps_geometrically_then_bisects() {
        let (s, tried) = run(1000.0, 5000.0, 30);
        assert_eq!(&tried[..4], &[1000.0, 2000.0, 4000.0, 8000.0]);
        assert_eq!(tried[4], 6000.0);
        let best = s.best().expect("a passing rate");
        assert!(best <= 5000.0 && best > 5000.0 / 1.05, "best {best}");
        assert!(s.lowest_fail().expect("a failing rate") <= best * 1.05);
    }

    #[test]
    fn ramps_down_when_the_start_fails() {
        let (s, tried) = run(8000.0, 1500.0, 30);
        assert_eq!(&tried[..4], &[8000.0, 4000.0, 2000.0, 1000.0]);
        let best = s.best().expect("a passing rate");
        assert!(best <= 1500.0 && best > 1500.0 / 1.05, "best {best}");
    }

    #[test]
    fn stops_after_max_steps() {
        let (s, tried) = run(1.0, f64::INFINITY, 5);
        assert_eq!(tried, vec![1.0, 2.0, 4.0, 8.0, 16.0]);
        assert_eq!(s.best(), Some(16.0));
        assert_eq!(s.lowest_fail(), None);
    }

    #[test]
    fn gives_up_when_nothing_passes() {
        let (s, tried) = run(1000.0, 0.0, 100);
        assert_eq!(s.best(), None);
        assert!(tried.len() <= 11, "{tried:?}");
    }
}
