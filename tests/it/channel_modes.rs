//! Channel modes beyond RFC 2812's: `+C` (no CTCP but ACTION) and the
//! mute extban (`+b $m:mask`: may join and read, not speak).

use crate::util::{join, quiet};
use ferry_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ctcp_lets_only_action_through() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    let mut user = server.client("user").await;
    join(&mut op, "#chan").await;
    join(&mut user, "#chan").await;
    op.until(|l| l.ends_with(" JOIN #chan")).await;
    op.send("MODE #chan +C").await;
    op.expect(":op!~op@127.0.0.1 MODE #chan +C").await;
    user.expect(":op!~op@127.0.0.1 MODE #chan +C").await;
    op.send("MODE #chan").await;
    op.until(|l| l.starts_with(":ferry.test 324 op #chan +Cnt"))
        .await;
    op.until(|l| l.starts_with(":ferry.test 329 op #chan "))
        .await;
    user.send("PRIVMSG #chan :\x01ACTION waves\x01").await;
    op.expect(":user!~user@127.0.0.1 PRIVMSG #chan :\x01ACTION waves\x01")
        .await;
    user.send("PRIVMSG #chan :\x01VERSION\x01").await;
    user.expect(":ferry.test 404 user #chan :Cannot send to channel (+C: no CTCP)")
        .await;
    op.send("MODE #chan -C").await;
    user.expect(":op!~op@127.0.0.1 MODE #chan -C").await;
    user.send("PRIVMSG #chan :\x01VERSION\x01").await;
    op.until(|l| l == ":user!~user@127.0.0.1 PRIVMSG #chan :\x01VERSION\x01")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_lets_one_join_and_read_but_not_speak() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    join(&mut op, "#chan").await;
    op.send("MODE #chan +b $m:Bar").await;
    op.expect(":op!~op@127.0.0.1 MODE #chan +b $m:Bar!*@*")
        .await;
    let mut bar = server.client("bar").await;
    join(&mut bar, "#chan").await;
    op.until(|l| l.ends_with(" JOIN #chan")).await;
    bar.send("MODE #chan +b").await;
    bar.until(|l| l.starts_with(":ferry.test 367 bar #chan $m:Bar!*@* op!"))
        .await;
    bar.until(|l| l.starts_with(":ferry.test 368 bar #chan "))
        .await;
    bar.send("PRIVMSG #chan :hi").await;
    bar.expect(":ferry.test 404 bar #chan :Cannot send to channel (you're muted)")
        .await;
    op.send("PRIVMSG #chan :you can read this").await;
    bar.expect(":op!~op@127.0.0.1 PRIVMSG #chan :you can read this")
        .await;
    // Voice lifts it; so does an exception.
    op.send("MODE #chan +v bar").await;
    bar.expect(":op!~op@127.0.0.1 MODE #chan +v bar").await;
    bar.send("PRIVMSG #chan :voiced").await;
    op.until(|l| l == ":bar!~bar@127.0.0.1 PRIVMSG #chan :voiced")
        .await;
    op.send("MODE #chan -v+e bar $m:*!*bar@*").await;
    bar.expect(":op!~op@127.0.0.1 MODE #chan -v+e bar $m:*!*bar@*")
        .await;
    bar.send("PRIVMSG #chan :excepted").await;
    op.until(|l| l == ":bar!~bar@127.0.0.1 PRIVMSG #chan :excepted")
        .await;
    // A mute is no ban: removed, nothing else changes.
    op.send("MODE #chan -e $m:*!*bar@*").await;
    bar.expect(":op!~op@127.0.0.1 MODE #chan -e $m:*!*bar@*")
        .await;
    op.send("MODE #chan -b $m:bar!*@*").await;
    bar.expect(":op!~op@127.0.0.1 MODE #chan -b $m:Bar!*@*")
        .await;
    bar.send("PRIVMSG #chan :free").await;
    op.until(|l| l == ":bar!~bar@127.0.0.1 PRIVMSG #chan :free")
        .await;
    server.stop().await;
}

/// +u (auditorium, as Ergo): members without status see only those with
/// it, and their comings and goings reach only them; messages reach all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditorium_shows_members_only_to_its_operators() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    join(&mut op, "#big").await;
    op.send("MODE #big +u").await;
    op.expect(":op!~op@127.0.0.1 MODE #big +u").await;
    let mut alice = server.client("alice").await;
    alice.send("JOIN #big").await;
    alice.expect(":alice!~alice@127.0.0.1 JOIN #big").await;
    let names = alice.line().await;
    assert!(
        names == ":ferry.test 353 alice = #big :@op alice"
            || names == ":ferry.test 353 alice = #big :alice @op",
        "{names}"
    );
    alice.until(|l| l.contains(" 366 alice #big ")).await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #big").await;
    bob.expect(":bob!~bob@127.0.0.1 JOIN #big").await;
    let names = bob.line().await;
    assert!(
        names == ":ferry.test 353 bob = #big :@op bob"
            || names == ":ferry.test 353 bob = #big :bob @op",
        "{names}"
    );
    bob.until(|l| l.contains(" 366 bob #big ")).await;
    // The operator sees both arrive; alice does not see bob.
    op.expect(":alice!~alice@127.0.0.1 JOIN #big").await;
    op.expect(":bob!~bob@127.0.0.1 JOIN #big").await;
    quiet(&mut alice).await;
    // Messages reach everyone.
    bob.send("PRIVMSG #big :hello hall").await;
    quiet(&mut bob).await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG #big :hello hall")
        .await;
    op.expect(":bob!~bob@127.0.0.1 PRIVMSG #big :hello hall")
        .await;
    // Leaving is seen by the operator only.
    bob.send("PART #big").await;
    bob.expect(":bob!~bob@127.0.0.1 PART #big").await;
    op.expect(":bob!~bob@127.0.0.1 PART #big").await;
    quiet(&mut alice).await;
    alice.send("WHO #big").await;
    let a = alice.line().await;
    let b = alice.line().await;
    assert!(
        a.contains(" 352 alice #big ") && b.contains(" 352 alice #big "),
        "{a} {b}"
    );
    alice
        .expect(":ferry.test 315 alice #big :End of WHO list")
        .await;
}
