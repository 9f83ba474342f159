//! An account's owner takes its data away (GET /export with a login
//! token) and can delete the account (NickServ DROP).

use ferry_testkit::TestServer;

use crate::util::config;
use crate::util::http::request;
use crate::util::sasl::sasl_login;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_exports_its_data_with_a_login_token() {
    let server = TestServer::with_config(config(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\nmotd = \"hello\"\n\
         [accounts]\nmin_password_length = 4\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\nweb = true\n",
    ))
    .await;
    let web = server.addrs[1];
    crate::util::register_account(&server, "alice", "alice-pw").await;
    crate::util::register_account(&server, "bob", "bob-pw").await;
    // bob writes to alice while she is away.
    let mut bob = server.connect().await;
    sasl_login(&mut bob, "bob", "bob-pw", "").await;
    bob.send("PRIVMSG alice :a letter for you").await;
    bob.until(|l| l.contains(" 301 bob alice ")).await;

    let mut alice = server.connect().await;
    sasl_login(&mut alice, "alice", "alice-pw", "draft/metadata-3 batch").await;
    alice
        .until(|l| l.ends_with(" PRIVMSG alice :a letter for you"))
        .await;
    alice.send("ACCEPT bob").await;
    alice.send("METADATA * SET display-name :爱丽丝").await;
    alice
        .until(|l| l.contains(" 761 alice alice display-name "))
        .await;
    alice.send("PRIVMSG bob :thanks").await;
    alice.send("TOKEN NEW :Export test").await;
    let l = alice.until(|l| l.contains(" TOKEN NEW ")).await;
    let token = l.split(' ').nth(4).expect("a token").to_string();

    // Without a token, or a wrong one: no.
    let r = request(web, "GET", "/export", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request(web, "GET", "/export", Some("ferrytok_00"), None).await;
    assert_eq!(r.status, 401);
    let r = request(web, "POST", "/export", Some(&token), Some("{}")).await;
    assert_eq!(r.status, 405);

    let r = request(web, "GET", "/export", Some(&token), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"ferry-export-alice.json\"")
    );
    let v = r.json();
    assert_eq!(v["format"], "ferry-export-1");
    assert_eq!(v["account"]["name"], "alice");
    assert_eq!(v["profile"]["display-name"], "爱丽丝");
    assert_eq!(v["friends"], serde_json::json!(["bob"]));
    let conv = &v["direct_conversations"][0];
    assert_eq!(conv["with"], "bob");
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["a letter for you", "thanks"]);
    assert_eq!(v["login_tokens"][0]["label"], "Export test");
    assert!(!r.body.contains(&token), "the export never holds a secret");

    // DROP deletes the account: the token logs in to nothing any more.
    alice.send("PRIVMSG NickServ :DROP alice-pw").await;
    alice.until(|l| l.ends_with(":Your account is gone.")).await;
    let r = request(web, "GET", "/export", Some(&token), None).await;
    assert_eq!(r.status, 401);
}
