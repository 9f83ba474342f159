//! Passwords and logins: hashing off the async threads, SCRAM, and the
//! failed-login limiter.
//!
//! argon2id (for SASL PLAIN and NickServ IDENTIFY) and PBKDF2 (SCRAM) are
//! slow by design. They run on tokio's blocking pool, at most
//! `hash_concurrency` at once, so a burst of logins queues instead of
//! starving the threads that relay messages.

mod hasher;
mod limiter;
mod password;
pub mod scram;

pub use hasher::Hasher;
pub use limiter::LoginLimiter;
pub use password::{hash_password, verify_password};
