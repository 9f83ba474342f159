//! Multiline messages (draft/multiline): a batch of lines sent as one
//! message — relayed as a batch to clients that support it, line by line
//! to the others, kept for offline accounts and in history.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, cap_client, join, quiet, register_account, sasl_client, split_tags, tag,
};

const ML: &str = "message-tags batch echo-message server-time labeled-response draft/multiline";
const PLAIN: &str = "message-tags server-time";

/// Sends a multiline batch of `lines` (text, joined to the one before)
/// to `target`.
async fn send_batch(c: &mut TestClient, label: &str, target: &str, lines: &[(&str, bool)]) {
    c.send(&format!(
        "@label={label} BATCH +b1 draft/multiline {target}"
    ))
    .await;
    for (text, concat) in lines {
        let tags = if *concat {
            "@batch=b1;draft/multiline-concat"
        } else {
            "@batch=b1"
        };
        c.send(&format!("{tags} PRIVMSG {target} :{text}")).await;
    }
    c.send("BATCH -b1").await;
}

/// Reads a whole batch: its start line, then its lines (tags kept).
async fn read_batch(c: &mut TestClient) -> (String, Vec<String>) {
    let start = c.until(|l| split_tags(l).1.contains(" BATCH +")).await;
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        if split_tags(&l).1.contains(" BATCH -") {
            return (start, lines);
        }
        lines.push(l);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_message_and_lines_for_older_clients() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = cap_client(&server, "alice", ML).await;
    join(&mut alice, "#room").await;
    let mut bob = cap_client(&server, "bob", ML).await;
    join(&mut bob, "#room").await;
    let mut carol = cap_client(&server, "carol", PLAIN).await;
    join(&mut carol, "#room").await;
    alice
        .until(|l| l.contains("carol!") && l.contains(" JOIN "))
        .await;
    bob.until(|l| l.contains("carol!") && l.contains(" JOIN "))
        .await;

    let lines = [
        ("first line", false),
        ("", false),
        ("second ", false),
        ("continued", true),
    ];
    send_batch(&mut alice, "L1", "#room", &lines).await;
    // The sender's echo is the batch, its label on its start.
    let (start, echo) = read_batch(&mut alice).await;
    assert_eq!(tag(&start, "label"), Some("L1"), "{start}");
    assert!(
        split_tags(&start).1.ends_with(" draft/multiline #room"),
        "{start}"
    );
    let msgid = tag(&start, "msgid")
        .expect("a msgid on the batch")
        .to_string();
    assert_eq!(echo.len(), 4);

    // Another client with the cap: the same batch, one msgid.
    let (start, got) = read_batch(&mut bob).await;
    assert_eq!(tag(&start, "msgid"), Some(msgid.as_str()));
    let texts: Vec<&str> = got.iter().map(|l| split_tags(l).1).collect();
    assert_eq!(
        texts,
        [
            ":alice!~alice@127.0.0.1 PRIVMSG #room :first line",
            ":alice!~alice@127.0.0.1 PRIVMSG #room :",
            ":alice!~alice@127.0.0.1 PRIVMSG #room :second ",
            ":alice!~alice@127.0.0.1 PRIVMSG #room :continued",
        ]
    );
    assert!(got.iter().all(|l| tag(l, "msgid").is_none()));
    assert!(
        tag(&got[3], "draft/multiline-concat").is_some(),
        "{}",
        got[3]
    );

    // Without the cap: each line that is not blank, the first with the
    // batch's msgid.
    let a = carol.line().await;
    let b = carol.line().await;
    let c = carol.line().await;
    assert_eq!(tag(&a, "msgid"), Some(msgid.as_str()));
    assert_eq!(
        split_tags(&a).1,
        ":alice!~alice@127.0.0.1 PRIVMSG #room :first line"
    );
    assert_eq!(
        split_tags(&b).1,
        ":alice!~alice@127.0.0.1 PRIVMSG #room :second "
    );
    assert_eq!(
        split_tags(&c).1,
        ":alice!~alice@127.0.0.1 PRIVMSG #room :continued"
    );
    assert!(tag(&b, "msgid").is_none() && tag(&c, "msgid").is_none());
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_batches_are_refused() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = cap_client(&server, "alice", ML).await;
    join(&mut alice, "#room").await;
    let mut bob = cap_client(&server, "bob", ML).await;
    join(&mut bob, "#room").await;
    alice
        .until(|l| l.contains("bob!") && l.contains(" JOIN "))
        .await;

    // A blank line joined to the one before.
    alice.send("BATCH +x draft/multiline #room").await;
    alice.send("@batch=x PRIVMSG #room :hi").await;
    alice
        .send("@batch=x;draft/multiline-concat PRIVMSG #room :")
        .await;
    alice.send("BATCH -x").await;
    let l = alice.line().await;
    assert!(
        l.starts_with(":ferry.test FAIL BATCH MULTILINE_INVALID "),
        "{l}"
    );
    // A line for another batch.
    alice.send("BATCH +y draft/multiline #room").await;
    alice.send("@batch=z PRIVMSG #room :hi").await;
    let l = alice.line().await;
    assert!(
        l.starts_with(":ferry.test FAIL BATCH MULTILINE_INVALID "),
        "{l}"
    );
    alice.send("BATCH -y").await;
    // Too many lines.
    alice.send("BATCH +n draft/multiline #room").await;
    for _ in 0..33 {
        alice.send("@batch=n PRIVMSG #room :hi").await;
    }
    alice.send("BATCH -n").await;
    alice
        .expect(":ferry.test FAIL BATCH MULTILINE_MAX_LINES 32 :Too many lines in the batch")
        .await;
    // Too many bytes.
    alice.send("BATCH +m draft/multiline #room").await;
    let long = "x".repeat(400);
    for _ in 0..11 {
        alice.send(&format!("@batch=m PRIVMSG #room :{long}")).await;
    }
    alice.send("BATCH -m").await;
    alice
        .expect(":ferry.test FAIL BATCH MULTILINE_MAX_BYTES 4096 :Too many bytes in the batch")
        .await;
    quiet(&mut alice).await;
    // Nothing of any of them reached bob.
    quiet(&mut bob).await;
    // Without the cap, a batch is refused.
    let mut carol = cap_client(&server, "carol", PLAIN).await;
    carol.send("BATCH +c draft/multiline #room").await;
    let l = carol.line().await;
    assert!(
        l.starts_with(":ferry.test FAIL BATCH MULTILINE_INVALID "),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_for_an_offline_account_waits_and_is_in_history() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", ML).await;
    send_batch(
        &mut alice,
        "L2",
        "bob",
        &[("are you", false), ("there?", false)],
    )
    .await;
    alice.until(|l| l.contains(" 301 alice bob ")).await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    let a = bob.until(|l| l.contains(" PRIVMSG bob ")).await;
    let b = bob.line().await;
    assert!(a.ends_with("] are you"), "{a}");
    assert!(b.ends_with("] there?"), "{b}");
    quiet(&mut bob).await;
}
