//! TLS listeners: plain and TLS clients side by side, WHOIS 671/276,
//! certificate reload (in-process and SIGHUP to the binary), SASL EXTERNAL
//! with client certificates, `require_tls_for_plain`, STS, `ferry send
//! --tls` and `ferry cert`.

use std::path::Path;

use ferry_server::tls::{SelfSigned, TlsFiles};
use ferry_testkit::{write_self_signed, TestClient, TestServer};

use crate::util::proc::{ferry, local, run, scratch};
use crate::util::sasl::{authenticate_external, authenticate_plain, sasl_hello};
use crate::util::{
    accounts_config, finish_burst, free_port, logged_in_line, quiet, quit, Deadline, Proc,
};

/// A server with a plain listener (`addrs[0]`) and a TLS one (`addrs[1]`)
/// whose certificate is written into `dir`; `accounts` and `rest` add TOML.
async fn tls_server(dir: &Path, accounts: &str, rest: &str) -> (TestServer, TlsFiles, SelfSigned) {
    let (files, pair) = write_self_signed(dir, "server");
    let cfg = accounts_config(
        accounts,
        &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n{rest}\n\
             [[listen]]\naddress = \"127.0.0.1:6667\"\n\
             [[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\n",
            files.cert.display(),
            files.key.display()
        ),
    );
    (TestServer::with_config(cfg).await, files, pair)
}

/// Sends `CAP LS 302` (or `CAP LS`) and returns every capability listed,
/// across continuation lines, as one space-separated string.
async fn cap_ls(c: &mut TestClient, version: &str) -> String {
    c.send(&format!("CAP LS {version}")).await;
    let mut all = Vec::new();
    loop {
        let l = c.until(|l| l.starts_with(":ferry.test CAP * LS ")).await;
        let rest = &l[":ferry.test CAP * LS ".len()..];
        match rest.strip_prefix("* :") {
            Some(more) => all.push(more.to_string()),
            None => {
                all.push(rest.trim_start_matches(':').to_string());
                return format!(" {} ", all.join(" "));
            }
        }
    }
}

