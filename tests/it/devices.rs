//! Several devices per account (multiclient, as Ergo has it): connections
//! logged in to one account share its nick, channels and messages; one
//! device leaving is seen by nobody, the last one is the user's QUIT —
//! unless the account is always-on: then the user stays with none.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, expect_names, join, oper_block, quiet, quit, register_account, sasl_client,
    src,
};

/// The user `bob` on two devices, and `alice` in `#room` with him.
async fn bob_twice(server: &TestServer) -> (TestClient, TestClient, TestClient) {
    register_account(server, "bob", "secret").await;
    let mut alice = server.client("alice").await;
    join(&mut alice, "#room").await;
    let mut phone = sasl_client(server, "bob", "secret", "").await;
    join(&mut phone, "#room").await;
    alice.expect(&format!(":{} JOIN #room", src("bob"))).await;
    // The second device gets the nick and the channel, not a 433.
    let mut pc = sasl_client(server, "bob", "secret", "").await;
    pc.expect(&format!(":{} JOIN #room", src("bob"))).await;
    expect_names(&mut pc, ":ferry.test 353 bob = #room", &["@alice", "bob"]).await;
    pc.expect(":ferry.test 366 bob #room :End of /NAMES list")
        .await;
    quiet(&mut pc).await;
    // Nobody else sees the second device arrive.
    quiet(&mut alice).await;
    quiet(&mut phone).await;
    (alice, phone, pc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_gets_what_is_sent_to_and_by_the_user() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let (mut alice, mut phone, mut pc) = bob_twice(&server).await;

    // To the user: a DM and a channel message reach both devices.
    alice.send("PRIVMSG bob :hi bob").await;
    alice.send("PRIVMSG #room :hi room").await;
    for d in [&mut phone, &mut pc] {
        d.expect(&format!(":{} PRIVMSG bob :hi bob", src("alice")))
            .await;
        d.expect(&format!(":{} PRIVMSG #room :hi room", src("alice")))
            .await;
    }

    // By the user: what one device sends, the other sees as an echo; the
    // sender without echo-message sees nothing.
    pc.send("PRIVMSG alice :from the pc").await;
    pc.send("PRIVMSG #room :pc to room").await;
    alice
        .expect(&format!(":{} PRIVMSG alice :from the pc", src("bob")))
        .await;
    alice
        .expect(&format!(":{} PRIVMSG #room :pc to room", src("bob")))
        .await;
    phone
        .expect(&format!(":{} PRIVMSG alice :from the pc", src("bob")))
        .await;
    phone
        .expect(&format!(":{} PRIVMSG #room :pc to room", src("bob")))
        .await;
    quiet(&mut pc).await;

    // A channel joined on one device is joined on the other.
    phone.send("JOIN #second").await;
    phone.until(|l| l.contains(" 366 bob #second ")).await;
    pc.expect(&format!(":{} JOIN #second", src("bob"))).await;
    alice.send("JOIN #second").await;
    alice.until(|l| l.contains(" 366 alice #second ")).await;
    phone
        .expect(&format!(":{} JOIN #second", src("alice")))
        .await;
    pc.expect(&format!(":{} JOIN #second", src("alice"))).await;

    // A nick change on one is the user's: everyone sees it once.
    pc.send("NICK bobby").await;
    let nick = format!(":{} NICK :bobby", src("bob"));
    pc.expect(&nick).await;
    phone.expect(&nick).await;
    alice.expect(&nick).await;
    quiet(&mut alice).await;
    phone.send("NICK bob").await;
    let back = ":bobby!~bob@127.0.0.1 NICK :bob";
    phone.expect(back).await;
    pc.expect(back).await;
    alice.expect(back).await;
    // Both devices answer to the nick now in use.
    pc.send("WHOIS bob").await;
    pc.expect(":ferry.test 311 bob bob ~bob 127.0.0.1 * :bob real")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_leaving_is_not_a_quit() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let (mut alice, mut phone, mut pc) = bob_twice(&server).await;

    // The first device goes: nobody sees it; the user stays, on the pc.
    quit(&mut phone).await;
    quiet(&mut alice).await;
    quiet(&mut pc).await;
    alice.send("PRIVMSG #room :still there?").await;
    pc.expect(&format!(":{} PRIVMSG #room :still there?", src("alice")))
        .await;
    alice.send("WHOIS bob").await;
    alice
        .expect(":ferry.test 311 alice bob ~bob 127.0.0.1 * :bob real")
        .await;
    alice.until(|l| l.contains(" 318 alice bob ")).await;

    // A third device attaches to what is left.
    let mut tablet = sasl_client(&server, "bob", "secret", "").await;
    tablet.expect(&format!(":{} JOIN #room", src("bob"))).await;
    tablet.until(|l| l.contains(" 366 bob #room ")).await;
    alice.send("PRIVMSG bob :two of you").await;
    for d in [&mut pc, &mut tablet] {
        d.expect(&format!(":{} PRIVMSG bob :two of you", src("alice")))
            .await;
    }
    quit(&mut tablet).await;
    quiet(&mut alice).await;

    // The last device going is the user's QUIT.
    quit(&mut pc).await;
    let l = alice.line().await;
    assert!(
        l.starts_with(&format!(":{} QUIT :", src("bob"))),
        "alice: {l}"
    );
    alice.send("WHOIS bob").await;
    alice
        .until(|l| l.starts_with(":ferry.test 401 alice bob "))
        .await;
    // The nick is free again.
    let mut back = sasl_client(&server, "bob", "secret", "").await;
    quiet(&mut back).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_account_may_share_the_nick() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    register_account(&server, "carol", "secret").await;
    let _bob = sasl_client(&server, "bob", "secret", "").await;

    // Not logged in: 433 at registration, then another nick works.
    let mut guest = server.connect().await;
    guest.send("NICK bob").await;
    guest.send("USER g 0 * :g").await;
    guest
        .expect(":ferry.test 433 * bob :Nickname is already in use")
        .await;
    guest.register("guest").await;

    // Logged in to another account: 433 as soon as NICK is seen.
    let mut carol = server.connect().await;
    carol.send("CAP REQ :sasl").await;
    carol.expect(":ferry.test CAP * ACK :sasl").await;
    carol.send("AUTHENTICATE PLAIN").await;
    carol.expect("AUTHENTICATE +").await;
    carol
        .send(&format!(
            "AUTHENTICATE {}",
            crate::util::sasl::plain_payload("carol", "secret")
        ))
        .await;
    carol.until(|l| l.contains(" 903 ")).await;
    carol.send("NICK bob").await;
    carol
        .expect(":ferry.test 433 * bob :Nickname is already in use")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiclient_off_keeps_one_connection_per_nick() {
    let server = TestServer::with_config(accounts_config("multiclient = false", "")).await;
    register_account(&server, "bob", "secret").await;
    let _bob = sasl_client(&server, "bob", "secret", "").await;
    let mut second = server.connect().await;
    second.send("NICK bob").await;
    second
        .expect(":ferry.test 433 * bob :Nickname is already in use")
        .await;
}

const NICKSERV: &str = ":NickServ!NickServ@ferry.test NOTICE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_always_on_user_stays_with_no_device() {
    let server = TestServer::with_config(accounts_config("", &oper_block())).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = server.client("alice").await;
    join(&mut alice, "#room").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    join(&mut bob, "#room").await;
    alice.expect(&format!(":{} JOIN #room", src("bob"))).await;
    bob.send("PRIVMSG NickServ :SET ALWAYS-ON ON").await;
    bob.expect(&format!(
        "{NICKSERV} bob :Always-on is ON: you stay in your channels when your last device disconnects; direct messages wait for your next one."
    ))
    .await;

    // The last device goes: bob stays, in #room and by his nick.
    quit(&mut bob).await;
    quiet(&mut alice).await;
    alice.send("NAMES #room").await;
    expect_names(
        &mut alice,
        ":ferry.test 353 alice = #room",
        &["@alice", "bob"],
    )
    .await;
    alice.until(|l| l.contains(" 366 alice #room ")).await;
    // What is sent to him meanwhile waits for his next device.
    alice.send("PRIVMSG bob :while you were out").await;
    alice
        .expect(":ferry.test 301 alice bob :is offline; your messages will be delivered when they log in")
        .await;

    // The next device finds the channel and the message.
    let mut back = sasl_client(&server, "bob", "secret", "").await;
    back.expect(&format!(":{} JOIN #room", src("bob"))).await;
    back.until(|l| l.contains(" 366 bob #room ")).await;
    let l = back.line().await;
    assert!(
        l.starts_with(&format!(":{} PRIVMSG bob :[", src("alice")))
            && l.ends_with("] while you were out"),
        "{l}"
    );
    quiet(&mut alice).await;

    // Parked again, then killed: now everyone sees him go.
    quit(&mut back).await;
    let mut oper = server.client("oper").await;
    oper.send("OPER oper operpass").await;
    oper.until(|l| l.ends_with("MODE oper :+o")).await;
    oper.send("KILL bob :enough").await;
    let l = alice.until(|l| l.contains(" QUIT ")).await;
    assert!(
        l.starts_with(&format!(":{} QUIT :Killed (", src("bob"))),
        "{l}"
    );
    alice.send("WHOIS bob").await;
    alice
        .until(|l| l.starts_with(":ferry.test 401 alice bob "))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_on_follows_the_server_setting() {
    // opt-out: on unless the owner turns it off.
    let server = TestServer::with_config(accounts_config("always_on = \"opt-out\"", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = server.client("alice").await;
    join(&mut alice, "#room").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    join(&mut bob, "#room").await;
    alice.until(|l| l.contains(" JOIN #room")).await;
    quit(&mut bob).await;
    quiet(&mut alice).await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    bob.until(|l| l.contains(" 366 bob #room ")).await;
    bob.send("PRIVMSG NickServ :SET ALWAYS-ON OFF").await;
    bob.expect(&format!(
        "{NICKSERV} bob :Always-on is OFF: you quit when your last device disconnects."
    ))
    .await;
    quit(&mut bob).await;
    let l = alice.line().await;
    assert!(l.starts_with(&format!(":{} QUIT :", src("bob"))), "{l}");

    // disabled: the owner's choice does not matter.
    let server = TestServer::with_config(accounts_config("always_on = \"disabled\"", "")).await;
    register_account(&server, "carol", "secret").await;
    let mut carol = sasl_client(&server, "carol", "secret", "").await;
    carol.send("PRIVMSG NickServ :SET ALWAYS-ON ON").await;
    carol
        .expect(&format!(
            "{NICKSERV} carol :Always-on is OFF (disabled on this server)."
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_follow_the_user_across_devices() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut phone = sasl_client(&server, "bob", "secret", "draft/read-marker").await;
    phone.send("JOIN #room").await;
    phone.until(|l| l == ":ferry.test MARKREAD #room *").await;
    phone.until(|l| l.contains(" 366 bob #room ")).await;
    let mut pc = sasl_client(&server, "bob", "secret", "draft/read-marker").await;
    pc.until(|l| l == ":ferry.test MARKREAD #room *").await;
    pc.until(|l| l.contains(" 366 bob #room ")).await;
    quiet(&mut pc).await;

    let at = ":ferry.test MARKREAD #room timestamp=2026-12-04T18:41:00.000Z";
    phone
        .send("MARKREAD #room timestamp=2026-12-04T18:41:00.000Z")
        .await;
    phone.expect(at).await;
    pc.expect(at).await;
    // Only forward: an older one is answered with the one kept, and
    // nobody else is told.
    pc.send("MARKREAD #room timestamp=2020-01-01T00:00:00.000Z")
        .await;
    pc.expect(at).await;
    quiet(&mut phone).await;

    // Stored: a device that comes later (always-on keeps the user) gets
    // it with the replayed JOIN, before the end of NAMES.
    quit(&mut phone).await;
    quit(&mut pc).await;
    let mut later = sasl_client(&server, "bob", "secret", "draft/read-marker").await;
    // Not always-on (the default is opt-in): bob left #room; the marker
    // is still the account's.
    later.send("MARKREAD #room").await;
    later.expect(at).await;
    later.send("JOIN #room").await;
    later.until(|l| l == at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_always_on_user_is_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || accounts_config("always_on = \"opt-out\"", "");
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    register_account(&server, "bob", "secret").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    join(&mut bob, "#room").await;
    join(&mut bob, "#other").await;
    quit(&mut bob).await;
    server.stop().await;

    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    // Nobody connected as bob, yet he is in #room, and his nick is his.
    let mut alice = server.client("alice").await;
    alice.send("JOIN #room").await;
    alice.until(|l| l.contains(" JOIN #room")).await;
    let names = alice.line().await;
    assert!(
        names.ends_with(" #room :@bob alice") || names.ends_with(" #room :alice @bob"),
        "{names}"
    );
    alice.until(|l| l.contains(" 366 alice #room ")).await;
    alice.send("PRIVMSG bob :are you there?").await;
    alice.until(|l| l.contains(" 301 alice bob ")).await;
    // His next device gets the channels and what was said to him.
    let mut pc = sasl_client(&server, "bob", "secret", "").await;
    pc.expect(&format!(":{} JOIN #room", src("bob"))).await;
    pc.until(|l| l.contains(" 366 bob #room ")).await;
    pc.expect(&format!(":{} JOIN #other", src("bob"))).await;
    pc.until(|l| l.contains(" 366 bob #other ")).await;
    let l = pc.until(|l| l.contains(" PRIVMSG bob ")).await;
    assert!(l.ends_with("] are you there?"), "{l}");
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_may_keep_to_one_connection() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    bob.send("PRIVMSG NickServ :SET MULTICLIENT OFF").await;
    bob.expect(&format!(
        "{NICKSERV} bob :Multiclient is OFF: one connection at a time uses your nick."
    ))
    .await;
    // Another device logged in to bob is refused the nick.
    let mut pc = server.connect().await;
    crate::util::sasl::sasl_hello(&mut pc, "bob", "bob", "").await;
    pc.expect(":ferry.test 433 * bob :Nickname is already in use")
        .await;
    // Stored: after a new login it still holds; DEFAULT lets devices in.
    quit(&mut bob).await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    let mut again = server.connect().await;
    crate::util::sasl::sasl_hello(&mut again, "bob", "bob", "").await;
    again
        .expect(":ferry.test 433 * bob :Nickname is already in use")
        .await;
    bob.send("PRIVMSG NickServ :SET MULTICLIENT DEFAULT").await;
    bob.until(|l| l.contains("Multiclient is ON")).await;
    let _pc = sasl_client(&server, "bob", "secret", "").await;
}

/// NickServ's answer: the text of its next NOTICE.
async fn ns(c: &mut TestClient, command: &str) -> String {
    c.send(&format!("PRIVMSG NickServ :{command}")).await;
    let l = c.until(|l| l.starts_with(NICKSERV)).await;
    l.split_once(" :").map(|(_, t)| t.to_string()).unwrap_or(l)
}

async fn ns_next(c: &mut TestClient) -> String {
    let l = c.until(|l| l.starts_with(NICKSERV)).await;
    l.split_once(" :").map(|(_, t)| t.to_string()).unwrap_or(l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_lists_the_others_and_logs_one_out() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let (mut alice, mut phone, mut pc) = bob_twice(&server).await;
    assert_eq!(
        ns(&mut pc, "CLIENTS LIST").await,
        "bob is connected 2 time(s):"
    );
    let first = ns_next(&mut pc).await;
    let second = ns_next(&mut pc).await;
    assert!(first.starts_with("1: 127.0.0.1, connected 20"), "{first}");
    assert!(!first.ends_with("(this one)"), "{first}");
    assert!(second.starts_with("2: 127.0.0.1, connected "), "{second}");
    assert!(second.ends_with(" (this one)"), "{second}");
    assert_eq!(
        ns(&mut pc, "CLIENTS LOGOUT 2").await,
        "That is this connection: use QUIT."
    );
    assert_eq!(
        ns(&mut pc, "CLIENTS LOGOUT 3").await,
        "There is no connection 3 (see CLIENTS LIST)."
    );
    // The phone, left logged in, is ended from the pc; nobody else sees it.
    assert_eq!(
        ns(&mut pc, "CLIENTS LOGOUT 1").await,
        "1 connection(s) logged out."
    );
    phone
        .until(|l| l.starts_with("ERROR :") && l.contains("Logged out from another device"))
        .await;
    phone.closed().await;
    quiet(&mut alice).await;
    alice.send("PRIVMSG bob :still here?").await;
    pc.expect(&format!(":{} PRIVMSG bob :still here?", src("alice")))
        .await;
    assert_eq!(ns(&mut pc, "CLIENTS").await, "bob is connected 1 time(s):");
    assert!(ns_next(&mut pc).await.ends_with("(this one)"));
    let mut guest = server.client("guest").await;
    assert_eq!(ns(&mut guest, "CLIENTS LIST").await, "Log in first.");
}
