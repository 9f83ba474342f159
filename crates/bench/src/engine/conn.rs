//! One client connection: its buffers, its state, and what it does with
//! each line the server sends (answer PING, retry a nick in use, join its
//! channel, record a bench message).
//!
//! Nothing here does I/O: the engine reads the socket into its scratch
//! buffer and hands the bytes to [`Conn::take_lines`]; what a line makes
//! the client say goes into [`Conn::out`] for the engine to write.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, Result};
use ferry_proto::{FrameError, Message};

use super::wire::Wire;
use crate::stats::Hist;

/// Longest line accepted from a server, tags excluded (generous: servers
/// differ, and a bench must not choke on a long NAMES reply).
const LINE_LIMIT: usize = 16 * 1024;
const TAG_LIMIT: usize = 8 * 1024;
/// Tries with another nick after ERR_NICKNAMEINUSE before giving up.
pub(crate) const NICK_RETRIES: u32 = 5;
/// The prefix that marks a bench message: `fb <step> <seq> <due_us>`.
pub(crate) const MARK: &str = "fb ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    New,
    /// TCP connect in progress.
    Connecting,
    /// Connected; NICK and USER sent, waiting for 001.
    Registering,
    /// 001 seen; joining its channel.
    Registered,
    /// Registered (and joined): the scenario may use it.
    Ready,
    Dead,
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

/// What every connection's lines add to.
pub(crate) struct Counts {
    /// Times in bench messages are microseconds since this instant.
    pub epoch: Instant,
    /// The step whose messages count; 0 before the first.
    pub step: u32,
    pub setup: SetupStats,
    pub live: LiveStats,
}

impl Counts {
    pub(crate) fn new(epoch: Instant) -> Counts {
        Counts {
            epoch,
            step: 0,
            setup: SetupStats::default(),
            live: LiveStats::default(),
        }
    }

    pub(crate) fn micros(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Records a received bench message (`<step> <seq> <due_us>`).
    pub(crate) fn receipt(&mut self, payload: &[u8], now: Instant) {
        let mut it = payload.split(|&b| b == b' ');
        let (Some(step), Some(_seq), Some(due)) = (it.next(), it.next(), it.next()) else {
            return;
        };
        let (Some(step), Some(due)) = (digits(step), digits(due)) else {
            return;
        };
        let live = &mut self.live;
        if step == u64::from(self.step) {
            live.received += 1;
            let now_us = now.saturating_duration_since(self.epoch).as_micros() as u64;
            live.latency.record(now_us.saturating_sub(due));
            live.last_receipt = Some(now);
        } else {
            live.late += 1;
        }
    }
}

/// A decimal number of at most 19 digits.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

pub(crate) struct Conn {
    /// Index among all clients of the run (nick, source address).
    pub global: u64,
    pub base_nick: Box<str>,
    /// The nick the server knows it by.
    pub nick: String,
    /// The channel to join before it is ready (fanout).
    pub channel: Option<Rc<str>>,
    /// Bytes queued and not yet written.
    pub out: Vec<u8>,
    /// In the engine's list of connections to write this turn.
    pub(super) dirty: bool,
    /// The socket refused bytes: wait for it to be writable.
    pub(super) blocked: bool,
    /// The due time of the oldest bench line not yet written, and when
    /// the first line not yet written was queued.
    pub(super) due_us: Option<u64>,
    pub(super) held_since: Instant,
    pub(super) wire: Option<Wire>,
    pub(super) state: State,
    /// The start of a line not yet complete.
    inbuf: Vec<u8>,
    /// Dropping the rest of an overlong line.
    skipping: bool,
    attempts: u32,
    pub(super) started: Instant,
}

impl Conn {
    pub(crate) fn new(global: u64, base_nick: String, channel: Option<Rc<str>>) -> Conn {
        Conn {
            global,
            nick: base_nick.clone(),
            base_nick: base_nick.into(),
            channel,
            out: Vec::new(),
            dirty: false,
            blocked: false,
            due_us: None,
            held_since: Instant::now(),
            wire: None,
            state: State::New,
            inbuf: Vec::new(),
            skipping: false,
            attempts: 0,
            started: Instant::now(),
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// A fresh start: what an earlier life left is dropped.
    pub(super) fn reset(&mut self, now: Instant) {
        self.nick = self.base_nick.to_string();
        self.out = Vec::new();
        self.inbuf = Vec::new();
        self.skipping = false;
        self.blocked = false;
        self.due_us = None;
        self.attempts = 0;
        self.started = now;
    }

    /// The TCP connection is up: register.
    pub(super) fn greet(&mut self) {
        self.state = State::Registering;
        self.out.extend_from_slice(b"NICK ");
        self.out.extend_from_slice(self.nick.as_bytes());
        self.out
            .extend_from_slice(b"\r\nUSER fb 0 * :ferry-bench\r\n");
    }

    /// Handles the complete lines of `data` (what was read after the
    /// bytes already held), keeping an incomplete last line for the next
    /// read; stops at the first line that ends the client.
    pub(super) fn take_lines(&mut self, data: &[u8], c: &mut Counts, now: Instant) -> Result<()> {
        if self.inbuf.is_empty() && !self.skipping {
            let used = self.lines(data, c, now)?;
            if used < data.len() {
                self.inbuf.extend_from_slice(&data[used..]);
            }
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.inbuf);
        buf.extend_from_slice(data);
        let mut pos = 0;
        if self.skipping {
            match buf.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    pos = nl + 1;
                    self.skipping = false;
                }
                None => return Ok(()),
            }
        }
        let res = self.lines(&buf[pos..], c, now);
        if let Ok(used) = res {
            buf.drain(..pos + used);
            // An idle client holds no read buffer.
            if buf.is_empty() {
                buf = Vec::new();
            }
            self.inbuf = buf;
        }
        res.map(drop)
    }

