//! Running ferry in production: the binary's admin listener (`--admin`:
//! Prometheus metrics checked by promtool, the API writing to a JSON log
//! that holds no secrets), the Grafana dashboard's queries, online
//! backups restored, an older store upgraded, the systemd unit.

use std::process::Command;

use ferry_testkit::{TestClient, TestServer};

use crate::util::http::{get, post, sample};
use crate::util::proc::{local, scratch};
use crate::util::sasl::{authenticate_plain, sasl_hello, sasl_login};
use crate::util::{accounts_config, finish_burst, join, Deadline, Proc};

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `promtool check metrics` on `text`: its complaints, if any.
fn promtool(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus; scripts/install-test-deps.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

async fn connect(addr: std::net::SocketAddr, nick: &str) -> TestClient {
    let mut c = TestClient::connect(addr).await;
    c.nick = nick.into();
    c
}

/// `ferry serve --admin --log-format json`: metrics count what clients
/// did and pass promtool; API writes are logged with the token's name;
/// no password and no message text is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_json_logs_of_the_binary() {
    let (port, admin_port) = (crate::util::free_port(), crate::util::free_port());
    let dir = scratch("ops-metrics");
    let (token, hash) = ferry_server::new_token();
    let file = dir.join("ferry.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\ndata_dir = \"{}\"\n\
             [[listen]]\naddress = \"127.0.0.1:{port}\"\n\
             [limits]\nexempt = [\"127.0.0.0/8\"]\n[privacy]\ncloak = false\n\
             [[admin.token]]\nname = \"ops\"\nhash = \"{hash}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let log = dir.join("log.json");
    let admin_arg = admin_port.to_string();
    // At debug: every command is logged, never a password or a text.
    let mut child = Proc::serve_logging_at(
        "debug",
        &["--log-format", "json", "--admin", &admin_arg, "--config"],
        &file,
        &log,
    );
    let (addr, admin) = (local(port), local(admin_port));
    child.accepting(addr).await;
    child.accepting(admin).await;

    let mut alice = connect(addr, "alice").await;
    alice.send("CAP REQ :draft/account-registration").await;
    alice.send("NICK alice").await;
    alice.send("USER alice 0 * :Alice").await;
    alice.send("REGISTER alice * pw-alice-secret").await;
    alice.send("CAP END").await;
    alice.until(|l| l.contains("REGISTER SUCCESS alice")).await;
    finish_burst(&mut alice).await;
    let mut bob = connect(addr, "bob").await;
    sasl_hello(&mut bob, "bob", "bob", "").await;
    authenticate_plain(&mut bob, "alice", "secret-wrong-pw").await;
    bob.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    bob.send("CAP END").await;
    finish_burst(&mut bob).await;
    join(&mut alice, "#room").await;
    join(&mut bob, "#room").await;
    alice.send("PRIVMSG bob :private text zq7731").await;
    alice.send("PRIVMSG #room :channel text zq8842").await;
    bob.until(|l| l.ends_with("PRIVMSG bob :private text zq7731"))
        .await;
    bob.until(|l| l.ends_with("PRIVMSG #room :channel text zq8842"))
        .await;

    let d = Deadline::new();
    let m = loop {
        // History rows are counted as handed over: at once; commits
        // (registration) before REGISTER SUCCESS.
        let r = get(admin, "/metrics", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        // The probes that saw the ports accepting have gone.
        let open = format!("ferry_connections{{listener=\"127.0.0.1:{port}\"}}");
        if sample(&r.body, "ferry_history_rows_total") == Some(2.0)
            && sample(&r.body, &open) == Some(2.0)
        {
            break r.body;
        }
        d.tick("history rows counted").await;
    };
    promtool(&m).unwrap_or_else(|e| panic!("promtool: {e}\n{m}"));
    let want = [
        ("ferry_clients", 2.0),
        ("ferry_channels", 1.0),
        (
            &format!("ferry_connections{{listener=\"127.0.0.1:{port}\"}}"),
            2.0,
        ),
        (
            "ferry_messages_relayed_total{kind=\"privmsg\",target=\"user\"}",
            1.0,
        ),
        (
            "ferry_messages_relayed_total{kind=\"privmsg\",target=\"channel\"}",
            1.0,
        ),
        (
            "ferry_messages_relayed_total{kind=\"notice\",target=\"user\"}",
            0.0,
        ),
        ("ferry_registrations_total", 1.0),
        ("ferry_logins_total{result=\"failed\"}", 1.0),
        ("ferry_logins_total{result=\"ok\"}", 0.0),
        ("ferry_history_rows_dropped_total", 0.0),
        ("ferry_sendq_shed_total{reason=\"sendq\"}", 0.0),
    ];
    for (series, v) in want {
        assert_eq!(sample(&m, series), Some(v), "{series}\n{m}");
    }
    // The DM, the channel line and bob's JOIN seen by alice at least.
    assert!(sample(&m, "ferry_deliveries_total").unwrap() >= 3.0, "{m}");
    assert!(
        sample(&m, "ferry_store_commit_seconds_count").unwrap() >= 1.0,
        "{m}"
    );
    let accepted = format!("ferry_connections_accepted_total{{listener=\"127.0.0.1:{port}\"}}");
    assert!(sample(&m, &accepted).unwrap() >= 2.0, "{m}");
    assert!(
        sample(&m, "ferry_received_lines_total").unwrap() >= 10.0,
        "{m}"
    );

    let r = post(
        admin,
        "/api/v1/notice",
        &token,
        r#"{"text":"rolling restart soon"}"#,
    )
    .await;
    assert_eq!(r.json()["sent"], 2);
    bob.expect(":ferry.test NOTICE bob :rolling restart soon")
        .await;
    let r = post(admin, "/api/v1/rehash", &token, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rehashed"], file.display().to_string());

    child.signal("-TERM");
    assert!(child.exit().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let mut api_writes = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["message"] == "admin api" {
            assert_eq!(v["token"], "ops", "{line}");
            api_writes += 1;
        }
    }
    assert_eq!(api_writes, 2, "the notice and the rehash:\n{text}");
    for secret in [
        "pw-alice-secret",
        "secret-wrong-pw",
        // Not the numbers alone: a timestamp's digits may hold them.
        "zq7731",
        "zq8842",
        "rolling restart",
        &token,
    ] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every metric the shipped Grafana dashboard queries is one ferry serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_only_served_metrics() {
    let cfg = accounts_config("", "[admin]\nlisten = \"127.0.0.1:0\"\n");
    let server = TestServer::with_config(cfg).await;
    let metrics = get(server.admin.expect("admin"), "/metrics", None)
        .await
        .body;
    let served: std::collections::HashSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let path = repo("contrib/grafana/ferry-dashboard.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut queried = 0;
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("ferry_") {
                queried += 1;
                assert!(
                    served.contains(word),
                    "{word} (in {e}) is not served:\n{metrics}"
                );
            }
        }
    }
    assert!(queried >= 15, "{exprs:?}");
    server.stop().await;
}

/// `ferry store backup` while the server runs; a server started on the
/// copy has the accounts, the waiting offline message and the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores() {
    let live = scratch("ops-backup-live");
    let copy = scratch("ops-backup-copy");
    let _ = std::fs::remove_dir_all(&copy);
    let server = TestServer::with_config_in(accounts_config("", ""), &live).await;
    crate::util::register_account(&server, "alice", "alice-pw").await;
    crate::util::register_account(&server, "bob", "bob-pw").await;
    let mut alice = server.connect().await;
    sasl_login(&mut alice, "alice", "alice-pw", "").await;
    join(&mut alice, "#room").await;
    alice.send("PRIVMSG #room :kept in history").await;
    alice.send("PRIVMSG bob :waiting for bob").await;
    alice
        .until(|l| l.contains(" 301 alice bob :is offline"))
        .await;
    // History is appended about once a second; the offline message is
    // committed before the 301.
    let d = Deadline::new();
    let segment = live.join("history/00000000.seg");
    while !std::fs::read(&segment)
        .map(|b| String::from_utf8_lossy(&b).contains("kept in history"))
        .unwrap_or(false)
    {
        d.tick("history written").await;
    }
    let out = crate::util::proc::ferry()
        .args([
            "store",
            "backup",
            copy.to_str().unwrap(),
            "--data-dir",
            live.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains("accounts 2,") && said.contains("offline messages 1,"),
        "{said}"
    );
    // The channel line, and the direct message (history keeps it too).
    assert!(said.contains("history records 2"), "{said}");
    server.stop().await;

    let restored = TestServer::with_config_in(accounts_config("", ""), &copy).await;
    let mut bob = restored.connect().await;
    sasl_hello(&mut bob, "bob", "bob", "").await;
    authenticate_plain(&mut bob, "bob", "bob-pw").await;
    bob.until(|l| l.contains(" 903 bob ")).await;
    bob.send("CAP END").await;
    let l = bob.until(|l| l.ends_with("] waiting for bob")).await;
    assert!(
        l.starts_with(":alice!~alice@127.0.0.1 PRIVMSG bob :["),
        "{l}"
    );
    let mut alice = restored.connect().await;
    sasl_login(&mut alice, "alice", "alice-pw", "batch draft/chathistory").await;
    join(&mut alice, "#room").await;
    alice.send("CHATHISTORY LATEST #room * 10").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #room :kept in history"))
        .await;
    restored.stop().await;
    let _ = std::fs::remove_dir_all(&live);
    let _ = std::fs::remove_dir_all(&copy);
}

/// A data directory made by the schema-4 store (tests/fixtures): opened,
/// migrated, and everything in it still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_schema_upgrades() {
    let dir = scratch("ops-schema4");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("history")).unwrap();
    let fixture = repo("tests/fixtures/store-schema4");
    std::fs::copy(fixture.join("ferry.db"), dir.join("ferry.db")).unwrap();
    for f in std::fs::read_dir(fixture.join("history")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join("history").join(f.file_name())).unwrap();
    }
    let server = TestServer::with_config_in(accounts_config("", ""), &dir).await;
    let mut bob = server.connect().await;
    sasl_login(&mut bob, "bob", "pw-bob-12345", "").await;
    // Without server-time, the time it was sent is in the text.
    let l = bob
        .until(|l| l.ends_with("hello bob, you were offline"))
        .await;
    assert!(
        l.starts_with(":alice!~a@") && l.contains(" PRIVMSG bob :[2026-12-03T16:26:07.915Z] "),
        "{l}"
    );
    let mut alice = server.connect().await;
    sasl_login(
        &mut alice,
        "alice",
        "pw-alice-123",
        "batch draft/chathistory",
    )
    .await;
    join(&mut alice, "#room").await;
    // Her stored MONITOR list is hers still: using MONITOR brings it in.
    alice.send("MONITOR L").await;
    alice
        .expect(":ferry.test 730 alice bob!~bob@127.0.0.1")
        .await;
    alice.expect(":ferry.test 732 alice bob").await;
    alice.send("CHATHISTORY LATEST #room * 10").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #room :hello room, stored before schema 5"))
        .await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// contrib/ferry.service passes `systemd-analyze verify` (the script says
/// "skipped" where systemd-analyze is missing).
#[test]
fn the_systemd_unit_verifies() {
    let out = Command::new("bash")
        .arg(repo("scripts/check-unit.sh"))
        .current_dir(repo(""))
        .output()
        .expect("run scripts/check-unit.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
