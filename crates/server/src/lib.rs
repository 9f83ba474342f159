//! The ferry relay server.
//!
//! # Who owns what
//! - Each connection is one tokio task (`conn.rs`) that owns its socket, its
//!   read buffer and its [`session::Session`] (registration state, caps,
//!   MONITOR list). No other task touches those, so they need no lock.
//! - What other tasks need of a connection is its [`client::Client`]: a
//!   bounded send queue ([`outbox::Outbox`]) and a few fields (nick, modes,
//!   away) behind a short per-client mutex.
//! - The server keeps three concurrent maps (`dashmap`, sharded): clients
//!   by id, clients by casefolded nick, channels by casefolded name. Each
//!   channel has its own mutex. There is no global lock.
//!
//! # How a line travels
//! A reader wakes on a readable socket, reads what is there, and handles
//! every complete line before it yields (`conn.rs`). The line is parsed
//! in place (`ferry_proto::Message`), dispatched by verb (`commands/`),
//! and the handler writes replies for its own client into a [`reply::Reply`]
//! (which adds `label` and `batch`), and relays to others through
//! [`router::Event`]: the body is serialised once into `Bytes`, the tag
//! prefix once per combination of the recipient's tag capabilities, and
//! both are pushed (reference-counted, not copied) into each recipient's
//! queue. The recipient's task wakes and writes everything queued in one
//! vectored write. A queue over its SendQ limit closes that client alone.
//!
//! # Charsets
//! Inside the server every line is UTF-8. A client on a GBK listener (or
//! after `CHARSET gbk`) has each framed line decoded by its own task
//! before it is handled, and what is queued for it encoded as its own
//! task takes it from the queue ([`charset`]): fan-out still serialises
//! once, and a UTF-8 client does no transcoding work at all.

