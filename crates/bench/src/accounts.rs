//! Connections of the account scenarios (`presence`, `offline`): clients
//! that register accounts, log in with SASL (PLAIN or SCRAM-SHA-256) and
//! come and go during a run. These scenarios need a server with accounts
//! (`draft/account-registration`, stored MONITOR lists, offline
//! messages): ferry.
//!
//! Everything runs on one thread (a current-thread runtime), so every
//! latency is measured on one clock; a session's task reads its socket
//! and hands each line to the scenario's [`Handler`], and the scenario
//! writes to sockets itself ([`Sess::kick`]), as the other scenarios do.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_proto::Message;
use serde::Serialize;
use tokio::io::Interest;
use tokio::sync::Notify;
use tokio_rustls::rustls::ClientConfig;

use crate::engine::conn::source_ip;
use crate::scram;
use crate::stats::Hist;
use crate::tokio_wire::{LineReader, Wire};

/// How bench accounts log in.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mech {
    /// SASL PLAIN: the server verifies the password (argon2) at every login.
    Plain,
    /// SASL SCRAM-SHA-256: the client derives the keys (once per account,
    /// then cached); the server only checks a proof.
    Scram,
}

/// The password of a bench account.
pub(crate) fn password(account: &str) -> String {
    format!("fbpw-{account}")
}

/// What every session of a run shares.
pub(crate) struct Env {
    pub target: SocketAddr,
    pub bind_source: bool,
    pub per_source: u64,
    /// `--tls`: the client set-up every connection uses.
    pub tls: Option<Arc<ClientConfig>>,
    /// A session that is not settled (ready, or quitting) this long after
    /// it started connecting is given up.
    pub timeout: Duration,
    pub mech: Mech,
    /// Times in bench messages are microseconds since this instant.
    pub epoch: Instant,
    scram_keys: RefCell<HashMap<String, scram::Keys>>,
    nonces: Cell<u64>,
}

impl Env {
    pub(crate) fn new(
        target: SocketAddr,
        common: &crate::Common,
        mech: Mech,
        timeout: Duration,
    ) -> Env {
        Env {
            target,
            bind_source: !common.no_bind_source,
            per_source: common.per_source,
            tls: common.tls.then(crate::engine::tls_config),
            timeout,
            mech,
            epoch: Instant::now(),
            scram_keys: RefCell::default(),
            nonces: Cell::new(0),
        }
    }

