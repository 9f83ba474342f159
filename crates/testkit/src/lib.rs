//! Test helpers: a real ferry server on 127.0.0.1:0 and a line-level client.

use std::sync::Arc;
use std::time::Duration;

use encoding_rs::Encoding;
use ferry_server::tls::{SelfSigned, Tls, TlsFiles};
use ferry_server::Config;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long a test waits for an expected line before failing (hang guard only).
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in this process on an ephemeral port.
pub struct TestServer {
    /// The first listener (UTF-8 unless the config says otherwise).
    pub addr: std::net::SocketAddr,
    /// Every listener, in the config's `[[listen]]` order.
    pub addrs: Vec<std::net::SocketAddr>,
    /// The data directory (a fresh temporary one unless given).
    pub data_dir: std::path::PathBuf,
    /// Each listener's TLS certificate (`None`: plain), reloadable as
    /// SIGHUP does.
    pub tls: Vec<Option<Arc<Tls>>>,
    /// The admin listener, on 127.0.0.1:0, when the config has
    /// `[admin] listen` (any address: it is replaced).
    pub admin: Option<std::net::SocketAddr>,
    _tmp: Option<tempfile::TempDir>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with_config(test_config()).await
    }

    /// Starts with `cfg` in a fresh temporary data directory.
    pub async fn with_config(cfg: Config) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::with_config_in(cfg, tmp.path()).await;
        s._tmp = Some(tmp);
        s
    }

    /// Starts the test config with two listeners: UTF-8 (`addr`,
    /// `addrs[0]`) and one speaking `charset` (`addrs[1]`).
    pub async fn with_charset(charset: &str) -> TestServer {
        Self::with_config(test_config_with(&format!(
            "[[listen]]\naddress = \"127.0.0.1:0\"\n\
             [[listen]]\naddress = \"127.0.0.1:0\"\ncharset = \"{charset}\"\n"
        )))
        .await
    }

    /// Starts with `cfg` on the data in `dir` (which outlives the server,
    /// for restart tests). Each of the config's listeners is bound on
    /// 127.0.0.1:0 instead of its address, keeping its charset.
    ///
    /// Tests see addresses, not cloaks, and loopback is exempt from the
    /// per-IP limits and flood control (hundreds of test clients share
    /// 127.0.0.1); [`TestServer::with_exact_config`] keeps the config as is.
    pub async fn with_config_in(mut cfg: Config, dir: &std::path::Path) -> TestServer {
        cfg.privacy.cloak = false;
        cfg.privacy.cloak_key = None;
        cfg.limits.exempt.push("127.0.0.0/8".parse().expect("CIDR"));
        cfg.limits.exempt.push("::1/128".parse().expect("CIDR"));
        Self::with_exact_config_in(cfg, dir).await
    }

    /// Starts with exactly `cfg` (limits, flood control and cloaks as
    /// configured) in a fresh temporary data directory.
    pub async fn with_exact_config(cfg: Config) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::with_exact_config_in(cfg, tmp.path()).await;
        s._tmp = Some(tmp);
        s
    }

    pub async fn with_exact_config_in(mut cfg: Config, dir: &std::path::Path) -> TestServer {
        cfg.data_dir = dir.to_path_buf();
        let data_dir = cfg.data_dir.clone();
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        let mut tls = Vec::new();
        for l in &cfg.listen {
            let tcp = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            addrs.push(tcp.local_addr().expect("local addr"));
            let listener = ferry_server::Listener::configured(tcp, l).expect("TLS files");
            tls.push(listener.tls.clone());
            listeners.push(listener);
        }
        let addr = addrs[0];
        let (admin_listener, admin) = match cfg.admin.listen {
            Some(_) => {
                let l = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                let a = l.local_addr().expect("local addr");
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let control = ferry_server::Control {
                admin: admin_listener,
                ..Default::default()
            };
            ferry_server::serve_with(cfg, listeners, async move { s.cancelled().await }, control)
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            addrs,
            data_dir,
            tls,
            admin,
            _tmp: None,
            stop,
            task: Some(task),
        }
    }

    /// Connects a client; nothing is sent yet.
    pub async fn connect(&self) -> TestClient {
        TestClient::connect(self.addr).await
    }

    /// Connects to listener `i` (`addrs[i]`, a TLS one) with TLS, accepting
    /// its certificate whatever it is, presenting `cert` if given.
    pub async fn connect_tls(&self, i: usize, cert: Option<&SelfSigned>) -> TestClient {
        TestClient::connect_tls(self.addrs[i], cert).await
    }

    /// Connects to listener `i` (`addrs[i]`) speaking `charset` there
    /// (`send` encodes, `line` decodes; `send_raw`/`raw_line` do not).
    pub async fn connect_speaking(&self, i: usize, charset: &str) -> TestClient {
        let mut c = TestClient::connect(self.addrs[i]).await;
        c.speak(charset);
        c
    }

    /// Connects and registers `nick` (no caps), reading through the MOTD.
    pub async fn client(&self, nick: &str) -> TestClient {
        let mut c = self.connect().await;
        c.register(nick).await;
        c
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, t).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A configuration for tests: server name `ferry.test`, an oper `oper` / `operpass`.
pub fn test_config() -> Config {
    test_config_with("")
}

/// The test configuration with more TOML after it (`[[listen]]` blocks, ...).
pub fn test_config_with(extra: &str) -> Config {
    let text = format!(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\nmotd = \"hello\"\n\
         [[oper]]\nname = \"oper\"\npassword_hash = \"{}\"\n{extra}",
        ferry_server::auth::hash_password("operpass")
    );
    Config::parse(&text, "test").expect("test config")
}

/// One IRC connection, read and written line by line.
pub struct TestClient {
    reader: BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub nick: String,
    /// What `send` encodes to and `line` decodes from (None: UTF-8).
    charset: Option<&'static Encoding>,
    /// TLS: the SHA-256 fingerprint of the certificate the server showed.
    pub server_certfp: Option<String>,
}

impl TestClient {
    pub async fn connect(addr: std::net::SocketAddr) -> TestClient {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        TestClient::over(Box::new(r), Box::new(w), None)
    }

    /// Connects with a small receive window (4 KiB), so a client that stops
    /// reading backs up into the server's queue after a few kilobytes
    /// instead of the megabytes loopback buffers hold.
    pub async fn connect_small_window(addr: std::net::SocketAddr) -> TestClient {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let s = sock.connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        TestClient::over(Box::new(r), Box::new(w), None)
    }

    fn over(
        r: Box<dyn AsyncRead + Send + Unpin>,
        w: Box<dyn AsyncWrite + Send + Unpin>,
        server_certfp: Option<String>,
    ) -> TestClient {
        TestClient {
            reader: BufReader::new(r),
            writer: w,
            nick: String::new(),
            charset: None,
            server_certfp,
        }
    }

    /// Connects with TLS, accepting any server certificate, presenting
    /// `cert` as the client certificate if given.
    pub async fn connect_tls(addr: std::net::SocketAddr, cert: Option<&SelfSigned>) -> TestClient {
        let s = TcpStream::connect(addr).await.expect("connect");
        let tls = tokio::time::timeout(WAIT, tls::connect(s, cert))
            .await
            .expect("TLS handshake within WAIT")
            .expect("TLS handshake");
        let certfp = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| ferry_server::tls::fingerprint(c));
        let (r, w) = tokio::io::split(tls);
        TestClient::over(Box::new(r), Box::new(w), certfp)
    }

    /// From now on `send` encodes lines in `charset` and `line` decodes
    /// them (tags stay UTF-8 in both directions, as the server does).
    pub fn speak(&mut self, charset: &str) {
        let enc = Encoding::for_label(charset.as_bytes()).expect("known charset");
        self.charset = (enc != encoding_rs::UTF_8).then_some(enc);
    }

    /// Sends one line (CRLF added), in the client's charset.
    pub async fn send(&mut self, line: &str) {
        let mut bytes = match self.charset {
            None => line.as_bytes().to_vec(),
            Some(enc) => {
                let (tags, body) = split_tag_section(line);
                let mut b = tags.as_bytes().to_vec();
                let (e, _, unmappable) = enc.encode(body);
                assert!(
                    !unmappable,
                    "{}: {body:?} is not in {}",
                    self.nick,
                    enc.name()
                );
                b.extend_from_slice(&e);
                b
            }
        };
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await;
    }

    /// The next line's bytes, without CRLF; None at end of stream.
    pub async fn next_raw(&mut self) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: no line within {WAIT:?}", self.nick))
            .expect("read");
        if n == 0 {
            return None;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Some(buf)
    }

    /// The next line's bytes, which must exist.
    pub async fn raw_line(&mut self) -> Vec<u8> {
        self.next_raw()
            .await
            .unwrap_or_else(|| panic!("{}: connection closed", self.nick))
    }

    /// Asserts the next line's bytes are exactly `want` (without CRLF).
    pub async fn expect_raw(&mut self, want: &[u8]) {
        let got = self.raw_line().await;
        assert!(
            got == want,
            "{}: unexpected bytes\n got: {}\nwant: {}",
            self.nick,
            got.escape_ascii(),
            want.escape_ascii()
        );
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    /// The next line, without CRLF; None at end of stream. Panics after WAIT.
    pub async fn next(&mut self) -> Option<String> {
        let buf = self.next_raw().await?;
        Some(match self.charset {
            None => String::from_utf8_lossy(&buf).into_owned(),
            Some(enc) => ferry_client::decode_line(enc, &buf),
        })
    }

    /// The next line, which must exist.
    pub async fn line(&mut self) -> String {
        self.next()
            .await
            .unwrap_or_else(|| panic!("{}: connection closed", self.nick))
    }

    /// Reads lines until one satisfies `pred`; returns it. Skipped lines are dropped.
    pub async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let l = self.line().await;
            if pred(&l) {
                return l;
            }
        }
    }

    /// Reads until a line with this command/numeric (second word, or first
    /// after tags) appears.
    pub async fn until_cmd(&mut self, cmd: &str) -> String {
        self.until(|l| command_of(l) == cmd).await
    }

    /// Asserts the next line equals `want` exactly.
    pub async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(got, want, "{}: unexpected line", self.nick);
    }

    /// NICK + USER, then reads through the end of the MOTD.
    pub async fn register(&mut self, nick: &str) {
        self.nick = nick.to_string();
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :{nick} real")).await;
        self.until(|l| matches!(command_of(l), "376" | "422")).await;
    }

    /// Sends PING and returns every line before its PONG: a barrier that
    /// proves the server handled everything sent before it.
    pub async fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync-barrier").await;
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            if command_of(&l) == "PONG" && l.ends_with("sync-barrier") {
                return lines;
            }
            lines.push(l);
        }
    }

    /// True when the server closes the connection (reads and drops lines until then).
    pub async fn closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(l) = self.next().await {
            lines.push(l);
        }
        lines
    }
}

