//! The coordinator: plans a run, starts the workers, drives the scenario,
//! samples the server's /proc and merges what the workers report.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc as smpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::report::{
    self, Criteria, Generator, Hold, Limits, MaxResult, Report, ServerIdle, ServerStep, Setup, Step,
};
use crate::schedule::split;
use crate::search::MaxSearch;
use crate::stats::{holds_listener, proc_sample, CpuScope, Hist, ProcSample};
use crate::stats::{per_s, round3};
use crate::worker::{
    self, Cmd, DoneReport, Emit, Event, Kind, Progress, SetupReport, StepCmd, StepReport,
    WorkerSpec, WORKER_ENV,
};
use crate::{LoadArgs, Scenario};

/// Files a process keeps for itself besides its clients' sockets.
pub(crate) const SPARE_FILES: u64 = 64;

/// Runs a scenario and returns its report (nothing is printed but
/// progress on a terminal's standard error).
pub fn run_scenario(sc: &Scenario) -> Result<Report> {
    let c = sc.common();
    anyhow::ensure!(
        (1..=256).contains(&c.workers),
        "--workers must be between 1 and 256"
    );
    let target = resolve_loopback(&c.server)?;
    let nofile = raise_nofile();
    if let Some(p) = c.server_pid {
        // `$!` after `a && b &` is a shell, not the server: catch it here
        // rather than report a server that used no CPU.
        if holds_listener(p, target) == Some(false) {
            bail!(
                "--server-pid {p} does not hold the socket listening on port {}: \
                 is it the server's process id?",
                target.port()
            );
        }
    }
    match sc {
        Scenario::Presence(a) => return crate::presence::run(a, target, nofile),
        Scenario::Offline(a) => return crate::offline::run(a, target, nofile),
        _ => {}
    }
    let plan = Plan::new(sc, target, nofile)?;
    let mut pool = Pool::start(&plan.specs, c.workers > 1)?;
    let pid = c.server_pid;
    let before = sample(pid)?;

    let t0 = Instant::now();
    let setup_limit = Duration::from_secs_f64(
        plan.clients as f64 / plan.connect_rate.max(1.0) * 4.0 + c.timeout * 2.0 + 60.0,
    );
    pool.show_progress(plan.clients);
    let ready = pool.collect(setup_limit, |ev| match ev {
        Event::Ready(r) => Ok(r),
        other => Err(Box::new(other)),
    })?;
    pool.end_progress();
    let setup = merge_setup(&ready, t0.elapsed());

    let mut report = Report {
        scenario: match plan.kind {
            Kind::Idle => "idle",
            Kind::Dm => "dm",
            Kind::Fanout => "fanout",
        },
        target: target.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        params: serde_json::to_value(sc)?,
        workers: c.workers,
        setup,
        hold: None,
        server: None,
        result: None,
        max: None,
        presence: None,
        offline: None,
        limits: Limits {
            open_files_per_process: nofile,
            clients_per_process_max: plan.specs.iter().map(|s| s.clients).max().unwrap_or(0),
            source_addresses: if c.no_bind_source || !target.is_ipv4() {
                1
            } else {
                plan.clients.div_ceil(c.per_source.max(1))
            },
            limited_by: String::new(),
        },
    };

    match sc {
        Scenario::Idle(a) => {
            let after_connect = sample(pid)?;
            note(&format!(
                "holding {} clients idle for {} s",
                report.setup.ready, a.hold
            ));
            std::thread::sleep(Duration::from_secs_f64(a.hold.max(0.0)));
            let after_hold = sample(pid)?;
            let done = pool.finish()?;
            report.hold = Some(merge_hold(&done, &ready, a.hold));
            if let (Some(pid), Some(b), Some(m), Some(e)) = (pid, before, after_connect, after_hold)
            {
                let n = report.setup.registered;
                let cpu_connect = m.cpu_s - b.cpu_s;
                report.server = Some(ServerIdle {
                    pid,
                    rss_before_bytes: b.rss_bytes,
                    rss_after_bytes: e.rss_bytes,
                    bytes_per_client: (n > 0)
                        .then(|| round3((e.rss_bytes as f64 - b.rss_bytes as f64) / n as f64)),
                    cpu_connect_s: round3(cpu_connect),
                    cpu_connect_sys_s: round3(m.sys_s - b.sys_s),
                    cpu_us_per_registration: (n > 0).then(|| round3(cpu_connect * 1e6 / n as f64)),
                    cpu_hold_s: round3(e.cpu_s - m.cpu_s),
                });
            }
            report.limits.limited_by = idle_limit(&report.setup, a.rate);
        }
        Scenario::Dm(a) => load(&mut pool, &plan, &a.load, pid, &mut report)?,
        Scenario::Fanout(a) => load(&mut pool, &plan, &a.load, pid, &mut report)?,
        Scenario::Presence(_) | Scenario::Offline(_) => unreachable!("run above"),
    }
    Ok(report)
}

