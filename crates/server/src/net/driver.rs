//! One task per connection: read, process lines, write.
//!
//! The task waits on: a deferred command finishing (a store call), its own
//! send queue waking it (something was queued, or it was told to end:
//! KILL, a timeout, shutdown), the socket, and the fake-lag timer. It
//! waits in a hand-written poll function ([`Active::poll_drive`]) that
//! registers the task's waker with each, so waiting needs no future state:
//! everything a connection holds is one boxed [`Active`], and the task
//! itself is a few pointers. On readable it reads what is there and
//! handles every complete line before it writes once. The read buffer
//! exists only while a partial line is pending; an idle client holds none,
//! and no write buffer either.
//!
//! The socket is a [`Stream`]: plain TCP, or TLS over it after a handshake
//! done here (bounded by the registration timeout). Both are driven by the
//! same readiness calls; plain TCP goes straight to tokio. What is read
//! goes to the sans-I/O [`Lines`] processor (framing, flood control,
//! charsets, chains), what is queued for the client out through the
//! [`Writer`]; this file only decides when each runs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::lines::Stop;
use super::timers::{Timers, Which};
use super::{Lines, Stream, Writer};
use crate::charset::Charset;
use crate::client::Client;
use crate::commands;
use crate::lifecycle::Ending;
use crate::route::{Me, Overflow};
use crate::session::{Pending, Session};
use crate::tls::Tls;
use crate::Server;

/// A connection as the accept loop hands it over: boxed, so that the task's
/// future does not hold all of it for the connection's whole life.
pub(crate) struct Accepted {
    pub stream: Incoming,
    pub peer: SocketAddr,
    pub charset: Charset,
    pub tls: Option<Arc<Tls>>,
    pub cancel: CancellationToken,
    /// Frees the connection's place in the limits when it is dropped (with
    /// the connection's state, at its end).
    pub ticket: crate::guard::Ticket,
}

/// A connection's socket as it arrives: a TCP socket from an IRC
/// listener (TLS handshake still to do, if its listener has TLS), or a
/// stream made already (a WebSocket after the web listener's upgrade).
pub(crate) enum Incoming {
    Tcp(TcpStream),
    Ready(Stream),
}

/// The task of one connection. Its future is what every idle client costs
/// in the runtime (tokio rounds a task up to 128-byte lines), so it holds
/// only the server and one box at a time.
pub(crate) async fn run(server: Arc<Server>, accepted: Box<Accepted>) {
    let id = server.next_client_id();
    // What a connection holds lives in one box, made by `start` and ended
    // by `finish` (both boxed futures too): while the client is idle the
    // task itself holds three pointers, not the state of every step it may
    // take (see `Active::poll_drive`). No tracing span lives as long as
    // the connection (the subscriber's record of one costs ~160 bytes per
    // client): its log lines name it by `conn` id instead.
    let started = Box::pin(start(server.clone(), accepted, id)).await;
    let Some(active) = started else {
        return;
    };
    // Boxed too: an idle client's task is parked after `park_after` (no
    // task at all then), and where parking is off this keeps the task's
    // own future at three pointers.
    Box::pin(drive(server, active)).await;
}

/// A parked connection back on the runtime (`park.rs`), in a task of its
/// own: it goes on where its last task stopped.
pub(crate) async fn resume(server: Arc<Server>, mut active: Box<Active>) {
    if let Err(e) = active.unpark_stream() {
        // The socket could not rejoin the runtime: it is lost; tell peers.
        let id = active.session.client.id;
        debug!(conn = id, error = %e, "could not resume");
        let ending = Ending::new(format!("Read error: {e}"), None);
        crate::lifecycle::disconnect(&server, &mut active.session, &ending);
        server.registry.remove_client(id);
        return;
    }
    drive(server, active).await;
}

/// Runs the connection until it ends, or until it has been idle for
/// `limits.park_after` and is parked (its task then ends).
async fn drive(server: Arc<Server>, mut active: Box<Active>) {
    // Held by the task, not by `Active`: only while the client is active.
    let mut park_timer: Option<ParkTimer> = None;
    loop {
        let next = std::future::poll_fn(|cx| match active.poll_drive(cx, &server) {
            Poll::Ready(ending) => Poll::Ready(Some(ending)),
            Poll::Pending => active.poll_park(cx, &server, &mut park_timer),
        })
        .await;
        match next {
            Some(ending) => {
                Box::pin(active.finish(&server, ending)).await;
                return;
            }
            None => {
                let Some(parker) = server.parker.get() else {
                    park_timer = None;
                    continue;
                };
                match parker.park(active) {
                    Ok(()) => return,
                    Err(back) => {
                        active = back;
                        park_timer = None;
                    }
                }
            }
        }
    }
}

/// When a connection may be parked: its timer, and when it was last busy.
struct ParkTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    last: tokio::time::Instant,
}

