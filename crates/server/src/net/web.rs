//! Web listeners (`--listen 127.0.0.1:8080/web`, `web = true`): HTTP/1
//! through hyper, and on it the IRCv3 WebSocket transport
//! (ircv3.net/specs/extensions/websocket).
//!
//! A WebSocket upgrade (at `/` or `/webirc`) is answered here — origin
//! checked, the subprotocol picked in the client's order of preference —
//! and then the socket leaves hyper: the upgraded connection is taken back
//! as the TCP socket (or TLS session) it was, wrapped in the frame codec
//! (`ws.rs`, `Stream::Ws`) and handed to the connection driver like any
//! accepted socket. From there a web client is an IRC client: the same
//! line limits, flood control, cloaks, SendQ and parking.
//!
//! Admission (per-address limits) is taken at the upgrade, not at accept:
//! a browser opens several connections for a page's files and only the
//! WebSocket is a client. D-lines close any connection at accept.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming as Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::driver::{self, Incoming};
use super::listener::Listener;
use super::page;
use super::ws::Mode;
use super::Stream;
use crate::charset::Charset;
use crate::{guard, stats, tls, Server};

const BINARY: &str = "binary.ircv3.net";
const TEXT: &str = "text.ircv3.net";

/// What every request on one listener needs.
struct Web {
    server: Arc<Server>,
    counters: Arc<stats::ListenerStats>,
    origins: Arc<[String]>,
    tls: bool,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

pub(crate) async fn accept_loop(
    server: Arc<Server>,
    listener: Listener,
    counters: Arc<stats::ListenerStats>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    page::prepare();
    let web = Arc::new(Web {
        server: server.clone(),
        counters,
        origins: listener.web.clone().unwrap_or_else(|| Arc::from([])),
        tls: listener.tls.is_some(),
        cancel: cancel.clone(),
        tracker: tracker.clone(),
    });
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.tcp.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                if let Some(reason) = guard::dline_reason(&server, peer.ip()) {
                    server.stats.refused.fetch_add(1, Ordering::Relaxed);
                    debug!(%peer, %reason, "web connection refused");
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                tracker.spawn(serve_connection(
                    web.clone(),
                    tcp,
                    peer,
                    listener.tls.clone(),
                ));
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// HTTP on one connection (after TLS, if the listener has it), until it
/// closes or is upgraded.
async fn serve_connection(
    web: Arc<Web>,
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<tls::Tls>>,
) {
    let limit = web.server.config().limits.registration_timeout;
    let http = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limit)
        .to_owned();
    match tls {
        None => serve_http(&http, web, peer, tcp).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
            match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => serve_http(&http, web, peer, stream).await,
                Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// Serves requests on `io` (plain TCP or TLS) until it closes, is
/// upgraded, or the server stops.
async fn serve_http<IO>(
    http: &hyper::server::conn::http1::Builder,
    web: Arc<Web>,
    peer: SocketAddr,
    io: IO,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let cancel = web.cancel.clone();
    let svc = hyper::service::service_fn(move |req| handle(web.clone(), peer, req));
    let conn = http.serve_connection(TokioIo::new(io), svc).with_upgrades();
    tokio::select! {
        _ = cancel.cancelled() => {}
        r = conn => if let Err(e) = r { debug!(%peer, error = %e, "HTTP connection ended") },
    }
}

fn respond(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    web: Arc<Web>,
    peer: SocketAddr,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path();
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade && matches!(path, "/" | "/webirc") {
        return Ok(websocket(web, peer, req));
    }
    if path == "/export" {
        return Ok(export(&web, &req).await);
    }
    if path == "/webirc" {
        return Ok(respond(
            StatusCode::UPGRADE_REQUIRED,
            "This address speaks IRC over WebSocket (IRCv3: text.ircv3.net, binary.ircv3.net).",
        ));
    }
    if !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
        return Ok(respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed.",
        ));
    }
    Ok(match page::find(path) {
        Some(f) => file(&req, f),
        None => respond(StatusCode::NOT_FOUND, "Not found."),
    })
}

/// `GET /export` with `Authorization: Bearer <login token>`: the token's
/// account's data as JSON (`accounts::export`), to download.
async fn export(web: &Web, req: &Request<Body>) -> Response<Full<Bytes>> {
    if req.method() != hyper::Method::GET {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| crate::accounts::tokens::is_token(t));
    let Some(token) = token else {
        let mut r = respond(
            StatusCode::UNAUTHORIZED,
            "Send a login token: Authorization: Bearer <token> (TOKEN NEW makes one).",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let hash = crate::accounts::tokens::hash(token);
    let now = web.server.clock.unix_ms();
    // What was said in the last second is in the export too.
    web.server.history.flush().await;
    let got = web
        .server
        .store(move |s| match s.login_with_token(&hash, now)? {
            Some(a) if a.suspended.is_none() => {
                Ok(crate::accounts::export(s, &a.name)?.map(|v| (a.name, v)))
            }
            _ => Ok(None),
        })
        .await;
    match got {
        Ok(Some((name, v))) => {
            tracing::info!(account = %name, "data exported");
            let body = serde_json::to_vec_pretty(&v).unwrap_or_default();
            let mut r = Response::new(Full::new(Bytes::from(body)));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"ferry-export-{name}.json\""
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(None) => respond(
            StatusCode::UNAUTHORIZED,
            "That token logs in to no account.",
        ),
        Err(_) => respond(StatusCode::SERVICE_UNAVAILABLE, "Try again later."),
    }
}

/// The page's security headers: scripts, styles and connections from
/// this origin only, no framing, no referrer. Images also from https
/// (users' avatars, loaded with no referrer).
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One of the page's files: `304` when the browser has it (ETag), gzip
/// when it takes it, revalidated at every load (`no-cache`).
fn file(req: &Request<Body>, f: &page::File) -> Response<Full<Bytes>> {
    let h = req.headers();
    let fresh = h
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == f.etag));
    let gzip = h
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        });
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if gzip && !f.gzip.is_empty() {
        (StatusCode::OK, f.gzip.clone())
    } else {
        (StatusCode::OK, f.raw.clone())
    };
    let head = req.method() == hyper::Method::HEAD;
    let mut r = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *r.status_mut() = status;
    let hs = r.headers_mut();
    let static_value = |v: &'static str| HeaderValue::from_static(v);
    hs.insert(header::CONTENT_TYPE, static_value(f.content_type));
    hs.insert(header::CACHE_CONTROL, static_value("no-cache"));
    hs.insert(header::VARY, static_value("Accept-Encoding"));
    hs.insert(header::X_CONTENT_TYPE_OPTIONS, static_value("nosniff"));
    hs.insert(header::REFERRER_POLICY, static_value("no-referrer"));
    hs.insert(header::CONTENT_SECURITY_POLICY, static_value(CSP));
    if let Ok(v) = HeaderValue::from_str(&f.etag) {
        hs.insert(header::ETAG, v);
    }
    if gzip && !fresh && !f.gzip.is_empty() {
        hs.insert(header::CONTENT_ENCODING, static_value("gzip"));
    }
    r
}

/// The subprotocol to answer with: the first of the client's, in its
/// order, that is ours; none offered (or none ours): text, unnamed.
fn pick_subprotocol(req: &Request<Body>) -> (Mode, Option<&'static str>) {
    for v in req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        for p in v.to_str().unwrap_or("").split(',').map(str::trim) {
            if p.eq_ignore_ascii_case(BINARY) {
                return (Mode::Binary, Some(BINARY));
            }
            if p.eq_ignore_ascii_case(TEXT) {
                return (Mode::Text, Some(TEXT));
            }
        }
    }
    (Mode::Text, None)
}

