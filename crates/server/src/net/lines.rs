//! The sans-I/O line processor: what a connection does with the bytes it
//! read, up to handled commands. Framing (CR LF, LF, and the line and tag
//! limits, 417 for a longer line), receive flood control (a token bucket:
//! over budget, processing stops until the instant it returns), charset
//! decoding for a non-UTF-8 wire, and chains of deferred commands.
//!
//! It owns the read buffer and nothing else of the connection; it does no
//! I/O and reads no clock: the caller appends what it read
//! ([`Lines::read_into`]), passes `now`, and waits for what `process`
//! says it waits for (a deferred command, or the fake-lag instant). The
//! connection task (`driver.rs`) and the fuzzer (`crate::fuzz`) drive this
//! same code, and so would another event loop or transport.
//!
//! Written by hand: it is the relay's hot path (every line of every client
//! passes here), and it keeps no buffer for an idle client.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ferry_proto::frame::{next_line, FrameError};
use ferry_proto::{MAX_CLIENT_TAGS, MAX_LINE};

use crate::charset::{self, Charset};
use crate::commands;
use crate::ctx::Then;
use crate::guard::Bucket;
use crate::route::Me;
use crate::session::{Pending, Session};
use crate::Server;

/// Commands one chain holds at most (see [`Lines::process`]).
const CHAIN_MAX: usize = 64;
/// What one read asks for at least.
const READ_CHUNK: usize = 4096;
/// A whole line's worth of input, tags included: reading stops there until
/// it has been handled, so the buffer never holds much more than a line.
pub(crate) const READ_LIMIT: usize = MAX_LINE + MAX_CLIENT_TAGS + 4;

/// One connection's input side.
#[derive(Debug)]
pub(crate) struct Lines {
    /// Read, not handled yet: complete lines, then at most one partial.
    buf: Vec<u8>,
    /// Receive flood control (fake lag): a token bucket of lines.
    flood: Bucket,
    /// Skipping the rest of an over-long line up to its newline.
    discarding: bool,
    /// `buf` may hold complete lines not handled yet (a command was
    /// waiting, or flood control held them back, when they arrived).
    unprocessed: bool,
    /// The peer closed its side: what is buffered is the last input.
    eof: bool,
}

/// What [`Lines::process`] stopped for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Every complete line is handled (or one waits in `pending`, or the
    /// client quit): read on.
    Done,
    /// Over the flood budget: the next line may be handled at this instant.
    Throttled(Instant),
}

impl Lines {
    /// A processor whose flood budget is full at `now`, `burst` lines.
    pub(crate) fn new(burst: u32, now: Instant) -> Lines {
        Lines {
            buf: Vec::new(),
            flood: Bucket::new(burst, now),
            discarding: false,
            unprocessed: false,
            eof: false,
        }
    }

    /// The peer closed its side (a read returned 0).
    pub(crate) fn ended(&mut self) {
        self.eof = true;
    }

    pub(crate) fn eof(&self) -> bool {
        self.eof
    }

    /// The buffer to append read bytes to, with room for one read; the
    /// caller then calls [`Lines::received`].
    pub(crate) fn read_into(&mut self) -> &mut Vec<u8> {
        if self.buf.capacity() - self.buf.len() < 512 {
            self.buf.reserve(READ_CHUNK);
        }
        &mut self.buf
    }

    /// Bytes were appended: there may be lines to handle.
    pub(crate) fn received(&mut self) {
        self.unprocessed = true;
    }

    /// Reading should pause: a whole line's worth is waiting.
    pub(crate) fn full(&self) -> bool {
        self.buf.len() >= READ_LIMIT
    }

    /// Bytes held, handled or not.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Complete lines may be waiting.
    pub(crate) fn unprocessed(&self) -> bool {
        self.unprocessed
    }

    /// Nothing held and nothing half-read: what an idle connection is.
    pub(crate) fn is_idle(&self) -> bool {
        self.buf.is_empty() && !self.unprocessed && !self.discarding
    }

    /// Drops unread input (the connection is ending); returns the capacity
    /// that was held.
    pub(crate) fn clear(&mut self) -> usize {
        let held = self.buf.capacity();
        self.buf = Vec::new();
        self.unprocessed = false;
        held
    }

    /// The head of `pending` finished with `then`: its replies and effects
    /// are applied (`commands::resume`), a further step of the same command
    /// goes first, and later lines may be handled again.
    pub(crate) fn complete(
        &mut self,
        server: &Arc<Server>,
        session: &mut Session,
        pending: &mut Option<Box<Pending>>,
        then: Then,
    ) {
        let Some(mut p) = pending.take() else {
            return;
        };
        *pending = p.next.take();
        commands::resume(server, session, then, p.reply, p.verb);
        if let Some(mut step) = session.pending.take() {
            step.next = pending.take();
            *pending = Some(step);
        }
        self.unprocessed = !self.buf.is_empty();
    }

