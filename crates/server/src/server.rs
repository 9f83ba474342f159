//! The server's shared state: the running configuration, ids, counters,
//! the registry of who is here, the store and history, and the limits'
//! bookkeeping. One `Arc<Server>` is shared by every task.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::{DashMap, DashSet};
use ferry_store::{Store, StoreError};
use tracing::warn;

use crate::channel::Channel;
use crate::client::{Client, ClientId};
use crate::clock::Clock;
use crate::registry::Registry;
use crate::{auth, event, guard, history, isupport, route, stats, tls, Config, ConfigSource};

/// A nick that was in use, for WHOWAS.
#[derive(Debug, Clone)]
pub(crate) struct WhowasEntry {
    pub folded: String,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub at: u64,
}

/// Everything shared between connection tasks.
pub(crate) struct Server {
    /// Where time comes from (`clock.rs`).
    pub clock: Clock,
    /// The running configuration: swapped whole by REHASH (and SIGHUP),
    /// read lock-free ([`Server::config`]).
    config: arc_swap::ArcSwap<Config>,
    /// The file the configuration came from, and what the command line
    /// overrode in it: REHASH reads the file again.
    pub(crate) config_source: Option<ConfigSource>,
    /// The server's name (fixed for the run, unlike the rest of `config`).
    pub name: String,
    /// TLS listeners' certificates, reloaded by REHASH.
    pub tls: Mutex<Vec<Arc<tls::Tls>>>,
    /// Who is here: clients, nicks, channels, MONITOR watchers.
    pub(crate) registry: Registry,
    pub whowas: Mutex<VecDeque<WhowasEntry>>,
    pub users: AtomicUsize,
    /// Registered users with mode +i.
    pub invisible: AtomicUsize,
    pub max_users: AtomicUsize,
    pub opers: AtomicUsize,
    next_id: AtomicU64,
    next_msgid: AtomicU64,
    msgid_nonce: u64,
    start: Instant,
    pub created: String,
    /// RPL_ISUPPORT tokens (they follow the limits, so REHASH renews them).
    burst: arc_swap::ArcSwap<isupport::Burst>,
    /// Where accounts, lists, offline messages and history live.
    pub store: Arc<dyn Store>,
    /// Casefolded names of every registered account (loaded at start):
    /// lets the message path tell "offline account" from "no such nick"
    /// without touching the store.
    pub registered_names: DashSet<String>,
    pub hasher: auth::Hasher,
    pub login_limiter: auth::LoginLimiter,
    /// Registrations per address in the last hour (the same sliding
    /// window as failed logins, counting accounts made).
    pub registration_limiter: auth::LoginLimiter,
    pub history: history::History,
    /// Accounts disconnected for SendQ, and when: what they missed comes
    /// from history at their next login.
    pub missed_since: DashMap<String, i64>,
    /// Read markers of the accounts connected now, shared by each
    /// account's connections.
    pub(crate) markers: crate::accounts::SharedMarkers,
    /// Users' metadata and connections' subscriptions (draft/metadata-3).
    pub(crate) metadata: crate::metadata::Metadata,
    /// Connection limits' counters.
    pub admission: Arc<guard::Admission>,
    /// Operators' KLINEs and DLINEs (rarely written; read at connect and
    /// registration, never on the message path).
    pub bans: std::sync::RwLock<Vec<ferry_store::ServerBan>>,
    /// Channels the operators closed (ChanServ PURGE), by casefolded
    /// name: nobody may join them (loaded at start; read at JOIN).
    pub purged: DashMap<String, ferry_store::PurgedChannel>,
    /// Operators with user mode +s: who gets server notices, and their
    /// snomask (bits of [`client::SNOMASKS`]).
    pub snotice_watchers: DashMap<ClientId, (Arc<Client>, u32)>,
    /// Set once the server is stopping: connections end (see `serve`).
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// How long connections hold lines others queued for them before
    /// writing (ms; 0: write at once), raised while the process is busy
    /// (`load_watch` in lib.rs) so that one write carries several.
    pub hold_ms: std::sync::atomic::AtomicU64,
    /// The memory budget every client's send queue counts in.
    pub budget: Arc<route::Budget>,
    /// Traffic and command counters (STATS).
    pub stats: stats::Stats,
    /// Every listener's counters (STATS P), filled by `serve`.
    pub listeners: Mutex<Vec<Arc<stats::ListenerStats>>>,
    /// Where idle connections wait off the runtime; set by `serve`.
    pub(crate) parker: std::sync::OnceLock<Arc<crate::net::Parker>>,
    /// This node's cluster, when it is one (`[cluster]`); set by `serve`.
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Server {
    /// A server on `clock`: the one every part of it takes time from
    /// (history's writer gets the same one at its start).
    pub(crate) fn new(
        config: Config,
        store: Arc<dyn Store>,
        history: history::History,
        clock: Clock,
    ) -> Server {
        let created = event::format_time(clock.wall());
        let burst = isupport::Burst::new(&config, &created);
        let registered_names = DashSet::new();
        match store.accounts() {
            Ok(all) => all.into_iter().for_each(|a| {
                registered_names.insert(a.name);
            }),
            Err(e) => warn!(error = %e, "could not list accounts"),
        }
        let bans = store.bans().unwrap_or_else(|e| {
            warn!(error = %e, "could not load server bans");
            Vec::new()
        });
        let purged = DashMap::new();
        match store.purged_channels() {
            Ok(all) => all.into_iter().for_each(|p| {
                purged.insert(p.name.clone(), p);
            }),
            Err(e) => warn!(error = %e, "could not load purged channels"),
        }
        let a = &config.accounts;
        Server {
            purged,
            store,
            registered_names,
            hasher: auth::Hasher::new(a.hash_concurrency),
            login_limiter: auth::LoginLimiter::new(
                a.login_failures,
                Duration::from_secs(a.login_window_secs),
                clock,
            ),
            registration_limiter: auth::LoginLimiter::new(
                a.registrations_per_hour,
                Duration::from_secs(3600),
                clock,
            ),
            history,
            missed_since: DashMap::new(),
            markers: Default::default(),
            metadata: Default::default(),
            admission: Arc::new(guard::Admission::new(clock)),
            bans: std::sync::RwLock::new(bans),
            snotice_watchers: DashMap::new(),
            stats: stats::Stats::default(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            hold_ms: std::sync::atomic::AtomicU64::new(0),
            budget: Arc::new(route::Budget::new(config.limits.sendq_total_bytes)),
            listeners: Mutex::new(Vec::new()),
            parker: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            registry: Registry::default(),
            whowas: Mutex::new(VecDeque::new()),
            users: AtomicUsize::new(0),
            invisible: AtomicUsize::new(0),
            max_users: AtomicUsize::new(0),
            opers: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            next_msgid: AtomicU64::new(1),
            msgid_nonce: rand::random::<u64>() & 0xffff_ffff,
            start: clock.now(),
            clock,
            created,
            burst: arc_swap::ArcSwap::from_pointee(burst),
            config_source: None,
            name: config.server_name.clone(),
            config: arc_swap::ArcSwap::from_pointee(config),
            tls: Mutex::new(Vec::new()),
        }
    }

    /// This node's cluster, if it is in one.
    pub(crate) fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// The running configuration (a cheap, lock-free snapshot).
    pub(crate) fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// The welcome burst's lines that change only with the configuration.
    pub(crate) fn burst(&self) -> arc_swap::Guard<Arc<isupport::Burst>> {
        self.burst.load()
    }

    /// Reads the configuration file again and applies it (REHASH, SIGHUP):
    /// limits, flood control, MOTD, operators, accounts and privacy
    /// settings take effect at once; TLS listeners read their certificate
    /// files again. What the running server is built on stays: server and
    /// network name, casemapping, data directory and listeners (they need
    /// a restart; the reply says so). Returns what was read, or why not.
    pub(crate) fn rehash(&self) -> Result<String, RehashError> {
        let Some(src) = &self.config_source else {
            tls::reload_all(&self.tls.lock().expect("tls lock"));
            return Err(RehashError::NoConfigFile);
        };
        let mut new = Config::load(&src.path)?;
        let old = self.config();
        let mut kept = Vec::new();
        if let Some(l) = &src.listen {
            new.listen = l.clone();
        }
        if let Some(d) = &src.data_dir {
            new.data_dir = d.clone();
        }
        if let Some(a) = src.admin {
            new.admin.listen = Some(a);
        }
        if let Some(s) = &src.store {
            new.store = s.clone();
        }
        macro_rules! keep {
            ($($field:ident).+, $what:expr) => {
                if new.$($field).+ != old.$($field).+ {
                    kept.push($what);
                    new.$($field).+ = old.$($field).+.clone();
                }
            };
        }
        keep!(server_name, "server name");
        keep!(network, "network name");
        keep!(casemap, "casemapping");
        keep!(data_dir, "data directory");
        keep!(store, "store");
        keep!(cluster, "cluster");
        keep!(admin.listen, "admin listener");
        keep!(listen, "listeners");
        if new.privacy.cloak_key.is_none() {
            new.privacy.cloak_key = old.privacy.cloak_key.clone();
        }
        self.burst
            .store(Arc::new(isupport::Burst::new(&new, &self.created)));
        self.budget.set_limit(new.limits.sendq_total_bytes);
        self.config.store(Arc::new(new));
        tls::reload_all(&self.tls.lock().expect("tls lock"));
        let path = src.path.display().to_string();
        if kept.is_empty() {
            Ok(path)
        } else {
            Ok(format!(
                "{path} (unchanged until restart: {})",
                kept.join(", ")
            ))
        }
    }

    pub(crate) fn next_client_id(&self) -> ClientId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A new message id: the time (ms, 11 hex digits), this run's nonce
    /// and a counter, 25 characters or more. History finds a msgid by
    /// the time in it (ferry-store's history log).
    pub(crate) fn msgid(&self) -> String {
        self.msgid_at(self.clock.unix_ms())
    }

    /// [`Server::msgid`] for an event made at `unix_ms` (its server-time:
    /// no second clock read).
    pub(crate) fn msgid_at(&self, unix_ms: i64) -> String {
        let n = self.next_msgid.fetch_add(1, Ordering::Relaxed);
        let t = unix_ms.max(0) as u64;
        let mut id = Vec::with_capacity(28);
        push_hex(&mut id, t, 11);
        push_hex(&mut id, self.msgid_nonce, 8);
        push_hex(&mut id, n, 6);
        String::from_utf8(id).expect("hex digits are ASCII")
    }

    /// Seconds since the server started (monotonic).
    pub(crate) fn uptime_secs(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_secs()
    }

    pub(crate) fn fold_nick(&self, nick: &str) -> Option<String> {
        self.config().casemap.fold(nick).map(|c| c.into_owned())
    }

    /// The registered client going by `nick` (any case).
    pub(crate) fn find_nick(&self, nick: &str) -> Option<Arc<Client>> {
        self.registry.find_nick(&self.fold_nick(nick)?)
    }

    /// The channel called `name` (any case).
    pub(crate) fn find_channel(&self, name: &str) -> Option<Arc<Channel>> {
        let f = self.config().casemap.fold(name)?;
        self.registry.channel(&f)
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn store<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Store) -> ferry_store::Result<R> + Send + 'static,
    ) -> ferry_store::Result<R> {
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*s))
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    pub(crate) fn add_whowas(&self, e: WhowasEntry) {
        let mut w = self.whowas.lock().expect("whowas lock");
        w.push_front(e);
        w.truncate(self.config().limits.whowas_entries);
    }
}

