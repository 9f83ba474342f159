//! Stored messages replayed (CHATHISTORY, offline delivery) look exactly
//! like the live ones: same source, same tags, escaped the same way; only
//! the `batch` tag is added.

use ferry_testkit::{TestClient, TestServer};

use crate::util::sasl::{authenticate_plain, sasl_hello};
use crate::util::{accounts_config, cap_client, finish_burst, join, quit};

const CAPS: &str = "batch echo-message message-tags server-time account-tag";

/// Registers `nick` as an account, then quits.
async fn register(server: &TestServer, nick: &str, password: &str) {
    let mut c = cap_client(server, nick, "draft/account-registration").await;
    c.send(&format!("REGISTER {nick} * {password}")).await;
    c.until(|l| l.contains(" REGISTER SUCCESS ")).await;
    quit(&mut c).await;
}

/// Logs in with SASL PLAIN before registering (with `CAPS`), then
/// registers, reading through the MOTD.
async fn login(server: &TestServer, nick: &str, password: &str) -> TestClient {
    let mut c = server.connect().await;
    sasl_hello(&mut c, nick, nick, CAPS).await;
    authenticate_plain(&mut c, nick, password).await;
    c.until_cmd("903").await;
    c.send("CAP END").await;
    finish_burst(&mut c).await;
    c
}

/// The line without its `batch=` tag.
fn unbatched(line: &str) -> String {
    let Some(rest) = line.strip_prefix('@') else {
        return line.to_string();
    };
    let (tags, body) = rest.split_once(' ').expect("tags end");
    let kept: Vec<&str> = tags
        .split(';')
        .filter(|t| !t.starts_with("batch="))
        .collect();
    format!("@{} {body}", kept.join(";"))
}

/// Sends a CHATHISTORY query and returns the lines of its batch.
async fn history(c: &mut TestClient, query: &str) -> Vec<String> {
    c.send(&format!("CHATHISTORY {query}")).await;
    batch_lines(c).await
}

/// Reads one `chathistory` batch: its lines, without the BATCH lines.
async fn batch_lines(c: &mut TestClient) -> Vec<String> {
    let start = c.until(|l| l.contains(" BATCH +")).await;
    let id = start
        .split(" BATCH +")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("batch id")
        .to_string();
    let mut got = Vec::new();
    loop {
        let l = c.line().await;
        if l == format!(":ferry.test BATCH -{id}") {
            return got;
        }
        assert!(l.contains(&format!("batch={id}")), "outside the batch: {l}");
        got.push(l);
    }
}

/// The bug: a nick and account `a\b1` showed as `account=a\\b1` live (as
/// the message-tags spec escapes `\`), but as `account=a\b1` in history and
/// offline delivery, which a client reads as `ab1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_escapes_tag_values() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register(&server, "a\\b1", "pw-a").await;
    register(&server, "bob", "pw-bob").await;
    let mut a = login(&server, "a\\b1", "pw-a").await;
    let mut bob = login(&server, "bob", "pw-bob").await;

    // Channel history.
    join(&mut a, "#esc").await;
    join(&mut bob, "#esc").await;
    a.until_cmd("JOIN").await;
    a.send("PRIVMSG #esc :hello").await;
    a.until_cmd("PRIVMSG").await;
    let live = bob.until_cmd("PRIVMSG").await;
    assert!(live.contains(";account=a\\\\b1;"), "live: {live}");
    let replayed = history(&mut bob, "LATEST #esc * 10").await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(unbatched(&replayed[0]), live, "channel history");

    // Direct-message history.
    a.send("PRIVMSG bob :hi bob").await;
    a.until_cmd("PRIVMSG").await;
    let live = bob.until_cmd("PRIVMSG").await;
    let replayed = history(&mut bob, "LATEST a\\b1 * 10").await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(unbatched(&replayed[0]), live, "direct-message history");

    // Offline delivery: what bob gets at login is what he would have got
    // live, which is what the sender's echo (same caps) shows.
    quit(&mut bob).await;
    a.send("PRIVMSG bob :while you were away").await;
    let echo = a.until_cmd("PRIVMSG").await;
    assert!(echo.contains(";account=a\\\\b1;"), "echo: {echo}");
    let mut bob = login(&server, "bob", "pw-bob").await;
    let delivered = batch_lines(&mut bob).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(unbatched(&delivered[0]), echo, "offline delivery");
}
