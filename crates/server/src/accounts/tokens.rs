//! Login tokens: what lets the web page stay logged in across a reload
//! without keeping the password. A logged-in client asks for one (`TOKEN
//! NEW`); the server makes 256 random bits, keeps only their SHA-256 with
//! a short id, a label and its times (`AccountStore::add_token`), and
//! gives the token once. A later login sends it as the SASL PLAIN password
//! (it starts with [`PREFIX`], which no argon2 check is run for): its hash
//! finds the account, whose name must be the one logging in. Its owner
//! lists (`TOKEN LIST`) and revokes (`TOKEN REVOKE <id>`) them; logging
//! out of the page revokes its own. docs/SECURITY.md has the whole story.

use sha2::{Digest, Sha256};

/// What every token starts with: a password never does (the page never
/// sends one that does, and `check_password` tells them apart by it).
pub(crate) const PREFIX: &str = "ferrytok_";

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token: its public id, the secret (shown once), its hash (kept).
pub(crate) fn new_token() -> (String, String, Vec<u8>) {
    let id: [u8; 6] = rand::random();
    let secret: [u8; 32] = rand::random();
    let token = format!("{PREFIX}{}", hex(&secret));
    let hash = hash(&token);
    (hex(&id), token, hash)
}

/// The SHA-256 a token is kept and looked up by.
pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether a SASL PLAIN password is a token.
pub(crate) fn is_token(password: &str) -> bool {
    password.starts_with(PREFIX)
}
