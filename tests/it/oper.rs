//! OPER, KILL and WALLOPS.

use ferry_testkit::TestServer;

use crate::util::{join, oper_client, quiet, stats_pairs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_kill_wallops() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;

    alice.send("OPER oper wrong").await;
    alice
        .expect(":ferry.test 464 alice :Password incorrect")
        .await;
    alice.send("OPER nobody operpass").await;
    alice
        .expect(":ferry.test 464 alice :Password incorrect")
        .await;
    alice.send("OPER oper").await;
    alice
        .expect(":ferry.test 461 alice OPER :Not enough parameters")
        .await;
    bob.send("KILL alice :go away").await;
    bob.expect(":ferry.test 481 bob :Permission Denied- You're not an IRC operator")
        .await;
    bob.send("WALLOPS :hear me").await;
    bob.expect(":ferry.test 481 bob :Permission Denied- You're not an IRC operator")
        .await;
    // Users cannot make themselves operators with MODE.
    bob.send("MODE bob +o").await;
    quiet(&mut bob).await;

    alice.send("OPER oper operpass").await;
    alice
        .expect(":ferry.test 381 alice :You are now an IRC operator")
        .await;
    alice.expect(":alice MODE alice :+o").await;
    alice.send("MODE alice").await;
    alice.expect(":ferry.test 221 alice +o").await;
    bob.send("WHOIS alice").await;
    bob.until_cmd("312").await;
    bob.expect(":ferry.test 313 bob alice :is an IRC operator")
        .await;
    bob.until_cmd("318").await;
    bob.send("LUSERS").await;
    bob.until_cmd("251").await;
    bob.expect(":ferry.test 252 bob 1 :IRC Operators online")
        .await;
    bob.until_cmd("266").await;
    bob.send("USERHOST alice").await;
    bob.expect(":ferry.test 302 bob alice*=+~alice@127.0.0.1")
        .await;

    // WALLOPS reaches +w users only.
    carol.send("MODE carol +w").await;
    carol.expect(":carol MODE carol :+w").await;
    alice.send("WALLOPS :maintenance at noon").await;
    carol
        .expect(":alice!~alice@127.0.0.1 WALLOPS :maintenance at noon")
        .await;
    quiet(&mut bob).await;
    quiet(&mut alice).await;

    // KILL: the target is told why and disconnected; its peers see a QUIT.
    join(&mut bob, "#c").await;
    join(&mut carol, "#c").await;
    bob.expect(":carol!~carol@127.0.0.1 JOIN #c").await;
    alice.send("KILL nobody :x").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("KILL bob :spamming").await;
    let last = bob.closed().await;
    assert_eq!(last, ["ERROR :Killed (alice (spamming))"]);
    assert!(last[0].contains("Killed"));
    carol
        .expect(":bob!~bob@127.0.0.1 QUIT :Killed (alice (spamming))")
        .await;
    quiet(&mut alice).await;
    // The nick is free again.
    let _bob = server.client("bob").await;

    // Dropping +o.
    alice.send("MODE alice -o").await;
    alice.expect(":alice MODE alice :-o").await;
    alice.send("KILL carol :x").await;
    alice
        .expect(":ferry.test 481 alice :Permission Denied- You're not an IRC operator")
        .await;
}

/// KLINE and DLINE: applied to who is connected, to who comes next,
/// kept across a restart, and lifted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klines_and_dlines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::with_config_in(ferry_testkit::test_config(), dir.path()).await;
    let mut oper = server.client("boss").await;
    oper.send("OPER oper operpass").await;
    oper.until(|l| l == ":boss MODE boss :+o").await;
    let mut spammer = server.client("spammer").await;
    oper.send("KLINE 0 *!~spammer@127.0.0.1 :spam").await;
    oper.expect(":ferry.test NOTICE boss :Added permanent K-line for [~spammer@127.0.0.1] (spam)")
        .await;
    let lines = spammer.closed().await;
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :K-lined: spam"),
        "{lines:?}"
    );
    // The next one with that user@host is refused at registration.
    let mut again = server.connect().await;
    again.nick = "spammer".into();
    again.send("NICK spammer2").await;
    again.send("USER spammer 0 * :x").await;
    again
        .expect(":ferry.test 465 spammer2 :You are banned from this server: spam")
        .await;
    again.expect("ERROR :K-lined: spam").await;
    // Others are not affected.
    let mut fine = server.client("fine").await;
    fine.send("PING :ok").await;
    fine.until(|l| l.ends_with(":ok")).await;
    // Kept across a restart.
    server.stop().await;
    let server = TestServer::with_config_in(ferry_testkit::test_config(), dir.path()).await;
    let mut again = server.connect().await;
    again.nick = "spammer3".into();
    again.send("NICK spammer3").await;
    again.send("USER spammer 0 * :x").await;
    again
        .expect(":ferry.test 465 spammer3 :You are banned from this server: spam")
        .await;
    let mut oper = server.client("boss").await;
    oper.send("OPER oper operpass").await;
    oper.until(|l| l == ":boss MODE boss :+o").await;
    oper.send("UNKLINE ~spammer@127.0.0.1").await;
    oper.expect(":ferry.test NOTICE boss :Removed the ban on [~spammer@127.0.0.1]")
        .await;
    let _back = server.client("spammer").await;
    // A D-line closes every connection from the address, the oper's own too
    // (operators are not exempt), and refuses new ones before registration.
    let mut other = server.client("other").await;
    oper.send("DLINE 127.0.0.1 :go away").await;
    assert_eq!(
        other.closed().await.last().map(String::as_str),
        Some("ERROR :D-lined: go away")
    );
    let mut refused = server.connect().await;
    refused.nick = "x".into();
    assert_eq!(
        refused.closed().await.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (D-lined: go away)")
    );
    // Non-operators cannot.
    drop(oper);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kline_needs_an_operator() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("KLINE *@* :everyone").await;
    alice
        .expect(":ferry.test 481 alice :Permission Denied- You're not an IRC operator")
        .await;
}

