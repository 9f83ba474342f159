//! One behaviour, two backends: the same checks of every domain against
//! SQLite and against PostgreSQL (a private server the tests start,
//! `ferry-pgtest`). What a backend must do is what these say; each
//! backend's own tests cover what only it has (SQLite's log, restarts).

use std::sync::{Arc, Mutex};

use crate::sqlite::test_support::{account, msg};
use crate::*;

fn texts(v: Vec<StoredMessage>) -> Vec<String> {
    v.into_iter().map(|m| m.text).collect()
}

fn accounts_tokens_and_certs(s: &dyn Store) {
    s.create_account(&account("bob")).unwrap();
    assert!(matches!(
        s.create_account(&account("bob")),
        Err(StoreError::AccountExists)
    ));
    assert_eq!(s.account("bob").unwrap(), Some(account("bob")));
    assert_eq!(s.account("nobody").unwrap(), None);
    assert!(s.set_callerid("bob", true).unwrap());
    assert!(s.set_always_on("bob", Some(true)).unwrap());
    assert!(s.set_multiclient("bob", Some(false)).unwrap());
    assert!(s.set_last_seen("bob", 42).unwrap());
    assert!(!s.set_last_seen("nobody", 42).unwrap());
    let a = s.account("bob").unwrap().unwrap();
    assert!(a.callerid);
    assert_eq!(
        (a.always_on, a.multiclient, a.last_seen_ms),
        (Some(true), Some(false), Some(42))
    );
    let scram = ScramCredentials {
        salt: vec![9, 9],
        iterations: 5000,
        stored_key: vec![7],
        server_key: vec![8],
    };
    assert!(s.set_credentials("bob", "$argon2id$new", &scram).unwrap());
    let a = s.account("bob").unwrap().unwrap();
    assert_eq!(
        (a.password_hash.as_str(), &a.scram),
        ("$argon2id$new", &scram)
    );
    let sus = Suspension {
        reason: "spam".into(),
        by: "admin".into(),
        at_ms: 5,
    };
    assert!(s.set_suspended("bob", Some(&sus)).unwrap());
    assert_eq!(s.account("bob").unwrap().unwrap().suspended, Some(sus));
    assert!(s.set_suspended("bob", None).unwrap());
    assert!(s.set_always_on_state("bob", Some("{}")).unwrap());
    assert_eq!(
        s.always_on_states().unwrap(),
        vec![("bob".to_string(), "{}".to_string())]
    );
    s.ping().unwrap();

    let tok = |i: usize| LoginToken {
        id: format!("t{i}"),
        label: "Firefox".into(),
        created_ms: i as i64,
        last_used_ms: 0,
    };
    assert!(s.add_token("bob", &tok(0), b"hash-0").unwrap());
    assert!(!s.add_token("nobody", &tok(1), b"hash-x").unwrap());
    assert_eq!(
        s.login_with_token(b"hash-0", 77).unwrap().unwrap().name,
        "bob"
    );
    assert_eq!(s.tokens("bob").unwrap()[0].last_used_ms, 77);
    assert!(s.login_with_token(b"hash-9", 78).unwrap().is_none());
    for i in 1..=MAX_TOKENS {
        s.add_token("bob", &tok(i), format!("hash-{i}").as_bytes())
            .unwrap();
    }
    let ids: Vec<String> = s.tokens("bob").unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), MAX_TOKENS);
    assert!(ids.contains(&"t0".to_string()) && !ids.contains(&"t1".to_string()));
    assert!(s.revoke_token("bob", "t0").unwrap());
    assert!(!s.revoke_token("bob", "t0").unwrap());

    s.create_account(&account("eve")).unwrap();
    assert_eq!(s.add_cert("bob", "ab", 1).unwrap(), CertAdded::Added);
    assert_eq!(s.add_cert("bob", "ab", 2).unwrap(), CertAdded::Already);
    assert_eq!(s.add_cert("eve", "ab", 3).unwrap(), CertAdded::OtherAccount);
    for i in 1..MAX_CERTS {
        assert_eq!(
            s.add_cert("bob", &format!("c{i:02}"), 10 + i as i64)
                .unwrap(),
            CertAdded::Added
        );
    }
    assert_eq!(s.add_cert("bob", "full", 99).unwrap(), CertAdded::Full);
    assert_eq!(s.certs("bob").unwrap()[0], "ab");
    assert_eq!(s.account_by_cert("ab").unwrap().unwrap().name, "bob");
    assert!(s.del_cert("bob", "ab").unwrap());
    assert!(!s.del_cert("bob", "ab").unwrap());
    assert_eq!(
        s.accounts()
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect::<Vec<_>>(),
        ["bob", "eve"]
    );
    // Deleting an account takes what it owns.
    assert!(s.delete_account("bob").unwrap());
    assert!(!s.delete_account("bob").unwrap());
    assert!(s.login_with_token(b"hash-5", 80).unwrap().is_none());
    assert!(s.certs("bob").unwrap().is_empty());
}

