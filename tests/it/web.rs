//! The web chat page: served by the web listener (cached, gzipped, with
//! its security headers), its own logic's unit tests (node --test), and
//! the whole page in Debian's Chromium driven by playwright-core against
//! the real binary (tests/web/e2e.mjs: register, befriend, DMs, a group
//! with a plain TCP client, history after reload, offline delivery, a
//! server restart; screenshots in target/web-screenshots).

use std::path::Path;
use std::process::Command;

use ferry_testkit::TestServer;

use crate::util::config;
use crate::util::http::{get, request};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn node(args: &[&str]) -> std::process::Output {
    Command::new("node")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("node (scripts/install-test-deps.sh installs it)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_cached_and_compressed() {
    let server = TestServer::with_config(config(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\nweb = true\n",
    ))
    .await;
    let web = server.addrs[1];
    let r = get(web, "/", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.body.contains("<script type=\"module\" src=\"/app.js\">"),
        "{}",
        r.body
    );
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let etag = r.header("etag").expect("an ETag").to_string();
    // The browser's copy is still good: 304, no body.
    let mut s = tokio::net::TcpStream::connect(web).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(
        format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{raw}");
    // Gzipped for browsers that take it.
    let mut s = tokio::net::TcpStream::connect(web).await.unwrap();
    s.write_all(b"GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let head =
        String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()]);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert!(head.contains("text/javascript"), "{head}");
    let plain = get(web, "/app.js", None).await;
    assert!(raw.len() < plain.body.len(), "gzip is smaller");
    assert_eq!(get(web, "/nope", None).await.status, 404);
    assert_eq!(request(web, "POST", "/", None, Some("x")).await.status, 405);
    // The IRC listener serves no page.
    server.stop().await;
}

#[test]
fn the_pages_own_logic() {
    // Every module parses (as the browser would: an ES module).
    let dir = tempfile::tempdir().unwrap();
    for f in ["app", "conn", "irc", "i18n"] {
        let copy = dir.path().join(format!("{f}.mjs"));
        std::fs::copy(repo().join(format!("crates/server/web/{f}.js")), &copy).unwrap();
        let out = node(&["--check", copy.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{f}.js: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = node(&["--test", "tests/web/irc.test.mjs"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_chat_page_in_a_browser() {
    assert!(
        repo()
            .join("tests/web/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run scripts/install-test-deps.sh"
    );
    let shots = repo().join("target/web-screenshots");
    let out = node(&[
        "tests/web/e2e.mjs",
        "--ferry",
        env!("CARGO_BIN_EXE_ferry"),
        "--out",
        shots.to_str().unwrap(),
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{said}");
    assert!(out.status.success(), "{said}");
    for f in ["desktop-en.png", "phone-zh.png"] {
        assert!(shots.join(f).is_file(), "{f} was not saved");
    }
}

/// `TOKEN`: the web page's "stay logged in". A logged-in client gets a
/// token once; it logs in as the password would (and only to its own
/// account); its owner lists and revokes it, and a revoked one logs in no
/// more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_tokens_log_in_and_are_revoked() {
    use crate::util::sasl::{authenticate_plain, sasl_hello, sasl_login};
    let server = TestServer::with_config(crate::util::accounts_config("", "")).await;
    crate::util::register_account(&server, "alice", "alice-pw").await;
    crate::util::register_account(&server, "bob", "bob-pw").await;

    let mut anon = server.client("anon").await;
    anon.send("TOKEN NEW").await;
    anon.expect(":ferry.test FAIL TOKEN ACCOUNT_REQUIRED :Log in to an account first")
        .await;

    let mut alice = server.connect().await;
    sasl_login(&mut alice, "alice", "alice-pw", "").await;
    alice.send("TOKEN NEW :Chrome on Linux").await;
    let l = alice.until(|l| l.contains(" TOKEN NEW ")).await;
    let words: Vec<&str> = l.split(' ').collect();
    let (id, token) = (words[3].to_string(), words[4].to_string());
    assert!(
        token.starts_with("ferrytok_") && token.len() == 9 + 64,
        "{l}"
    );

    // It logs in as alice (here after her first session left), and only
    // as alice.
    crate::util::quit(&mut alice).await;
    let mut alice = server.connect().await;
    sasl_login(&mut alice, "alice", &token, "").await;
    let mut wrong = server.connect().await;
    sasl_hello(&mut wrong, "bob", "bob", "").await;
    authenticate_plain(&mut wrong, "bob", &token).await;
    wrong
        .expect(":ferry.test 904 bob :SASL authentication failed")
        .await;

    alice.send("TOKEN LIST").await;
    let item = alice.until(|l| l.contains(" TOKEN ITEM ")).await;
    assert!(
        item.contains(&format!(" TOKEN ITEM {id} ")) && item.ends_with(" :Chrome on Linux"),
        "{item}"
    );
    let used: i64 = item.split(' ').nth(5).unwrap().parse().unwrap();
    assert!(used > 0, "its last use is noted: {item}");
    alice.expect(":ferry.test TOKEN END").await;

    alice.send(&format!("TOKEN REVOKE {id}")).await;
    alice
        .expect(&format!(":ferry.test TOKEN REVOKED {id}"))
        .await;
    alice.send(&format!("TOKEN REVOKE {id}")).await;
    alice
        .expect(&format!(
            ":ferry.test FAIL TOKEN NO_SUCH_TOKEN {id} :No such token"
        ))
        .await;
    let mut late = server.connect().await;
    sasl_hello(&mut late, "late", "late", "").await;
    authenticate_plain(&mut late, "alice", &token).await;
    late.expect(":ferry.test 904 late :SASL authentication failed")
        .await;
    server.stop().await;
}
