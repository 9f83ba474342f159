//! Renaming a channel (RENAME, draft/channel-rename): members keep their
//! place, status and the channel's settings under the new name.

use ferry_testkit::TestServer;

use crate::util::{cap_client, join, quiet, src};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_keeps_everything_under_its_new_name() {
    let server = TestServer::start().await;
    let mut op = cap_client(&server, "op", "draft/channel-rename").await;
    join(&mut op, "#old").await;
    op.send("TOPIC #old :the topic").await;
    op.until(|l| l.contains(" TOPIC #old ")).await;
    op.send("MODE #old +k key").await;
    op.until(|l| l.contains(" MODE #old +k")).await;
    let mut member = server.client("member").await;
    member.send("JOIN #old key").await;
    member.until(|l| l.contains(" 366 member #old ")).await;
    op.until(|l| l.contains(" JOIN #old")).await;

    // Only an operator may.
    member.send("RENAME #old #new :mine now").await;
    member
        .expect(":ferry.test 482 member #old :You're not channel operator")
        .await;
    op.send("RENAME #old #new :a better name").await;
    op.expect(&format!(":{} RENAME #old #new :a better name", src("op")))
        .await;
    // Without the cap: leaving the old name, joining the new one.
    member
        .expect(&format!(":{} PART #old :Renamed to #new", src("member")))
        .await;
    member
        .expect(&format!(":{} JOIN #new", src("member")))
        .await;
    member
        .expect(":ferry.test 332 member #new :the topic")
        .await;
    member.until(|l| l.contains(" 333 member #new ")).await;
    let names = member.line().await;
    assert!(
        names == ":ferry.test 353 member = #new :@op member"
            || names == ":ferry.test 353 member = #new :member @op",
        "{names}"
    );
    member.until(|l| l.contains(" 366 member #new ")).await;
    // It is the same channel: messages, the key, the operator.
    member.send("PRIVMSG #new :still here").await;
    op.expect(&format!(":{} PRIVMSG #new :still here", src("member")))
        .await;
    op.send("MODE #new").await;
    op.until(|l| l.contains(" 324 op #new +ntk key")).await;
    op.until(|l| l.contains(" 329 op #new ")).await;
    // The old name is free; a taken one cannot be had.
    let mut other = server.client("other").await;
    join(&mut other, "#old").await;
    op.send("RENAME #new #old").await;
    op.expect(
        ":ferry.test FAIL RENAME CHANNEL_NAME_IN_USE #new #old :A channel by that name exists",
    )
    .await;
    op.send("RENAME #new bad").await;
    op.expect(":ferry.test FAIL RENAME CANNOT_RENAME #new bad :That is not a valid channel name")
        .await;
    quiet(&mut other).await;
}