    pub(crate) fn micros(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    fn nonce(&self) -> String {
        let n = self.nonces.get().wrapping_add(1);
        self.nonces.set(n);
        let mut h = n
            .wrapping_add(self.epoch.elapsed().as_nanos() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
        format!("fb{n:x}x{h:016x}")
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Never started, or ended.
    Idle,
    Connecting,
    /// Sent CAP REQ :sasl …; waiting for ACK.
    Cap,
    /// Sent AUTHENTICATE <mechanism>; waiting for `AUTHENTICATE +`.
    Auth,
    ScramFirst,
    ScramFinal,
    /// Sent the last SASL message; waiting for 903.
    Sasl,
    /// 903 seen, CAP END sent; waiting for 001.
    LoggedIn,
    /// Registered (no account yet): sent REGISTER.
    Registering,
    /// Account made, MONITOR list sent; waiting for the PONG after it.
    Monitoring,
    /// The scenario may use it.
    Ready,
    /// QUIT sent; waiting for the server to close.
    Quitting,
}

/// One client connection, possibly reconnected several times in a run.
pub(crate) struct Sess {
    /// Index within its group (account i, sender i).
    pub idx: usize,
    /// Run-wide index (source address).
    pub global: u64,
    pub nick: String,
    /// Bytes queued and not yet written.
    pub out: RefCell<Vec<u8>>,
    /// Set while the scheduler has queued for it in this tick.
    pub dirty: Cell<bool>,
    stream: RefCell<Option<Rc<Wire>>>,
    wake: Notify,
    phase: Cell<Phase>,
    scram: RefCell<Option<scram::Exchange>>,
    /// When this connection was due to start (the timetable's time).
    pub due: Cell<Instant>,
    /// When 903 arrived (and CAP END left).
    pub logged_in_at: Cell<Option<Instant>>,
}

impl Sess {
    pub(crate) fn new(idx: usize, global: u64, nick: String) -> Sess {
        Sess {
            idx,
            global,
            nick,
            out: RefCell::new(Vec::new()),
            dirty: Cell::new(false),
            stream: RefCell::new(None),
            wake: Notify::new(),
            phase: Cell::new(Phase::Idle),
            scram: RefCell::new(None),
            due: Cell::new(Instant::now()),
            logged_in_at: Cell::new(None),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase.get()
    }

    pub(crate) fn set_phase(&self, p: Phase) {
        self.phase.set(p);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.phase.get() == Phase::Ready
    }

    /// Queues a line (without CRLF).
    pub(crate) fn send(&self, line: &str) {
        let mut out = self.out.borrow_mut();
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Writes what is queued, as far as the socket takes it now; the task
    /// writes the rest when the socket is writable.
    pub(crate) fn kick(&self) {
        self.dirty.set(false);
        if !matches!(self.flush(), Ok(true)) {
            self.wake.notify_one();
        }
    }

    /// Ok(true) when nothing is left queued.
    fn flush(&self) -> io::Result<bool> {
        match self.stream.borrow().as_ref() {
            None => Ok(true),
            Some(s) => s.flush(&mut self.out.borrow_mut()),
        }
    }
}

/// A scenario's side of its sessions.
pub(crate) trait Handler {
    /// A line from the server; an error closes the connection with that
    /// reason.
    fn line(&self, s: &Rc<Sess>, msg: &Message<'_>, now: Instant) -> Result<()>;
    /// The connection ended; `phase` is where it was.
    fn closed(&self, s: &Rc<Sess>, phase: Phase, reason: String, now: Instant);
}

/// How a session starts.
pub(crate) enum Hello {
    /// NICK and USER (then REGISTER, once registered).
    Plain,
    /// CAP REQ with `caps`, NICK, USER, CAP END: no login.
    Caps(&'static str),
    /// CAP REQ :sasl `caps`, NICK, USER, then SASL, then CAP END.
    Login(&'static str),
}

/// Starts a session's connection task.
pub(crate) fn spawn(s: &Rc<Sess>, env: &Rc<Env>, h: Rc<dyn Handler>, hello: Hello) {
    s.logged_in_at.set(None);
    s.scram.borrow_mut().take();
    s.out.borrow_mut().clear();
    s.phase.set(Phase::Connecting);
    let (s, env) = (s.clone(), env.clone());
    tokio::task::spawn_local(async move {
        let reason = format!("{:#}", drive(&s, &env, &*h, hello).await);
        s.stream.borrow_mut().take();
        *s.out.borrow_mut() = Vec::new();
        let phase = s.phase.replace(Phase::Idle);
        h.closed(&s, phase, reason, Instant::now());
    });
}

/// Runs the session; returns why it ended (`{:#}` gives the reason).
async fn drive(s: &Rc<Sess>, env: &Env, h: &dyn Handler, hello: Hello) -> Error {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + env.timeout);
    let source = env.bind_source.then(|| source_ip(s.global, env.per_source));
    let connect = Wire::connect(env.target, source, env.tls.as_ref());
    let stream = match tokio::time::timeout_at(deadline, connect).await {
        Err(_) => return anyhow!("timeout connecting"),
        Ok(Err(reason)) => return reason,
        Ok(Ok(st)) => Rc::new(st),
    };
    *s.stream.borrow_mut() = Some(stream.clone());
    let nick = &s.nick;
    let user = format!("NICK {nick}\r\nUSER fb 0 * :ferry-bench\r\n");
    {
        let mut out = s.out.borrow_mut();
        match hello {
            Hello::Plain => {
                out.extend_from_slice(user.as_bytes());
                s.phase.set(Phase::Connecting);
            }
            Hello::Caps(caps) => {
                let _ = write!(out, "CAP REQ :{caps}\r\n{user}CAP END\r\n");
                s.phase.set(Phase::Connecting);
            }
            Hello::Login(caps) => {
                let _ = write!(out, "CAP REQ :sasl {caps}\r\n{user}");
                s.phase.set(Phase::Cap);
            }
        }
    }
    let mut lines = LineReader::default();
    loop {
        let pending = match s.flush() {
            Ok(done) => !done,
            Err(e) => return Error::new(e).context("write"),
        };
        let interest = if pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let settled = matches!(s.phase(), Phase::Ready | Phase::Quitting);
        tokio::select! {
            r = stream.ready(interest) => match r {
                Err(e) => return Error::new(e).context("poll"),
                Ok(r) if r.is_readable() || r.is_read_closed() => {
                    let res = lines.read(&stream, |line, now| {
                        let Ok(msg) = Message::parse(line) else { return Ok(()) };
                        h.line(s, &msg, now)
                    });
                    if let Err(reason) = res {
                        return reason;
                    }
                }
                Ok(_) => {}
            },
            _ = s.wake.notified() => {}
            _ = tokio::time::sleep_until(deadline), if !settled => {
                return anyhow!(format!("timeout ({:?})", s.phase()).to_lowercase());
            }
        }
    }
}

/// What a line meant to the login machinery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Consumed (SASL, CAP, PING).
    Handled,
    /// 903: logged in; CAP END was sent.
    LoggedIn,
    /// 001: registered.
    Welcome,
    /// Not about logging in: the scenario's.
    Other,
}

/// Advances registration and SASL; the scenario handles `Other`. Queues
/// replies but does not write them (the caller kicks).
pub(crate) fn login_step(env: &Env, s: &Sess, msg: &Message<'_>, now: Instant) -> Result<Step> {
    let phase = s.phase();
    match msg.command {
        "PING" => {
            s.send(&format!("PONG :{}", msg.param(0).unwrap_or("")));
            Ok(Step::Handled)
        }
        "ERROR" => {
            let text: String = msg.param(0).unwrap_or("").chars().take(80).collect();
            bail!("ERROR :{text}")
        }
        "CAP" if msg.param(1) == Some("NAK") => {
            bail!("CAP NAK :{}", msg.param(2).unwrap_or("").trim())
        }
        "CAP" if phase == Phase::Cap && msg.param(1) == Some("ACK") => {
            let mech = match env.mech {
                Mech::Plain => "PLAIN",
                Mech::Scram => "SCRAM-SHA-256",
            };
            s.send(&format!("AUTHENTICATE {mech}"));
            s.set_phase(Phase::Auth);
            Ok(Step::Handled)
        }
        "CAP" => Ok(Step::Handled),
        "AUTHENTICATE" => {
            let arg = msg.param(0).unwrap_or("");
            match (phase, env.mech) {
                (Phase::Auth, Mech::Plain) if arg == "+" => {
                    let payload = format!("\0{}\0{}", s.nick, password(&s.nick));
                    s.send(&format!("AUTHENTICATE {}", B64.encode(payload)));
                    s.set_phase(Phase::Sasl);
                }
                (Phase::Auth, Mech::Scram) if arg == "+" => {
                    let (ex, first) = scram::Exchange::start(&s.nick, &env.nonce());
                    *s.scram.borrow_mut() = Some(ex);
                    s.send(&format!("AUTHENTICATE {}", B64.encode(first)));
                    s.set_phase(Phase::ScramFirst);
                }
                (Phase::ScramFirst, _) => {
                    let text = decode(arg)?;
                    let mut guard = s.scram.borrow_mut();
                    let ex = guard.as_mut().context("SCRAM: no exchange")?;
                    let sf = ex.server_first(&text)?;
                    let keys = {
                        let mut cache = env.scram_keys.borrow_mut();
                        let k = cache.entry(s.nick.clone()).or_insert_with(|| {
                            scram::Keys::derive(&password(&s.nick), &sf.salt, sf.iterations)
                        });
                        if k.salt != sf.salt || k.iterations != sf.iterations {
                            *k = scram::Keys::derive(&password(&s.nick), &sf.salt, sf.iterations);
                        }
                        k.clone()
                    };
                    let fin = ex.client_final(&sf, &keys);
                    s.send(&format!("AUTHENTICATE {}", B64.encode(fin)));
                    s.set_phase(Phase::ScramFinal);
                }
                (Phase::ScramFinal, _) => {
                    let text = decode(arg)?;
                    let guard = s.scram.borrow();
                    guard
                        .as_ref()
                        .context("SCRAM: no exchange")?
                        .server_final(&text)?;
                    s.send("AUTHENTICATE +");
                    s.set_phase(Phase::Sasl);
                }
                _ => bail!("unexpected AUTHENTICATE {arg} in {phase:?}"),
            }
            Ok(Step::Handled)
        }
        "903" => {
            s.logged_in_at.set(Some(now));
            s.send("CAP END");
            s.set_phase(Phase::LoggedIn);
            Ok(Step::LoggedIn)
        }
        "902" | "904" | "905" | "906" | "907" | "908" => {
            bail!("SASL failed ({})", msg.command)
        }
        "001" if matches!(phase, Phase::Connecting | Phase::LoggedIn) => Ok(Step::Welcome),
        "432" | "433" | "436" | "437" if phase != Phase::Ready => {
            bail!("nick refused ({})", msg.command)
        }
        _ => Ok(Step::Other),
    }
}

fn decode(arg: &str) -> Result<String> {
    let bytes = B64
        .decode(arg)
        .map_err(|_| anyhow!("AUTHENTICATE {arg}: not base64"))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("AUTHENTICATE: not UTF-8"))
}

/// The MONITOR lines that add `nicks`, each under 400 bytes.
pub(crate) fn monitor_lines(nicks: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for n in nicks {
        if !cur.is_empty() && cur.len() + n.len() + 1 > 380 {
            lines.push(format!("MONITOR + {cur}"));
            cur.clear();
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(n);
    }
    if !cur.is_empty() {
        lines.push(format!("MONITOR + {cur}"));
    }
    lines
}

/// Counts while accounts are made: connect, REGISTER, (MONITOR,) done.
#[derive(Default)]
pub(crate) struct SetupCount {
    pub done: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// Connect to done, microseconds.
    pub latency: Hist,
    pub last_done: Option<Instant>,
}

impl SetupCount {
    pub(crate) fn ok(&mut self, s: &Sess, now: Instant) {
        self.done += 1;
        self.latency
            .record_duration(now.saturating_duration_since(s.due.get()));
        self.last_done = Some(now);
    }

    pub(crate) fn fail(&mut self, reason: String) {
        self.failed += 1;
        *self.failures.entry(reason).or_default() += 1;
    }
}

/// Adds one to `map[key]`.
pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: impl Into<String>) {
    *map.entry(key.into()).or_default() += 1;
}

/// The bench message payload `<step> <seq> <due_us>` in a PRIVMSG text,
/// also behind a `[time] ` prefix (offline messages to clients without
/// server-time).
pub(crate) fn bench_payload(text: &str) -> Option<(u32, u64, u64)> {
    let text = match text.strip_prefix('[') {
        Some(rest) => rest.split_once("] ").map_or(text, |(_, t)| t),
        None => text,
    };
    let mut it = text.strip_prefix(crate::engine::conn::MARK)?.split(' ');
    let step = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let due = it.next()?.parse().ok()?;
    Some((step, seq, due))
}

/// The nick a message comes from.
pub(crate) fn source_nick<'a>(msg: &Message<'a>) -> &'a str {
    msg.source.and_then(|s| s.split('!').next()).unwrap_or("")
}

/// Starts sessions `idx` of `all` on a timetable of `rate` per second
/// with at most `inflight` unsettled at once, and waits until each has
/// settled (`settled` counts them) or `limit` passed. Returns the seconds
/// that took.
pub(crate) async fn start_all(
    all: &[Rc<Sess>],
    idx: &[usize],
    rate: f64,
    inflight: usize,
    limit: Duration,
    mut start: impl FnMut(&Rc<Sess>),
    settled: impl Fn() -> u64,
) -> f64 {
    let sched = crate::schedule::Schedule::new(rate.max(1.0), idx.len() as u64);
    let t0 = Instant::now();
    let base = settled();
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let done = settled() - base;
        if done >= idx.len() as u64 {
            break;
        }
        if now - t0 > limit {
            break;
        }
        let due = sched.due_by(now - t0);
        while (next as u64) < due && (next as u64).saturating_sub(done) < inflight.max(1) as u64 {
            let s = &all[idx[next]];
            s.due.set(now);
            start(s);
            next += 1;
        }
    }
    t0.elapsed().as_secs_f64()
}

/// Waits, checking every 2 ms, until `f` holds or `limit` passed.
pub(crate) async fn wait_until(limit: Duration, f: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_stay_short_and_keep_every_nick() {
        let nicks: Vec<String> = (0..100).map(|i| format!("fb{i}")).collect();
        let lines = monitor_lines(&nicks);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() < 400));
        let back: Vec<&str> = lines
            .iter()
            .flat_map(|l| l.strip_prefix("MONITOR + ").expect("prefix").split(','))
            .collect();
        assert_eq!(back.len(), 100);
        assert_eq!(back[99], "fb99");
    }

    #[test]
    fn payloads_with_and_without_a_time_prefix() {
        assert_eq!(bench_payload("fb 1 7 900"), Some((1, 7, 900)));
        assert_eq!(
            bench_payload("[2026-11-25T17:22:59.177Z] fb 2 8 901"),
            Some((2, 8, 901))
        );
        assert_eq!(bench_payload("hello"), None);
        assert_eq!(bench_payload("fb 1 x 900"), None);
    }
}
