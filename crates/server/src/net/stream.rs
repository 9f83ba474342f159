//! [`Stream`]: the socket a connection task reads and writes — plain TCP,
//! TLS over it, or either of them parked off the runtime.
//!
//! It keeps the connection task's readiness style (`poll_read_ready`,
//! `try_read_buf`, `try_write_vectored`) for every kind, so plain TCP stays
//! on tokio's fast path with no buffer of its own. A TLS stream is driven
//! through rustls's own buffers on the same readiness events: decrypted
//! bytes it still holds make it readable at once. A WebSocket (`ws.rs`,
//! after the web listener's HTTP upgrade) wraps either of them: its
//! sans-I/O codec turns frames into CRLF-terminated lines on the way in
//! and lines into frames on the way out, and is kept beside the socket
//! when parked, so parking, which needs only the descriptor, works for it
//! unchanged.

use std::io::{self, IoSlice, Read, Write};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::rustls::ServerConnection;

use super::ws;

/// A connection's socket: plain TCP, or TLS over it, either of them
/// carrying WebSocket frames or not; or, while the connection is parked
/// (`park.rs`), any of them off the runtime.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// WebSocket over `Plain` or `Tls`.
    Ws(Box<WsStream>),
    Parked(
        std::net::TcpStream,
        Option<Box<ParkedTls>>,
        Option<Box<ws::Codec>>,
    ),
    /// Only for the moment of a move between the others.
    Moving,
}

/// A WebSocket: the socket under it and the frame codec's state.
#[derive(Debug)]
pub(crate) struct WsStream {
    inner: Stream,
    codec: ws::Codec,
    /// What the client sent behind its upgrade request (read by the HTTP
    /// layer): decoded by the first read, which it makes ready at once.
    early: Vec<u8>,
}

impl WsStream {
    /// Writes the codec's frames, until they are out or the socket would
    /// block (`WouldBlock`).
    fn flush_frames(&mut self) -> io::Result<()> {
        while !self.codec.out.is_empty() {
            match self
                .inner
                .try_write_vectored(&[IoSlice::new(&self.codec.out)])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.codec.written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.inner.flush_pending()
    }

    /// Reads frames until a message's line is complete (appended to `buf`
    /// with CRLF), the socket would block, or the peer closed (`Ok(0)`).
    fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let before = buf.len();
        loop {
            if self.codec.close_received {
                let _ = self.flush_frames();
                return Ok(0);
            }
            let mut raw = std::mem::take(&mut self.early);
            if raw.is_empty() {
                raw.reserve(4096);
                if self.inner.try_read_buf(&mut raw)? == 0 {
                    return Ok(0);
                }
            }
            let decoded = self.codec.decode(&raw, buf);
            // Pongs, and a close frame echoed or sent for a violation.
            match self.flush_frames() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
            if let Err(ws::Violation(code)) = decoded {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("WebSocket protocol violation (close {code})"),
                ));
            }
            if buf.len() > before {
                return Ok(buf.len() - before);
            }
        }
    }

    /// Takes all of `bufs` (each line becomes a frame) once the frames of
    /// the last call are out; `WouldBlock` until then.
    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.flush_frames()?;
        let n = bufs.iter().map(|b| b.len()).sum();
        for b in bufs {
            self.codec.encode(b);
        }
        match self.flush_frames() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        Ok(n)
    }
}

/// A TLS session off the runtime (its socket beside it in
/// `Stream::Parked`): not usable through `Stream` until [`Stream::unpark`].
#[derive(Debug)]
pub(crate) struct ParkedTls {
    conn: ServerConnection,
    certfp: Option<String>,
}

fn parked() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is parked")
}

#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: ServerConnection,
    /// Decrypted bytes rustls holds that were not read yet.
    plain_pending: usize,
    certfp: Option<String>,
}

/// `std::io` over tokio's non-blocking `try_*` calls, for rustls.
struct Nonblocking<'a>(&'a TcpStream);

