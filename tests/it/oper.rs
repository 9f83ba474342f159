//! OPER, KILL and WALLOPS.

use ferry_testkit::TestServer;

use crate::util::{join, quiet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_kill_wallops() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;

    alice.send("OPER oper wrong").await;
    alice
        .expect(":ferry.test 464 alice :Password incorrect")
        .await;
    alice.send("OPER nobody operpass").await;
    alice
        .expect(":ferry.test 464 alice :Password incorrect")
        .await;
    alice.send("OPER oper").await;
    alice
        .expect(":ferry.test 461 alice OPER :Not enough parameters")
        .await;
    bob.send("KILL alice :go away").await;
    bob.expect(":ferry.test 481 bob :Permission Denied- You're not an IRC operator")
        .await;
    bob.send("WALLOPS :hear me").await;
    bob.expect(":ferry.test 481 bob :Permission Denied- You're not an IRC operator")
        .await;
    // Users cannot make themselves operators with MODE.
    bob.send("MODE bob +o").await;
    quiet(&mut bob).await;

    alice.send("OPER oper operpass").await;
    alice
        .expect(":ferry.test 381 alice :You are now an IRC operator")
        .await;
    alice.expect(":alice MODE alice :+o").await;
    alice.send("MODE alice").await;
    alice.expect(":ferry.test 221 alice +o").await;
    bob.send("WHOIS alice").await;
    bob.until_cmd("312").await;
    bob.expect(":ferry.test 313 bob alice :is an IRC operator")
        .await;
    bob.until_cmd("318").await;
    bob.send("LUSERS").await;
    bob.until_cmd("251").await;
    bob.expect(":ferry.test 252 bob 1 :IRC Operators online")
        .await;
    bob.until_cmd("266").await;
    bob.send("USERHOST alice").await;
    bob.expect(":ferry.test 302 bob alice*=+~alice@127.0.0.1")
        .await;

    // WALLOPS reaches +w users only.
    carol.send("MODE carol +w").await;
    carol.expect(":carol MODE carol :+w").await;
    alice.send("WALLOPS :maintenance at noon").await;
    carol
        .expect(":alice!~alice@127.0.0.1 WALLOPS :maintenance at noon")
        .await;
    quiet(&mut bob).await;
    quiet(&mut alice).await;

    // KILL: the target is told why and disconnected; its peers see a QUIT.
    join(&mut bob, "#c").await;
    join(&mut carol, "#c").await;
    bob.expect(":carol!~carol@127.0.0.1 JOIN #c").await;
    alice.send("KILL nobody :x").await;
    alice
        .expect(":ferry.test 401 alice nobody :No such nick/channel")
        .await;
    alice.send("KILL bob :spamming").await;
    let last = bob.closed().await;
    assert_eq!(last, ["ERROR :Killed (alice (spamming))"]);
    assert!(last[0].contains("Killed"));
    carol
        .expect(":bob!~bob@127.0.0.1 QUIT :Killed (alice (spamming))")
        .await;
    quiet(&mut alice).await;
    // The nick is free again.
    let _bob = server.client("bob").await;

    // Dropping +o.
    alice.send("MODE alice -o").await;
    alice.expect(":alice MODE alice :-o").await;
    alice.send("KILL carol :x").await;
    alice
        .expect(":ferry.test 481 alice :Permission Denied- You're not an IRC operator")
        .await;
}