pub mod auth;
pub mod caps;
pub mod channel;
pub mod charset;
pub mod client;
mod commands;
pub mod config;
mod conn;
#[doc(hidden)]
pub mod fuzz;
pub mod guard;
pub mod history;
pub mod isupport;
pub mod outbox;
mod park;
pub mod reply;
pub mod router;
pub mod session;
pub mod stats;
pub mod tls;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::{DashMap, DashSet};
use ferry_store::{SqliteStore, Store, StoreError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use charset::Charset;
pub use config::Config;

use channel::Channel;
use client::{Client, ClientId};

pub const VERSION: &str = concat!("ferry-", env!("CARGO_PKG_VERSION"));

/// A nick that was in use, for WHOWAS.
#[derive(Debug, Clone)]
pub struct WhowasEntry {
    pub folded: String,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub at: u64,
}

/// Everything shared between connection tasks.
pub struct Server {
    /// The running configuration: swapped whole by REHASH (and SIGHUP),
    /// read lock-free ([`Server::config`]).
    config: arc_swap::ArcSwap<Config>,
    /// The file the configuration came from, and what the command line
    /// overrode in it: REHASH reads the file again.
    config_source: Option<ConfigSource>,
    /// The server's name (fixed for the run, unlike the rest of `config`).
    pub name: String,
    /// TLS listeners' certificates, reloaded by REHASH.
    pub tls: Mutex<Vec<Arc<tls::Tls>>>,
    pub clients: DashMap<ClientId, Arc<Client>>,
    pub nicks: DashMap<String, Arc<Client>>,
    pub channels: DashMap<String, Arc<Channel>>,
    /// Casefolded nick -> who MONITORs it.
    pub monitors: DashMap<String, HashMap<ClientId, Arc<Client>>>,
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
    pub history: history::History,
    /// Accounts disconnected for SendQ, and when: what they missed comes
    /// from history at their next login.
    pub missed_since: DashMap<String, i64>,
    /// Connection limits' counters.
    pub admission: Arc<guard::Admission>,
    /// Operators' KLINEs and DLINEs (rarely written; read at connect and
    /// registration, never on the message path).
    pub bans: std::sync::RwLock<Vec<ferry_store::ServerBan>>,
    /// Operators with user mode +s: who gets server notices, and their
    /// snomask (bits of [`client::SNOMASKS`]).
    pub snotice_watchers: DashMap<ClientId, (Arc<Client>, u32)>,
    /// Set once the server is stopping: connections end (see `serve`).
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// The memory budget every client's send queue counts in.
    pub budget: Arc<outbox::Budget>,
    /// Traffic and command counters (STATS).
    pub stats: stats::Stats,
    /// Every listener's counters (STATS P), filled by `serve`.
    pub listeners: Mutex<Vec<Arc<stats::ListenerStats>>>,
    /// Where idle connections wait off the runtime; set by `serve`.
    pub(crate) parker: std::sync::OnceLock<Arc<park::Parker>>,
}

impl Server {
    pub fn new(config: Config, store: Arc<dyn Store>, history: history::History) -> Server {
        let created = router::format_time(SystemTime::now());
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
        let a = &config.accounts;
        Server {
            store,
            registered_names,
            hasher: auth::Hasher::new(a.hash_concurrency),
            login_limiter: auth::LoginLimiter::new(
                a.login_failures,
                Duration::from_secs(a.login_window_secs),
            ),
            history,
            missed_since: DashMap::new(),
            admission: Arc::new(guard::Admission::default()),
            bans: std::sync::RwLock::new(bans),
            snotice_watchers: DashMap::new(),
            stats: stats::Stats::default(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            budget: Arc::new(outbox::Budget::new(config.limits.sendq_total_bytes)),
            listeners: Mutex::new(Vec::new()),
            parker: std::sync::OnceLock::new(),
            clients: DashMap::new(),
            nicks: DashMap::new(),
            channels: DashMap::new(),
            monitors: DashMap::new(),
            whowas: Mutex::new(VecDeque::new()),
            users: AtomicUsize::new(0),
            invisible: AtomicUsize::new(0),
            max_users: AtomicUsize::new(0),
            opers: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            next_msgid: AtomicU64::new(1),
            msgid_nonce: rand::random::<u64>() & 0xffff_ffff,
            start: Instant::now(),
            created,
            burst: arc_swap::ArcSwap::from_pointee(burst),
            config_source: None,
            name: config.server_name.clone(),
            config: arc_swap::ArcSwap::from_pointee(config),
            tls: Mutex::new(Vec::new()),
        }
    }

    /// The running configuration (a cheap, lock-free snapshot).
    pub fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// The welcome burst's lines that change only with the configuration.
    pub fn burst(&self) -> arc_swap::Guard<Arc<isupport::Burst>> {
        self.burst.load()
    }

    /// Reads the configuration file again and applies it (REHASH, SIGHUP):
    /// limits, flood control, MOTD, operators, accounts and privacy
    /// settings take effect at once; TLS listeners read their certificate
    /// files again. What the running server is built on stays: server and
    /// network name, casemapping, data directory and listeners (they need
    /// a restart; the reply says so). Returns what was read, or why not.
    pub fn rehash(&self) -> Result<String, String> {
        let Some(src) = &self.config_source else {
            tls::reload_all(&self.tls.lock().expect("tls lock"));
            return Err(
                "no configuration file (started on defaults); TLS certificates reloaded".into(),
            );
        };
        let mut new = Config::load(&src.path).map_err(|e| e.to_string())?;
        let old = self.config();
        let mut kept = Vec::new();
        if let Some(l) = &src.listen {
            new.listen = l.clone();
        }
        if let Some(d) = &src.data_dir {
            new.data_dir = d.clone();
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

    pub fn next_client_id(&self) -> ClientId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A message id unique to this server run.
    pub fn msgid(&self) -> String {
        let n = self.next_msgid.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}{:x}", self.msgid_nonce, n)
    }

    /// Seconds since the server started (monotonic).
    pub fn uptime_secs(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    pub fn fold_nick(&self, nick: &str) -> Option<String> {
        self.config().casemap.fold(nick).map(|c| c.into_owned())
    }

    pub fn find_nick(&self, nick: &str) -> Option<Arc<Client>> {
        let f = self.fold_nick(nick)?;
        self.nicks
            .get(&f)
            .map(|c| c.clone())
            .filter(|c| c.is_registered())
    }

    pub fn find_channel(&self, name: &str) -> Option<Arc<Channel>> {
        let f = self.config().casemap.fold(name)?;
        self.channels.get(f.as_ref()).map(|c| c.clone())
    }

    /// Runs a store call on the blocking pool.
    pub async fn store<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Store) -> ferry_store::Result<R> + Send + 'static,
    ) -> ferry_store::Result<R> {
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*s))
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    /// A server notice to every operator watching (+s) with `letter` in
    /// their snomask (see [`client::SNOMASKS`]): connects, exits, kills,
    /// floods, refused connections, bans.
    pub fn snote(&self, letter: char, text: &str) {
        if self.snotice_watchers.is_empty() {
            return;
        }
        let Some(bit) = client::snomask_bit(letter) else {
            return;
        };
        let cfg = self.config();
        for w in self.snotice_watchers.iter() {
            let (c, mask) = w.value();
            if mask & bit == 0 {
                continue;
            }
            let line = format!(
                ":{} NOTICE {} :*** Notice -- {text}\r\n",
                cfg.server_name,
                c.nick()
            );
            c.send_bytes(&bytes::Bytes::from(line), cfg.limits.sendq_bytes);
        }
    }

    pub fn add_whowas(&self, e: WhowasEntry) {
        let mut w = self.whowas.lock().expect("whowas lock");
        w.push_front(e);
        w.truncate(self.config().limits.whowas_entries);
    }
}

pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A bound listening socket and what its clients speak.
#[derive(Debug)]
pub struct Listener {
    pub tcp: TcpListener,
    pub charset: Charset,
    /// TLS on this port: its certificate, reloadable ([`tls::Tls::reload`]).
    pub tls: Option<Arc<tls::Tls>>,
}

impl Listener {
    pub fn new(tcp: TcpListener, charset: Charset) -> Listener {
        Listener {
            tcp,
            charset,
            tls: None,
        }
    }

    /// A bound socket for a configured listener: its charset, and its TLS
    /// certificate loaded from the files the config names.
    pub fn configured(tcp: TcpListener, l: &config::Listen) -> Result<Listener, tls::TlsError> {
        let tls = l.tls.as_ref().map(tls::Tls::load).transpose()?;
        Ok(Listener {
            tcp,
            charset: l.charset,
            tls: tls.map(Arc::new),
        })
    }
}

/// A UTF-8 listener.
impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener::new(tcp, Charset::UTF8)
    }
}

