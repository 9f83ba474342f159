//! Channel modes beyond RFC 2812's: `+C` (no CTCP but ACTION) and the
//! mute extban (`+b $m:mask`: may join and read, not speak).

use crate::util::join;
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
