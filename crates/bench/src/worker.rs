//! A worker: the relay scenarios (idle, dm, fanout) on one thread's
//! [`Engine`], driving a share of the clients.
//!
//! It connects its clients on a timetable, reports `Ready`, then runs each
//! `Step` the coordinator sends (an open-loop send schedule, then a short
//! drain for late deliveries) and reports its counts and histograms. A
//! worker runs on a thread of the coordinator's process (`--workers 1`) or
//! as a child process speaking JSON lines on stdin/stdout.
//!
//! Between the engine's turns (one every 250 µs) the scheduler
//! queues every message due by then; the engine writes each connection's
//! lines of a turn in one `write`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::conn::MARK;
use crate::engine::{self, Conn, Engine, State};
use crate::schedule::Schedule;
use crate::stats::{Cpu, CpuScope, Hist, HistData};

/// Set in a child's environment: run as a worker, not as a coordinator.
pub(crate) const WORKER_ENV: &str = "FERRY_BENCH_WORKER";
/// The scheduler's tick.
const TICK: Duration = Duration::from_micros(250);
/// A sender whose unwritten bytes pass this counts further sends as unsent.
const MAX_BACKLOG: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Idle,
    Dm,
    Fanout,
}

/// What one worker drives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerSpec {
    pub index: usize,
    pub kind: Kind,
    pub target: SocketAddr,
    /// Clients in this worker, and the run-wide index of its first.
    pub clients: u64,
    pub offset: u64,
    /// Fanout: this worker's channels, the run-wide index of its first,
    /// and members per channel.
    pub channels: u64,
    pub chan_offset: u64,
    pub members: u64,
    /// Connections started per second while setting up.
    pub connect_rate: f64,
    pub timeout_s: f64,
    pub nick_prefix: String,
    pub per_source: u64,
    pub bind_source: bool,
    pub max_inflight: usize,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// The longest the engine holds lines to share a write.
    #[serde(default)]
    pub hold_max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Cmd {
    Step(StepCmd),
    Finish,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct StepCmd {
    pub id: u32,
    /// This worker's share of the offered rate, messages per second.
    pub rate: f64,
    pub duration_s: f64,
    pub drain_s: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Event {
    Progress(Progress),
    Ready(SetupReport),
    StepDone(StepReport),
    Done(DoneReport),
    Failed(String),
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub started: u64,
    pub registered: u64,
    pub ready: u64,
    pub failed: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SetupReport {
    pub planned: u64,
    pub registered: u64,
    pub ready: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    pub nick_retries: u64,
    pub connect_latency: HistData,
    /// First connection started to last client ready.
    pub seconds: f64,
    /// Behind the connect timetable at the end (in-flight cap or CPU).
    pub lag_s: f64,
    pub cpu: Cpu,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StepReport {
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub late: u64,
    pub unsent: u64,
    pub reconnected: u64,
    pub reconnect_failed: u64,
    pub latency: HistData,
    /// Per tick: how far behind its timetable the scheduler was.
    pub lag: HistData,
    /// Per write of bench lines: how long the oldest waited to share it.
    #[serde(default)]
    pub hold: HistData,
    pub disconnects: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    pub cpu: Cpu,
    /// Start to the last message sent, and to the last receipt.
    pub send_s: f64,
    pub wall_s: f64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct DoneReport {
    pub alive: u64,
    pub disconnects: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    pub cpu: Cpu,
}

pub(crate) type Emit = Rc<dyn Fn(Event)>;

/// Runs a worker on the current thread until `Finish` (or the command
/// channel closes).
pub(crate) fn run_here(spec: WorkerSpec, cmds: mpsc::Receiver<Cmd>, emit: Emit, scope: CpuScope) {
    let target = engine::Target {
        addr: spec.target,
        bind_source: spec.bind_source,
        per_source: spec.per_source,
        tls: spec.tls.then(engine::tls_config),
        timeout: Duration::from_secs_f64(spec.timeout_s),
    };
    let hold_max = Duration::from_secs_f64(spec.hold_max_ms / 1000.0);
    match Engine::new(target, build(&spec), TICK, hold_max) {
        Ok(mut eng) => main(&mut eng, &spec, &cmds, &emit, scope),
        Err(e) => emit(Event::Failed(format!("{e:#}"))),
    }
}

/// A child process: the spec on stdin's first line, then commands, one
/// JSON line each; events go to stdout the same way.
pub(crate) fn child_main() -> anyhow::Result<()> {
    let emit: Emit = Rc::new(|ev: Event| {
        let mut out = std::io::stdout().lock();
        if let Ok(line) = serde_json::to_string(&ev) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    let spec: WorkerSpec = match serde_json::from_str(&line) {
        Ok(s) => s,
        Err(e) => {
            emit(Event::Failed(format!("bad worker spec: {e}")));
            return Ok(());
        }
    };
    drop(stdin);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Cmd>(&line) {
                Ok(cmd) => {
                    if tx.send(cmd).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // stdin closed: the coordinator is gone, and so is `tx`.
    });
    run_here(spec, rx, emit, CpuScope::Process);
    Ok(())
}

fn main(
    eng: &mut Engine,
    spec: &WorkerSpec,
    cmds: &mpsc::Receiver<Cmd>,
    emit: &Emit,
    scope: CpuScope,
) {
    let cpu0 = Cpu::now(scope);
    let all: Vec<usize> = (0..eng.conns.len()).collect();
    let (seconds, lag_s) = connect_all(eng, &all, spec, Some(emit));
    {
        let s = &eng.counts.setup;
        emit(Event::Ready(SetupReport {
            planned: spec.clients,
            registered: s.registered,
            ready: s.ready,
            failed: s.failed,
            failures: s.failures.clone(),
            nick_retries: s.nick_retries,
            connect_latency: s.latency.data(),
            seconds,
            lag_s,
            cpu: Cpu::now(scope).since(cpu0),
        }));
    }
    loop {
        // Between steps the clients still answer PINGs.
        eng.turn();
        match cmds.try_recv() {
            Ok(Cmd::Step(step)) => {
                let r = run_step(eng, spec, step, scope);
                emit(Event::StepDone(r));
            }
            Ok(Cmd::Finish) | Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {}
        }
    }
    let live = &eng.counts.live;
    emit(Event::Done(DoneReport {
        alive: eng.conns.iter().filter(|c| c.is_ready()).count() as u64,
        disconnects: live.disconnects.clone(),
        server_errors: live.server_errors.clone(),
        cpu: Cpu::now(scope).since(cpu0),
    }));
}

fn build(spec: &WorkerSpec) -> Vec<Conn> {
    let nick = |i: u64| format!("{}{}", spec.nick_prefix, spec.offset + i);
    match spec.kind {
        Kind::Idle | Kind::Dm => (0..spec.clients)
            .map(|i| Conn::new(spec.offset + i, nick(i), None))
            .collect(),
        Kind::Fanout => {
            let mut v = Vec::with_capacity(spec.clients as usize);
            for c in 0..spec.channels {
                let chan: Rc<str> = format!("#{}{}", spec.nick_prefix, spec.chan_offset + c).into();
                for m in 0..spec.members {
                    let i = c * spec.members + m;
                    v.push(Conn::new(spec.offset + i, nick(i), Some(chan.clone())));
                }
            }
            v
        }
    }
}

/// Starts the connections `idx` on the connect timetable (at most
/// `max_inflight` registering at once) and waits until each is ready or
/// has failed. Returns (seconds to the last ready, lag behind timetable).
fn connect_all(
    eng: &mut Engine,
    idx: &[usize],
    spec: &WorkerSpec,
    emit: Option<&Emit>,
) -> (f64, f64) {
    let n = idx.len() as u64;
    if n == 0 {
        return (0.0, 0.0);
    }
    let sched = Schedule::new(spec.connect_rate.max(1.0), n);
    let (ready0, failed0) = (eng.counts.setup.ready, eng.counts.setup.failed);
    let start = Instant::now();
    let mut next = 0usize;
    let mut lag = Duration::ZERO;
    let mut last_progress = start;
    let mut last_expire = start;
    loop {
        eng.turn();
        let now = Instant::now();
        if now - last_expire >= Duration::from_millis(20) {
            last_expire = now;
            eng.expire(now);
        }
        let s = &eng.counts.setup;
        let (registered, ready, failed) = (s.registered, s.ready - ready0, s.failed - failed0);
        let done = ready + failed;
        if next as u64 == n && done == n {
            break;
        }
        let due = sched.due_by(now - start);
        while (next as u64) < due && (next as u64 - done) < spec.max_inflight as u64 {
            eng.start(idx[next], now);
            next += 1;
        }
        if (next as u64) < due {
            lag = lag.max((now - start).saturating_sub(sched.due_at(next as u64)));
        }
        if let Some(emit) = emit {
            if now - last_progress >= Duration::from_millis(250) {
                last_progress = now;
                emit(Event::Progress(Progress {
                    started: next as u64,
                    registered,
                    ready,
                    failed,
                }));
            }
        }
    }
    let last = eng.counts.setup.last_ready.unwrap_or(start);
    (
        last.saturating_duration_since(start).as_secs_f64(),
        lag.as_secs_f64(),
    )
}

/// Who sends message `n` of a step, to whom, and how many receive it.
fn route(spec: &WorkerSpec, n: u64) -> (usize, Target) {
    match spec.kind {
        Kind::Dm => {
            let pair = n % (spec.clients / 2).max(1);
            ((2 * pair) as usize, Target::Nick((2 * pair + 1) as usize))
        }
        Kind::Fanout => {
            let c = n % spec.channels.max(1);
            let m = (n / spec.channels.max(1)) % spec.members.max(1);
            ((c * spec.members + m) as usize, Target::Channel)
        }
        Kind::Idle => (0, Target::Channel),
    }
}

enum Target {
    /// The connection at this index, by its current nick.
    Nick(usize),
    /// The sender's channel.
    Channel,
}

/// Appends `n` in decimal.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn run_step(eng: &mut Engine, spec: &WorkerSpec, step: StepCmd, scope: CpuScope) -> StepReport {
    let mut report = StepReport::default();
    // Clients lost in an earlier step come back first.
    let dead: Vec<usize> = (0..eng.conns.len())
        .filter(|&i| eng.conns[i].state() == State::Dead)
        .collect();
    if !dead.is_empty() {
        let ready0 = eng.counts.setup.ready;
        connect_all(eng, &dead, spec, None);
        report.reconnected = eng.counts.setup.ready - ready0;
        report.reconnect_failed = dead.len() as u64 - report.reconnected;
    }
    eng.counts.step = step.id;
    eng.counts.live = Default::default();
    let per_message = match spec.kind {
        Kind::Dm => 1,
        Kind::Fanout => spec.members.saturating_sub(1),
        Kind::Idle => 0,
    };
    let mut lag = Hist::default();
    eng.held = Hist::default();
    let cpu0 = Cpu::now(scope);
    let start = Instant::now();
    if step.rate > 0.0 && spec.kind != Kind::Idle {
        eng.coalesce = true;
        let sched = Schedule::for_duration(step.rate, Duration::from_secs_f64(step.duration_s));
        let start_us = eng.counts.micros(start);
        let mut line = Vec::with_capacity(128);
        let mut next = 0u64;
        while next < sched.total() {
            eng.turn();
            let now = Instant::now();
            let due = sched.due_by(now - start);
            if next < due {
                lag.record_duration((now - start).saturating_sub(sched.due_at(next)));
            }
            for n in next..due {
                let (s, target) = route(spec, n);
                line.clear();
                line.extend_from_slice(b"PRIVMSG ");
                match target {
                    Target::Nick(r) => line.extend_from_slice(eng.conns[r].nick.as_bytes()),
                    Target::Channel => {
                        let ch = eng.conns[s].channel.as_deref().unwrap_or("");
                        line.extend_from_slice(ch.as_bytes());
                    }
                }
                line.extend_from_slice(b" :");
                line.extend_from_slice(MARK.as_bytes());
                push_u64(&mut line, u64::from(step.id));
                line.push(b' ');
                push_u64(&mut line, n);
                line.push(b' ');
                let due_us = start_us + sched.due_at(n).as_micros() as u64;
                push_u64(&mut line, due_us);
                line.extend_from_slice(b"\r\n");
                let ready = eng.conns[s].is_ready();
                match eng.queue_due(s, due_us, now) {
                    Some(out) if ready && out.len() <= MAX_BACKLOG => {
                        out.extend_from_slice(&line);
                        report.sent += 1;
                    }
                    _ => report.unsent += 1,
                }
            }
            next = due;
            eng.flush();
        }
        eng.stop_coalescing();
    }
    let send_end = Instant::now();
    report.expected = report.sent * per_message;
    let drain_until = send_end + Duration::from_secs_f64(step.drain_s);
    while eng.counts.live.received < report.expected && Instant::now() < drain_until {
        eng.turn();
    }
    let live = std::mem::take(&mut eng.counts.live);
    report.cpu = Cpu::now(scope).since(cpu0);
    report.received = live.received;
    report.late = live.late;
    report.latency = live.latency.data();
    report.lag = lag.data();
    report.hold = eng.held.data();
    report.disconnects = live.disconnects;
    report.server_errors = live.server_errors;
    report.send_s = (send_end - start).as_secs_f64();
    let last = live.last_receipt.unwrap_or(send_end).max(send_end);
    report.wall_s = (last - start).as_secs_f64();
    report
}

#[cfg(test)]
mod tests {
    use super::push_u64;

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 1_000_000, u64::MAX] {
            let mut v = b"x".to_vec();
            push_u64(&mut v, n);
            assert_eq!(v, format!("x{n}").into_bytes());
        }
    }
}
