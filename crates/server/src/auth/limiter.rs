//! The failed-login limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins per IP and per account in a sliding window; past
/// the limit, further attempts are refused without checking the password.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    pub fn new(max: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            max,
            window,
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
        let now = Instant::now();
        let f = self.failures.lock().expect("limiter lock");
        Self::keys(ip, account).iter().all(|k| {
            f.get(k)
                .is_none_or(|(n, since)| *n < self.max || now.duration_since(*since) > self.window)
        })
    }

    pub fn failed(&self, ip: IpAddr, account: &str) {
        let now = Instant::now();
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
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.allowed(ip, "bob"));
            l.failed(ip, "bob");
        }
        assert!(!l.allowed(ip, "bob"));
        // Another IP guessing the same account is blocked too.
        assert!(!l.allowed("192.0.2.2".parse().unwrap(), "bob"));
        assert!(l.allowed("192.0.2.2".parse().unwrap(), "alice"));
        l.succeeded(ip, "bob");
        assert!(l.allowed(ip, "bob"));
    }
}
