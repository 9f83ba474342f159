//! ferry-bench: a load generator for IRC servers, ferry or any other, on
//! this machine's loopback.
//!
//! `ferry bench idle|dm|fanout` connects clients (each bound to a source
//! address in 127.0.0.0/8, so ephemeral ports are no ceiling), registers
//! them (answering PING, retrying a nick in use, counting a client
//! registered at 001), then runs the scenario and prints one JSON line
//! ([`Report`]); on a terminal a table and progress too.
//!
//! `presence` and `offline` drive ferry's accounts instead (`accounts.rs`,
//! `presence/`, `offline/`: each a `mod.rs` that runs the phases, a
//! `state.rs` with what a line read changes, a `report.rs` with what is
//! reported): accounts registered with REGISTER, logged
//! in with SASL PLAIN or SCRAM-SHA-256 (`scram.rs`), on one thread (a
//! current-thread tokio runtime, a task per connection: `tokio_wire.rs`).
//!
//! # Who does what
//! - The coordinator (`coord.rs`, this process's main thread) plans the
//!   run, starts the workers, tells them when to run each step, reads the
//!   server's /proc, merges what they report and decides `--max`.
//! - A worker (`worker.rs`: the idle, dm and fanout scenarios) drives a
//!   share of the clients on one thread's engine (`engine/`: a
//!   hand-written event loop on mio, the connections' sockets and the IRC
//!   client protocol they speak): a thread here with `--workers 1`, else a child
//!   process (this same binary, re-run with `FERRY_BENCH_WORKER` set)
//!   speaking JSON lines over stdin/stdout, since one process may open
//!   only RLIMIT_NOFILE sockets. Clients that talk to each other (a DM
//!   pair, a channel) live in one worker, so a worker measures latency on
//!   its own clock.
//! - The engine reads every ready socket once per turn and writes every
//!   line queued for one connection in a turn in one write; the
//!   scheduler runs between turns, every 250 µs, and while
//!   the thread is busy the engine holds lines a little longer so that
//!   one write carries several (`engine/mod.rs`).
//!
//! It does not use `ferry-client`: that is one Send-able session per
//! task, made for `ferry send`; here thousands of connections share one
//! thread, and the scheduler writes their sockets itself.
//!
//! Sends follow a fixed timetable (open loop, `schedule.rs`): message `n`
//! is due at `n / rate` and carries that due time, so latency is due time
//! to receipt, and a generator that falls behind shows as schedule lag
//! and as latency, never as a quietly lower rate.

use std::io::IsTerminal;

use serde::Serialize;

mod accounts;
mod coord;
mod engine;
mod offline;
mod presence;
mod report;
mod schedule;
mod scram;
mod search;
mod stats;
mod tokio_wire;
mod worker;

pub use accounts::Mech;
pub use offline::{Offline, OfflineDelivery, OfflineSend, OfflineServer};
pub use presence::{Gen, Logins, Notices, Presence, PresenceServer};

pub use coord::run_scenario;
pub use report::{
    Generator, Hold, Limits, MaxResult, Percentiles, Report, ServerIdle, ServerStep, Setup, Step,
};

/// `ferry bench`: drive an IRC server on loopback and measure it.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(clap::Subcommand, Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Scenario {
    /// Connect N clients at a fixed rate and keep them idle: registration
    /// rate and latency; with --server-pid, the server's bytes per client.
    Idle(IdleArgs),
    /// P pairs of clients; each sender sends direct messages to its
    /// partner on a fixed timetable.
    Dm(DmArgs),
    /// C channels of M members; members take turns sending to their
    /// channel, each message delivered to M−1 members.
    Fanout(FanoutArgs),
    /// ferry: accounts with F friends (stored MONITOR lists) logging in
    /// and out; latency and loss of the 730/731 their friends are sent.
    Presence(PresenceArgs),
    /// ferry: messages to offline accounts, acknowledged (echo) once
    /// committed; then the recipients log in and must get all of them.
    Offline(OfflineArgs),
}

