//! Channel and direct-message history, for CHATHISTORY and replay at
//! login. [`StoredMessage`] is also the form of an offline message.

use crate::Result;

/// A message as stored, for offline delivery or history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub msgid: String,
    pub time_ms: i64,
    /// `nick!user@host` of the sender.
    pub source: String,
    /// The sender's account, if logged in.
    pub account: Option<String>,
    /// PRIVMSG, NOTICE, TAGMSG, or an event verb (JOIN, PART, ...).
    pub command: String,
    /// The target as the sender wrote it.
    pub target: String,
    /// The text (last parameter), empty for TAGMSG.
    pub text: String,
    /// Client-only tags, escaped, without `@` (empty if none).
    pub tags: String,
}

/// Where a history query starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Time(i64),
    Msgid(String),
}

/// The CHATHISTORY subcommands, as store queries. Results are always in
/// ascending time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest messages, optionally only those after a bound.
    Latest(Option<Bound>),
    Before(Bound),
    After(Bound),
    /// Up to `limit` messages centred on the bound.
    Around(Bound),
    /// Between two bounds (either order), exclusive.
    Between(Bound, Bound),
}

/// History: appended in batches, queried by conversation.
///
/// Every method blocks until done and is called on the blocking pool. The
/// message path never calls [`Self::append_history`]: a relayed message is
/// handed to the server's history task (`History::record`, a bounded queue
/// that never waits), which appends what gathered every second in one call
/// on the blocking pool; so the append needs no completion callback, only
/// its own blocking thread, and a PostgreSQL backend blocks that thread on
/// its runtime handle while its writer task commits the batch (one
/// transaction, group-committed with other writes, as the SQLite writer
/// thread does).
///
/// Appends are not acknowledged to anyone, so a backend may commit them
/// without waiting for the disk (SQLite: `synchronous = NORMAL` for a group
/// of only appends); docs/DURABILITY.md says what a crash can lose.
pub trait HistoryStore: Send + Sync {
    /// Appends messages to history. `key` is a channel's casefolded name, or
    /// for a direct conversation [`dm_key`] of the two parties.
    fn append_history(&self, rows: Vec<(String, StoredMessage)>) -> Result<()>;
    /// Up to `limit` messages of one conversation, ascending by time.
    fn history(&self, key: &str, query: &HistoryQuery, limit: usize) -> Result<Vec<StoredMessage>>;
    /// Conversations with a message strictly between the two times: the
    /// channels among `channels`, and the direct conversations `party` is
    /// in; each with the time of its newest message, oldest first.
    fn history_targets(
        &self,
        channels: &[String],
        party: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>>;
    /// Deletes history older than `before_ms`; returns how many rows went.
    fn prune_history(&self, before_ms: i64) -> Result<usize>;
    /// The message `msgid` of conversation `key`, if it is there (and not
    /// redacted).
    fn find_history(&self, key: &str, msgid: &str) -> Result<Option<StoredMessage>>;
    /// Redacts the message `msgid` of `key` (draft/message-redaction): no
    /// query returns it again, and its text is gone from the disk. False
    /// when there is no such message.
    fn redact_history(&self, key: &str, msgid: &str) -> Result<bool>;
}

/// The history key of a direct conversation: `@` and the two casefolded
/// parties, sorted, separated by a space (which no name contains).
pub fn dm_key(a: &str, b: &str) -> String {
    dm_key_of([a, ""], [b, ""])
}

/// [`dm_key`] of two parties each given in two pieces (`["a:", "bob"]`),
/// so the relay builds no string per party on every DM.
pub fn dm_key_of(a: [&str; 2], b: [&str; 2]) -> String {
    fn bytes<'a>(p: [&'a str; 2]) -> impl Iterator<Item = u8> + 'a {
        p[0].bytes().chain(p[1].bytes())
    }
    let (x, y) = if bytes(a).le(bytes(b)) {
        (a, b)
    } else {
        (b, a)
    };
    // Not format!: on every relayed DM, and format! grows its string by
    // reallocation (~1,400 instructions here against ~100).
    let mut k = String::with_capacity(2 + x[0].len() + x[1].len() + y[0].len() + y[1].len());
    k.push('@');
    k.push_str(x[0]);
    k.push_str(x[1]);
    k.push(' ');
    k.push_str(y[0]);
    k.push_str(y[1]);
    k
}

/// The two parties of a direct conversation key.
pub fn dm_parties(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix('@')?.split_once(' ')
}

#[cfg(test)]
mod dm_key_tests {
    use super::*;

    #[test]
    fn pieces_make_the_same_key_in_either_order() {
        assert_eq!(dm_key("n:bob", "a:alice"), "@a:alice n:bob");
        assert_eq!(dm_key_of(["n:", "bob"], ["a:", "alice"]), "@a:alice n:bob");
        assert_eq!(dm_key_of(["a:", "alice"], ["n:", "bob"]), "@a:alice n:bob");
        // Ordered by the whole identity, not by its first piece.
        assert_eq!(dm_key_of(["n:", "b"], ["n:b", "a"]), "@n:b n:ba");
        assert_eq!(dm_key("n:b", "n:ba"), "@n:b n:ba");
    }
}
