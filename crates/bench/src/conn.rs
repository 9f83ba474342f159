//! One client connection of a worker, on a single-threaded runtime.
//!
//! The connection's task owns the socket's read side: it reads everything
//! the socket holds, frames lines with `ferry_proto::next_line`, parses
//! them with `Message::parse`, answers PING, retries a nick in use, joins
//! its channel, and records each bench message it receives. The worker's
//! scheduler writes to the socket directly ([`Conn::kick`]): it appends
//! every line due for one connection in a tick to [`Conn::out`] and makes
//! one `write` for them all; whatever the socket does not take, the task
//! writes when the socket is writable again.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Error, Result};
use ferry_proto::{FrameError, Message};
use tokio::io::Interest;
use tokio::sync::Notify;
use tokio_rustls::rustls::ClientConfig;

use crate::stats::Hist;
use crate::wire::Wire;

/// Longest line accepted from a server, tags excluded (generous: servers
/// differ, and a bench must not choke on a long NAMES reply).
const LINE_LIMIT: usize = 16 * 1024;
const TAG_LIMIT: usize = 8 * 1024;
/// Tries with another nick after ERR_NICKNAMEINUSE before giving up.
const NICK_RETRIES: u32 = 5;
/// The prefix that marks a bench message: `fb <step> <seq> <due_us>`.
pub(crate) const MARK: &str = "fb ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    New,
    Connecting,
    /// 001 seen; joining its channel.
    Registered,
    /// Registered (and joined): the scenario may use it.
    Ready,
    Dead,
}

/// What every connection of a worker shares: where to connect, and the
/// counters it adds to.
pub(crate) struct Shared {
    /// Times in bench messages are microseconds since this instant.
    pub epoch: Instant,
    pub target: SocketAddr,
    pub bind_source: bool,
    pub per_source: u64,
    /// `--tls`: the client set-up every connection uses.
    pub tls: Option<Arc<ClientConfig>>,
    pub timeout: Duration,
    /// The step whose messages count; 0 before the first.
    pub step: Cell<u32>,
    pub setup: RefCell<SetupStats>,
    pub live: RefCell<LiveStats>,
}

