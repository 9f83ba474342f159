//! Read markers (IRCv3 `draft/read-marker`): for each account and each of
//! its conversations, the time up to which the account has read. Every
//! device of the account shares them, and they only ever move forward.

use crate::Result;

/// How many conversations an account keeps a marker for; past it, setting
/// one forgets the oldest set.
pub const MAX_MARKERS: usize = 2000;

/// One conversation's marker: its casefolded target and the time read up
/// to (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMarker {
    pub target: String,
    pub time_ms: i64,
}

/// Read markers. Read at login and moved by MARKREAD, so every method
/// blocks until done (a write: committed, before the command's reply) and
/// is called on the blocking pool (see the crate docs).
pub trait MarkerStore {
    /// Every marker of `account`, newest first.
    fn markers(&self, account: &str) -> Result<Vec<ReadMarker>>;

    /// Moves `account`'s marker for `target` to `time_ms` unless it is
    /// there or further already; returns the marker as stored afterwards
    /// (`None`: no such account). Keeps at most [`MAX_MARKERS`] per account.
    fn set_marker(&self, account: &str, target: &str, time_ms: i64) -> Result<Option<i64>>;
}