/// Operators with +s watch connects, exits and kills as server notices;
/// others cannot set +s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_notices_for_operators() {
    let server = TestServer::start().await;
    let mut boss = server.client("boss").await;
    boss.send("MODE boss +s").await;
    quiet(&mut boss).await;
    boss.send("OPER oper operpass").await;
    boss.until(|l| l == ":boss MODE boss :+o").await;
    boss.send("MODE boss +s").await;
    boss.expect(":boss MODE boss :+s").await;
    boss.expect(":ferry.test 008 boss +bcfkrs :Server notice mask")
        .await;
    let mut eve = server.client("eve").await;
    boss.expect(":ferry.test NOTICE boss :*** Notice -- Client connecting: eve (~eve@127.0.0.1) [127.0.0.1]")
        .await;
    eve.send("QUIT :bye").await;
    boss.expect(
        ":ferry.test NOTICE boss :*** Notice -- Client exiting: eve (~eve@127.0.0.1) [Quit: bye]",
    )
    .await;
    let _mallory = server.client("mallory").await;
    boss.until(|l| l.contains("Client connecting: mallory"))
        .await;
    boss.send("KILL mallory :enough").await;
    boss.until(|l| l == ":ferry.test NOTICE boss :*** Notice -- Received KILL message for mallory from boss (enough)")
        .await;
    boss.until(|l| l.contains("Client exiting: mallory")).await;
    // Losing +o ends the notices.
    boss.send("MODE boss -o").await;
    boss.until(|l| l.starts_with(":boss MODE boss :-o")).await;
    let _late = server.client("late").await;
    quiet(&mut boss).await;
}

/// A snomask picks which server notices an operator gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snomask_letters_choose_the_notices() {
    let server = TestServer::start().await;
    let mut boss = oper_client(&server, "boss").await;
    // Kills only, then nick changes too.
    boss.send("MODE boss +s k").await;
    boss.expect(":boss MODE boss :+s").await;
    boss.expect(":ferry.test 008 boss +k :Server notice mask")
        .await;
    let mut eve = server.client("eve").await;
    quiet(&mut boss).await;
    boss.send("MODE boss +s +n").await;
    boss.expect(":ferry.test 008 boss +kn :Server notice mask")
        .await;
    eve.send("NICK eva").await;
    boss.expect(":ferry.test NOTICE boss :*** Notice -- Nick change: From eve!~eve@127.0.0.1 to eva [127.0.0.1]")
        .await;
    boss.send("KILL eva :spam").await;
    boss.expect(
        ":ferry.test NOTICE boss :*** Notice -- Received KILL message for eva from boss (spam)",
    )
    .await;
    // No exit notice: c is not in the mask.
    quiet(&mut boss).await;
    // Taking every letter away takes +s away.
    boss.send("MODE boss +s -kn").await;
    boss.expect(":boss MODE boss :-s").await;
    boss.send("MODE boss").await;
    boss.expect(":ferry.test 221 boss +o").await;
    let _late = server.client("late").await;
    quiet(&mut boss).await;
}