/// Options every scenario takes.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct Common {
    /// The server, HOST:PORT; it must be a loopback address.
    #[arg(long, short, default_value = "127.0.0.1:6667")]
    pub server: String,
    /// Processes to spread the clients over (one process may open only
    /// RLIMIT_NOFILE files). 1 runs them in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// The server's process id: its RSS and CPU are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seconds a client may take from connecting to 001 (and its JOIN).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Client i is <prefix><i>; channel c is #<prefix><c>.
    #[arg(long, default_value = "fb")]
    pub nick_prefix: String,
    /// Clients per source address: 127.0.0.2, 127.0.0.3, ...
    #[arg(long, default_value_t = 10_000)]
    pub per_source: u64,
    /// Let the OS pick the source address (one address: ~28k clients at most).
    #[arg(long)]
    pub no_bind_source: bool,
    /// Most clients registering at once in one worker.
    #[arg(long, default_value_t = 1000)]
    pub max_inflight: usize,
    /// Connect with TLS (any certificate is taken: the target is loopback).
    #[arg(long)]
    pub tls: bool,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct IdleArgs {
    /// Clients to connect.
    #[arg(long, default_value_t = 1000)]
    pub clients: u64,
    /// Connections started per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds to hold the clients idle once all are registered.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// Options of the message scenarios.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct LoadArgs {
    /// Messages offered per second (channel messages for fanout); the
    /// first rate tried with --max.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of sending (of each step with --max).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Find the highest passing rate: double it until a step fails
    /// (loss, a disconnect, p99 over --p99-limit-ms, the generator behind
    /// its timetable), then bisect.
    #[arg(long)]
    pub max: bool,
    /// A step whose p99 latency is over this fails.
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,
    /// A step whose scheduler lag p99 is over this fails (the generator,
    /// not the server, is the limit then).
    #[arg(long, default_value_t = 10.0)]
    pub max_lag_ms: f64,
    /// Seconds to wait for deliveries after the last send.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Seconds of quiet between --max steps.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Most steps --max takes.
    #[arg(long, default_value_t = 16)]
    pub max_steps: usize,
    /// Clients connected per second while setting up.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// While the generator's thread is over 85 % busy it holds each
    /// connection's lines up to this long so that one write carries
    /// several (0: never hold; one write per connection per turn).
    #[arg(long, default_value_t = 8.0)]
    pub hold_max_ms: f64,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct DmArgs {
    /// Sender/receiver pairs (2 clients each).
    #[arg(long, default_value_t = 1000)]
    pub pairs: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct FanoutArgs {
    #[arg(long, default_value_t = 100)]
    pub channels: u64,
    /// Members per channel.
    #[arg(long, default_value_t = 50)]
    pub members: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// `presence`: N accounts on a ring, each MONITORing its F nearest;
/// even-numbered ones stay online and watch, odd-numbered ones log in
/// (SASL) on a timetable, stay --session seconds and QUIT.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct PresenceArgs {
    /// Accounts (registered with REGISTER during setup).
    #[arg(long, default_value_t = 1000)]
    pub accounts: u64,
    /// Friends per account: each MONITORs this many (half on each side).
    #[arg(long, default_value_t = 100)]
    pub friends: u64,
    /// Logins per second (open loop, round-robin over the odd accounts).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of logins.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds a logged-in account stays before it QUITs.
    #[arg(long, default_value_t = 1.0)]
    pub session: f64,
    /// SASL mechanism: plain (the server runs argon2 at every login) or
    /// scram (SCRAM-SHA-256; the bench caches each account's keys).
    #[arg(long, value_enum, default_value_t = Mech::Plain)]
    pub sasl: Mech,
    /// Accounts registered per second during setup.
    #[arg(long, default_value_t = 200.0)]
    pub register_rate: f64,
    /// Seconds to wait for notifications after the last QUIT.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// The run fails if a 730/731 p99 latency is over this.
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

/// `offline`: senders write to accounts that are not connected; the
/// server echoes each message once its store committed it; then the
/// recipients log in and must get every acknowledged message.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct OfflineArgs {
    /// Connected senders (echo-message, no account).
    #[arg(long, default_value_t = 1000)]
    pub senders: u64,
    /// Recipient accounts (registered during setup, offline while sent to).
    #[arg(long, default_value_t = 1000)]
    pub recipients: u64,
    /// Messages offered per second (open loop).
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Messages a sender writes to one recipient before the next.
    #[arg(long, default_value_t = 10)]
    pub burst: u64,
    /// Seconds to wait for acknowledgements after the last send (the
    /// wait ends as soon as every message is answered).
    #[arg(long, default_value_t = 30.0)]
    pub drain: f64,
    /// Recipients logging in per second after sending.
    #[arg(long, default_value_t = 100.0)]
    pub login_rate: f64,
    /// Seconds to wait for every waiting message once all logged in.
    #[arg(long, default_value_t = 30.0)]
    pub delivery_timeout: f64,
    /// SASL mechanism for the recipients' logins (see presence).
    #[arg(long, value_enum, default_value_t = Mech::Plain)]
    pub sasl: Mech,
    /// Accounts registered per second during setup.
    #[arg(long, default_value_t = 200.0)]
    pub register_rate: f64,
    /// Senders connected per second during setup.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// The send fails if the acknowledgement p99 latency is over this.
    #[arg(long, default_value_t = 100.0)]
    pub p99_limit_ms: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
}

impl Scenario {
    pub fn common(&self) -> &Common {
        match self {
            Scenario::Idle(a) => &a.common,
            Scenario::Dm(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::Presence(a) => &a.common,
            Scenario::Offline(a) => &a.common,
        }
    }
}

/// Runs `ferry bench`: prints the report as one JSON line (after a table
/// when standard output is a terminal). In a worker child it runs the
/// worker instead.
pub fn run(args: Args) -> anyhow::Result<()> {
    if std::env::var_os(worker::WORKER_ENV).is_some() {
        return worker::child_main();
    }
    let report = run_scenario(&args.scenario)?;
    if std::io::stdout().is_terminal() {
        print!("{}", report::table(&report));
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