/// The cloak key kept in the data directory, made at first start, so
/// cloaks stay the same across restarts.
fn cloak_key(dir: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = dir.join("cloak.key");
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 16 => Ok(k),
        _ => {
            std::fs::create_dir_all(dir)?;
            let key: [u8; 32] = rand::random();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(&path, hex.as_bytes())?;
            Ok(hex.into_bytes())
        }
    }
}

/// Where the running configuration came from (see [`Server::rehash`]).
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: std::path::PathBuf,
    /// `--listen` given on the command line: kept over the file's.
    pub listen: Option<Vec<config::Listen>>,
    /// `--data-dir` given on the command line.
    pub data_dir: Option<std::path::PathBuf>,
}

/// How the embedding program (`ferry serve`, the tests) controls a
/// running server besides shutting it down.
#[derive(Debug, Default)]
pub struct Control {
    /// The configuration file, for REHASH.
    pub source: Option<ConfigSource>,
    /// Each message asks for a rehash (SIGHUP).
    pub rehash: Option<tokio::sync::mpsc::UnboundedReceiver<()>>,
}

/// Runs the server on already-bound listeners until `shutdown` resolves,
/// then tells every client (`ERROR`), flushes and returns. `main` and the
/// tests start the server the same way.
pub async fn serve(
    config: Config,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(config, listeners, shutdown, Control::default()).await
}

