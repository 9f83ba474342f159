//! The `ferry` binary: configuration helpers and serving until SIGTERM.

use std::process::{Output, Stdio};

use ferry_testkit::TestClient;

use crate::util::proc::{local, scratch};
use crate::util::sasl::{authenticate_plain, sasl_hello};
use crate::util::{free_port, Deadline, Proc};

fn ferry(args: &[&str]) -> Output {
    crate::util::proc::ferry()
        .args(args)
        .output()
        .expect("run ferry")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_until_sigterm() {
    let port = free_port();
    let data = scratch("serve");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Proc::serve(&["--listen", &listen, "--data-dir"], &data);
    let addr = local(port);
    child.accepting(addr).await;

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

    child.signal("-TERM");
    c.expect("ERROR :Server shutting down").await;
    assert_eq!(c.next().await, None);
    let status = child.exit().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(data.is_dir());
    let _ = std::fs::remove_dir_all(&data);
}

fn ferry_with_password(args: &[&str], password: &str) -> Output {
    crate::util::proc::ferry()
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
    sasl_hello(&mut c, "bob", "bob", "").await;
    authenticate_plain(&mut c, "bob", "first-pass").await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    authenticate_plain(&mut c, "bob", "second-pass").await;
    c.expect(":ferry.test 900 bob bob!~bob@127.0.0.1 Bob :You are now logged in as Bob")
        .await;
    server.stop().await;

    let out = ferry(&["account", "del", "bob", "--data-dir", d]);
    assert!(out.status.success(), "{out:?}");
    let out = ferry(&["account", "list", "--data-dir", d]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let _ = std::fs::remove_dir_all(&dir);
}

/// REHASH (and SIGHUP) read the configuration file again: a new MOTD and
/// new limits apply at once; what needs a restart is named; a broken file
/// leaves the running configuration alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehash_reloads_the_configuration() {
    let port = free_port();
    let dir = scratch("rehash");
    let file = dir.join("ferry.toml");
    let hash = ferry_server::auth::hash_password("operpass");
    let write = |motd: &str, nicklen: u32, name: &str| {
        let text = format!(
            "[server]\nname = \"{name}\"\nmotd = \"{motd}\"\ndata_dir = \"{}\"\n\
             [[listen]]\naddress = \"127.0.0.1:{port}\"\n\
             [limits]\nnick_length = {nicklen}\nexempt = [\"127.0.0.0/8\"]\n\
             [privacy]\ncloak = false\n\
             [[oper]]\nname = \"oper\"\npassword_hash = \"{hash}\"\n",
            dir.join("data").display()
        );
        std::fs::write(&file, text).expect("write config");
    };
    write("first motd", 30, "ferry.test");
    let mut child = Proc::serve(&["--config"], &file);
    let addr = local(port);
    child.accepting(addr).await;
    let connect = |nick: &'static str| async move {
        let mut c = TestClient::connect(addr).await;
        c.nick = nick.into();
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :{nick}")).await;
        let isupport = c.until(|l| l.contains(" NICKLEN=")).await;
        let motd = c.until(|l| l.contains(" 372 ")).await;
        c.until(|l| l.contains(" 376 ")).await;
        (c, isupport, motd)
    };
    let (mut boss, isupport, motd) = connect("boss").await;
    assert!(isupport.contains(" NICKLEN=30 "), "{isupport}");
    assert_eq!(motd, ":ferry.test 372 boss :- first motd");
    boss.send("REHASH").await;
    boss.expect(":ferry.test 481 boss :Permission Denied- You're not an IRC operator")
        .await;
    boss.send("OPER oper operpass").await;
    boss.until(|l| l.ends_with("MODE boss :+o")).await;

    // A new MOTD and nick length; the server name needs a restart.
    write("second motd", 12, "renamed.test");
    boss.send("REHASH").await;
    boss.expect(&format!(
        ":ferry.test 382 boss {} Rehashing",
        file.display()
    ))
    .await;
    boss.expect(&format!(
        ":ferry.test NOTICE boss :Rehashed {} (unchanged until restart: server name)",
        file.display()
    ))
    .await;
    boss.send("MOTD").await;
    boss.until(|l| l == ":ferry.test 372 boss :- second motd")
        .await;
    boss.until(|l| l.contains(" 376 ")).await;
    let (_new, isupport, _) = connect("newcomer").await;
    assert!(isupport.contains(" NICKLEN=12 "), "{isupport}");
    boss.send("NICK abcdefghijklmnop").await;
    boss.expect(":ferry.test 432 boss abcdefghijklmnop :Erroneous nickname")
        .await;

    // A broken file: told why, and the running configuration stays.
    std::fs::write(&file, "[limits]\nnick_length = \"long\"\n").expect("write");
    boss.send("REHASH").await;
    let l = boss.line().await;
    assert!(
        l.starts_with(":ferry.test NOTICE boss :REHASH failed: ") && l.contains("nick_length"),
        "{l}"
    );
    boss.send("MOTD").await;
    boss.until(|l| l == ":ferry.test 372 boss :- second motd")
        .await;

    // SIGHUP does the same as REHASH.
    write("third motd", 12, "ferry.test");
    child.signal("-HUP");
    let deadline = Deadline::new();
    loop {
        boss.send("MOTD").await;
        let motd = boss.until(|l| l.contains(" 372 ")).await;
        boss.until(|l| l.contains(" 376 ")).await;
        if motd == ":ferry.test 372 boss :- third motd" {
            break;
        }
        deadline.tick("SIGHUP did not rehash").await;
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
