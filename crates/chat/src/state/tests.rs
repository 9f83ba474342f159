//! The state on its own: lines in, lines out, what the screen would show.

use super::*;

pub(super) fn me(nick: &str) -> Identity {
    Identity {
        nick: nick.into(),
        ..Identity::default()
    }
}

/// A chat registered on a server offering `caps` (all acknowledged).
pub(super) fn online(caps: &str) -> Chat {
    let mut c = Chat::new(me("alice"));
    c.on_connected(0);
    c.on_line(&format!(":srv CAP * LS :{caps}"), 0);
    let req = c.drain_out();
    if !caps.is_empty() {
        let asked = req
            .last()
            .unwrap()
            .strip_prefix("CAP REQ :")
            .unwrap()
            .to_string();
        c.on_line(&format!(":srv CAP alice ACK :{asked}"), 0);
    }
    for l in [
        ":srv 001 alice :Welcome to the network",
        ":srv 005 alice CHANTYPES=# PREFIX=(ov)@+ MONITOR=100 CALLERID CASEMAPPING=ascii :are supported",
        ":srv 376 alice :End of MOTD",
    ] {
        c.on_line(l, 0);
    }
    c.drain_out();
    c
}

/// `/join chan`, and the server's JOIN: the channel is shown.
pub(super) fn join(c: &mut Chat, chan: &str) {
    c.input.insert_str(&format!("/join {chan}"));
    c.submit(0);
    c.on_line(&format!(":alice!a@h JOIN {chan}"), 0);
    c.drain_out();
}

pub(super) fn texts(c: &Chat, name: &str) -> Vec<String> {
    let i = c.find(name).unwrap_or(0);
    c.buffers[i].lines.iter().map(|l| l.text.clone()).collect()
}

#[test]
fn registers_with_caps_and_sasl() {
    let mut c = Chat::new(Identity {
        nick: "alice".into(),
        account: Some("alice".into()),
        password: Some("pw".into()),
        ..Identity::default()
    });
    c.on_connected(0);
    assert_eq!(
        c.drain_out(),
        ["CAP LS 302", "NICK alice", "USER ferry 0 * :ferry chat"]
    );
    c.on_line(":srv CAP * LS * :server-time sasl=PLAIN", 0);
    assert!(c.drain_out().is_empty());
    c.on_line(":srv CAP * LS :echo-message unknown-cap", 0);
    assert_eq!(c.drain_out(), ["CAP REQ :server-time echo-message sasl"]);
    c.on_line(":srv CAP * ACK :server-time echo-message sasl", 0);
    assert_eq!(c.drain_out(), ["AUTHENTICATE PLAIN"]);
    c.on_line("AUTHENTICATE +", 0);
    // base64("\0alice\0pw")
    assert_eq!(c.drain_out(), ["AUTHENTICATE AGFsaWNlAHB3"]);
    c.on_line(":srv 900 alice alice!a@h alice :You are now logged in", 0);
    c.on_line(":srv 903 alice :SASL authentication successful", 0);
    assert_eq!(c.drain_out(), ["CAP END"]);
    assert_eq!(c.account.as_deref(), Some("alice"));
    c.on_line(":srv 001 alice :Welcome", 0);
    c.on_line(":srv 422 alice :No MOTD", 0);
    assert!(c.online());
}

#[test]
fn a_failed_login_is_said_and_registration_goes_on() {
    let mut c = Chat::new(Identity {
        nick: "alice".into(),
        account: Some("alice".into()),
        password: Some("wrong".into()),
        ..Identity::default()
    });
    c.on_connected(0);
    c.on_line(":srv CAP * LS :sasl", 0);
    c.on_line(":srv CAP * ACK :sasl", 0);
    c.on_line("AUTHENTICATE +", 0);
    c.drain_out();
    c.on_line(":srv 904 alice :SASL authentication failed", 0);
    assert_eq!(c.drain_out(), ["CAP END"]);
    assert!(texts(&c, "server")
        .iter()
        .any(|t| t == "login to account alice failed: SASL authentication failed"));
}

