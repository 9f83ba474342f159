//! The ferry relay server.
//!
//! # Who owns what
//! - Each connection is one tokio task (`net/driver.rs`) that owns its
//!   socket, its line processor (`net/lines.rs`) and its `Session` (registration state, caps, MONITOR
//!   list). No other task touches those, so they need no lock.
//! - What other tasks need of a connection is its `Client` (`client.rs`): a
//!   bounded send queue (`route::Outbox`) and a few fields (nick, modes,
//!   away) behind a short per-client mutex.
//! - The `Server` (`server.rs`) holds the `Registry` (`registry.rs`):
//!   concurrent maps (`dashmap`, sharded) of clients by id, nicks, channels
//!   and MONITOR watchers. Each channel has its own mutex. There is no
//!   global lock.
//!
//! # Layers and seams
//! State (`server`, `registry`, `client`, `channel`, `session`, `event`,
//! `config/`, `auth/`, ...) at the bottom; then the seams: `ctx` (what a
//! handler works with: `Ctx`, `Reject`, deferred steps) and `route` (every
//! delivery to anyone but the current client: only `route` can fill
//! another client's queue); then what commands share (`lifecycle`,
//! `welcome`, `membership`, `accounts/`); then `commands/`, one file per
//! verb, whose files never import one another; and the network layer
//! (`net/`: listener, connection driver, sans-I/O line processor, writer,
//! stream, parker) on top.
//! docs/ARCHITECTURE.md says what will plug into each seam (a cluster bus
//! and registry, a WebSocket stream, another event loop, PostgreSQL).
//!
//! # How a line travels
//! A reader wakes on a readable socket, reads what is there, and handles
//! every complete line before it yields (`net/driver.rs`, through the
//! sans-I/O `net/lines.rs`: framing, flood control, charsets, chains). The line is parsed
//! in place (`ferry_proto::Message`), dispatched by verb (`commands/`),
//! and the handler writes replies for its own client into a `Reply`
//! (which adds `label` and `batch`), and relays to others through `route`
//! with an `event::Event`: the body is serialised once into `Bytes`, the
//! tag prefix once per combination of the recipient's tag capabilities,
//! and both are pushed (reference-counted, not copied) into each
//! recipient's queue. The recipient's task wakes and writes everything
//! queued in one vectored write. A queue over its SendQ limit closes that
//! client alone.
//!
//! # Charsets
//! Inside the server every line is UTF-8. A client on a GBK listener (or
//! after `CHARSET gbk`) has each framed line decoded by its own task
//! before it is handled, and what is queued for it encoded as its own
//! task takes it from the queue (`charset.rs`): fan-out still serialises
//! once, and a UTF-8 client does no transcoding work at all.

// Everything is crate-private unless the crate exports it: a `pub` that
// is not reachable from outside is a `pub(crate)` that says so.
#![warn(unreachable_pub)]

mod accounts;
mod admin;
mod always_on;
pub mod auth;
mod bans;
mod caps;
mod channel;
mod chanserv;
mod charset;
mod client;
mod clock;
mod cluster;
mod commands;
pub mod config;
mod ctx;
mod devices;
mod event;
#[doc(hidden)]
pub mod fuzz;
mod guard;
mod history;
mod history_read;
mod isupport;
mod lifecycle;
mod membership;
mod metadata;
mod multiline;
mod net;
mod registry;
#[doc(hidden)]
pub mod relaybench;
mod reply;
mod route;
mod server;
mod session;
mod stats;
mod text;
pub mod tls;
mod welcome;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use accounts::{check_new_account, create_account, set_password, AccountError};
pub use admin::new_token;
pub use charset::Charset;
pub use clock::Clock;
pub use config::Config;
pub use net::Listener;
pub(crate) use server::Server;
pub use server::{unix_millis, unix_now};

use client::Client;