/// Everything of one connection: its socket and buffers, its session.
pub(crate) struct Active {
    conn: Conn,
    /// Its `client` is this connection's client.
    session: Session,
    /// A command waiting for the store (or hashing); later lines wait too.
    pending: Option<Box<Pending>>,
    _ticket: crate::guard::Ticket,
}

/// The TLS handshake (bounded by the registration timeout), then the
/// client as others see it, registered in the server's table.
async fn start(
    server: Arc<Server>,
    accepted: Box<Accepted>,
    id: crate::client::ClientId,
) -> Option<Box<Active>> {
    let Accepted {
        stream,
        peer,
        charset,
        tls,
        cancel,
        ticket,
    } = *accepted;
    let stream = match (stream, tls) {
        (Incoming::Ready(s), _) => s,
        (Incoming::Tcp(stream), None) => {
            let _ = stream.set_nodelay(true);
            Stream::Plain(stream)
        }
        (Incoming::Tcp(stream), Some(tls)) => {
            let _ = stream.set_nodelay(true);
            let limit = server.config().limits.registration_timeout;
            let shaken = tokio::select! {
                _ = cancel.cancelled() => return None,
                s = tls.accept(stream, limit) => s,
            };
            match shaken {
                Ok(s) => s,
                Err(e) => {
                    debug!(conn = id, %peer, error = %e, "TLS handshake failed");
                    return None;
                }
            }
        }
    };
    let host = crate::guard::host_for(&server.config(), peer.ip());
    let client = Me::new(
        Client::new(
            id,
            peer.ip(),
            host,
            server.clock.unix_secs(),
            server.uptime_secs(),
            server.budget.clone(),
        )
        .with_transport(stream.is_tls(), stream.certfp()),
    );
    server.registry.add_client(Arc::clone(&client));
    // Shutdown tells every client in the table; one that came in after
    // that sees the flag instead.
    if server.shutting_down.load(Ordering::Acquire) {
        client.kill_conn("Server shutting down".into());
    }
    info!(conn = id, %peer, "connected");
    let conn = Conn {
        stream,
        lines: Lines::new(server.config().flood.burst, server.clock.now()),
        timers: Timers::default(),
        writer: Writer::new(),
    };
    let session = super::lines::open_session(&server, client, charset, peer.ip());
    Some(Box::new(Active {
        conn,
        session,
        pending: None,
        _ticket: ticket,
    }))
}

/// How much a busy server holds for a connection at most before writing
/// (how long: `server.hold_ms`, lib.rs `load_watch`): at saturation a
/// recipient then gets a write per hold, not a write per line.
const HOLD_BYTES: usize = 16 * 1024;

pub(crate) struct Conn {
    stream: Stream,
    /// What was read, and the framing, flood and chain state over it.
    lines: Lines,
    /// The fake-lag and write-hold timers.
    timers: Timers,
    /// What is taken from the send queue and not yet written.
    writer: Writer,
}

fn quit_ending(text: String) -> Ending {
    Ending {
        quit: text.clone(),
        error: Some(text.clone()),
        log: text,
    }
}

