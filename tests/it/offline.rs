//! Messages to an account that is offline: stored (the sender's echo
//! comes only once they are), delivered at its next login exactly once,
//! in order, with their original time and msgid.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, cap_client, is_server_time, quiet, quit, register_account, sasl_client, tag,
};

const OFFLINE: &str = "is offline; your messages will be delivered when they log in";

/// Reads a `chathistory` batch for `nick`: returns the lines inside it,
/// each with its `batch` tag checked and removed.
async fn read_batch(c: &mut TestClient, nick: &str) -> Vec<String> {
    let start = c.line().await;
    let id = start
        .strip_prefix(":ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(&format!(" chathistory {nick}")))
        .unwrap_or_else(|| panic!("not a chathistory batch: {start}"))
        .to_string();
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        if l == format!(":ferry.test BATCH -{id}") {
            return lines;
        }
        let rest = l
            .strip_prefix(&format!("@batch={id};"))
            .unwrap_or_else(|| panic!("not in batch {id}: {l}"));
        lines.push(format!("@{rest}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_at_login() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", "echo-message message-tags server-time").await;
    let mut carol = server.client("carol").await;

    let mut echoes = Vec::new();
    alice.send("PRIVMSG bob :one").await;
    let echo = alice.line().await;
    assert!(
        echo.ends_with(" :alice!~alice@127.0.0.1 PRIVMSG bob :one"),
        "{echo}"
    );
    echoes.push(echo);
    alice
        .expect(&format!(":ferry.test 301 alice bob :{OFFLINE}"))
        .await;
    // Told once per burst.
    alice.send("PRIVMSG bob :two").await;
    let echo = alice.line().await;
    assert!(
        echo.ends_with(" :alice!~alice@127.0.0.1 PRIVMSG bob :two"),
        "{echo}"
    );
    echoes.push(echo);
    alice.send("NOTICE bob :three").await;
    let echo = alice.line().await;
    assert!(
        echo.ends_with(" :alice!~alice@127.0.0.1 NOTICE bob :three"),
        "{echo}"
    );
    echoes.push(echo);
    quiet(&mut alice).await;
    // Without echo-message: the 301 only; a NOTICE gets no reply at all.
    carol.send("PRIVMSG bob :four").await;
    carol
        .expect(&format!(":ferry.test 301 carol bob :{OFFLINE}"))
        .await;
    carol.send("NOTICE bob :five").await;
    quiet(&mut carol).await;
    // A nick that is no account is still unknown.
    carol.send("PRIVMSG nobody :hello?").await;
    carol
        .expect(":ferry.test 401 carol nobody :No such nick/channel")
        .await;

    let mut bob = sasl_client(&server, "bob", "secret", "batch server-time message-tags").await;
    let got = read_batch(&mut bob, "bob").await;
    assert_eq!(got.len(), 5, "{got:#?}");
    // alice's three carry the time and msgid of her echoes.
    for (g, e) in got.iter().zip(&echoes) {
        let (time, msgid) = (tag(e, "time").unwrap(), tag(e, "msgid").unwrap());
        let body = e.split_once(' ').unwrap().1;
        assert_eq!(*g, format!("@time={time};msgid={msgid} {body}"));
    }
    for (g, text) in got[3..]
        .iter()
        .zip(["PRIVMSG bob :four", "NOTICE bob :five"])
    {
        let (time, msgid) = (tag(g, "time").unwrap(), tag(g, "msgid").unwrap());
        assert!(is_server_time(time), "{g}");
        assert_eq!(
            *g,
            format!("@time={time};msgid={msgid} :carol!~carol@127.0.0.1 {text}")
        );
    }
    quiet(&mut bob).await;
    quit(&mut bob).await;

    // Delivered once: nothing comes again.
    let mut bob = sasl_client(&server, "bob", "secret", "batch server-time message-tags").await;
    quiet(&mut bob).await;
    quit(&mut bob).await;
    alice.send("PRIVMSG bob :six").await;
    alice.line().await;
    quiet(&mut alice).await;

    // Without server-time the time is in the text.
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    let l = bob.line().await;
    let text = l
        .strip_prefix(":alice!~alice@127.0.0.1 PRIVMSG bob :[")
        .and_then(|r| r.strip_suffix("] six"))
        .unwrap_or_else(|| panic!("not a stamped message: {l}"));
    assert!(is_server_time(text), "{l}");
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_is_capped() {
    let server = TestServer::with_config(accounts_config("offline_max_messages = 2", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", "echo-message").await;
    alice.send("PRIVMSG bob :one").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :one")
        .await;
    alice
        .expect(&format!(":ferry.test 301 alice bob :{OFFLINE}"))
        .await;
    alice.send("PRIVMSG bob :two").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :two")
        .await;
    // No echo for a message that was not accepted.
    alice.send("PRIVMSG bob :three").await;
    alice
        .expect(
            ":ferry.test FAIL PRIVMSG OFFLINE_QUEUE_FULL bob :Too many messages are waiting for this user; yours was not accepted",
        )
        .await;
    alice.send("NOTICE bob :four").await;
    quiet(&mut alice).await;

    let mut bob = sasl_client(&server, "bob", "secret", "batch").await;
    let got = read_batch(&mut bob, "bob").await;
    let texts: Vec<&str> = got.iter().map(|l| l.rsplit_once(':').unwrap().1).collect();
    assert_eq!(texts, ["one", "two"], "{got:#?}");
    quiet(&mut bob).await;
    quit(&mut bob).await;
    // Room again.
    alice.send("PRIVMSG bob :five").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :five")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::with_config_in(accounts_config("", ""), dir.path()).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", "echo-message").await;
    for text in ["before", "the", "restart"] {
        alice.send(&format!("PRIVMSG bob :{text}")).await;
        alice
            .expect(&format!(":alice!~alice@127.0.0.1 PRIVMSG bob :{text}"))
            .await;
        if text == "before" {
            alice
                .expect(&format!(":ferry.test 301 alice bob :{OFFLINE}"))
                .await;
        }
    }
    server.stop().await;
    drop(alice);

    let server = TestServer::with_config_in(accounts_config("", ""), dir.path()).await;
    let mut bob = sasl_client(&server, "bob", "secret", "batch").await;
    let got = read_batch(&mut bob, "bob").await;
    let bodies: Vec<&str> = got
        .iter()
        .map(|g| {
            assert!(tag(g, "time").is_some_and(is_server_time), "{g}");
            g.split_once(' ').unwrap().1
        })
        .collect();
    assert_eq!(
        bodies,
        ["before", "the", "restart"].map(|t| format!(":alice!~alice@127.0.0.1 PRIVMSG bob :{t}"))
    );
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callerid_requests_wait_too() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    bob.send("MODE bob +g").await;
    bob.expect(":bob MODE bob :+g").await;
    quit(&mut bob).await;

    let mut stranger = cap_client(&server, "stranger", "echo-message").await;
    stranger.send("PRIVMSG bob :let me in").await;
    stranger
        .expect(
            ":ferry.test 716 stranger bob :is in +g mode (server-side ignore); they will see your request when they log in.",
        )
        .await;
    quiet(&mut stranger).await;

    let when = |l: &str, from: &str| -> bool {
        l.strip_prefix(&format!(
            ":ferry.test 718 bob {from} * :asked to message you while you were away ("
        ))
        .and_then(|r| r.strip_suffix(&format!("); /ACCEPT {from} to allow")))
        .is_some_and(is_server_time)
    };
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    bob.expect(":bob MODE bob :+g").await;
    let l = bob.line().await;
    assert!(when(&l, "stranger"), "{l}");
    quiet(&mut bob).await;
    // The message itself was not kept.
    bob.send("ACCEPT stranger").await;
    quiet(&mut bob).await;
    quit(&mut bob).await;

    // Accepted: the next one waits like any other.
    let mut carol = server.client("carol").await;
    stranger.send("PRIVMSG bob :thanks").await;
    stranger
        .expect(":stranger!~stranger@127.0.0.1 PRIVMSG bob :thanks")
        .await;
    stranger
        .expect(&format!(":ferry.test 301 stranger bob :{OFFLINE}"))
        .await;
    carol.send("PRIVMSG bob :me too").await;
    carol
        .expect(
            ":ferry.test 716 carol bob :is in +g mode (server-side ignore); they will see your request when they log in.",
        )
        .await;
    let mut bob = sasl_client(&server, "bob", "secret", "server-time").await;
    bob.expect(":bob MODE bob :+g").await;
    let a = bob.line().await;
    let b = bob.line().await;
    let (req, msg) = if a.starts_with(":ferry.test 718") {
        (a, b)
    } else {
        (b, a)
    };
    assert!(when(&req, "carol"), "{req}");
    let t = tag(&msg, "time").unwrap_or("");
    assert_eq!(
        msg,
        format!("@time={t} :stranger!~stranger@127.0.0.1 PRIVMSG bob :thanks")
    );
    quiet(&mut bob).await;
}

/// A burst whose first lines wait to be stored for an offline account: the
/// lines behind them are handled meanwhile (one commit, one write of the
/// echoes), yet every reply keeps the order of the lines, labeled or not,
/// and a command that is no message waits for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_its_order() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", "echo-message labeled-response").await;
    let mut carol = server.client("carol").await;
    alice
        .send_raw(
            b"PRIVMSG bob :1\r\nPRIVMSG carol :2\r\n@label=x3 PRIVMSG bob :3\r\n\
              PRIVMSG nobody :4\r\nNOTICE bob :5\r\nWHOIS carol\r\nPRIVMSG bob :6\r\n",
        )
        .await;
    let me = ":alice!~alice@127.0.0.1";
    alice.expect(&format!("{me} PRIVMSG bob :1")).await;
    alice
        .expect(&format!(":ferry.test 301 alice bob :{OFFLINE}"))
        .await;
    alice.expect(&format!("{me} PRIVMSG carol :2")).await;
    alice
        .expect(&format!("@label=x3 {me} PRIVMSG bob :3"))
        .await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.expect(&format!("{me} NOTICE bob :5")).await;
    let l = alice.line().await;
    assert!(l.starts_with(":ferry.test 311 alice carol "), "{l}");
    loop {
        let l = alice.line().await;
        if l.starts_with(":ferry.test 318 ") {
            break;
        }
    }
    alice.expect(&format!("{me} PRIVMSG bob :6")).await;
    quiet(&mut alice).await;
    carol.expect(&format!("{me} PRIVMSG carol :2")).await;

    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    for (verb, text) in [
        ("PRIVMSG", "1"),
        ("PRIVMSG", "3"),
        ("NOTICE", "5"),
        ("PRIVMSG", "6"),
    ] {
        let l = bob.line().await;
        assert!(
            l.starts_with(&format!("{me} {verb} bob :[")) && l.ends_with(&format!("] {text}")),
            "{l}"
        );
    }
    quiet(&mut bob).await;
}

/// A message stored for an account that is logged in under another nick
/// reaches that connection at once (it is poked by account, not nick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_for_an_account_logged_in_under_another_nick() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut bob = server.connect().await;
    crate::util::sasl::sasl_hello(&mut bob, "bobby", "bob", "").await;
    crate::util::sasl::authenticate_plain(&mut bob, "bob", "secret").await;
    bob.until(|l| l.contains(" 903 ")).await;
    bob.send("CAP END").await;
    bob.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    let mut alice = server.client("alice").await;
    alice.send("PRIVMSG bob :where are you?").await;
    alice.until(|l| l.contains(" 301 alice bob ")).await;
    let l = bob.until(|l| l.contains(" PRIVMSG bobby ")).await;
    assert!(l.ends_with("] where are you?"), "{l}");
    quiet(&mut bob).await;
}
