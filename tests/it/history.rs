//! CHATHISTORY (draft/chathistory): channel and direct-message history,
//! by timestamp and by msgid, and TARGETS.

use std::time::Duration;

use ferry_testkit::{TestClient, TestServer};

use crate::util::{accounts_config, cap_client, join, quiet, register_account, sasl_client, tag};

const CAPS: &str = "batch echo-message message-tags server-time";

/// A sent message as its echo showed it.
#[derive(Debug, Clone)]
struct Sent {
    time: String,
    msgid: String,
    /// `:source PRIVMSG target :text`
    body: String,
}

impl Sent {
    /// The line inside a chathistory batch `id`.
    fn in_batch(&self, id: &str) -> String {
        format!(
            "@batch={id};time={};msgid={} {}",
            self.time, self.msgid, self.body
        )
    }
}

/// Sends a PRIVMSG and reads its echo (the sender has echo-message,
/// message-tags and server-time).
async fn say(c: &mut TestClient, target: &str, text: &str) -> Sent {
    c.send(&format!("PRIVMSG {target} :{text}")).await;
    let echo = c.line().await;
    let body = echo
        .split_once(' ')
        .map(|x| x.1)
        .unwrap_or_else(|| panic!("no tags: {echo}"));
    assert_eq!(
        body,
        format!(":{}!~{}@127.0.0.1 PRIVMSG {target} :{text}", c.nick, c.nick)
    );
    Sent {
        time: tag(&echo, "time").expect("time").to_string(),
        msgid: tag(&echo, "msgid").expect("msgid").to_string(),
        body: body.to_string(),
    }
}

/// Sends a CHATHISTORY query and reads the batch for `target`: checks its
/// lines against `want`.
async fn expect_history(c: &mut TestClient, query: &str, target: &str, want: &[&Sent]) {
    c.send(&format!("CHATHISTORY {query}")).await;
    let start = c.line().await;
    let id = start
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(&format!(" chathistory {target}")))
        .unwrap_or_else(|| panic!("{query}: not a chathistory batch: {start}"))
        .to_string();
    let mut got = Vec::new();
    loop {
        let l = c.line().await;
        if l == format!(":ferry.test BATCH -{id}") {
            break;
        }
        got.push(l);
    }
    let want: Vec<String> = want.iter().map(|s| s.in_batch(&id)).collect();
    assert_eq!(got, want, "{query}");
}

