//! Counters behind the operators' `STATS` views: traffic, commands,
//! listeners, and the accounting the limits are checked against.
//!
//! Every counter is a relaxed atomic bumped once per read or write call
//! or per command, never per byte: no lock and nothing allocated on the
//! message path.

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
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}
