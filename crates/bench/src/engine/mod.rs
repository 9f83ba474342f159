//! The engine: one thread's event loop over thousands of client sockets.
//!
//! Hand-written on mio (epoll) rather than a task per connection on
//! tokio, because the generator's own cost per message decides the
//! highest rate it can measure: with a task per connection, every read
//! was a task wake-up and every receipt a full parse, and ferry bench ran
//! out of CPU at ~48,000 DMs/s while the servers it measured had room to
//! spare. Here one `epoll_wait` reports every ready socket of a turn,
//! each is read once into a shared scratch buffer (a short read empties a
//! TCP socket, so no second `read` to see EAGAIN), bench messages are
//! recognised without parsing the line, and every line queued for one
//! connection in a turn goes out in one `write`.
//!
//! **Turns on a tick, not on data.** The thread sleeps on a periodic
//! timer (timerfd, the worker's tick: 250 µs) and nothing else, then takes what is ready with
//! a non-blocking `epoll_wait`; the scheduler runs between turns. A thread
//! asleep in `epoll_wait` would be woken by every line the server writes,
//! and on loopback the server's `write` pays for that wake-up (an
//! inter-processor interrupt, the dearest part of a loopback write in a
//! VM): no real client makes a server pay for waking it, so the generator
//! does not either. Receipt times do not suffer from reading on a tick:
//! each read asks the kernel when its data arrived (`SO_TIMESTAMPNS`), and
//! latency runs to that moment, not to the read.
//!
//! **Holding writes under load.** On loopback a `write` costs the sender
//! the whole TCP path of the receiving socket too (~5 µs here, against
//! ~0.3 µs of our own work per message), so the generator's CPU goes
//! almost all to `write`s, one per sender per turn. While it sends
//! ([`Engine::coalesce`]) the engine watches its own thread's CPU every
//! 20 ms; above 85 % busy it holds a connection's lines up to `hold_max`
//! (`--hold-max-ms`, 8 ms) after the first of them was queued, so that one `write` carries
//! several; below 60 % it lets the hold shrink back to nothing. The hold
//! is part of every latency (due time → received), so it never flatters
//! a server; each step reports how long lines were held (`hold_us`, per
//! write) beside how late the scheduler queued them (`lag_us`).
//!
//! Scenarios (`crate::worker`) own the connections' meaning: which to
//! start when, what to send. The engine owns their sockets and what the
//! IRC client protocol asks of them (`conn.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use mio::{Events, Interest, Poll, Token};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::fd::AsFd;
use tokio_rustls::rustls::ClientConfig;

pub(crate) mod conn;
mod wire;

use crate::stats::{Cpu, CpuScope, Hist};
pub(crate) use conn::{Conn, Counts, State};
pub(crate) use wire::{start_connect, tls_config};
use wire::{RxClock, Wire};

/// Events taken per `epoll_wait`; a turn that fills them all is followed
/// at once by another.
const EVENTS: usize = 4096;
/// Bytes read from a socket at once (one buffer for all of them).
const SCRATCH: usize = 64 * 1024;
/// How often the hold is adjusted to the thread's CPU.
const HOLD_WINDOW: Duration = Duration::from_millis(20);

/// Where and how to connect.
pub(crate) struct Target {
    pub addr: SocketAddr,
    pub bind_source: bool,
    pub per_source: u64,
    pub tls: Option<Arc<ClientConfig>>,
    /// Connect to ready, at most.
    pub timeout: Duration,
}

pub(crate) struct Engine {
    poll: Poll,
    events: Events,
    /// The last turn filled `events`: take more before sleeping.
    more: bool,
    timer: TimerFd,
    clock: RxClock,
    pub conns: Vec<Conn>,
    /// Connections with bytes queued this turn.
    dirty: Vec<usize>,
    scratch: Box<[u8]>,
    target: Target,
    pub counts: Counts,
    /// Hold writes while the thread is busy (a scenario's send phase).
    pub coalesce: bool,
    hold: Duration,
    hold_max: Duration,
    window: (Instant, f64),
    /// Per write of bench lines: how long the oldest of them waited in
    /// the engine (queued → written), microseconds.
    pub held: Hist,
}

