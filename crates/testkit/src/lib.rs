//! Test helpers: a real ferry server on 127.0.0.1:0 and a line-level client.

use std::time::Duration;

use ferry_server::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long a test waits for an expected line before failing (hang guard only).
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running in this process on an ephemeral port.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    /// The data directory (a fresh temporary one unless given).
    pub data_dir: std::path::PathBuf,
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

    /// Starts with `cfg` on the data in `dir` (which outlives the server,
    /// for restart tests).
    pub async fn with_config_in(mut cfg: Config, dir: &std::path::Path) -> TestServer {
        cfg.data_dir = dir.to_path_buf();
        let data_dir = cfg.data_dir.clone();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            ferry_server::serve(cfg, vec![listener], async move { s.cancelled().await })
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            data_dir,
            _tmp: None,
            stop,
            task: Some(task),
        }
    }

    /// Connects a client; nothing is sent yet.
    pub async fn connect(&self) -> TestClient {
        TestClient::connect(self.addr).await
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
    let text = format!(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\nmotd = \"hello\"\n\
         [[oper]]\nname = \"oper\"\npassword_hash = \"{}\"\n",
        ferry_server::config::hash_password("operpass")
    );
    Config::parse(&text, "test").expect("test config")
}

/// One IRC connection, read and written line by line.
pub struct TestClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub nick: String,
}

impl TestClient {
    pub async fn connect(addr: std::net::SocketAddr) -> TestClient {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        TestClient {
            reader: BufReader::new(r),
            writer: w,
            nick: String::new(),
        }
    }

    /// Sends one line (CRLF added).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// The next line, without CRLF; None at end of stream. Panics after WAIT.
    pub async fn next(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: no line within {WAIT:?}", self.nick))
            .expect("read");
        if n == 0 {
            return None;
        }
        let s = String::from_utf8_lossy(&buf);
        Some(s.trim_end_matches(['\r', '\n']).to_string())
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