#[test]
fn a_taken_nick_gets_an_underscore() {
    let mut c = Chat::new(me("alice"));
    c.on_connected(0);
    c.drain_out();
    c.on_line(":srv 433 * alice :Nickname is already in use", 0);
    assert_eq!(c.drain_out(), ["NICK alice_"]);
    c.on_line(":srv 433 * alice_ :Nickname is already in use", 0);
    assert_eq!(c.drain_out(), ["NICK alice__"]);
    c.on_line(":srv 001 alice__ :Welcome", 0);
    assert_eq!(c.nick, "alice__");
}

#[test]
fn a_direct_message_opens_a_conversation_with_unread_and_mention() {
    let mut c = online("server-time echo-message");
    c.on_line(
        "@time=2026-12-01T08:00:00.000Z;msgid=m1 :bob!b@h PRIVMSG alice :hi there",
        5,
    );
    let i = c.find("bob").unwrap();
    let b = &c.buffers[i];
    assert_eq!(b.kind, Kind::Query);
    assert_eq!((b.unread, b.mention), (1, true));
    assert_eq!(
        b.lines[0].time,
        crate::time::parse("2026-12-01T08:00:00Z").unwrap()
    );
    // Our echo goes to the same conversation, not counted.
    let later = crate::time::parse("2026-12-01T08:00:01Z").unwrap();
    c.on_line(":alice!a@h PRIVMSG bob :hello bob", later);
    assert_eq!(texts(&c, "bob"), ["hi there", "hello bob"]);
    assert_eq!(c.buffers[i].unread, 1);
    c.switch(i);
    assert_eq!((c.buffers[i].unread, c.buffers[i].mention), (0, false));
}

#[test]
fn channel_talk_and_mentions() {
    let mut c = online("echo-message");
    join(&mut c, "#room");
    c.on_line(":srv 353 alice = #room :@alice +bob carol", 0);
    let i = c.find("#room").unwrap();
    assert_eq!(c.active, i, "a channel joined is shown");
    assert_eq!(c.buffers[i].members.len(), 3);
    c.switch(0);
    c.on_line(":bob!b@h PRIVMSG #room :just chatting", 1);
    assert_eq!((c.buffers[i].unread, c.buffers[i].mention), (1, false));
    c.on_line(":bob!b@h PRIVMSG #room :Alice, look", 2);
    assert_eq!((c.buffers[i].unread, c.buffers[i].mention), (2, true));
    c.on_line(":bob!b@h PRIVMSG #room :\u{1}ACTION waves\u{1}", 3);
    assert_eq!(c.buffers[i].lines.back().unwrap().what, What::Action);
    c.on_line(":bob!b@h NICK robert", 4);
    assert!(c.buffers[i].members.contains_key("robert"));
    c.on_line(":carol!c@h QUIT :bye", 5);
    assert_eq!(c.buffers[i].members.len(), 2);
    assert!(texts(&c, "#room").contains(&"← carol quit (bye)".to_string()));
}

#[test]
fn typing_plain_text_sends_to_the_conversation_shown() {
    let mut c = online("");
    join(&mut c, "#room");
    c.input.insert_str("hello 你好");
    c.submit(1);
    assert_eq!(c.drain_out(), ["PRIVMSG #room :hello 你好"]);
    // No echo-message: shown at once as ours.
    let l = c.buffers[c.active].lines.back().unwrap().clone();
    assert!(l.own && l.text == "hello 你好");
    c.input.insert_str("//slash at the start");
    c.submit(2);
    assert_eq!(c.drain_out(), ["PRIVMSG #room :/slash at the start"]);
}

