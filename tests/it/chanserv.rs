//! Groups that last (ChanServ): a registered channel keeps its founder,
//! access list, topic, modes and bans across a restart, and its
//! operators and voiced members get their status back when they join.

use ferry_testkit::{TestClient, TestServer};

use crate::util::{
    accounts_config, chathistory_texts, join, quiet, register_account, sasl_client, src,
};

const CS: &str = ":ChanServ!ChanServ@ferry.test NOTICE";

async fn cs(c: &mut TestClient, command: &str) -> String {
    c.send(&format!("PRIVMSG ChanServ :{command}")).await;
    let l = c.until(|l| l.starts_with(CS)).await;
    l.rsplit_once(" :").map(|(_, t)| t.to_string()).unwrap_or(l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_channel_lasts_and_gives_status_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || accounts_config("", "");
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    for a in ["alice", "bob", "carol"] {
        register_account(&server, a, "secret").await;
    }
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    join(&mut alice, "#group").await;
    alice.send("TOPIC #group :our group").await;
    alice.until(|l| l.contains(" TOPIC #group ")).await;
    alice.send("MODE #group +mb *!*@spam.example").await;
    alice.until(|l| l.contains(" MODE #group +mb ")).await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    join(&mut bob, "#group").await;
    // Only an operator of the channel may register it, once.
    assert_eq!(
        cs(&mut bob, "REGISTER #group").await,
        "You must be an operator of #group to register it."
    );
    assert!(cs(&mut alice, "REGISTER #group")
        .await
        .starts_with("#group is registered to you"));
    assert_eq!(
        cs(&mut alice, "REGISTER #group").await,
        "#group is registered already."
    );
    // The access list: bob an operator, carol voiced.
    assert_eq!(
        cs(&mut bob, "AMODE #group +o bob").await,
        "You do not have the access to do that on #group."
    );
    assert_eq!(
        cs(&mut alice, "AMODE #group +o bob").await,
        "bob now gets +o on #group."
    );
    assert_eq!(
        cs(&mut alice, "AMODE #group +v carol").await,
        "carol now gets +v on #group."
    );
    // A change after registering is kept too.
    alice.send("TOPIC #group :our group, registered").await;
    alice.until(|l| l.contains(" TOPIC #group ")).await;
    // Everyone leaves: the channel stays.
    for c in [&mut alice, &mut bob] {
        c.send("QUIT").await;
        c.closed().await;
    }
    let mut guest = server.client("guest").await;
    guest.send("LIST #group").await;
    guest.until(|l| l.contains(" 322 guest #group 0 ")).await;
    drop(guest);
    server.stop().await;

    // After a restart: all of it is there.
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    let mut carol = sasl_client(&server, "carol", "secret", "").await;
    carol.send("JOIN #group").await;
    carol
        .expect(&format!(":{} JOIN #group", src("carol")))
        .await;
    carol
        .expect(":ferry.test 332 carol #group :our group, registered")
        .await;
    carol.until(|l| l.contains(" 333 carol #group ")).await;
    carol.expect(":ferry.test 353 carol = #group +carol").await;
    carol.until(|l| l.contains(" 366 carol #group ")).await;
    carol
        .expect(":ChanServ!ChanServ@ferry.test MODE #group +v carol")
        .await;
    carol.send("MODE #group").await;
    carol.until(|l| l.contains(" 324 carol #group +mnt")).await;
    carol.send("MODE #group +b").await;
    carol
        .until(|l| l.contains(" 367 carol #group *!*@spam.example "))
        .await;
    // The first to join is not made an operator; bob, on the list, is.
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    join(&mut bob, "#group").await;
    carol
        .until(|l| l == ":ChanServ!ChanServ@ferry.test MODE #group +o bob")
        .await;
    bob.until(|l| l == ":ChanServ!ChanServ@ferry.test MODE #group +o bob")
        .await;
    let info = cs(&mut bob, "INFO #group").await;
    assert_eq!(info, "#group is registered; its founder is alice.");
    bob.expect(&format!("{CS} bob :  bob: +o")).await;
    bob.expect(&format!("{CS} bob :  carol: +v")).await;
    // The founder hands it over; unregistered, it goes when empty.
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    join(&mut alice, "#group").await;
    alice.until(|l| l.contains(" MODE #group +o alice")).await;
    assert_eq!(
        cs(&mut alice, "TRANSFER #group bob").await,
        "#group now belongs to bob."
    );
    assert_eq!(
        cs(&mut alice, "UNREGISTER #group").await,
        "You do not have the access to do that on #group."
    );
    assert_eq!(
        cs(&mut bob, "UNREGISTER #group").await,
        "#group is no longer registered."
    );
    carol
        .until(|l| l == ":ChanServ!ChanServ@ferry.test MODE #group +o alice")
        .await;
    quiet(&mut carol).await;
    // Unregistered: it goes when its last member leaves.
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send("PART #group").await;
        c.sync().await;
    }
    let mut guest = server.client("guest").await;
    guest.send("LIST #group").await;
    guest.until(|l| l.contains(" 321 guest ")).await;
    guest.expect(":ferry.test 323 guest :End of /LIST").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_names_are_not_for_users() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut c = server.client("someone").await;
    for nick in ["ChanServ", "nickserv"] {
        c.send(&format!("NICK {nick}")).await;
        c.expect(&format!(
            ":ferry.test 432 someone {nick} :Reserved for a service"
        ))
        .await;
    }
    // ChanServ answers about channels it does not know.
    assert_eq!(
        cs(&mut c, "INFO #nowhere").await,
        "#nowhere does not exist (it must have members to be registered)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_what_its_group_said_while_it_was_away() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    for a in ["alice", "carol", "dave"] {
        register_account(&server, a, "secret").await;
    }
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    join(&mut alice, "#group").await;
    cs(&mut alice, "REGISTER #group").await;
    cs(&mut alice, "AMODE #group +v carol").await;
    cs(&mut alice, "AMODE #group +v dave").await;
    for who in ["carol", "dave"] {
        let mut c = sasl_client(&server, who, "secret", "").await;
        join(&mut c, "#group").await;
        c.send("QUIT").await;
        c.closed().await;
    }
    alice.send("PRIVMSG #group :while you were away").await;
    alice.send("PRIVMSG #group :and this too").await;
    alice.sync().await;
    // Without chathistory: replayed at login, with the time in the text.
    let mut carol = sasl_client(&server, "carol", "secret", "").await;
    let a = carol.until(|l| l.contains(" PRIVMSG #group ")).await;
    let b = carol.line().await;
    assert!(
        a.starts_with(&format!(":{} PRIVMSG #group :[", src("alice"))),
        "{a}"
    );
    assert!(a.ends_with("] while you were away"), "{a}");
    assert!(b.ends_with("] and this too"), "{b}");
    quiet(&mut carol).await;
    // With chathistory the client fetches it itself: nothing is pushed.
    let mut dave = sasl_client(&server, "dave", "secret", "draft/chathistory batch").await;
    quiet(&mut dave).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_settings_keep_its_history_or_not_and_hide_the_past_from_newcomers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || accounts_config("", "");
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    for a in ["alice", "bob", "carol"] {
        register_account(&server, a, "secret").await;
    }
    let caps = "batch draft/chathistory server-time";
    let mut alice = sasl_client(&server, "alice", "secret", caps).await;
    join(&mut alice, "#group").await;
    assert!(cs(&mut alice, "REGISTER #group")
        .await
        .starts_with("#group is registered"));
    let mut bob = sasl_client(&server, "bob", "secret", caps).await;
    join(&mut bob, "#group").await;
    alice.until(|l| l.ends_with(" JOIN #group")).await;
    // Only its operators change the settings.
    assert_eq!(
        cs(&mut bob, "SET #group HISTORY OFF").await,
        "You do not have the access to do that on #group."
    );
    assert_eq!(
        cs(&mut alice, "SET #group HISTORY OFF").await,
        "HISTORY of #group is now off."
    );
    alice.send("PRIVMSG #group :not kept").await;
    bob.until(|l| l.ends_with(":not kept")).await;
    assert_eq!(
        cs(&mut alice, "SET #group HISTORY ON").await,
        "HISTORY of #group is now on."
    );
    alice.send("PRIVMSG #group :kept").await;
    bob.until(|l| l.ends_with(":kept")).await;
    assert_eq!(
        chathistory_texts(&mut bob, "LATEST #group * 50", "#group").await,
        ["kept"]
    );
    assert!(cs(&mut alice, "SET #group HISTORY maybe")
        .await
        .starts_with("Syntax: SET <#channel> HISTORY"));
    // JOIN-TIME: a member reads only what was said after it joined.
    assert_eq!(
        cs(&mut alice, "SET #group QUERY-CUTOFF JOIN-TIME").await,
        "QUERY-CUTOFF of #group is now join-time."
    );
    let mut carol = sasl_client(&server, "carol", "secret", caps).await;
    join(&mut carol, "#group").await;
    assert!(
        chathistory_texts(&mut carol, "LATEST #group * 50", "#group")
            .await
            .is_empty()
    );
    alice.send("PRIVMSG #group :welcome carol").await;
    carol.until(|l| l.ends_with(":welcome carol")).await;
    assert_eq!(
        chathistory_texts(&mut carol, "LATEST #group * 50", "#group").await,
        ["welcome carol"]
    );
    // bob joined before both messages.
    assert_eq!(
        chathistory_texts(&mut bob, "LATEST #group * 50", "#group").await,
        ["kept", "welcome carol"]
    );
    // REGISTRATION-TIME: from when the reader's account was made.
    cs(&mut alice, "SET #group QUERY-CUTOFF REGISTRATION-TIME").await;
    assert_eq!(
        chathistory_texts(&mut carol, "LATEST #group * 50", "#group").await,
        ["kept", "welcome carol"]
    );
    cs(&mut alice, "SET #group QUERY-CUTOFF JOIN-TIME").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send("QUIT").await;
        c.closed().await;
    }
    server.stop().await;

    // The settings last.
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    assert_eq!(cs(&mut alice, "SET #group").await, "Settings of #group:");
    alice.expect(&format!("{CS} alice :  HISTORY: on")).await;
    alice
        .expect(&format!("{CS} alice :  QUERY-CUTOFF: join-time"))
        .await;
    assert_eq!(
        cs(&mut alice, "SET #group QUERY-CUTOFF DEFAULT").await,
        "QUERY-CUTOFF of #group is now default."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_purges_a_channel_and_nobody_may_use_it_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || accounts_config("", &crate::util::oper_block());
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    register_account(&server, "alice", "secret").await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    join(&mut alice, "#spam").await;
    cs(&mut alice, "REGISTER #spam").await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#spam").await;
    alice.until(|l| l.ends_with(" JOIN #spam")).await;
    assert_eq!(
        cs(&mut bob, "PURGE ADD #spam").await,
        "Only IRC operators may purge channels."
    );
    let mut oper = crate::util::oper_client(&server, "boss").await;
    assert_eq!(
        cs(&mut oper, "PURGE ADD #spam a spam ring").await,
        "#spam is purged: nobody may join it until PURGE DEL."
    );
    // Its members are put out, and each sees it.
    for c in [&mut alice, &mut bob] {
        let nick = c.nick.clone();
        c.until(|l| l == format!(":ChanServ!ChanServ@ferry.test KICK #spam {nick} :a spam ring"))
            .await;
    }
    bob.send("JOIN #spam").await;
    bob.expect(":ferry.test 403 bob #spam :Cannot join channel (it was closed: a spam ring)")
        .await;
    assert_eq!(
        cs(&mut alice, "INFO #spam").await,
        "#spam does not exist (it must have members to be registered)"
    );
    // A name nobody used may be closed too.
    cs(&mut oper, "PURGE ADD #Unused").await;
    assert_eq!(
        cs(&mut oper, "PURGE LIST").await,
        "#spam purged by boss: a spam ring"
    );
    oper.expect(&format!(
        "{CS} boss :#Unused purged by boss: closed by the server operators"
    ))
    .await;
    drop((alice, bob, oper));
    server.stop().await;

    // It lasts across a restart, until an operator reopens it.
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #SPAM").await;
    bob.expect(":ferry.test 403 bob #SPAM :Cannot join channel (it was closed: a spam ring)")
        .await;
    let mut oper = crate::util::oper_client(&server, "boss").await;
    assert_eq!(
        cs(&mut oper, "PURGE DEL #spam").await,
        "#spam is open again."
    );
    assert_eq!(
        cs(&mut oper, "PURGE DEL #spam").await,
        "#spam is not purged."
    );
    join(&mut bob, "#spam").await;
    // Not registered any more: bob made it anew and is its operator.
    bob.send("NAMES #spam").await;
    bob.expect(":ferry.test 353 bob = #spam @bob").await;
}
