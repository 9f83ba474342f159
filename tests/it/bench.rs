//! `ferry bench` against a real server: a small idle run (two worker
//! processes) and a small dm run print one JSON line each, with every
//! client registered and nothing lost; presence and offline count every
//! notification and every offline message.

use ferry_testkit::TestServer;
use serde_json::Value;

use crate::util::proc::{ferry, run};

/// Runs `ferry bench <args>` and parses its one line of JSON.
pub(crate) async fn bench(args: String) -> Value {
    let mut cmd = ferry();
    cmd.arg("bench").args(args.split(' '));
    let out = run(cmd, None).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ferry bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON")
}

pub(crate) fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path)
        .unwrap_or_else(|| panic!("no {path} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_idle_and_dm_report_every_client_and_no_loss() {
    let server = TestServer::start().await;
    let addr = server.addr;

    let idle = bench(format!(
        "idle --server {addr} --clients 50 --rate 2000 --hold 0 --workers 2"
    ))
    .await;
    assert_eq!(field(&idle, "/scenario"), "idle");
    assert_eq!(field(&idle, "/workers"), 2);
    assert_eq!(field(&idle, "/setup/planned"), 50);
    assert_eq!(field(&idle, "/setup/registered"), 50, "{idle}");
    assert_eq!(field(&idle, "/setup/failed"), 0);
    assert_eq!(field(&idle, "/setup/connect_latency_us/count"), 50);
    assert!(field(&idle, "/setup/connect_latency_us/p99").as_u64() > Some(0));
    assert!(field(&idle, "/setup/registrations_per_s").as_f64() > Some(0.0));
    assert_eq!(field(&idle, "/hold/alive_at_end"), 50);
    assert!(field(&idle, "/limits/limited_by").is_string());

    // 10 messages per sender in 1 s: under any flood limit's burst. The
    // drain ends as soon as everything arrived; its length only stops hangs.
    let dm = bench(format!(
        "dm --server {addr} --pairs 10 --rate 100 --duration 1 --drain 10"
    ))
    .await;
    assert_eq!(field(&dm, "/scenario"), "dm");
    assert_eq!(field(&dm, "/setup/registered"), 20);
    assert_eq!(field(&dm, "/result/sent"), 100, "{dm}");
    assert_eq!(field(&dm, "/result/received"), 100, "{dm}");
    assert_eq!(field(&dm, "/result/lost"), 0);
    assert_eq!(field(&dm, "/result/latency_us/count"), 100);
    for p in ["p50", "p99", "p999", "max"] {
        assert!(field(&dm, &format!("/result/latency_us/{p}")).is_u64());
    }
    assert!(field(&dm, "/result/generator/cpu_s").is_f64());
    assert!(field(&dm, "/result/generator/lag_us/p99").is_u64());
    // At 100 lines a second the generator is idle: nothing is held back.
    assert!(
        field(&dm, "/result/generator/hold_us/max").as_u64() < Some(1000),
        "{dm}"
    );
    assert!(field(&dm, "/result/pass").is_boolean());

    // 3 channels of 4: every line reaches the 3 other members.
    let fan = bench(format!(
        "fanout --server {addr} --channels 3 --members 4 --rate 30 --duration 1 --drain 10"
    ))
    .await;
    assert_eq!(field(&fan, "/setup/ready"), 12, "{fan}");
    assert_eq!(field(&fan, "/result/sent"), 30, "{fan}");
    assert_eq!(field(&fan, "/result/expected"), 90, "{fan}");
    assert_eq!(field(&fan, "/result/received"), 90, "{fan}");
    assert_eq!(field(&fan, "/result/lost"), 0);
    server.stop().await;
}

/// presence and offline at tiny sizes: every watcher online is told of
/// every login and logout (730/731), and every acknowledged offline
/// message reaches its recipient at login, once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_presence_and_offline_count_every_notification_and_message() {
    let server = TestServer::start().await;
    let addr = server.addr;

    // 8 accounts, 4 friends each: the 4 odd ones log in 10 times in all,
    // each watched by its 2 even (always online) neighbours.
    let p = bench(format!(
        "presence --server {addr} --accounts 8 --friends 4 --rate 5 --duration 2 \
         --session 0.2 --sasl scram --drain 10 --timeout 20"
    ))
    .await;
    assert_eq!(field(&p, "/scenario"), "presence");
    assert_eq!(field(&p, "/setup/registered"), 8, "{p}");
    assert_eq!(field(&p, "/setup/failed"), 0, "{p}");
    assert_eq!(field(&p, "/presence/stayers"), 4);
    assert_eq!(field(&p, "/presence/watchers_per_login"), 2.0, "{p}");
    assert_eq!(field(&p, "/presence/logins/due"), 10, "{p}");
    assert_eq!(field(&p, "/presence/logins/ok"), 10, "{p}");
    assert_eq!(field(&p, "/presence/logins/failed"), 0, "{p}");
    assert_eq!(field(&p, "/presence/logins/quits"), 10, "{p}");
    for which in ["online", "offline"] {
        assert_eq!(field(&p, &format!("/presence/{which}/expected")), 20, "{p}");
        assert_eq!(field(&p, &format!("/presence/{which}/received")), 20, "{p}");
        assert_eq!(field(&p, &format!("/presence/{which}/lost")), 0, "{p}");
        assert_eq!(
            field(&p, &format!("/presence/{which}/latency_us/count")),
            20
        );
    }
    assert_eq!(field(&p, "/presence/unexpected"), 0, "{p}");
    // Each churner learns its 4 friends' state at every login.
    assert!(
        field(&p, "/presence/churner_lines").as_u64() >= Some(40),
        "{p}"
    );

    // 100 messages from 4 senders to 5 offline accounts (other names than
    // the accounts above); then they log in.
    let o = bench(format!(
        "offline --server {addr} --senders 4 --recipients 5 --rate 100 --duration 1 \
         --burst 3 --login-rate 50 --sasl plain --drain 10 --delivery-timeout 20 --timeout 20 \
         --nick-prefix fo"
    ))
    .await;
    assert_eq!(field(&o, "/scenario"), "offline");
    assert_eq!(field(&o, "/setup/registered"), 9, "{o}");
    assert_eq!(field(&o, "/offline/send/sent"), 100, "{o}");
    assert_eq!(field(&o, "/offline/send/acked"), 100, "{o}");
    assert_eq!(field(&o, "/offline/send/failed"), 0, "{o}");
    assert_eq!(field(&o, "/offline/send/unanswered"), 0, "{o}");
    assert_eq!(field(&o, "/offline/send/ack_latency_us/count"), 100);
    assert_eq!(field(&o, "/offline/delivery/logins_ok"), 5, "{o}");
    assert_eq!(field(&o, "/offline/delivery/expected"), 100, "{o}");
    assert_eq!(field(&o, "/offline/delivery/delivered"), 100, "{o}");
    assert_eq!(field(&o, "/offline/delivery/delivered_acked"), 100, "{o}");
    for zero in ["missing", "duplicates", "out_of_order", "wrong_recipient"] {
        assert_eq!(field(&o, &format!("/offline/delivery/{zero}")), 0, "{o}");
    }
    assert_eq!(field(&o, "/offline/delivery/recipients_complete"), 5, "{o}");
    assert_eq!(field(&o, "/offline/delivery/all_delivered"), true, "{o}");
    assert_eq!(field(&o, "/offline/delivery/per_recipient_us/count"), 5);
    server.stop().await;
}
