//! A client's socket: plain TCP, or TLS over it (`--tls`).
//!
//! The bench drives thousands of sockets from one thread by readiness, not
//! with one future per stream: the scheduler writes to a socket the moment
//! a line is due, and a connection's task reads when it is readable. So
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

use anyhow::{Context as _, Result};
use tokio::io::{Interest, Ready};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection};

/// The TLS client set-up of a run: any certificate is taken (the target is
/// a loopback address, where there is nobody to authenticate; the
/// handshake and the encryption are real).
pub(crate) fn tls_config() -> Arc<ClientConfig> {
    Arc::new(ferry_client::insecure_tls_config().expect("ring supports TLS 1.2 and 1.3"))
}

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
    let sock = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("socket")?;
    if let (Some(ip), true) = (source, target.is_ipv4()) {
        // Let connect() pick the port by 4-tuple: bind(ip, 0) would search
        // the ports in use on that address, O(clients) each time (10,000
        // clients cost 12 s of generator CPU that way).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::IpBindAddressNoPort,
            &true,
        );
        // Lets a port still in TIME_WAIT from an earlier run be reused.
        let _ = sock.set_reuseaddr(true);
        sock.bind(SocketAddr::new(ip.into(), 0)).context("bind")?;
    }
    let s = sock.connect(target).await.context("connect")?;
    let _ = s.set_nodelay(true);
    Ok(s)
}
