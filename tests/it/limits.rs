//! Limits and abuse control: connections per address and per second,
//! receive flood control (fake lag, then `Excess Flood`), host cloaks.
//! These servers run with the exact config (no loopback exemption).

use ferry_testkit::{test_config_with, TestClient, TestServer};

use crate::util::{join, quiet};

/// Reads to the end of the stream; returns the last line seen.
async fn last_line(c: &mut TestClient) -> Option<String> {
    c.closed().await.pop()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_per_address() {
    let cfg = test_config_with(
        "[limits]\nclients_per_ip = 2\nconnections_per_second = 100\n[privacy]\ncloak = false\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let a = server.client("a1").await;
    let _b = server.client("a2").await;
    let mut c = server.connect().await;
    c.nick = "a3".into();
    assert_eq!(
        last_line(&mut c).await.as_deref(),
        Some("ERROR :Closing Link: 127.0.0.1 (Too many connections from your address (max 2))")
    );
    // A place frees up when someone leaves.
    let mut a = a;
    a.send("QUIT").await;
    a.closed().await;
    let mut d = loop {
        let mut d = server.connect().await;
        d.nick = "a4".into();
        // One write: a refused connection may already be closing.
        d.send_raw(b"NICK a4\r\nUSER a4 0 * :a4\r\n").await;
        let l = d.line().await;
        if l.starts_with(":ferry.test 001 ") {
            break d;
        }
        // The first one may still be on its way out.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    d.until(|l| l.contains(" 376 ")).await;
    quiet(&mut d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_second() {
    let cfg = test_config_with(
        "[limits]\nclients_per_ip = 100\nconnections_per_second = 3\n[privacy]\ncloak = false\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let mut refused = None;
    let mut kept = Vec::new();
    for _ in 0..10 {
        let mut c = server.connect().await;
        c.send("PING :hello").await;
        let l = c.line().await;
        if l.starts_with("ERROR ") {
            refused = Some(l);
            break;
        }
        kept.push(c);
    }
    assert_eq!(
        refused.as_deref(),
        Some("ERROR :Closing Link: 127.0.0.1 (Connecting too fast; wait a moment)")
    );
    assert!(
        kept.len() >= 3,
        "{} admitted before the refusal",
        kept.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_delayed_not_dropped() {
    let cfg = test_config_with(
        "[flood]\nlines_per_second = 20\nburst = 5\nrecvq_bytes = 4096\n[privacy]\ncloak = false\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    // 30 lines at once: past the burst they wait their turn, all arrive.
    let mut batch = String::new();
    for i in 0..30 {
        batch.push_str(&format!("PRIVMSG bob :line {i}\r\n"));
    }
    alice.send_raw(batch.as_bytes()).await;
    for i in 0..30 {
        bob.expect(&format!(":alice!~alice@127.0.0.1 PRIVMSG bob :line {i}"))
            .await;
    }
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_disconnected_and_others_carry_on() {
    let cfg = test_config_with(
        "[flood]\nlines_per_second = 1\nburst = 5\nrecvq_bytes = 2048\n[privacy]\ncloak = false\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let mut flooder = server.client("flooder").await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut flooder, "#c").await;
    join(&mut bob, "#c").await;
    // 400 lines, about 12 KB, far over what may wait.
    let mut batch = String::new();
    for i in 0..400 {
        batch.push_str(&format!("PRIVMSG #c :flood flood flood {i}\r\n"));
    }
    flooder.send_raw(batch.as_bytes()).await;
    let lines = flooder.closed().await;
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Excess Flood"),
        "{lines:?}"
    );
    // The channel saw the quit; a well-behaved client is still served.
    bob.until(|l| l == ":flooder!~flooder@127.0.0.1 QUIT :Excess Flood")
        .await;
    alice.send("PRIVMSG bob :still here").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :still here")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_cloaked_except_for_oneself_and_opers() {
    // Cloaks on (the default), a fixed key so the test is repeatable.
    let cfg =
        test_config_with("[limits]\nexempt = [\"127.0.0.0/8\"]\n[privacy]\ncloak_secret = \"k\"\n");
    let server = TestServer::with_exact_config(cfg).await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("PRIVMSG bob :hi").await;
    let l = bob.line().await;
    let host = l
        .strip_prefix(":alice!~alice@")
        .and_then(|r| r.strip_suffix(" PRIVMSG bob :hi"))
        .unwrap_or_else(|| panic!("{l}"));
    assert!(host.ends_with(".ip") && !host.contains("127"), "{host}");
    // Others see the cloak, not the address.
    bob.send("WHOIS alice").await;
    let whois: Vec<String> = {
        let mut v = Vec::new();
        loop {
            let l = bob.line().await;
            let end = l.contains(" 318 ");
            v.push(l);
            if end {
                break v;
            }
        }
    };
    assert!(
        whois
            .iter()
            .any(|l| l == &format!(":ferry.test 311 bob alice ~alice {host} * :alice real")),
        "{whois:?}"
    );
    assert!(!whois.iter().any(|l| l.contains("127.0.0.1")), "{whois:?}");
    // The user itself sees its address (338).
    alice.send("WHOIS alice").await;
    alice
        .until(|l| l == ":ferry.test 338 alice alice 127.0.0.1 :actual IP")
        .await;
    // So does an operator.
    bob.send("OPER oper operpass").await;
    bob.until(|l| l.contains(" 381 ")).await;
    bob.send("WHOIS alice").await;
    bob.until(|l| l == ":ferry.test 338 bob alice 127.0.0.1 :actual IP")
        .await;
}

/// Private messages to too many new nicks at once are refused (707) until
/// a slot comes back; replies, recent targets and operators are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_change_limit() {
    let cfg = test_config_with(
        "[flood]\nburst = 1000\ntarget_changes = 3\ntarget_change_secs = 3600\n\
         [privacy]\ncloak = false\n[limits]\nclients_per_ip = 100\nconnections_per_second = 100\n",
    );
    let server = TestServer::with_exact_config(cfg).await;
    let mut spammer = server.client("spammer").await;
    let mut friend = server.client("friend").await;
    let mut targets = Vec::new();
    for i in 0..5 {
        targets.push(server.client(&format!("t{i}")).await);
    }
    // friend wrote first: answering costs nothing.
    friend.send("PRIVMSG spammer :hi").await;
    spammer
        .expect(":friend!~friend@127.0.0.1 PRIVMSG spammer :hi")
        .await;
    spammer.send("PRIVMSG friend :hello back").await;
    for i in 0..3 {
        spammer.send(&format!("PRIVMSG t{i} :buy now")).await;
    }
    spammer.send("PRIVMSG t3 :buy now").await;
    spammer
        .expect(":ferry.test 707 spammer t3 :Targets changing too fast, message dropped")
        .await;
    // Someone written to recently is no new target; nicks that do not
    // exist get 401 and cost nothing.
    spammer.send("PRIVMSG t0 :again").await;
    spammer.send("PRIVMSG nobody :hello").await;
    spammer
        .expect(":ferry.test 401 spammer nobody :No such nick/channel")
        .await;
    quiet(&mut spammer).await;
    friend
        .expect(":spammer!~spammer@127.0.0.1 PRIVMSG friend :hello back")
        .await;
    for (i, t) in targets.iter_mut().enumerate() {
        match i {
            0 => {
                t.expect(":spammer!~spammer@127.0.0.1 PRIVMSG t0 :buy now")
                    .await;
                t.expect(":spammer!~spammer@127.0.0.1 PRIVMSG t0 :again")
                    .await;
            }
            1 | 2 => {
                t.expect(&format!(
                    ":spammer!~spammer@127.0.0.1 PRIVMSG t{i} :buy now"
                ))
                .await
            }
            _ => quiet(t).await,
        }
    }
    // Operators are not limited.
    spammer.send("OPER oper operpass").await;
    spammer.until(|l| l.ends_with("MODE spammer :+o")).await;
    spammer.send("PRIVMSG t4 :official notice").await;
    targets[4]
        .expect(":spammer!~spammer@127.0.0.1 PRIVMSG t4 :official notice")
        .await;
}

/// The server's cap on members per channel holds even past an invitation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_per_channel() {
    let server = TestServer::with_config(test_config_with("[limits]\nchannel_members = 2\n")).await;
    let mut a = server.client("a").await;
    let mut b = server.client("b").await;
    let mut c = server.client("c").await;
    join(&mut a, "#small").await;
    join(&mut b, "#small").await;
    a.send("INVITE c #small").await;
    a.until(|l| l.contains(" 341 a c #small")).await;
    c.send("JOIN #small").await;
    c.until(|l| l == ":ferry.test 471 c #small :Cannot join channel (channel is full)")
        .await;
    b.send("PART #small").await;
    b.until(|l| l.starts_with(":b!~b@127.0.0.1 PART #small"))
        .await;
    c.send("JOIN #small").await;
    c.until(|l| l.starts_with(":ferry.test 366 c #small "))
        .await;
}

/// A server holding writes as under load (`write_hold_above_cpu = 0`:
/// always "busy", so every client's lines wait up to `write_hold_max_ms`
/// to go out together) still delivers every line, in order, to DMs and to
/// a channel, and answers its own client at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_writes_still_deliver_everything_in_order() {
    let server = TestServer::with_config(test_config_with(
        "[flood]\nwrite_hold_max_ms = 16\nwrite_hold_above_cpu = 0.0\n",
    ))
    .await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#held").await;
    join(&mut alice, "#held").await;
    bob.until(|l| l.contains(" JOIN #held")).await;
    // Let the hold grow to its maximum (it doubles every 20 ms).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for i in 0..60 {
        alice.send(&format!("PRIVMSG bob :dm {i}")).await;
        alice.send(&format!("PRIVMSG #held :room {i}")).await;
    }
    let (mut dm, mut room) = (0, 0);
    while dm < 60 || room < 60 {
        let l = bob.until(|l| l.contains(" PRIVMSG ")).await;
        if l.ends_with(&format!("PRIVMSG bob :dm {dm}")) {
            dm += 1;
        } else if l.ends_with(&format!("PRIVMSG #held :room {room}")) {
            room += 1;
        } else {
            panic!("out of order after dm {dm}, room {room}: {l}");
        }
    }
    // A client's own replies are not held behind others' lines.
    alice.send("PING :still-fast").await;
    alice.until(|l| l.ends_with(" :still-fast")).await;
    quiet(&mut bob).await;
}