fn lists_and_requests(s: &dyn Store) {
    s.create_account(&account("ann")).unwrap();
    let e = |k: &str, d: &str| ListEntry {
        key: k.into(),
        display: d.into(),
    };
    s.edit_list(
        "ann",
        ListKind::Monitor,
        false,
        &[e("bob", "Bob"), e("al", "Al")],
        &[],
    )
    .unwrap();
    s.edit_list(
        "ann",
        ListKind::Monitor,
        false,
        &[e("bob", "BOB")],
        &["al".into()],
    )
    .unwrap();
    assert_eq!(
        s.list("ann", ListKind::Monitor).unwrap(),
        vec![e("bob", "BOB")]
    );
    assert!(s.list("ann", ListKind::Accept).unwrap().is_empty());
    s.edit_list("ann", ListKind::Monitor, true, &[e("cy", "Cy")], &[])
        .unwrap();
    assert_eq!(
        s.list("ann", ListKind::Monitor).unwrap(),
        vec![e("cy", "Cy")]
    );
    s.add_request("ann", "Bob", 5).unwrap();
    s.add_request("ann", "Al", 3).unwrap();
    s.add_request("ann", "Bob", 7).unwrap();
    assert_eq!(
        s.take_requests("ann").unwrap(),
        vec![("Al".to_string(), 3), ("Bob".to_string(), 7)]
    );
    assert!(s.take_requests("ann").unwrap().is_empty());
}

fn offline_messages(s: &dyn Store) {
    s.create_account(&account("olly")).unwrap();
    assert_eq!(
        s.enqueue_offline("olly", &msg("m1", 10, "one"), 2).unwrap(),
        Ok(1)
    );
    assert_eq!(
        s.enqueue_offline("olly", &msg("m2", 11, "two"), 2).unwrap(),
        Ok(2)
    );
    assert_eq!(
        s.enqueue_offline("olly", &msg("m3", 12, "three"), 2)
            .unwrap(),
        Err(EnqueueRefused::Full)
    );
    let waiting = s.offline("olly").unwrap();
    assert_eq!(
        waiting
            .iter()
            .map(|(_, m)| m.text.as_str())
            .collect::<Vec<_>>(),
        ["one", "two"]
    );
    s.ack_offline("olly", waiting[0].0).unwrap();
    assert!(s.redact_offline("olly", "m2").unwrap());
    assert!(!s.redact_offline("olly", "m2").unwrap());
    assert!(s.offline("olly").unwrap().is_empty());

    // A batch: each message judged against its recipient's lists.
    s.create_account(&account("quiet")).unwrap();
    s.edit_list(
        "quiet",
        ListKind::Silence,
        false,
        &[ListEntry {
            key: "*!*@spam".into(),
            display: "*!*@spam".into(),
        }],
        &[],
    )
    .unwrap();
    assert!(s.set_callerid("quiet", true).unwrap());
    let item = |to: &str, id: &str| OfflineItem {
        account: to.into(),
        msg: msg(id, 20, id),
    };
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    s.enqueue_offline_batch(
        vec![
            item("olly", "b1"),
            item("quiet", "b2"),
            item("quiet", "b3"),
            item("gone", "b4"),
        ],
        10,
        Box::new(|it, r| match it.msg.msgid.as_str() {
            "b2" if !r.silence.is_empty() => Admit::Silenced,
            "b3" if r.callerid => Admit::Request("Alice".into()),
            _ => Admit::Store,
        }),
        Box::new(move |r| {
            *g.lock().unwrap() = Some(r.unwrap());
            tx.send(()).unwrap();
        }),
    );
    rx.recv().unwrap();
    assert_eq!(
        got.lock().unwrap().take().unwrap(),
        vec![
            Enqueued::Stored(1),
            Enqueued::Silenced,
            Enqueued::Request,
            Enqueued::Gone
        ]
    );
    assert_eq!(
        s.take_requests("quiet").unwrap(),
        vec![("Alice".to_string(), 20)]
    );
    assert_eq!(
        texts(
            s.offline("olly")
                .unwrap()
                .into_iter()
                .map(|(_, m)| m)
                .collect()
        ),
        ["b1"]
    );
}

