//! Profiles, read state, groups and devices (`im.rs`), on their own.

use super::tests::{join, online, texts};

const T1: &str = "2026-12-01T10:00:00.000Z";
const T2: &str = "2026-12-01T10:00:05.000Z";

#[test]
fn friends_are_shown_by_their_display_names() {
    let mut c = online("draft/metadata-3 draft/metadata-2 message-tags");
    assert!(c.has("draft/metadata-3") && !c.has("draft/metadata-2"));
    c.on_line(":srv 730 alice :bob!b@h", 0);
    assert_eq!(c.drain_out(), ["METADATA bob GET display-name"]);
    c.on_line(":srv 761 alice bob display-name * :鲍勃 Bob", 0);
    assert_eq!(c.shown_name("BOB"), "鲍勃 Bob (BOB)");
    // Asked once; a change arrives by the subscription.
    c.on_line(":srv 731 alice :bob", 0);
    c.on_line(":srv 730 alice :bob!b@h", 0);
    assert!(c.drain_out().is_empty());
    c.on_line(":srv METADATA bob display-name * :Bobby", 0);
    assert_eq!(c.shown_name("bob"), "Bobby (bob)");
    c.on_line(":srv METADATA bob display-name *", 0);
    assert_eq!(c.shown_name("bob"), "bob");
    // Setting one's own, and asking for another's.
    c.input.insert_str("/profile name 张三");
    c.submit(0);
    c.input.insert_str("/profile bob");
    c.submit(0);
    assert_eq!(
        c.drain_out(),
        [
            "METADATA * SET display-name :张三",
            "METADATA bob GET display-name avatar status"
        ]
    );
    c.on_line(":srv 761 alice bob avatar * :https://example.org/b.png", 0);
    c.on_line(":srv 766 alice bob status :key not set", 0);
    let t = texts(&c, "");
    assert!(
        t.ends_with(&[
            "bob: avatar = https://example.org/b.png".into(),
            "bob: no status".into()
        ]),
        "{t:?}"
    );
}

#[test]
fn a_profile_needs_a_server_that_keeps_them() {
    let mut c = online("message-tags");
    c.input.insert_str("/profile name x");
    c.submit(0);
    assert!(c.drain_out().is_empty());
    assert!(texts(&c, "").last().unwrap().contains("keeps no profiles"));
}

#[test]
fn read_state_follows_the_other_devices_and_is_told_to_them() {
    let mut c = online("draft/read-marker server-time message-tags");
    join(&mut c, "#room");
    join(&mut c, "#other");
    c.on_line(&format!("@time={T1} :bob!b@h PRIVMSG #room :one"), 0);
    c.on_line(&format!("@time={T2} :bob!b@h PRIVMSG #room :two"), 0);
    let room = c.find("#room").unwrap();
    assert_eq!(c.buffers[room].unread, 2);
    // Read on another device up to the first: one is left.
    c.on_line(&format!(":srv MARKREAD #room timestamp={T1}"), 0);
    assert_eq!(c.buffers[room].unread, 1);
    // Shown here: read up to the newest, and the server is told.
    c.drain_out();
    c.switch(room);
    assert_eq!(c.drain_out(), [format!("MARKREAD #room timestamp={T2}")]);
    // Told already: not again.
    let other = c.find("#other").unwrap();
    c.switch(other);
    c.switch(room);
    assert!(c.drain_out().is_empty());
    // A message arriving in the conversation shown is read at once.
    c.on_line(
        "@time=2026-12-01T10:01:00.000Z :bob!b@h PRIVMSG #room :three",
        0,
    );
    assert_eq!(
        c.drain_out(),
        ["MARKREAD #room timestamp=2026-12-01T10:01:00.000Z"]
    );
}

#[test]
fn a_groups_settings_go_to_chanserv_and_its_answers_show_here() {
    let mut c = online("message-tags");
    c.input.insert_str("/group");
    c.submit(0);
    assert!(texts(&c, "")
        .last()
        .unwrap()
        .contains("show a channel first"));
    join(&mut c, "#room");
    for (typed, sent) in [
        ("/group", vec!["MODE #room", "PRIVMSG ChanServ :INFO #room"]),
        ("/group register", vec!["PRIVMSG ChanServ :REGISTER #room"]),
        (
            "/group access add bob op",
            vec!["PRIVMSG ChanServ :AMODE #room +o bob"],
        ),
        (
            "/group access add carol voice",
            vec!["PRIVMSG ChanServ :AMODE #room +v carol"],
        ),
        (
            "/group access del bob",
            vec!["PRIVMSG ChanServ :AMODE #room -o bob"],
        ),
        (
            "/group set history off",
            vec!["PRIVMSG ChanServ :SET #room HISTORY off"],
        ),
        (
            "/group set cutoff join-time",
            vec!["PRIVMSG ChanServ :SET #room QUERY-CUTOFF join-time"],
        ),
        ("/group mode +i", vec!["MODE #room +i"]),
        ("/devices", vec!["PRIVMSG NickServ :CLIENTS LIST"]),
        (
            "/devices logout 2",
            vec!["PRIVMSG NickServ :CLIENTS LOGOUT 2"],
        ),
    ] {
        c.input.insert_str(typed);
        c.submit(0);
        assert_eq!(c.drain_out(), sent, "{typed}");
    }
    c.input.insert_str("/group access add bob king");
    c.submit(0);
    assert!(c.drain_out().is_empty());
    c.on_line(":srv 324 alice #room +nt", 0);
    c.on_line(
        ":ChanServ!ChanServ@srv NOTICE alice :#room is registered; its founder is alice.",
        0,
    );
    c.on_line(
        ":NickServ!NickServ@srv NOTICE alice :1: 127.0.0.1, connected now (this one)",
        0,
    );
    let t = texts(&c, "#room");
    assert!(
        t.ends_with(&[
            "modes: +nt".into(),
            "ChanServ: #room is registered; its founder is alice.".into(),
            "NickServ: 1: 127.0.0.1, connected now (this one)".into(),
        ]),
        "{t:?}"
    );
    // No conversation is opened with a service.
    assert!(c.find("ChanServ").is_none() && c.find("NickServ").is_none());
}
