//! Helpers shared by the integration tests: clients and lines here,
//! child processes in `proc`, SASL in `sasl`. The in-process server and
//! its line-level client are `ferry_testkit`'s.

pub mod http;
pub mod ngircd;
pub mod proc;
pub mod sasl;
pub mod tmux;

use ferry_server::Config;
use ferry_testkit::{command_of, TestClient, TestServer};

pub use proc::{free_port, Deadline, Proc};
pub use sasl::{logged_in_line, sasl_client};

/// `nick!~nick@127.0.0.1`: the source of a client registered with
/// `TestClient::register(nick)` (ASCII nicks).
pub fn src(nick: &str) -> String {
    format!("{nick}!~{nick}@127.0.0.1")
}

/// A configuration from TOML text.
pub fn config(toml: &str) -> Config {
    Config::parse(toml, "test").expect("test config parses")
}

/// Connects, requests `caps` (space separated) before registering, then
/// registers `nick`, reading through the MOTD.
pub async fn cap_client(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.nick = nick.to_string();
    c.send(&format!("CAP REQ :{caps}")).await;
    c.expect(&format!(":ferry.test CAP * ACK :{caps}")).await;
    c.send("CAP END").await;
    c.register(nick).await;
    c
}

/// Asserts that nothing reached the client before the answer to a PING.
pub async fn quiet(c: &mut TestClient) {
    let lines = c.sync().await;
    assert!(lines.is_empty(), "{}: unexpected lines {lines:#?}", c.nick);
}

/// JOINs `chan` and reads through the end of its NAMES reply.
pub async fn join(c: &mut TestClient, chan: &str) {
    c.send(&format!("JOIN {chan}")).await;
    let end = format!(":ferry.test 366 {} {chan} ", c.nick);
    c.until(|l| l.starts_with(&end)).await;
}

/// Reads `want.len()` lines and compares them with `want` in any order
/// (replies built from hash maps: NAMES members, WHO, LIST).
pub async fn expect_unordered(c: &mut TestClient, want: &[String]) {
    let mut got = Vec::new();
    for _ in 0..want.len() {
        got.push(c.line().await);
    }
    got.sort();
    let mut want = want.to_vec();
    want.sort();
    assert_eq!(got, want, "{}: unexpected lines", c.nick);
}

/// Reads one 353 line and checks its start (`:ferry.test 353 me = #c`) and
/// its names, in any order.
pub async fn expect_names(c: &mut TestClient, start: &str, names: &[&str]) {
    let l = c.line().await;
    let rest = l
        .strip_prefix(start)
        .and_then(|r| r.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{}: not `{start} ...`: {l}", c.nick));
    if names.len() > 1 {
        assert!(rest.starts_with(':'), "{}: {l}", c.nick);
    }
    let mut got: Vec<&str> = rest.trim_start_matches(':').split(' ').collect();
    got.sort_unstable();
    let mut want = names.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{}: names in {l}", c.nick);
}

/// Splits `@a=b;c rest` into its tags (key, raw value) and the rest.
pub fn split_tags(line: &str) -> (Vec<(&str, &str)>, &str) {
    let Some(after) = line.strip_prefix('@') else {
        return (Vec::new(), line);
    };
    let (tags, rest) = after
        .split_once(' ')
        .expect("a tag section ends with a space");
    let tags = tags
        .split(';')
        .map(|t| t.split_once('=').unwrap_or((t, "")))
        .collect();
    (tags, rest)
}

/// The value of tag `key` in `line`.
pub fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    split_tags(line)
        .0
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Is `t` a server-time timestamp (`2025-01-31T12:34:56.789Z`)?
pub fn is_server_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && t.char_indices().all(|(i, ch)| match i {
            4 | 7 => ch == '-',
            10 => ch == 'T',
            13 | 16 => ch == ':',
            19 => ch == '.',
            23 => ch == 'Z',
            _ => ch.is_ascii_digit(),
        })
}