fn history_queries(s: &dyn Store) {
    let key = dm_key("hbob", "halice");
    let rows: Vec<(String, StoredMessage)> = (1..=10)
        .map(|i| {
            (
                key.clone(),
                msg(&format!("h{i}"), i * 100, &format!("t{i}")),
            )
        })
        .collect();
    s.append_history(rows).unwrap();
    let q = |q: HistoryQuery, n| texts(s.history(&key, &q, n).unwrap());
    let id = |s: &str| Bound::Msgid(s.into());
    assert_eq!(q(HistoryQuery::Latest(None), 3), ["t8", "t9", "t10"]);
    assert_eq!(q(HistoryQuery::Before(id("h5")), 2), ["t3", "t4"]);
    assert_eq!(q(HistoryQuery::After(Bound::Time(800)), 5), ["t9", "t10"]);
    assert_eq!(
        q(
            HistoryQuery::Between(Bound::Time(1000), Bound::Time(700)),
            5
        ),
        ["t8", "t9"]
    );
    assert_eq!(q(HistoryQuery::Around(id("h5")), 3), ["t4", "t5", "t6"]);
    assert!(q(HistoryQuery::Before(id("nope")), 3).is_empty());
    assert_eq!(
        s.history_targets(&[], "a:hbob", 0, 2000, 10).unwrap(),
        s.history_targets(&[], "a:hbob", 2000, 0, 10).unwrap()
    );
    assert_eq!(s.find_history(&key, "h3").unwrap().unwrap().text, "t3");
    assert!(s.redact_history(&key, "h3").unwrap());
    assert!(!s.redact_history(&key, "h3").unwrap());
    assert!(s.find_history(&key, "h3").unwrap().is_none());
    assert_eq!(q(HistoryQuery::Before(id("h5")), 2), ["t2", "t4"]);

    // Bounds inside one millisecond.
    let ch = "#same-ms".to_string();
    let rows: Vec<(String, StoredMessage)> = (1..=5)
        .map(|i| (ch.clone(), msg(&format!("s{i}"), 700, &format!("u{i}"))))
        .collect();
    s.append_history(rows).unwrap();
    let q = |q: HistoryQuery, n| texts(s.history(&ch, &q, n).unwrap());
    let id = |i: u32| Bound::Msgid(format!("s{i}"));
    assert_eq!(q(HistoryQuery::After(id(2)), 10), ["u3", "u4", "u5"]);
    assert_eq!(q(HistoryQuery::Before(id(4)), 2), ["u2", "u3"]);
    assert_eq!(q(HistoryQuery::Latest(Some(id(3))), 10), ["u4", "u5"]);
    assert_eq!(q(HistoryQuery::Around(id(3)), 3), ["u2", "u3", "u4"]);
    assert_eq!(q(HistoryQuery::Between(id(5), id(1)), 2), ["u3", "u4"]);
    assert!(q(HistoryQuery::After(Bound::Time(700)), 10).is_empty());
    assert_eq!(q(HistoryQuery::Before(Bound::Time(701)), 10).len(), 5);
    assert_eq!(q(HistoryQuery::Around(Bound::Time(700)), 2), ["u1", "u2"]);
    assert_eq!(
        s.history_targets(std::slice::from_ref(&ch), "a:nobody", 0, 1000, 10)
            .unwrap(),
        vec![(ch.clone(), 700)]
    );
    assert!(s
        .history_targets(std::slice::from_ref(&ch), "a:nobody", 700, 1000, 10)
        .unwrap()
        .is_empty());
}

