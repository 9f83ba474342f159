//! Messages for an offline account, kept until its next login.

use crate::{ListEntry, Result, StoredMessage};

/// Why an offline message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueRefused {
    /// The recipient already has `cap` waiting messages.
    Full,
}

/// A message for an offline account, for [`OfflineStore::enqueue_offline_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineItem {
    /// The recipient account, casefolded.
    pub account: String,
    pub msg: StoredMessage,
}

/// What the store knows of an offline recipient when a message for it is
/// judged: its caller-ID mode and the lists that decide who may write.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub callerid: bool,
    pub silence: &'a [ListEntry],
    pub accept: &'a [ListEntry],
}

/// The caller's verdict on one message, given its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    Store,
    /// The recipient silences the sender: drop it, quietly.
    Silenced,
    /// Caller-ID refuses it: keep only a request from this sender (display
    /// form), shown to the recipient at login.
    Request(String),
}

/// What became of one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Committed; this many now wait for the recipient.
    Stored(usize),
    Silenced,
    /// Refused by caller-ID; the request is committed.
    Request,
    /// The recipient already has `cap` waiting.
    Full,
    /// No such account.
    Gone,
}

/// Decides each message of a batch (see [`OfflineStore::enqueue_offline_batch`]).
pub type Judge = Box<dyn Fn(&OfflineItem, &Recipient<'_>) -> Admit + Send>;
/// Gets a batch's outcomes, in item order, once they are committed.
pub type EnqueueDone = Box<dyn FnOnce(Result<Vec<Enqueued>>) + Send>;

/// Offline messages: stored (committed before the sender hears they are),
/// read and acknowledged at the recipient's next login.
///
/// The one write on the message path is [`Self::enqueue_offline_batch`]:
/// every message to an offline account waits for its commit before the
/// sender's echo, so it is called from the connection's own task, returns
/// at once, and completes through its `done` callback, run by the
/// backend's writer after the commit (SQLite: the writer thread;
/// PostgreSQL: its writer task on the runtime, which batches the jobs of
/// many connections into one transaction the same way). No thread waits
/// on it, and no future is boxed per message. The other methods block
/// until done and are called on the blocking pool.
pub trait OfflineStore: Send + Sync {
    /// Stores a message for an offline account, unless `cap` are waiting.
    /// Ok(Ok(n)): committed, n now waiting.
    fn enqueue_offline(
        &self,
        account: &str,
        msg: &StoredMessage,
        cap: usize,
    ) -> Result<std::result::Result<usize, EnqueueRefused>>;
    /// Stores a batch of messages for offline accounts, each unless the
    /// recipient is gone, `judge` refuses it, or `cap` are waiting; in item
    /// order, all in one transaction. Returns at once: `done` gets the
    /// outcomes from the backend's writer after the commit (so an async
    /// caller needs no thread of its own), or `Closed` if the store stops
    /// first.
    fn enqueue_offline_batch(
        &self,
        items: Vec<OfflineItem>,
        cap: usize,
        judge: Judge,
        done: EnqueueDone,
    );
    /// Everything waiting for `account`, in the order it was stored, with
    /// the ids to acknowledge.
    fn offline(&self, account: &str) -> Result<Vec<(i64, StoredMessage)>>;
    /// Forgets the waiting messages of `account` up to and including `id`
    /// (called after they were written to the recipient).
    fn ack_offline(&self, account: &str, up_to_id: i64) -> Result<()>;
    /// Forgets the waiting message `msgid` of `account` (its sender took
    /// it back): it is never delivered. False if it was not waiting.
    fn redact_offline(&self, account: &str, msgid: &str) -> Result<bool>;
}