    /// Handles the complete lines in the buffer, in order, until one waits
    /// (for the store, or for hashing), the client quits, or flood control
    /// holds the rest back.
    ///
    /// One that waits to store messages for offline accounts need not hold
    /// back the PRIVMSG and NOTICE lines right behind it: they are handled
    /// too, into a chain (`pending`) whose replies are released in order as
    /// each is done. A sender's burst of offline messages then shares one
    /// commit and one write of its echoes, instead of one each. Anything
    /// else ends the chain and waits for all of it.
    pub(crate) fn process(
        &mut self,
        server: &Arc<Server>,
        session: &mut Session,
        pending: &mut Option<Box<Pending>>,
        now: Instant,
    ) -> Stop {
        let stop = self.process_lines(server, session, pending, now);
        session.in_chain = false;
        stop
    }

    fn process_lines(
        &mut self,
        server: &Arc<Server>,
        session: &mut Session,
        pending: &mut Option<Box<Pending>>,
        now: Instant,
    ) -> Stop {
        let line_limit = MAX_LINE - 2;
        let tag_limit = MAX_CLIENT_TAGS + 2;
        let mut start = 0;
        let mut stop = Stop::Done;
        self.unprocessed = false;
        let mut lines = 0u64;
        while start < self.buf.len() {
            let buf = &self.buf[start..];
            if self.discarding {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        start += nl + 1;
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        start = self.buf.len();
                        break;
                    }
                }
            }
            // Raw lines in another charset may be longer than their UTF-8
            // form; the limit is checked on the UTF-8 form after decoding.
            let factor = session.charset.frame_factor();
            match next_line(buf, line_limit * factor, tag_limit * factor) {
                Ok(Some(frame)) => {
                    if let Some(at) = flood_wait(&mut self.flood, server, session, now) {
                        stop = Stop::Throttled(at);
                        self.unprocessed = true;
                        break;
                    }
                    let line = &buf[..frame.len];
                    start += frame.consumed;
                    lines += 1;
                    handle(server, session, line, line_limit, tag_limit);
                    if session.quit.is_some() {
                        self.unprocessed = start < self.buf.len();
                        break;
                    }
                    if let Some(p) = session.pending.take() {
                        let chainable = p.chainable;
                        let n = Pending::append(pending, p);
                        if !(chainable && n < CHAIN_MAX && continues_chain(&self.buf[start..])) {
                            session.in_chain = false;
                            self.unprocessed = start < self.buf.len();
                            break;
                        }
                        session.in_chain = true;
                    }
                }
                Ok(None) => break,
                Err(FrameError::TooLong { consumed, complete }) => {
                    start += consumed;
                    self.discarding = !complete;
                    commands::input_too_long(server, session);
                }
            }
        }
        server.stats.lines_in.fetch_add(lines, Ordering::Relaxed);
        self.buf.drain(..start);
        if self.buf.is_empty() {
            // Idle clients hold no read buffer.
            server.stats.read_buffer(self.buf.capacity(), 0);
            self.buf = Vec::new();
        }
        stop
    }
}

/// A new connection's session with its input settings: its listener's
/// charset, and receive flood control unless it is off or the address is
/// exempt.
pub(crate) fn open_session(server: &Server, client: Me, charset: Charset, ip: IpAddr) -> Session {
    let mut session = Session::new(client);
    session.charset = charset;
    if charset != Charset::UTF8 {
        session.more.listener_charset = Some(charset);
    }
    let cfg = server.config();
    session.flood_exempt = cfg.flood.lines_per_second == 0.0 || crate::guard::is_exempt(&cfg, ip);
    session
}

/// Receive flood control: `Some(instant)` when the next line must wait.
/// Operators and exempt addresses are never held.
fn flood_wait(
    flood: &mut Bucket,
    server: &Server,
    session: &Session,
    now: Instant,
) -> Option<Instant> {
    if session.flood_exempt || session.more.oper_name.is_some() {
        return None;
    }
    let f = &server.config().flood;
    flood.take(now, f.lines_per_second, f.burst).err()
}

/// One framed line: decoded from the wire's charset when it is not UTF-8
/// (and checked against the limits in its UTF-8 form), then dispatched.
fn handle(server: &Arc<Server>, session: &mut Session, line: &[u8], limit: usize, tags: usize) {
    if line.iter().all(|&b| b == b' ') {
        // blank: ignored
    } else if session.charset.is_utf8_only() {
        commands::handle_line(server, session, line);
    } else {
        let text = session.charset.decode(line);
        if charset::too_long(&text, limit, tags) {
            commands::input_too_long(server, session);
        } else {
            commands::handle_line(server, session, text.as_bytes());
        }
    }
}

/// Whether the next complete line in `buf` may join a chain: a PRIVMSG or
/// NOTICE, not to NickServ (whose commands change who the sender is).
fn continues_chain(buf: &[u8]) -> bool {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let mut words = buf[..nl]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .skip_while(|w| w[0] == b'@' || w[0] == b':');
    let verb = words.next().unwrap_or_default();
    if !verb.eq_ignore_ascii_case(b"PRIVMSG") && !verb.eq_ignore_ascii_case(b"NOTICE") {
        return false;
    }
    let targets = words.next().unwrap_or_default();
    !targets
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"nickserv"))
}