fn bans_markers_metadata(s: &dyn Store) {
    let ban = |kind, mask: &str, set_ms| ServerBan {
        kind,
        mask: mask.into(),
        reason: "spam".into(),
        set_by: "oper".into(),
        set_ms,
        expires_ms: None,
    };
    s.add_ban(&ban(BanKind::Kline, "*@bad.example", 2)).unwrap();
    s.add_ban(&ban(BanKind::Dline, "192.0.2.0/24", 1)).unwrap();
    let mut again = ban(BanKind::Kline, "*@bad.example", 3);
    again.expires_ms = Some(10);
    s.add_ban(&again).unwrap();
    assert_eq!(
        s.bans().unwrap(),
        vec![ban(BanKind::Dline, "192.0.2.0/24", 1), again]
    );
    assert!(!s.remove_ban(BanKind::Dline, "*@bad.example").unwrap());
    assert!(s.remove_ban(BanKind::Kline, "*@bad.example").unwrap());

    s.create_account(&account("mark")).unwrap();
    assert_eq!(s.set_marker("mark", "#a", 10).unwrap(), Some(10));
    assert_eq!(s.set_marker("mark", "#a", 5).unwrap(), Some(10));
    assert_eq!(s.set_marker("mark", "#b", 7).unwrap(), Some(7));
    assert_eq!(s.set_marker("nobody", "#a", 7).unwrap(), None);
    assert_eq!(
        s.markers("mark")
            .unwrap()
            .into_iter()
            .map(|m| m.target)
            .collect::<Vec<_>>(),
        ["#b", "#a"]
    );
    assert!(s
        .set_metadata("mark", "display-name", Some("Mark"))
        .unwrap());
    assert!(s
        .set_metadata("mark", "avatar", Some("https://x/y.png"))
        .unwrap());
    assert!(s.set_metadata("mark", "avatar", None).unwrap());
    assert!(!s.set_metadata("nobody", "avatar", Some("x")).unwrap());
    assert_eq!(
        s.metadata("mark").unwrap(),
        vec![("display-name".to_string(), "Mark".to_string())]
    );
    s.clear_metadata("mark").unwrap();
    assert!(s.metadata("mark").unwrap().is_empty());
}

