//! The `ferry` binary: configuration helpers and serving until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ferry_testkit::{TestClient, WAIT};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY).args(args).output().expect("run ferry")
}

#[test]
fn example_config_passes_check() {
    let out = ferry(&["config", "example"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
    let file = scratch("example").join("ferry.toml");
    std::fs::write(&file, &out.stdout).expect("write example");
    let path = file.to_str().expect("utf-8 path");
    let out = ferry(&["config", "check", path]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{path}: ok\n")
    );
    let _ = std::fs::remove_dir_all(file.parent().expect("scratch dir"));
}

#[test]
fn bad_config_names_key_and_line() {
    let dir = scratch("bad");
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "[server]\nname = \"ferry.test\"\nbogus_key = 1\n").unwrap();
    let out = ferry(&["config", "check", unknown.to_str().unwrap()]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus_key"), "{err}");
    assert!(err.contains("line 3"), "{err}");

    let invalid = dir.join("invalid.toml");
    std::fs::write(&invalid, "[limits]\nsendq_bytes = 100\n").unwrap();
    let path = invalid.to_str().unwrap();
    let out = ferry(&["config", "check", path]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{path}:2: `limits.sendq_bytes`: must be at least 4096"
        )),
        "{err}"
    );

    let missing = dir.join("missing.toml");
    let out = ferry(&["config", "check", missing.to_str().unwrap()]);
    assert!(!out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the child if the test ends before it exits.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_until_sigterm() {
    let port = free_port();
    let data = scratch("serve");
    let child = Command::new(FERRY)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferry serve");
    let mut child = Reap(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Wait until it listens.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            matches!(child.0.try_wait(), Ok(None)),
            "ferry serve exited early"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "ferry serve does not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut c = TestClient::connect(addr).await;
    c.nick = "alice".into();
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    // Default config: hosts are cloaked, the address is nowhere.
    let welcome = c.line().await;
    let host = welcome
        .strip_prefix(":ferry.local 001 alice :Welcome to the ferry IRC Network alice!~alice@")
        .unwrap_or_else(|| panic!("{welcome}"));
    assert!(
        host.ends_with(".ip") && !host.contains("127.0.0.1"),
        "{welcome}"
    );
    c.until(|l| l == ":ferry.local 376 alice :End of /MOTD command.")
        .await;
    c.send("PING :up").await;
    c.expect(":ferry.local PONG ferry.local :up").await;

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    c.expect("ERROR :Server shutting down").await;
    assert_eq!(c.next().await, None);

    let deadline = tokio::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ferry serve did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(data.is_dir());
    let _ = std::fs::remove_dir_all(&data);
}

fn ferry_with_password(args: &[&str], password: &str) -> Output {
    Command::new(FERRY)
        .args(args)
        .env("FERRY_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("run ferry")
}

/// `ferry account` edits the store a server then logs people in from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_command_manages_the_store() {
    let dir = scratch("account-cli");
    let d = dir.to_str().expect("utf-8 path");
    let out = ferry_with_password(&["account", "add", "Bob", "--data-dir", d], "first-pass");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "account Bob created\n"
    );
    let out = ferry_with_password(&["account", "add", "bob", "--data-dir", d], "other-pass");
    assert!(!out.status.success());
    // (the first line: RUST_BACKTRACE in the test environment adds more)
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().next(),
        Some("Error: account bob already exists")
    );
    let out = ferry_with_password(&["account", "add", "1bad", "--data-dir", d], "x-pass");
    assert!(!out.status.success());
    let out = ferry_with_password(
        &["account", "passwd", "bob", "--data-dir", d],
        "second-pass",
    );
    assert!(out.status.success(), "{out:?}");
    let out = ferry(&["account", "list", "--data-dir", d]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Bob\n");

    // A server on that data directory takes the new password, not the old.
    let cfg = crate::util::accounts_config("", "");
    let server = ferry_testkit::TestServer::with_config_in(cfg, &dir).await;
    let mut c = server.connect().await;
    c.nick = "bob".into();
    c.send("CAP REQ :sasl").await;
    c.expect(":ferry.test CAP * ACK :sasl").await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        crate::util::plain_payload("bob", "first-pass")
    ))
    .await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        crate::util::plain_payload("bob", "second-pass")
    ))
    .await;
    c.expect(":ferry.test 900 bob bob!~bob@127.0.0.1 Bob :You are now logged in as Bob")
        .await;
    server.stop().await;

    let out = ferry(&["account", "del", "bob", "--data-dir", d]);
    assert!(out.status.success(), "{out:?}");
    let out = ferry(&["account", "list", "--data-dir", d]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let _ = std::fs::remove_dir_all(&dir);
}
