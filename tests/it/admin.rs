//! The admin listener's JSON API over real HTTP (in-process server; the
//! binary's `--admin`, metrics and logs are in `operations.rs`): tokens,
//! clients, channels, accounts, bans — and what users see of each action.

use ferry_testkit::{TestClient, TestServer};

use crate::util::http::{get, post, request};
use crate::util::sasl::{authenticate_plain, sasl_hello, sasl_login};
use crate::util::{accounts_config, finish_burst, join};

/// A server with an admin listener and one token, `ops`; the token.
async fn admin_server() -> (TestServer, String) {
    let (token, hash) = ferry_server::new_token();
    let cfg = accounts_config(
        "",
        &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[[admin.token]]\nname = \"ops\"\nhash = \"{hash}\"\n"
        ),
    );
    (TestServer::with_config(cfg).await, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_health_answers_without_a_token() {
    let (server, token) = admin_server().await;
    let admin = server.admin.expect("admin listener");
    let r = get(admin, "/healthz", None).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = get(admin, "/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["store"], "ok");

    let r = get(admin, "/api/v1/clients", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"ferry\""));
    assert!(r.json()["error"].as_str().unwrap().contains("token"));
    let wrong = format!("{}0", &token[..token.len() - 1]);
    assert_eq!(
        get(admin, "/api/v1/clients", Some(&wrong)).await.status,
        401
    );
    let r = request(
        admin,
        "POST",
        "/api/v1/notice",
        None,
        Some("{\"text\":\"x\"}"),
    )
    .await;
    assert_eq!(r.status, 401, "writes too");

    let r = get(admin, "/api/v1/clients", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["clients"], serde_json::json!([]));
    let r = get(admin, "/api/v1/nothing", Some(&token)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no such endpoint");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_listed_told_kicked_and_killed() {
    let (server, token) = admin_server().await;
    let admin = server.admin.expect("admin listener");
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    join(&mut alice, "#room").await;
    join(&mut bob, "#room").await;
    alice.until(|l| l.contains(" JOIN #room")).await;

    let r = get(admin, "/api/v1/clients", Some(&token)).await;
    let list = r.json();
    let clients = list["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 2, "{list}");
    let a = &clients[0];
    assert_eq!(a["nick"], "alice");
    assert_eq!(a["ip"], "127.0.0.1");
    assert_eq!(a["registered"], true);
    assert_eq!(a["channels"], serde_json::json!(["#room"]));
    assert_eq!(list["next"], serde_json::Value::Null);
    // Pages by id.
    let first = get(admin, "/api/v1/clients?limit=1", Some(&token))
        .await
        .json();
    assert_eq!(first["clients"][0]["nick"], "alice");
    let next = first["next"].as_str().expect("a next page").to_string();
    let second = get(
        admin,
        &format!("/api/v1/clients?limit=1&after={next}"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(second["clients"][0]["nick"], "bob");
    assert_eq!(second["next"], serde_json::Value::Null);

    let r = get(admin, "/api/v1/clients/BOB", Some(&token)).await;
    assert_eq!(r.json()["nick"], "bob");
    assert_eq!(
        get(admin, "/api/v1/clients/nobody", Some(&token))
            .await
            .status,
        404
    );

    let r = get(admin, "/api/v1/channels/%23room", Some(&token)).await;
    let ch = r.json();
    assert_eq!(ch["name"], "#room", "{ch}");
    assert_eq!(
        ch["members"],
        serde_json::json!([{"nick": "alice", "prefix": "@"}, {"nick": "bob", "prefix": ""}])
    );
    let r = get(admin, "/api/v1/channels", Some(&token)).await;
    assert_eq!(r.json()["channels"][0]["members"], 2);

    let r = post(
        admin,
        "/api/v1/notice",
        &token,
        r#"{"text":"maintenance at 5"}"#,
    )
    .await;
    assert_eq!(r.json()["sent"], 2, "{}", r.body);
    alice
        .expect(":ferry.test NOTICE alice :maintenance at 5")
        .await;
    bob.expect(":ferry.test NOTICE bob :maintenance at 5").await;

    let r = post(
        admin,
        "/api/v1/channels/%23room/kick",
        &token,
        r#"{"nick":"bob","reason":"calm down"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    alice.expect(":ferry.test KICK #room bob :calm down").await;
    bob.expect(":ferry.test KICK #room bob :calm down").await;
    let r = post(
        admin,
        "/api/v1/channels/%23room/kick",
        &token,
        r#"{"nick":"bob"}"#,
    )
    .await;
    assert_eq!(r.status, 404, "not on it any more: {}", r.body);

    let r = post(
        admin,
        "/api/v1/clients/bob/kill",
        &token,
        r#"{"reason":"bye now"}"#,
    )
    .await;
    assert_eq!(r.json()["killed"], "bob");
    let last = bob.closed().await;
    assert_eq!(last, ["ERROR :Killed (ferry.test (bye now))"]);
    let r = post(admin, "/api/v1/clients/bob/kill", &token, "{not json").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string());
    server.stop().await;
}

/// Logs in as `name` with SASL PLAIN on a new connection: the 90x line.
async fn try_login(server: &TestServer, name: &str, password: &str) -> (TestClient, String) {
    let mut c = server.connect().await;
    sasl_hello(&mut c, name, name, "").await;
    authenticate_plain(&mut c, name, password).await;
    let l = c
        .until(|l| l.contains(" 900 ") || l.contains(" 904 "))
        .await;
    (c, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_made_suspended_and_reset() {
    let (server, token) = admin_server().await;
    let admin = server.admin.expect("admin listener");
    let make = |body: &'static str| post(admin, "/api/v1/accounts", &token, body);
    let r = make(r#"{"name":"carol","password":"carol-pw"}"#).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json();
    assert_eq!(
        (a["name"].as_str(), a["display"].as_str()),
        (Some("carol"), Some("carol"))
    );
    assert!(!r.body.contains("carol-pw") && !r.body.contains("argon2"));
    assert_eq!(
        make(r#"{"name":"carol","password":"other-pw"}"#)
            .await
            .status,
        409
    );
    let weak = make(r#"{"name":"dave","password":"ab"}"#).await;
    assert_eq!(weak.status, 400);
    assert!(weak.json()["error"].as_str().unwrap().contains("at least"));
    assert_eq!(
        make(r#"{"name":"1bad","password":"good-pw"}"#).await.status,
        400
    );

    let mut carol = server.connect().await;
    sasl_login(&mut carol, "carol", "carol-pw", "").await;
    let r = get(admin, "/api/v1/accounts/CAROL", Some(&token)).await;
    assert_eq!(
        (r.json()["online"].as_u64(), r.json()["suspended"].is_null()),
        (Some(1), true)
    );

    let r = post(
        admin,
        "/api/v1/accounts/carol/suspend",
        &token,
        r#"{"reason":"spam"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["sessions_ended"], 1);
    assert_eq!(r.json()["suspended"]["reason"], "spam");
    assert_eq!(r.json()["suspended"]["by"], "ops");
    assert_eq!(carol.closed().await, ["ERROR :Account suspended: spam"]);
    let (_, l) = try_login(&server, "carol", "carol-pw").await;
    assert_eq!(
        l,
        ":ferry.test 904 carol :SASL authentication failed: this account is suspended"
    );
    let r = post(admin, "/api/v1/accounts/carol/unsuspend", &token, "").await;
    assert_eq!(r.json()["suspended"], serde_json::Value::Null, "{}", r.body);
    let (_, l) = try_login(&server, "carol", "carol-pw").await;
    assert!(l.contains(" 900 carol "), "{l}");

    let r = post(
        admin,
        "/api/v1/accounts/carol/password",
        &token,
        r#"{"password":"new-carol-pw"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, l) = try_login(&server, "carol", "carol-pw").await;
    assert_eq!(l, ":ferry.test 904 carol :SASL authentication failed");
    let (mut c, l) = try_login(&server, "carol", "new-carol-pw").await;
    assert!(l.contains(" 900 carol "), "{l}");
    c.send("CAP END").await;
    finish_burst(&mut c).await;

    let r = get(admin, "/api/v1/accounts", Some(&token)).await;
    assert_eq!(r.json()["accounts"][0]["name"], "carol");
    assert_eq!(r.json()["accounts"][0]["online"], 1);
    assert_eq!(
        get(admin, "/api/v1/accounts/nobody", Some(&token))
            .await
            .status,
        404
    );
    let r = post(admin, "/api/v1/accounts/nobody/suspend", &token, "{}").await;
    assert_eq!(r.status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klines_and_dlines_are_added_listed_and_removed() {
    let (server, token) = admin_server().await;
    let admin = server.admin.expect("admin listener");
    let mut spammer = server.connect().await;
    spammer.nick = "spam1".into();
    spammer.send("NICK spam1").await;
    spammer.send("USER baduser 0 * :x").await;
    finish_burst(&mut spammer).await;

    let r = post(
        admin,
        "/api/v1/klines",
        &token,
        r#"{"mask":"*baduser@*","reason":"spam","minutes":10}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(
        (b["mask"].as_str(), b["disconnected"].as_u64()),
        (Some("*baduser@*"), Some(1))
    );
    assert_eq!(b["set_by"], "admin API (ops)");
    assert_eq!(
        b["expires_ms"].as_i64().unwrap() - b["set_ms"].as_i64().unwrap(),
        600_000
    );
    assert_eq!(spammer.closed().await, ["ERROR :K-lined: spam"]);
    let mut again = server.connect().await;
    again.send("NICK spam2").await;
    again.send("USER baduser 0 * :x").await;
    again
        .expect(":ferry.test 465 spam2 :You are banned from this server: spam")
        .await;
    let r = get(admin, "/api/v1/klines", Some(&token)).await;
    assert_eq!(r.json()["bans"][0]["mask"], "*baduser@*");

    let r = request(
        admin,
        "DELETE",
        "/api/v1/klines/%2ABADUSER%40%2A",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.json()["removed"], "*baduser@*", "{}", r.body);
    let r = request(
        admin,
        "DELETE",
        "/api/v1/klines/%2Abaduser%40%2A",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        get(admin, "/api/v1/klines", Some(&token)).await.json()["bans"],
        serde_json::json!([])
    );

    let r = post(admin, "/api/v1/klines", &token, r#"{"mask":"nohost"}"#).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("A K-line is user@host"))
    );
    let r = post(
        admin,
        "/api/v1/dlines",
        &token,
        r#"{"mask":"10.9.8.7/24","reason":"botnet"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.json()["mask"].as_str(), r.json()["expires_ms"].is_null()),
        (Some("10.9.8.0/24"), true)
    );
    let r = get(admin, "/api/v1/dlines", Some(&token)).await;
    assert_eq!(r.json()["bans"][0]["reason"], "botnet");
    let r = request(
        admin,
        "DELETE",
        "/api/v1/dlines/10.9.8.0%2F24",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await;
}

/// Every path and method docs/openapi.yaml describes is one the listener
/// serves (an unknown one is "no such endpoint", a wrong method 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_described_endpoint_is_served() {
    let (server, token) = admin_server().await;
    let admin = server.admin.expect("admin listener");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut checked = 0;
    for (p, ops) in paths {
        let p = p.as_str().unwrap();
        let url = p
            .replace("{nick}", "nobody")
            .replace("{channel}", "%23none")
            .replace("{name}", "nobody")
            .replace("{mask}", "x%40y");
        for (method, _) in ops.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_ascii_uppercase();
            let body = (method == "POST").then_some("{}");
            let r = request(admin, &method, &url, Some(&token), body).await;
            assert_ne!(r.status, 405, "{method} {p}: {}", r.body);
            assert!(
                !r.body.contains("no such endpoint"),
                "{method} {p} is not served: {} {}",
                r.status,
                r.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
    server.stop().await;
}