fn channels(s: &dyn Store) {
    s.create_account(&account("fred")).unwrap();
    s.create_account(&account("gina")).unwrap();
    let ch = RegisteredChannel {
        name: "#rust".into(),
        display: "#Rust".into(),
        founder: "fred".into(),
        created_ms: 5,
        topic: None,
        modes: "+nt".into(),
    };
    assert_eq!(
        s.register_channel(&RegisteredChannel {
            founder: "nobody".into(),
            ..ch.clone()
        })
        .unwrap(),
        ChannelRegistered::NoFounder
    );
    assert_eq!(
        s.register_channel(&ch).unwrap(),
        ChannelRegistered::Registered
    );
    assert_eq!(s.register_channel(&ch).unwrap(), ChannelRegistered::Taken);
    let topic = ChannelTopic {
        text: "the book".into(),
        set_by: "fred!~f@h".into(),
        set_ms: 9,
    };
    assert!(s.set_channel_topic("#rust", Some(&topic)).unwrap());
    assert!(s.set_channel_modes("#rust", "+ntk key").unwrap());
    assert!(!s.set_channel_modes("#none", "+n").unwrap());
    assert_eq!(
        s.channel("#rust").unwrap(),
        Some(RegisteredChannel {
            topic: Some(topic),
            modes: "+ntk key".into(),
            ..ch.clone()
        })
    );
    assert!(s
        .set_channel_access("#rust", "gina", Some(AccessLevel::Voice))
        .unwrap());
    assert!(!s
        .set_channel_access("#rust", "nobody", Some(AccessLevel::Op))
        .unwrap());
    assert_eq!(
        s.channel_access("#rust").unwrap(),
        vec![("gina".to_string(), AccessLevel::Voice)]
    );
    assert_eq!(
        s.channels_of("gina").unwrap(),
        vec![("#rust".to_string(), "#Rust".to_string())]
    );
    let m = |mask: &str, at| ChannelMask {
        mask: mask.into(),
        set_by: "fred".into(),
        set_at: at,
    };
    s.set_channel_masks("#rust", 'b', &[m("*!*@b", 2), m("*!*@a", 1)])
        .unwrap();
    assert_eq!(
        s.channel_masks("#rust", 'b').unwrap(),
        vec![m("*!*@a", 1), m("*!*@b", 2)]
    );
    assert!(s.channel_masks("#rust", 'I').unwrap().is_empty());
    assert!(s
        .set_channel_setting("#rust", "history", Some("off"))
        .unwrap());
    assert!(!s
        .set_channel_setting("#none", "history", Some("off"))
        .unwrap());
    assert_eq!(
        s.channel_settings("#rust").unwrap(),
        vec![("history".to_string(), "off".to_string())]
    );
    assert!(s.transfer_channel("#rust", "gina").unwrap());
    assert!(!s.transfer_channel("#rust", "nobody").unwrap());
    assert_eq!(s.channel("#rust").unwrap().unwrap().founder, "gina");
    let p = PurgedChannel {
        name: "#rust".into(),
        display: "#Rust".into(),
        by: "oper".into(),
        reason: "spam".into(),
        at_ms: 7,
    };
    s.purge_channel(&p).unwrap();
    assert_eq!(s.channel("#rust").unwrap(), None);
    assert!(s.channel_settings("#rust").unwrap().is_empty());
    assert_eq!(s.purged_channels().unwrap(), vec![p]);
    assert!(s.unpurge_channel("#rust").unwrap());
    assert!(!s.unpurge_channel("#rust").unwrap());
    // A founder's account going takes its channels.
    assert_eq!(
        s.register_channel(&ch).unwrap(),
        ChannelRegistered::Registered
    );
    assert!(s.delete_account("fred").unwrap());
    assert!(s.channels().unwrap().is_empty());
}

/// Every check, on one backend.
fn all(s: &dyn Store) {
    accounts_tokens_and_certs(s);
    lists_and_requests(s);
    offline_messages(s);
    history_queries(s);
    bans_markers_metadata(s);
    channels(s);
}

#[test]
fn sqlite_keeps_the_contract() {
    let (_dir, s) = crate::sqlite::test_support::temp_store();
    all(&s);
}

#[test]
fn postgres_keeps_the_contract() {
    let s = PgStore::open(&ferry_pgtest::database(), 2).unwrap();
    all(&s);
}

/// A self-signed certificate for 127.0.0.1: (certificate, key), PEM.
fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// TLS to PostgreSQL: with `sslmode=require` and the server's CA the
/// store works; without TLS the server (hostssl only) refuses it, and a
/// certificate from another CA is refused by the store.
#[test]
fn postgres_over_tls_checks_the_servers_certificate() {
    let (cert, key) = self_signed();
    let pg = ferry_pgtest::Pg::private_tls(&cert, &key);
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let s = PgStore::connect(&format!("{url}?sslmode=require"), 1, Some(&ca)).unwrap();
    s.create_account(&account("tls")).unwrap();
    assert_eq!(s.account("tls").unwrap().unwrap().name, "tls");
    drop(s);
    // ca_file alone turns TLS on.
    PgStore::connect(&url, 1, Some(&ca)).unwrap();
    // Plain TCP: refused by the server.
    let plain = PgStore::open(&url, 1).err().expect("plain TCP refused");
    assert!(
        plain.to_string().contains("pg_hba") || plain.to_string().contains("no encryption"),
        "{plain}"
    );
    // Another CA: refused by the store.
    let (other, _) = self_signed();
    let wrong = dir.path().join("other.pem");
    std::fs::write(&wrong, other).unwrap();
    assert!(PgStore::connect(&url, 1, Some(&wrong)).is_err());
}
