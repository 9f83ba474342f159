//! Taking a message back (REDACT, draft/message-redaction): who may, until
//! when, who is told, and that the message is gone — from history and
//! from an offline recipient's queue.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, cap_client, join, quiet, register_account, sasl_client, split_tags, tag,
};

const CAPS: &str = "message-tags echo-message draft/message-redaction";

/// Sends `line` and returns the msgid of its echo.
async fn sent(c: &mut TestClient, line: &str) -> String {
    c.send(line).await;
    let echo = c.line().await;
    tag(&echo, "msgid").expect("a msgid").to_string()
}

/// The line without its tags.
fn bare(l: &str) -> &str {
    split_tags(l).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_and_operators_take_messages_back() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = cap_client(&server, "alice", CAPS).await;
    join(&mut alice, "#room").await;
    let mut bob = cap_client(&server, "bob", CAPS).await;
    join(&mut bob, "#room").await;
    // A client without the cap is never sent a REDACT.
    let mut carol = cap_client(&server, "carol", "message-tags").await;
    join(&mut carol, "#room").await;
    alice.until(|l| l.contains(" JOIN #room")).await;
    alice
        .until(|l| l.contains("carol") && l.contains(" JOIN #room"))
        .await;
    bob.until(|l| l.contains("carol") && l.contains(" JOIN #room"))
        .await;

    // Bob takes his own message back: everyone with the cap is told.
    let id = sent(&mut bob, "PRIVMSG #room :oops, wrong window").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #room :oops, wrong window"))
        .await;
    carol
        .until(|l| l.ends_with("PRIVMSG #room :oops, wrong window"))
        .await;
    bob.send(&format!("REDACT #room {id} :wrong window")).await;
    let want = format!(":bob!~bob@127.0.0.1 REDACT #room {id} :wrong window");
    assert_eq!(bare(&bob.line().await), want);
    assert_eq!(bare(&alice.line().await), want);
    quiet(&mut carol).await;

    // Bob may not take alice's back; alice (the channel operator) may
    // take anyone's.
    let id = sent(&mut alice, "PRIVMSG #room :mine").await;
    bob.until(|l| l.ends_with("PRIVMSG #room :mine")).await;
    bob.send(&format!("REDACT #room {id}")).await;
    bob.expect(&format!(
        ":ferry.test FAIL REDACT REDACT_FORBIDDEN #room {id} :You may only redact your own messages"
    ))
    .await;
    quiet(&mut alice).await;
    let id = sent(&mut bob, "PRIVMSG #room :spam spam").await;
    alice
        .until(|l| l.ends_with("PRIVMSG #room :spam spam"))
        .await;
    alice.send(&format!("REDACT #room {id} :spam")).await;
    let want = format!(":alice!~alice@127.0.0.1 REDACT #room {id} :spam");
    assert_eq!(bare(&alice.line().await), want);
    assert_eq!(bare(&bob.line().await), want);

    // Unknown messages and conversations one is not in.
    alice.send("REDACT #room nosuchmsgid").await;
    alice
        .expect(":ferry.test FAIL REDACT UNKNOWN_MSGID #room nosuchmsgid :No such message in this conversation")
        .await;
    alice.send("REDACT #elsewhere nosuchmsgid").await;
    alice
        .expect(":ferry.test FAIL REDACT INVALID_TARGET #elsewhere :You are not on that channel, or that is not a nickname")
        .await;
    alice.send("REDACT #room").await;
    alice
        .expect(":ferry.test 461 alice REDACT :Not enough parameters")
        .await;
    // Twice is unknown the second time.
    alice.send(&format!("REDACT #room {id}")).await;
    alice.until(|l| l.contains(" UNKNOWN_MSGID ")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redacted_message_leaves_history() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let caps = "message-tags echo-message batch draft/chathistory draft/message-redaction";
    let mut alice = cap_client(&server, "alice", caps).await;
    join(&mut alice, "#room").await;
    let keep = sent(&mut alice, "PRIVMSG #room :this stays").await;
    let gone = sent(&mut alice, "PRIVMSG #room :this goes").await;
    alice.send(&format!("REDACT #room {gone}")).await;
    alice.until(|l| l.contains(" REDACT #room ")).await;
    alice.send("CHATHISTORY LATEST #room * 10").await;
    let mut texts = Vec::new();
    loop {
        let l = alice.line().await;
        if l.contains(" BATCH -") {
            break;
        }
        if l.contains(" PRIVMSG #room ") {
            assert_eq!(tag(&l, "msgid"), Some(keep.as_str()), "{l}");
            texts.push(l);
        }
    }
    assert_eq!(texts.len(), 1, "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_taken_back_before_delivery_never_arrives() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = cap_client(&server, "alice", CAPS).await;
    // Bob is offline: the message waits for him; alice takes it back.
    let first = sent(&mut alice, "PRIVMSG bob :please ignore").await;
    alice.until(|l| l.contains(" 301 alice bob ")).await;
    let _second = sent(&mut alice, "PRIVMSG bob :the real one").await;
    alice.send(&format!("REDACT bob {first}")).await;
    assert_eq!(
        bare(&alice.line().await),
        format!(":alice!~alice@127.0.0.1 REDACT bob {first}")
    );
    // At login bob gets only what was not taken back.
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    let l = bob.until(|l| l.contains(" PRIVMSG bob ")).await;
    assert!(l.ends_with("] the real one"), "{l}");
    quiet(&mut bob).await;

    // Online, with the cap: he is told.
    let mut bob2 = sasl_client(&server, "bob", "secret", CAPS).await;
    let id = sent(&mut alice, "PRIVMSG bob :typo").await;
    bob.until(|l| l.ends_with("PRIVMSG bob :typo")).await;
    bob2.until(|l| l.ends_with("PRIVMSG bob :typo")).await;
    alice.send(&format!("REDACT bob {id} :typo")).await;
    let want = format!(":alice!~alice@127.0.0.1 REDACT bob {id} :typo");
    assert_eq!(bare(&alice.line().await), want);
    assert_eq!(bare(&bob2.line().await), want);
    // bob's first device has no cap: not told.
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_has_a_window() {
    let server =
        TestServer::with_config(accounts_config("", "[history]\nredact_window_secs = 0\n")).await;
    let mut alice = cap_client(&server, "alice", CAPS).await;
    join(&mut alice, "#room").await;
    let mut bob = cap_client(&server, "bob", CAPS).await;
    join(&mut bob, "#room").await;
    alice.until(|l| l.contains(" JOIN #room")).await;
    let id = sent(&mut bob, "PRIVMSG #room :too late").await;
    alice.until(|l| l.ends_with(":too late")).await;
    // A window of 0 s has passed once a millisecond has.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    bob.send(&format!("REDACT #room {id}")).await;
    bob.expect(&format!(
        ":ferry.test FAIL REDACT REDACT_WINDOW_EXPIRED #room {id} 0 :It is too late to redact that message"
    ))
    .await;
    // The channel operator is not bound by it.
    alice.send(&format!("REDACT #room {id}")).await;
    alice.until(|l| l.contains(" REDACT #room ")).await;
    bob.until(|l| l.contains(" REDACT #room ")).await;
}
