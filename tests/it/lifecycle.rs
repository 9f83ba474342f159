//! How connections end: vanishing clients, server shutdown, registration
//! and ping timeouts.

use ferry_testkit::{test_config_with, TestClient, TestServer};

use crate::util::{config, join, oper_client, quiet, stats_pairs, Deadline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_line() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut ghost = server.client("ghost").await;
    join(&mut alice, "#c").await;
    join(&mut ghost, "#c").await;
    alice.expect(":ghost!~ghost@127.0.0.1 JOIN #c").await;
    // Nothing is left unread on the ghost's side, so closing sends FIN, not RST.
    quiet(&mut ghost).await;
    ghost.send_raw(b"PRIVMSG alice :hal").await;
    drop(ghost);
    alice
        .expect(":ghost!~ghost@127.0.0.1 QUIT :Connection closed")
        .await;
    quiet(&mut alice).await;

    // The server keeps serving; the nick is free again.
    let mut newbie = server.client("newbie").await;
    newbie.send("PRIVMSG alice :hi").await;
    alice
        .expect(":newbie!~newbie@127.0.0.1 PRIVMSG alice :hi")
        .await;
    let mut ghost = server.client("ghost").await;
    ghost.send("PRIVMSG alice :back").await;
    alice
        .expect(":ghost!~ghost@127.0.0.1 PRIVMSG alice :back")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_client_vanishing() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("NICK half").await;
    c.sync().await;
    c.send_raw(b"USER half 0 * :ha").await;
    drop(c);
    // Its nick is released once the server notices.
    let mut alice = server.client("alice").await;
    loop {
        alice.send("ISON half").await;
        let l = alice.line().await;
        if l == ":ferry.test 303 alice :" {
            break;
        }
        assert_eq!(l, ":ferry.test 303 alice half");
    }
    server.client("half").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_clients() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#c").await;
    let mut unregistered = server.connect().await;
    unregistered.send("NICK early").await;
    unregistered.sync().await;
    server.stop().await;
    for c in [&mut alice, &mut bob, &mut unregistered] {
        assert_eq!(
            c.closed().await,
            ["ERROR :Server shutting down"],
            "{}",
            c.nick
        );
    }
}

fn timeout_config() -> ferry_server::Config {
    config(
        "[server]\nname = \"ferry.test\"\n\
         [limits]\nregistration_timeout_secs = 1\nping_interval_secs = 1\nping_timeout_secs = 2\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_timeout() {
    let server = TestServer::with_config(timeout_config()).await;
    let mut silent = server.connect().await;
    let mut half = server.connect().await;
    half.send("NICK half").await;
    silent.expect("ERROR :Registration timed out").await;
    assert_eq!(silent.next().await, None);
    half.expect("ERROR :Registration timed out").await;
    assert_eq!(half.next().await, None);
    // The nick it held is free.
    server.client("half").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_timeout() {
    let server = TestServer::with_config(timeout_config()).await;
    let idle = server.client("idle");
    let alive = server.client("alive");
    let (mut idle, mut alive): (TestClient, TestClient) = tokio::join!(idle, alive);
    let silent = async {
        idle.expect("PING :ferry.test").await;
        let l = idle.line().await;
        let secs = l
            .strip_prefix("ERROR :Ping timeout: ")
            .and_then(|r| r.strip_suffix(" seconds"))
            .unwrap_or_else(|| panic!("not a ping timeout: {l}"));
        assert!(secs.parse::<u64>().is_ok_and(|s| s >= 2), "{l}");
        assert_eq!(idle.next().await, None);
    };
    let answering = async {
        for _ in 0..3 {
            alive.expect("PING :ferry.test").await;
            alive.send("PONG :ferry.test").await;
        }
    };
    tokio::join!(silent, answering);
    // Answering kept it connected.
    alive.send("PING :still").await;
    alive
        .until(|l| l == ":ferry.test PONG ferry.test :still")
        .await;
}

/// Waits until `STATS z` counts `n` parked clients (all but `boss`, who
/// asks).
async fn all_parked(boss: &mut TestClient, n: u64) {
    let deadline = Deadline::new();
    loop {
        let z = stats_pairs(boss, "z").await;
        if z["parked"] == n {
            return;
        }
        deadline.tick(format_args!("not {n} parked: {z:?}")).await;
    }
}

/// Idle clients are parked off the runtime after `limits.park_after_secs`
/// (`STATS z` counts them) and come back for whatever concerns them: a line
/// of their own, a message for them, a TLS client as well, and shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_park_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = ferry_testkit::write_self_signed(dir.path(), "server");
    let cfg = test_config_with(&format!(
        "[limits]\npark_after_secs = 1\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\ntls = true\n",
        files.cert.display(),
        files.key.display()
    ));
    let server = TestServer::with_config(cfg).await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.connect_tls(1, None).await;
    carol.register("carol").await;
    let mut boss = oper_client(&server, "boss").await;
    // All but the one asking are parked a second after their last line.
    all_parked(&mut boss, 3).await;

    // A message for a parked client (the sender parked too), both ways,
    // plain and TLS.
    bob.send("PRIVMSG alice :wake up").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG alice :wake up")
        .await;
    alice.send("PRIVMSG carol :you too").await;
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG carol :you too")
        .await;
    carol.send("PRIVMSG alice :hello").await;
    alice
        .expect(":carol!~carol@127.0.0.1 PRIVMSG alice :hello")
        .await;
    // A line of its own: the reply comes.
    all_parked(&mut boss, 3).await;
    bob.send("PING :still-there").await;
    bob.expect(":ferry.test PONG ferry.test :still-there").await;
    carol.send("WHOIS carol").await;
    let l = carol.line().await;
    assert!(l.starts_with(":ferry.test 311 carol carol "), "{l}");

    // Shutdown reaches parked clients too.
    all_parked(&mut boss, 3).await;
    server.stop().await;
    for c in [&mut alice, &mut bob] {
        c.until(|l| l.starts_with("ERROR :")).await;
    }
}
