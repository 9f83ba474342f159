//! ferry's persistent state, behind one trait per domain:
//!
//! | trait | what it keeps | module |
//! | --- | --- | --- |
//! | [`AccountStore`] | accounts, their password forms, client certificates | `accounts` |
//! | [`FriendStore`] | the per-account lists (MONITOR, ACCEPT, SILENCE) and friend requests | `friends` |
//! | [`OfflineStore`] | messages waiting for an offline account | `offline` |
//! | [`HistoryStore`] | channel and direct-message history (CHATHISTORY) | `history` |
//! | [`BanStore`] | operators' server bans (KLINE, DLINE) | `bans` |
//! | [`ChannelStore`] | registered channels (ChanServ): founder, topic, modes, access and ban lists | `channels` |
//! | [`MarkerStore`] | read markers: how far each account has read each conversation | `markers` |
//! | [`MetadataStore`] | account metadata, the profile (display name, avatar, ...) | `metadata` |
//!
//! [`Store`] is all eight at once; the server holds an `Arc<dyn Store>`,
//! on which every domain's methods are callable as they are. Code that
//! holds a backend by its own type (`ferry account` holds a
//! [`SqliteStore`]) needs the traits in scope: `use ferry_store::prelude::*`
//! brings them all. [`SqliteStore`] (module `sqlite`, one file per domain)
//! is the implementation ferry ships.
//!
//! The contract every implementation keeps:
//! - **Names arrive casefolded.** Account and channel names, list entries
//!   and history keys are passed in the server's casefolded form; the store compares
//!   bytes and never folds. Display forms travel beside them where a user
//!   sees them.
//! - **Committed means durable.** A write method returns `Ok` only after its
//!   transaction committed (SQLite: WAL, `synchronous = FULL`), so a crash
//!   after `Ok` cannot lose it. Callers acknowledge to users only after `Ok`.
//!   (History appends are the exception: nobody is told they were kept; see
//!   [`HistoryStore`].)
//! - **Methods block.** They are called from a blocking thread
//!   (`spawn_blocking`), never on the async message path; the one
//!   exception, [`OfflineStore::enqueue_offline_batch`], returns at once
//!   and answers through a callback (below). Implementations
//!   group concurrent writes into one transaction (group commit), so many
//!   callers waiting at once cost one fsync.
//! - **Times are milliseconds since the Unix epoch**, message ids are the
//!   server's `msgid`s.
//!
//! # An asynchronous backend (PostgreSQL)
//!
//! The traits stay synchronous, and a PostgreSQL backend implements these
//! same traits; nothing about them is SQLite's:
//! - **Blocking calls.** The server calls them on tokio's blocking pool
//!   (`Server::store` wraps `spawn_blocking`), as it does today. A
//!   PostgreSQL backend built on `tokio-postgres` drives its client from
//!   those blocking threads with a `tokio::runtime::Handle` it
//!   was given at open (`Handle::block_on`), which is allowed there
//!   because a blocking-pool thread runs no async task.
//! - **Writes that must not wait** take a completion callback instead of
//!   returning a value: [`OfflineStore::enqueue_offline_batch`] is called on
//!   the message path itself (from the connection's task, not the blocking
//!   pool) and returns at once; its `done` runs on the backend's own writer
//!   (SQLite: the writer thread; PostgreSQL: a writer task on the runtime)
//!   after the commit. History appends are handed over on the message path
//!   too, but to the server's history task (`History::record`, a bounded
//!   queue that never waits), which calls [`HistoryStore::append_history`]
//!   in batches on the blocking pool; that call blocks nothing but its own
//!   blocking thread, so it keeps a plain return value.
//! - **Group commit.** A backend's writer takes every write waiting and
//!   commits them in one transaction, each inside a savepoint so a failing
//!   one undoes only itself: the SQLite writer thread does it (module
//!   `sqlite`), and a PostgreSQL writer task does the same over one
//!   connection, so a burst of offline messages or history rows costs one
//!   commit on either.
//!
//! Why: one trait set serves both backends, so no caller knows or changes
//! with the backend; and an `async fn` in a trait used as `dyn Store` would
//! box a future per call (the `async-trait` way), on the hot path, where
//! the callback costs one box per batch and no future at all.

mod accounts;
mod backup;
mod bans;
mod channels;
#[cfg(test)]
mod conformance;
mod friends;
mod history;
mod log;
mod markers;
mod metadata;
mod migrate;
mod offline;
mod postgres;
mod sqlite;

use thiserror::Error;

pub use accounts::{
    Account, AccountStore, CertAdded, LoginToken, ScramCredentials, Suspension, MAX_CERTS,
    MAX_TOKENS,
};
pub use backup::{backup, Summary};
pub use bans::{BanKind, BanStore, ServerBan};
pub use channels::{
    AccessLevel, ChannelMask, ChannelRegistered, ChannelStore, ChannelTopic, PurgedChannel,
    RegisteredChannel,
};
pub use friends::{FriendStore, ListEntry, ListKind};
pub use history::{
    dm_key, dm_key_of, dm_parties, Bound, HistoryQuery, HistoryStore, StoredMessage,
};
pub use markers::{MarkerStore, ReadMarker, MAX_MARKERS};
pub use metadata::MetadataStore;
pub use migrate::{migrate_to_postgres, Migrated};
pub use offline::{
    Admit, EnqueueDone, EnqueueRefused, Enqueued, Judge, OfflineItem, OfflineStore, Recipient,
};
pub use postgres::PgStore;
pub use sqlite::{CommitObserver, SqliteStore};

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

/// Every domain of ferry's state: what the server holds (`Arc<dyn Store>`).
/// Implemented for every type that implements the eight domain traits.
pub trait Store:
    AccountStore
    + FriendStore
    + OfflineStore
    + HistoryStore
    + BanStore
    + ChannelStore
    + MarkerStore
    + MetadataStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: AccountStore
        + FriendStore
        + OfflineStore
        + HistoryStore
        + BanStore
        + ChannelStore
        + MarkerStore
        + MetadataStore
        + Send
        + Sync
        + 'static
{
}

/// The store traits, for `use ferry_store::prelude::*`: every domain's
/// methods on a backend held by its own type (a `dyn Store` has them
/// without it).
pub mod prelude {
    pub use crate::{
        AccountStore, BanStore, ChannelStore, FriendStore, HistoryStore, MarkerStore,
        MetadataStore, OfflineStore, Store,
    };
}