/// Why REHASH kept the running configuration; the text is what the
/// operator reads (a NOTICE, the log).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RehashError {
    /// Started without a file: only the TLS certificates were read again.
    #[error("no configuration file (started on defaults); TLS certificates reloaded")]
    NoConfigFile,
    /// The file could not be read or is not a valid configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Wall time in milliseconds, from the system clock. Inside the server ask
/// `server.clock` instead (net/ and fuzz.rs still call this).
pub fn unix_millis() -> i64 {
    Clock::system().unix_ms()
}

/// Wall time in seconds, from the system clock; see [`unix_millis`].
pub fn unix_now() -> u64 {
    Clock::system().unix_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rehash_errors_read_as_before() {
        assert_eq!(
            RehashError::NoConfigFile.to_string(),
            "no configuration file (started on defaults); TLS certificates reloaded"
        );
        let bad = Config::parse("[server]\nname = 1\n", "t").unwrap_err();
        let shown = bad.to_string();
        assert_eq!(RehashError::from(bad).to_string(), shown);
    }
}

/// Appends `v` in lowercase hex, at least `width` digits (as `{:0width$x}`).
/// On every message (msgids): bytes from a table, not `char`s.
fn push_hex(out: &mut Vec<u8>, v: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = ((64 - v.leading_zeros() as usize).div_ceil(4))
        .max(width)
        .max(1);
    out.extend(
        (0..digits)
            .rev()
            .map(|i| DIGITS[((v >> (4 * i)) & 0xf) as usize]),
    );
}

#[cfg(test)]
mod hex_tests {
    #[test]
    fn hex_is_as_format_writes_it() {
        for v in [0u64, 1, 0xf, 0x10, 0xabc, 0x1234_5678_9abc, u64::MAX] {
            for w in [1, 6, 8, 11] {
                let mut s = Vec::new();
                super::push_hex(&mut s, v, w);
                assert_eq!(String::from_utf8(s).unwrap(), format!("{v:0w$x}"));
            }
        }
    }
}
