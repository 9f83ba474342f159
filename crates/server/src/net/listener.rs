//! Listening sockets and the accept loop: a D-lined or over-limit address
//! is told why and closed here; every other connection gets its ticket in
//! the limits and a task of its own (`driver.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::driver;
use crate::charset::Charset;
use crate::{config, guard, stats, tls, Server};

/// A bound listening socket and what its clients speak.
#[derive(Debug)]
pub struct Listener {
    pub tcp: TcpListener,
    pub charset: Charset,
    /// TLS on this port: its certificate, reloadable ([`tls::Tls::reload`]).
    pub tls: Option<Arc<tls::Tls>>,
    /// A web listener (HTTP and the WebSocket transport, `web.rs`), and
    /// the origins it takes WebSockets from besides its own.
    pub web: Option<Arc<[String]>>,
}

impl Listener {
    pub fn new(tcp: TcpListener, charset: Charset) -> Listener {
        Listener {
            tcp,
            charset,
            tls: None,
            web: None,
        }
    }

    /// A bound socket for a configured listener: its charset, and its TLS
    /// certificate loaded from the files the config names.
    pub fn configured(tcp: TcpListener, l: &config::Listen) -> Result<Listener, tls::TlsError> {
        let tls = l.tls.as_ref().map(tls::Tls::load).transpose()?;
        Ok(Listener {
            tcp,
            charset: l.charset,
            tls: tls.map(Arc::new),
            web: l.web.then(|| l.allowed_origins.clone().into()),
        })
    }
}

/// A UTF-8 listener.
impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener::new(tcp, Charset::UTF8)
    }
}

pub(crate) async fn accept_loop(
    server: Arc<Server>,
    listener: Listener,
    counters: Arc<stats::ListenerStats>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let charset = listener.charset;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.tcp.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                server.stats.accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(reason) = guard::dline_reason(&server, peer.ip()) {
                    tracker.spawn(refuse(
                        server.clone(),
                        stream,
                        peer,
                        format!("D-lined: {reason}"),
                        listener.tls.is_none(),
                    ));
                    continue;
                }
                let ticket = match server.admission.admit(&server.config(), peer.ip()) {
                    Ok(t) => t.on_listener(counters.clone()),
                    Err(reason) => {
                        tracker.spawn(refuse(
                            server.clone(),
                            stream,
                            peer,
                            reason.to_string(),
                            listener.tls.is_none(),
                        ));
                        continue;
                    }
                };
                let accepted = Box::new(driver::Accepted {
                    stream: driver::Incoming::Tcp(stream),
                    peer,
                    charset,
                    tls: listener.tls.clone(),
                    cancel: cancel.clone(),
                    ticket,
                });
                // Not wrapped in an async block, which would hold the
                // whole future twice.
                let run = driver::run(server.clone(), accepted);
                // What every connection costs the runtime: tokio rounds a
                // task up to 128-byte lines, and past about 100 bytes of
                // future it takes three instead of two.
                debug_assert!(std::mem::size_of_val(&run) <= 96);
                tracker.spawn(run);
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a connection over a limit why, then closes it.
async fn refuse(
    server: Arc<Server>,
    mut stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    reason: String,
    plain: bool,
) {
    use tokio::io::AsyncWriteExt;
    warn!(%peer, %reason, "connection refused");
    server.stats.refused.fetch_add(1, Ordering::Relaxed);
    let letter = if reason.starts_with("D-lined") {
        'r'
    } else {
        'f'
    };
    server.snote(
        letter,
        &format!(
            "Connection refused from {}: {reason}",
            peer.ip().to_canonical()
        ),
    );
    if !plain {
        // A TLS client could not read a plain-text ERROR: just close.
        return;
    }
    let line = format!(
        "ERROR :Closing Link: {} ({reason})\r\n",
        peer.ip().to_canonical()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
