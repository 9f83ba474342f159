//! A client's socket: plain TCP, or TLS over it (`--tls`), non-blocking,
//! driven by the engine's readiness events.
//!
//! TLS is rustls's own sans-I/O connection, fed from and drained into the
//! TCP socket: the handshake needs no phase of its own, since rustls keeps
//! the first lines (NICK, USER) until it is done, so connect→001 includes
//! it, as it does for a real client.

use std::cell::Cell;
use std::io::{self, IoSliceMut, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection};

/// The TLS client set-up of a run: any certificate is taken (the target is
/// a loopback address, where there is nobody to authenticate; the
/// handshake and the encryption are real).
pub(crate) fn tls_config() -> Arc<ClientConfig> {
    Arc::new(ferry_client::insecure_tls_config().expect("ring supports TLS 1.2 and 1.3"))
}

/// A non-blocking socket connecting to `target` (from `source` when
/// given, IPv4 targets only): writable once connected or failed.
pub(crate) fn start_connect(
    target: SocketAddr,
    source: Option<Ipv4Addr>,
) -> Result<std::net::TcpStream> {
    let sock = Socket::new(
        Domain::for_address(target),
        Type::STREAM.nonblocking(),
        None,
    )
    .context("socket")?;
    if let (Some(ip), true) = (source, target.is_ipv4()) {
        // Let connect() pick the port by 4-tuple: bind(ip, 0) would
        // search the ports in use on that address, O(clients) each time
        // (10,000 clients cost 12 s of generator CPU that way).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::IpBindAddressNoPort,
            &true,
        );
        // Lets a port still in TIME_WAIT from an earlier run be reused.
        let _ = sock.set_reuse_address(true);
        sock.bind(&SocketAddr::new(ip.into(), 0).into())
            .context("bind")?;
    }
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e).context("connect"),
    }
    let _ = sock.set_tcp_nodelay(true);
    // Every read says when its data arrived (see `Wire::read`).
    let _ =
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true);
    Ok(std::net::TcpStream::from(sock))
}

/// Kernel receive times (wall clock) as `Instant`s: the wall clock read
/// once beside the monotonic one.
pub(crate) struct RxClock {
    wall: SystemTime,
    mono: Instant,
}

impl RxClock {
    pub(crate) fn new() -> RxClock {
        RxClock {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The instant of a kernel timestamp; never later than now (a clock
    /// step cannot put a receipt in the future).
    fn instant(&self, ts: nix::sys::time::TimeSpec) -> Instant {
        let now = Instant::now();
        let at = SystemTime::UNIX_EPOCH
            + Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().max(0) as u32);
        match at.duration_since(self.wall) {
            Ok(d) => (self.mono + d).min(now),
            Err(_) => self.mono,
        }
    }
}

/// `recvmsg` with the arrival time of the (last) data read.
fn recv_stamped(
    tcp: &TcpStream,
    buf: &mut [u8],
) -> io::Result<(usize, Option<nix::sys::time::TimeSpec>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [IoSliceMut::new(buf)];
    let r = recvmsg::<()>(
        tcp.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut ts = None;
    if let Ok(cmsgs) = r.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(t) = c {
                ts = Some(t);
            }
        }
    }
    Ok((r.bytes, ts))
}

/// The socket as a reader for rustls that keeps the arrival time of what
/// it read last.
struct Stamped<'a> {
    tcp: &'a TcpStream,
    ts: &'a Cell<Option<nix::sys::time::TimeSpec>>,
}

impl Read for Stamped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, ts) = recv_stamped(self.tcp, buf)?;
        if ts.is_some() {
            self.ts.set(ts);
        }
        Ok(n)
    }
}

pub(crate) struct Wire {
    pub(crate) tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
    /// TLS: when the records read last arrived.
    rx: Cell<Option<nix::sys::time::TimeSpec>>,
}

impl Wire {
    /// Starts connecting to `target` (from `source` when given, IPv4
    /// targets only) without waiting: the socket is writable once the
    /// connection is made or has failed ([`Wire::connected`]).
    pub(crate) fn connect(
        target: SocketAddr,
        source: Option<Ipv4Addr>,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Wire> {
        let tcp = TcpStream::from_std(start_connect(target, source)?);
        let tls = match tls {
            None => None,
            Some(config) => {
                let name = ServerName::IpAddress(target.ip().into());
                let c = ClientConnection::new(config.clone(), name).context("tls")?;
                Some(Box::new(c))
            }
        };
        Ok(Wire {
            tcp,
            tls,
            rx: Cell::new(None),
        })
    }

    /// After a writable event on a connecting socket: Ok(true) once it is
    /// connected, Ok(false) while it is still connecting.
    pub(crate) fn connected(&self) -> io::Result<bool> {
        if let Some(e) = self.tcp.take_error()? {
            return Err(e);
        }
        match self.tcp.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// True for plain TCP: a read that returns less than it asked for
    /// emptied the socket, and new data brings a new event.
    pub(crate) fn short_read_drains(&self) -> bool {
        self.tls.is_none()
    }

    /// Writes as much of `out` as the socket takes now and drops what was
    /// written. Ok(true) when nothing is left to write (here or in TLS).
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let mut written = 0;
        let res = match &mut self.tls {
            None => loop {
                if written == out.len() {
                    break Ok(true);
                }
                match (&self.tcp).write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            },
            Some(tls) => {
                // rustls takes it all (and holds it until the handshake is
                // done); what the socket refuses stays in rustls.
                written = out.len();
                match tls.writer().write_all(out) {
                    Err(e) => Err(e),
                    Ok(()) => write_records(tls, &self.tcp),
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

    /// Reads what is there into `buf`, with when it arrived: Ok(0) at
    /// the end of the stream, WouldBlock when nothing is.
    pub(crate) fn read(&mut self, buf: &mut [u8], clock: &RxClock) -> io::Result<(usize, Instant)> {
        let Some(tls) = &mut self.tls else {
            let (n, ts) = recv_stamped(&self.tcp, buf)?;
            let at = ts.map_or_else(Instant::now, |t| clock.instant(t));
            return Ok((n, at));
        };
        loop {
            // Plaintext already decrypted first.
            match tls.reader().read(buf) {
                Ok(n) => {
                    let at = self
                        .rx
                        .get()
                        .map_or_else(Instant::now, |t| clock.instant(t));
                    return Ok((n, at));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let mut rd = Stamped {
                tcp: &self.tcp,
                ts: &self.rx,
            };
            match tls.read_tls(&mut rd) {
                Ok(0) => return Ok((0, Instant::now())),
                Ok(_) => {
                    tls.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    // Handshake replies, alerts.
                    write_records(tls, &self.tcp)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// TLS records are waiting for the socket to take them.
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes the TLS records rustls holds (after a writable event).
    pub(crate) fn write_pending(&mut self) -> io::Result<bool> {
        match &mut self.tls {
            None => Ok(true),
            Some(tls) => write_records(tls, &self.tcp),
        }
    }
}

/// Writes the TLS records rustls has ready. Ok(true) when none are left.
fn write_records(tls: &mut ClientConnection, tcp: &TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(&mut &*tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
