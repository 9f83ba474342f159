//! Channels: JOIN/PART/TOPIC/KICK/INVITE/NAMES/LIST and channel modes.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{expect_names, expect_unordered, join, quiet, src};

/// alice creates `#c` (and is its operator), then each of `others` joins;
/// everybody's pending JOIN lines are read.
async fn channel_with(server: &TestServer, others: &[&str]) -> (TestClient, Vec<TestClient>) {
    let mut alice = server.client("alice").await;
    join(&mut alice, "#c").await;
    let mut members: Vec<TestClient> = Vec::new();
    for nick in others {
        let mut c = server.client(nick).await;
        join(&mut c, "#c").await;
        let line = format!(":{} JOIN #c", src(nick));
        alice.expect(&line).await;
        for m in members.iter_mut() {
            m.expect(&line).await;
        }
        members.push(c);
    }
    (alice, members)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_names_part() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("JOIN #c").await;
    alice.expect(":alice!~alice@127.0.0.1 JOIN #c").await;
    alice.expect(":ferry.test 353 alice = #c @alice").await;
    alice
        .expect(":ferry.test 366 alice #c :End of /NAMES list")
        .await;
    alice.send("MODE #c").await;
    alice.expect(":ferry.test 324 alice #c +nt").await;
    let l = alice.line().await;
    let ts = l
        .strip_prefix(":ferry.test 329 alice #c ")
        .unwrap_or_else(|| panic!("{l}"));
    assert!(ts.parse::<u64>().is_ok(), "{l}");
    // Joining again changes nothing.
    alice.send("JOIN #c").await;
    quiet(&mut alice).await;

    let mut bob = server.client("bob").await;
    bob.send("JOIN #C").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    expect_names(&mut bob, ":ferry.test 353 bob = #c", &["@alice", "bob"]).await;
    bob.expect(":ferry.test 366 bob #c :End of /NAMES list")
        .await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await;

    alice.send("NAMES #c").await;
    expect_names(&mut alice, ":ferry.test 353 alice = #c", &["@alice", "bob"]).await;
    alice
        .expect(":ferry.test 366 alice #c :End of /NAMES list")
        .await;
    alice.send("NAMES").await;
    alice
        .expect(":ferry.test 366 alice * :End of /NAMES list")
        .await;
    alice.send("NAMES #nope").await;
    alice
        .expect(":ferry.test 366 alice #nope :End of /NAMES list")
        .await;

    bob.send("PRIVMSG #c :hello channel").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG #c :hello channel")
        .await;
    quiet(&mut bob).await;

    bob.send("PART #c :bye now").await;
    bob.expect(":bob!~bob@127.0.0.1 PART #c :bye now").await;
    alice.expect(":bob!~bob@127.0.0.1 PART #c :bye now").await;
    bob.send("PART #c").await;
    bob.expect(":ferry.test 442 bob #c :You're not on that channel")
        .await;
    bob.send("PART #nope").await;
    bob.expect(":ferry.test 403 bob #nope :No such channel")
        .await;
    alice.send("PART #c").await;
    alice.expect(":alice!~alice@127.0.0.1 PART #c").await;

    // The empty channel is gone: the next one to join creates it anew.
    bob.send("JOIN #c").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    bob.expect(":ferry.test 353 bob = #c @bob").await;
    bob.expect(":ferry.test 366 bob #c :End of /NAMES list")
        .await;
    bob.send("JOIN nochan").await;
    bob.expect(":ferry.test 403 bob nochan :No such channel")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic() {
    let server = TestServer::start().await;
    let (mut alice, mut m) = channel_with(&server, &["bob"]).await;
    let bob = &mut m[0];
    bob.send("TOPIC #c").await;
    bob.expect(":ferry.test 331 bob #c :No topic is set").await;
    bob.send("TOPIC #c :mine now").await;
    bob.expect(":ferry.test 482 bob #c :You're not channel operator")
        .await;
    alice.send("TOPIC #c :hello world").await;
    alice
        .expect(":alice!~alice@127.0.0.1 TOPIC #c :hello world")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 TOPIC #c :hello world")
        .await;
    bob.send("TOPIC #c").await;
    bob.expect(":ferry.test 332 bob #c :hello world").await;
    let l = bob.line().await;
    let ts = l
        .strip_prefix(":ferry.test 333 bob #c alice!~alice@127.0.0.1 ")
        .unwrap_or_else(|| panic!("{l}"));
    assert!(ts.parse::<u64>().is_ok(), "{l}");

    // A joiner gets the topic in its join burst.
    let mut carol = server.client("carol").await;
    carol.send("JOIN #c").await;
    carol.expect(":carol!~carol@127.0.0.1 JOIN #c").await;
    carol.expect(":ferry.test 332 carol #c :hello world").await;
    let l = carol.line().await;
    assert!(
        l.starts_with(":ferry.test 333 carol #c alice!~alice@127.0.0.1 "),
        "{l}"
    );
    expect_names(
        &mut carol,
        ":ferry.test 353 carol = #c",
        &["@alice", "bob", "carol"],
    )
    .await;
    carol
        .expect(":ferry.test 366 carol #c :End of /NAMES list")
        .await;
    alice.expect(":carol!~carol@127.0.0.1 JOIN #c").await;
    bob.expect(":carol!~carol@127.0.0.1 JOIN #c").await;

    // -t lets anyone on the channel set it.
    alice.send("MODE #c -t").await;
    for c in [&mut alice, &mut *bob, &mut carol] {
        c.expect(":alice!~alice@127.0.0.1 MODE #c -t").await;
    }
    bob.send("TOPIC #c :bob's turn").await;
    for c in [&mut alice, &mut *bob, &mut carol] {
        c.expect(":bob!~bob@127.0.0.1 TOPIC #c :bob's turn").await;
    }
    carol.send("TOPIC #c :").await;
    for c in [&mut alice, &mut *bob, &mut carol] {
        c.expect(":carol!~carol@127.0.0.1 TOPIC #c :").await;
    }
    carol.send("TOPIC #c").await;
    carol
        .expect(":ferry.test 331 carol #c :No topic is set")
        .await;
    // Outsiders cannot set it.
    let mut dave = server.client("dave").await;
    dave.send("TOPIC #c :drive-by").await;
    dave.expect(":ferry.test 442 dave #c :You're not on that channel")
        .await;
    dave.send("TOPIC #nope").await;
    dave.expect(":ferry.test 403 dave #nope :No such channel")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick() {
    let server = TestServer::start().await;
    let (mut alice, mut m) = channel_with(&server, &["bob", "carol"]).await;
    let mut dave = server.client("dave").await;
    let (bob, carol) = m.split_at_mut(1);
    let (bob, carol) = (&mut bob[0], &mut carol[0]);

    bob.send("KICK #c carol").await;
    bob.expect(":ferry.test 482 bob #c :You're not channel operator")
        .await;
    dave.send("KICK #c bob").await;
    dave.expect(":ferry.test 442 dave #c :You're not on that channel")
        .await;
    alice.send("KICK #c dave").await;
    alice
        .expect(":ferry.test 441 alice dave #c :They aren't on that channel")
        .await;
    alice.send("KICK #c nobody").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("KICK #nope bob").await;
    alice
        .expect(":ferry.test 403 alice #nope :No such channel")
        .await;

    alice.send("KICK #c bob :behave").await;
    for c in [&mut alice, &mut *bob, &mut *carol] {
        c.expect(":alice!~alice@127.0.0.1 KICK #c bob :behave")
            .await;
    }
    // Without a reason, the kicker's nick is the reason.
    alice.send("KICK #c carol").await;
    for c in [&mut alice, &mut *carol] {
        c.expect(":alice!~alice@127.0.0.1 KICK #c carol :alice")
            .await;
    }
    quiet(bob).await;
    // Kicked means out: +n keeps them from speaking in it.
    bob.send("PRIVMSG #c :let me in").await;
    bob.expect(":ferry.test 404 bob #c :Cannot send to channel (no external messages)")
        .await;
    alice.send("NAMES #c").await;
    alice.expect(":ferry.test 353 alice = #c @alice").await;
    alice
        .expect(":ferry.test 366 alice #c :End of /NAMES list")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_only() {
    let server = TestServer::start().await;
    let (mut alice, _) = channel_with(&server, &[]).await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    alice.send("MODE #c +i").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +i").await;
    bob.send("JOIN #c").await;
    bob.expect(":ferry.test 473 bob #c :Cannot join channel (+i)")
        .await;
    bob.send("INVITE carol #c").await;
    bob.expect(":ferry.test 442 bob #c :You're not on that channel")
        .await;
    alice.send("INVITE nobody #c").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("INVITE bob #c").await;
    alice.expect(":ferry.test 341 alice bob #c").await;
    bob.expect(":alice!~alice@127.0.0.1 INVITE bob #c").await;
    bob.send("JOIN #c").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    expect_names(&mut bob, ":ferry.test 353 bob = #c", &["@alice", "bob"]).await;
    bob.expect(":ferry.test 366 bob #c :End of /NAMES list")
        .await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    alice.send("INVITE bob #c").await;
    alice
        .expect(":ferry.test 443 alice bob #c :is already on channel")
        .await;
    // Only operators invite to a +i channel.
    bob.send("INVITE carol #c").await;
    bob.expect(":ferry.test 482 bob #c :You're not channel operator")
        .await;
    // An invitation is used up by the JOIN.
    bob.send("PART #c").await;
    bob.expect(":bob!~bob@127.0.0.1 PART #c").await;
    alice.expect(":bob!~bob@127.0.0.1 PART #c").await;
    bob.send("JOIN #c").await;
    bob.expect(":ferry.test 473 bob #c :Cannot join channel (+i)")
        .await;
    quiet(&mut carol).await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_limit() {
    let server = TestServer::start().await;
    let (mut alice, _) = channel_with(&server, &[]).await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    alice.send("MODE #c +k sekrit").await;
    alice
        .expect(":alice!~alice@127.0.0.1 MODE #c +k sekrit")
        .await;
    bob.send("JOIN #c").await;
    bob.expect(":ferry.test 475 bob #c :Cannot join channel (+k)")
        .await;
    bob.send("JOIN #c wrong").await;
    bob.expect(":ferry.test 475 bob #c :Cannot join channel (+k)")
        .await;
    bob.send("JOIN #c sekrit").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    bob.until_cmd("366").await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    // Members see the key, others only that there is one.
    alice.send("MODE #c").await;
    alice.expect(":ferry.test 324 alice #c +ntk sekrit").await;
    alice.until_cmd("329").await;
    carol.send("MODE #c").await;
    carol.expect(":ferry.test 324 carol #c +ntk").await;
    carol.until_cmd("329").await;
    alice.send("MODE #c -k *").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c -k *").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c -k *").await;

    alice.send("MODE #c +l 2").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +l 2").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c +l 2").await;
    carol.send("JOIN #c").await;
    carol
        .expect(":ferry.test 471 carol #c :Cannot join channel (+l)")
        .await;
    alice.send("MODE #c +l 0").await;
    alice
        .expect(":ferry.test 696 alice #c l 0 :Invalid limit")
        .await;
    alice.send("MODE #c -l").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c -l").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c -l").await;
    carol.send("JOIN #c").await;
    carol.expect(":carol!~carol@127.0.0.1 JOIN #c").await;
    // Non-operators cannot change modes.
    carol.until_cmd("366").await;
    carol.send("MODE #c +k other").await;
    carol
        .expect(":ferry.test 482 carol #c :You're not channel operator")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_and_exceptions() {
    let server = TestServer::start().await;
    let (mut alice, _) = channel_with(&server, &[]).await;
    let mut bob = server.client("bob").await;
    alice.send("MODE #c +b *!~bob@*").await;
    alice
        .expect(":alice!~alice@127.0.0.1 MODE #c +b *!~bob@*")
        .await;
    bob.send("JOIN #c").await;
    bob.expect(":ferry.test 474 bob #c :Cannot join channel (+b)")
        .await;
    alice.send("MODE #c +b").await;
    let l = alice.line().await;
    let ts = l
        .strip_prefix(":ferry.test 367 alice #c *!~bob@* alice!~alice@127.0.0.1 ")
        .unwrap_or_else(|| panic!("{l}"));
    assert!(ts.parse::<u64>().is_ok(), "{l}");
    alice
        .expect(":ferry.test 368 alice #c :End of channel ban list")
        .await;
    // A bare nick is completed to nick!*@*.
    alice.send("MODE #c +e BOB").await;
    alice
        .expect(":alice!~alice@127.0.0.1 MODE #c +e BOB!*@*")
        .await;
    bob.send("JOIN #c").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    bob.until_cmd("366").await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await;
    alice.send("MODE #c -e bob!*@*").await;
    alice
        .expect(":alice!~alice@127.0.0.1 MODE #c -e BOB!*@*")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c -e BOB!*@*")
        .await;
    // A banned member cannot speak.
    bob.send("PRIVMSG #c :let me talk").await;
    bob.expect(":ferry.test 404 bob #c :Cannot send to channel (you're banned)")
        .await;
    alice.send("MODE #c -b *!~bob@*").await;
    alice
        .expect(":alice!~alice@127.0.0.1 MODE #c -b *!~bob@*")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c -b *!~bob@*")
        .await;
    bob.send("PRIVMSG #c :free again").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG #c :free again")
        .await;
    alice.send("MODE #c +b").await;
    alice
        .expect(":ferry.test 368 alice #c :End of channel ban list")
        .await;
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderated() {
    let server = TestServer::start().await;
    let (mut alice, mut m) = channel_with(&server, &["bob"]).await;
    let bob = &mut m[0];
    alice.send("MODE #c +m").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +m").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c +m").await;
    bob.send("PRIVMSG #c :can I?").await;
    bob.expect(":ferry.test 404 bob #c :Cannot send to channel (+m)")
        .await;
    alice.send("PRIVMSG #c :ops may").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG #c :ops may")
        .await;
    alice.send("MODE #c +v bob").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +v bob").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c +v bob").await;
    bob.send("PRIVMSG #c :now I can").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG #c :now I can")
        .await;
    alice.send("NAMES #c").await;
    expect_names(
        &mut alice,
        ":ferry.test 353 alice = #c",
        &["@alice", "+bob"],
    )
    .await;
    alice
        .expect(":ferry.test 366 alice #c :End of /NAMES list")
        .await;
    quiet(bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_external_messages() {
    let server = TestServer::start().await;
    let (mut alice, _) = channel_with(&server, &[]).await;
    let mut carol = server.client("carol").await;
    carol.send("PRIVMSG #c :from outside").await;
    carol
        .expect(":ferry.test 404 carol #c :Cannot send to channel (no external messages)")
        .await;
    alice.send("MODE #c -n").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c -n").await;
    carol.send("PRIVMSG #c :from outside").await;
    alice
        .expect(":carol!~carol@127.0.0.1 PRIVMSG #c :from outside")
        .await;
    carol.send("PRIVMSG #nochan :anyone?").await;
    carol
        .expect(":ferry.test 403 carol #nochan :No such channel")
        .await;
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_channels() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#pub").await;
    join(&mut alice, "#sec").await;
    alice.send("MODE #sec +s").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #sec +s").await;

    bob.send("LIST").await;
    bob.expect(":ferry.test 321 bob Channel :Users  Name").await;
    bob.expect(":ferry.test 322 bob #pub 1 :[+nt] ").await;
    bob.expect(":ferry.test 323 bob :End of /LIST").await;
    alice.send("LIST").await;
    alice
        .expect(":ferry.test 321 alice Channel :Users  Name")
        .await;
    expect_unordered(
        &mut alice,
        &[
            ":ferry.test 322 alice #pub 1 :[+nt] ".into(),
            ":ferry.test 322 alice #sec 1 :[+nst] ".into(),
        ],
    )
    .await;
    alice.expect(":ferry.test 323 alice :End of /LIST").await;

    bob.send("NAMES #sec").await;
    bob.expect(":ferry.test 366 bob #sec :End of /NAMES list")
        .await;
    alice.send("NAMES #sec").await;
    alice.expect(":ferry.test 353 alice @ #sec @alice").await;
    alice
        .expect(":ferry.test 366 alice #sec :End of /NAMES list")
        .await;
    bob.send("TOPIC #sec").await;
    bob.expect(":ferry.test 442 bob #sec :You're not on that channel")
        .await;
    bob.send("WHO #sec").await;
    bob.expect(":ferry.test 315 bob #sec :End of WHO list")
        .await;
    bob.send("WHOIS alice").await;
    bob.until_cmd("311").await;
    bob.expect(":ferry.test 319 bob alice @#pub").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_broadcasts() {
    let server = TestServer::start().await;
    let (mut alice, mut m) = channel_with(&server, &["bob"]).await;
    let bob = &mut m[0];
    alice.send("MODE #c +o bob").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +o bob").await;
    bob.expect(":alice!~alice@127.0.0.1 MODE #c +o bob").await;
    bob.send("MODE #c -o alice").await;
    bob.expect(":bob!~bob@127.0.0.1 MODE #c -o alice").await;
    alice.expect(":bob!~bob@127.0.0.1 MODE #c -o alice").await;
    alice.send("MODE #c +o alice").await;
    alice
        .expect(":ferry.test 482 alice #c :You're not channel operator")
        .await;
    bob.send("MODE #c +ov alice alice").await;
    bob.expect(":bob!~bob@127.0.0.1 MODE #c +ov alice alice")
        .await;
    alice
        .expect(":bob!~bob@127.0.0.1 MODE #c +ov alice alice")
        .await;
    // Modes already set are not repeated.
    bob.send("MODE #c +imnt").await;
    bob.expect(":bob!~bob@127.0.0.1 MODE #c +im").await;
    alice.expect(":bob!~bob@127.0.0.1 MODE #c +im").await;
    bob.send("MODE #c -i+s-m").await;
    bob.expect(":bob!~bob@127.0.0.1 MODE #c -i+s-m").await;
    alice.expect(":bob!~bob@127.0.0.1 MODE #c -i+s-m").await;
    bob.send("MODE #c +x").await;
    bob.expect(":ferry.test 472 bob x :is an unknown mode char to me")
        .await;
    bob.send("MODE #c +o nobody").await;
    bob.expect(":ferry.test 401 bob nobody :No such nick/channel")
        .await;
    bob.send("MODE #nope +o alice").await;
    bob.expect(":ferry.test 403 bob #nope :No such channel")
        .await;
    alice.send("MODE #c").await;
    alice.expect(":ferry.test 324 alice #c +nst").await;
    alice.until_cmd("329").await;
    alice.send("NAMES #c").await;
    expect_names(
        &mut alice,
        ":ferry.test 353 alice @ #c",
        &["@alice", "@bob"],
    )
    .await;
    alice.until_cmd("366").await;
    quiet(&mut alice).await;
    quiet(bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_zero_parts_all() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #a,#b").await;
    alice.expect(":alice!~alice@127.0.0.1 JOIN #a").await;
    alice.expect(":ferry.test 353 alice = #a @alice").await;
    alice
        .expect(":ferry.test 366 alice #a :End of /NAMES list")
        .await;
    alice.expect(":alice!~alice@127.0.0.1 JOIN #b").await;
    alice.expect(":ferry.test 353 alice = #b @alice").await;
    alice
        .expect(":ferry.test 366 alice #b :End of /NAMES list")
        .await;
    join(&mut bob, "#a").await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #a").await;
    alice.send("JOIN 0").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PART #a :Left all channels")
        .await;
    alice
        .expect(":alice!~alice@127.0.0.1 PART #b :Left all channels")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PART #a :Left all channels")
        .await;
    alice.send("LIST").await;
    alice
        .expect(":ferry.test 321 alice Channel :Users  Name")
        .await;
    alice.expect(":ferry.test 322 alice #a 1 :[+nt] ").await;
    alice.expect(":ferry.test 323 alice :End of /LIST").await;
    alice.send("WHOIS alice").await;
    alice.until_cmd("311").await;
    alice
        .expect(":ferry.test 312 alice alice ferry.test :ferry chat relay")
        .await;
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    for ch in ["#big", "#mid", "#small"] {
        join(&mut alice, ch).await;
    }
    alice.send("TOPIC #big :the big one").await;
    alice
        .expect(":alice!~alice@127.0.0.1 TOPIC #big :the big one")
        .await;
    join(&mut bob, "#big").await;
    join(&mut bob, "#mid").await;
    join(&mut carol, "#big").await;

    let list = |filter: &'static str| format!("LIST {filter}");
    let row =
        |ch: &str, n: usize, topic: &str| format!(":ferry.test 322 carol {ch} {n} :[+nt] {topic}");
    let cases: Vec<(&str, Vec<String>)> = vec![
        (">2", vec![row("#big", 3, "the big one")]),
        ("<2", vec![row("#small", 1, "")]),
        (
            ">1",
            vec![row("#big", 3, "the big one"), row("#mid", 2, "")],
        ),
        ("#sm*", vec![row("#small", 1, "")]),
        ("#M?D", vec![row("#mid", 2, "")]),
        ("#m*,>1", vec![row("#mid", 2, "")]),
        ("!#big", vec![row("#mid", 2, ""), row("#small", 1, "")]),
        (">5", vec![]),
        // Created less / more than an hour ago; topic set less than an hour ago.
        (
            "C<60",
            vec![
                row("#big", 3, "the big one"),
                row("#mid", 2, ""),
                row("#small", 1, ""),
            ],
        ),
        ("C>60", vec![]),
        ("T<60", vec![row("#big", 3, "the big one")]),
        (
            "",
            vec![
                row("#big", 3, "the big one"),
                row("#mid", 2, ""),
                row("#small", 1, ""),
            ],
        ),
    ];
    for (filter, rows) in cases {
        carol.send(&list(filter)).await;
        carol
            .expect(":ferry.test 321 carol Channel :Users  Name")
            .await;
        expect_unordered(&mut carol, &rows).await;
        carol.expect(":ferry.test 323 carol :End of /LIST").await;
    }
    carol.send("NAMES #big,#mid").await;
    expect_names(
        &mut carol,
        ":ferry.test 353 carol = #big",
        &["@alice", "bob", "carol"],
    )
    .await;
    expect_names(
        &mut carol,
        ":ferry.test 353 carol = #mid",
        &["@alice", "bob"],
    )
    .await;
    carol
        .expect(":ferry.test 366 carol #big,#mid :End of /NAMES list")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statusmsg() {
    let server = TestServer::start().await;
    let (mut alice, mut m) = channel_with(&server, &["bob", "carol"]).await;
    alice.send("MODE #c +v bob").await;
    alice.expect(":alice!~alice@127.0.0.1 MODE #c +v bob").await;
    for c in m.iter_mut() {
        c.expect(":alice!~alice@127.0.0.1 MODE #c +v bob").await;
    }
    let (bob, carol) = m.split_at_mut(1);
    let (bob, carol) = (&mut bob[0], &mut carol[0]);
    carol.send("PRIVMSG @#c :ops only").await;
    alice
        .expect(":carol!~carol@127.0.0.1 PRIVMSG @#c :ops only")
        .await;
    quiet(bob).await;
    carol.send("NOTICE @#c :ops notice").await;
    alice
        .expect(":carol!~carol@127.0.0.1 NOTICE @#c :ops notice")
        .await;
    quiet(bob).await;
    carol.send("PRIVMSG +#c :voices and ops").await;
    alice
        .expect(":carol!~carol@127.0.0.1 PRIVMSG +#c :voices and ops")
        .await;
    bob.expect(":carol!~carol@127.0.0.1 PRIVMSG +#c :voices and ops")
        .await;
    quiet(carol).await;
    alice.send("PRIVMSG @#c :just me").await;
    quiet(&mut alice).await;
    quiet(bob).await;
    quiet(carol).await;
}