/// Reads a WHOIS reply through 318.
async fn whois(c: &mut TestClient, nick: &str) -> Vec<String> {
    c.send(&format!("WHOIS {nick}")).await;
    let mut lines = Vec::new();
    loop {
        let l = c.line().await;
        let end = l.contains(" 318 ");
        lines.push(l);
        if end {
            return lines;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_chats_with_plain_client() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, pair) = tls_server(dir.path(), "", "").await;
    let mut alice = server.connect_tls(1, None).await;
    assert_eq!(
        alice.server_certfp.as_deref(),
        Some(pair.fingerprint.as_str())
    );
    alice.register("alice").await;
    let mut bob = server.client("bob").await;

    alice.send("PRIVMSG bob :hello over TLS").await;
    bob.expect(":alice!~alice@127.0.0.1 PRIVMSG bob :hello over TLS")
        .await;
    bob.send("PRIVMSG alice :and back in plain text").await;
    alice
        .expect(":bob!~bob@127.0.0.1 PRIVMSG alice :and back in plain text")
        .await;

    // A channel, and a burst larger than one TLS record.
    alice.send("JOIN #tls").await;
    alice.until(|l| l.contains(" 366 ")).await;
    bob.send("JOIN #tls").await;
    bob.until(|l| l.contains(" 366 ")).await;
    alice.until(|l| l.ends_with("JOIN #tls")).await;
    for i in 0..200 {
        bob.send(&format!("PRIVMSG #tls :line {i} {}", "x".repeat(300)))
            .await;
    }
    for i in 0..200 {
        alice
            .expect(&format!(
                ":bob!~bob@127.0.0.1 PRIVMSG #tls :line {i} {}",
                "x".repeat(300)
            ))
            .await;
    }

    let seen_by_bob = whois(&mut bob, "alice").await;
    assert!(
        seen_by_bob
            .contains(&":ferry.test 671 bob alice :is using a secure connection".to_string()),
        "{seen_by_bob:#?}"
    );
    // No client certificate: no 276.
    assert!(
        !seen_by_bob.iter().any(|l| l.contains(" 276 ")),
        "{seen_by_bob:#?}"
    );
    let seen_by_alice = whois(&mut alice, "bob").await;
    assert!(
        !seen_by_alice.iter().any(|l| l.contains(" 671 ")),
        "{seen_by_alice:#?}"
    );

    // QUIT over TLS: the ERROR arrives, then the server closes.
    alice.send("QUIT :bye").await;
    let rest = alice.closed().await;
    assert_eq!(
        rest.last().map(String::as_str),
        Some("ERROR :Quit: bye"),
        "{rest:#?}"
    );
    bob.expect(":alice!~alice@127.0.0.1 QUIT :Quit: bye").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_bytes_on_a_tls_port_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = tls_server(dir.path(), "", "").await;
    let mut c = TestClient::connect(server.addrs[1]).await;
    c.send("NICK plain").await;
    c.send("USER plain 0 * :plain").await;
    // The handshake fails; the server closes without an IRC line (at most
    // a TLS alert).
    let got = c.closed().await;
    assert!(got.iter().all(|l| !l.contains("ferry.test")), "{got:#?}");
    // The TLS port still serves TLS clients.
    let mut ok = server.connect_tls(1, None).await;
    ok.register("ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_takes_new_certificate_for_new_handshakes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, files, first) = tls_server(dir.path(), "", "").await;
    let tls = server.tls[1].clone().expect("listener 1 is TLS");
    assert!(server.tls[0].is_none());

    let mut old = server.connect_tls(1, None).await;
    old.register("old").await;
    assert_eq!(
        old.server_certfp.as_deref(),
        Some(first.fingerprint.as_str())
    );

    // New files in the same place, then what SIGHUP does.
    let (_, second) = write_self_signed(dir.path(), "server");
    tls.reload().expect("reload the new pair");
    let mut new = server.connect_tls(1, None).await;
    new.register("new").await;
    assert_eq!(
        new.server_certfp.as_deref(),
        Some(second.fingerprint.as_str())
    );
    // The connection made before keeps working.
    old.send("PRIVMSG new :still here").await;
    new.expect(":old!~old@127.0.0.1 PRIVMSG new :still here")
        .await;

    // A broken certificate is refused and the last good one stays.
    std::fs::write(&files.cert, "not a certificate\n").unwrap();
    let e = tls.reload().unwrap_err().to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let mut third = server.connect_tls(1, None).await;
    third.register("third").await;
    assert_eq!(
        third.server_certfp.as_deref(),
        Some(second.fingerprint.as_str())
    );
    old.send("PING :alive").await;
    old.expect(":ferry.test PONG ferry.test :alive").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_external_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = tls_server(dir.path(), "", "").await;
    let (_, alice_cert) = write_self_signed(dir.path(), "alice");
    let fp = alice_cert.fingerprint.clone();
    let ns = ":NickServ!NickServ@ferry.test NOTICE alice :";

    // alice registers her account over TLS with her certificate and lists it.
    let mut a = server.connect_tls(1, Some(&alice_cert)).await;
    a.register("alice").await;
    a.send("PRIVMSG NickServ :CERT ADD").await;
    a.expect(&format!(
        "{ns}Log in first; syntax: CERT ADD [fingerprint] | DEL <fingerprint> | LIST"
    ))
    .await;
    a.send("PRIVMSG NickServ :REGISTER alicepass").await;
    a.until(|l| l.contains("NOTICE alice :Account alice registered"))
        .await;
    a.sync().await;
    a.send("PRIVMSG NickServ :CERT LIST").await;
    a.expect(&format!("{ns}No certificates log in to your account."))
        .await;
    a.send("PRIVMSG NickServ :CERT ADD").await;
    a.expect(&format!(
        "{ns}Certificate {fp} now logs in to your account."
    ))
    .await;
    a.send("PRIVMSG NickServ :CERT ADD nonsense").await;
    a.expect(&format!(
        "{ns}That is not a SHA-256 fingerprint (64 hex digits)."
    ))
    .await;
    a.send("PRIVMSG NickServ :CERT LIST").await;
    a.expect(&format!(
        "{ns}Certificates that log in to your account (SHA-256):"
    ))
    .await;
    a.expect(&format!("{ns}{fp}")).await;
    // Her own WHOIS shows the fingerprint; bob's does not.
    let own = whois(&mut a, "alice").await;
    assert!(
        own.contains(&format!(
            ":ferry.test 276 alice alice :has client certificate fingerprint {fp}"
        )),
        "{own:#?}"
    );
    let mut bob = server.client("bob").await;
    let other = whois(&mut bob, "alice").await;
    assert!(!other.iter().any(|l| l.contains(" 276 ")), "{other:#?}");
    assert!(other.iter().any(|l| l.contains(" 671 ")), "{other:#?}");
    quit(&mut a).await;

    // The certificate alone logs her in.
    let mut c = server.connect_tls(1, Some(&alice_cert)).await;
    c.nick = "alice".into();
    let ls = cap_ls(&mut c, "302").await;
    assert!(ls.contains(" sasl=EXTERNAL,PLAIN,SCRAM-SHA-256 "), "{ls}");
    sasl_hello(&mut c, "alice", "alice", "").await;
    authenticate_external(&mut c, "+").await;
    c.expect(&logged_in_line("alice", "alice")).await;
    c.expect(":ferry.test 903 alice :SASL authentication successful")
        .await;
    c.send("CAP END").await;
    finish_burst(&mut c).await;
    quiet(&mut c).await;
    let own = whois(&mut c, "alice").await;
    assert!(
        own.contains(&":ferry.test 330 alice alice alice :is logged in as".to_string()),
        "{own:#?}"
    );

    // Another certificate, or none, does not.
    let (_, eve_cert) = write_self_signed(dir.path(), "eve");
    for cert in [Some(&eve_cert), None] {
        let mut e = server.connect_tls(1, cert).await;
        sasl_hello(&mut e, "eve", "eve", "").await;
        if cert.is_some() {
            authenticate_external(&mut e, "+").await;
        } else {
            e.send("AUTHENTICATE EXTERNAL").await;
            e.expect(
                ":ferry.test NOTE AUTHENTICATE NO_CERTIFICATE :SASL EXTERNAL needs a TLS \
                 connection with a client certificate",
            )
            .await;
        }
        e.expect(":ferry.test 904 eve :SASL authentication failed")
            .await;
        // Gone before the next one takes the nick.
        quit(&mut e).await;
    }
    // An authorization identity naming another account fails.
    let mut d = server.connect_tls(1, Some(&alice_cert)).await;
    sasl_hello(&mut d, "dan", "dan", "").await;
    authenticate_external(&mut d, "Ym9i").await; // "bob"
    d.expect(":ferry.test 904 dan :SASL authentication failed")
        .await;

    // Deleted, the certificate logs in no more.
    c.send(&format!("PRIVMSG NickServ :CERT DEL {}", fp.to_uppercase()))
        .await;
    c.expect(&format!(
        "{ns}Certificate {fp} no longer logs in to your account."
    ))
    .await;
    let mut f = server.connect_tls(1, Some(&alice_cert)).await;
    sasl_hello(&mut f, "fay", "fay", "").await;
    authenticate_external(&mut f, "+").await;
    f.expect(":ferry.test 904 fay :SASL authentication failed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_tls_for_plain_refuses_passwords_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = tls_server(dir.path(), "require_tls_for_plain = true", "").await;
    // Accounts are made over TLS only.
    let mut r = server.connect_tls(1, None).await;
    r.register("bob").await;
    r.send("REGISTER * * bobpass").await;
    r.until(|l| l.contains("REGISTER SUCCESS bob")).await;
    quit(&mut r).await;

    // Plain text: PLAIN is not offered, and refused before the password.
    let mut c = server.connect().await;
    c.nick = "bob".into();
    let ls = cap_ls(&mut c, "302").await;
    assert!(ls.contains(" sasl=SCRAM-SHA-256 "), "{ls}");
    c.send("CAP REQ :sasl").await;
    c.expect(":ferry.test CAP * ACK :sasl").await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :bob real").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect(
        ":ferry.test NOTE AUTHENTICATE TLS_REQUIRED :This server takes passwords only over \
         TLS: reconnect with TLS, or log in with SASL SCRAM-SHA-256",
    )
    .await;
    c.expect(":ferry.test 908 bob SCRAM-SHA-256 :are available SASL mechanisms")
        .await;
    c.expect(":ferry.test 904 bob :SASL authentication failed")
        .await;
    c.send("CAP END").await;
    finish_burst(&mut c).await;
    c.sync().await;
    // NickServ IDENTIFY likewise.
    c.send("PRIVMSG NickServ :IDENTIFY bobpass").await;
    c.expect(
        ":NickServ!NickServ@ferry.test NOTICE bob :This server takes passwords only over \
         TLS: reconnect with TLS, or log in with SASL SCRAM-SHA-256",
    )
    .await;
    // New passwords neither.
    c.send("REGISTER bob2 * secret2").await;
    c.expect(
        ":ferry.test FAIL REGISTER TLS_REQUIRED bob2 :This server takes new passwords \
         only over TLS: reconnect with TLS",
    )
    .await;
    c.send("PRIVMSG NickServ :REGISTER secret2").await;
    c.expect(
        ":NickServ!NickServ@ferry.test NOTICE bob :This server takes new passwords only \
         over TLS: reconnect with TLS",
    )
    .await;
    quit(&mut c).await;

    // Over TLS both work.
    let mut t = server.connect_tls(1, None).await;
    sasl_hello(&mut t, "bob", "bob", "").await;
    authenticate_plain(&mut t, "bob", "bobpass").await;
    t.expect(&logged_in_line("bob", "bob")).await;
    t.expect(":ferry.test 903 bob :SASL authentication successful")
        .await;
    t.send("CAP END").await;
    finish_burst(&mut t).await;
    t.sync().await;
    t.send("PRIVMSG NickServ :LOGOUT").await;
    t.until(|l| l.contains("You are now logged out")).await;
    t.send("PRIVMSG NickServ :IDENTIFY bobpass").await;
    t.until(|l| l.contains("You are now identified for bob."))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_is_advertised_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    // Without [tls.sts], no sts cap.
    let (plain_only, _, _) = tls_server(dir.path(), "", "").await;
    let mut c = plain_only.connect().await;
    let ls = cap_ls(&mut c, "302").await;
    assert!(!ls.contains("sts"), "{ls}");

    let (server, _, _) = tls_server(
        dir.path(),
        "",
        "[tls.sts]\nport = 6697\nduration_secs = 86400\npreload = true\n",
    )
    .await;
    let mut p = server.connect().await;
    let ls = cap_ls(&mut p, "302").await;
    assert!(ls.contains(" sts=port=6697,duration=86400 "), "{ls}");
    // A policy is not requested.
    p.send("CAP REQ sts").await;
    p.expect(":ferry.test CAP * NAK :sts").await;
    // Before CAP 302 there are no values; sts is still named.
    let mut old = server.connect().await;
    let ls = cap_ls(&mut old, "").await;
    assert!(ls.contains(" sts "), "{ls}");

    let mut t = server.connect_tls(1, None).await;
    let ls = cap_ls(&mut t, "302").await;
    assert!(ls.contains(" sts=duration=86400,preload "), "{ls}");
    assert!(!ls.contains("port="), "{ls}");
}

/// `ferry send --tls --insecure` to ferry's own TLS listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_send_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = tls_server(dir.path(), "", "").await;
    let mut bob = server.client("bob").await;
    let addr = server.addrs[1].to_string();
    let mut cmd = ferry();
    cmd.args(["send", &addr, "--tls", "--insecure", "--nick", "carol"])
        .args(["--to", "bob", "sent over TLS"])
        .env_remove("FERRY_PASSWORD");
    let out = run(cmd, None).await;
    assert!(out.status.success(), "{out:?}");
    bob.expect(":carol!~ferry@127.0.0.1 PRIVMSG bob :sent over TLS")
        .await;
    // Without --insecure the self-signed certificate is refused.
    let addr = server.addrs[1].to_string();
    let mut cmd = ferry();
    cmd.args([
        "send", &addr, "--tls", "--nick", "carol", "--to", "bob", "x",
    ]);
    let out = run(cmd, None).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ferry send: ") && err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn ferry_cert_writes_a_usable_pair() {
    let dir = scratch("tls-cert");
    let out_dir = dir.join("tls");
    let run = |extra: &[&str]| {
        ferry()
            .args(["cert", "--self-signed", "--out"])
            .arg(&out_dir)
            .args(extra)
            .output()
            .expect("run ferry cert")
    };
    let out = run(&["--name", "irc.example.test", "--name", "127.0.0.1"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("for: irc.example.test, 127.0.0.1"), "{text}");
    assert!(text.contains("SHA-256 fingerprint: "), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key.pem is private");
    }
    // Not overwritten without --force.
    let again = run(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists (use --force"));
    assert!(run(&["--force"]).status.success());

    // `ferry config check` on a TLS listener with `cert` and `key`.
    let cfg = dir.join("ferry.toml");
    let check = |cert: &str, key: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                out_dir.join(cert).display(),
                out_dir.join(key).display()
            ),
        )
        .unwrap();
        ferry()
            .args(["config", "check"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    // It takes the pair.
    let out = check("cert.pem", "key.pem");
    assert!(out.status.success(), "{out:?}");
    // The key and certificate swapped: the error names key and line.
    let check = check("key.pem", "cert.pem");
    assert!(!check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains(":4: `listen.tls_cert`: "), "{err}");
    assert!(err.contains("holds no PEM certificate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real signal: `ferry serve` reloads its certificate on SIGHUP,
/// keeps connections, and keeps the old pair when the new one is bad.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    let dir = scratch("tls-sighup");
    let (files, first) = write_self_signed(&dir, "server");
    let port = free_port();
    let cfg = dir.join("ferry.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\
             [[listen]]\naddress = \"127.0.0.1:{port}\"\ntls = true\n",
            dir.join("data").display(),
            files.cert.display(),
            files.key.display()
        ),
    )
    .unwrap();
    // The log, wherever the binary writes it.
    let log = dir.join("output.log");
    let mut child = Proc::serve_logging(&["--config"], &cfg, &log);
    let addr = local(port);
    child.logged(&log, "listening").await;

    let mut kept = TestClient::connect_tls(addr, None).await;
    kept.nick = "kept".into();
    kept.send("NICK kept").await;
    kept.send("USER kept 0 * :kept").await;
    kept.until(|l| l.contains(" 376 ")).await;
    assert_eq!(
        kept.server_certfp.as_deref(),
        Some(first.fingerprint.as_str())
    );

    let (_, second) = write_self_signed(&dir, "server");
    child.signal("-HUP");
    // Handshakes after the signal see the new certificate.
    let deadline = Deadline::new();
    loop {
        let c = TestClient::connect_tls(addr, None).await;
        if c.server_certfp.as_deref() == Some(second.fingerprint.as_str()) {
            break;
        }
        deadline.tick("SIGHUP did not reload").await;
    }
    kept.send("PING :after-reload").await;
    kept.until(|l| l.ends_with(" :after-reload")).await;

    // A bad key: logged, and the second pair stays.
    std::fs::write(&files.key, "garbage\n").unwrap();
    child.signal("-HUP");
    child
        .logged(
            &log,
            "rehash failed; the running configuration and certificates stay",
        )
        .await;
    let c = TestClient::connect_tls(addr, None).await;
    assert_eq!(
        c.server_certfp.as_deref(),
        Some(second.fingerprint.as_str())
    );
    kept.send("PING :still").await;
    kept.until(|l| l.ends_with(" :still")).await;

    child.signal("-TERM");
    kept.until(|l| l == "ERROR :Server shutting down").await;
    let status = child.exit().await;
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a TLS listener, SIGHUP is logged and the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_tls_keeps_serving() {
    let dir = scratch("tls-sighup-plain");
    let port = free_port();
    let log = dir.join("output.log");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Proc::serve_logging(
        &["--listen", &listen, "--data-dir"],
        &dir.join("data"),
        &log,
    );
    child.logged(&log, "listening").await;
    child.signal("-HUP");
    child.logged(&log, "no configuration file").await;
    assert!(child.is_running(), "SIGHUP ended the server");
    let mut c = TestClient::connect(local(port)).await;
    c.nick = "after".into();
    c.send("NICK after").await;
    c.send("USER after 0 * :after").await;
    c.until(|l| l.contains(" 376 ")).await;
    child.signal("-TERM");
    c.until(|l| l == "ERROR :Server shutting down").await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An operator block with a certificate fingerprint: that certificate
/// alone opers up; with a password too, both must match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oper_by_certificate_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (_, admin_cert) = write_self_signed(dir.path(), "admin");
    let (_, other_cert) = write_self_signed(dir.path(), "other");
    let fp = &admin_cert.fingerprint;
    let opers = format!(
        "[[oper]]\nname = \"certonly\"\ncertfp = \"{fp}\"\n\
         [[oper]]\nname = \"both\"\ncertfp = \"{}\"\npassword_hash = \"{}\"\n",
        fp.to_uppercase(),
        ferry_server::auth::hash_password("bothpass")
    );
    let (server, _, _) = tls_server(dir.path(), "", &opers).await;

    let mut admin = server.connect_tls(1, Some(&admin_cert)).await;
    admin.register("admin").await;
    admin.send("OPER certonly").await;
    admin
        .expect(":ferry.test 381 admin :You are now an IRC operator")
        .await;
    admin.expect(":admin MODE admin :+o").await;
    admin.send("OPER both wrongpass").await;
    admin
        .expect(":ferry.test 464 admin :Password incorrect")
        .await;
    admin.send("OPER both bothpass").await;
    admin
        .expect(":ferry.test 381 admin :You are now an IRC operator")
        .await;

    // Another certificate, or none, is not enough, password or not.
    let mut other = server.connect_tls(1, Some(&other_cert)).await;
    other.register("other").await;
    other.send("OPER certonly").await;
    other
        .expect(":ferry.test 464 other :Password incorrect")
        .await;
    other.send("OPER both bothpass").await;
    other
        .expect(":ferry.test 464 other :Password incorrect")
        .await;
    let mut plain = server.client("plain").await;
    plain.send("OPER certonly").await;
    plain
        .expect(":ferry.test 464 plain :Password incorrect")
        .await;
}

/// `--listen IP:PORT/tls` on the command line serves TLS with the
/// certificate of `ferry cert --self-signed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_flag_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry()
        .args(["cert", "--self-signed", "--out"])
        .arg(dir.path().join("data/tls"))
        .output()
        .expect("run ferry cert");
    assert!(out.status.success(), "{out:?}");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}/tls");
    let mut child = Proc::serve(
        &["--listen", &listen, "--data-dir"],
        &dir.path().join("data"),
    );
    let addr = local(port);
    child.accepting(addr).await;
    let mut c = TestClient::connect_tls(addr, None).await;
    c.send("NICK secure").await;
    c.send("USER secure 0 * :secure").await;
    c.until(|l| l.contains(" 001 secure ")).await;

    // Without a certificate anywhere, the flag is refused with the reason.
    let empty = tempfile::tempdir().unwrap();
    let out = ferry()
        .current_dir(empty.path())
        .args(["serve", "--listen", "127.0.0.1:1/tls", "--data-dir"])
        .arg(empty.path().join("data"))
        .output()
        .expect("run ferry serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a certificate"), "{err}");
}

/// `ferry bench --tls` against the TLS listener: every client registers
/// and every message arrives, in the connection scenarios and in the
/// account ones (SASL over TLS); the same flag against the plain listener
/// fails every handshake, so the bench really spoke TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_speaks_tls() {
    use crate::bench::{bench, field};
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = tls_server(dir.path(), "", "").await;
    let (plain, tls) = (server.addrs[0], server.addrs[1]);

    let idle = bench(format!(
        "idle --tls --server {tls} --clients 20 --rate 1000 --hold 0"
    ))
    .await;
    assert_eq!(field(&idle, "/setup/registered"), 20, "{idle}");
    assert_eq!(field(&idle, "/setup/failed"), 0, "{idle}");

    let dm = bench(format!(
        "dm --tls --server {tls} --pairs 5 --rate 50 --duration 1 --drain 10"
    ))
    .await;
    assert_eq!(field(&dm, "/result/sent"), 50, "{dm}");
    assert_eq!(field(&dm, "/result/received"), 50, "{dm}");
    assert_eq!(field(&dm, "/result/lost"), 0, "{dm}");

    let o = bench(format!(
        "offline --tls --server {tls} --senders 2 --recipients 3 --rate 30 --duration 1 \
         --burst 3 --login-rate 50 --sasl scram --drain 10 --delivery-timeout 20 --timeout 20"
    ))
    .await;
    assert_eq!(field(&o, "/offline/send/acked"), 30, "{o}");
    assert_eq!(field(&o, "/offline/delivery/delivered_acked"), 30, "{o}");

    let wrong = bench(format!(
        "idle --tls --server {plain} --clients 3 --rate 100 --hold 0 --timeout 3"
    ))
    .await;
    assert_eq!(field(&wrong, "/setup/registered"), 0, "{wrong}");
    assert_eq!(field(&wrong, "/setup/failed"), 3, "{wrong}");
    server.stop().await;
}
