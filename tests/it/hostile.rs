//! Hostile clients: a reader that never reads across many channels, queues
//! over the server's memory budget, ten thousand JOINs, silent and
//! half-open connections. Each test checks that well-behaved clients keep
//! getting their messages and that the server's own accounting (`STATS z`,
//! `STATS t`) stays within its configured bounds.

use std::collections::HashMap;

use ferry_testkit::{test_config_with, TestClient, TestServer};

use crate::util::{finish_burst, join, oper_client, stats_pairs, Deadline};

/// Messages per write from the talker: one batch stays far under any
/// queue limit, so the reading client never falls behind by much.
const BATCH: usize = 8;
const MAX_MESSAGES: usize = 100_000;

/// `STATS z` until `clients` is `n` (a connection that just ended may
/// still be counted for a moment).
async fn settled(boss: &mut TestClient, n: u64) -> HashMap<String, u64> {
    let deadline = Deadline::new();
    loop {
        let z = stats_pairs(boss, "z").await;
        if z["clients"] == n {
            return z;
        }
        deadline
            .tick(format_args!("clients never settled at {n}: {z:?}"))
            .await;
    }
}

/// A client registered on a 4 KiB receive window (see
/// `TestClient::connect_small_window`).
async fn small_window_client(server: &TestServer, nick: &str) -> TestClient {
    let mut c = TestClient::connect_small_window(server.addr).await;
    c.register(nick).await;
    c
}

/// The talker sends numbered messages to `channels` in turn, in batches;
/// `reader` (in every channel) must read each, in order, until it has
/// seen a QUIT from each of `quitters`. Returns the QUIT lines.
async fn flood_until_quits(
    talker: &mut TestClient,
    reader: &mut TestClient,
    channels: &[String],
    quitters: &[&str],
) -> Vec<String> {
    let pad = "x".repeat(400);
    let mut quits = Vec::new();
    let mut sent = 0;
    while quits.len() < quitters.len() {
        assert!(sent < MAX_MESSAGES, "no QUIT after {sent} messages");
        let mut batch = String::new();
        for i in sent..sent + BATCH {
            let ch = &channels[i % channels.len()];
            batch.push_str(&format!("PRIVMSG {ch} :{i:06} {pad}\r\n"));
        }
        talker.send_raw(batch.as_bytes()).await;
        for i in sent..sent + BATCH {
            let ch = &channels[i % channels.len()];
            let want = format!(
                ":{}!~{}@127.0.0.1 PRIVMSG {ch} :{i:06} {pad}",
                talker.nick, talker.nick
            );
            loop {
                let l = reader.line().await;
                if l == want {
                    break;
                }
                let from = quitters
                    .iter()
                    .find(|q| l.starts_with(&format!(":{q}!~{q}@127.0.0.1 QUIT :")));
                assert!(from.is_some(), "{}: unexpected line {l}", reader.nick);
                quits.push(l);
            }
        }
        sent += BATCH;
    }
    quits
}

/// A client in 20 channels that never reads is cut off at its SendQ; a
/// reader in the same channels gets every message, and no queue ever
/// holds more than its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_client_in_many_channels() {
    let cfg = test_config_with("[limits]\nsendq_bytes = 32768\n");
    let server = TestServer::with_config(cfg).await;
    let mut boss = oper_client(&server, "boss").await;
    let mut talker = server.client("talker").await;
    let mut reader = server.client("reader").await;
    let mut slow = small_window_client(&server, "slow").await;
    let channels: Vec<String> = (0..20).map(|i| format!("#room{i}")).collect();
    for ch in &channels {
        join(&mut talker, ch).await;
        join(&mut slow, ch).await;
        join(&mut reader, ch).await;
    }
    talker.sync().await;
    let quits = flood_until_quits(&mut talker, &mut reader, &channels, &["slow"]).await;
    assert_eq!(
        quits,
        vec![":slow!~slow@127.0.0.1 QUIT :SendQ exceeded".to_string()]
    );
    let z = settled(&mut boss, 3).await;
    assert!(z["largest_queue"] <= z["sendq_per_client"], "{z:?}");
    assert!(z["sendq"] <= z["sendq_hard"], "{z:?}");
    let t = stats_pairs(&mut boss, "t").await;
    assert_eq!(t["shed_sendq"], 1, "{t:?}");
    assert_eq!(t["shed_memory_budget"], 0, "{t:?}");
    // The rest carry on.
    talker.send("PRIVMSG #room3 :still here").await;
    reader
        .until(|l| l == ":talker!~talker@127.0.0.1 PRIVMSG #room3 :still here")
        .await;
}

