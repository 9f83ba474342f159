//! Profiles (IRCv3 `draft/metadata-3`): the metadata an account keeps on
//! itself — a display name, an avatar URL, a status, any key the server
//! allows — so that it is there at every login, on every device.

use crate::Result;

/// Metadata of accounts. Read at login and written by METADATA SET and
/// CLEAR, so every method blocks until done (a write: committed, before
/// the command's reply) and is called on the blocking pool (see the crate
/// docs). Limits (how many keys, how long a value) are the server's to
/// check before it writes.
pub trait MetadataStore {
    /// Every (key, value) of `account`, by key.
    fn metadata(&self, account: &str) -> Result<Vec<(String, String)>>;

    /// Sets `key` of `account` to `value`, or removes it (`None`). False
    /// if there is no such account.
    fn set_metadata(&self, account: &str, key: &str, value: Option<&str>) -> Result<bool>;

    /// Removes every key of `account`.
    fn clear_metadata(&self, account: &str) -> Result<()>;
}