pub const VERSION: &str = concat!("ferry-", env!("CARGO_PKG_VERSION"));

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
    /// `--admin` given on the command line.
    pub admin: Option<std::net::SocketAddr>,
    /// `--store` given on the command line.
    pub store: Option<config::StoreConfig>,
}

/// How the embedding program (`ferry serve`, the tests) controls a
/// running server besides shutting it down.
#[derive(Debug, Default)]
pub struct Control {
    /// The configuration file, for REHASH.
    pub source: Option<ConfigSource>,
    /// Each message asks for a rehash (SIGHUP).
    pub rehash: Option<tokio::sync::mpsc::UnboundedReceiver<()>>,
    /// The admin listener, bound (`[admin] listen`, `--admin`).
    pub admin: Option<tokio::net::TcpListener>,
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
    let mut metrics = admin::Metrics::new();
    let store: Arc<dyn Store> = match &config.store {
        config::StoreConfig::Sqlite => {
            let store = SqliteStore::open(&config.data_dir).map_err(|e| {
                std::io::Error::other(format!(
                    "open the store in {}: {e}",
                    config.data_dir.display()
                ))
            })?;
            let commits = metrics.commit_seconds.clone();
            store.observe_commits(Box::new(move |d| commits.observe(d.as_secs_f64())));
            Arc::new(store)
        }
        config::StoreConfig::Postgres {
            url,
            pool_size,
            ca_file,
        } => {
            let (url, pool_size, ca_file) = (url.clone(), *pool_size, ca_file.clone());
            // Connecting and migrating block: off the runtime's workers.
            let store = tokio::task::spawn_blocking(move || {
                ferry_store::PgStore::connect(&url, pool_size, ca_file.as_deref())
            })
            .await
            .map_err(std::io::Error::other)?
            .map_err(|e| std::io::Error::other(format!("open the PostgreSQL store: {e}")))?;
            info!("store: PostgreSQL");
            Arc::new(store)
        }
    };
    let cancel = CancellationToken::new();
    let retention = Duration::from_secs(config.history.retention_days * 86_400);
    // The one clock everything takes time from (`clock.rs`).
    let clock = clock::Clock::system();
    // History stops after the connections, so their last messages are kept.
    let history_stop = CancellationToken::new();
    let (history, history_task) =
        history::History::start(store.clone(), retention, clock, history_stop.clone());
    let mut server = Server::new(config, store, history, clock);
    server.config_source = control.source;
    *server.tls.get_mut().expect("tls lock") =
        listeners.iter().filter_map(|l| l.tls.clone()).collect();
    let server = Arc::new(server);
    if let Some(c) = &server.config().cluster {
        let cluster = cluster::Cluster::start(c)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(cluster.clone().serve_dms(Arc::downgrade(&server)));
        let _ = server.cluster.set(cluster);
    }
    chanserv::restore(&server);
    always_on::restore(&server);
    metrics.collect(&server);
    let metrics = Arc::new(metrics);
    let tracker = TaskTracker::new();
    if let Some(l) = control.admin {
        tracker.spawn(admin::serve(
            server.clone(),
            metrics.clone(),
            l,
            cancel.clone(),
        ));
    }
    let parker = net::Parker::start(&server, tracker.clone())?;
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
        let web = listener.web.is_some();
        info!(addr = %address, charset = listener.charset.name(), tls, web, "listening");
        let counters = Arc::new(stats::ListenerStats {
            address,
            charset: listener.charset.name(),
            tls,
            web,
            accepted: AtomicU64::new(0),
            open: AtomicUsize::new(0),
        });
        server
            .listeners
            .lock()
            .expect("listeners lock")
            .push(counters.clone());
        if listener.web.is_some() {
            tracker.spawn(net::web_accept_loop(
                server.clone(),
                listener,
                counters,
                cancel.clone(),
                tracker.clone(),
            ));
        } else {
            tracker.spawn(net::accept_loop(
                server.clone(),
                listener,
                counters,
                cancel.clone(),
                tracker.clone(),
            ));
        }
    }
    tracker.spawn(sweeper(server.clone(), cancel.clone()));
    tracker.spawn(shedder(server.clone(), cancel.clone()));
    tracker.spawn(load_watch(server.clone(), cancel.clone()));
    shutdown.await;
    info!("shutting down");
    cancel.cancel();
    // Connection tasks wait on their own wakers, not on `cancel`: tell
    // each one (those still starting see the flag).
    server.shutting_down.store(true, Ordering::Release);
    server
        .registry
        .for_each_client(|c| c.kill_conn("Server shutting down".into()));
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

