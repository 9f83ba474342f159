//! The account scenarios' socket (`presence`, `offline`): a task per
//! connection on a current-thread tokio runtime, plain TCP or TLS over it
//! (`--tls`). The relay scenarios run on the engine (`crate::engine`)
//! instead; these two measure logins and offline delivery at rates where
//! the generator's own cost is far from the limit.
//!
//! TLS here is rustls's own sans-I/O connection, fed from and drained into
//! the TCP socket with `try_read`/`try_write`, instead of a
//! `tokio_rustls` stream that would want to own the task's polling.
//!
//! The handshake needs no phase of its own: rustls keeps the first lines
//! (NICK, USER) until it is done, so connect→001 includes it, as it does
//! for a real client.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use ferry_proto::FrameError;
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection};

pub(crate) struct Wire {
    tcp: TcpStream,
    tls: Option<RefCell<ClientConnection>>,
}

impl Wire {
    /// Connects to `target`, from `source` when given (IPv4 targets only);
    /// with `tls`, starts the handshake.
    pub(crate) async fn connect(
        target: SocketAddr,
        source: Option<Ipv4Addr>,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Wire> {
        let tcp = connect_tcp(target, source).await?;
        let tls = match tls {
            None => None,
            Some(config) => {
                let name = ServerName::IpAddress(target.ip().into());
                let c = ClientConnection::new(config.clone(), name).context("tls")?;
                Some(RefCell::new(c))
            }
        };
        Ok(Wire { tcp, tls })
    }

    /// Waits until the socket is ready for `interest` (and writable, while
    /// TLS has records it could not write yet).
    pub(crate) async fn ready(&self, mut interest: Interest) -> io::Result<Ready> {
        if self.tls.as_ref().is_some_and(|t| t.borrow().wants_write()) {
            interest |= Interest::WRITABLE;
        }
        self.tcp.ready(interest).await
    }

    /// Writes as much of `out` as the socket takes now and drops what was
    /// written. Ok(true) when nothing is left to write (here or in TLS).
    pub(crate) fn flush(&self, out: &mut Vec<u8>) -> io::Result<bool> {
        let mut written = 0;
        let res = match &self.tls {
            None => loop {
                if written == out.len() {
                    break Ok(true);
                }
                match self.tcp.try_write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
                    Err(e) => break Err(e),
                }
            },
            Some(tls) => {
                let mut tls = tls.borrow_mut();
                // rustls takes it all (and holds it until the handshake is
                // done); what the socket refuses stays in rustls.
                written = out.len();
                match tls.writer().write_all(out) {
                    Err(e) => Err(e),
                    Ok(()) => write_records(&mut tls, &self.tcp),
                }
            }
        };
        if written == out.len() {
            // An idle client holds no write buffer.
            if out.capacity() > 64 * 1024 {
                *out = Vec::new();
            } else {
                out.clear();
            }
        } else {
            out.drain(..written);
        }
        res
    }

    /// Appends what can be read now to `buf`: Ok(0) at the end of the
    /// stream, WouldBlock when nothing is there.
    pub(crate) fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.tcp.try_read_buf(buf);
        };
        let mut tls = tls.borrow_mut();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // Plaintext already decrypted first.
            match tls.reader().read(&mut chunk) {
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tls.read_tls(&mut TryIo(&self.tcp)) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    tls.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    // Handshake replies, alerts.
                    write_records(&mut tls, &self.tcp)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes the TLS records rustls has ready. Ok(true) when none are left.
fn write_records(tls: &mut ClientConnection, tcp: &TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(&mut TryIo(tcp)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The socket as blocking-style I/O that says WouldBlock instead (and
/// clears tokio's readiness when it does).
struct TryIo<'a>(&'a TcpStream);

impl Read for TryIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for TryIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connects to `target`, from `source` when given (IPv4 targets only).
async fn connect_tcp(target: SocketAddr, source: Option<Ipv4Addr>) -> Result<TcpStream> {
    let s = TcpStream::from_std(crate::engine::start_connect(target, source)?).context("socket")?;
    s.writable().await.context("connect")?;
    if let Some(e) = s.take_error().context("connect")? {
        return Err(e).context("connect");
    }
    s.peer_addr().context("connect")?;
    Ok(s)
}

/// Longest line accepted from a server, tags excluded.
const LINE_LIMIT: usize = 16 * 1024;
const TAG_LIMIT: usize = 8 * 1024;

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