/// Reads the rest of a registration burst (through the end of the MOTD).
pub async fn finish_burst(c: &mut TestClient) {
    c.until(|l| matches!(command_of(l), "376" | "422")).await;
}

/// A configuration with accounts tuned for tests (short passwords, three
/// failed logins); `accounts` adds lines to `[accounts]`, `rest` adds
/// further sections.
pub fn accounts_config(accounts: &str, rest: &str) -> Config {
    config(&format!(
        "[server]\nname = \"ferry.test\"\nnetwork = \"FerryTest\"\nmotd = \"hello\"\n\
         [accounts]\nmin_password_length = 4\nlogin_failures = 3\n{accounts}\n{rest}"
    ))
}

/// Registers `nick` as an account with REGISTER, then quits (the nick is
/// free once this returns).
pub async fn register_account(server: &TestServer, nick: &str, password: &str) {
    let mut c = cap_client(server, nick, "draft/account-registration").await;
    c.send(&format!("REGISTER {nick} * {password}")).await;
    c.expect(&format!(
        ":ferry.test REGISTER SUCCESS {nick} :Account created"
    ))
    .await;
    c.expect(&logged_in_line(nick, nick)).await;
    quit(&mut c).await;
}

/// QUIT, then reads until the server closes the connection.
pub async fn quit(c: &mut TestClient) {
    c.send("QUIT").await;
    c.closed().await;
}

/// `STATS <letter>` as an operator: its `key value` pairs (RPL_STATSDEBUG
/// lines), read through the end of the report.
pub async fn stats_pairs(
    oper: &mut TestClient,
    letter: &str,
) -> std::collections::HashMap<String, u64> {
    oper.send(&format!("STATS {letter}")).await;
    let head = format!(":ferry.test 249 {} {letter} :", oper.nick);
    let end = format!(":ferry.test 219 {} {letter} ", oper.nick);
    let mut out = std::collections::HashMap::new();
    loop {
        let l = oper.line().await;
        if l.starts_with(&end) {
            return out;
        }
        let Some(text) = l.strip_prefix(&head) else {
            continue;
        };
        let words: Vec<&str> = text.split(' ').collect();
        for kv in words.chunks(2) {
            if let [k, v] = kv {
                if let Ok(n) = v.parse() {
                    out.insert(k.to_string(), n);
                }
            }
        }
    }
}

/// An operator block (`OPER oper operpass`) for `accounts_config`.
pub fn oper_block() -> String {
    format!(
        "[[oper]]\nname = \"oper\"\npassword_hash = \"{}\"\n",
        ferry_server::auth::hash_password("operpass")
    )
}

/// Registers `nick` and makes it an operator (the test config's `oper`).
pub async fn oper_client(server: &TestServer, nick: &str) -> TestClient {
    let mut c = server.client(nick).await;
    c.send("OPER oper operpass").await;
    c.until(|l| l.ends_with(&format!("MODE {nick} :+o"))).await;
    c
}

/// Sends `CHATHISTORY <query>`: the texts of its batch's PRIVMSGs, each
/// checked to be addressed to `chan`.
pub async fn chathistory_texts(c: &mut TestClient, query: &str, chan: &str) -> Vec<String> {
    c.send(&format!("CHATHISTORY {query}")).await;
    let start = c.until(|l| l.contains(" BATCH +")).await;
    let id = start
        .split(" BATCH +")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let mut texts = Vec::new();
    loop {
        let l = c.line().await;
        if l.ends_with(&format!("BATCH -{id}")) {
            return texts;
        }
        let (_, rest) = l.split_once(' ').unwrap_or(("", &l));
        if let Some((_, t)) = rest.split_once(&format!(" PRIVMSG {chan} :")) {
            texts.push(t.to_string());
        } else {
            assert!(!rest.contains(" PRIVMSG "), "{chan}: {l}");
        }
    }
}
