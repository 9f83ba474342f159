//! Profiles (METADATA, draft/metadata-3): a display name and an avatar
//! kept with the account, shown to those who subscribe, on WHOIS, and on
//! channels; who may change what.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, cap_client, join, quiet, quit, register_account, sasl_client, split_tags,
};

const CAPS: &str = "batch draft/metadata-3";

/// The lines of the next `metadata` batch, tags removed.
async fn batch(c: &mut TestClient) -> Vec<String> {
    let start = c.until(|l| l.contains(" BATCH +")).await;
    assert!(start.contains(" metadata "), "{start}");
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        if l.contains(" BATCH -") {
            return lines;
        }
        lines.push(split_tags(&l).1.to_string());
    }
}

/// A registered client with metadata, past its own (empty) batch.
async fn meta_client(server: &TestServer, nick: &str) -> TestClient {
    let mut c = cap_client(server, nick, CAPS).await;
    assert_eq!(batch(&mut c).await, Vec::<String>::new());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_kept_with_the_account() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut bob = sasl_client(&server, "bob", "secret", CAPS).await;
    // At login: its profile (empty so far), in a batch.
    assert_eq!(batch(&mut bob).await, Vec::<String>::new());
    bob.send("METADATA * SET display-name :鲍勃 Bob").await;
    bob.expect(":ferry.test 761 bob bob display-name * :鲍勃 Bob")
        .await;
    bob.send("METADATA * SET avatar :https://example.com/bob.png")
        .await;
    bob.expect(":ferry.test 761 bob bob avatar * :https://example.com/bob.png")
        .await;
    quit(&mut bob).await;

    // Next login, another device: the profile is there.
    let mut bob = sasl_client(&server, "bob", "secret", CAPS).await;
    let mut got = batch(&mut bob).await;
    got.sort();
    assert_eq!(
        got,
        [
            ":ferry.test 761 * bob avatar * :https://example.com/bob.png",
            ":ferry.test 761 * bob display-name * :鲍勃 Bob",
        ]
    );
    // Anyone may read it, and WHOIS shows it.
    let mut alice = meta_client(&server, "alice").await;
    alice.send("METADATA bob GET display-name status").await;
    assert_eq!(
        batch(&mut alice).await,
        [
            ":ferry.test 761 alice bob display-name * :鲍勃 Bob",
            ":ferry.test 766 alice bob status :Key is not set",
        ]
    );
    alice.send("WHOIS bob").await;
    let l = alice.until(|l| l.contains(" 760 ")).await;
    assert!(
        l == ":ferry.test 760 alice bob avatar * :https://example.com/bob.png"
            || l == ":ferry.test 760 alice bob display-name * :鲍勃 Bob",
        "{l}"
    );
    alice.until(|l| l.contains(" 318 alice bob ")).await;
    // Nobody else may change it.
    alice.send("METADATA bob SET display-name :not bob").await;
    alice
        .expect(":ferry.test FAIL METADATA KEY_NO_PERMISSION bob display-name :You do not have permission to do that")
        .await;
    // Removed, it is gone at the next login too.
    bob.send("METADATA * SET avatar").await;
    bob.expect(":ferry.test 766 bob bob avatar :Key deleted")
        .await;
    quit(&mut bob).await;
    let mut bob = sasl_client(&server, "bob", "secret", CAPS).await;
    assert_eq!(
        batch(&mut bob).await,
        [":ferry.test 761 * bob display-name * :鲍勃 Bob"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_changes_and_joiners_see_members() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut bob = meta_client(&server, "bob").await;
    let mut alice = meta_client(&server, "alice").await;
    let mut carol = meta_client(&server, "carol").await;
    alice.send("METADATA * SUB display-name avatar").await;
    alice
        .expect(":ferry.test 770 alice display-name avatar")
        .await;
    alice
        .expect(":ferry.test 774 alice * 0 :Use METADATA <target> SYNC")
        .await;
    for c in [&mut bob, &mut alice, &mut carol] {
        join(c, "#room").await;
    }
    for c in [&mut bob, &mut alice] {
        c.until(|l| l.starts_with(":carol!") && l.ends_with(" JOIN #room"))
            .await;
    }
    // A change reaches the subscribers sharing a channel, not others.
    bob.send("METADATA * SET display-name :Bobby").await;
    bob.expect(":ferry.test 761 bob bob display-name * :Bobby")
        .await;
    alice
        .expect(":ferry.test 761 * bob display-name * :Bobby")
        .await;
    quiet(&mut carol).await;
    // The channel's own, set by its operator (bob joined first).
    bob.send("METADATA #room SET avatar :https://example.com/room.png")
        .await;
    bob.until(|l| l.contains(" 761 bob #room avatar ")).await;
    alice
        .expect(":ferry.test 761 * #room avatar * :https://example.com/room.png")
        .await;
    carol.send("METADATA #room SET avatar :mine").await;
    carol
        .expect(":ferry.test FAIL METADATA KEY_NO_PERMISSION #room avatar :You do not have permission to do that")
        .await;
    // A subscriber joining later gets the channel's and the members'.
    let mut dave = meta_client(&server, "dave").await;
    dave.send("METADATA * SUB display-name avatar").await;
    dave.until(|l| l.contains(" 774 ")).await;
    dave.send("JOIN #room").await;
    let mut got = batch(&mut dave).await;
    got.sort();
    assert_eq!(
        got,
        [
            ":ferry.test 761 * #room avatar * :https://example.com/room.png",
            ":ferry.test 761 * bob display-name * :Bobby",
        ]
    );
    // Unsubscribed, alice hears no more.
    for c in [&mut bob, &mut alice, &mut carol] {
        c.until(|l| l.starts_with(":dave!") && l.ends_with(" JOIN #room"))
            .await;
    }
    alice.send("METADATA * UNSUB display-name").await;
    alice.expect(":ferry.test 771 alice display-name").await;
    alice.send("METADATA * SUBS").await;
    alice.expect(":ferry.test 772 alice avatar").await;
    bob.send("METADATA * SET display-name :Robert").await;
    bob.until(|l| l.contains(" 761 bob bob display-name "))
        .await;
    quiet(&mut alice).await;
    dave.until(|l| l == ":ferry.test 761 * bob display-name * :Robert")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_before_connect() {
    let server = TestServer::with_config(accounts_config(
        "",
        "[metadata]\nmax_keys = 2\nmax_value_bytes = 20\n",
    ))
    .await;
    // Set before registering: the user has it once registered.
    let mut c = server.connect().await;
    c.send("CAP REQ :batch draft/metadata-3").await;
    c.until(|l| l.contains(" ACK ")).await;
    c.send("METADATA * SET status :early").await;
    c.expect(":ferry.test 761 * * status * :early").await;
    c.send("METADATA #chan GET x").await;
    c.until(|l| l.contains(" KEY_NO_PERMISSION #chan * ")).await;
    c.send("CAP END").await;
    c.register("early").await;
    assert_eq!(
        batch(&mut c).await,
        [":ferry.test 761 * early status * :early"]
    );
    c.send("METADATA * SET display-name :twenty-one bytes long")
        .await;
    c.expect(":ferry.test FAIL METADATA INVALID_VALUE display-name :Value is too long")
        .await;
    c.send("METADATA * SET display-name :ok").await;
    c.until(|l| l.contains(" 761 early early display-name "))
        .await;
    c.send("METADATA * SET third :no room").await;
    c.expect(":ferry.test FAIL METADATA LIMIT_REACHED early 2 :Too many metadata keys")
        .await;
    c.send("METADATA * SET Bad!Key :x").await;
    c.expect(":ferry.test FAIL METADATA INVALID_KEY Bad!Key :Invalid key name")
        .await;
    c.send("METADATA nobody LIST").await;
    c.expect(":ferry.test FAIL METADATA INVALID_TARGET nobody :Invalid metadata target")
        .await;
    c.send("METADATA * CLEAR").await;
    let mut got = batch(&mut c).await;
    got.sort();
    assert_eq!(
        got,
        [
            ":ferry.test 766 early early display-name :Metadata value cleared",
            ":ferry.test 766 early early status :Metadata value cleared",
        ]
    );
    c.send("METADATA * LIST").await;
    assert_eq!(batch(&mut c).await, Vec::<String>::new());
}