/// Runs dm or fanout: one step at --rate, or the --max search.
fn load(
    pool: &mut Pool,
    plan: &Plan,
    l: &LoadArgs,
    pid: Option<u32>,
    report: &mut Report,
) -> Result<()> {
    anyhow::ensure!(
        l.rate > 0.0 && l.duration > 0.0,
        "--rate and --duration must be positive"
    );
    let crit = Criteria {
        p99_limit_us: (l.p99_limit_ms * 1000.0) as u64,
        max_lag_us: (l.max_lag_ms * 1000.0) as u64,
    };
    let mut id = 0u32;
    let mut step = |pool: &mut Pool, rate: f64| -> Result<Step> {
        id += 1;
        let srv0 = sample(pid)?;
        for (i, share) in plan.shares.iter().enumerate() {
            pool.send(
                i,
                Cmd::Step(StepCmd {
                    id,
                    rate: rate * share,
                    duration_s: l.duration,
                    drain_s: l.drain,
                }),
            )?;
        }
        let limit = Duration::from_secs_f64(l.duration + l.drain + plan.timeout * 2.0 + 60.0);
        let reps = pool.collect(limit, |ev| match ev {
            Event::StepDone(r) => Ok(r),
            other => Err(Box::new(other)),
        })?;
        let srv1 = sample(pid)?;
        let srv = srv0.zip(srv1);
        Ok(summarize(rate, l.duration, &reps, srv, crit))
    };
    if !l.max {
        let s = step(pool, l.rate)?;
        report.limits.limited_by = step_limit(&s);
        report.result = Some(s);
    } else {
        let mut search = MaxSearch::new(l.rate, 2.0, 0.05, l.max_steps);
        let mut steps: Vec<Step> = Vec::new();
        while let Some(rate) = search.next() {
            if !steps.is_empty() {
                std::thread::sleep(Duration::from_secs_f64(l.settle.max(0.0)));
            }
            let s = step(pool, rate)?;
            note(&format!(
                "{rate:.0}/s: {} (p99 {:.2} ms, lost {}, generator cpu {:.2}, lag p99 {:.1} ms){}",
                if s.pass { "pass" } else { "fail" },
                s.latency_us.p99 as f64 / 1000.0,
                s.lost,
                s.generator.cpu_util_max,
                s.generator.lag_us.p99 as f64 / 1000.0,
                if s.pass {
                    String::new()
                } else {
                    format!(": {}", s.failed_because.join("; "))
                }
            ));
            search.record(rate, s.pass);
            steps.push(s);
        }
        let best = search.best();
        let boundary = search
            .lowest_fail()
            .and_then(|f| steps.iter().find(|s| s.rate == f && !s.pass));
        let stopped_by = match boundary {
            Some(s) => format!("{:.0}/s failed: {}", s.rate, s.failed_because.join("; ")),
            None => "the step limit (--max-steps) or the rate ceiling".into(),
        };
        report.result =
            best.and_then(|b| steps.iter().rev().find(|s| s.rate == b && s.pass).cloned());
        let saturated =
            boundary.is_some_and(|s| s.generator.saturated || s.generator.behind_schedule);
        report.limits.limited_by = if saturated {
            format!("the generator ({stopped_by}; its CPU was saturated or it fell behind)")
        } else {
            stopped_by.clone()
        };
        report.max = Some(MaxResult {
            best_rate: best,
            stopped_by,
            p99_limit_ms: l.p99_limit_ms,
            max_lag_ms: l.max_lag_ms,
            steps,
        });
    }
    pool.finish()?;
    Ok(())
}