#[test]
fn commands() {
    let mut c = online("echo-message");
    let run = |c: &mut Chat, line: &str| {
        c.input.insert_str(line);
        c.submit(1);
        c.drain_out()
    };
    assert_eq!(run(&mut c, "/join room"), ["JOIN #room"]);
    join(&mut c, "#room");
    assert_eq!(
        run(&mut c, "/me waves"),
        ["PRIVMSG #room :\u{1}ACTION waves\u{1}"]
    );
    assert_eq!(run(&mut c, "/topic new topic"), ["TOPIC #room :new topic"]);
    assert_eq!(run(&mut c, "/msg bob hi you"), ["PRIVMSG bob :hi you"]);
    assert_eq!(run(&mut c, "/away lunch"), ["AWAY :lunch"]);
    assert_eq!(run(&mut c, "/away"), ["AWAY"]);
    assert_eq!(run(&mut c, "/nick alicia"), ["NICK alicia"]);
    assert_eq!(run(&mut c, "/friend add bob"), ["MONITOR + bob"]);
    assert!(c.friends.contains_key("bob"));
    // Logged in: the friend may also write under +g.
    c.account = Some("alice".into());
    assert_eq!(
        run(&mut c, "/friend add dan"),
        ["MONITOR + dan", "ACCEPT dan"]
    );
    assert_eq!(
        run(&mut c, "/friend del bob"),
        ["MONITOR - bob", "ACCEPT -bob"]
    );
    assert_eq!(c.friends.len(), 1);
    assert_eq!(run(&mut c, "/part"), ["PART #room"]);
    c.on_line(":alice!a@h PART #room", 0);
    assert!(c.find("#room").is_none());
    assert_eq!(run(&mut c, "/query carol"), Vec::<String>::new());
    assert_eq!(c.active_buffer().name, "carol");
    assert!(run(&mut c, "/bogus").is_empty());
    assert!(texts(&c, "carol")
        .iter()
        .any(|t| t == "unknown command /bogus — /help lists them"));
    assert_eq!(run(&mut c, "/quit see you"), ["QUIT :see you"]);
    assert_eq!(c.quit.as_deref(), Some("see you"));
}

#[test]
fn long_messages_go_in_pieces_cut_between_characters() {
    let text = "字".repeat(300); // 900 bytes
    let p = commands::pieces(&text, 400);
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|s| s.len() <= 400));
    assert_eq!(p.concat(), text);
    let words = "word ".repeat(100);
    let p = commands::pieces(words.trim_end(), 400);
    assert!(p[0].ends_with("word") && !p[1].starts_with(' '));
}

#[test]
fn history_on_join_and_on_page_up() {
    let mut c = online("batch server-time message-tags draft/chathistory echo-message");
    c.input.insert_str("/join #room");
    c.submit(0);
    c.on_line(":alice!a@h JOIN #room", 0);
    assert_eq!(
        c.drain_out(),
        ["JOIN #room", "CHATHISTORY LATEST #room * 50"]
    );
    let mut batch = vec![":srv BATCH +h1 chathistory #room".to_string()];
    for n in 0..50 {
        batch.push(format!(
            "@batch=h1;time=2026-12-01T08:00:{:02}.000Z;msgid=id{n} :bob!b@h PRIVMSG #room :line {n}",
            n
        ));
    }
    batch.push(":srv BATCH -h1".into());
    for l in &batch {
        c.on_line(l, 0);
    }
    let i = c.find("#room").unwrap();
    assert_eq!(c.buffers[i].unread, 0, "history asked for is not unread");
    assert_eq!(c.buffers[i].lines.len(), 51);
    assert!(c.buffers[i].more_history);
    // The screen shows 20 of 60 rows; PageUp to the top asks for more.
    c.view = View {
        rows: 20,
        total: 60,
    };
    c.page_up();
    assert!(c.drain_out().is_empty());
    c.page_up();
    c.page_up();
    assert_eq!(c.drain_out(), ["CHATHISTORY BEFORE #room msgid=id0 50"]);
    // Asked once until it comes.
    c.page_up();
    assert!(c.drain_out().is_empty());
    c.on_line(":srv BATCH +h2 chathistory #room", 0);
    c.on_line(
        "@batch=h2;time=2026-11-30T08:00:00.000Z;msgid=old :bob!b@h PRIVMSG #room :the oldest",
        0,
    );
    c.on_line(":srv BATCH -h2", 0);
    let first = c.buffers[i].lines.iter().find(|l| l.is_talk()).unwrap();
    assert_eq!(first.text, "the oldest");
    assert!(!c.buffers[i].more_history, "a short page: the start");
}

#[test]
fn offline_messages_arrive_as_new_with_their_times() {
    let mut c = online("batch server-time message-tags draft/chathistory");
    c.on_line(":srv BATCH +o1 chathistory alice", 0);
    c.on_line(
        "@batch=o1;time=2026-11-25T17:22:59.177Z;msgid=x1 :bob!b@h PRIVMSG alice :are you there?",
        0,
    );
    c.on_line(":srv BATCH -o1", 0);
    let i = c.find("bob").unwrap();
    assert_eq!(c.buffers[i].unread, 1);
    assert_eq!(
        c.buffers[i].lines[0].time,
        crate::time::parse("2026-11-25T17:22:59.177Z").unwrap()
    );
}

