//! One node on PostgreSQL (`[store] url`): what it keeps is in the
//! database, not the data directory — a node started in an empty data
//! directory on the same database finds the accounts, the offline
//! messages, the history and the registered groups of the one before.
//! PostgreSQL is a private server the tests start (crates/pgtest).

use ferry_server::config::StoreConfig;
use ferry_testkit::TestServer;

use crate::util::sasl::sasl_client as login;
use crate::util::{accounts_config, chathistory_texts, join, register_account, src};

fn on(url: &str) -> ferry_server::Config {
    let mut cfg = accounts_config("", "");
    cfg.store = StoreConfig::postgres(url, 2).unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_keeps_its_state_in_the_database() {
    let url = tokio::task::spawn_blocking(ferry_pgtest::database)
        .await
        .unwrap();
    let server = TestServer::with_config(on(&url)).await;
    for a in ["alice", "bob"] {
        register_account(&server, a, "secret").await;
    }
    let caps = "batch draft/chathistory server-time echo-message";
    let mut alice = login(&server, "alice", "secret", caps).await;
    // bob is offline: the message waits for him, committed before the echo.
    alice.send("PRIVMSG bob :while you were away").await;
    alice
        .until(|l| l.ends_with("PRIVMSG bob :while you were away"))
        .await;
    join(&mut alice, "#group").await;
    alice.send("PRIVMSG ChanServ :REGISTER #group").await;
    alice.until(|l| l.contains("is registered to you")).await;
    alice.send("PRIVMSG #group :kept in the database").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #group :kept in the database"))
        .await;
    alice.send("QUIT").await;
    alice.closed().await;
    server.stop().await;

    // Another node, another (empty) data directory, the same database.
    let server = TestServer::with_config(on(&url)).await;
    let mut bob = login(&server, "bob", "secret", "").await;
    let l = bob.until(|l| l.ends_with("while you were away")).await;
    assert!(
        l.starts_with(&format!(":{} PRIVMSG bob :", src("alice"))),
        "{l}"
    );
    let mut alice = login(&server, "alice", "secret", caps).await;
    alice.send("JOIN #group").await;
    // Its founder gets her status back: the registration is there.
    alice
        .until(|l| l.ends_with(" :ChanServ!ChanServ@ferry.test MODE #group +o alice"))
        .await;
    assert_eq!(
        chathistory_texts(&mut alice, "LATEST #group * 10", "#group").await,
        ["kept in the database"]
    );
    // A wrong password is still wrong.
    let mut c = server.connect().await;
    crate::util::sasl::sasl_hello(&mut c, "bob", "bob", "").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.until(|l| l == "AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        crate::util::sasl::plain_payload("bob", "wrong")
    ))
    .await;
    c.until(|l| l.contains(" 904 ")).await;
}