fn summarize(
    rate: f64,
    duration: f64,
    reps: &[StepReport],
    srv: Option<(ProcSample, ProcSample)>,
    crit: Criteria,
) -> Step {
    let mut latency = Hist::default();
    let mut lag = Hist::default();
    let mut hold = Hist::default();
    let mut s = Step {
        rate,
        duration_s: duration,
        ..Default::default()
    };
    let mut wall = 0.0f64;
    let mut cpu_s = 0.0;
    let mut sys_s = 0.0;
    let mut util_max = 0.0f64;
    for r in reps {
        latency.merge(&Hist::from_data(&r.latency));
        lag.merge(&Hist::from_data(&r.lag));
        hold.merge(&Hist::from_data(&r.hold));
        s.sent += r.sent;
        s.expected += r.expected;
        s.received += r.received;
        s.late += r.late;
        s.unsent += r.unsent;
        s.reconnected += r.reconnected;
        merge_counts(&mut s.disconnects, &r.disconnects);
        merge_counts(&mut s.server_errors, &r.server_errors);
        if r.reconnect_failed > 0 {
            *s.disconnects.entry("reconnect failed".into()).or_default() += r.reconnect_failed;
        }
        wall = wall.max(r.wall_s);
        cpu_s += r.cpu.total();
        sys_s += r.cpu.sys_s;
        if r.wall_s > 0.0 {
            util_max = util_max.max(r.cpu.total() / r.wall_s);
        }
    }
    s.lost = s.expected.saturating_sub(s.received);
    s.loss_ratio = if s.expected > 0 {
        s.lost as f64 / s.expected as f64
    } else {
        0.0
    };
    s.delivered_per_s = per_s(s.received, wall);
    s.latency_us = latency.percentiles();
    let lag_us = lag.percentiles();
    s.generator = Generator {
        cpu_s: round3(cpu_s),
        cpu_sys_s: round3(sys_s),
        cpu_util_max: round3(util_max),
        lag_us,
        hold_us: hold.percentiles(),
        behind_schedule: lag_us.p99 > crit.max_lag_us,
        saturated: util_max > 0.9,
    };
    s.server = srv.map(|(a, b)| {
        let cpu = b.cpu_s - a.cpu_s;
        ServerStep {
            cpu_s: round3(cpu),
            cpu_sys_s: round3(b.sys_s - a.sys_s),
            cpu_us_per_delivery: (s.received > 0).then(|| round3(cpu * 1e6 / s.received as f64)),
            rss_bytes: b.rss_bytes,
        }
    });
    s.failed_because = report::verdict(&s, crit);
    s.pass = s.failed_because.is_empty();
    s
}

