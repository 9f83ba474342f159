//! Accounts: REGISTER, SASL PLAIN and SCRAM-SHA-256, NickServ, what others
//! see of an account (WHOIS, account-notify, extended-join), the failed
//! login limit, and registered nicks used without logging in.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_testkit::{command_of, TestServer};

use crate::util::sasl::{authenticate_plain, authenticate_scram, sasl_hello};
use crate::util::{
    accounts_config, cap_client, finish_burst, join, logged_in_line, quiet, quit, register_account,
    sasl_client,
};

const NICKSERV: &str = ":NickServ!NickServ@ferry.test NOTICE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_command() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = cap_client(&server, "alice", "draft/account-registration").await;
    alice.send("REGISTER alice * pw").await;
    alice
        .expect(
            ":ferry.test FAIL REGISTER WEAK_PASSWORD alice :Passwords must be at least 4 characters",
        )
        .await;
    alice.send("REGISTER dave * secret").await;
    alice
        .expect(
            ":ferry.test FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK dave :The account name must be your current nick",
        )
        .await;
    // `*`: the current nick.
    alice.send("REGISTER * * secret").await;
    alice
        .expect(":ferry.test REGISTER SUCCESS alice :Account created")
        .await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    quiet(&mut alice).await;
    alice.send("REGISTER alice * secret").await;
    alice
        .expect(":ferry.test FAIL REGISTER ALREADY_AUTHENTICATED alice :You are already logged in")
        .await;

    // A name someone else is using cannot be taken.
    let mut carol = cap_client(&server, "carol", "draft/account-registration").await;
    carol.send("REGISTER alice * secret").await;
    carol
        .expect(":ferry.test FAIL REGISTER ACCOUNT_EXISTS alice :That name is in use")
        .await;
    quit(&mut alice).await;
    // Nor a registered one.
    carol.send("NICK alice").await;
    carol.expect(":carol!~carol@127.0.0.1 NICK :alice").await;
    carol.nick = "alice".into();
    carol
        .expect(&format!(
            "{NICKSERV} alice :alice is a registered account. Log in (SASL, or /msg NickServ IDENTIFY <password>) within 60 seconds, or your nick will be changed."
        ))
        .await;
    carol.send("REGISTER alice * secret").await;
    carol
        .expect(":ferry.test FAIL REGISTER ACCOUNT_EXISTS alice :That account already exists")
        .await;
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_before_connecting() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut c = server.connect().await;
    c.nick = "bob".into();
    c.send("CAP LS 302").await;
    // The last line of the list (continued lines have `LS * :`).
    c.until(|l| l.starts_with(":ferry.test CAP * LS :")).await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :bob real").await;
    c.send("CAP REQ :draft/account-registration").await;
    c.expect(":ferry.test CAP bob ACK :draft/account-registration")
        .await;
    c.send("REGISTER * * secret").await;
    c.expect(":ferry.test REGISTER SUCCESS bob :Account created")
        .await;
    c.expect(&logged_in_line("bob", "bob")).await;
    c.send("CAP END").await;
    c.expect(":ferry.test 001 bob :Welcome to the FerryTest IRC Network bob!~bob@127.0.0.1")
        .await;
    finish_burst(&mut c).await;
    quiet(&mut c).await;
    let mut alice = server.client("alice").await;
    alice.send("WHOIS bob").await;
    alice
        .until(|l| l == ":ferry.test 330 alice bob bob :is logged in as")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;

    // The wrong password.
    let mut c = server.connect().await;
    sasl_hello(&mut c, "bob", "bob", "").await;
    authenticate_plain(&mut c, "bob", "wrong").await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    // An unknown account fails the same way.
    authenticate_plain(&mut c, "nobody", "secret").await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    // An unknown mechanism gets the list.
    c.send("AUTHENTICATE EXTERNAL").await;
    c.expect(":ferry.test 908 bob PLAIN,SCRAM-SHA-256 :are available SASL mechanisms")
        .await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    // The right one.
    authenticate_plain(&mut c, "bob", "secret").await;
    c.expect(&logged_in_line("bob", "bob")).await;
    c.expect(":ferry.test 903 bob :SASL authentication successful")
        .await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect(":ferry.test 907 bob :You have already authenticated using SASL")
        .await;
    c.send("CAP END").await;
    c.expect(":ferry.test 001 bob :Welcome to the FerryTest IRC Network bob!~bob@127.0.0.1")
        .await;
    finish_burst(&mut c).await;
    quiet(&mut c).await;
    c.send("WHOIS bob").await;
    c.until(|l| l == ":ferry.test 330 bob bob bob :is logged in as")
        .await;

    // Without the cap, AUTHENTICATE fails.
    let mut d = server.client("dave").await;
    d.send("AUTHENTICATE PLAIN").await;
    d.expect(":ferry.test 904 dave :SASL authentication failed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_sha_256() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "pencil").await;
    let mut c = server.connect().await;
    sasl_hello(&mut c, "bob", "bob", "").await;
    authenticate_scram(&mut c, "bob", "pencil").await;
    c.expect(&logged_in_line("bob", "bob")).await;
    c.expect(":ferry.test 903 bob :SASL authentication successful")
        .await;
    c.send("CAP END").await;
    c.expect(":ferry.test 001 bob :Welcome to the FerryTest IRC Network bob!~bob@127.0.0.1")
        .await;
    finish_burst(&mut c).await;
    quiet(&mut c).await;

    // A wrong password: the proof does not verify.
    let mut d = server.connect().await;
    sasl_hello(&mut d, "dave", "dave", "").await;
    d.send("AUTHENTICATE SCRAM-SHA-256").await;
    d.expect("AUTHENTICATE +").await;
    d.send(&format!(
        "AUTHENTICATE {}",
        B64.encode("n,,n=bob,r=abcdefghijklmnop")
    ))
    .await;
    let l = d.line().await;
    let sf = String::from_utf8(
        B64.decode(l.strip_prefix("AUTHENTICATE ").expect("server-first"))
            .unwrap(),
    )
    .unwrap();
    let nonce = sf.split(',').next().unwrap().strip_prefix("r=").unwrap();
    let proof = B64.encode([7u8; 32]);
    d.send(&format!(
        "AUTHENTICATE {}",
        B64.encode(format!("c=biws,r={nonce},p={proof}"))
    ))
    .await;
    d.expect(":ferry.test 904 dave :SASL authentication failed")
        .await;
    // Aborting an exchange.
    d.send("AUTHENTICATE SCRAM-SHA-256").await;
    d.expect("AUTHENTICATE +").await;
    d.send("AUTHENTICATE *").await;
    d.expect(":ferry.test 906 dave :SASL authentication aborted")
        .await;
    quiet(&mut d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nickserv() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = server.client("alice").await;
    alice.send("PRIVMSG NickServ :REGISTER abc").await;
    alice
        .expect(&format!(
            "{NICKSERV} alice :Passwords must be at least 4 characters"
        ))
        .await;
    alice.send("PRIVMSG NickServ :REGISTER secret").await;
    alice
        .expect(&format!(
            "{NICKSERV} alice :Account alice registered; you are logged in."
        ))
        .await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    quiet(&mut alice).await;
    alice.send("PRIVMSG NickServ :IDENTIFY secret").await;
    alice
        .expect(&format!("{NICKSERV} alice :You are already logged in."))
        .await;
    alice.send("PRIVMSG NickServ :LOGOUT").await;
    alice
        .expect(":ferry.test 901 alice alice!~alice@127.0.0.1 :You are now logged out")
        .await;
    alice
        .expect(&format!("{NICKSERV} alice :You are now logged out."))
        .await;
    alice.send("PRIVMSG NickServ :LOGOUT").await;
    alice
        .expect(&format!("{NICKSERV} alice :You are not logged in."))
        .await;
    alice.send("PRIVMSG NickServ :IDENTIFY wrong").await;
    alice
        .expect(&format!("{NICKSERV} alice :Invalid account or password."))
        .await;
    alice.send("PRIVMSG NickServ :IDENTIFY nobody secret").await;
    alice
        .expect(&format!("{NICKSERV} alice :Invalid account or password."))
        .await;
    alice.send("PRIVMSG NickServ :IDENTIFY alice secret").await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    alice
        .expect(&format!(
            "{NICKSERV} alice :You are now identified for alice."
        ))
        .await;
    quiet(&mut alice).await;

    // Someone else sees the account in WHOIS.
    let mut carol = server.client("carol").await;
    carol.send("WHOIS alice").await;
    carol
        .until(|l| l == ":ferry.test 330 carol alice alice :is logged in as")
        .await;
    carol.until_cmd("318").await;
    carol.send("WHOIS carol").await;
    let lines = carol.sync().await;
    assert!(!lines.iter().any(|l| command_of(l) == "330"), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_notify_and_extended_join() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "alice", "secret").await;
    let mut carol = cap_client(&server, "carol", "account-notify extended-join").await;
    let mut dave = server.client("dave").await;
    join(&mut carol, "#c").await;
    join(&mut dave, "#c").await;
    carol
        .expect(":dave!~dave@127.0.0.1 JOIN #c * :dave real")
        .await;

    let mut alice = server.client("alice").await;
    // The registered nick, not logged in yet.
    alice
        .expect(&format!(
            "{NICKSERV} alice :alice is a registered account. Log in (SASL, or /msg NickServ IDENTIFY <password>) within 60 seconds, or your nick will be changed."
        ))
        .await;
    join(&mut alice, "#c").await;
    carol
        .expect(":alice!~alice@127.0.0.1 JOIN #c * :alice real")
        .await;
    dave.expect(":alice!~alice@127.0.0.1 JOIN #c").await;
    alice.send("PRIVMSG NickServ :IDENTIFY secret").await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    alice
        .expect(&format!(
            "{NICKSERV} alice :You are now identified for alice."
        ))
        .await;
    carol.expect(":alice!~alice@127.0.0.1 ACCOUNT alice").await;
    alice.send("PRIVMSG NickServ :LOGOUT").await;
    alice.until_cmd("NOTICE").await;
    carol.expect(":alice!~alice@127.0.0.1 ACCOUNT *").await;
    alice.send("PRIVMSG NickServ :IDENTIFY secret").await;
    alice.until_cmd("NOTICE").await;
    carol.expect(":alice!~alice@127.0.0.1 ACCOUNT alice").await;
    // Without the cap: nothing.
    quiet(&mut dave).await;

    // A logged-in user's JOIN carries the account.
    join(&mut carol, "#d").await;
    join(&mut alice, "#d").await;
    carol
        .expect(":alice!~alice@127.0.0.1 JOIN #d alice :alice real")
        .await;
    quiet(&mut carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut c = server.connect().await;
    sasl_hello(&mut c, "mallory", "mallory", "").await;
    for pw in ["guess1", "guess2", "guess3", "secret"] {
        authenticate_plain(&mut c, "bob", pw).await;
        // Past three failures even the right password is refused.
        c.expect(":ferry.test 904 mallory :SASL authentication failed")
            .await;
    }
    // From another connection on the same IP, too, and through NickServ.
    let mut d = server.client("dave").await;
    d.send("PRIVMSG NickServ :IDENTIFY bob secret").await;
    d.expect(&format!("{NICKSERV} dave :Invalid account or password."))
        .await;
    quiet(&mut d).await;
}

fn enforcement_config(mode: &str) -> ferry_server::Config {
    accounts_config(
        &format!("nick_enforcement = \"{mode}\"\nnick_grace_secs = 1"),
        "[limits]\nping_interval_secs = 4\nping_timeout_secs = 8\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_nick_is_renamed() {
    let server = TestServer::with_config(enforcement_config("rename")).await;
    register_account(&server, "bob", "secret").await;
    let mut c = server.connect().await;
    c.nick = "bob".into();
    c.send("NICK bob").await;
    c.send("USER bob 0 * :bob real").await;
    c.expect(":ferry.test 001 bob :Welcome to the FerryTest IRC Network bob!~bob@127.0.0.1")
        .await;
    finish_burst(&mut c).await;
    c.expect(&format!(
        "{NICKSERV} bob :bob is a registered account. Log in (SASL, or /msg NickServ IDENTIFY <password>) within 1 seconds, or your nick will be changed."
    ))
    .await;
    // The sweeper renames it once the grace period is over (answering
    // the server's PINGs meanwhile).
    let l = loop {
        let l = c.line().await;
        if l == "PING :ferry.test" {
            c.send("PONG :ferry.test").await;
            continue;
        }
        break l;
    };
    let guest = l
        .strip_prefix(":bob!~bob@127.0.0.1 NICK :Guest")
        .unwrap_or_else(|| panic!("not a guest rename: {l}"));
    assert!(
        guest.len() == 5 && guest.bytes().all(|b| b.is_ascii_digit()),
        "{l}"
    );
    c.nick = format!("Guest{guest}");
    quiet(&mut c).await;
    // The nick is free for its owner.
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_nick_is_refused() {
    let server = TestServer::with_config(enforcement_config("refuse")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = server.client("alice").await;
    alice.send("NICK bob").await;
    alice
        .expect(
            ":ferry.test 433 alice bob :Nickname is reserved by a different account; log in to use it",
        )
        .await;
    quiet(&mut alice).await;

    // Connecting with it: refused until another nick is given.
    let mut c = server.connect().await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :bob real").await;
    c.expect(
        ":ferry.test 433 * bob :Nickname is reserved by a different account; log in to use it",
    )
    .await;
    // The owner can still connect with it meanwhile.
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    quiet(&mut bob).await;
    c.send("NICK carl").await;
    c.expect(":ferry.test 001 carl :Welcome to the FerryTest IRC Network carl!~bob@127.0.0.1")
        .await;
    // Logged in, the owner may take it back after changing away.
    bob.send("NICK bobby").await;
    bob.expect(":bob!~bob@127.0.0.1 NICK :bobby").await;
    bob.send("NICK bob").await;
    bob.expect(":bobby!~bob@127.0.0.1 NICK :bob").await;
}

/// One address registers at most `accounts.registrations_per_hour`
/// accounts (the web page's Register is REGISTER too); exempt addresses
/// are not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_from_one_address_are_limited() {
    let cfg = accounts_config("registrations_per_hour = 2", "[privacy]\ncloak = false\n");
    let server = TestServer::with_exact_config(cfg).await;
    for nick in ["first", "second"] {
        crate::util::register_account(&server, nick, "secret-pw").await;
    }
    let mut third = crate::util::cap_client(&server, "third", "draft/account-registration").await;
    third.send("REGISTER third * secret-pw").await;
    third
        .expect(
            ":ferry.test FAIL REGISTER TEMPORARILY_UNAVAILABLE third :Too many accounts were \
             registered from your address; try again later",
        )
        .await;
    server.stop().await;
    // Loopback exempt (as the test server has it by default): no limit.
    let cfg = accounts_config("registrations_per_hour = 1", "");
    let server = TestServer::with_config(cfg).await;
    for nick in ["one", "two", "three"] {
        crate::util::register_account(&server, nick, "secret-pw").await;
    }
    server.stop().await;
}