/// `ferry store migrate`: a node's SQLite store moves into PostgreSQL,
/// checked by counts; a node on PostgreSQL then has all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_migrates_to_postgres() {
    let dir = crate::util::proc::scratch("pg-migrate");
    let server = TestServer::with_config_in(accounts_config("", ""), &dir).await;
    for a in ["alice", "bob"] {
        register_account(&server, a, "secret").await;
    }
    let caps = "batch draft/chathistory server-time echo-message";
    let mut alice = login(&server, "alice", "secret", caps).await;
    alice.send("MONITOR + bob").await;
    alice.until(|l| l.contains(" 731 ")).await;
    alice.send("PRIVMSG bob :waiting in SQLite").await;
    alice
        .until(|l| l.ends_with("PRIVMSG bob :waiting in SQLite"))
        .await;
    join(&mut alice, "#kept").await;
    alice.send("PRIVMSG ChanServ :REGISTER #kept").await;
    alice.until(|l| l.contains("is registered to you")).await;
    alice.send("TOPIC #kept :moved whole").await;
    alice.until(|l| l.contains(" TOPIC #kept ")).await;
    alice.send("PRIVMSG #kept :history moves too").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #kept :history moves too"))
        .await;
    alice.send("QUIT").await;
    alice.closed().await;
    server.stop().await;

    let url = tokio::task::spawn_blocking(ferry_pgtest::database)
        .await
        .unwrap();
    let mut cmd = crate::util::proc::ferry();
    cmd.args(["store", "migrate", "--from"])
        .arg(&dir)
        .args(["--to", &url]);
    let out = crate::util::proc::run(cmd, None).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "  accounts 2",
        "  account_lists 1",
        "  offline_messages 1",
        "  channels 1",
    ] {
        assert!(said.lines().any(|l| l == line), "{line:?} in:\n{said}");
    }
    assert!(
        said.lines()
            .any(|l| l.starts_with("  history ") && l != "  history 0"),
        "{said}"
    );
    // Twice: the database is not empty any more, and nothing is copied.
    let mut cmd = crate::util::proc::ferry();
    cmd.args(["store", "migrate", "--from"])
        .arg(&dir)
        .args(["--to", &url]);
    let again = crate::util::proc::run(cmd, None).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let server = TestServer::with_config(on(&url)).await;
    let mut bob = login(&server, "bob", "secret", "").await;
    bob.until(|l| l.ends_with("waiting in SQLite")).await;
    let mut alice = login(&server, "alice", "secret", caps).await;
    alice.send("MONITOR L").await;
    alice
        .until(|l| l.contains(" 732 alice :bob") || l.contains(" 732 alice bob"))
        .await;
    alice.send("JOIN #kept").await;
    alice
        .until(|l| l.contains(" 332 alice #kept :moved whole"))
        .await;
    alice
        .until(|l| l.ends_with(" :ChanServ!ChanServ@ferry.test MODE #kept +o alice"))
        .await;
    assert_eq!(
        chathistory_texts(&mut alice, "LATEST #kept * 10", "#kept").await,
        ["history moves too"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// PostgreSQL restarted under a running node: what needs it fails with a
/// standard reply meanwhile (never silently, never a hang), local
/// delivery goes on, and the node uses the database again once it is
/// back, with nothing acknowledged lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rides_out_a_postgres_restart() {
    let (pg, url) = tokio::task::spawn_blocking(|| {
        let pg = ferry_pgtest::Pg::private();
        let url = pg.database();
        (pg, url)
    })
    .await
    .unwrap();
    let server = TestServer::with_config(on(&url)).await;
    for a in ["alice", "bob"] {
        register_account(&server, a, "secret").await;
    }
    let mut alice = login(&server, "alice", "secret", "echo-message").await;
    let mut carol = server.client("carol").await;
    alice.send("PRIVMSG bob :stored before").await;
    alice
        .until(|l| l.ends_with("PRIVMSG bob :stored before"))
        .await;
    let pg = std::sync::Arc::new(pg);
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop()).await.unwrap();

    // Down: an offline message is refused, said so; a live DM goes on.
    alice.send("PRIVMSG bob :while the database is down").await;
    alice
        .until(|l| l.contains(" FAIL PRIVMSG TEMPORARILY_UNAVAILABLE bob "))
        .await;
    alice.send("PRIVMSG carol :still here").await;
    carol
        .until(|l| l.ends_with("PRIVMSG carol :still here"))
        .await;
    let mut dave = crate::util::cap_client(&server, "dave", "draft/account-registration").await;
    dave.send("REGISTER dave * secret").await;
    dave.until(|l| l.starts_with(":ferry.test FAIL REGISTER "))
        .await;

    // Back: the same node writes again, by itself.
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.start())
        .await
        .unwrap();
    let mut ok = false;
    for _ in 0..50 {
        alice.send("PRIVMSG bob :after the restart").await;
        let l = alice
            .until(|l| {
                l.ends_with("PRIVMSG bob :after the restart") || l.contains(" FAIL PRIVMSG ")
            })
            .await;
        if l.ends_with("PRIVMSG bob :after the restart") {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the node never wrote to PostgreSQL again");
    dave.send("REGISTER dave * secret").await;
    dave.until(|l| l.starts_with(":ferry.test REGISTER SUCCESS dave "))
        .await;
    // bob gets what was acknowledged, and not what was refused.
    let mut bob = login(&server, "bob", "secret", "").await;
    bob.until(|l| l.ends_with("stored before")).await;
    bob.until(|l| l.ends_with("after the restart")).await;
    crate::util::quiet(&mut bob).await;
}