fn merge_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn merge_setup(reps: &[SetupReport], wall: Duration) -> Setup {
    let mut s = Setup::default();
    let mut latency = Hist::default();
    for r in reps {
        s.planned += r.planned;
        s.registered += r.registered;
        s.ready += r.ready;
        s.failed += r.failed;
        s.nick_retries += r.nick_retries;
        merge_counts(&mut s.failures, &r.failures);
        latency.merge(&Hist::from_data(&r.connect_latency));
        s.seconds = s.seconds.max(r.seconds);
        s.connect_lag_s = s.connect_lag_s.max(round3(r.lag_s));
        s.generator_cpu_s += r.cpu.total();
    }
    if s.seconds == 0.0 {
        s.seconds = wall.as_secs_f64();
    }
    s.seconds = round3(s.seconds);
    s.generator_cpu_s = round3(s.generator_cpu_s);
    s.registrations_per_s = if s.seconds > 0.0 {
        (s.registered as f64 / s.seconds).round()
    } else {
        0.0
    };
    s.connect_latency_us = latency.percentiles();
    s
}

fn merge_hold(done: &[DoneReport], ready: &[SetupReport], seconds: f64) -> Hold {
    let mut h = Hold {
        seconds,
        ..Default::default()
    };
    let mut cpu = 0.0;
    for (d, r) in done.iter().zip(ready) {
        h.alive_at_end += d.alive;
        merge_counts(&mut h.disconnects, &d.disconnects);
        merge_counts(&mut h.server_errors, &d.server_errors);
        cpu += d.cpu.total() - r.cpu.total();
    }
    h.generator_cpu_s = round3(cpu.max(0.0));
    h
}

fn idle_limit(s: &Setup, offered: f64) -> String {
    let has = |needle: &str| s.failures.keys().any(|k| k.contains(needle));
    if has("os error 24") {
        "open files: a worker hit RLIMIT_NOFILE (use more --workers)".into()
    } else if has("os error 99") || has("os error 98") {
        "source ports: an address ran out of ephemeral ports (lower --per-source)".into()
    } else if has("timeout") {
        "the server: clients timed out before 001".into()
    } else if s.failed > 0 {
        "the server refused or closed clients (see setup.failures)".into()
    } else if s.registrations_per_s < offered * 0.9 {
        format!(
            "registration speed: {:.0}/s of {offered:.0}/s offered (connect_lag_s shows the generator's share)",
            s.registrations_per_s
        )
    } else {
        "none: every client registered at the offered rate".into()
    }
}

fn step_limit(s: &Step) -> String {
    if s.pass {
        if s.generator.saturated {
            "none failed, but the generator's CPU was saturated".into()
        } else {
            "none: the step passed".into()
        }
    } else {
        s.failed_because.join("; ")
    }
}

/// Resolves HOST:PORT and refuses anything but a loopback address.
pub(crate) fn resolve_loopback(server: &str) -> Result<SocketAddr> {
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("resolve {server:?} (want HOST:PORT)"))?
        .next()
        .with_context(|| format!("{server:?} resolves to no address"))?;
    if !addr.ip().is_loopback() {
        bail!(
            "ferry bench drives only servers on this machine's loopback \
             (127.0.0.0/8 or ::1); {server} is {}",
            addr.ip()
        );
    }
    Ok(addr)
}

/// Raises the soft open-file limit to the hard one; returns the limit.
fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

fn sample(pid: Option<u32>) -> Result<Option<ProcSample>> {
    pid.map(proc_sample).transpose()
}

/// A line on standard error when it is a terminal.
pub(crate) fn note(msg: &str) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = writeln!(err, "\r\x1b[K{msg}");
    }
}

/// How the clients are split over workers.
struct Plan {
    kind: Kind,
    specs: Vec<WorkerSpec>,
    /// Each worker's share of the offered rate.
    shares: Vec<f64>,
    clients: u64,
    connect_rate: f64,
    timeout: f64,
}