impl Active {
    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.session.client
    }

    /// The socket off the runtime, for parking: its descriptor.
    pub(crate) fn park_stream(&mut self) -> io::Result<std::os::fd::RawFd> {
        self.conn.stream.park()
    }

    pub(crate) fn unpark_stream(&mut self) -> io::Result<()> {
        self.conn.stream.unpark()
    }

    pub(crate) fn parked_fd(&self) -> Option<std::os::fd::RawFd> {
        self.conn.stream.parked_fd()
    }

    /// With nothing to do now, nothing buffered or waiting and nothing
    /// that a timer or the socket's write side would wake: what a parked
    /// connection must be.
    fn parkable(&self) -> bool {
        let Active {
            conn,
            session,
            pending,
            ..
        } = self;
        let client = &session.client;
        session.registered
            && pending.is_none()
            && session.pending.is_none()
            && session.quit.is_none()
            && conn.lines.is_idle()
            && !conn.writer.blocked
            && !conn.is_throttled()
            && conn.writer.is_empty()
            && client.outbox.pending() == 0
            && !conn.stream.has_pending_write()
            && !conn.stream.has_pending_read()
    }

    /// After `poll_drive` found nothing to do: ready (`None`: park) once
    /// the connection has stayed parkable for `limits.park_after`. A poll
    /// that is not the timer's own only notes the time; the timer is moved
    /// when it fires early, not at every message.
    fn poll_park(
        &self,
        cx: &mut Context<'_>,
        server: &Server,
        timer: &mut Option<ParkTimer>,
    ) -> Poll<Option<Ending>> {
        let after = server.config().limits.park_after;
        if after.is_zero() || !self.parkable() {
            *timer = None;
            return Poll::Pending;
        }
        let now = tokio::time::Instant::now();
        let t = timer.get_or_insert_with(|| ParkTimer {
            sleep: Box::pin(tokio::time::sleep_until(now + after)),
            last: now,
        });
        if !t.sleep.is_elapsed() {
            t.last = now;
        }
        loop {
            if t.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if now >= t.last + after {
                return Poll::Ready(None);
            }
            // Busy since it was set: wait the rest from the last time.
            t.sleep.as_mut().reset(t.last + after);
        }
    }

    /// Runs the connection until it ends: handles what is ready (a finished
    /// store call, the send queue, the socket, the fake-lag timer) in that
    /// order of priority, one at a time as `select!` with `biased` would,
    /// then registers for all of them and returns `Pending`. Written as a
    /// poll function so that waiting costs no future state per connection.
    fn poll_drive(&mut self, cx: &mut Context<'_>, server: &Arc<Server>) -> Poll<Ending> {
        let Active {
            conn,
            session,
            pending,
            ..
        } = self;
        // Its own handle: `session` is lent to the commands below.
        let client = session.client.clone();
        let client = &client;
        loop {
            // A command left waiting (by the last line handled) holds back
            // every later line: take it before looking at the buffer.
            if pending.is_none() {
                *pending = session.pending.take();
            }
            if pending.is_none() && conn.lines.unprocessed() && !conn.is_throttled() {
                conn.process(server, session, pending);
            }
            if let Some(text) = session.quit.take() {
                return Poll::Ready(quit_ending(text.into()));
            }
            if pending.is_none() {
                *pending = session.pending.take();
            }
            if pending.is_none() && conn.lines.eof() && !conn.lines.unprocessed() {
                return Poll::Ready(Ending::new("Connection closed", None));
            }
            let recvq = server.config().flood.recvq_bytes;
            let mut ready = false;
            // Every command of a chain that is done, in order, before the
            // next write: their replies go out together.
            while let Some(Poll::Ready(then)) = pending.as_mut().map(|p| p.fut.as_mut().poll(cx)) {
                conn.lines.complete(server, session, pending, then);
                ready = true;
                if session.quit.is_some() {
                    break;
                }
            }
            if !ready && client.outbox.poll_woken(cx).is_ready() {
                // Busy: hold what others queued a moment (see `HOLD`),
                // unless it is already a good write's worth.
                let hold = server.hold_ms.load(Ordering::Relaxed);
                let held = conn.timers.is_set(Which::Held);
                if !held && hold > 0 && client.outbox.pending() < HOLD_BYTES {
                    conn.timers
                        .set_for(Which::Held, Duration::from_millis(hold));
                } else if !held || client.outbox.pending() >= HOLD_BYTES {
                    ready = true;
                }
            }
            if !ready && conn.timers.fired(Which::Held, cx) {
                ready = true;
            }
            if ready {
                // Whatever made it ready, everything queued goes out now.
                conn.timers.clear(Which::Held);
            }
            if !ready && conn.writer.blocked {
                match conn.stream.poll_write_ready(cx) {
                    Poll::Ready(Err(_)) => {
                        return Poll::Ready(Ending::new("Connection reset", None))
                    }
                    Poll::Ready(Ok(())) => {
                        conn.writer.blocked = false;
                        ready = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !ready && pending.is_none() && conn.timers.fired(Which::Throttled, cx) {
                ready = true;
            }
            // Not while a command waits, after EOF, or while held back with
            // as much waiting as may wait.
            let may_read = pending.is_none() && (!conn.is_throttled() || conn.lines.len() < recvq);
            if !ready && may_read {
                match conn.stream.poll_read_ready(cx) {
                    Poll::Ready(Err(_)) => {
                        return Poll::Ready(Ending::new("Connection reset", None))
                    }
                    Poll::Ready(Ok(())) => {
                        if let Err(e) = conn.fill(server, session) {
                            return Poll::Ready(Ending::new(format!("Read error: {e}"), None));
                        }
                        if !conn.is_throttled() {
                            conn.process(server, session, pending);
                        }
                        ready = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !ready {
                return Poll::Pending;
            }
            if let Err(ending) = settle(server, conn, session, pending, client, recvq) {
                return Poll::Ready(ending);
            }
        }
    }

    /// Peers are told, the client forgotten, and what was queued for it
    /// written (the ERROR last) within a short grace period.
    async fn finish(mut self: Box<Self>, server: &Arc<Server>, reason: Ending) {
        let Active {
            conn,
            session,
            pending,
            ..
        } = &mut *self;
        let client = session.client.clone();
        let client = &client;
        drop(pending.take());
        crate::lifecycle::disconnect(server, session, &reason);
        // Unread input is dropped now, and counted as gone before the
        // client leaves the table (STATS z never sees one without the other).
        server.stats.read_buffer(conn.lines.clear(), 0);
        server.registry.remove_client(client.id);
        conn.writer.use_charset(session.charset);
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            conn.writer
                .flush_all(&mut conn.stream, client, &server.stats, server.clock),
        )
        .await;
        conn.stream.shutdown().await;
        client.outbox.discard(0);
        info!(conn = client.id, reason = %reason.log, "disconnected");
    }
}

/// After something was ready: what the lines handled or others asked for
/// takes effect — held back with too much waiting (Excess Flood), a forced
/// guest nick, offline messages to deliver, a kill, a send queue over its
/// limit — and what is queued is written as far as the socket takes it.
fn settle(
    server: &Arc<Server>,
    conn: &mut Conn,
    session: &mut Session,
    pending: &Option<Box<Pending>>,
    client: &Arc<Client>,
    recvq: usize,
) -> Result<(), Ending> {
    if conn.is_throttled() && conn.lines.len() >= recvq {
        // Held back and still sending: more waits than may wait.
        server.stats.excess_flood.fetch_add(1, Ordering::Relaxed);
        return Err(Ending::new("Excess Flood", Some("Excess Flood".into())));
    }
    if client.take_guest_nick_request() && pending.is_none() && session.registered {
        crate::lifecycle::force_guest_nick(server, session);
    }
    if pending.is_none()
        && session.pending.is_none()
        && session.registered
        && !session.after_login_pending
        && client.take_offline_poke()
    {
        commands::offline_poked(server, session);
    }
    if let Some(reason) = client.take_kill() {
        return Err(Ending::new(reason.clone(), Some(reason)));
    }
    if let Some(why) = client.outbox.overflowed() {
        // Free the queue now, not after a flush that would never
        // end; but finish a line half written, or the ERROR would
        // be glued to its first half.
        let keep = conn.writer.drop_unwritten();
        client.outbox.discard(keep);
        let (text, counter) = match why {
            Overflow::SendQ => ("SendQ exceeded", &server.stats.sendq_exceeded),
            Overflow::Budget => (
                "SendQ exceeded (server memory budget)",
                &server.stats.budget_shed,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        return Err(Ending::new(text, Some(text.into())));
    }
    if !conn.writer.blocked {
        conn.writer.use_charset(session.charset);
        if let Err(e) = conn.write_some(client, server) {
            return Err(Ending::new(format!("Write error: {e}"), None));
        }
    }
    Ok(())
}

impl Conn {
    /// Reads what the socket has until it would block (or ends), or a
    /// whole line's worth is waiting.
    fn fill(&mut self, server: &Server, session: &Session) -> io::Result<()> {
        let (held, had) = (self.lines.capacity(), self.lines.len());
        let r = self.fill_inner(server, session);
        server.stats.read_buffer(held, self.lines.capacity());
        server
            .stats
            .bytes_in
            .fetch_add((self.lines.len() - had) as u64, Ordering::Relaxed);
        r
    }

    fn fill_inner(&mut self, server: &Server, session: &Session) -> io::Result<()> {
        loop {
            match self.stream.try_read_buf(self.lines.read_into()) {
                Ok(0) => {
                    self.lines.ended();
                    break;
                }
                Ok(_) => {
                    session
                        .client
                        .last_active
                        .store(server.uptime_secs(), Ordering::Relaxed);
                    session.client.ping_sent.store(false, Ordering::Relaxed);
                    if self.lines.full() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.lines.received();
        Ok(())
    }

    /// Handles the complete lines read (`Lines::process`); flood control
    /// holding the rest back sets the fake-lag timer.
    fn process(
        &mut self,
        server: &Arc<Server>,
        session: &mut Session,
        pending: &mut Option<Box<Pending>>,
    ) {
        if let Stop::Throttled(at) =
            self.lines
                .process(server, session, pending, server.clock.now())
        {
            self.timers.set_until(Which::Throttled, at.into());
        }
    }

    fn is_throttled(&self) -> bool {
        self.timers.is_set(Which::Throttled)
    }

    fn write_some(&mut self, client: &Client, server: &Server) -> io::Result<()> {
        self.writer
            .write_some(&mut self.stream, client, &server.stats, server.clock)
    }
}

#[cfg(test)]
mod size_tests {
    /// What every connection holds, whatever it does: a change that makes
    /// these grow costs every idle client (docs/PERFORMANCE.md); raise the
    /// bounds only on purpose. Both sit at the top of an allocator size
    /// class (jemalloc: 320; 384 with the `Arc`'s two counts): a byte more
    /// costs 64.
    #[test]
    fn per_connection_state_stays_small() {
        let active = std::mem::size_of::<super::Active>();
        let client = std::mem::size_of::<crate::client::Client>();
        assert!(active <= 320, "Active is {active} bytes");
        assert!(client <= 368, "Client is {client} bytes");
    }
}