/// STATS: uptime and commands for everyone; listeners, traffic,
/// accounting, bans and operator blocks for operators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_views() {
    let server = TestServer::start().await;
    let mut user = server.client("user").await;
    let mut boss = oper_client(&server, "boss").await;
    user.send("STATS u").await;
    let up = user.line().await;
    assert!(
        up.starts_with(":ferry.test 242 user :Server Up 0 days 0:00:"),
        "{up}"
    );
    user.expect(":ferry.test 219 user u :End of /STATS report")
        .await;
    for i in 0..3 {
        user.send(&format!("PRIVMSG boss :hello {i}")).await;
    }
    user.send("STATS m").await;
    let m = user.until(|l| l.contains(" 212 user PRIVMSG ")).await;
    let fields: Vec<&str> = m.split(' ').collect();
    assert_eq!(fields[4], "3", "{m}");
    assert!(fields[5].parse::<u64>().unwrap() >= 3 * 20, "{m}");
    user.until(|l| l == ":ferry.test 219 user m :End of /STATS report")
        .await;
    for letter in ["z", "t", "P", "k", "o"] {
        user.send(&format!("STATS {letter}")).await;
        user.expect(":ferry.test 481 user :Permission Denied- You're not an IRC operator")
            .await;
    }
    let z = stats_pairs(&mut boss, "z").await;
    assert_eq!(z["clients"], 2, "{z:?}");
    assert_eq!(z["registered"], 2, "{z:?}");
    assert_eq!(z["unregistered"], 0, "{z:?}");
    assert!(z["sendq"] <= z["sendq_hard"], "{z:?}");
    assert_eq!(z["sendq_per_client"], 256 * 1024, "{z:?}");
    let t = stats_pairs(&mut boss, "t").await;
    assert_eq!(t["accepted"], 2, "{t:?}");
    assert!(t["lines_in"] >= 10, "{t:?}");
    assert!(t["bytes_out"] > 1000, "{t:?}");
    // The three DMs to boss went to history, none dropped.
    assert_eq!(t["history_rows"], 3, "{t:?}");
    assert_eq!(t["history_dropped"], 0, "{t:?}");
    boss.send("STATS P").await;
    let p = boss.line().await;
    assert_eq!(
        p,
        format!(
            ":ferry.test 249 boss P :listener {} charset UTF-8 plain open 2 accepted 2",
            server.addr
        )
    );
    // No listener configured: the web page's listener is there too.
    boss.expect(&format!(
        ":ferry.test 249 boss P :listener {} charset UTF-8 plain web open 0 accepted 0",
        server.addrs[1]
    ))
    .await;
    boss.expect(":ferry.test 219 boss P :End of /STATS report")
        .await;
    boss.send("KLINE 5 *@192.0.2.* :spam wave").await;
    boss.until(|l| l.contains("NOTICE boss :Added")).await;
    boss.send("STATS k").await;
    boss.expect(
        ":ferry.test 216 boss K 192.0.2.* * * :spam wave (5 min left, set by boss!~boss@127.0.0.1)",
    )
    .await;
    boss.expect(":ferry.test 219 boss k :End of /STATS report")
        .await;
    boss.send("STATS o").await;
    boss.expect(":ferry.test 243 boss O * * oper password opers")
        .await;
    boss.expect(":ferry.test 219 boss o :End of /STATS report")
        .await;
}

/// TRACE lists connections for operators; a mask narrows it down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_lists_connections() {
    let server = TestServer::start().await;
    let mut user = server.client("user").await;
    let mut boss = oper_client(&server, "boss").await;
    // An unregistered connection, surely accepted once it has an answer.
    let mut lurker = server.connect().await;
    lurker.send("CAP LS 302").await;
    lurker.until(|l| l.contains(" CAP * LS :")).await;
    boss.send("TRACE").await;
    let mut lines = Vec::new();
    loop {
        let l = boss.line().await;
        if l.contains(" 262 ") {
            assert_eq!(
                l,
                format!(
                    ":ferry.test 262 boss ferry.test {} :End of TRACE",
                    ferry_server::VERSION
                )
            );
            break;
        }
        lines.push(without_idle(&l));
    }
    lines.sort();
    assert_eq!(
        lines,
        vec![
            ":ferry.test 203 boss ???? unregistered [127.0.0.1]".to_string(),
            ":ferry.test 204 boss Oper opers boss!~boss@127.0.0.1 (127.0.0.1)".into(),
            ":ferry.test 205 boss User users user!~user@127.0.0.1 (127.0.0.1)".into(),
            ":ferry.test 209 boss Class opers 1".into(),
            ":ferry.test 209 boss Class unregistered 1".into(),
            ":ferry.test 209 boss Class users 1".into(),
        ]
    );
    boss.send("TRACE us*").await;
    let l = boss.line().await;
    assert_eq!(
        without_idle(&l),
        ":ferry.test 205 boss User users user!~user@127.0.0.1 (127.0.0.1)"
    );
    boss.expect(":ferry.test 209 boss Class users 1").await;
    boss.until_cmd("262").await;
    // Someone else sees only themselves.
    user.send("TRACE").await;
    let l = user.line().await;
    assert_eq!(
        without_idle(&l),
        ":ferry.test 205 user User users user!~user@127.0.0.1 (127.0.0.1)"
    );
    user.until_cmd("262").await;
}

/// A 204/205 TRACE line without its idle seconds and queued bytes (both
/// checked to be numbers).
fn without_idle(l: &str) -> String {
    if !(l.contains(" 204 ") || l.contains(" 205 ")) {
        return l.to_string();
    }
    let mut words: Vec<&str> = l.split(' ').collect();
    for _ in 0..2 {
        let n = words.pop().unwrap_or_default();
        assert!(n.parse::<u64>().is_ok(), "not a number in {l}");
    }
    words.join(" ")
}
