//! ferry's persistent state, behind the [`Store`] trait.
//!
//! The contract every implementation keeps:
//! - **Names arrive casefolded.** Account names, list entries and history
//!   keys are passed in the server's casefolded form; the store compares
//!   bytes and never folds. Display forms travel beside them where a user
//!   sees them.
//! - **Committed means durable.** A write method returns `Ok` only after its
//!   transaction committed (SQLite: WAL, `synchronous = FULL`), so a crash
//!   after `Ok` cannot lose it. Callers acknowledge to users only after `Ok`.
//! - **Methods block.** They are called from a blocking thread
//!   (`spawn_blocking`), never on the async message path. Implementations
//!   group concurrent writes into one transaction (group commit), so many
//!   callers waiting at once cost one fsync.
//! - **Times are milliseconds since the Unix epoch**, message ids are the
//!   server's `msgid`s.

mod sqlite;

use thiserror::Error;

pub use sqlite::SqliteStore;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("account already exists")]
    AccountExists,
    #[error("storage: {0}")]
    Backend(String),
    #[error("the store is shutting down")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SCRAM-SHA-256 credentials (RFC 5802 / 7677): the server keeps only these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Casefolded; the key.
    pub name: String,
    /// As registered.
    pub display: String,
    /// argon2id, PHC string format.
    pub password_hash: String,
    pub scram: ScramCredentials,
    pub email: Option<String>,
    /// User mode +g (only ACCEPTed accounts may write) for this account.
    pub callerid: bool,
    pub created_ms: i64,
}

/// A server ban's kind: by `user@host` (KLINE) or by address (DLINE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanKind {
    Kline,
    Dline,
}

impl BanKind {
    fn code(self) -> &'static str {
        match self {
            BanKind::Kline => "kline",
            BanKind::Dline => "dline",
        }
    }
}

/// A ban set by an operator. `mask` is `user@host` as typed for a KLINE (the
/// server casefolds it to match), an address or CIDR network for a DLINE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBan {
    pub kind: BanKind,
    pub mask: String,
    pub reason: String,
    pub set_by: String,
    pub set_ms: i64,
    /// None: permanent.
    pub expires_ms: Option<i64>,
}

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
    fn code(self) -> &'static str {
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

/// Certificates one account may list.
pub const MAX_CERTS: usize = 16;

/// What [`Store::add_cert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertAdded {
    Added,
    /// The account already lists it.
    Already,
    /// Another account lists it (a certificate logs in to one account).
    OtherAccount,
    /// The account lists [`MAX_CERTS`] already.
    Full,
}

/// Why an offline message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueRefused {
    /// The recipient already has `cap` waiting messages.
    Full,
}

/// A message for an offline account, for [`Store::enqueue_offline_batch`].
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

/// Decides each message of a batch (see [`Store::enqueue_offline_batch`]).
pub type Judge = Box<dyn Fn(&OfflineItem, &Recipient<'_>) -> Admit + Send>;
/// Gets a batch's outcomes, in item order, once they are committed.
pub type EnqueueDone = Box<dyn FnOnce(Result<Vec<Enqueued>>) + Send>;

pub trait Store: Send + Sync + 'static {
    // --- accounts -------------------------------------------------------
    /// Creates an account; `AccountExists` if the name is taken.
    fn create_account(&self, account: &Account) -> Result<()>;
    fn account(&self, name: &str) -> Result<Option<Account>>;
    /// All accounts, by name.
    fn accounts(&self) -> Result<Vec<Account>>;
    /// Replaces both password forms. False if there is no such account.
    fn set_credentials(
        &self,
        name: &str,
        password_hash: &str,
        scram: &ScramCredentials,
    ) -> Result<bool>;
    fn set_callerid(&self, name: &str, on: bool) -> Result<bool>;
    /// Deletes the account and everything stored for it. False if absent.
    fn delete_account(&self, name: &str) -> Result<bool>;

    // --- client certificates (SASL EXTERNAL) ---------------------------
    /// Lets the certificate with this SHA-256 fingerprint (lowercase hex)
    /// log in to `account`; at most [`MAX_CERTS`] per account.
    fn add_cert(&self, account: &str, fingerprint: &str, time_ms: i64) -> Result<CertAdded>;
    /// False if `account` did not list it.
    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool>;
    /// The account's fingerprints, oldest first.
    fn certs(&self, account: &str) -> Result<Vec<String>>;
    /// The account a certificate logs in to.
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>>;

    // --- server bans (operators' KLINE / DLINE) --------------------------
    /// Adds or replaces the ban on (`kind`, `mask`).
    fn add_ban(&self, ban: &ServerBan) -> Result<()>;
    /// False if there was no such ban.
    fn remove_ban(&self, kind: BanKind, mask: &str) -> Result<bool>;
    /// Every ban, expired ones included (the server skips those).
    fn bans(&self) -> Result<Vec<ServerBan>>;

    // --- per-account lists ---------------------------------------------
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

    // --- offline messages ---------------------------------------------
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

    // --- history -------------------------------------------------------
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
}

/// The history key of a direct conversation: `@` and the two casefolded
/// parties, sorted, separated by a space (which no name contains).
pub fn dm_key(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("@{x} {y}")
}

/// The two parties of a direct conversation key.
pub fn dm_parties(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix('@')?.split_once(' ')
}