impl Engine {
    pub(crate) fn new(
        target: Target,
        conns: Vec<Conn>,
        tick: Duration,
        hold_max: Duration,
    ) -> Result<Engine> {
        let poll = Poll::new().context("epoll")?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .context("timerfd")?;
        timer
            .set(
                Expiration::Interval(TimeSpec::from_duration(tick)),
                TimerSetTimeFlags::empty(),
            )
            .context("arm the timer")?;
        Ok(Engine {
            poll,
            events: Events::with_capacity(EVENTS),
            more: false,
            clock: RxClock::new(),
            timer,
            conns,
            dirty: Vec::new(),
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            target,
            counts: Counts::new(Instant::now()),
            coalesce: false,
            hold: Duration::ZERO,
            hold_max,
            window: (Instant::now(), 0.0),
            held: Hist::default(),
        })
    }

    /// Starts connecting connection `i`; a failure to even start counts
    /// at once.
    pub(crate) fn start(&mut self, i: usize, now: Instant) {
        let t = &self.target;
        let c = &mut self.conns[i];
        c.reset(now);
        c.state = State::Connecting;
        let source = t
            .bind_source
            .then(|| conn::source_ip(c.global, t.per_source));
        let mut wire = match Wire::connect(t.addr, source, t.tls.as_ref()) {
            Ok(w) => w,
            Err(e) => return self.fail(i, format!("{e:#}")),
        };
        if let Err(e) = self.poll.registry().register(
            &mut wire.tcp,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(i, format!("register: {e}"));
        }
        self.conns[i].wire = Some(wire);
    }