    /// Handles every complete line at the start of `buf`; returns how many
    /// bytes it used.
    fn lines(&mut self, buf: &[u8], c: &mut Counts, now: Instant) -> Result<usize> {
        let mut pos = 0;
        while pos < buf.len() {
            match ferry_proto::next_line(&buf[pos..], LINE_LIMIT, TAG_LIMIT) {
                Ok(Some(fr)) => {
                    let line = &buf[pos..pos + fr.len];
                    pos += fr.consumed;
                    self.line(line, c, now)?;
                }
                Ok(None) => break,
                Err(FrameError::TooLong { consumed, complete }) => {
                    pos += consumed;
                    if !complete {
                        self.skipping = true;
                        return Ok(buf.len());
                    }
                }
            }
        }
        Ok(pos)
    }

    fn line(&mut self, line: &[u8], c: &mut Counts, now: Instant) -> Result<()> {
        // The hot path: a bench message, recorded without a full parse.
        if let Some(payload) = bench_payload(line) {
            c.receipt(payload, now);
            return Ok(());
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return Ok(());
        };
        self.handle(line, c, now)
    }

    pub(crate) fn handle(&mut self, line: &str, c: &mut Counts, now: Instant) -> Result<()> {
        let Ok(msg) = Message::parse(line) else {
            return Ok(());
        };
        let state = self.state;
        match msg.command {
            "PRIVMSG" => {
                if let Some(payload) = msg.param(1).and_then(|t| t.strip_prefix(MARK)) {
                    c.receipt(payload.as_bytes(), now);
                }
            }
            "PING" => {
                self.out.extend_from_slice(b"PONG :");
                self.out
                    .extend_from_slice(msg.param(0).unwrap_or("").as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            "001" if state == State::Registering => {
                if let Some(n) = msg.param(0) {
                    self.nick = n.to_string();
                }
                c.setup.registered += 1;
                c.setup.latency.record_duration(now - self.started);
                self.state = State::Registered;
                match &self.channel {
                    Some(ch) => {
                        self.out.extend_from_slice(b"JOIN ");
                        self.out.extend_from_slice(ch.as_bytes());
                        self.out.extend_from_slice(b"\r\n");
                    }
                    None => self.ready(c, now),
                }
            }
            "433" | "436" | "437" if state == State::Registering => {
                self.attempts += 1;
                if self.attempts > NICK_RETRIES {
                    bail!("nick in use ({NICK_RETRIES} retries)");
                }
                c.setup.nick_retries += 1;
                self.nick = retry_nick(&self.base_nick, self.global, self.attempts);
                self.out.extend_from_slice(b"NICK ");
                self.out.extend_from_slice(self.nick.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            "432" if state == State::Registering => bail!("erroneous nickname (432)"),
            "JOIN" if state == State::Registered => {
                let who = msg.source.and_then(|s| s.split('!').next()).unwrap_or("");
                let mine = who.eq_ignore_ascii_case(&self.nick);
                let chan = self.channel.as_deref().unwrap_or("");
                if mine && msg.param(0).is_some_and(|ch| ch.eq_ignore_ascii_case(chan)) {
                    self.ready(c, now);
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
                *c.live.server_errors.entry(cmd.to_string()).or_default() += 1;
            }
            _ => {}
        }
        Ok(())
    }

    fn ready(&mut self, c: &mut Counts, now: Instant) {
        self.state = State::Ready;
        c.setup.ready += 1;
        c.setup.last_ready = Some(now);
    }
}

/// `fb <step> <seq> <due>` when `line` is `[@tags ][:source ]PRIVMSG
/// <target> :fb …`, found by scanning the line once instead of parsing
/// it: at 200,000 receipts a second the generator's cost per line is what
/// limits the rate it can measure.
pub(crate) fn bench_payload(line: &[u8]) -> Option<&[u8]> {
    let mut rest = line;
    if rest.first() == Some(&b'@') {
        rest = after_space(rest)?;
    }
    if rest.first() == Some(&b':') {
        rest = after_space(rest)?;
    }
    rest = rest.strip_prefix(b"PRIVMSG ")?;
    let target_end = rest.iter().position(|&b| b == b' ')?;
    rest = &rest[target_end..];
    rest.strip_prefix(b" :fb ")
}

fn after_space(s: &[u8]) -> Option<&[u8]> {
    let sp = s.iter().position(|&b| b == b' ')?;
    let mut rest = &s[sp..];
    while let Some(r) = rest.strip_prefix(b" ") {
        rest = r;
    }
    Some(rest)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    fn counts() -> Counts {
        let mut c = Counts::new(Instant::now() - Duration::from_secs(1));
        c.step = 2;
        c
    }

    #[test]
    fn receipts_count_only_the_current_step() {
        let mut c = counts();
        let now = Instant::now();
        c.receipt(b"2 7 500000", now);
        c.receipt(b"1 9 400000", now);
        c.receipt(b"2 garbage", now);
        c.receipt(b"2 7 5x", now);
        assert_eq!((c.live.received, c.live.late), (1, 1));
        let p = c.live.latency.percentiles();
        assert!(p.max >= 500_000 && p.max < 2_000_000, "{p:?}");
    }

    #[test]
    fn the_fast_path_finds_bench_messages_the_parser_would() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b":a!b@c PRIVMSG fb2 :fb 1 2 3", Some(b"1 2 3")),
            (b"@time=x :a!b@c PRIVMSG #ch :fb 1 2 3", Some(b"1 2 3")),
            (b"PRIVMSG fb2 :fb 9 9 9", Some(b"9 9 9")),
            (b":a!b@c  PRIVMSG fb2 :fb 1 2 3", Some(b"1 2 3")),
            (b":a!b@c NOTICE fb2 :fb 1 2 3", None),
            (b":a!b@c PRIVMSG fb2 :hello", None),
            (b":a!b@c PRIVMSG fb2 fb", None),
            (b":srv 001 fb2 :Welcome", None),
            (b"", None),
        ];
        for &(line, want) in cases {
            assert_eq!(
                bench_payload(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
            let parsed = Message::parse(std::str::from_utf8(line).expect("ascii"))
                .ok()
                .filter(|m| m.command == "PRIVMSG")
                .and_then(|m| {
                    m.param(1)
                        .and_then(|t| t.strip_prefix(MARK))
                        .map(str::to_owned)
                });
            assert_eq!(parsed.as_deref().map(str::as_bytes), want);
        }
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut c = counts();
        let mut conn = Conn::new(0, "fb0".into(), None);
        conn.state = State::Ready;
        let now = Instant::now();
        let due = c.micros(now);
        let line = format!(":x PRIVMSG fb0 :fb 2 1 {due}\r\nPING :tok\r\n");
        let (a, b) = line.as_bytes().split_at(17);
        conn.take_lines(a, &mut c, now).expect("first half");
        assert_eq!(c.live.received, 0);
        conn.take_lines(b, &mut c, now).expect("second half");
        assert_eq!(c.live.received, 1);
        assert_eq!(conn.out, b"PONG :tok\r\n");
    }

    #[test]
    fn an_overlong_line_is_skipped_whole() {
        let mut c = counts();
        let mut conn = Conn::new(0, "fb0".into(), None);
        conn.state = State::Ready;
        let now = Instant::now();
        let long = vec![b'x'; LINE_LIMIT + 100];
        conn.take_lines(&long, &mut c, now).expect("head");
        conn.take_lines(&long, &mut c, now).expect("middle");
        conn.take_lines(b"xx\r\nPING :a\r\n", &mut c, now)
            .expect("end");
        assert_eq!(conn.out, b"PONG :a\r\n");
    }

    /// Reasons are map keys in the report: their text is fixed.
    #[test]
    fn reasons_keep_their_text() {
        let mut c = counts();
        let mut conn = Conn::new(7, "fb7".into(), None);
        conn.state = State::Registering;
        let now = Instant::now();
        let mut why = |line: &str, attempts: u32| {
            conn.attempts = attempts;
            let e = conn.handle(line, &mut c, now).expect_err(line);
            format!("{e:#}")
        };
        assert_eq!(why("ERROR :Closing link", 0), "ERROR :Closing link");
        assert_eq!(why(":srv 432 * fb7 :bad", 0), "erroneous nickname (432)");
        assert_eq!(
            why(":srv 433 * fb7 :in use", NICK_RETRIES),
            format!("nick in use ({NICK_RETRIES} retries)")
        );
    }
}
