//! PRIVMSG, NOTICE and TAGMSG between users, with the IRCv3 caps that
//! change what each side sees.

use ferry_testkit::TestServer;

use crate::util::{cap_client, is_server_time, quiet, split_tags, tag};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privmsg_and_notice() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("PRIVMSG bob :hello there").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :hello there")
        .await;
    bob.send("NOTICE alice :hi back").await;
    alice
        .expect(":bob!~bob@127.0.0.1 NOTICE alice :hi back")
        .await;
    // Targets are case-insensitive; the recipient sees the target as sent.
    alice.send("PRIVMSG BOB :shouting").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG BOB :shouting")
        .await;
    // A one-word text without a colon.
    alice.send("PRIVMSG bob word").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :word")
        .await;
    alice.send("PRIVMSG nobody :anyone?").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    // NOTICE never gets an error back.
    alice.send("NOTICE nobody :anyone?").await;
    quiet(&mut alice).await;
    alice.send("PRIVMSG bob").await;
    alice.expect(":ferry.test 412 alice :No text to send").await;
    alice.send("PRIVMSG").await;
    alice
        .expect(":ferry.test 411 alice :No recipient given (PRIVMSG)")
        .await;
    quiet(&mut bob).await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_targets() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    alice.send("PRIVMSG bob,carol :to you both").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :to you both")
        .await;
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG carol :to you both")
        .await;
    // A repeated target gets the message once.
    alice.send("PRIVMSG bob,bob :once").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :once")
        .await;
    quiet(&mut bob).await;
    // Unknown targets fail alone; past MAXTARGETS=4 nothing is delivered.
    alice.send("PRIVMSG bob,n1,carol,n2,n3 :mixed").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :mixed")
        .await;
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG carol :mixed")
        .await;
    // Nicks that are not online are looked up among the stored accounts
    // (offline delivery), so their 401 comes after the immediate replies.
    alice
        .expect(":ferry.test 407 alice n3 :Too many targets. Message not delivered")
        .await;
    alice
        .expect(":ferry.test 401 alice n1 :No such nick/channel")
        .await;
    alice
        .expect(":ferry.test 401 alice n2 :No such nick/channel")
        .await;
    quiet(&mut alice).await;
    quiet(&mut bob).await;
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_message_with_labels() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "echo-message labeled-response").await;
    let mut bob = server.client("bob").await;
    alice.send("@label=abc PRIVMSG bob :hi").await;
    alice
        .expect("@label=abc :alice!~alice@127.0.0.1 PRIVMSG bob :hi")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :hi").await;
    alice.send("PRIVMSG bob :unlabeled").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :unlabeled")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :unlabeled")
        .await;
    alice.send("@label=n1 NOTICE bob :quiet one").await;
    alice
        .expect("@label=n1 :alice!~alice@127.0.0.1 NOTICE bob :quiet one")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 NOTICE bob :quiet one")
        .await;
    // An error carries the label; a command without any reply gets ACK.
    alice.send("@label=e1 PRIVMSG nobody :x").await;
    alice
        .expect("@label=e1 :ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("@label=a1 PONG :nothing").await;
    alice.expect("@label=a1 :ferry.test ACK").await;
    alice.send("@label=p1 PING :tok").await;
    alice
        .expect("@label=p1 :ferry.test PONG ferry.test :tok")
        .await;
    quiet(&mut alice).await;
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labeled_response_batch() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "labeled-response batch").await;
    let _bob = server.client("bob").await;
    alice.send("@label=w1 WHOIS bob").await;
    let start = alice.line().await;
    let id = start
        .strip_prefix("@label=w1 :ferry.test BATCH +")
        .and_then(|r| r.strip_suffix(" labeled-response"))
        .unwrap_or_else(|| panic!("not a labeled batch start: {start}"))
        .to_string();
    alice
        .expect(&format!(
            "@batch={id} :ferry.test 311 alice bob ~bob 127.0.0.1 * :bob real"
        ))
        .await;
    alice
        .expect(&format!(
            "@batch={id} :ferry.test 312 alice bob ferry.test :ferry chat relay"
        ))
        .await;
    let idle = alice.line().await;
    assert!(
        idle.starts_with(&format!("@batch={id} :ferry.test 317 alice bob ")),
        "{idle}"
    );
    alice
        .expect(&format!(
            "@batch={id} :ferry.test 318 alice bob :End of /WHOIS list"
        ))
        .await;
    alice.expect(&format!(":ferry.test BATCH -{id}")).await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = cap_client(&server, "bob", "server-time").await;
    alice.send("PRIVMSG bob :tick").await;
    let l = bob.line().await;
    let (tags, rest) = split_tags(&l);
    assert_eq!(rest, ":alice!~alice@127.0.0.1 PRIVMSG bob :tick");
    assert_eq!(tags.len(), 1, "{l}");
    assert_eq!(tags[0].0, "time", "{l}");
    assert!(is_server_time(tags[0].1), "{l}");
    // Without the cap: no tags.
    bob.send("PRIVMSG alice :tock").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG alice :tock")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_tags() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "message-tags").await;
    let mut bob = cap_client(&server, "bob", "message-tags").await;
    let mut carol = server.client("carol").await;

    // A client-only tag reaches a message-tags client and is stripped for
    // one without.
    alice.send("@+draft/react=x PRIVMSG bob,carol :hi").await;
    let l = bob.line().await;
    let id1 = tag(&l, "msgid").expect("msgid").to_string();
    assert!(!id1.is_empty());
    assert_eq!(
        l,
        format!("@msgid={id1};+draft/react=x :alice!~alice@127.0.0.1 PRIVMSG bob :hi")
    );
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG carol :hi")
        .await;

    // Every message gets its own msgid; tags a client may not set are dropped.
    alice
        .send("@time=2000-01-01T00:00:00.000Z;msgid=forged;+a=b PRIVMSG bob :again")
        .await;
    let l = bob.line().await;
    let id2 = tag(&l, "msgid").expect("msgid").to_string();
    assert_ne!(id2, id1);
    assert_ne!(id2, "forged");
    assert_eq!(
        l,
        format!("@msgid={id2};+a=b :alice!~alice@127.0.0.1 PRIVMSG bob :again")
    );

    // TAGMSG: only to message-tags clients.
    alice.send("@+typing=active TAGMSG bob").await;
    let l = bob.line().await;
    let id3 = tag(&l, "msgid").expect("msgid").to_string();
    assert_eq!(
        l,
        format!("@msgid={id3};+typing=active :alice!~alice@127.0.0.1 TAGMSG bob")
    );
    alice.send("@+typing=active TAGMSG carol").await;
    quiet(&mut alice).await;
    quiet(&mut carol).await;

    // Without message-tags a client cannot send client-only tags.
    carol.send("@+draft/react=y PRIVMSG bob :plain").await;
    let l = bob.line().await;
    let id4 = tag(&l, "msgid").expect("msgid").to_string();
    assert_eq!(
        l,
        format!("@msgid={id4} :carol!~carol@127.0.0.1 PRIVMSG bob :plain")
    );
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_carries_the_same_msgid() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "echo-message message-tags server-time").await;
    let mut bob = cap_client(&server, "bob", "message-tags").await;
    alice.send("@+draft/reply=abc PRIVMSG bob :threaded").await;
    let echo = alice.line().await;
    let got = bob.line().await;
    let id = tag(&got, "msgid").expect("msgid").to_string();
    assert_eq!(
        got,
        format!("@msgid={id};+draft/reply=abc :alice!~alice@127.0.0.1 PRIVMSG bob :threaded")
    );
    let time = tag(&echo, "time").expect("time").to_string();
    assert!(is_server_time(&time), "{echo}");
    assert_eq!(
        echo,
        format!(
            "@time={time};msgid={id};+draft/reply=abc :alice!~alice@127.0.0.1 PRIVMSG bob :threaded"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagmsg_in_a_channel() {
    let server = TestServer::start().await;
    let mut alice = cap_client(
        &server,
        "alice",
        "message-tags echo-message labeled-response",
    )
    .await;
    let mut bob = cap_client(&server, "bob", "message-tags").await;
    let mut carol = server.client("carol").await;
    crate::util::join(&mut alice, "#c").await;
    crate::util::join(&mut bob, "#c").await;
    crate::util::join(&mut carol, "#c").await;
    alice.until_cmd("JOIN").await;
    alice.until_cmd("JOIN").await;
    bob.until_cmd("JOIN").await;

    alice.send("@label=t1;+typing=active TAGMSG #c").await;
    let echo = alice.line().await;
    let id = tag(&echo, "msgid").expect("msgid").to_string();
    assert_eq!(
        echo,
        format!("@label=t1;msgid={id};+typing=active :alice!~alice@127.0.0.1 TAGMSG #c")
    );
    bob.expect(&format!(
        "@msgid={id};+typing=active :alice!~alice@127.0.0.1 TAGMSG #c"
    ))
    .await;
    quiet(&mut carol).await;

    // A channel PRIVMSG reaches both, each as its caps allow.
    alice.send("@+draft/react=y PRIVMSG #c :both").await;
    let echo = alice.line().await;
    let id = tag(&echo, "msgid").expect("msgid").to_string();
    assert_eq!(
        echo,
        format!("@msgid={id};+draft/react=y :alice!~alice@127.0.0.1 PRIVMSG #c :both")
    );
    bob.expect(&format!(
        "@msgid={id};+draft/react=y :alice!~alice@127.0.0.1 PRIVMSG #c :both"
    ))
    .await;
    carol
        .expect(":alice!~alice@127.0.0.1 PRIVMSG #c :both")
        .await;
}
