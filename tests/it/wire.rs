//! Line framing on the wire: length limits, line endings, UTF-8.

use ferry_testkit::TestServer;

use crate::util::{cap_client, quiet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_line_gets_417_and_client_stays() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice
        .send(&format!("PRIVMSG bob :{}", "a".repeat(600)))
        .await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    alice.send("PING :still here").await;
    alice
        .expect(":ferry.test PONG ferry.test :still here")
        .await;
    quiet(&mut bob).await;

    // 510 bytes before CRLF is the limit: one more is too long.
    let at_limit = format!("NOTICE nobody :{}", "b".repeat(510 - 15));
    assert_eq!(at_limit.len(), 510);
    alice.send(&at_limit).await;
    quiet(&mut alice).await;
    alice.send(&format!("{at_limit}c")).await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    alice.send("PRIVMSG bob :short again").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :short again")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_without_newline() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send_raw(&vec![b'a'; 1 << 20]).await;
    alice.send_raw(b"\r\nPING :after\r\n").await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    alice.expect(":ferry.test PONG ferry.test :after").await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lf_only_line_endings() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.nick = "lf".into();
    c.send_raw(b"NICK lf\nUSER lf 0 * :lf only\n").await;
    c.expect(":ferry.test 001 lf :Welcome to the FerryTest IRC Network lf!~lf@127.0.0.1")
        .await;
    c.until_cmd("376").await;
    c.send_raw(b"PING :one\nPING :two\r\nPING :three\n").await;
    c.expect(":ferry.test PONG ferry.test :one").await;
    c.expect(":ferry.test PONG ferry.test :two").await;
    c.expect(":ferry.test PONG ferry.test :three").await;
    // A line split across writes, and blank lines, are fine.
    c.send_raw(b"PI").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    c.send_raw(b"NG :four\n\r\n   \n").await;
    c.expect(":ferry.test PONG ferry.test :four").await;
    quiet(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send_raw(b"PRIVMSG bob :caf\xe9\r\n").await;
    alice
        .expect(":ferry.test FAIL PRIVMSG INVALID_UTF8 :Message rejected, your message contained invalid UTF-8")
        .await;
    quiet(&mut bob).await;
    alice.send("PRIVMSG bob :café").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :café")
        .await;
}

/// NUL, or a CR that does not end the line, is refused with the whole
/// line: relayed, a CR could start a line of the sender's making at the
/// recipient's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_and_stray_cr_are_refused() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let refused = ":ferry.test FAIL PRIVMSG INVALID_MESSAGE :Message rejected, it contained a NUL or CR character";
    alice.send_raw(b"PRIVMSG bob :a\x00b\r\n").await;
    alice.expect(refused).await;
    alice
        .send_raw(b"PRIVMSG bob :hi\r:evil!x@y PRIVMSG bob :fake\r\n")
        .await;
    alice.expect(refused).await;
    alice.send_raw(b"\x00\x00\x00\n").await;
    alice
        .expect(":ferry.test FAIL * INVALID_MESSAGE :Message rejected, it contained a NUL or CR character")
        .await;
    quiet(&mut bob).await;
    alice.send("PRIVMSG bob :clean").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :clean")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_over_limit() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "message-tags").await;
    let mut bob = server.client("bob").await;
    alice
        .send(&format!("@+x={} PRIVMSG bob :hi", "t".repeat(5000)))
        .await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    alice.send("PING :ok").await;
    alice.expect(":ferry.test PONG ferry.test :ok").await;
    quiet(&mut bob).await;
    // Within the limit the message goes through (bob has no message-tags).
    alice
        .send(&format!("@+x={} PRIVMSG bob :hi", "t".repeat(4000)))
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :hi").await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_limit_boundary() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "message-tags").await;
    let mut bob = cap_client(&server, "bob", "message-tags").await;
    // 4094 bytes of tag data (without the `@` and the space) is allowed...
    let value = "v".repeat(4094 - "+x=".len());
    alice.send(&format!("@+x={value} PRIVMSG bob :edge")).await;
    let l = bob.line().await;
    let id = crate::util::tag(&l, "msgid").expect("msgid").to_string();
    assert_eq!(
        l,
        format!("@msgid={id};+x={value} :alice!~alice@127.0.0.1 PRIVMSG bob :edge")
    );
    // ...one more byte is not.
    alice.send(&format!("@+x={value}w PRIVMSG bob :over")).await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    quiet(&mut bob).await;
    // The 510-byte limit applies to the rest of the line on its own.
    let body = format!("NOTICE bob :{}", "b".repeat(510 - 12));
    assert_eq!(body.len(), 510);
    alice.send(&format!("@+x={value} {body}")).await;
    let l = bob.line().await;
    // Relayed with alice's prefix it is cut to fit bob's 512 bytes (CRLF
    // included): the text loses what the prefix added.
    let relayed = &l[l.find(" :alice!").expect("the relayed line") + 1..];
    assert_eq!(relayed.len(), 510, "{relayed}");
    let kept = 510 - ":alice!~alice@127.0.0.1 NOTICE bob :".len();
    assert_eq!(
        relayed,
        format!(":alice!~alice@127.0.0.1 NOTICE bob :{}", "b".repeat(kept))
    );
    alice.send(&format!("@+x={value} {body}b")).await;
    alice
        .expect(":ferry.test 417 alice :Input line was too long")
        .await;
    quiet(&mut bob).await;
}