impl Plan {
    fn new(sc: &Scenario, target: SocketAddr, nofile: u64) -> Result<Plan> {
        let c = sc.common();
        let (kind, units, members, connect_rate, what) = match sc {
            Scenario::Idle(a) => (Kind::Idle, a.clients, 1, a.rate, "clients"),
            Scenario::Dm(a) => (Kind::Dm, a.pairs, 2, a.load.connect_rate, "pairs"),
            Scenario::Fanout(a) => (
                Kind::Fanout,
                a.channels,
                a.members,
                a.load.connect_rate,
                "channels",
            ),
            Scenario::Presence(_) | Scenario::Offline(_) => {
                bail!("presence and offline are not planned over workers")
            }
        };
        anyhow::ensure!(
            units >= c.workers as u64,
            "{units} {what} cannot be spread over {} workers",
            c.workers
        );
        anyhow::ensure!(
            kind != Kind::Fanout || members >= 2,
            "a channel needs at least 2 members"
        );
        anyhow::ensure!(connect_rate > 0.0, "the connect rate must be positive");
        anyhow::ensure!(c.timeout > 0.0, "--timeout must be positive");
        let hold_max_ms = match sc {
            Scenario::Dm(a) => a.load.hold_max_ms,
            Scenario::Fanout(a) => a.load.hold_max_ms,
            _ => 0.0,
        };
        anyhow::ensure!(
            (0.0..=1000.0).contains(&hold_max_ms),
            "--hold-max-ms must be between 0 and 1000"
        );
        let parts = split(units, c.workers);
        let per_unit = match kind {
            Kind::Idle => 1,
            Kind::Dm => 2,
            Kind::Fanout => members,
        };
        let clients = units * per_unit;
        let biggest = parts[0] * per_unit;
        if biggest + SPARE_FILES > nofile {
            let per_process = nofile.saturating_sub(SPARE_FILES).max(1);
            bail!(
                "{biggest} clients in one process need about {} open files, but a process \
                 may open only {nofile} here (RLIMIT_NOFILE): use --workers {} or more",
                biggest + SPARE_FILES,
                clients.div_ceil(per_process)
            );
        }
        let mut specs = Vec::new();
        let mut shares = Vec::new();
        let (mut offset, mut chan_offset) = (0, 0);
        for (i, &u) in parts.iter().enumerate() {
            let share = u as f64 / units as f64;
            specs.push(WorkerSpec {
                index: i,
                kind,
                target,
                clients: u * per_unit,
                offset,
                channels: if kind == Kind::Fanout { u } else { 0 },
                chan_offset,
                members,
                connect_rate: connect_rate * share,
                timeout_s: c.timeout,
                nick_prefix: c.nick_prefix.clone(),
                per_source: c.per_source,
                bind_source: !c.no_bind_source,
                max_inflight: c.max_inflight.max(1),
                tls: c.tls,
                hold_max_ms,
            });
            shares.push(share);
            offset += u * per_unit;
            chan_offset += u;
        }
        Ok(Plan {
            kind,
            specs,
            shares,
            clients,
            connect_rate,
            timeout: c.timeout,
        })
    }
}

enum Msg {
    Event(Event),
    Exit(String),
}

enum Link {
    Thread {
        tx: Option<smpsc::Sender<Cmd>>,
        handle: Option<std::thread::JoinHandle<()>>,
    },
    Child {
        child: Child,
        stdin: Option<ChildStdin>,
    },
}

/// The running workers and the one channel all their events arrive on.
struct Pool {
    links: Vec<Link>,
    rx: smpsc::Receiver<(usize, Msg)>,
    progress: Vec<Progress>,
    /// Clients being connected, when progress is shown.
    showing: Option<(u64, Instant)>,
}

