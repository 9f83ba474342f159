//! The hashing pool: argon2 and PBKDF2 on tokio's blocking pool, at most
//! `hash_concurrency` at once.

use tokio::sync::Semaphore;

use super::verify_password;

pub struct Hasher {
    permits: Semaphore,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Hasher {
        Hasher {
            permits: Semaphore::new(concurrency.max(1)),
        }
    }

    /// Runs `job` (which hashes) on the blocking pool, within the pool's
    /// concurrency: account creation, password changes.
    pub async fn run<R: Send + 'static>(&self, job: impl FnOnce() -> R + Send + 'static) -> R {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("hasher semaphore is never closed");
        tokio::task::spawn_blocking(job)
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
