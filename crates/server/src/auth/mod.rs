//! Passwords and logins: hashing off the async threads, SCRAM, and the
//! failed-login limiter.
//!
//! argon2id (for SASL PLAIN and NickServ IDENTIFY) and PBKDF2 (SCRAM) are
//! slow by design. They run on tokio's blocking pool, at most
//! `hash_concurrency` at once, so a burst of logins queues instead of
//! starving the threads that relay messages.

pub mod scram;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_store::ScramCredentials;
use tokio::sync::Semaphore;

use crate::config::{hash_password, verify_password};

pub struct Hasher {
    permits: Semaphore,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Hasher {
        Hasher {
            permits: Semaphore::new(concurrency.max(1)),
        }
    }

    /// Both stored forms of a new password.
    pub async fn credentials(&self, password: String) -> (String, ScramCredentials) {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("hasher semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            (hash_password(&password), scram::credentials(&password))
        })
        .await
        .expect("hashing does not panic")
    }

    /// Checks a password against an argon2 PHC string.
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("hasher semaphore is never closed");
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

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