#[derive(Default)]
pub(crate) struct SetupStats {
    pub registered: u64,
    pub ready: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    pub nick_retries: u64,
    /// Connect to 001, in microseconds.
    pub latency: Hist,
    pub last_ready: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct LiveStats {
    pub received: u64,
    /// Bench messages of an earlier step.
    pub late: u64,
    /// Due time to receipt, in microseconds.
    pub latency: Hist,
    pub last_receipt: Option<Instant>,
    /// Clients lost after they were ready, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Error numerics (4xx, 5xx) from the server, by numeric.
    pub server_errors: BTreeMap<String, u64>,
}

impl Shared {
    fn micros(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Records a received bench message (`<step> <seq> <due_us>`).
    fn receipt(&self, payload: &str, now: Instant) {
        let mut it = payload.split(' ');
        let (Some(step), Some(_seq), Some(due)) = (it.next(), it.next(), it.next()) else {
            return;
        };
        let (Ok(step), Ok(due)) = (step.parse::<u32>(), due.parse::<u64>()) else {
            return;
        };
        let mut live = self.live.borrow_mut();
        if step == self.step.get() {
            live.received += 1;
            live.latency.record(self.micros(now).saturating_sub(due));
            live.last_receipt = Some(now);
        } else {
            live.late += 1;
        }
    }
}

pub(crate) struct Conn {
    /// Index among all clients of the run (nick, source address).
    pub global: u64,
    pub base_nick: String,
    /// The nick the server knows it by.
    pub nick: RefCell<String>,
    /// The channel to join before it is ready (fanout).
    pub channel: Option<Rc<str>>,
    /// Bytes queued and not yet written.
    pub out: RefCell<Vec<u8>>,
    /// Set while the scheduler has queued for it in this tick.
    pub dirty: Cell<bool>,
    stream: RefCell<Option<Rc<Wire>>>,
    wake: Notify,
    state: Cell<State>,
}

impl Conn {
    pub(crate) fn new(global: u64, base_nick: String, channel: Option<Rc<str>>) -> Conn {
        Conn {
            global,
            nick: RefCell::new(base_nick.clone()),
            base_nick,
            channel,
            out: RefCell::new(Vec::new()),
            dirty: Cell::new(false),
            stream: RefCell::new(None),
            wake: Notify::new(),
            state: Cell::new(State::New),
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.state.get() == State::Ready
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

/// The source address for client `global`: `per_source` clients on each of
/// 127.0.0.2, 127.0.0.3, ..., wrapping within 127.0.0.0/8.
pub(crate) fn source_ip(global: u64, per_source: u64) -> Ipv4Addr {
    const FIRST: u32 = 0x7F00_0002; // 127.0.0.2
    const LAST: u32 = 0x7FFF_FFFE; // 127.255.255.254
    let span = u64::from(LAST - FIRST + 1);
    let off = (global / per_source.max(1)) % span;
    Ipv4Addr::from(FIRST + off as u32)
}

/// Another nick after a collision: at most 9 characters (the smallest
/// NICKLEN servers use), from the base nick's first five and a hash.
pub(crate) fn retry_nick(base: &str, global: u64, attempt: u32) -> String {
    let head: String = base.chars().take(5).collect();
    let mut h = global
        .wrapping_add(u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 31;
    let mut tail = String::new();
    for _ in 0..4 {
        let d = (h % 36) as u32;
        h /= 36;
        tail.push(char::from_digit(d, 36).expect("digit below 36"));
    }
    head + &tail
}

/// Connects, registers, (joins,) then serves the connection until it
/// closes. Counts it as failed or, once ready, as disconnected.
pub(crate) async fn run(conn: Rc<Conn>, sh: Rc<Shared>) {
    conn.state.set(State::Connecting);
    let reason = format!("{:#}", drive(&conn, &sh).await);
    let was_ready = conn.is_ready();
    conn.state.set(State::Dead);
    conn.stream.borrow_mut().take();
    *conn.out.borrow_mut() = Vec::new();
    if was_ready {
        *sh.live.borrow_mut().disconnects.entry(reason).or_default() += 1;
    } else {
        let mut s = sh.setup.borrow_mut();
        s.failed += 1;
        *s.failures.entry(reason).or_default() += 1;
    }
}

async fn connect(sh: &Shared, global: u64) -> Result<Wire> {
    let source = sh.bind_source.then(|| source_ip(global, sh.per_source));
    Wire::connect(sh.target, source, sh.tls.as_ref()).await
}

/// Frames the lines a socket delivers.
#[derive(Default)]
pub(crate) struct LineReader {
    buf: Vec<u8>,
    /// Dropping the rest of an overlong line.
    skipping: bool,
}

impl LineReader {
    /// Reads until the socket would block, handing each complete line
    /// (valid UTF-8 only) to `f` with the time of the read; stops at the
    /// first error `f` returns.
    pub(crate) fn read(
        &mut self,
        stream: &Wire,
        mut f: impl FnMut(&str, Instant) -> Result<()>,
    ) -> Result<()> {
        loop {
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            match stream.try_read_buf(&mut self.buf) {
                Ok(0) => bail!("closed by the server"),
                Ok(_) => self.lines(&mut f)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).context("read"),
            }
        }
        if self.buf.is_empty() {
            // An idle client holds no read buffer.
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn lines(&mut self, f: &mut impl FnMut(&str, Instant) -> Result<()>) -> Result<()> {
        let now = Instant::now();
        let mut pos = 0;
        if self.skipping {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    pos = nl + 1;
                    self.skipping = false;
                }
                None => {
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
        let mut result = Ok(());
        while pos < self.buf.len() {
            match ferry_proto::next_line(&self.buf[pos..], LINE_LIMIT, TAG_LIMIT) {
                Ok(Some(fr)) => {
                    let line = &self.buf[pos..pos + fr.len];
                    pos += fr.consumed;
                    if let Ok(line) = std::str::from_utf8(line) {
                        if let Err(reason) = f(line, now) {
                            result = Err(reason);
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(FrameError::TooLong { consumed, complete }) => {
                    pos += consumed;
                    self.skipping = !complete;
                }
            }
        }
        self.buf.drain(..pos);
        result
    }
}

struct Reader {
    lines: LineReader,
    attempts: u32,
    started: Instant,
}

/// Runs the connection; returns why it ended (`{:#}` gives the reason).
async fn drive(conn: &Conn, sh: &Shared) -> Error {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + sh.timeout);
    let stream = match tokio::time::timeout_at(deadline, connect(sh, conn.global)).await {
        Err(_) => return anyhow!("timeout before 001 (connecting)"),
        Ok(Err(reason)) => return reason,
        Ok(Ok(s)) => Rc::new(s),
    };
    *conn.stream.borrow_mut() = Some(stream.clone());
    let nick = conn.base_nick.clone();
    {
        let mut out = conn.out.borrow_mut();
        out.clear();
        let _ = write!(out, "NICK {nick}\r\nUSER fb 0 * :ferry-bench\r\n");
    }
    *conn.nick.borrow_mut() = nick;
    let mut rd = Reader {
        lines: LineReader::default(),
        attempts: 0,
        started,
    };
    loop {
        let pending = match conn.flush() {
            Ok(done) => !done,
            Err(e) => return Error::new(e).context("write"),
        };
        let interest = if pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let waiting = !conn.is_ready();
        tokio::select! {
            r = stream.ready(interest) => match r {
                Err(e) => return Error::new(e).context("poll"),
                Ok(r) if r.is_readable() || r.is_read_closed() => {
                    if let Err(reason) = read(conn, sh, &stream, &mut rd) {
                        return reason;
                    }
                }
                Ok(_) => {}
            },
            _ = conn.wake.notified() => {}
            _ = tokio::time::sleep_until(deadline), if waiting => {
                return if conn.state() == State::Registered {
                    anyhow!("timeout waiting for JOIN")
                } else {
                    anyhow!("timeout before 001")
                };
            }
        }
    }
}

/// Reads until the socket would block, handling each complete line.
fn read(conn: &Conn, sh: &Shared, stream: &Wire, rd: &mut Reader) -> Result<()> {
    let (attempts, started) = (&mut rd.attempts, rd.started);
    rd.lines.read(stream, |line, now| {
        handle_line(conn, sh, attempts, started, line, now)
    })
}

fn handle_line(
    conn: &Conn,
    sh: &Shared,
    attempts: &mut u32,
    started: Instant,
    line: &str,
    now: Instant,
) -> Result<()> {
    let Ok(msg) = Message::parse(line) else {
        return Ok(());
    };
    let state = conn.state();
    match msg.command {
        "PRIVMSG" => {
            if let Some(payload) = msg.param(1).and_then(|t| t.strip_prefix(MARK)) {
                sh.receipt(payload, now);
            }
        }
        "PING" => {
            let mut out = conn.out.borrow_mut();
            out.extend_from_slice(b"PONG :");
            out.extend_from_slice(msg.param(0).unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        "001" if state == State::Connecting => {
            if let Some(n) = msg.param(0) {
                *conn.nick.borrow_mut() = n.to_string();
            }
            {
                let mut s = sh.setup.borrow_mut();
                s.registered += 1;
                s.latency.record_duration(now - started);
            }
            conn.state.set(State::Registered);
            match &conn.channel {
                Some(ch) => {
                    let _ = write!(conn.out.borrow_mut(), "JOIN {ch}\r\n");
                }
                None => ready(conn, sh, now),
            }
        }
        "433" | "436" | "437" if state == State::Connecting => {
            *attempts += 1;
            if *attempts > NICK_RETRIES {
                bail!("nick in use ({NICK_RETRIES} retries)");
            }
            sh.setup.borrow_mut().nick_retries += 1;
            let nick = retry_nick(&conn.base_nick, conn.global, *attempts);
            let _ = write!(conn.out.borrow_mut(), "NICK {nick}\r\n");
            *conn.nick.borrow_mut() = nick;
        }
        "432" if state == State::Connecting => bail!("erroneous nickname (432)"),
        "JOIN" if state == State::Registered => {
            let who = msg.source.and_then(|s| s.split('!').next()).unwrap_or("");
            let mine = who.eq_ignore_ascii_case(&conn.nick.borrow());
            let chan = conn.channel.as_deref().unwrap_or("");
            if mine && msg.param(0).is_some_and(|c| c.eq_ignore_ascii_case(chan)) {
                ready(conn, sh, now);
            }
        }
        "ERROR" => {
            let text: String = msg.param(0).unwrap_or("").chars().take(80).collect();
            bail!("ERROR :{text}");
        }
        // Refused joins end a client that needs its channel.
        "403" | "405" | "471" | "473" | "474" | "475" | "477" if state == State::Registered => {
            bail!("JOIN refused ({})", msg.command);
        }
        cmd if cmd.len() == 3 && (cmd.starts_with('4') || cmd.starts_with('5')) => {
            *sh.live
                .borrow_mut()
                .server_errors
                .entry(cmd.to_string())
                .or_default() += 1;
        }
        _ => {}
    }
    Ok(())
}

fn ready(conn: &Conn, sh: &Shared, now: Instant) {
    conn.state.set(State::Ready);
    let mut s = sh.setup.borrow_mut();
    s.ready += 1;
    s.last_ready = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_spread_over_loopback() {
        assert_eq!(source_ip(0, 10_000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_ip(9_999, 10_000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_ip(10_000, 10_000), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(source_ip(2_540_000, 10_000), Ipv4Addr::new(127, 0, 1, 0));
        assert!(source_ip(u64::MAX, 1).is_loopback());
        assert!(source_ip(5, 0).is_loopback());
    }

    #[test]
    fn retried_nicks_are_short_and_differ() {
        let a = retry_nick("fb123456", 123_456, 1);
        let b = retry_nick("fb123456", 123_456, 2);
        assert_ne!(a, b);
        assert!(a.len() <= 9 && a.starts_with("fb123"), "{a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(retry_nick("張三李四王五", 1, 1).chars().count(), 9);
    }

    fn shared() -> Shared {
        Shared {
            epoch: Instant::now() - Duration::from_secs(1),
            target: "127.0.0.1:1".parse().expect("addr"),
            bind_source: false,
            per_source: 1,
            tls: None,
            timeout: Duration::from_secs(1),
            step: Cell::new(2),
            setup: RefCell::default(),
            live: RefCell::default(),
        }
    }

    #[test]
    fn receipts_count_only_the_current_step() {
        let sh = shared();
        let now = Instant::now();
        sh.receipt("2 7 500000", now);
        sh.receipt("1 9 400000", now);
        sh.receipt("2 garbage", now);
        let live = sh.live.borrow();
        assert_eq!((live.received, live.late), (1, 1));
        let p = live.latency.percentiles();
        assert!(p.max >= 500_000 && p.max < 2_000_000, "{p:?}");
    }

    /// Reasons are map keys in the report: their text is fixed.
    #[test]
    fn reasons_keep_their_text() {
        let (sh, conn) = (shared(), Conn::new(7, "fb7".into(), None));
        conn.state.set(State::Connecting);
        let now = Instant::now();
        let why = |line: &str, attempts: &mut u32| {
            let e = handle_line(&conn, &sh, attempts, now, line, now).expect_err(line);
            format!("{e:#}")
        };
        assert_eq!(why("ERROR :Closing link", &mut 0), "ERROR :Closing link");
        assert_eq!(
            why(":srv 432 * fb7 :bad", &mut 0),
            "erroneous nickname (432)"
        );
        assert_eq!(
            why(":srv 433 * fb7 :in use", &mut { NICK_RETRIES }),
            format!("nick in use ({NICK_RETRIES} retries)")
        );
        let io = io::Error::from(io::ErrorKind::ConnectionReset);
        let e = Error::new(io).context("read");
        assert_eq!(
            format!("{e:#}"),
            format!("read: {}", io::Error::from(io::ErrorKind::ConnectionReset))
        );
    }
}