impl Read for Nonblocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Nonblocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Writes what rustls has encrypted, until it is all out or the
    /// socket would block (`WouldBlock`).
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Nonblocking(&self.tcp)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            if self.plain_pending > 0 {
                let start = buf.len();
                let room = (buf.capacity() - start).max(512).min(self.plain_pending);
                buf.resize(start + room, 0);
                let r = self.conn.reader().read(&mut buf[start..]);
                buf.truncate(start + *r.as_ref().unwrap_or(&0));
                match r {
                    Ok(0) => return Ok(0),
                    Ok(n) => {
                        self.plain_pending = self.plain_pending.saturating_sub(n);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.plain_pending = 0,
                    Err(e) => return Err(e),
                }
            }
            match self.conn.read_tls(&mut Nonblocking(&self.tcp)) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plain_pending = state.plaintext_bytes_to_read();
                    if self.plain_pending == 0 && state.peer_has_closed() {
                        return Ok(0);
                    }
                }
                Err(e) => {
                    // Send the alert rustls queued, if the socket takes it.
                    let _ = self.flush_tls();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
        }
    }

    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // What rustls holds goes first; only then does it take more.
        self.flush_tls()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        match self.flush_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Stream {
    /// A TLS stream after its handshake: `plain_pending` decrypted bytes
    /// rustls already holds.
    pub(crate) fn tls(
        tcp: TcpStream,
        conn: ServerConnection,
        plain_pending: usize,
        certfp: Option<String>,
    ) -> Stream {
        Stream::Tls(Box::new(TlsStream {
            tcp,
            conn,
            plain_pending,
            certfp,
        }))
    }

    /// A WebSocket over `inner` (plain or TLS) after the HTTP upgrade;
    /// `early` is what the client sent behind its upgrade request, which
    /// the HTTP layer had read already (frames).
    pub(crate) fn websocket(inner: Stream, mode: ws::Mode, early: Vec<u8>) -> Stream {
        Stream::Ws(Box::new(WsStream {
            inner,
            codec: ws::Codec::new(mode),
            early,
        }))
    }

    /// Takes the socket off the runtime (its tokio registration freed);
    /// returns its descriptor, for the parker to watch. Only with nothing
    /// buffered: no decrypted bytes or records waiting in TLS.
    pub(crate) fn park(&mut self) -> io::Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let (inner, codec) = match std::mem::replace(self, Stream::Moving) {
            Stream::Ws(w) if w.codec.is_idle() && w.early.is_empty() => {
                let WsStream { inner, codec, .. } = *w;
                (inner, Some(Box::new(codec)))
            }
            other => (other, None),
        };
        let (tcp, tls) = match inner {
            Stream::Plain(t) => (t.into_std()?, None),
            Stream::Tls(s) => {
                let TlsStream {
                    tcp,
                    conn,
                    plain_pending,
                    certfp,
                } = *s;
                debug_assert_eq!(plain_pending, 0, "parked with decrypted bytes");
                (tcp.into_std()?, Some(Box::new(ParkedTls { conn, certfp })))
            }
            other => {
                *self = match codec {
                    Some(codec) => Stream::Ws(Box::new(WsStream {
                        inner: other,
                        codec: *codec,
                        early: Vec::new(),
                    })),
                    None => other,
                };
                return Err(parked());
            }
        };
        let fd = tcp.as_raw_fd();
        *self = Stream::Parked(tcp, tls, codec);
        Ok(fd)
    }

    /// The parked socket's descriptor.
    pub(crate) fn parked_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Parked(tcp, ..) => Some(tcp.as_raw_fd()),
            _ => None,
        }
    }

    /// Back on the runtime (call from within it).
    pub(crate) fn unpark(&mut self) -> io::Result<()> {
        let Stream::Parked(tcp, tls, codec) = std::mem::replace(self, Stream::Moving) else {
            return Err(parked());
        };
        let tcp = TcpStream::from_std(tcp)?;
        let inner = match tls.map(|t| *t) {
            None => Stream::Plain(tcp),
            Some(ParkedTls { conn, certfp }) => Stream::Tls(Box::new(TlsStream {
                tcp,
                conn,
                plain_pending: 0,
                certfp,
            })),
        };
        *self = match codec {
            Some(codec) => Stream::Ws(Box::new(WsStream {
                inner,
                codec: *codec,
                early: Vec::new(),
            })),
            None => inner,
        };
        Ok(())
    }

    /// Ready when the socket is, or at once when TLS holds decrypted bytes.
    pub(crate) fn poll_read_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self {
            Stream::Plain(t) => t.poll_read_ready(cx),
            Stream::Tls(s) if s.plain_pending > 0 => std::task::Poll::Ready(Ok(())),
            Stream::Tls(s) => s.tcp.poll_read_ready(cx),
            Stream::Ws(w) if !w.early.is_empty() => std::task::Poll::Ready(Ok(())),
            Stream::Ws(w) => w.inner.poll_read_ready(cx),
            Stream::Parked(..) | Stream::Moving => std::task::Poll::Ready(Err(parked())),
        }
    }

    pub(crate) fn poll_write_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self {
            Stream::Plain(t) => t.poll_write_ready(cx),
            Stream::Tls(s) => s.tcp.poll_write_ready(cx),
            Stream::Ws(w) => w.inner.poll_write_ready(cx),
            Stream::Parked(..) | Stream::Moving => std::task::Poll::Ready(Err(parked())),
        }
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.writable().await,
            Stream::Tls(s) => s.tcp.writable().await,
            Stream::Ws(w) => Box::pin(w.inner.writable()).await,
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// Appends what can be read without blocking; `Ok(0)` at the end.
    ///
    /// On plain TCP a read that fills less than the room it had drained
    /// the socket: the readiness is cleared then and there (what tokio's
    /// own `poll_read` does), so the next call answers `WouldBlock` without
    /// a system call. Otherwise every message read would cost a second
    /// `recv` that only says EAGAIN.
    pub(crate) fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => {
                let room = buf.capacity() - buf.len();
                let mut got = 0;
                let r = t.try_io(tokio::io::Interest::READABLE, || {
                    got = t.try_read_buf(buf)?;
                    if got > 0 && got < room {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Ok(got)
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
                    r => r,
                }
            }
            Stream::Tls(s) => s.try_read_buf(buf),
            Stream::Ws(w) => w.try_read_buf(buf),
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// How many bytes of `bufs` were taken (TLS: encrypted and queued in
    /// rustls, which writes them before it takes more).
    pub(crate) fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.try_write_vectored(bufs),
            Stream::Tls(s) => s.try_write_vectored(bufs),
            Stream::Ws(w) => w.try_write_vectored(bufs),
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// Writes bytes the TLS layer still holds (`WouldBlock` if the socket
    /// is full). Nothing to do for plain TCP.
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) | Stream::Parked(..) | Stream::Moving => Ok(()),
            Stream::Tls(s) => s.flush_tls(),
            Stream::Ws(w) => w.flush_frames(),
        }
    }

    /// Does the TLS layer hold bytes not written yet?
    pub(crate) fn has_pending_write(&self) -> bool {
        match self {
            Stream::Plain(_) | Stream::Parked(..) | Stream::Moving => false,
            Stream::Tls(s) => s.conn.wants_write(),
            Stream::Ws(w) => !w.codec.out.is_empty() || w.inner.has_pending_write(),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        match self {
            Stream::Tls(_) => true,
            Stream::Ws(w) => w.inner.is_tls(),
            Stream::Parked(_, tls, _) => tls.is_some(),
            Stream::Plain(_) | Stream::Moving => false,
        }
    }

    /// Decrypted bytes TLS holds that were not read yet, or part of a
    /// WebSocket frame waiting for the rest (either keeps it from parking).
    pub(crate) fn has_pending_read(&self) -> bool {
        match self {
            Stream::Tls(s) => s.plain_pending > 0,
            Stream::Ws(w) => {
                !w.early.is_empty() || w.codec.has_partial_input() || w.inner.has_pending_read()
            }
            _ => false,
        }
    }

    /// The client certificate's SHA-256 fingerprint, if it sent one.
    pub(crate) fn certfp(&self) -> Option<String> {
        match self {
            Stream::Plain(_) | Stream::Moving => None,
            Stream::Tls(s) => s.certfp.clone(),
            Stream::Ws(w) => w.inner.certfp(),
            Stream::Parked(_, tls, _) => tls.as_ref().and_then(|t| t.certfp.clone()),
        }
    }

    /// Ends the connection: a WebSocket sends its close frame, TLS says
    /// close_notify (briefly, each).
    pub(crate) async fn shutdown(&mut self) {
        use tokio::io::AsyncWriteExt;
        if let Stream::Ws(w) = self {
            w.codec.close(1000);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                loop {
                    match w.flush_frames() {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if Box::pin(w.inner.writable()).await.is_err() {
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            })
            .await;
            return Box::pin(w.inner.shutdown()).await;
        }
        match self {
            Stream::Plain(t) => {
                let _ = t.shutdown().await;
            }
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        match s.flush_tls() {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                if s.tcp.writable().await.is_err() {
                                    return;
                                }
                            }
                            _ => return,
                        }
                    }
                })
                .await;
                let _ = s.tcp.shutdown().await;
            }
            Stream::Parked(tcp, ..) => {
                let _ = tcp.shutdown(std::net::Shutdown::Both);
            }
            Stream::Ws(_) | Stream::Moving => {}
        }
    }
}
