//! Friends, the QQ way on IRC: MONITOR lists kept with the account,
//! CALLERID (+g and ACCEPT), SILENCE.

use ferry_testkit::TestServer;

use crate::util::sasl::{authenticate_plain, sasl_hello};
use crate::util::{
    accounts_config, cap_client, join, logged_in_line, quiet, quit, register_account, sasl_client,
};

const NICKSERV: &str = ":NickServ!NickServ@ferry.test NOTICE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_a_friend() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "bob", "secret").await;
    let mut alice = server.client("alice").await;
    alice.send("MONITOR + bob").await;
    alice.expect(":ferry.test 731 alice bob").await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    alice
        .expect(":ferry.test 730 alice :bob!~bob@127.0.0.1")
        .await;
    quit(&mut bob).await;
    alice.expect(":ferry.test 731 alice :bob").await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_list_is_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = || accounts_config("", "");
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    register_account(&server, "alice", "secret").await;
    register_account(&server, "bob", "secret").await;
    register_account(&server, "carol", "secret").await;

    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    alice.send("MONITOR + bob,Carol").await;
    alice.expect(":ferry.test 731 alice bob,Carol").await;
    alice.send("MONITOR - carol").await;
    quiet(&mut alice).await;
    quit(&mut alice).await;

    // Back, logged in again: the list is there once MONITOR is used.
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    quiet(&mut alice).await;
    alice.send("MONITOR L").await;
    alice.expect(":ferry.test 731 alice bob").await;
    alice.expect(":ferry.test 732 alice bob").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    let mut bob = sasl_client(&server, "bob", "secret", "").await;
    alice
        .expect(":ferry.test 730 alice :bob!~bob@127.0.0.1")
        .await;
    quit(&mut alice).await;

    // With extended-monitor, the state comes right after logging in.
    let mut alice = sasl_client(&server, "alice", "secret", "extended-monitor").await;
    alice
        .expect(":ferry.test 730 alice bob!~bob@127.0.0.1")
        .await;
    quiet(&mut alice).await;
    alice.send("MONITOR L").await;
    alice.expect(":ferry.test 732 alice bob").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    quit(&mut alice).await;
    quit(&mut bob).await;

    // Not logged in: nothing stored applies.
    let mut plain = server.client("alice2").await;
    plain.send("MONITOR L").await;
    plain
        .expect(":ferry.test 733 alice2 :End of MONITOR list")
        .await;
    quit(&mut plain).await;

    // And after a restart.
    server.stop().await;
    let server = TestServer::with_config_in(cfg(), dir.path()).await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    alice.send("MONITOR L").await;
    alice.expect(":ferry.test 731 alice bob").await;
    alice.expect(":ferry.test 732 alice bob").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    let _bob = sasl_client(&server, "bob", "secret", "").await;
    alice
        .expect(":ferry.test 730 alice :bob!~bob@127.0.0.1")
        .await;
    // Clearing is kept too.
    alice.send("MONITOR C").await;
    quiet(&mut alice).await;
    quit(&mut alice).await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    alice.send("MONITOR L").await;
    alice
        .expect(":ferry.test 733 alice :End of MONITOR list")
        .await;
    quiet(&mut alice).await;
}

