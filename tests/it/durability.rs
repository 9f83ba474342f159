//! Offline messages survive a crash: the `ferry` binary is killed with
//! SIGKILL while a sender streams messages to an offline account; after a
//! restart on the same data, every message whose echo the sender got is
//! delivered, exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use ferry_testkit::{command_of, TestClient, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::util::proc::local;
use crate::util::sasl::sasl_login;
use crate::util::{free_port, quiet, Proc};

const N: usize = 200;
/// Echoes to wait for before the kill.
const KILL_AFTER: usize = 100;
/// Messages sent and not yet echoed, at most.
const WINDOW: usize = 20;

/// Writes a config for `port` and `data`, starts `ferry serve` with it
/// and waits until it listens.
async fn start(dir: &Path, port: u16) -> (Proc, SocketAddr) {
    let config = dir.join("ferry.toml");
    let data = dir.join("data");
    std::fs::write(
        &config,
        format!(
            "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\ndata_dir = \"{}\"\n\
             [[listen]]\naddress = \"127.0.0.1:{port}\"\n\
             [accounts]\nmin_password_length = 4\noffline_max_messages = 1000\n\
             [limits]\nexempt = [\"127.0.0.0/8\"]\n[privacy]\ncloak = false\n",
            data.display()
        ),
    )
    .expect("write config");
    let mut child = Proc::serve(&["--config"], &config);
    let addr = local(port);
    child.accepting(addr).await;
    (child, addr)
}

/// A client whose connection may die under it: reads end quietly.
struct Sender {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Sender {
    async fn connect(addr: SocketAddr, nick: &str) -> Sender {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut s = Sender {
            reader: BufReader::new(r),
            writer: w,
        };
        s.send(&format!(
            "CAP REQ :echo-message\r\nCAP END\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}"
        ))
        .await;
        while let Some(l) = s.line().await {
            if command_of(&l) == "376" {
                return s;
            }
        }
        panic!("{nick}: closed before the end of the MOTD");
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
    }

    /// The next line; None once the connection is gone (closed or reset).
    async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf)).await {
            Err(_) => panic!("sender: no line within {WAIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => Some(
                String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
        }
    }
}

/// The message number of alice's echo, if the line is one.
fn echoed(l: &str) -> Option<usize> {
    l.strip_prefix(":alice!~alice@127.0.0.1 PRIVMSG bob :m")?
        .parse()
        .ok()
}

/// Logs bob in with SASL (caps: batch) and returns the message numbers it
/// gets in the offline batch, in order (empty if there is none).
async fn bob_logs_in(addr: SocketAddr) -> (TestClient, Vec<usize>) {
    let mut bob = TestClient::connect(addr).await;
    sasl_login(&mut bob, "bob", "secret", "batch").await;
    let mut got = Vec::new();
    let lines = bob.sync().await;
    let Some((first, rest)) = lines.split_first() else {
        return (bob, got);
    };
    let id = first
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(" chathistory bob"))
        .unwrap_or_else(|| panic!("not a chathistory batch: {first}"));
    let (last, inner) = rest.split_last().expect("a batch end");
    assert_eq!(*last, format!(":ferry.test BATCH -{id}"));
    for l in inner {
        let n = l
            .split_once(" :alice!~alice@127.0.0.1 PRIVMSG bob :m")
            .filter(|(tags, _)| tags.starts_with(&format!("@batch={id};time=")))
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("not an offline message: {l}"));
        got.push(n);
    }
    (bob, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut server, addr) = start(dir.path(), free_port()).await;

    let mut bob = TestClient::connect(addr).await;
    bob.nick = "bob".into();
    bob.send("CAP REQ :draft/account-registration").await;
    bob.expect(":ferry.test CAP * ACK :draft/account-registration")
        .await;
    bob.send("CAP END").await;
    bob.register("bob").await;
    bob.send("REGISTER bob * secret").await;
    bob.expect(":ferry.test REGISTER SUCCESS bob :Account created")
        .await;
    bob.until_cmd("900").await;
    bob.send("QUIT").await;
    bob.closed().await;

    // Stream to offline bob, a window of messages in flight, and kill the
    // server once KILL_AFTER of them are acknowledged.
    let mut alice = Sender::connect(addr, "alice").await;
    let mut acked = HashSet::new();
    let mut sent = 0;
    while acked.len() < KILL_AFTER {
        while sent < N && sent - acked.len() < WINDOW {
            alice.send(&format!("PRIVMSG bob :m{sent:03}")).await;
            sent += 1;
        }
        let l = alice.line().await.expect("the server is up");
        if let Some(n) = echoed(&l) {
            assert!(acked.insert(n), "echoed twice: {l}");
        } else {
            assert_eq!(
                l,
                ":ferry.test 301 alice bob :is offline; your messages will be delivered when they log in"
            );
        }
    }
    server.kill();
    // Echoes already on their way count as acknowledged too.
    while let Some(l) = alice.line().await {
        if let Some(n) = echoed(&l) {
            assert!(acked.insert(n), "echoed twice: {l}");
        }
    }
    assert!(sent < N, "the kill came after the stream ended");

    let (_server, addr) = start(dir.path(), free_port()).await;
    let (mut bob, got) = bob_logs_in(addr).await;
    let unique: HashSet<usize> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "delivered twice: {got:?}");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "out of order");
    let lost: Vec<&usize> = acked.iter().filter(|n| !unique.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(got.iter().all(|n| *n < sent), "{got:?}");
    quiet(&mut bob).await;
    bob.send("QUIT").await;
    bob.closed().await;

    // Delivered once: a later login gets nothing.
    let (mut bob, got) = bob_logs_in(addr).await;
    assert!(got.is_empty(), "delivered again: {got:?}");
    quiet(&mut bob).await;
}
