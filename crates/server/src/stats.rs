//! Counters behind the operators' `STATS` views: traffic, commands,
//! listeners, and the accounting the limits are checked against.
//!
//! Every counter is a relaxed atomic bumped once per read or write call
//! or per command, never per byte: no lock and nothing allocated on the
//! message path. What is bumped once per message or per delivery is a
//! [`Striped`] counter, so threads relaying at once never share its line.
//! The admin listener's `/metrics` (admin/metrics.rs) reads them all at
//! each scrape.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::commands::COMMAND_COUNT;

#[derive(Debug)]
pub(crate) struct Stats {
    pub accepted: AtomicU64,
    /// Connections refused: limits, D-lines.
    pub refused: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub lines_in: AtomicU64,
    /// Clients disconnected for each reason the server chose.
    pub sendq_exceeded: AtomicU64,
    pub excess_flood: AtomicU64,
    pub budget_shed: AtomicU64,
    /// Messages dropped by the target-change limit.
    pub target_change_refused: AtomicU64,
    /// Bytes of read buffers connections hold now (a partial line each at
    /// most, plus a throttled client's waiting lines).
    pub read_buffers: AtomicUsize,
    /// Connections parked off the runtime now (`net/park.rs`).
    pub parked: AtomicUsize,
    commands: [Command; COMMAND_COUNT],
    /// Messages relayed, by [`Relayed`] (verb and target kind).
    relayed: [Striped; Relayed::COUNT],
    /// Messages stored for offline accounts (committed).
    pub offline_stored: AtomicU64,
    /// Accounts created (REGISTER, NickServ REGISTER, the admin API).
    pub registrations: AtomicU64,
    /// Logins, by how they ended.
    pub logins: [AtomicU64; Login::COUNT],
}

/// What a relayed message was: its verb and whether it went to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// 0 PRIVMSG, 1 NOTICE, 2 TAGMSG.
    pub verb: u8,
    pub channel: bool,
}

impl Relayed {
    pub(crate) const COUNT: usize = 6;
    pub(crate) const VERBS: [&'static str; 3] = ["privmsg", "notice", "tagmsg"];

    fn index(self) -> usize {
        usize::from(self.verb.min(2)) * 2 + usize::from(self.channel)
    }

    /// Every kind, in index order.
    pub(crate) fn all() -> impl Iterator<Item = Relayed> {
        (0..3u8).flat_map(|verb| [false, true].map(|channel| Relayed { verb, channel }))
    }
}

/// How a login ended (`ferry_logins_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Login {
    Ok = 0,
    /// Wrong password, unknown account, unknown certificate.
    Failed = 1,
    /// Refused unchecked: too many failures (the login limiter).
    Throttled = 2,
    /// The right password for a suspended account.
    Suspended = 3,
}

impl Login {
    pub(crate) const COUNT: usize = 4;
    pub(crate) const NAMES: [&'static str; 4] = ["ok", "failed", "throttled", "suspended"];
}

/// A counter bumped from every runtime thread on the message path. One
/// shared atomic would move its cache line between cores at every message
/// (the relay's own shared counters are few for that reason); here each
/// thread adds to its own stripe, a cache line of its own, and a scrape
/// sums the stripes. Written here, not taken from a crate: it is a few
/// lines on the hot path, and the crates that have one bring much more.
#[derive(Debug, Default)]
pub(crate) struct Striped([Stripe; STRIPES]);

const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// The stripe this thread adds to: threads take stripes in turn.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    MINE.with(|m| *m)
}

impl Striped {
    pub(crate) fn add(&self, n: u64) {
        self.0[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Debug, Default)]
struct Command {
    count: AtomicU64,
    bytes: AtomicU64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            lines_in: AtomicU64::new(0),
            sendq_exceeded: AtomicU64::new(0),
            excess_flood: AtomicU64::new(0),
            budget_shed: AtomicU64::new(0),
            target_change_refused: AtomicU64::new(0),
            read_buffers: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            commands: std::array::from_fn(|_| Command::default()),
            relayed: Default::default(),
            offline_stored: AtomicU64::new(0),
            registrations: AtomicU64::new(0),
            logins: Default::default(),
        }
    }
}

impl Stats {
    /// A line for command `index` (its place in the command table).
    pub(crate) fn command(&self, index: usize, bytes: usize) {
        if let Some(c) = self.commands.get(index) {
            c.count.fetch_add(1, Ordering::Relaxed);
            c.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// (count, bytes) of command `index`.
    pub(crate) fn command_counts(&self, index: usize) -> (u64, u64) {
        self.commands.get(index).map_or((0, 0), |c| {
            (
                c.count.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// A message was relayed (to one target).
    pub(crate) fn relayed(&self, kind: Relayed) {
        self.relayed[kind.index()].add(1);
    }

    pub(crate) fn relayed_count(&self, kind: Relayed) -> u64 {
        self.relayed[kind.index()].get()
    }

    pub(crate) fn login(&self, how: Login) {
        self.logins[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A read buffer grew from `before` to `after` bytes of capacity.
    pub(crate) fn read_buffer(&self, before: usize, after: usize) {
        if after > before {
            self.read_buffers
                .fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.read_buffers
                .fetch_sub(before - after, Ordering::Relaxed);
        }
    }
}

/// One listening socket's counters (`STATS P`).
#[derive(Debug)]
pub(crate) struct ListenerStats {
    pub address: SocketAddr,
    pub charset: &'static str,
    pub tls: bool,
    /// A web listener (HTTP and WebSocket).
    pub web: bool,
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}