/// Two slow readers whose queues together pass the server's memory budget
/// (though neither reaches its own SendQ) are shed, largest first, with
/// operators told; the reader in the same channel loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_budget_sheds_the_slowest() {
    let cfg = test_config_with(
        "[limits]\nsendq_bytes = 4194304\nsendq_total_bytes = 262144\n\
         ",
    );
    let server = TestServer::with_config(cfg).await;
    let mut boss = oper_client(&server, "boss").await;
    boss.send("MODE boss +s f").await;
    boss.until(|l| l.contains(" 008 boss +f ")).await;
    let mut talker = server.client("talker").await;
    let mut reader = server.client("reader").await;
    let mut slow1 = small_window_client(&server, "slow1").await;
    let mut slow2 = small_window_client(&server, "slow2").await;
    let channels = vec!["#busy".to_string()];
    for c in [&mut talker, &mut reader, &mut slow1, &mut slow2] {
        join(c, "#busy").await;
    }
    talker.sync().await;
    reader.sync().await;
    let mut quits =
        flood_until_quits(&mut talker, &mut reader, &channels, &["slow1", "slow2"]).await;
    quits.sort();
    assert_eq!(
        quits,
        vec![
            ":slow1!~slow1@127.0.0.1 QUIT :SendQ exceeded (server memory budget)".to_string(),
            ":slow2!~slow2@127.0.0.1 QUIT :SendQ exceeded (server memory budget)".to_string(),
        ]
    );
    // Operators watching limits (+s f) are told who was shed: by the
    // shedder, or at a push past the hard limit, and at the exit.
    let mut told = std::collections::HashSet::new();
    while told.len() < 2 {
        let l = boss.line().await;
        for nick in ["slow1", "slow2"] {
            if l.starts_with(&format!(
                ":ferry.test NOTICE boss :*** Notice -- SendQ exceeded (server memory budget) from {nick} "
            )) {
                told.insert(nick);
            }
        }
    }
    let z = settled(&mut boss, 3).await;
    assert!(z["sendq"] <= z["sendq_soft"], "{z:?}");
    let t = stats_pairs(&mut boss, "t").await;
    assert_eq!(t["shed_memory_budget"], 2, "{t:?}");
    assert_eq!(t["shed_sendq"], 0, "{t:?}");
}

/// Ten thousand JOINs in one go: the first `channels_per_user` succeed,
/// the rest are refused one by one (405), and a conversation beside it
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_joins() {
    let server = TestServer::start().await;
    let mut boss = oper_client(&server, "boss").await;
    let mut joiner = server.client("joiner").await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut lines = String::new();
    for i in 0..10_000 {
        lines.push_str(&format!("JOIN #j{i}\r\n"));
    }
    let send = async {
        joiner.send_raw(lines.as_bytes()).await;
        let mut refused = 0;
        let mut joined = 0;
        while refused + joined < 10_000 {
            let l = joiner.line().await;
            if l.starts_with(":joiner!~joiner@127.0.0.1 JOIN #j") {
                joined += 1;
            } else if l.contains(" 405 joiner #j") {
                refused += 1;
            }
        }
        (joined, refused)
    };
    let chat = async {
        for i in 0..20 {
            alice.send(&format!("PRIVMSG bob :{i}")).await;
            bob.expect(&format!(":alice!~alice@127.0.0.1 PRIVMSG bob :{i}"))
                .await;
        }
    };
    let ((joined, refused), ()) = tokio::join!(send, chat);
    assert_eq!((joined, refused), (100, 9_900));
    let z = stats_pairs(&mut boss, "z").await;
    assert_eq!(z["channels"], 100, "{z:?}");
    assert_eq!(z["clients"], 4, "{z:?}");
    assert!(z["sendq"] <= z["sendq_hard"], "{z:?}");
    joiner.send("PING :still").await;
    joiner.until(|l| l.ends_with(" :still")).await;
}

/// Connections that never register, register half a line and stop, or
/// stop answering after registering are closed by the timeouts; their
/// buffers are freed; a conversation beside them goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_open_connections() {
    let cfg = test_config_with(
        "[limits]\nregistration_timeout_secs = 3\nping_interval_secs = 1\nping_timeout_secs = 3\n\
         ",
    );
    let server = TestServer::with_config(cfg).await;
    let mut boss = oper_client(&server, "boss").await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut partial = Vec::new();
    for i in 0..20 {
        let mut c = server.connect().await;
        c.send_raw(format!("NICK half{i}\r\nUSER half 0 * :half reg").as_bytes())
            .await;
        partial.push(c);
    }
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(server.connect().await);
    }
    let mut gone = Vec::new();
    for i in 0..5 {
        gone.push(server.client(&format!("gone{i}")).await);
    }
    let z = stats_pairs(&mut boss, "z").await;
    assert_eq!(z["clients"], 128, "{z:?}");
    assert!(z["read_buffers"] > 0, "partial lines are buffered: {z:?}");
    // alice and bob answer PINGs and talk; everyone else is silent.
    for i in 0..6 {
        alice.send(&format!("PRIVMSG bob :{i}")).await;
        let want = format!(":alice!~alice@127.0.0.1 PRIVMSG bob :{i}");
        bob.until(|l| l == want).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        alice.send("PONG :ferry.test").await;
        bob.send("PONG :ferry.test").await;
        boss.send("PONG :ferry.test").await;
    }
    for c in silent.iter_mut().chain(partial.iter_mut()) {
        let last = c.closed().await.pop();
        assert_eq!(last.as_deref(), Some("ERROR :Registration timed out"));
    }
    for c in gone.iter_mut() {
        let last = c.closed().await.pop().unwrap_or_default();
        assert!(last.starts_with("ERROR :Ping timeout: "), "{last}");
    }
    let mut z = settled(&mut boss, 3).await;
    assert_eq!(z["unregistered"], 0, "{z:?}");
    // Only the operator's own STATS line, being handled, is buffered, once
    // the closed connections' buffers are freed (after their count drops).
    let deadline = Deadline::new();
    while z["read_buffers"] > 4096 {
        deadline
            .tick(format_args!("read buffers never freed: {z:?}"))
            .await;
        z = stats_pairs(&mut boss, "z").await;
    }
}

