//! The IRCv3 WebSocket transport on a web listener: browsers' and other
//! WebSocket clients talk with TCP clients, one IRC line per message, with
//! the subprotocol they prefer; origins checked; protocol violations
//! closed with their status; idle web clients parked like any other.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use ferry_testkit::{TestClient, TestServer, WAIT};

use crate::util::{config, join, oper_client, stats_pairs};

/// A server with an IRC listener (`addrs[0]`) and a web one (`addrs[1]`).
async fn web_server(extra: &str) -> TestServer {
    TestServer::with_config(config(&format!(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\nmotd = \"hello\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nweb = true\n{extra}\n\
         [[oper]]\nname = \"oper\"\npassword_hash = \"{}\"\n",
        ferry_server::auth::hash_password("operpass")
    )))
    .await
}

/// A WebSocket client: what it negotiated and its lines.
struct Web<S> {
    ws: WebSocketStream<S>,
    protocol: Option<String>,
    nick: String,
}

type Plain = Web<TcpStream>;

async fn handshake<S>(
    io: S,
    addr: SocketAddr,
    scheme: &str,
    protocols: &[&str],
    origin: Option<&str>,
) -> Result<Web<S>, tokio_tungstenite::tungstenite::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut req = format!("{scheme}://{addr}/").into_client_request()?;
    if !protocols.is_empty() {
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols.join(", ").parse().unwrap(),
        );
    }
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    let (ws, resp) = tokio_tungstenite::client_async(req, io).await?;
    let protocol = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    Ok(Web {
        ws,
        protocol,
        nick: String::new(),
    })
}

