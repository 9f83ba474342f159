//! `ferry chat`, the real binary in a real terminal (tmux), against a
//! real ferry and against Debian's ngircd: what the screen shows and what
//! the other side receives.

use std::time::Duration;

use ferry_testkit::{TestClient, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::util::ngircd::ngircd;
use crate::util::proc::{local, scratch};
use crate::util::tmux::{self, cells, Tmux};
use crate::util::{
    accounts_config, cap_client, free_port, join, register_account, sasl_client, Deadline, Proc,
};

/// `ferry chat` as alice, logged in to her account (password
/// `alice-pass`, from a file), in a tmux session named `name`.
fn alice_logged_in(server: &TestServer, name: &str) -> Tmux {
    let addr = server.addr.to_string();
    let pw = scratch(&format!("chat-{name}-pw")).join("pw");
    std::fs::write(&pw, "alice-pass\n").unwrap();
    let pw = pw.to_string_lossy().into_owned();
    Tmux::chat(
        name,
        &[
            &addr,
            "--nick",
            "alice",
            "--account",
            "alice",
            "--password-file",
            &pw,
        ],
    )
}

/// The status line shows this once registered (nick, then the state).
fn connected(nick: &str) -> String {
    format!(" {nick} · connected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_talks_and_opens_a_direct_conversation() {
    if !tmux::available("joins_talks_and_opens_a_direct_conversation") {
        return;
    }
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let t = Tmux::chat("talk", &[&addr, "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #room");
    t.wait_for("you joined #room").await;

    let mut bob = cap_client(&server, "bob", "message-tags").await;
    join(&mut bob, "#room").await;
    t.wait_for("→ bob joined").await;
    bob.send("PRIVMSG #room :hi alice 你好，世界").await;
    let screen = t.wait_for("<bob> hi alice 你好，世界").await;
    // Wide characters take two cells: every row is exactly as wide as the
    // terminal, so the borders line up.
    for row in screen.lines().filter(|r| r.contains("你好")) {
        assert_eq!(cells(row), tmux::COLS as usize, "{row:?}\n{screen}");
        assert!(row.ends_with('│'), "{row:?}");
    }

    t.enter("hello bob 你也好");
    bob.until(|l| l.ends_with(" PRIVMSG #room :hello bob 你也好"))
        .await;
    t.wait_for("<alice> hello bob 你也好").await;

    // Typing, both ways.
    bob.send("@+typing=active TAGMSG #room").await;
    t.wait_for("bob is typing…").await;
    t.type_text("wait");
    let l = bob.until(|l| l.contains(" TAGMSG #room")).await;
    assert!(l.contains("+typing=active"), "{l}");
    t.keys(&["C-u"]);
    let l = bob.until(|l| l.contains(" TAGMSG #room")).await;
    assert!(l.contains("+typing=done"), "{l}");

    // A direct message: a new conversation, unread and marked, on the left.
    bob.send("PRIVMSG alice :私聊 just for you").await;
    t.wait_until("a new conversation with bob, unread", |s| {
        s.lines().any(|r| r.contains("│3 bob") && r.contains("!1"))
    })
    .await;
    t.keys(&["M-3"]);
    let s = t.wait_for("<bob> 私聊 just for you").await;
    assert!(
        s.contains("[bob]"),
        "the input line names the conversation\n{s}"
    );
    t.enter("and back to you");
    bob.until(|l| l.ends_with(" PRIVMSG bob :and back to you"))
        .await;

    // Ctrl-P back to the channel; Tab completes a member's nick.
    t.keys(&["C-p"]);
    t.wait_for("[#room]").await;
    t.type_text("bo");
    t.keys(&["Tab"]);
    t.wait_for("[#room] bob:").await;
    t.enter("completed");
    bob.until(|l| l.ends_with(" PRIVMSG #room :bob: completed"))
        .await;

    // /save: this server, for `ferry chat` with no arguments next time.
    t.enter("/save");
    t.wait_for(&format!("saved {addr} in")).await;
    let saved = std::fs::read_to_string(t.home.join(".config/ferry/chat.toml")).unwrap();
    assert!(
        saved.contains("nick = \"alice\"") && !saved.contains("password ="),
        "{saved}"
    );

    t.enter("/quit see you");
    bob.until(|l| l.contains(" QUIT :Quit: see you")).await;
    assert_eq!(t.wait_dead().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_up_loads_older_history() {
    if !tmux::available("page_up_loads_older_history") {
        return;
    }
    let server = TestServer::start().await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#hist").await;
    for n in 0..130 {
        bob.send(&format!("PRIVMSG #hist :old line {n:03}")).await;
    }
    bob.sync().await;

    let addr = server.addr.to_string();
    let t = Tmux::chat("hist", &[&addr, "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #hist");
    // Joining shows the newest page, not the oldest lines.
    let s = t.wait_for("old line 129").await;
    assert!(!s.contains("old line 000"), "{s}");
    let d = Deadline::new();
    loop {
        t.keys(&["PageUp"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = t.screen();
        if s.contains("old line 000") {
            assert!(s.contains("— the start of this conversation —"), "{s}");
            assert!(s.contains("rows up — PageDown returns"), "{s}");
            break;
        }
        d.tick(format_args!("PageUp never reached the first line:\n{s}"))
            .await;
    }
    for _ in 0..20 {
        t.keys(&["PageDown"]);
    }
    let s = t.wait_for("old line 129").await;
    assert!(!s.contains("rows up"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_sees_friends_offline_messages_and_requests() {
    if !tmux::available("logs_in_sees_friends_offline_messages_and_requests") {
        return;
    }
    let server = TestServer::with_config(accounts_config("", "")).await;
    for n in ["alice", "bob", "carol"] {
        register_account(&server, n, &format!("{n}-pass")).await;
    }
    // alice: bob is a friend (stored MONITOR), only friends may write (+g).
    let mut alice = sasl_client(&server, "alice", "alice-pass", "").await;
    alice.send("MONITOR + bob").await;
    alice.until(|l| l.contains(" 731 ")).await;
    alice.send("ACCEPT bob").await;
    alice.send("MODE alice +g").await;
    alice.until(|l| l.contains(" MODE alice :+g")).await;
    alice.send("QUIT").await;
    alice.closed().await;

    let mut bob = sasl_client(&server, "bob", "bob-pass", "").await;
    bob.send("PRIVMSG alice :are you there? 在吗").await;
    bob.until(|l| l.contains(" 301 ")).await;
    let sent = ferry_chat_clock_now();
    let mut carol = sasl_client(&server, "carol", "carol-pass", "").await;
    carol.send("PRIVMSG alice :hello, may I write?").await;
    carol.until(|l| l.contains(" 716 ")).await;

    let t = alice_logged_in(&server, "login");
    t.wait_for(" alice ✓ · connected").await;
    t.wait_for("● bob").await;
    // The offline message, in bob's conversation, with the time it was sent.
    t.wait_for("│3 bob").await;
    t.enter("/query bob");
    let s = t.wait_for("<bob> are you there? 在吗").await;
    assert!(
        s.contains(&format!("{sent} <bob> are you there? 在吗")),
        "sent at {sent}:\n{s}"
    );
    // carol's friend request, accepted with a key.
    t.wait_for("carol asks to message you").await;
    t.keys(&["M-a"]);
    t.wait_for("accepted carol").await;
    let d = Deadline::new();
    loop {
        carol.send("PRIVMSG alice :thanks!").await;
        let l = carol.sync().await;
        if !l.iter().any(|l| l.contains(" 716 ")) {
            break;
        }
        d.tick("carol is still refused after the accept").await;
    }
    t.enter("/query carol");
    t.wait_for("<carol> thanks!").await;
    // bob leaves: his dot goes grey.
    bob.send("QUIT").await;
    bob.closed().await;
    let s = t.wait_for("○ bob").await;
    assert!(s.contains("● carol") && s.contains("friends 1/2"), "{s}");
}

/// HH:MM now, in UTC (the tests' TZ).
fn ferry_chat_clock_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_server_restart_and_rejoins() {
    if !tmux::available("reconnects_after_a_server_restart_and_rejoins") {
        return;
    }
    let dir = scratch("chat-restart");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let start = || Proc::serve(&["--listen", &listen, "--data-dir"], &dir.join("data"));
    let mut server = start();
    server.accepting(local(port)).await;
    let t = Tmux::chat("restart", &[&listen, "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #again");
    t.wait_for("you joined #again").await;

    server.kill();
    t.wait_for("reconnecting in").await;
    let mut server = start();
    server.accepting(local(port)).await;
    t.wait_for(&connected("alice")).await;
    let mut bob = TestClient::connect(local(port)).await;
    bob.register("bob").await;
    bob.send("JOIN #again").await;
    let names = bob.until(|l| l.contains(" 353 ")).await;
    assert!(names.contains("alice"), "alice rejoined: {names}");
    bob.send("PRIVMSG #again :welcome back").await;
    t.wait_for("<bob> welcome back").await;
    drop(server);
}

/// A server that offers draft/multiline, scripted: registers whoever
/// connects, echoes JOINs, and hands over every line it reads.
async fn multiline_server() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        let mut nick = String::from("*");
        while let Ok(Some(l)) = lines.next_line().await {
            let reply = match l.split(' ').next().unwrap_or("") {
                "CAP" if l.starts_with("CAP LS") => {
                    ":srv CAP * LS :batch draft/multiline=max-bytes=4096,max-lines=24\r\n".into()
                }
                "CAP" if l.starts_with("CAP REQ") => {
                    format!(":srv CAP * ACK :{}\r\n", l.split_once(':').unwrap().1)
                }
                "NICK" => {
                    nick = l[5..].to_string();
                    String::new()
                }
                "CAP" if l == "CAP END" => format!(
                    ":srv 001 {nick} :Welcome\r\n:srv 005 {nick} CHANTYPES=# :are supported\r\n:srv 376 {nick} :End\r\n"
                ),
                "JOIN" => format!(":{nick}!u@h {l}\r\n"),
                _ => String::new(),
            };
            if !reply.is_empty() && w.write_all(reply.as_bytes()).await.is_err() {
                break;
            }
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_block_goes_as_one_multiline_message() {
    if !tmux::available("a_pasted_block_goes_as_one_multiline_message") {
        return;
    }
    let (addr, mut rx) = multiline_server().await;
    let t = Tmux::chat("multiline", &[&addr.to_string(), "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #ml");
    t.wait_for("you joined #ml").await;
    t.paste("first line\nsecond 第二行\nthird");
    t.wait_for("[3 lines pasted: first line…] Enter sends, Esc cancels")
        .await;
    t.keys(&["Enter"]);
    let mut got = Vec::new();
    let d = Deadline::new();
    while got
        .last()
        .is_none_or(|l: &String| !l.starts_with("BATCH -"))
    {
        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Some(l)) if l.starts_with("BATCH") || l.contains("PRIVMSG") => got.push(l),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the server's connection ended: {got:?}"),
            Err(_) => d.tick(format_args!("no whole batch: {got:?}")).await,
        }
    }
    let id = got[0]
        .strip_prefix("BATCH +")
        .and_then(|r| r.strip_suffix(" draft/multiline #ml"))
        .unwrap_or_else(|| panic!("{got:?}"))
        .to_string();
    assert_eq!(
        got[1..],
        [
            format!("@batch={id} PRIVMSG #ml :first line"),
            format!("@batch={id} PRIVMSG #ml :second 第二行"),
            format!("@batch={id} PRIVMSG #ml :third"),
            format!("BATCH -{id}"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_block_goes_as_paced_lines_elsewhere() {
    if !tmux::available("a_pasted_block_goes_as_paced_lines_elsewhere") {
        return;
    }
    let server = TestServer::start().await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#paste").await;
    let t = Tmux::chat("paced", &[&server.addr.to_string(), "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #paste");
    t.wait_for("you joined #paste").await;
    let block: Vec<String> = (1..=6).map(|n| format!("pasted {n}")).collect();
    t.paste(&block.join("\n"));
    t.wait_for("[6 lines pasted").await;
    t.keys(&["Enter"]);
    for want in &block {
        let l = bob.until(|l| l.contains(" PRIVMSG #paste ")).await;
        assert!(l.ends_with(&format!(" :{want}")), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_registers_an_account_and_saves_it() {
    if !tmux::available("first_run_registers_an_account_and_saves_it") {
        return;
    }
    let server = TestServer::with_config(accounts_config("", "")).await;
    let addr = server.addr.to_string();
    let t = Tmux::chat("firstrun", &[&addr]);
    t.wait_for("ferry chat — first run").await;
    t.wait_for("your nick").await;
    t.enter("newbie");
    t.wait_for("register an account newbie").await;
    t.enter("y");
    t.wait_for("choose a password:").await;
    t.enter("newbie-pw");
    t.wait_for("the same password again:").await;
    t.enter("newbie-pw");
    let s = t.wait_for("save these settings").await;
    assert!(!s.contains("newbie-pw"), "passwords are not echoed:\n{s}");
    t.enter("");
    t.wait_for("save the password there too").await;
    t.enter("y");
    t.wait_for("account newbie registered").await;
    t.wait_for(" newbie ✓ · connected").await;

    let file = t.home.join(".config/ferry/chat.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("default = \"{addr}\"")), "{text}");
    assert!(text.contains("password = \"newbie-pw\""), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    t.enter("/quit");
    assert_eq!(t.wait_dead().await, 0);

    // Next time: no questions, logged in with what was saved.
    t.respawn(&[]);
    t.wait_for(" newbie ✓ · connected").await;
    t.wait_for("logged in as newbie").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_the_terminal_back_on_sigterm() {
    if !tmux::available("gives_the_terminal_back_on_sigterm") {
        return;
    }
    let server = TestServer::start().await;
    let dir = scratch("tmux-sigterm");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    // After ferry chat: its status, and the terminal's line discipline.
    let chat = tmux::chat_command(&[&server.addr.to_string(), "--nick", "alice"]);
    let chat = chat
        .strip_suffix("; sleep 60")
        .expect("the chat command ends with a sleep");
    let cmd =
        format!("{chat}; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon\\|-\\?echo'; sleep 60");
    let t = Tmux::start("sigterm", dir, home, &cmd);
    t.wait_for(&connected("alice")).await;
    let pid = t.pid();
    let out = std::process::Command::new("pkill")
        .args(["-TERM", "-P", &pid.to_string(), "-x", "ferry"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(t.wait_dead().await, 0);
    let s = t
        .wait_until("stty's report", |s| s.contains("icanon"))
        .await;
    let modes: Vec<&str> = s.lines().map(str::trim).collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "raw mode left on:\n{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_on_ngircd() {
    if !tmux::available("chats_on_ngircd") {
        return;
    }
    let Some((ng, _)) = ngircd("chats_on_ngircd", false).await else {
        return;
    };
    let addr = ng.addr.to_string();
    let t = Tmux::chat("ngircd", &[&addr, "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #room");
    t.wait_for("you joined #room").await;
    let mut bob = TestClient::connect(ng.addr).await;
    bob.register("bob").await;
    bob.send("JOIN #room").await;
    bob.until(|l| l.contains(" 366 ")).await;
    t.wait_for("→ bob joined").await;
    bob.send("PRIVMSG #room :hi from ngircd 你好").await;
    t.wait_for("<bob> hi from ngircd 你好").await;
    t.enter("hello over ngircd");
    let l = bob.until(|l| l.contains(" PRIVMSG #room ")).await;
    assert!(l.ends_with(" PRIVMSG #room :hello over ngircd"), "{l}");
    // No echo-message there: ferry chat shows what it sent itself.
    t.wait_for("<alice> hello over ngircd").await;
    bob.send("PRIVMSG alice :a private word").await;
    t.wait_until("bob's conversation", |s| s.contains("│3 bob"))
        .await;
    t.keys(&["M-3"]);
    t.wait_for("<bob> a private word").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_gbk_over_tls_and_redraws_on_resize() {
    if !tmux::available("speaks_gbk_over_tls_and_redraws_on_resize") {
        return;
    }
    // A GBK listener, and a TLS one with a self-signed certificate.
    let dir = scratch("chat-gbk-tls");
    let (files, _pair) = ferry_testkit::write_self_signed(&dir, "server");
    let cfg = ferry_testkit::test_config_with(&format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [[listen]]\naddress = \"127.0.0.1:6667\"\n\
         [[listen]]\naddress = \"127.0.0.1:6668\"\ncharset = \"gbk\"\n\
         [[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\n",
        files.cert.display(),
        files.key.display()
    ));
    let server = TestServer::with_config(cfg).await;
    let mut bob = server.client("bob").await;
    join(&mut bob, "#中文").await;

    let gbk = server.addrs[1].to_string();
    let t = Tmux::chat("gbk", &[&gbk, "--nick", "张三", "--encoding", "gbk"]);
    t.wait_for(&connected("张三")).await;
    t.enter("/join #中文");
    t.wait_for("you joined #中文").await;
    bob.send("PRIVMSG #中文 :你好，张三").await;
    t.wait_for("<bob> 你好，张三").await;
    t.enter("李四你好");
    bob.until(|l| l.ends_with(" PRIVMSG #中文 :李四你好")).await;

    // Narrower: the friends pane goes, every row still fits.
    assert!(t.screen().contains(" friends "));
    t.resize(70, 20);
    let s = t
        .wait_until("a 70-column layout", |s| {
            !s.contains(" friends ") && s.lines().all(|r| cells(r) <= 70)
        })
        .await;
    assert!(s.contains("<bob> 你好，张三"), "{s}");

    let tls = server.addrs[2].to_string();
    let t2 = Tmux::chat("tls", &[&tls, "--tls", "--insecure", "--nick", "wang"]);
    t2.wait_for(&connected("wang")).await;
    t2.enter("/join #中文");
    t2.wait_for("you joined #中文").await;
    bob.until(|l| l.contains("wang!") && l.contains(" JOIN "))
        .await;
    // Without --insecure the self-signed certificate is refused, and said.
    let t3 = Tmux::chat("tls-strict", &[&tls, "--tls", "--nick", "li"]);
    t3.wait_for("invalid peer certificate").await;
    t3.wait_for("reconnecting in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalls_a_message_and_shows_others_recalled() {
    if !tmux::available("recalls_a_message_and_shows_others_recalled") {
        return;
    }
    let server = TestServer::start().await;
    let addr = server.addr.to_string();
    let t = Tmux::chat("recall", &[&addr, "--nick", "alice"]);
    t.wait_for(&connected("alice")).await;
    t.enter("/join #room");
    t.wait_for("you joined #room").await;
    let mut bob = cap_client(
        &server,
        "bob",
        "message-tags echo-message draft/message-redaction",
    )
    .await;
    join(&mut bob, "#room").await;
    t.wait_for("→ bob joined").await;
    t.enter("sent to the wrong room");
    bob.until(|l| l.ends_with(" PRIVMSG #room :sent to the wrong room"))
        .await;
    t.wait_for("<alice> sent to the wrong room").await;
    // /recall takes it back: bob is told, the screen no longer has it.
    t.enter("/recall");
    bob.until(|l| l.contains(" REDACT #room ")).await;
    let s = t.wait_for("alice recalled a message").await;
    assert!(!s.contains("sent to the wrong room"), "{s}");
    // bob takes one of his back.
    bob.send("PRIVMSG #room :oops").await;
    let echo = bob.until(|l| l.contains(" PRIVMSG #room :oops")).await;
    let id = crate::util::tag(&echo, "msgid").expect("msgid").to_string();
    t.wait_for("<bob> oops").await;
    bob.send(&format!("REDACT #room {id}")).await;
    let s = t.wait_for("bob recalled a message").await;
    assert!(!s.contains("<bob> oops"), "{s}");
}

/// What the IM features look like in the terminal: a friend's display
/// name, a group registered and its access list changed with `/group`,
/// the device list, and a conversation read on another device losing its
/// unread mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shows_profiles_groups_devices_and_read_state() {
    if !tmux::available("shows_profiles_groups_devices_and_read_state") {
        return;
    }
    let server = TestServer::with_config(accounts_config("", "")).await;
    for n in ["alice", "bob"] {
        register_account(&server, n, &format!("{n}-pass")).await;
    }
    let mut alice = sasl_client(&server, "alice", "alice-pass", "").await;
    alice.send("MONITOR + bob").await;
    alice.until(|l| l.contains(" 731 ")).await;
    alice.send("QUIT").await;
    alice.closed().await;
    let mut bob = sasl_client(&server, "bob", "bob-pass", "draft/metadata-3").await;
    bob.send("METADATA * SET display-name :鲍勃 Bob").await;
    bob.until(|l| l.contains(" 761 ")).await;

    let t = alice_logged_in(&server, "im");
    t.wait_for(" alice ✓ · connected").await;
    t.wait_for("● 鲍勃 Bob (bob)").await;

    // A group: registered, bob voiced on its access list.
    t.enter("/join #team");
    t.wait_for("you joined #team").await;
    t.enter("/group register");
    t.wait_for("ChanServ: #team is registered to you").await;
    t.enter("/group access add bob voice");
    t.wait_for("ChanServ: bob now gets +v on #team.").await;
    t.enter("/group");
    t.wait_for("ChanServ: #team is registered; its founder is alice.")
        .await;
    t.wait_for("modes: +nt").await;
    t.wait_for("ChanServ:   bob: +v").await;

    // The device list: alice's phone logs in too.
    let mut phone = server.connect().await;
    let caps = "draft/read-marker server-time";
    crate::util::sasl::sasl_hello(&mut phone, "alice", "alice", caps).await;
    crate::util::sasl::authenticate_plain(&mut phone, "alice", "alice-pass").await;
    phone.until(|l| l.contains(" 903 ")).await;
    phone.send("CAP END").await;
    crate::util::finish_burst(&mut phone).await;
    t.enter("/devices");
    t.wait_for("NickServ: alice is connected 2 time(s):").await;
    t.wait_for("(this one)").await;

    // bob writes; the terminal shows it unread; the phone reads it.
    bob.send("PRIVMSG alice :are you there?").await;
    let dm = phone
        .until(|l| l.ends_with(" PRIVMSG alice :are you there?"))
        .await;
    let time = crate::util::tag(&dm, "time").expect("time").to_string();
    let unread = |s: &str| {
        s.lines()
            .any(|l| l.contains("│3 鲍勃 Bob (bob)") && l.contains("!1"))
    };
    t.wait_until("bob's conversation unread", unread).await;
    phone.send(&format!("MARKREAD bob timestamp={time}")).await;
    t.wait_until("the unread mark gone", |s| {
        s.contains("│3 鲍勃 Bob (bob)") && !unread(s)
    })
    .await;
    // Shown here: the phone is told it is read here too.
    t.enter("/query bob");
    t.wait_for("<bob> are you there?").await;
    t.enter("/devices logout 2");
    t.wait_for("NickServ: 1 connection(s) logged out.").await;
    phone
        .until(|l| l.contains("Logged out from another device"))
        .await;
}