#[test]
fn friends_from_monitor_and_requests_accepted_with_a_key() {
    let mut c = online("extended-monitor away-notify");
    c.on_line(":srv 732 alice :bob,carol", 0);
    c.on_line(":srv 730 alice :bob!b@h", 0);
    c.on_line(":srv 731 alice :carol", 0);
    assert_eq!(c.friends["bob"].online, Some(true));
    assert_eq!(c.friends["carol"].online, Some(false));
    c.on_line(":bob!b@h AWAY :lunch", 0);
    assert!(c.friends["bob"].away);
    c.on_line(
        ":srv 718 alice dave ~dave@h :is messaging you, and you have user mode +g set.",
        0,
    );
    let i = c.find("dave").unwrap();
    assert!(c.buffers[i].mention);
    assert!(c.buffers[i].lines[0].text.contains("press Alt-A to accept"));
    c.accept_newest(1);
    assert_eq!(c.drain_out(), ["ACCEPT dave", "MONITOR + dave"]);
    assert!(c.requests.is_empty());
    assert!(c.friends.contains_key("dave"));
}

#[test]
fn typing_indicators_both_ways() {
    let mut c = online("message-tags");
    join(&mut c, "#room");
    c.input.insert_str("h");
    c.edited(1000);
    assert_eq!(c.drain_out(), ["@+typing=active TAGMSG #room"]);
    c.input.insert_str("i");
    c.edited(2000);
    assert!(c.drain_out().is_empty(), "at most every 3 s");
    c.edited(4100);
    assert_eq!(c.drain_out(), ["@+typing=active TAGMSG #room"]);
    c.tick(4100 + 6001);
    assert_eq!(c.drain_out(), ["@+typing=paused TAGMSG #room"]);
    c.input.take();
    c.input.insert('x');
    c.edited(20_000);
    c.input.backspace();
    c.edited(20_100);
    assert_eq!(
        c.drain_out(),
        ["@+typing=active TAGMSG #room", "@+typing=done TAGMSG #room"]
    );
    c.typing_on = false;
    c.input.insert('y');
    c.edited(30_000);
    assert!(c.drain_out().is_empty());

    c.on_line("@+typing=active :bob!b@h TAGMSG #room", 100);
    assert_eq!(c.typing_here(), ["bob"]);
    c.tick(100 + 6001);
    assert!(c.typing_here().is_empty());
    c.on_line("@+typing=active :bob!b@h TAGMSG #room", 7000);
    c.on_line(":bob!b@h PRIVMSG #room :done typing", 7001);
    assert!(c.typing_here().is_empty(), "a message ends it");
}

#[test]
fn a_pasted_block_goes_as_multiline_where_offered() {
    let mut c = online("batch draft/multiline=max-bytes=4096,max-lines=10 echo-message");
    join(&mut c, "#room");
    c.paste("one\ntwo\r\nthree\n");
    assert_eq!(c.input.pasted.as_ref().unwrap().len(), 3);
    c.submit(0x1234);
    assert_eq!(
        c.drain_out(),
        [
            "BATCH +ml1234 draft/multiline #room",
            "@batch=ml1234 PRIVMSG #room :one",
            "@batch=ml1234 PRIVMSG #room :two",
            "@batch=ml1234 PRIVMSG #room :three",
            "BATCH -ml1234",
        ]
    );
    // Receiving one: a single message of three lines.
    for l in [
        ":srv BATCH +b draft/multiline #room",
        "@batch=b :bob!b@h PRIVMSG #room :first",
        "@batch=b;draft/multiline-concat :bob!b@h PRIVMSG #room : continued",
        "@batch=b :bob!b@h PRIVMSG #room :second",
        ":srv BATCH -b",
    ] {
        c.on_line(l, 5);
    }
    assert_eq!(
        texts(&c, "#room").last().unwrap(),
        "first continued\nsecond"
    );
}