/// Requests without an Origin (non-browser clients) and from the
/// listener's own origin (`http[s]://<Host>`) are taken, and the
/// configured ones (`*`: any).
fn origin_allowed(web: &Web, req: &Request<Body>) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    if web
        .origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let scheme = if web.tls { "https://" } else { "http://" };
    host.is_some_and(|h| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|o| o.eq_ignore_ascii_case(h))
    })
}

/// RFC 6455 §4.2.2: base64(SHA-1(key + the protocol's GUID)).
fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn websocket(web: Arc<Web>, peer: SocketAddr, mut req: Request<Body>) -> Response<Full<Bytes>> {
    let h = req.headers();
    let connection_upgrade = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let key = h
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec());
    let version_ok = h
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if req.method() != hyper::Method::GET || !connection_upgrade || key.is_none() {
        return respond(StatusCode::BAD_REQUEST, "Not a WebSocket handshake.");
    }
    if !version_ok {
        let mut r = respond(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only.");
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    if !origin_allowed(&web, &req) {
        debug!(%peer, "WebSocket refused: origin not allowed");
        return respond(StatusCode::FORBIDDEN, "This origin may not connect here.");
    }
    let server = &web.server;
    let ticket = match server.admission.admit(&server.config(), peer.ip()) {
        Ok(t) => t.on_listener(web.counters.clone()),
        Err(reason) => {
            server.stats.refused.fetch_add(1, Ordering::Relaxed);
            warn!(%peer, %reason, "connection refused");
            return respond(StatusCode::SERVICE_UNAVAILABLE, &reason.to_string());
        }
    };
    server.stats.accepted.fetch_add(1, Ordering::Relaxed);
    let (mode, protocol) = pick_subprotocol(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let w = web.clone();
    web.tracker.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => return debug!(%peer, error = %e, "WebSocket upgrade failed"),
        };
        let Some(stream) = take_back(upgraded, mode) else {
            return warn!(%peer, "WebSocket: the upgraded connection is of an unknown kind");
        };
        let accepted = Box::new(driver::Accepted {
            stream: Incoming::Ready(stream),
            peer,
            charset: Charset::UTF8,
            tls: None,
            cancel: w.cancel.clone(),
            ticket,
        });
        driver::run(w.server.clone(), accepted).await;
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = r.headers_mut();
    hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key(&key.unwrap_or_default())) {
        hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = protocol {
        hs.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    r
}

/// The socket under an upgraded connection, as a [`Stream`] of the
/// WebSocket codec: plain TCP or the TLS session, with what hyper had
/// read past the request.
fn take_back(upgraded: hyper::upgrade::Upgraded, mode: Mode) -> Option<Stream> {
    let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let tcp = parts.io.into_inner();
            return Some(Stream::websocket(
                Stream::Plain(tcp),
                mode,
                parts.read_buf.to_vec(),
            ));
        }
        Err(u) => u,
    };
    let parts = upgraded
        .downcast::<TokioIo<tokio_rustls::server::TlsStream<TcpStream>>>()
        .ok()?;
    let (tcp, mut conn) = parts.io.into_inner().into_inner();
    let certfp = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| tls::fingerprint(c));
    let pending = conn.process_new_packets().ok()?.plaintext_bytes_to_read();
    let inner = Stream::tls(tcp, conn, pending, certfp);
    Some(Stream::websocket(inner, mode, parts.read_buf.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_of_rfc_6455() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
