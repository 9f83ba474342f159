//! A client that stops reading is disconnected at its SendQ limit without
//! holding up anyone else.

use ferry_testkit::TestServer;

use crate::util::{config, join};

/// Messages per write from the sender: small enough that one batch stays
/// well under the reading client's SendQ (8192 bytes).
const BATCH: usize = 8;
/// Give up (fail) after this many messages: far more than the kernel
/// buffers between the server and the slow client can hold.
const MAX_MESSAGES: usize = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_is_disconnected_alone() {
    let cfg = config("[server]\nname = \"ferry.test\"\n[limits]\nsendq_bytes = 8192\n");
    let server = TestServer::with_config(cfg).await;
    let mut alice = server.client("alice").await;
    let mut carol = server.client("carol").await;
    let mut slow = server.client("slow").await;
    join(&mut alice, "#flood").await;
    join(&mut carol, "#flood").await;
    join(&mut slow, "#flood").await;
    alice.expect(":carol!~carol@127.0.0.1 JOIN #flood").await;
    alice.expect(":slow!~slow@127.0.0.1 JOIN #flood").await;
    carol.expect(":slow!~slow@127.0.0.1 JOIN #flood").await;

    let pad = "x".repeat(400);
    let text = |i: usize| format!("{i:06} {pad}");
    let relayed = |i: usize| format!(":alice!~alice@127.0.0.1 PRIVMSG #flood :{}", text(i));
    let quit = ":slow!~slow@127.0.0.1 QUIT :SendQ exceeded";

    // alice floods; carol reads every message in order; slow never reads.
    let mut sent = 0;
    let mut quit_seen = false;
    while !quit_seen {
        assert!(
            sent < MAX_MESSAGES,
            "slow was not disconnected after {sent} messages"
        );
        let mut batch = String::new();
        for i in sent..sent + BATCH {
            batch.push_str(&format!("PRIVMSG #flood :{}\r\n", text(i)));
        }
        alice.send_raw(batch.as_bytes()).await;
        for i in sent..sent + BATCH {
            let want = relayed(i);
            loop {
                let l = carol.line().await;
                if l == want {
                    break;
                }
                assert!(!quit_seen, "carol: second QUIT or unexpected line: {l}");
                assert_eq!(l, quit, "carol: unexpected line");
                quit_seen = true;
            }
        }
        sent += BATCH;
    }

    // Now slow reads: a prefix of the flood, maybe the ERROR, then EOF.
    let mut lines = slow.closed().await;
    if lines.last().is_some_and(|l| l.starts_with("ERROR")) {
        assert_eq!(lines.pop().as_deref(), Some("ERROR :SendQ exceeded"));
    }
    assert!(
        lines.len() < sent,
        "slow got {} of {sent} messages",
        lines.len()
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, relayed(i), "slow: line {i}");
    }

    // The sender was not held up and is still connected; it saw the QUIT.
    assert_eq!(alice.sync().await, [quit]);
    alice.send("PRIVMSG #flood :after").await;
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG #flood :after")
        .await;
}
