//! Queries about users (WHO, WHOIS, WHOWAS, ISON, USERHOST), presence
//! (AWAY, away-notify, MONITOR) and the server (LUSERS, MOTD, VERSION,
//! TIME, ADMIN, INFO, HELP, LINKS).

use ferry_server::VERSION;
use ferry_testkit::TestServer;

use crate::util::{cap_client, expect_unordered, is_server_time, join, quiet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_and_whox() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#c").await;
    join(&mut bob, "#c").await;
    alice.until_cmd("JOIN").await;

    alice.send("WHO #c").await;
    expect_unordered(
        &mut alice,
        &[
            ":ferry.test 352 alice #c ~alice 127.0.0.1 ferry.test alice H@ :0 alice real".into(),
            ":ferry.test 352 alice #c ~bob 127.0.0.1 ferry.test bob H :0 bob real".into(),
        ],
    )
    .await;
    alice
        .expect(":ferry.test 315 alice #c :End of WHO list")
        .await;
    alice.send("WHO bob").await;
    alice
        .expect(":ferry.test 352 alice * ~bob 127.0.0.1 ferry.test bob H :0 bob real")
        .await;
    alice
        .expect(":ferry.test 315 alice bob :End of WHO list")
        .await;
    alice.send("WHO nobody").await;
    alice
        .expect(":ferry.test 315 alice nobody :End of WHO list")
        .await;

    alice.send("WHO #c %tcnf,42").await;
    expect_unordered(
        &mut alice,
        &[
            ":ferry.test 354 alice 42 #c alice H@".into(),
            ":ferry.test 354 alice 42 #c bob H".into(),
        ],
    )
    .await;
    alice
        .expect(":ferry.test 315 alice #c :End of WHO list")
        .await;
    alice.send("WHO bob %tuhnr,7").await;
    alice
        .expect(":ferry.test 354 alice 7 ~bob 127.0.0.1 bob :bob real")
        .await;
    alice
        .expect(":ferry.test 315 alice bob :End of WHO list")
        .await;
    alice.send("WHO bob %nia").await;
    alice.expect(":ferry.test 354 alice 127.0.0.1 bob 0").await;
    alice.until_cmd("315").await;

    // Away users are G(one).
    bob.send("AWAY :out").await;
    bob.until_cmd("306").await;
    alice.send("WHO b*").await;
    alice
        .expect(":ferry.test 352 alice * ~bob 127.0.0.1 ferry.test bob G :0 bob real")
        .await;
    alice
        .expect(":ferry.test 315 alice b* :End of WHO list")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#c").await;
    join(&mut bob, "#c").await;
    alice.until_cmd("JOIN").await;

    alice.send("WHOIS bob").await;
    alice
        .expect(":ferry.test 311 alice bob ~bob 127.0.0.1 * :bob real")
        .await;
    alice.expect(":ferry.test 319 alice bob #c").await;
    alice
        .expect(":ferry.test 312 alice bob ferry.test :ferry chat relay")
        .await;
    let idle = alice.line().await;
    let nums = idle
        .strip_prefix(":ferry.test 317 alice bob ")
        .and_then(|r| r.strip_suffix(" :seconds idle, signon time"))
        .unwrap_or_else(|| panic!("{idle}"));
    assert!(
        nums.split(' ').all(|n| n.parse::<u64>().is_ok()) && nums.split(' ').count() == 2,
        "{idle}"
    );
    alice
        .expect(":ferry.test 318 alice bob :End of /WHOIS list")
        .await;

    // About oneself: the real IP too.
    alice.send("WHOIS ALICE").await;
    alice
        .expect(":ferry.test 311 alice alice ~alice 127.0.0.1 * :alice real")
        .await;
    alice.expect(":ferry.test 319 alice alice @#c").await;
    alice
        .expect(":ferry.test 312 alice alice ferry.test :ferry chat relay")
        .await;
    alice
        .expect(":ferry.test 338 alice alice 127.0.0.1 :actual IP")
        .await;
    alice.until_cmd("317").await;
    alice
        .expect(":ferry.test 318 alice alice :End of /WHOIS list")
        .await;

    bob.send("AWAY :lunch").await;
    bob.until_cmd("306").await;
    alice.send("WHOIS bob").await;
    alice.until_cmd("312").await;
    alice.expect(":ferry.test 301 alice bob lunch").await;
    alice.until_cmd("318").await;

    alice.send("WHOIS nobody").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice
        .expect(":ferry.test 318 alice nobody :End of /WHOIS list")
        .await;
    alice.send("WHOIS").await;
    alice
        .expect(":ferry.test 461 alice WHOIS :Not enough parameters")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whowas_after_quit() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#c").await;
    join(&mut bob, "#c").await;
    alice.until_cmd("JOIN").await;
    bob.send("QUIT :bye all").await;
    assert_eq!(bob.closed().await, ["ERROR :Quit: bye all"]);
    alice
        .expect(":bob!~bob@127.0.0.1 QUIT :Quit: bye all")
        .await;

    alice.send("WHOWAS bob").await;
    alice
        .expect(":ferry.test 314 alice bob ~bob 127.0.0.1 * :bob real")
        .await;
    let l = alice.line().await;
    let when = l
        .strip_prefix(":ferry.test 312 alice bob ferry.test ")
        .unwrap_or_else(|| panic!("{l}"));
    assert!(is_server_time(when), "{l}");
    alice
        .expect(":ferry.test 369 alice bob :End of WHOWAS")
        .await;
    alice.send("WHOWAS nobody").await;
    alice
        .expect(":ferry.test 406 alice nobody :There was no such nickname")
        .await;
    alice
        .expect(":ferry.test 369 alice nobody :End of WHOWAS")
        .await;

    // A client quitting without a reason.
    let mut carol = server.client("carol").await;
    join(&mut carol, "#c").await;
    alice.until_cmd("JOIN").await;
    carol.send("QUIT").await;
    assert_eq!(carol.closed().await, ["ERROR :Client Quit"]);
    alice
        .expect(":carol!~carol@127.0.0.1 QUIT :Client Quit")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ison_and_userhost() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let _bob = server.client("bob").await;
    let _carol = server.client("carol").await;
    alice.send("ISON bob nobody CAROL").await;
    alice.expect(":ferry.test 303 alice :bob carol").await;
    alice.send("ISON :bob nobody").await;
    alice.expect(":ferry.test 303 alice bob").await;
    alice.send("ISON nobody").await;
    alice.expect(":ferry.test 303 alice :").await;
    alice.send("USERHOST bob nobody alice").await;
    alice
        .expect(":ferry.test 302 alice :bob=+~bob@127.0.0.1 alice=+~alice@127.0.0.1")
        .await;
    alice.send("USERHOST nobody").await;
    alice.expect(":ferry.test 302 alice :").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    bob.send("AWAY :gone fishing").await;
    bob.expect(":ferry.test 306 bob :You have been marked as being away")
        .await;
    alice.send("PRIVMSG bob :are you there?").await;
    alice
        .expect(":ferry.test 301 alice bob :gone fishing")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :are you there?")
        .await;
    // No automatic reply to a NOTICE.
    alice.send("NOTICE bob :fyi").await;
    quiet(&mut alice).await;
    bob.expect(":alice!~alice@127.0.0.1 NOTICE bob :fyi").await;
    alice.send("USERHOST bob").await;
    alice
        .expect(":ferry.test 302 alice bob=-~bob@127.0.0.1")
        .await;
    bob.send("AWAY").await;
    bob.expect(":ferry.test 305 bob :You are no longer marked as being away")
        .await;
    alice.send("PRIVMSG bob :back?").await;
    quiet(&mut alice).await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :back?")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_notify() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = cap_client(&server, "carol", "away-notify").await;
    join(&mut alice, "#c").await;
    join(&mut bob, "#c").await;
    join(&mut carol, "#c").await;
    alice.until_cmd("JOIN").await;
    alice.until_cmd("JOIN").await;
    bob.until_cmd("JOIN").await;

    bob.send("AWAY :brb").await;
    bob.until_cmd("306").await;
    carol.expect(":bob!~bob@127.0.0.1 AWAY :brb").await;
    quiet(&mut alice).await;

    // Someone already away joins: away-notify members learn it at once.
    let mut dave = server.client("dave").await;
    dave.send("AWAY :zzz").await;
    dave.until_cmd("306").await;
    join(&mut dave, "#c").await;
    carol.expect(":dave!~dave@127.0.0.1 JOIN #c").await;
    carol.expect(":dave!~dave@127.0.0.1 AWAY :zzz").await;
    alice.expect(":dave!~dave@127.0.0.1 JOIN #c").await;
    quiet(&mut alice).await;

    bob.send("AWAY").await;
    bob.until_cmd("305").await;
    carol.expect(":bob!~bob@127.0.0.1 AWAY").await;
    quiet(&mut alice).await;
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("MONITOR + dave,bob").await;
    alice
        .expect(":ferry.test 730 alice bob!~bob@127.0.0.1")
        .await;
    alice.expect(":ferry.test 731 alice dave").await;

    let mut dave = server.client("dave").await;
    alice
        .expect(":ferry.test 730 alice :dave!~dave@127.0.0.1")
        .await;
    dave.send("QUIT :later").await;
    dave.closed().await;
    alice.expect(":ferry.test 731 alice :dave").await;

    alice.send("MONITOR L").await;
    alice.expect(":ferry.test 732 alice dave,bob").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    alice.send("MONITOR S").await;
    alice
        .expect(":ferry.test 730 alice bob!~bob@127.0.0.1")
        .await;
    alice.expect(":ferry.test 731 alice dave").await;

    // A nick change is offline for the old nick.
    bob.send("NICK robert").await;
    bob.expect(":bob!~bob@127.0.0.1 NICK :robert").await;
    alice.expect(":ferry.test 731 alice :bob").await;

    alice.send("MONITOR - dave").await;
    // No reply to wait for: make sure it was handled before dave returns.
    quiet(&mut alice).await;
    let _dave = server.client("dave").await;
    quiet(&mut alice).await;
    alice.send("MONITOR C").await;
    alice.send("MONITOR L").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    bob.send("NICK bob").await;
    bob.expect(":robert!~bob@127.0.0.1 NICK :bob").await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lusers_and_motd() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let _bob = server.client("bob").await;
    let mut unregistered = server.connect().await;
    unregistered.sync().await;
    join(&mut alice, "#c").await;
    alice.send("LUSERS").await;
    for want in [
        ":ferry.test 251 alice :There are 2 users and 0 invisible on 1 servers",
        ":ferry.test 252 alice 0 :IRC Operators online",
        ":ferry.test 253 alice 1 :unknown connection(s)",
        ":ferry.test 254 alice 1 :channels formed",
        ":ferry.test 255 alice :I have 2 clients and 0 servers",
        ":ferry.test 265 alice 2 2 :Current local users 2, max 2",
        ":ferry.test 266 alice 2 2 :Current global users 2, max 2",
    ] {
        alice.expect(want).await;
    }
    // Invisible users are counted apart.
    let mut carol = server.client("carol").await;
    carol.send("MODE carol +i").await;
    carol.expect(":carol MODE carol :+i").await;
    alice.send("LUSERS").await;
    alice
        .expect(":ferry.test 251 alice :There are 2 users and 1 invisible on 1 servers")
        .await;
    alice.until_cmd("266").await;
    carol.send("QUIT").await;
    carol.closed().await;
    alice.send("LUSERS").await;
    alice
        .expect(":ferry.test 251 alice :There are 2 users and 0 invisible on 1 servers")
        .await;
    alice.until_cmd("266").await;

    alice.send("MOTD").await;
    alice
        .expect(":ferry.test 375 alice :- ferry.test Message of the day - ")
        .await;
    alice.expect(":ferry.test 372 alice :- hello").await;
    alice
        .expect(":ferry.test 376 alice :End of /MOTD command.")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_information() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;

    alice.send("VERSION").await;
    alice
        .expect(&format!(
            ":ferry.test 351 alice {VERSION} ferry.test :ferry chat relay"
        ))
        .await;
    let rest = alice.sync().await;
    assert!(!rest.is_empty());
    for l in &rest {
        assert!(
            l.starts_with(":ferry.test 005 alice ")
                && l.ends_with(" :are supported by this server"),
            "{l}"
        );
    }
    assert!(rest.iter().any(|l| l.contains(" CASEMAPPING=rfc8265 ")));

    alice.send("TIME").await;
    let l = alice.line().await;
    let now = l
        .strip_prefix(":ferry.test 391 alice ferry.test ")
        .unwrap_or_else(|| panic!("{l}"));
    assert!(is_server_time(now), "{l}");

    alice.send("ADMIN").await;
    alice
        .expect(":ferry.test 256 alice ferry.test :Administrative info")
        .await;
    alice.expect(":ferry.test 257 alice ferry").await;
    alice
        .expect(":ferry.test 258 alice :ferry chat relay")
        .await;
    alice.expect(":ferry.test 259 alice root@localhost").await;

    alice.send("INFO").await;
    alice
        .expect(&format!(
            ":ferry.test 371 alice :{VERSION} — a chat relay on IRC"
        ))
        .await;
    alice
        .expect(":ferry.test 371 alice :https://modern.ircdocs.horse and https://ircv3.net describe what it speaks.")
        .await;
    let l = alice.line().await;
    assert!(l.starts_with(":ferry.test 371 alice :Up since "), "{l}");
    alice
        .expect(":ferry.test 374 alice :End of /INFO list")
        .await;

    alice.send("HELP").await;
    let l = alice.line().await;
    assert!(
        l.starts_with(":ferry.test 704 alice * :ferry speaks IRC. Commands: PRIVMSG "),
        "{l}"
    );
    alice.expect(":ferry.test 706 alice * :End of /HELP").await;
    alice.send("HELP privmsg").await;
    let l = alice.line().await;
    assert!(
        l.starts_with(":ferry.test 704 alice privmsg :PRIVMSG <target>"),
        "{l}"
    );
    alice
        .expect(":ferry.test 706 alice privmsg :End of /HELP")
        .await;
    alice.send("HELP nosuchthing").await;
    alice
        .expect(":ferry.test 524 alice NOSUCHTHING :No help available on this topic")
        .await;

    alice.send("LINKS").await;
    alice
        .expect(":ferry.test 364 alice ferry.test ferry.test :0 ferry chat relay")
        .await;
    alice
        .expect(":ferry.test 365 alice * :End of /LINKS list")
        .await;
    quiet(&mut alice).await;
}