#[test]
fn a_pasted_block_is_paced_where_multiline_is_not_offered() {
    let mut c = online("");
    join(&mut c, "#room");
    c.tick(0);
    let block: Vec<String> = (1..=7).map(|n| format!("line {n}")).collect();
    c.paste(&block.join("\n"));
    c.submit(0);
    // The burst at once, then one a second.
    assert_eq!(c.drain_out().len(), 4);
    c.tick(500);
    assert!(c.drain_out().is_empty());
    c.tick(1000);
    assert_eq!(c.drain_out(), ["PRIVMSG #room :line 5"]);
    c.tick(3000);
    assert_eq!(
        c.drain_out(),
        ["PRIVMSG #room :line 6", "PRIVMSG #room :line 7"]
    );
}

#[test]
fn a_reconnect_rejoins_and_says_so() {
    let mut c = online("");
    join(&mut c, "#room");
    join(&mut c, "#other");
    c.on_closed(10, "connection lost: reset", Some(2010), 1);
    assert!(matches!(c.conn, Conn::Down { .. }));
    assert!(texts(&c, "#room")
        .iter()
        .any(|t| t == "disconnected: connection lost: reset; reconnecting in 2 s"));
    c.input.insert_str("lost words");
    c.submit(20);
    assert!(c.drain_out().is_empty());
    assert!(texts(&c, "#other")
        .iter()
        .any(|t| t.contains("not connected")));
    c.on_connected(3000);
    c.drain_out();
    c.on_line(":srv 001 alice :Welcome", 3000);
    c.on_line(":srv 376 alice :End", 3000);
    assert_eq!(c.drain_out(), ["JOIN #room", "JOIN #other"]);
}

#[test]
fn completion_offers_members_conversations_and_friends() {
    let mut c = online("");
    join(&mut c, "#room");
    c.on_line(":srv 353 alice = #room :alice bob Bertha", 0);
    c.on_line(":srv 730 alice :bill!b@h", 0);
    let mut got = c.completions("b", true);
    got.sort();
    assert_eq!(got, ["Bertha", "bill", "bob"]);
    assert!(c.completions("/jo", true).contains(&"/join".to_string()));
    assert_eq!(c.completions("#r", false), ["#room"]);
}

#[test]
fn hostile_lines_do_not_break_it() {
    let mut c = online("batch");
    for l in [
        "",
        ":",
        "@",
        "@a=b",
        ":x PRIVMSG",
        ":x!y@z PRIVMSG alice",
        ":srv BATCH",
        ":srv BATCH -nope",
        ":srv 353",
        ":srv 353 alice = #nochan :+ @",
        ":srv 730 alice :,,,",
        ":srv MODE #x +o",
        ":x!y@z KICK",
        ":x!y@z PRIVMSG alice :\u{1}",
        ":x!y@z PRIVMSG alice :\u{3}99,99\u{2}bold\u{f}",
        ":x!y@z NICK",
        "PING",
    ] {
        c.on_line(l, 0);
    }
    assert_eq!(texts(&c, "x").last().unwrap(), "bold");
}

#[test]
fn a_message_is_recalled_and_shown_as_such() {
    let mut c = online("message-tags echo-message draft/message-redaction");
    join(&mut c, "#room");
    c.input.insert_str("/recall");
    c.submit(0);
    assert_eq!(
        texts(&c, "#room").last().unwrap(),
        "/recall: no message of yours to take back here"
    );
    c.on_line("@msgid=m1 :alice!a@h PRIVMSG #room :oops", 0);
    c.on_line("@msgid=m2 :bob!b@h PRIVMSG #room :a word", 0);
    c.drain_out();
    c.input.insert_str("/recall");
    c.submit(0);
    assert_eq!(c.drain_out(), vec!["REDACT #room m1".to_string()]);
    c.on_line(":alice!a@h REDACT #room m1", 0);
    let t = texts(&c, "#room");
    assert!(t.contains(&"alice recalled a message".to_string()), "{t:?}");
    assert!(!t.contains(&"oops".to_string()), "{t:?}");
    // bob takes back one of his in a DM to us.
    c.on_line("@msgid=d1 :bob!b@h PRIVMSG alice :secret", 0);
    c.on_line(":bob!b@h REDACT alice d1", 0);
    assert_eq!(texts(&c, "bob"), vec!["bob recalled a message".to_string()]);
}
