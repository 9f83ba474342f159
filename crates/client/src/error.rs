//! Why a session failed.

use std::time::Duration;

use thiserror::Error;

/// Why a session failed, in words a user can act on.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid server address {0:?} (want HOST:PORT)")]
    Address(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {addr}: {message}")]
    Tls { addr: String, message: String },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection: {0}")]
    Closed(String),
    #[error("the server refused the connection: {0}")]
    Refused(String),
    #[error("nick {nick}: {text}")]
    Nick { nick: String, text: String },
    #[error("login to account {account} failed: {text}")]
    Login { account: String, text: String },
    #[error("the server does not offer SASL, needed to log in to an account")]
    NoSasl,
    #[error("{target}: {text}")]
    Rejected {
        code: String,
        target: String,
        text: String,
    },
    #[error("no answer from the server within {0:?} while {1}")]
    Timeout(Duration, &'static str),
}

impl Error {
    /// The numeric or FAIL code the server answered with, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}