/// Every 20 ms: did the process use more than `flood.write_hold_above_cpu`
/// (85 %) of the cores it may run on? While it does, `server.hold_ms`
/// doubles (up to `flood.write_hold_max_ms`; 0, the default, never
/// holds), else it halves to 0: connections hold what others
/// queue for them that long before writing (net/driver.rs), so at
/// saturation one write carries several lines — as a saturated event
/// loop's long turn does — instead of a system call per line. Idle or
/// lightly loaded, every line is written at once. One `getrusage` per
/// 20 ms.
async fn load_watch(server: Arc<Server>, cancel: CancellationToken) {
    const EVERY: Duration = Duration::from_millis(20);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu = || {
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .map(|u| {
                let t =
                    |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
                t(u.user_time()) + t(u.system_time())
            })
            .unwrap_or(0.0)
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_cpu, mut last_at) = (cpu(), std::time::Instant::now());
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (now_cpu, now_at) = (cpu(), std::time::Instant::now());
        let wall = now_at.duration_since(last_at).as_secs_f64();
        let (max, above) = {
            let f = &server.config().flood;
            (f.write_hold_max_ms, f.write_hold_above_cpu)
        };
        let busy = max > 0 && wall > 0.0 && (now_cpu - last_cpu) / wall >= above * cores;
        // The hold doubles while busy (to HOLD_MAX_MS) and halves while
        // not, as the bench's generator does it.
        let hold = server.hold_ms.load(Ordering::Relaxed);
        let next = if busy {
            (hold * 2).clamp(1, max)
        } else {
            hold / 2
        };
        server.hold_ms.store(next, Ordering::Relaxed);
        (last_cpu, last_at) = (now_cpu, now_at);
    }
}

/// Keeps all send queues within the memory budget: when their total passes
/// the soft limit, the clients with the largest queues (the slowest
/// readers) are disconnected, largest first, until what they hold brings
/// the total under 9/10 of the limit. Their queues are freed by their own
/// tasks at once (`Outbox::discard`).
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
            .registry
            .clients()
            .into_iter()
            .map(|c| (c.outbox.pending(), c))
            .filter(|(n, c)| *n > 0 && c.outbox.overflowed().is_none())
            .collect();
        let mut freed = 0;
        let mut shed = 0;
        for (n, c) in route::slowest_first(queues, queued, soft) {
            c.outbox.overflow(route::Overflow::Budget);
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
        let unix = server.clock.unix_secs();
        server.registry.for_each_client(|c| {
            if !c.is_registered() {
                if unix.saturating_sub(c.connected_at) >= limits.registration_timeout.as_secs() {
                    c.kill_conn("Registration timed out".into());
                }
                return;
            }
            let deadline = u64::from(c.nick_deadline.load(Ordering::Relaxed));
            if deadline != 0 && now >= deadline {
                c.request_guest_nick();
            }
            let idle = now.saturating_sub(c.last_active.load(Ordering::Relaxed));
            if idle >= limits.ping_timeout.as_secs() {
                c.kill_conn(format!("Ping timeout: {idle} seconds"));
            } else if idle >= limits.ping_interval.as_secs()
                && !c.ping_sent.swap(true, Ordering::Relaxed)
            {
                route::server_line(c, &ping, limits.sendq_bytes);
            }
        });
    }
}
