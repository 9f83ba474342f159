//! A cluster of nodes on one NATS server and one PostgreSQL database
//! (docs/CLUSTER.md). Built so far: nicks unique across it. NATS and
//! PostgreSQL are the tests' own (crates/pgtest); each test has its own
//! database and subject prefix.

use ferry_server::config::{ClusterConfig, StoreConfig};
use ferry_testkit::TestServer;

use crate::util::{accounts_config, register_account};

/// Nodes of one cluster: the same database and prefix, each its name.
struct Cluster {
    url: String,
    prefix: String,
}

impl Cluster {
    async fn new() -> Cluster {
        tokio::task::spawn_blocking(|| Cluster {
            url: ferry_pgtest::database(),
            prefix: {
                ferry_pgtest::nats();
                ferry_pgtest::nats_prefix()
            },
        })
        .await
        .unwrap()
    }

    async fn node(&self, name: &str) -> TestServer {
        self.node_on(&ferry_pgtest::nats_url(), name, "").await
    }

    /// A node on the NATS server at `nats`, with `rest` in its config.
    async fn node_on(&self, nats: &str, name: &str, rest: &str) -> TestServer {
        let mut cfg = accounts_config("", rest);
        cfg.store = StoreConfig::postgres(&self.url, 2).unwrap();
        cfg.cluster = Some(ClusterConfig::new(nats, Some(name), Some(&self.prefix)).unwrap());
        TestServer::with_config(cfg).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_is_one_users_across_the_cluster() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    let _alice = a.client("alice").await;
    // Taken on node a: refused on node b, before and after registering.
    let mut c = b.connect().await;
    c.send("NICK alice").await;
    c.send("USER x 0 * :x").await;
    c.expect(":ferry.test 433 * alice :Nickname is already in use")
        .await;
    c.send("NICK ALICE").await;
    c.expect(":ferry.test 433 * ALICE :Nickname is already in use")
        .await;
    c.send("NICK carol").await;
    c.until(|l| l.contains(" 001 carol ")).await;
    c.until(|l| l.contains(" 376 carol ") || l.contains(" 422 carol "))
        .await;
    c.send("NICK alice").await;
    c.expect(":ferry.test 433 carol alice :Nickname is already in use")
        .await;
    // A change to a free nick frees the old one everywhere.
    c.send("NICK carl").await;
    c.until(|l| l.ends_with(" NICK :carl")).await;
    let _carol = a.client("carol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_taking_one_nick_on_two_nodes_at_once_one_wins() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    for round in 0..10 {
        let nick = format!("race{round}");
        let (mut x, mut y) = (a.connect().await, b.connect().await);
        for c in [&mut x, &mut y] {
            c.send(&format!("NICK {nick}")).await;
        }
        // Both USERs at once: each node claims for its client.
        x.send("USER x 0 * :x").await;
        y.send("USER y 0 * :y").await;
        let won = |l: &str| l.contains(&format!(" 001 {nick} "));
        let lost = |l: &str| l.contains(&format!(" 433 * {nick} "));
        let rx = x.until(|l| won(l) || lost(l)).await;
        let ry = y.until(|l| won(l) || lost(l)).await;
        assert!(
            won(&rx) != won(&ry),
            "round {round}: exactly one wins\n  a: {rx}\n  b: {ry}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_is_free_again_when_its_user_quits_or_its_node_restarts() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    register_account(&a, "dana", "secret").await;
    let mut dave = a.client("dave").await;
    dave.send("QUIT").await;
    dave.closed().await;
    // Released by a task: the claim goes soon after the QUIT.
    let mut taken = false;
    for _ in 0..100 {
        let mut c = b.connect().await;
        c.send("NICK dave").await;
        c.send("USER d 0 * :d").await;
        let l = c
            .until(|l| l.contains(" 001 dave ") || l.contains(" 433 * dave "))
            .await;
        if l.contains(" 001 ") {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(taken, "dave's nick was never free on node b");
    // A node that stops: its users' nicks are free on the others after
    // (released as they are cut off; a claim a crash left behind goes when
    // the node starts again under its name).
    let _erin = a.client("erin").await;
    a.stop().await;
    let a = cluster.node("a").await;
    let _erin_again = b.client("erin").await;
    drop(a);
}

/// NATS restarted under a node: `/readyz` says so meanwhile (503, "nats"),
/// a client that cannot get its nick confirmed is told so with a FAIL and
/// stays unregistered, and once NATS is back the node serves as before
/// (the client library reconnects by itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rides_out_a_nats_restart() {
    let cluster = Cluster::new().await;
    let nats = std::sync::Arc::new(
        tokio::task::spawn_blocking(ferry_pgtest::Nats::private)
            .await
            .unwrap(),
    );
    let a = cluster
        .node_on(&nats.url(), "a", "[admin]\nlisten = \"127.0.0.1:0\"\n")
        .await;
    let admin = a.admin.expect("admin listener");
    let r = crate::util::http::get(admin, "/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (j["node"].as_str(), j["nats"].as_str()),
        (Some("a"), Some("ok"))
    );
    let mut alice = a.client("alice").await;

    let n = nats.clone();
    tokio::task::spawn_blocking(move || n.stop()).await.unwrap();
    let mut down = false;
    for _ in 0..100 {
        let r = crate::util::http::get(admin, "/readyz", None).await;
        if r.status == 503 {
            assert!(
                r.json()["nats"].as_str().is_some_and(|s| s != "ok"),
                "{}",
                r.body
            );
            down = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(down, "/readyz never said NATS was down");
    let mut c = a.connect().await;
    c.send("NICK bob").await;
    c.send("USER b 0 * :b").await;
    c.until(|l| l.contains(" FAIL USER TEMPORARILY_UNAVAILABLE bob "))
        .await;
    // Those already here go on.
    alice.send("PING :still").await;
    alice.until(|l| l.ends_with(":still")).await;

    let n = nats.clone();
    tokio::task::spawn_blocking(move || n.start())
        .await
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        let r = crate::util::http::get(admin, "/readyz", None).await;
        if r.status == 200 {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "/readyz never came back");
    c.send("NICK bob").await;
    c.until(|l| l.contains(" 001 bob ")).await;
}

/// Private messages between users of two nodes, answered as one server
/// answers: delivered with its msgid and echo, NOTICE and TAGMSG too,
/// `301` for an away recipient, `716` under `+g`, `401` for nobody, and a
/// message for an account online nowhere waits for its next login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_cross_nodes() {
    use crate::util::sasl::sasl_client as login;
    use crate::util::tag;
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    for n in ["alice", "bob"] {
        register_account(&a, n, "secret").await;
    }
    let b = cluster.node("b").await;
    let caps = "echo-message server-time message-tags";
    let mut alice = login(&a, "alice", "secret", caps).await;
    let mut bob = login(&b, "bob", "secret", caps).await;

    alice.send("PRIVMSG bob :hello across").await;
    let got = bob
        .until(|l| l.ends_with(" :alice!~alice@127.0.0.1 PRIVMSG bob :hello across"))
        .await;
    let echo = alice
        .until(|l| l.ends_with(" :alice!~alice@127.0.0.1 PRIVMSG bob :hello across"))
        .await;
    assert_eq!(tag(&got, "msgid"), tag(&echo, "msgid"), "{got}\n{echo}");
    bob.send("NOTICE alice :a notice back").await;
    alice
        .until(|l| l.ends_with(" :bob!~bob@127.0.0.1 NOTICE alice :a notice back"))
        .await;
    bob.send("@+typing=active TAGMSG alice").await;
    alice
        .until(|l| l.contains("+typing=active") && l.ends_with(" TAGMSG alice"))
        .await;

    // Away: the sender hears it, as from one server.
    bob.send("AWAY :at lunch").await;
    bob.until(|l| l.contains(" 306 bob ")).await;
    alice.send("PRIVMSG bob :are you there?").await;
    alice
        .until(|l| l == ":ferry.test 301 alice bob :at lunch")
        .await;
    // +g: refused on bob's node, told to alice on hers.
    bob.send("MODE bob +g").await;
    bob.until(|l| l.contains(" MODE bob :+g")).await;
    alice.send("PRIVMSG bob :let me in").await;
    alice.until(|l| l.contains(" 716 alice bob ")).await;
    // Nobody by that nick anywhere.
    alice.send("PRIVMSG nobody :hello?").await;
    alice
        .until(|l| l.starts_with(":ferry.test 401 alice nobody "))
        .await;

    // bob online nowhere: kept, and given at his next login, on node a.
    bob.send("MODE bob -g").await;
    bob.until(|l| l.contains(" MODE bob :-g")).await;
    bob.send("QUIT").await;
    bob.closed().await;
    alice.send("PRIVMSG bob :while you were out").await;
    alice
        .until(|l| l.ends_with("PRIVMSG bob :while you were out"))
        .await;
    let mut bob = login(&a, "bob", "secret", "").await;
    bob.until(|l| l.ends_with("while you were out")).await;
}