/// [`serve`], with a configuration file to REHASH from and a channel of
/// rehash requests.
pub async fn serve_with(
    mut config: Config,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()>,
    control: Control,
) -> std::io::Result<()> {
    if config.privacy.cloak && config.privacy.cloak_key.is_none() {
        config.privacy.cloak_key = Some(cloak_key(&config.data_dir)?);
    }
    let store = SqliteStore::open(&config.data_dir).map_err(|e| {
        std::io::Error::other(format!(
            "open the store in {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let store: Arc<dyn Store> = Arc::new(store);
    let cancel = CancellationToken::new();
    let retention = Duration::from_secs(config.history.retention_days * 86_400);
    // History stops after the connections, so their last messages are kept.
    let history_stop = CancellationToken::new();
    let (history, history_task) =
        history::History::start(store.clone(), retention, history_stop.clone());
    let mut server = Server::new(config, store, history);
    server.config_source = control.source;
    *server.tls.get_mut().expect("tls lock") =
        listeners.iter().filter_map(|l| l.tls.clone()).collect();
    let server = Arc::new(server);
    let tracker = TaskTracker::new();
    let parker = park::Parker::start(&server, tracker.clone())?;
    let _ = server.parker.set(parker.clone());
    if let Some(mut rx) = control.rehash {
        let (server, cancel) = (server.clone(), cancel.clone());
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = rx.recv() => if r.is_none() { return },
                }
                match server.rehash() {
                    Ok(what) => {
                        info!(%what, "rehashed");
                        server.snote('s', &format!("Rehashing {what} (signal)"));
                    }
                    Err(e) => warn!(
                        error = %e,
                        "rehash failed; the running configuration and certificates stay"
                    ),
                }
            }
        });
    }
    for listener in listeners {
        let address = listener.tcp.local_addr()?;
        let tls = listener.tls.is_some();
        info!(addr = %address, charset = listener.charset.name(), tls, "listening");
        let counters = Arc::new(stats::ListenerStats {
            address,
            charset: listener.charset.name(),
            tls,
            accepted: AtomicU64::new(0),
            open: AtomicUsize::new(0),
        });
        server
            .listeners
            .lock()
            .expect("listeners lock")
            .push(counters.clone());
        tracker.spawn(accept_loop(
            server.clone(),
            listener,
            counters,
            cancel.clone(),
            tracker.clone(),
        ));
    }
    tracker.spawn(sweeper(server.clone(), cancel.clone()));
    tracker.spawn(shedder(server.clone(), cancel.clone()));
    shutdown.await;
    info!("shutting down");
    cancel.cancel();
    // Connection tasks wait on their own wakers, not on `cancel`: tell
    // each one (those still starting see the flag).
    server.shutting_down.store(true, Ordering::Release);
    for c in server.clients.iter() {
        c.kill("Server shutting down".into());
    }
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        warn!("some connections did not close within 5 s");
    }
    parker.stop();
    history_stop.cancel();
    let _ = history_task.await;
    Ok(())
}

