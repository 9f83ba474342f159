//! A thousand clients in one channel all receive one message.

use std::time::Duration;

use ferry_testkit::{TestClient, TestServer};
use tokio::task::JoinSet;

use crate::util::{join, quiet};

const CLIENTS: usize = 1000;
/// Connections opened at once while filling the channel.
const CONCURRENCY: usize = 100;
/// A hang guard for the whole test, not a performance assertion.
const HANG_GUARD: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clients_one_channel() {
    tokio::time::timeout(HANG_GUARD, thousand_clients())
        .await
        .expect("the test hung");
}

async fn thousand_clients() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let mut members: Vec<TestClient> = Vec::with_capacity(CLIENTS - 1);
    let nicks: Vec<String> = (1..CLIENTS).map(|i| format!("u{i}")).collect();
    for batch in nicks.chunks(CONCURRENCY) {
        let mut set = JoinSet::new();
        for nick in batch {
            let nick = nick.clone();
            set.spawn(async move {
                let mut c = TestClient::connect(addr).await;
                c.register(&nick).await;
                join(&mut c, "#big").await;
                c
            });
        }
        while let Some(c) = set.join_next().await {
            members.push(c.expect("client task"));
        }
    }
    let mut sender = server.client("sender").await;
    join(&mut sender, "#big").await;
    sender.send("PRIVMSG #big :hello all").await;

    let mut set = JoinSet::new();
    for mut c in members {
        set.spawn(async move {
            // Before the message: only JOINs of those who came later.
            loop {
                let l = c.line().await;
                if l == ":sender!~sender@127.0.0.1 PRIVMSG #big :hello all" {
                    break;
                }
                assert!(
                    l.starts_with(':') && l.ends_with("@127.0.0.1 JOIN #big"),
                    "{}: unexpected line {l}",
                    c.nick
                );
            }
            // ...and exactly once.
            quiet(&mut c).await;
            // Kept open until everyone is done: a QUIT would disturb the others.
            c
        });
    }
    let mut done = Vec::with_capacity(CLIENTS - 1);
    while let Some(r) = set.join_next().await {
        done.push(r.expect("member task"));
    }
    assert_eq!(done.len(), CLIENTS - 1);
    quiet(&mut sender).await;
}