/// Connects and registers `nick`, connecting again while the server says
/// "Connecting too fast" (until its rate window has passed).
async fn admitted(server: &TestServer, nick: &str) -> TestClient {
    let deadline = Deadline::new();
    loop {
        let mut c = server.connect().await;
        c.nick = nick.to_string();
        // One write: a refused connection is closed under a second one.
        c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick} real\r\n").as_bytes())
            .await;
        let first = c.line().await;
        if !first.contains("(Connecting too fast") {
            assert!(
                first.starts_with(&format!(":ferry.test 001 {nick} ")),
                "{first}"
            );
            finish_burst(&mut c).await;
            return c;
        }
        deadline
            .tick(format_args!("{nick} still refused: {first}"))
            .await;
    }
}

/// A connection storm from one address, with the default limits (ten
/// clients per address, five new connections per window; the window
/// shortened from a second to 200 ms): the storm is
/// refused with ERROR, the connections already there keep talking, and the
/// server holds no more than the limits allow. One of the admitted then
/// sends a megabyte without a newline, garbage and NULs: it gets 417 and
/// FAILs, and the read buffers stay bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_storm_and_garbage() {
    let cfg = test_config_with(
        "[privacy]\ncloak = false\n[flood]\nburst = 1000\n[limits]\nconnection_window_ms = 200\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let mut boss = oper_client(&server, "boss").await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    // 300 connections as fast as one client can open them; each one's
    // first line says whether it was let in.
    let storm = async {
        let mut conns = Vec::new();
        for i in 0..300 {
            let mut c = server.connect().await;
            c.send_raw(format!("NICK storm{i}\r\nUSER s 0 * :s\r\n").as_bytes())
                .await;
            conns.push(c);
        }
        let mut firsts = Vec::new();
        for c in conns.iter_mut() {
            firsts.push(c.next().await);
        }
        firsts
    };
    let chat = async {
        for i in 0..20 {
            alice.send(&format!("PRIVMSG bob :{i}")).await;
            bob.until(|l| l == format!(":alice!~alice@127.0.0.1 PRIVMSG bob :{i}"))
                .await;
        }
    };
    let (ends, ()) = tokio::join!(storm, chat);
    let refused = ends
        .iter()
        .filter(|l| {
            l.as_deref().is_some_and(|l| {
                l.starts_with("ERROR :Closing Link: 127.0.0.1 (Connecting too fast")
                    || l.starts_with("ERROR :Closing Link: 127.0.0.1 (Too many connections")
            })
        })
        .count();
    // Five new connections a window, ten in all from one address: the
    // rest were refused.
    assert!(refused >= 280, "only {refused} of 300 refused");
    let t = stats_pairs(&mut boss, "t").await;
    assert!(t["refused"] >= 280, "{t:?}");
    let z = stats_pairs(&mut boss, "z").await;
    assert!(z["admitted"] <= 10 && z["clients"] <= 10, "{z:?}");
    drop(ends);
    // The storm's survivors are gone; once the window has passed one more
    // may come.
    settled(&mut boss, 3).await;
    let mut mallory = admitted(&server, "mallory").await;
    mallory.send_raw(&vec![b'x'; 1 << 20]).await;
    mallory
        .send_raw(b"\r\n\x00\x00\xff\xfe\r\nPRIVMSG bob :a\x00b\r\n")
        .await;
    mallory
        .until(|l| l == ":ferry.test 417 mallory :Input line was too long")
        .await;
    mallory.until(|l| l.contains(" FAIL * INVALID_")).await;
    mallory
        .until(|l| l.contains(" FAIL PRIVMSG INVALID_MESSAGE "))
        .await;
    let z = stats_pairs(&mut boss, "z").await;
    // Each connection holds at most about one line plus what fake lag
    // keeps waiting.
    assert!(
        z["read_buffers"] <= z["clients"] * (16 * 1024 + z["recvq_limit"]),
        "{z:?}"
    );
    alice.send("PRIVMSG bob :still").await;
    bob.until(|l| l == ":alice!~alice@127.0.0.1 PRIVMSG bob :still")
        .await;
}