async fn accept_loop(
    server: Arc<Server>,
    listener: Listener,
    counters: Arc<stats::ListenerStats>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let charset = listener.charset;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.tcp.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                server.stats.accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(reason) = guard::dline_reason(&server, peer.ip()) {
                    tracker.spawn(refuse(
                        server.clone(),
                        stream,
                        peer,
                        format!("D-lined: {reason}"),
                        listener.tls.is_none(),
                    ));
                    continue;
                }
                let ticket = match server.admission.admit(&server.config(), peer.ip()) {
                    Ok(t) => t.on_listener(counters.clone()),
                    Err(reason) => {
                        tracker.spawn(refuse(
                            server.clone(),
                            stream,
                            peer,
                            reason,
                            listener.tls.is_none(),
                        ));
                        continue;
                    }
                };
                let accepted = Box::new(conn::Accepted {
                    stream,
                    peer,
                    charset,
                    tls: listener.tls.clone(),
                    cancel: cancel.clone(),
                    ticket,
                });
                // Not wrapped in an async block, which would hold the
                // whole future twice.
                let run = conn::run(server.clone(), accepted);
                // What every connection costs the runtime: tokio rounds a
                // task up to 128-byte lines, and past about 100 bytes of
                // future it takes three instead of two.
                debug_assert!(std::mem::size_of_val(&run) <= 96);
                tracker.spawn(run);
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a connection over a limit why, then closes it.
async fn refuse(
    server: Arc<Server>,
    mut stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    reason: String,
    plain: bool,
) {
    use tokio::io::AsyncWriteExt;
    warn!(%peer, %reason, "connection refused");
    server.stats.refused.fetch_add(1, Ordering::Relaxed);
    let letter = if reason.starts_with("D-lined") {
        'r'
    } else {
        'f'
    };
    server.snote(
        letter,
        &format!(
            "Connection refused from {}: {reason}",
            peer.ip().to_canonical()
        ),
    );
    if !plain {
        // A TLS client could not read a plain-text ERROR: just close.
        return;
    }
    let line = format!(
        "ERROR :Closing Link: {} ({reason})\r\n",
        peer.ip().to_canonical()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Keeps all send queues within the memory budget: when their total passes
/// the soft limit, the clients with the largest queues (the slowest
/// readers) are disconnected, largest first, until what they hold brings
/// the total under 9/10 of the limit. Their queues are freed by their own
/// tasks at once ([`outbox::Outbox::discard`]).
async fn shedder(server: Arc<Server>, cancel: CancellationToken) {
    let budget = server.budget.clone();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = budget.pressure.notified() => {}
        }
        let soft = budget.soft();
        let queued = budget.queued();
        if queued <= soft {
            continue;
        }
        let queues: Vec<(usize, Arc<Client>)> = server
            .clients
            .iter()
            .map(|c| (c.outbox.pending(), c.value().clone()))
            .filter(|(n, c)| *n > 0 && c.outbox.overflowed().is_none())
            .collect();
        let mut freed = 0;
        let mut shed = 0;
        for (n, c) in outbox::slowest_first(queues, queued, soft) {
            c.outbox.overflow(outbox::Overflow::Budget);
            server.snote(
                'f',
                &format!("Memory budget: shedding {} ({} bytes queued)", c.nick(), n),
            );
            freed += n;
            shed += 1;
        }
        warn!(
            queued,
            soft, shed, freed, "send queues over the memory budget"
        );
        // Let the shed connections free their queues before looking again.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One coarse periodic sweep finds dead and unregistered-too-long clients,
/// instead of a timer per connection.
async fn sweeper(server: Arc<Server>, cancel: CancellationToken) {
    let period = |cfg: &Config| {
        (cfg.limits.ping_interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
    };
    let mut every = period(&server.config());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping = bytes::Bytes::from(format!("PING :{}\r\n", server.name));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Read each sweep: REHASH may have changed the limits.
        let cfg = server.config();
        let limits = &cfg.limits;
        if period(&cfg) != every {
            every = period(&cfg);
            tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let now = server.uptime_secs();
        let unix = unix_now();
        for entry in server.clients.iter() {
            let c = entry.value();
            if !c.is_registered() {
                if unix.saturating_sub(c.connected_at) >= limits.registration_timeout.as_secs() {
                    c.kill("Registration timed out".into());
                }
                continue;
            }
            let deadline = u64::from(c.nick_deadline.load(Ordering::Relaxed));
            if deadline != 0 && now >= deadline {
                c.request_guest_nick();
            }
            let idle = now.saturating_sub(c.last_active.load(Ordering::Relaxed));
            if idle >= limits.ping_timeout.as_secs() {
                c.kill(format!("Ping timeout: {idle} seconds"));
            } else if idle >= limits.ping_interval.as_secs()
                && !c.ping_sent.swap(true, Ordering::Relaxed)
            {
                c.send_bytes(&ping, limits.sendq_bytes);
            }
        }
    }
}