/// `@tags ` (with its space) and the rest of a line.
fn split_tag_section(line: &str) -> (&str, &str) {
    if line.starts_with('@') {
        match line.find(' ') {
            Some(sp) => line.split_at(sp + 1),
            None => (line, ""),
        }
    } else {
        ("", line)
    }
}

/// The command or numeric of a raw line.
pub fn command_of(line: &str) -> &str {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map(|x| x.1).unwrap_or("");
    }
    if rest.starts_with(':') {
        rest = rest.split_once(' ').map(|x| x.1).unwrap_or("");
    }
    rest.split(' ').next().unwrap_or("")
}

/// Writes a fresh self-signed certificate for `localhost` and 127.0.0.1
/// into `dir` as `NAME.pem` and `NAME.key`.
pub fn write_self_signed(dir: &std::path::Path, name: &str) -> (TlsFiles, SelfSigned) {
    let pair = ferry_server::tls::self_signed(&["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let files = TlsFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, &pair.cert_pem).expect("write certificate");
    std::fs::write(&files.key, &pair.key_pem).expect("write key");
    (files, pair)
}

/// A TLS client that takes any server certificate (tests only), over any
/// TCP connection (the WebSocket tests' `wss://`).
pub use tls::connect as tls_connect;

/// A TLS client that takes any server certificate (tests only).
mod tls {
    use std::sync::Arc;

    use ferry_server::tls::SelfSigned;
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::rustls::crypto;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::rustls::ClientConfig;
    use tokio_rustls::TlsConnector;

    pub async fn connect(
        tcp: TcpStream,
        cert: Option<&SelfSigned>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(ferry_client::any_server_cert(provider));
        let config = match cert {
            None => builder.with_no_client_auth(),
            Some(c) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(c.cert_pem.as_bytes()).expect("cert PEM")],
                    PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("key PEM"),
                )
                .expect("client certificate"),
        };
        let name = ServerName::try_from("localhost").expect("server name");
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }
}