const UMODEG: &str = "is messaging you, and you have user mode +g set.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callerid() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    let mut alice = server.client("alice").await;
    let mut stranger = server.client("stranger").await;
    alice.send("MODE alice +g").await;
    alice.expect(":alice MODE alice :+g").await;
    alice.send("MODE alice").await;
    alice.expect(":ferry.test 221 alice +g").await;

    stranger.send("PRIVMSG alice :hello?").await;
    stranger
        .expect(":ferry.test 716 stranger alice :is in +g mode (server-side ignore).")
        .await;
    stranger
        .expect(":ferry.test 717 stranger alice :has been informed that you messaged them.")
        .await;
    alice
        .expect(&format!(
            ":ferry.test 718 alice stranger ~stranger@127.0.0.1 :{UMODEG} Use /ACCEPT +stranger to allow."
        ))
        .await;
    // Told once: a second message only gets 716.
    stranger.send("PRIVMSG alice :hello??").await;
    stranger
        .expect(":ferry.test 716 stranger alice :is in +g mode (server-side ignore).")
        .await;
    // A NOTICE is dropped without a word.
    stranger.send("NOTICE alice :psst").await;
    quiet(&mut stranger).await;
    quiet(&mut alice).await;

    alice.send("ACCEPT stranger").await;
    quiet(&mut alice).await;
    stranger.send("PRIVMSG alice :now?").await;
    alice
        .expect(":stranger!~stranger@127.0.0.1 PRIVMSG alice :now?")
        .await;
    quiet(&mut stranger).await;
    alice.send("ACCEPT *").await;
    alice.expect(":ferry.test 281 alice stranger").await;
    alice
        .expect(":ferry.test 282 alice :End of /ACCEPT list.")
        .await;
    alice.send("ACCEPT stranger").await;
    alice
        .expect(":ferry.test 457 alice stranger :is already on your accept list")
        .await;
    alice.send("ACCEPT nobody").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("ACCEPT -stranger").await;
    quiet(&mut alice).await;
    alice.send("ACCEPT -stranger").await;
    alice
        .expect(":ferry.test 458 alice stranger :is not on your accept list")
        .await;
    alice.send("ACCEPT *").await;
    alice
        .expect(":ferry.test 282 alice :End of /ACCEPT list.")
        .await;
    stranger.send("PRIVMSG alice :again").await;
    stranger
        .expect(":ferry.test 716 stranger alice :is in +g mode (server-side ignore).")
        .await;
    quiet(&mut alice).await;

    alice.send("MODE alice -g").await;
    alice.expect(":alice MODE alice :-g").await;
    stranger.send("PRIVMSG alice :open").await;
    alice
        .expect(":stranger!~stranger@127.0.0.1 PRIVMSG alice :open")
        .await;
    quiet(&mut stranger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callerid_is_kept_with_the_account() {
    let server = TestServer::with_config(accounts_config("", "")).await;
    register_account(&server, "alice", "secret").await;
    register_account(&server, "bob", "secret").await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    alice.send("MODE alice +g").await;
    alice.expect(":alice MODE alice :+g").await;
    // Accept the account bob, offline.
    alice.send("ACCEPT bob").await;
    quiet(&mut alice).await;
    quit(&mut alice).await;

    // SASL: the mode comes after the welcome burst.
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    alice.expect(":alice MODE alice :+g").await;
    quiet(&mut alice).await;
    alice.send("ACCEPT *").await;
    alice.expect(":ferry.test 281 alice bob").await;
    alice
        .expect(":ferry.test 282 alice :End of /ACCEPT list.")
        .await;
    // bob's account may write, whatever its nick.
    let mut bob = server.connect().await;
    sasl_hello(&mut bob, "bobby", "bob", "").await;
    authenticate_plain(&mut bob, "bob", "secret").await;
    bob.expect(":ferry.test 900 bobby bobby!~bob@127.0.0.1 bob :You are now logged in as bob")
        .await;
    bob.until_cmd("903").await;
    bob.send("CAP END").await;
    crate::util::finish_burst(&mut bob).await;
    bob.send("PRIVMSG alice :friend here").await;
    alice
        .expect(":bobby!~bob@127.0.0.1 PRIVMSG alice :friend here")
        .await;
    quiet(&mut bob).await;
    quit(&mut alice).await;

    // NickServ: the mode comes with the login.
    let mut alice = server.client("alice").await;
    alice.until_cmd("NOTICE").await;
    let mut stranger = server.client("stranger").await;
    stranger.send("PRIVMSG alice :before").await;
    alice
        .expect(":stranger!~stranger@127.0.0.1 PRIVMSG alice :before")
        .await;
    alice.send("PRIVMSG NickServ :IDENTIFY secret").await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    alice.expect(":alice MODE alice :+g").await;
    alice
        .expect(&format!(
            "{NICKSERV} alice :You are now identified for alice."
        ))
        .await;
    stranger.send("PRIVMSG alice :after").await;
    stranger
        .expect(":ferry.test 716 stranger alice :is in +g mode (server-side ignore).")
        .await;
    stranger.until_cmd("717").await;
    alice.until_cmd("718").await;

    // -g is kept too.
    alice.send("MODE alice -g").await;
    alice.expect(":alice MODE alice :-g").await;
    quiet(&mut alice).await;
    quit(&mut alice).await;
    let mut alice = sasl_client(&server, "alice", "secret", "").await;
    quiet(&mut alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callerid_by_default() {
    let server = TestServer::with_config(accounts_config("callerid_default = true", "")).await;
    let mut alice = cap_client(&server, "alice", "draft/account-registration").await;
    alice.send("REGISTER * * secret").await;
    alice
        .expect(":ferry.test REGISTER SUCCESS alice :Account created")
        .await;
    alice.expect(&logged_in_line("alice", "alice")).await;
    alice.expect(":alice MODE alice :+g").await;
    let mut stranger = server.client("stranger").await;
    stranger.send("PRIVMSG alice :hi").await;
    stranger
        .expect(":ferry.test 716 stranger alice :is in +g mode (server-side ignore).")
        .await;
    stranger.until_cmd("717").await;
    alice.until_cmd("718").await;
    // Users without an account are not affected.
    stranger.send("MODE stranger").await;
    stranger.expect(":ferry.test 221 stranger +").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence() {
    let server = TestServer::start().await;
    let mut alice = cap_client(&server, "alice", "echo-message").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#c").await;
    join(&mut bob, "#c").await;
    alice.expect(":bob!~bob@127.0.0.1 JOIN #c").await;

    bob.send("SILENCE +alice").await;
    bob.expect(":bob!~bob@127.0.0.1 SILENCE +alice!*@*").await;
    bob.send("SILENCE +*!*@evil.example").await;
    bob.expect(":bob!~bob@127.0.0.1 SILENCE +*!*@evil.example")
        .await;
    bob.send("SILENCE").await;
    bob.expect(":ferry.test 271 bob bob alice!*@*").await;
    bob.expect(":ferry.test 271 bob bob *!*@evil.example").await;
    bob.expect(":ferry.test 272 bob :End of Silence List").await;

    // The sender sees what it always sees; the recipient nothing.
    alice.send("PRIVMSG bob :hushed").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :hushed")
        .await;
    alice.send("NOTICE bob :hushed").await;
    alice
        .expect(":alice!~alice@127.0.0.1 NOTICE bob :hushed")
        .await;
    alice.send("PRIVMSG #c :in the channel").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG #c :in the channel")
        .await;
    quiet(&mut alice).await;
    quiet(&mut bob).await;

    bob.send("SILENCE -alice!*@*").await;
    bob.expect(":bob!~bob@127.0.0.1 SILENCE -alice!*@*").await;
    alice.send("PRIVMSG bob :heard").await;
    alice
        .expect(":alice!~alice@127.0.0.1 PRIVMSG bob :heard")
        .await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :heard")
        .await;
    bob.send("SILENCE").await;
    bob.expect(":ferry.test 271 bob bob *!*@evil.example").await;
    bob.expect(":ferry.test 272 bob :End of Silence List").await;
}
