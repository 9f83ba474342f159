//! Several devices per account (multiclient, as Ergo has it): connections
//! logged in to one account share its nick, channels and messages; one
//! device leaving is seen by nobody, the last one is the user's QUIT.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, expect_names, join, quiet, quit, register_account, sasl_client, src,
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
