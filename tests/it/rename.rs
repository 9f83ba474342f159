//! Renaming a channel (RENAME, draft/channel-rename): members keep their
//! place, status and the channel's settings under the new name.

use ferry_testkit::TestServer;

use crate::util::{cap_client, chathistory_texts, join, quiet, src};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follows_the_rename() {
    let server = TestServer::start().await;
    let caps =
        "draft/channel-rename batch draft/chathistory server-time message-tags echo-message \
                draft/message-redaction";
    let mut op = cap_client(&server, "op", caps).await;
    join(&mut op, "#old").await;
    for t in ["one", "two"] {
        op.send(&format!("PRIVMSG #old :{t}")).await;
        op.until(|l| l.ends_with(&format!("PRIVMSG #old :{t}")))
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    op.send("RENAME #old #new :a better name").await;
    op.until(|l| l.contains(" RENAME #old #new ")).await;
    op.send("PRIVMSG #new :three").await;
    let echo = op.until(|l| l.ends_with("PRIVMSG #new :three")).await;
    // What was said under the old name is the new one's too.
    assert_eq!(
        chathistory_texts(&mut op, "LATEST #new * 10", "#new").await,
        ["one", "two", "three"]
    );
    assert_eq!(
        chathistory_texts(&mut op, "LATEST #new * 2", "#new").await,
        ["two", "three"]
    );
    let id = crate::util::tag(&echo, "msgid").unwrap().to_string();
    assert_eq!(
        chathistory_texts(&mut op, &format!("BEFORE #new msgid={id} 1"), "#new").await,
        ["two"]
    );
    // A recall reaches a message from before the rename.
    op.send("CHATHISTORY LATEST #new * 10").await;
    let first = op.until(|l| l.ends_with(" :one")).await;
    let first_id = crate::util::tag(&first, "msgid").unwrap().to_string();
    op.until(|l| l.contains(" BATCH -")).await;
    op.send(&format!("REDACT #new {first_id}")).await;
    op.until(|l| l.contains(&format!(" REDACT #new {first_id}")))
        .await;
    assert_eq!(
        chathistory_texts(&mut op, "LATEST #new * 10", "#new").await,
        ["two", "three"]
    );

    // What was said before is under the old name still (docs/FRIENDS.md §7).
    let mut other = cap_client(&server, "other", caps).await;
    join(&mut other, "#old").await;
    assert_eq!(
        chathistory_texts(&mut other, "LATEST #old * 10", "#old").await,
        ["two"]
    );
}
