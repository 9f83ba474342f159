//! The per-account lists (MONITOR, ACCEPT, SILENCE) and friend requests:
//! who an account follows, who may write to it, whom it ignores, and who
//! asked to write while it was away.

use crate::Result;

/// The per-account lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Nicks/accounts whose presence the owner follows (MONITOR).
    Monitor,
    /// Accounts allowed to message a `+g` owner (ACCEPT).
    Accept,
    /// Masks whose messages and invites are dropped (SILENCE).
    Silence,
}

impl ListKind {
    /// How a backend stores the kind.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ListKind::Monitor => "monitor",
            ListKind::Accept => "accept",
            ListKind::Silence => "silence",
        }
    }
}

/// One list entry: the casefolded key and the form the owner typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub display: String,
}

/// Friend lists and requests. Read at login and changed by their commands,
/// so every method blocks until done (a write: committed, before the
/// command's reply) and is called on the blocking pool, on any backend (see
/// the crate docs). The offline path reads the ACCEPT and SILENCE lists
/// inside the backend's writer instead ([`crate::OfflineStore`]), and records
/// a request there when caller-ID refuses a message.
pub trait FriendStore: Send + Sync {
    fn list(&self, account: &str, kind: ListKind) -> Result<Vec<ListEntry>>;
    /// Adds (replacing the display of existing keys), then removes by key;
    /// `clear` empties the list first.
    fn edit_list(
        &self,
        account: &str,
        kind: ListKind,
        clear: bool,
        add: &[ListEntry],
        remove: &[String],
    ) -> Result<()>;

    // --- friend requests (CALLERID notices kept for an offline owner) ---
    /// Records that `from` (display form) asked to write to `account`.
    fn add_request(&self, account: &str, from: &str, time_ms: i64) -> Result<()>;
    /// The requests waiting for `account`, oldest first, removing them.
    fn take_requests(&self, account: &str) -> Result<Vec<(String, i64)>>;
}