    /// Queues bytes for connection `i`, written at the end of this turn
    /// (or by [`Engine::flush`]). Nothing is queued for a connection
    /// that is not up.
    pub(crate) fn queue(&mut self, i: usize) -> Option<&mut Vec<u8>> {
        let c = &mut self.conns[i];
        c.wire.as_ref()?;
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(i);
        }
        Some(&mut c.out)
    }

    /// Queues a bench line due at `due_us` (microseconds since the
    /// epoch) for connection `i`; while the engine holds writes, it goes
    /// out with the next lines queued for `i` or when the hold is over.
    pub(crate) fn queue_due(
        &mut self,
        i: usize,
        due_us: u64,
        now: Instant,
    ) -> Option<&mut Vec<u8>> {
        let c = &mut self.conns[i];
        c.wire.as_ref()?;
        if c.due_us.is_none() {
            c.due_us = Some(due_us);
            c.held_since = now;
        }
        self.queue(i)
    }

    /// Ends holding writes (a send phase is over): what is held goes out.
    pub(crate) fn stop_coalescing(&mut self) {
        self.coalesce = false;
        self.hold = Duration::ZERO;
        self.flush();
    }

    /// Adjusts the hold to the thread's CPU over the last window.
    fn steer(&mut self, now: Instant) {
        let (since, cpu0) = self.window;
        let wall = now.saturating_duration_since(since);
        if wall < HOLD_WINDOW {
            return;
        }
        let cpu = Cpu::now(CpuScope::Thread).total();
        self.window = (now, cpu);
        if !self.coalesce {
            self.hold = Duration::ZERO;
            return;
        }
        let busy = (cpu - cpu0) / wall.as_secs_f64();
        if busy > 0.85 {
            self.hold = (self.hold.mul_f64(1.5))
                .max(Duration::from_micros(500))
                .min(self.hold_max);
        } else if busy < 0.6 {
            self.hold = self.hold.mul_f64(0.7);
            if self.hold < Duration::from_micros(200) {
                self.hold = Duration::ZERO;
            }
        }
    }

    /// One turn: waits for events (at most until the next tick), handles
    /// every one, and writes what was queued.
    pub(crate) fn turn(&mut self) {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        self.sleep_to_tick();
        if let Err(e) = self.poll.poll(&mut events, Some(Duration::ZERO)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // Nothing sensible to do but try again next turn.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.more = events.iter().count() == EVENTS;
        for ev in events.iter() {
            let Token(i) = ev.token();
            self.event(
                i,
                ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                ev.is_writable(),
            );
        }
        self.events = events;
        self.flush();
        self.steer(Instant::now());
    }

    fn event(&mut self, i: usize, readable: bool, writable: bool) {
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        let Some(wire) = c.wire.as_mut() else { return };
        if c.state == State::Connecting {
            match wire.connected() {
                Ok(true) => {
                    c.greet();
                    self.mark(i);
                }
                Ok(false) => return,
                Err(e) => return self.fail(i, format!("connect: {e}")),
            }
        }
        if readable {
            if let Err(e) = self.read(i) {
                return self.fail(i, format!("{e:#}"));
            }
        }
        let c = &mut self.conns[i];
        if writable {
            if let Some(w) = c.wire.as_mut() {
                if c.blocked || w.wants_write() {
                    c.blocked = false;
                    if let Err(e) = w.write_pending() {
                        return self.fail(i, format!("write: {e}"));
                    }
                    self.mark(i);
                }
            }
        }
    }

    /// Reads the socket until it is empty, handling every line.
    fn read(&mut self, i: usize) -> Result<()> {
        let c = &mut self.conns[i];
        loop {
            let Some(wire) = c.wire.as_mut() else {
                return Ok(());
            };
            let (n, now) = match wire.read(&mut self.scratch, &self.clock) {
                Ok((0, _)) => anyhow::bail!("closed by the server"),
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("read"),
            };
            let drained = wire.short_read_drains() && n < self.scratch.len();
            c.take_lines(&self.scratch[..n], &mut self.counts, now)?;
            if drained {
                break;
            }
        }
        if !c.out.is_empty() {
            self.mark(i);
        }
        Ok(())
    }

    fn mark(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Writes what is queued for every connection, one `write` each (or
    /// as much as its socket takes: the rest when it is writable).
    pub(crate) fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        let now = Instant::now();
        let mut held = Vec::new();
        for &i in &dirty {
            let c = &mut self.conns[i];
            if c.due_us.is_some() && now.saturating_duration_since(c.held_since) < self.hold {
                held.push(i);
                continue;
            }
            c.dirty = false;
            if c.blocked || c.state == State::Connecting {
                continue;
            }
            if c.due_us.take().is_some() {
                self.held
                    .record_duration(now.saturating_duration_since(c.held_since));
            }
            let Some(wire) = c.wire.as_mut() else {
                continue;
            };
            match wire.flush(&mut c.out) {
                Ok(true) => {}
                Ok(false) => c.blocked = true,
                Err(e) => self.fail(i, format!("write: {e}")),
            }
        }
        dirty.clear();
        // Lines marked while this ran (a failure's) stay marked too.
        held.append(&mut self.dirty);
        if held.is_empty() {
            self.dirty = dirty;
        } else {
            self.dirty = held;
        }
    }

    /// Waits for the next tick on the timer alone (see the module docs),
    /// unless the last turn left events unread.
    fn sleep_to_tick(&mut self) {
        if std::mem::take(&mut self.more) {
            return;
        }
        let mut p = [PollFd::new(self.timer.as_fd(), PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut p, PollTimeout::from(50u8));
        let _ = self.timer.wait();
    }

    /// Ends every connection that is not ready by its deadline.
    pub(crate) fn expire(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let waiting = matches!(
                c.state,
                State::Connecting | State::Registering | State::Registered
            );
            if waiting && now.saturating_duration_since(c.started) >= self.target.timeout {
                let why = match c.state {
                    State::Connecting => "timeout before 001 (connecting)",
                    State::Registered => "timeout waiting for JOIN",
                    _ => "timeout before 001",
                };
                self.fail(i, why.to_string());
            }
        }
    }

    /// Ends connection `i`: counted as failed or, once ready, as lost.
    fn fail(&mut self, i: usize, reason: String) {
        let c = &mut self.conns[i];
        if let Some(mut w) = c.wire.take() {
            let _ = self.poll.registry().deregister(&mut w.tcp);
        }
        let was_ready = c.state == State::Ready;
        c.state = State::Dead;
        c.out = Vec::new();
        c.due_us = None;
        if was_ready {
            *self.counts.live.disconnects.entry(reason).or_default() += 1;
        } else {
            let s = &mut self.counts.setup;
            s.failed += 1;
            *s.failures.entry(reason).or_default() += 1;
        }
    }
}
