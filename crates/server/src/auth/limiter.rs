//! The failed-login limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::Clock;

/// Counts failed logins per IP and per account in a sliding window; past
/// the limit, further attempts are refused without checking the password.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    clock: Clock,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Counts in `window`s of `clock`'s time.
    pub fn new(max: u32, window: Duration, clock: Clock) -> LoginLimiter {
        LoginLimiter {
            max,
            window,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: IpAddr, account: &str) -> [String; 2] {
        [
            format!("ip:{}", ip.to_canonical()),
            format!("acct:{account}"),
        ]
    }

    /// May this IP try this account now?
    pub fn allowed(&self, ip: IpAddr, account: &str) -> bool {
        self.allowed_at(ip, account, self.clock.now())
    }

    fn allowed_at(&self, ip: IpAddr, account: &str, now: Instant) -> bool {
        let f = self.failures.lock().expect("limiter lock");
        Self::keys(ip, account).iter().all(|k| {
            f.get(k)
                .is_none_or(|(n, since)| *n < self.max || now.duration_since(*since) > self.window)
        })
    }

    pub fn failed(&self, ip: IpAddr, account: &str) {
        self.failed_at(ip, account, self.clock.now())
    }

    fn failed_at(&self, ip: IpAddr, account: &str, now: Instant) {
        let mut f = self.failures.lock().expect("limiter lock");
        if f.len() > 100_000 {
            f.retain(|_, (_, since)| now.duration_since(*since) <= self.window);
        }
        for k in Self::keys(ip, account) {
            let e = f.entry(k).or_insert((0, now));
            if now.duration_since(e.1) > self.window {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    /// [`LoginLimiter::allowed`] by address alone (registrations).
    pub fn allowed_ip(&self, ip: IpAddr) -> bool {
        let now = self.clock.now();
        let f = self.failures.lock().expect("limiter lock");
        f.get(&format!("ip:{}", ip.to_canonical()))
            .is_none_or(|(n, since)| *n < self.max || now.duration_since(*since) > self.window)
    }

    /// Counts one against the address alone (a registration made).
    pub fn count_ip(&self, ip: IpAddr) {
        let now = self.clock.now();
        let mut f = self.failures.lock().expect("limiter lock");
        let e = f
            .entry(format!("ip:{}", ip.to_canonical()))
            .or_insert((0, now));
        if now.duration_since(e.1) > self.window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        let mut f = self.failures.lock().expect("limiter lock");
        f.remove(&format!("acct:{account}"));
        f.remove(&format!("ip:{}", ip.to_canonical()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_max() {
        let l = LoginLimiter::new(3, Duration::from_secs(60), Clock::system());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(l.allowed_at(ip, "bob", now));
            l.failed_at(ip, "bob", now);
        }
        assert!(!l.allowed_at(ip, "bob", now));
        // Another IP guessing the same account is blocked too.
        assert!(!l.allowed_at("192.0.2.2".parse().unwrap(), "bob", now));
        assert!(l.allowed_at("192.0.2.2".parse().unwrap(), "alice", now));
        // Once the window has passed, the failures no longer count.
        assert!(l.allowed_at(ip, "bob", now + Duration::from_secs(61)));
        l.succeeded(ip, "bob");
        assert!(l.allowed_at(ip, "bob", now));
    }
}