/// A pause so that consecutive messages get distinct millisecond times.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_history() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", CAPS).await;
    let mut bob = cap_client(&server, "bob", "batch message-tags server-time").await;
    join(&mut alice, "#h").await;
    join(&mut bob, "#h").await;
    alice.until_cmd("JOIN").await;
    let mut m = Vec::new();
    for i in 1..=6 {
        m.push(say(&mut alice, "#h", &format!("m{i}")).await);
        bob.until_cmd("PRIVMSG").await;
        tick().await;
    }
    let ts = |s: &Sent| format!("timestamp={}", s.time);
    let id = |s: &Sent| format!("msgid={}", s.msgid);
    let h = &mut bob;
    let all: Vec<&Sent> = m.iter().collect();
    expect_history(h, "LATEST #h * 10", "#h", &all).await;
    expect_history(h, "LATEST #H * 2", "#H", &all[4..]).await;
    expect_history(h, &format!("LATEST #h {} 10", id(&m[3])), "#h", &all[4..]).await;
    expect_history(h, &format!("LATEST #h {} 10", ts(&m[3])), "#h", &all[4..]).await;
    expect_history(h, &format!("BEFORE #h {} 2", id(&m[3])), "#h", &all[1..3]).await;
    expect_history(h, &format!("BEFORE #h {} 10", ts(&m[3])), "#h", &all[..3]).await;
    expect_history(h, &format!("AFTER #h {} 2", id(&m[1])), "#h", &all[2..4]).await;
    expect_history(h, &format!("AFTER #h {} 10", ts(&m[4])), "#h", &all[5..]).await;
    expect_history(h, &format!("AROUND #h {} 3", id(&m[2])), "#h", &all[1..4]).await;
    expect_history(h, &format!("AROUND #h {} 3", ts(&m[2])), "#h", &all[1..4]).await;
    let q = format!("BETWEEN #h {} {} 10", id(&m[0]), id(&m[4]));
    expect_history(h, &q, "#h", &all[1..4]).await;
    // Either order; with a limit, the end nearest the first bound.
    let q = format!("BETWEEN #h {} {} 10", ts(&m[4]), ts(&m[0]));
    expect_history(h, &q, "#h", &all[1..4]).await;
    let q = format!("BETWEEN #h {} {} 2", ts(&m[4]), ts(&m[0]));
    expect_history(h, &q, "#h", &all[2..4]).await;
    let q = format!("BETWEEN #h {} {} 2", ts(&m[0]), ts(&m[4]));
    expect_history(h, &q, "#h", &all[1..3]).await;
    // An unknown msgid: nothing.
    expect_history(h, "BEFORE #h msgid=nosuchid 10", "#h", &[]).await;
    quiet(h).await;

    bob.send("CHATHISTORY BEFORE #h yesterday 10").await;
    bob.expect(":ferry.test FAIL CHATHISTORY INVALID_PARAMS BEFORE :Bad reference")
        .await;
    bob.send("CHATHISTORY LATEST #h * many").await;
    bob.expect(":ferry.test FAIL CHATHISTORY INVALID_PARAMS LATEST :Bad limit")
        .await;
    bob.send("CHATHISTORY SIDEWAYS #h * 10").await;
    bob.expect(":ferry.test FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS :Unknown subcommand")
        .await;

    // Only members see a channel's history.
    let mut carol = cap_client(&server, "carol", "batch").await;
    carol.send("CHATHISTORY LATEST #h * 10").await;
    carol
        .expect(
            ":ferry.test FAIL CHATHISTORY INVALID_TARGET LATEST #h :You cannot see the history of that target",
        )
        .await;
    carol.send("CHATHISTORY LATEST #nowhere * 10").await;
    carol
        .expect(
            ":ferry.test FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere :You cannot see the history of that target",
        )
        .await;
    // Having joined, one does (messages from before it joined included).
    let mut carl = cap_client(&server, "carl", "batch message-tags server-time").await;
    join(&mut carl, "#h").await;
    expect_history(&mut carl, "LATEST #h * 1", "#h", &all[5..]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgid_bounds_within_one_millisecond() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", CAPS).await;
    join(&mut alice, "#h").await;
    // Sent at once: several messages may share a millisecond.
    alice
        .send_raw(b"PRIVMSG #h :p1\r\nPRIVMSG #h :p2\r\nPRIVMSG #h :p3\r\nPRIVMSG #h :p4\r\nPRIVMSG #h :p5\r\n")
        .await;
    let mut p = Vec::new();
    for i in 1..=5 {
        let echo = alice.line().await;
        let body = echo.split_once(' ').unwrap().1.to_string();
        assert_eq!(body, format!(":alice!~alice@127.0.0.1 PRIVMSG #h :p{i}"));
        p.push(Sent {
            time: tag(&echo, "time").unwrap().to_string(),
            msgid: tag(&echo, "msgid").unwrap().to_string(),
            body,
        });
    }
    let id = |s: &Sent| format!("msgid={}", s.msgid);
    let all: Vec<&Sent> = p.iter().collect();
    let a = &mut alice;
    expect_history(a, &format!("AFTER #h {} 10", id(&p[1])), "#h", &all[2..]).await;
    expect_history(a, &format!("BEFORE #h {} 10", id(&p[3])), "#h", &all[..3]).await;
    expect_history(a, &format!("LATEST #h {} 10", id(&p[2])), "#h", &all[3..]).await;
    let q = format!("BETWEEN #h {} {} 10", id(&p[0]), id(&p[4]));
    expect_history(a, &q, "#h", &all[1..4]).await;
    let q = format!("BETWEEN #h {} {} 10", id(&p[4]), id(&p[0]));
    expect_history(a, &q, "#h", &all[1..4]).await;
    expect_history(a, &format!("AROUND #h {} 3", id(&p[2])), "#h", &all[1..4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_message_history_and_targets() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "alice", "secret").await;
    register_account(&server, "bob", "secret").await;
    let mut alice = sasl_client(&server, "alice", "secret", CAPS).await;
    let mut bob = sasl_client(&server, "bob", "secret", CAPS).await;
    join(&mut alice, "#h").await;
    let c1 = say(&mut alice, "#h", "in the channel").await;
    tick().await;
    let d1 = say(&mut alice, "bob", "d1").await;
    bob.until_cmd("PRIVMSG").await;
    tick().await;
    let d2 = say(&mut bob, "alice", "d2").await;
    alice.until_cmd("PRIVMSG").await;
    tick().await;
    let d3 = say(&mut alice, "bob", "d3").await;
    bob.until_cmd("PRIVMSG").await;

    expect_history(&mut alice, "LATEST bob * 10", "bob", &[&d1, &d2, &d3]).await;
    expect_history(&mut bob, "LATEST alice * 10", "alice", &[&d1, &d2, &d3]).await;
    let q = format!("BEFORE alice msgid={} 10", d3.msgid);
    expect_history(&mut bob, &q, "alice", &[&d1, &d2]).await;
    // Someone else's conversation is not there for a third party.
    let mut carol = cap_client(&server, "carol", "batch").await;
    carol.send("CHATHISTORY LATEST alice * 10").await;
    let start = carol.line().await;
    let id = start
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(" chathistory alice"))
        .unwrap_or_else(|| panic!("{start}"))
        .to_string();
    carol.expect(&format!(":ferry.test BATCH -{id}")).await;

    // bob offline: the conversation is still there, offline messages too.
    crate::util::quit(&mut bob).await;
    tick().await;
    let d4 = say(&mut alice, "bob", "d4").await;
    alice.until_cmd("301").await;
    expect_history(&mut alice, "LATEST bob * 10", "bob", &[&d1, &d2, &d3, &d4]).await;

    // TARGETS: the conversations with something between two times, oldest
    // first, each with its newest message's time.
    alice
        .send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
        .await;
    let start = alice.line().await;
    let id = start
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(" draft/chathistory-targets"))
        .unwrap_or_else(|| panic!("not a targets batch: {start}"))
        .to_string();
    alice
        .expect(&format!(
            "@batch={id} :ferry.test CHATHISTORY TARGETS #h {}",
            c1.time
        ))
        .await;
    alice
        .expect(&format!(
            "@batch={id} :ferry.test CHATHISTORY TARGETS bob {}",
            d4.time
        ))
        .await;
    alice.expect(&format!(":ferry.test BATCH -{id}")).await;
    // A window that holds only the channel's message.
    alice
        .send(&format!(
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp={} 10",
            d1.time
        ))
        .await;
    let start = alice.line().await;
    let id = start
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(" draft/chathistory-targets"))
        .unwrap_or_else(|| panic!("not a targets batch: {start}"))
        .to_string();
    alice
        .expect(&format!(
            "@batch={id} :ferry.test CHATHISTORY TARGETS #h {}",
            c1.time
        ))
        .await;
    alice.expect(&format!(":ferry.test BATCH -{id}")).await;
    alice.send("CHATHISTORY TARGETS * * 10").await;
    alice
        .expect(":ferry.test FAIL CHATHISTORY INVALID_PARAMS TARGETS :TARGETS takes two timestamps")
        .await;
    quiet(&mut alice).await;
}

/// Lines that arrive in the same read as a command waiting for the store
/// are handled only after it: the PONG comes after the whole history batch
/// (a PING pipelined behind CHATHISTORY was once answered first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_lines_wait_for_a_deferred_command() {
    let server = TestServer::start().await;
    let mut alice = cap_client(
        &server,
        "alice",
        "batch server-time message-tags draft/chathistory",
    )
    .await;
    join(&mut alice, "#pipe").await;
    alice.send("PRIVMSG #pipe :one").await;
    alice
        .send_raw(b"CHATHISTORY LATEST #pipe * 10\r\nPING :after-history\r\n")
        .await;
    let start = alice.line().await;
    assert!(
        start.contains(" BATCH +") && start.ends_with(" chathistory #pipe"),
        "{start}"
    );
    let msg = alice.line().await;
    assert!(
        msg.ends_with(":alice!~alice@127.0.0.1 PRIVMSG #pipe :one"),
        "{msg}"
    );
    let end = alice.line().await;
    assert!(end.contains(" BATCH -"), "{end}");
    alice
        .expect(":ferry.test PONG ferry.test :after-history")
        .await;
}
