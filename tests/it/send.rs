//! `ferry send` (the binary) against ferry and against Debian's ngircd.

use std::process::Output;

use ferry_testkit::{TestClient, TestServer};

use crate::util::ngircd::ngircd;
use crate::util::proc::{ferry, local, run};
use crate::util::{free_port, join, quiet};

/// Runs `ferry send ARGS` with `stdin` (None: no input) and `env`.
async fn ferry_send(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = ferry();
    cmd.arg("send")
        .args(args)
        .env_remove("FERRY_PASSWORD")
        .envs(env.iter().copied());
    run(cmd, stdin.map(|t| t.as_bytes().to_vec())).await
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) {
    assert!(out.status.success(), "ferry send failed: {}", stderr(out));
    assert!(out.stdout.is_empty(), "{out:?}");
}

fn failed(out: &Output, want: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(stderr(out), format!("ferry send: {want}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_a_nick_and_to_a_channel() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let mut bob = server.client("bob").await;
    let out = ferry_send(
        &[&addr, "--nick", "alice", "--to", "bob", "hello", "你好"],
        None,
        &[],
    )
    .await;
    ok(&out);
    bob.expect(":alice!~ferry@127.0.0.1 PRIVMSG bob :hello 你好")
        .await;

    // A +n channel: ferry send joins it, then speaks.
    join(&mut bob, "#room").await;
    let out = ferry_send(&[&addr, "-n", "alice", "-t", "#room", "hi all"], None, &[]).await;
    ok(&out);
    bob.expect(":alice!~ferry@127.0.0.1 JOIN #room").await;
    bob.expect(":alice!~ferry@127.0.0.1 PRIVMSG #room :hi all")
        .await;
    bob.expect(":alice!~ferry@127.0.0.1 QUIT :Quit: sent with ferry send")
        .await;
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_line_of_stdin() {
    let server = TestServer::start().await;
    let mut bob = server.client("bob").await;
    let out = ferry_send(
        &[
            "--server",
            &server.addr.to_string(),
            "--nick",
            "alice",
            "--to",
            "bob",
        ],
        Some("first line\n\nsecond line\r\n"),
        &[],
    )
    .await;
    ok(&out);
    bob.expect(":alice!~ferry@127.0.0.1 PRIVMSG bob :first line")
        .await;
    bob.expect(":alice!~ferry@127.0.0.1 PRIVMSG bob :second line")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_plain_with_a_nonzero_exit() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let _bob = server.client("bob").await;
    let out = ferry_send(
        &[&addr, "--nick", "alice", "--to", "nobody", "hi"],
        None,
        &[],
    )
    .await;
    failed(&out, "nobody: No such nick/channel");
    let out = ferry_send(&[&addr, "--nick", "bob", "--to", "bob", "hi"], None, &[]).await;
    failed(&out, "nick bob: already in use");
    let out = ferry_send(&["--nick", "alice", "--to", "bob"], None, &[]).await;
    failed(&out, "nothing to send");
    let closed = local(free_port()).to_string();
    let out = ferry_send(&[&closed, "--nick", "a", "--to", "b", "hi"], None, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).starts_with(&format!("ferry send: cannot connect to {closed}: ")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_with_sasl() {
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let mut carol = server.client("carol").await;
    carol.send("REGISTER * * correct-horse").await;
    carol
        .expect(":ferry.test REGISTER SUCCESS carol :Account created")
        .await;
    carol.send("QUIT").await;
    carol.closed().await;
    let mut bob = crate::util::cap_client(&server, "bob", "account-tag").await;

    let args = [
        &addr,
        "--nick",
        "carol",
        "--account",
        "carol",
        "--to",
        "bob",
        "hi",
    ];
    let out = ferry_send(&args, None, &[("FERRY_PASSWORD", "correct-horse")]).await;
    ok(&out);
    bob.expect("@account=carol :carol!~ferry@127.0.0.1 PRIVMSG bob :hi")
        .await;

    let file = std::env::temp_dir().join(format!("ferry-send-pw-{}", std::process::id()));
    std::fs::write(&file, "wrong-horse\n").expect("write password file");
    let pw = file.to_str().expect("utf-8 path");
    let args = [
        &addr,
        "--nick",
        "carol",
        "--account",
        "carol",
        "--password-file",
        pw,
        "--to",
        "bob",
        "hi",
    ];
    let out = ferry_send(&args, None, &[]).await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).starts_with("ferry send: login to account carol failed: "),
        "{}",
        stderr(&out)
    );
    quiet(&mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_gbk_on_a_gbk_port() {
    let server = TestServer::with_charset("gbk").await;
    let mut li = server.client("li").await;
    let gbk = server.addrs[1].to_string();
    let out = ferry_send(
        &[
            &gbk,
            "--encoding",
            "gbk",
            "--nick",
            "张三",
            "--to",
            "li",
            "你好",
        ],
        None,
        &[],
    )
    .await;
    ok(&out);
    li.expect(":张三!~ferry@127.0.0.1 PRIVMSG li :你好").await;
    // Standard input that is not UTF-8 is read in --encoding.
    let mut cmd = ferry();
    cmd.args([
        "send",
        &gbk,
        "--encoding",
        "gbk",
        "--nick",
        "wang",
        "--to",
        "li",
    ]);
    // 你好 in GBK (a line that happens to be valid UTF-8 is read as UTF-8).
    let out = run(cmd, Some(b"\xc4\xe3\xba\xc3\n".to_vec())).await;
    ok(&out);
    li.expect(":wang!~ferry@127.0.0.1 PRIVMSG li :你好").await;
}

// --- against ngircd -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_ngircd() {
    let Some((ng, _)) = ngircd("against_ngircd", false).await else {
        return;
    };
    let addr = ng.addr.to_string();
    let mut bob = TestClient::connect(ng.addr).await;
    bob.register("bob").await;

    let out = ferry_send(
        &[&addr, "--nick", "alice", "--to", "bob", "hello", "你好"],
        None,
        &[],
    )
    .await;
    ok(&out);
    let l = bob.until(|l| l.contains(" PRIVMSG ")).await;
    assert_eq!(l, ":alice!~ferry@127.0.0.1 PRIVMSG bob :hello 你好");

    bob.send("JOIN #room").await;
    bob.until(|l| l.contains(" 366 ")).await;
    let out = ferry_send(
        &[&addr, "--nick", "alice", "--to", "#room", "hi all"],
        None,
        &[],
    )
    .await;
    ok(&out);
    let l = bob.until(|l| l.contains(" PRIVMSG ")).await;
    assert_eq!(l, ":alice!~ferry@127.0.0.1 PRIVMSG #room :hi all");

    let out = ferry_send(
        &[&addr, "--nick", "alice", "--to", "nobody", "hi"],
        None,
        &[],
    )
    .await;
    failed(&out, "nobody: No such nick or channel name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_ngircd_with_tls() {
    let Some((ng, Some(tls))) = ngircd("against_ngircd_with_tls", true).await else {
        return;
    };
    let mut bob = TestClient::connect(ng.addr).await;
    bob.register("bob").await;
    let tls = tls.to_string();
    let args = [
        &tls,
        "--tls",
        "--insecure",
        "--nick",
        "alice",
        "--to",
        "bob",
        "over TLS",
    ];
    let out = ferry_send(&args, None, &[]).await;
    ok(&out);
    let l = bob.until(|l| l.contains(" PRIVMSG ")).await;
    assert_eq!(l, ":alice!~ferry@127.0.0.1 PRIVMSG bob :over TLS");
    // Without --insecure a self-signed certificate is refused.
    let out = ferry_send(
        &[&tls, "--tls", "--nick", "alice", "--to", "bob", "x"],
        None,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "ferry send: TLS with {tls}: invalid peer certificate"
        )),
        "{err}"
    );
}