async fn ws_connect(addr: SocketAddr, protocols: &[&str], origin: Option<&str>) -> Plain {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    handshake(tcp, addr, "ws", protocols, origin)
        .await
        .expect("WebSocket handshake")
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Web<S> {
    async fn send(&mut self, line: &str) {
        let m = if self.protocol.as_deref() == Some("binary.ircv3.net") {
            Message::Binary(line.as_bytes().to_vec().into())
        } else {
            Message::Text(line.into())
        };
        self.ws.send(m).await.expect("send");
    }

    /// The next IRC line; `None` once the server closed.
    async fn next(&mut self) -> Option<String> {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no message within {WAIT:?}", self.nick));
            match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) => {
                    assert_ne!(
                        self.protocol.as_deref(),
                        Some("binary.ircv3.net"),
                        "text on binary"
                    );
                    let t = t.to_string();
                    assert!(
                        !t.contains(['\r', '\n']),
                        "one line per message, no CR/LF: {t:?}"
                    );
                    return Some(t);
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(
                        self.protocol.as_deref(),
                        Some("binary.ircv3.net"),
                        "binary on text"
                    );
                    let t = String::from_utf8(b.to_vec()).expect("UTF-8");
                    assert!(!t.contains(['\r', '\n']), "{t:?}");
                    return Some(t);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let l = self
                .next()
                .await
                .unwrap_or_else(|| panic!("{}: closed", self.nick));
            if pred(&l) {
                return l;
            }
        }
    }

    async fn register(&mut self, nick: &str) {
        self.nick = nick.into();
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :{nick} on the web"))
            .await;
        self.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_and_tcp_clients_talk() {
    let server = web_server("").await;
    let web_addr = server.addrs[1];
    let mut web = ws_connect(web_addr, &["text.ircv3.net"], None).await;
    assert_eq!(web.protocol.as_deref(), Some("text.ircv3.net"));
    web.nick = "web".into();
    web.send("NICK web").await;
    web.send("USER web 0 * :on the web").await;
    assert_eq!(
        web.next().await.unwrap(),
        ":ferry.test 001 web :Welcome to the FerryTest IRC Network web!~web@127.0.0.1"
    );
    web.until(|l| l.contains(" 376 ")).await;
    let mut tcp = server.client("tcp").await;

    web.send("PRIVMSG tcp :你好 😀, from a browser").await;
    tcp.expect(":web!~web@127.0.0.1 PRIVMSG tcp :你好 😀, from a browser")
        .await;
    tcp.send("PRIVMSG web :中文 too").await;
    assert_eq!(
        web.next().await.unwrap(),
        ":tcp!~tcp@127.0.0.1 PRIVMSG web :中文 too"
    );

    web.send("JOIN #room").await;
    web.until(|l| l.starts_with(":ferry.test 366 web #room "))
        .await;
    join(&mut tcp, "#room").await;
    web.until(|l| l == ":tcp!~tcp@127.0.0.1 JOIN #room").await;
    tcp.send("PRIVMSG #room :everyone").await;
    assert_eq!(
        web.next().await.unwrap(),
        ":tcp!~tcp@127.0.0.1 PRIVMSG #room :everyone"
    );

    // binary.ircv3.net first: binary messages; the client's order decides.
    let mut bin = ws_connect(web_addr, &["binary.ircv3.net", "text.ircv3.net"], None).await;
    assert_eq!(bin.protocol.as_deref(), Some("binary.ircv3.net"));
    bin.register("bin").await;
    tcp.send("PRIVMSG bin :bytes").await;
    assert_eq!(
        bin.next().await.unwrap(),
        ":tcp!~tcp@127.0.0.1 PRIVMSG bin :bytes"
    );
    let text_first = ws_connect(web_addr, &["text.ircv3.net", "binary.ircv3.net"], None).await;
    assert_eq!(text_first.protocol.as_deref(), Some("text.ircv3.net"));
    // None offered: text, and no subprotocol named.
    let mut plain = ws_connect(web_addr, &[], None).await;
    assert_eq!(plain.protocol, None);
    plain.register("plainws").await;

    // The same line limit as TCP: 512 bytes without tags.
    web.send(&format!("PRIVMSG tcp :{}", "x".repeat(600))).await;
    assert_eq!(
        web.next().await.unwrap(),
        ":ferry.test 417 web :Input line was too long"
    );

    // QUIT: the others see it; the server closes the WebSocket.
    web.send("QUIT :off to bed").await;
    assert_eq!(web.next().await.unwrap(), "ERROR :Quit: off to bed");
    assert_eq!(web.next().await, None);
    tcp.expect(":web!~web@127.0.0.1 QUIT :Quit: off to bed")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_origins_connect() {
    let server = web_server("allowed_origins = [\"https://chat.example.org\"]").await;
    let addr = server.addrs[1];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let refused = handshake(
        tcp,
        addr,
        "ws",
        &["text.ircv3.net"],
        Some("http://evil.example"),
    )
    .await
    .err()
    .expect("refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 403),
        e => panic!("{e}"),
    }
    // The listener's own origin, a configured one, and none at all.
    for origin in [
        Some(format!("http://{addr}")),
        Some("https://chat.example.org".into()),
        None,
    ] {
        let mut w = ws_connect(addr, &["text.ircv3.net"], origin.as_deref()).await;
        w.register("o").await;
        w.send("QUIT").await;
        w.until(|l| l.starts_with("ERROR")).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_told_to_upgrade() {
    let server = web_server("").await;
    let mut s = TcpStream::connect(server.addrs[1]).await.unwrap();
    s.write_all(b"GET /webirc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).await.unwrap();
    assert!(r.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{r}");
    assert!(r.contains("IRC over WebSocket"), "{r}");
    server.stop().await;
}

/// A frame the protocol forbids (a client's, unmasked) ends the
/// connection with close status 1002; other clients see it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_violation_closes_with_its_status() {
    let server = web_server("").await;
    let mut watcher = server.client("watcher").await;
    let mut w = ws_connect(server.addrs[1], &["text.ircv3.net"], None).await;
    w.register("rude").await;
    watcher.send("MONITOR + rude").await;
    watcher.until(|l| l.contains(" 730 watcher rude!")).await;
    // Below the WebSocket client: a raw, unmasked text frame.
    w.ws.get_mut()
        .write_all(&[0x81, 0x04, b'P', b'I', b'N', b'G'])
        .await
        .unwrap();
    let mut tail = Vec::new();
    let _ = tokio::time::timeout(WAIT, w.ws.get_mut().read_to_end(&mut tail)).await;
    assert!(
        tail.windows(4).any(|f| f == [0x88, 0x02, 0x03, 0xEA]),
        "a close frame with 1002: {tail:?}"
    );
    watcher.expect(":ferry.test 731 watcher :rude").await;
    server.stop().await;
}

/// An idle web client is parked off the runtime like a TCP one, and wakes
/// for the next message to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_web_clients_are_parked_and_woken() {
    let server = web_server("[limits]\npark_after_secs = 1\n").await;
    let mut w = ws_connect(server.addrs[1], &["text.ircv3.net"], None).await;
    w.register("sleeper").await;
    let mut oper = oper_client(&server, "op").await;
    let d = crate::util::Deadline::new();
    while stats_pairs(&mut oper, "z")
        .await
        .get("parked")
        .copied()
        .unwrap_or(0)
        < 1
    {
        d.tick("the web client parked").await;
    }
    oper.send("PRIVMSG sleeper :wake up").await;
    assert_eq!(
        w.next().await.unwrap(),
        ":op!~op@127.0.0.1 PRIVMSG sleeper :wake up"
    );
    w.send("PRIVMSG op :awake").await;
    oper.until(|l| l == ":sleeper!~sleeper@127.0.0.1 PRIVMSG op :awake")
        .await;
    server.stop().await;
}

/// `wss://`: a TLS web listener with its certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = ferry_testkit::write_self_signed(dir.path(), "web");
    let server = TestServer::with_config(config(&format!(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nweb = true\ntls = true\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        files.cert.display(),
        files.key.display()
    )))
    .await;
    let addr = server.addrs[1];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = ferry_testkit::tls_connect(tcp, None).await.expect("TLS");
    let mut w = handshake(tls, addr, "wss", &["text.ircv3.net"], None)
        .await
        .expect("wss handshake");
    w.register("secure").await;
    let mut tcp: TestClient = server.client("tcp").await;
    tcp.send("WHOIS secure").await;
    tcp.until(|l| l.starts_with(":ferry.test 671 tcp secure "))
        .await;
    tcp.send("PRIVMSG secure :over TLS").await;
    assert_eq!(
        w.next().await.unwrap(),
        ":tcp!~tcp@127.0.0.1 PRIVMSG secure :over TLS"
    );
    server.stop().await;
}