impl Pool {
    fn start(specs: &[WorkerSpec], processes: bool) -> Result<Pool> {
        let (etx, rx) = smpsc::channel();
        let mut links = Vec::new();
        for spec in specs {
            let i = spec.index;
            if processes {
                let exe = std::env::current_exe().context("find this program to run workers")?;
                let mut child = Command::new(exe)
                    .args(std::env::args_os().skip(1))
                    .env(WORKER_ENV, i.to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .context("start a worker process")?;
                let mut stdin = child.stdin.take().context("worker stdin")?;
                writeln!(stdin, "{}", serde_json::to_string(spec)?).context("write to a worker")?;
                stdin.flush()?;
                let out = child.stdout.take().context("worker stdout")?;
                let tx = etx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        let msg = match serde_json::from_str::<Event>(&line) {
                            Ok(ev) => Msg::Event(ev),
                            Err(e) => Msg::Exit(format!("unreadable line from worker: {e}")),
                        };
                        if tx.send((i, msg)).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((i, Msg::Exit("worker process exited".into())));
                });
                links.push(Link::Child {
                    child,
                    stdin: Some(stdin),
                });
            } else {
                let (tx, crx) = smpsc::channel();
                let etx = etx.clone();
                let spec = spec.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("bench-worker-{i}"))
                    .spawn(move || {
                        let tx2 = etx.clone();
                        let emit: Emit = Rc::new(move |ev| {
                            let _ = tx2.send((i, Msg::Event(ev)));
                        });
                        worker::run_here(spec, crx, emit, CpuScope::Thread);
                        let _ = etx.send((i, Msg::Exit("worker thread ended".into())));
                    })
                    .context("start a worker thread")?;
                links.push(Link::Thread {
                    tx: Some(tx),
                    handle: Some(handle),
                });
            }
        }
        Ok(Pool {
            progress: vec![Progress::default(); links.len()],
            links,
            rx,
            showing: None,
        })
    }

    fn send(&mut self, i: usize, cmd: Cmd) -> Result<()> {
        match &mut self.links[i] {
            Link::Thread { tx: Some(tx), .. } => tx
                .send(cmd)
                .map_err(|_| anyhow::anyhow!("worker {i} is gone")),
            Link::Child {
                stdin: Some(stdin), ..
            } => writeln!(stdin, "{}", serde_json::to_string(&cmd)?)
                .and_then(|()| stdin.flush())
                .with_context(|| format!("write to worker {i}")),
            _ => bail!("worker {i} is closed"),
        }
    }

    /// Waits for one answer from every worker, in worker order.
    fn collect<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(Event) -> Result<T, Box<Event>>,
    ) -> Result<Vec<T>> {
        let deadline = Instant::now() + limit;
        let mut got: Vec<Option<T>> = (0..self.links.len()).map(|_| None).collect();
        while got.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("workers did not answer within {} s", limit.as_secs());
            }
            let (i, msg) = match self.rx.recv_timeout(left.min(Duration::from_millis(250))) {
                Ok(m) => m,
                Err(smpsc::RecvTimeoutError::Timeout) => {
                    self.draw_progress();
                    continue;
                }
                Err(smpsc::RecvTimeoutError::Disconnected) => bail!("every worker is gone"),
            };
            match msg {
                Msg::Exit(why) if got[i].is_none() => bail!("worker {i}: {why}"),
                Msg::Exit(_) => {}
                Msg::Event(Event::Progress(p)) => {
                    self.progress[i] = p;
                    self.draw_progress();
                }
                Msg::Event(Event::Failed(why)) => bail!("worker {i} failed: {why}"),
                Msg::Event(ev) => match pick(ev) {
                    Ok(t) => got[i] = Some(t),
                    Err(other) => bail!("worker {i}: unexpected {other:?}"),
                },
            }
        }
        Ok(got
            .into_iter()
            .map(|t| t.expect("every worker answered"))
            .collect())
    }

    /// Ends every worker and returns their last reports.
    fn finish(&mut self) -> Result<Vec<DoneReport>> {
        for i in 0..self.links.len() {
            self.send(i, Cmd::Finish)?;
        }
        self.collect(Duration::from_secs(60), |ev| match ev {
            Event::Done(d) => Ok(d),
            other => Err(Box::new(other)),
        })
    }

    fn show_progress(&mut self, planned: u64) {
        if std::io::stderr().is_terminal() {
            self.showing = Some((planned, Instant::now()));
        }
    }

    fn draw_progress(&self) {
        let Some((planned, since)) = self.showing else {
            return;
        };
        let sum = |f: fn(&Progress) -> u64| self.progress.iter().map(f).sum::<u64>();
        let ready = sum(|p| p.ready);
        let width = 30usize;
        let filled = (ready as f64 / planned.max(1) as f64 * width as f64) as usize;
        let secs = since.elapsed().as_secs_f64();
        eprint!(
            "\r\x1b[Kconnecting [{}{}] {ready}/{planned} ready, {} registered, {} failed, {:.0}/s",
            "#".repeat(filled.min(width)),
            " ".repeat(width - filled.min(width)),
            sum(|p| p.registered),
            sum(|p| p.failed),
            if secs > 0.0 {
                sum(|p| p.registered) as f64 / secs
            } else {
                0.0
            }
        );
    }

    fn end_progress(&mut self) {
        if self.showing.take().is_some() {
            eprintln!("\r\x1b[Kconnected");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for link in &mut self.links {
            match link {
                Link::Thread { tx, handle } => {
                    tx.take();
                    if let Some(h) = handle.take() {
                        let _ = h.join();
                    }
                }
                Link::Child { child, stdin } => {
                    stdin.take();
                    // A worker exits once its stdin closes; don't wait forever.
                    let until = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < until {
                        if let Ok(Some(_)) = child.try_wait() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(resolve_loopback("127.0.0.1:6667").is_ok());
        assert!(resolve_loopback("127.3.4.5:1").is_ok());
        assert!(resolve_loopback("[::1]:6667").is_ok());
        assert!(resolve_loopback("localhost:6667").is_ok());
        let e = resolve_loopback("10.0.0.1:6667").expect_err("private address");
        assert!(e.to_string().contains("loopback"), "{e}");
        assert!(resolve_loopback("192.168.1.20:6667").is_err());
        assert!(resolve_loopback("no-port").is_err());
    }

    fn dm(pairs: u64, workers: usize) -> Scenario {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            s: Scenario,
        }
        let args = format!("x dm --pairs {pairs} --workers {workers} --rate 1000");
        Cli::parse_from(args.split(' ')).s
    }

    #[test]
    fn plan_spreads_pairs_and_rate_over_workers() {
        let target = "127.0.0.1:6667".parse().expect("addr");
        let p = Plan::new(&dm(1001, 2), target, 20_000).expect("plan");
        assert_eq!(p.clients, 2002);
        assert_eq!((p.specs[0].clients, p.specs[1].clients), (1002, 1000));
        assert_eq!((p.specs[0].offset, p.specs[1].offset), (0, 1002));
        assert!((p.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn plan_names_the_file_limit() {
        let target = "127.0.0.1:6667".parse().expect("addr");
        let e = Plan::new(&dm(15_000, 1), target, 20_000)
            .err()
            .expect("too many for one process");
        assert!(e.to_string().contains("--workers 2"), "{e}");
        assert!(Plan::new(&dm(15_000, 2), target, 20_000).is_ok());
    }

    #[test]
    fn merged_steps_add_up_and_judge() {
        let mut a = Hist::default();
        a.record(100);
        let mut b = Hist::default();
        b.record(300);
        let rep = |lat: &Hist, sent, received| StepReport {
            sent,
            expected: sent,
            received,
            latency: lat.data(),
            wall_s: 1.0,
            ..Default::default()
        };
        let crit = Criteria {
            p99_limit_us: 100_000,
            max_lag_us: 10_000,
        };
        let s = summarize(
            200.0,
            1.0,
            &[rep(&a, 100, 100), rep(&b, 100, 99)],
            None,
            crit,
        );
        assert_eq!((s.sent, s.received, s.lost), (200, 199, 1));
        assert_eq!(s.latency_us.count, 2);
        assert!(!s.pass);
        assert_eq!(s.failed_because, vec!["loss: 1 of 200".to_string()]);
    }
}
