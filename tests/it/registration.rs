//! Connection registration: the welcome burst, NICK/USER/PASS errors, CAP
//! negotiation, Unicode nicks and the rfc8265 casemapping.

use ferry_server::VERSION;
use ferry_testkit::{command_of, TestClient, TestServer};

use crate::util::{cap_client, config, finish_burst, quiet, src};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_burst() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.nick = "alice".into();
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice Liddell").await;
    c.expect(":ferry.test 001 alice :Welcome to the FerryTest IRC Network alice!~alice@127.0.0.1")
        .await;
    c.expect(&format!(
        ":ferry.test 002 alice :Your host is ferry.test, running version {VERSION}"
    ))
    .await;
    let created = c.line().await;
    assert!(
        created.starts_with(":ferry.test 003 alice :This server was created "),
        "{created}"
    );
    c.expect(&format!(
        ":ferry.test 004 alice ferry.test {VERSION} Bgiosw CbeIiklmnostuv beIklov"
    ))
    .await;
    let mut tokens = Vec::new();
    let next = loop {
        let l = c.line().await;
        if command_of(&l) != "005" {
            break l;
        }
        assert!(l.len() <= 510, "005 too long: {l}");
        let rest = l
            .strip_prefix(":ferry.test 005 alice ")
            .and_then(|r| r.strip_suffix(" :are supported by this server"))
            .unwrap_or_else(|| panic!("malformed 005: {l}"));
        tokens.extend(rest.split(' ').map(str::to_string));
    };
    for t in [
        "CASEMAPPING=rfc8265",
        "UTF8ONLY",
        "NETWORK=FerryTest",
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "CHANMODES=beI,k,l,Cimnstu",
        "STATUSMSG=@+",
        "ELIST=CMNTU",
        "MONITOR=100",
        "WHOX",
    ] {
        assert!(tokens.iter().any(|x| x == t), "005 lacks {t}: {tokens:?}");
    }
    assert_eq!(
        next,
        ":ferry.test 251 alice :There are 1 users and 0 invisible on 1 servers"
    );
    for want in [
        ":ferry.test 252 alice 0 :IRC Operators online",
        ":ferry.test 253 alice 0 :unknown connection(s)",
        ":ferry.test 254 alice 0 :channels formed",
        ":ferry.test 255 alice :I have 1 clients and 0 servers",
        ":ferry.test 265 alice 1 1 :Current local users 1, max 1",
        ":ferry.test 266 alice 1 1 :Current global users 1, max 1",
        ":ferry.test 375 alice :- ferry.test Message of the day - ",
        ":ferry.test 372 alice :- hello",
        ":ferry.test 376 alice :End of /MOTD command.",
    ] {
        c.expect(want).await;
    }
    quiet(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nick_errors() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut c = server.connect().await;
    c.send("NICK").await;
    c.expect(":ferry.test 431 * :No nickname given").await;
    c.send("NICK :").await;
    c.expect(":ferry.test 431 * :No nickname given").await;
    c.send("NICK 1abc").await;
    c.expect(":ferry.test 432 * 1abc :Erroneous nickname").await;
    c.send("NICK a,b").await;
    c.expect(":ferry.test 432 * a,b :Erroneous nickname").await;
    c.send("NICK #chan").await;
    c.expect(":ferry.test 432 * #chan :Erroneous nickname")
        .await;
    c.send("NICK alice").await;
    c.expect(":ferry.test 433 * alice :Nickname is already in use")
        .await;
    c.send("NICK ALICE").await;
    c.expect(":ferry.test 433 * ALICE :Nickname is already in use")
        .await;
    // A refused NICK leaves the connection free to pick another.
    c.register("bob").await;

    // After registration: in use, then a change everyone sharing a channel sees.
    alice.send("JOIN #c").await;
    alice.until_cmd("366").await;
    c.send("JOIN #c").await;
    c.until_cmd("366").await;
    alice.expect(&format!(":{} JOIN #c", src("bob"))).await;
    c.send("NICK Alice").await;
    c.expect(":ferry.test 433 bob Alice :Nickname is already in use")
        .await;
    c.send("NICK robert").await;
    c.expect(":bob!~bob@127.0.0.1 NICK :robert").await;
    alice.expect(":bob!~bob@127.0.0.1 NICK :robert").await;
    alice.send("PRIVMSG robert :hi").await;
    c.expect(":alice!~alice@127.0.0.1 PRIVMSG robert :hi").await;
    alice.send("PRIVMSG bob :hi").await;
    alice
        .expect(":ferry.test 401 alice bob :No such nick/channel")
        .await;
    // Only the case changes: allowed, and announced.
    c.send("NICK Robert").await;
    c.expect(":robert!~bob@127.0.0.1 NICK :Robert").await;
    alice.expect(":robert!~bob@127.0.0.1 NICK :Robert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_and_reregistration() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("USER bob 0 * :").await;
    c.expect(":ferry.test 461 * USER :Not enough parameters")
        .await;
    c.send("USER bob 0 *").await;
    c.expect(":ferry.test 461 * USER :Not enough parameters")
        .await;
    c.register("bob").await;
    c.send("USER bob 0 * :again").await;
    c.expect(":ferry.test 462 bob :You may not reregister")
        .await;
    c.send("PASS whatever").await;
    c.expect(":ferry.test 462 bob :You may not reregister")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_before_registration_and_unknown_commands() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("PRIVMSG alice :hi").await;
    c.expect(":ferry.test 451 * :You have not registered").await;
    c.send("JOIN #a").await;
    c.expect(":ferry.test 451 * :You have not registered").await;
    c.send("WHOIS alice").await;
    c.expect(":ferry.test 451 * :You have not registered").await;
    // Unknown verbs are ignored until registration.
    c.send("FOO bar").await;
    quiet(&mut c).await;
    c.register("alice").await;
    c.send("FOO bar").await;
    c.expect(":ferry.test 421 alice FOO :Unknown command").await;
    c.send("foo").await;
    c.expect(":ferry.test 421 alice foo :Unknown command").await;
    c.send("PING :x").await;
    c.expect(":ferry.test PONG ferry.test :x").await;
}

fn password_config() -> ferry_server::Config {
    config("[server]\nname = \"ferry.test\"\npassword = \"secret\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_right() {
    let server = TestServer::with_config(password_config()).await;
    let mut c = server.connect().await;
    c.nick = "alice".into();
    c.send("PASS secret").await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice").await;
    c.expect(":ferry.test 001 alice :Welcome to the ferry IRC Network alice!~alice@127.0.0.1")
        .await;
    c.until_cmd("376").await;
    c.send("PING :in").await;
    c.expect(":ferry.test PONG ferry.test :in").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_wrong_or_missing() {
    let server = TestServer::with_config(password_config()).await;
    let mut c = server.connect().await;
    c.send("PASS nope").await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.expect(":ferry.test 464 bob :Password incorrect").await;
    c.expect("ERROR :Bad password").await;
    assert_eq!(c.next().await, None);

    let mut c = server.connect().await;
    c.send("NICK carol").await;
    c.send("USER carol 0 * :Carol").await;
    c.expect(":ferry.test 464 carol :Password incorrect").await;
    c.expect("ERROR :Bad password").await;
    assert_eq!(c.next().await, None);

    // The refused nicks were released.
    let mut c = server.connect().await;
    c.nick = "bob".into();
    c.send("PASS secret").await;
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.expect(":ferry.test 001 bob :Welcome to the ferry IRC Network bob!~bob@127.0.0.1")
        .await;
}

const ALL_CAPS: &str = "account-notify account-tag away-notify batch cap-notify chghost \
                        echo-message extended-join extended-monitor draft/extended-monitor \
                        invite-notify labeled-response message-tags multi-prefix server-time \
                        setname standard-replies userhost-in-names draft/no-implicit-names \
                        sasl draft/account-registration draft/chathistory draft/event-playback \
                        draft/read-marker draft/message-redaction draft/metadata-3 draft/metadata-2 \
                        draft/multiline draft/channel-rename";

/// The same, as `CAP LS 302` shows it (with values): two lines, the first
/// marked `*` as continued (each fits 512 bytes).
const ALL_CAPS_302: &str = "account-notify account-tag away-notify batch cap-notify chghost \
                        echo-message extended-join extended-monitor draft/extended-monitor \
                        invite-notify labeled-response message-tags multi-prefix server-time \
                        setname standard-replies userhost-in-names draft/no-implicit-names \
                        sasl=PLAIN,SCRAM-SHA-256 draft/account-registration=before-connect \
                        draft/chathistory draft/event-playback";
const ALL_CAPS_302_MORE: &str = "draft/read-marker draft/message-redaction \
    draft/metadata-3=before-connect,max-subs=100,max-keys=20,max-value-bytes=300 \
    draft/metadata-2=before-connect,max-subs=100,max-keys=20,max-value-bytes=300 \
    draft/multiline=max-bytes=4096,max-lines=32 draft/channel-rename";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_negotiation() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.nick = "capper".into();
    c.send("CAP LS 302").await;
    c.expect(&format!(":ferry.test CAP * LS * :{ALL_CAPS_302}"))
        .await;
    c.expect(&format!(":ferry.test CAP * LS :{ALL_CAPS_302_MORE}"))
        .await;
    c.send("CAP REQ :message-tags server-time").await;
    c.expect(":ferry.test CAP * ACK :message-tags server-time")
        .await;
    c.send("CAP REQ :bogus-cap").await;
    c.expect(":ferry.test CAP * NAK :bogus-cap").await;
    // A REQ is all or nothing.
    c.send("CAP REQ :echo-message bogus-cap").await;
    c.expect(":ferry.test CAP * NAK :echo-message bogus-cap")
        .await;
    c.send("CAP LIST").await;
    c.expect(":ferry.test CAP * LIST :cap-notify message-tags server-time")
        .await;
    c.send("CAP REQ :-server-time").await;
    c.expect(":ferry.test CAP * ACK :-server-time").await;
    c.send("CAP LIST").await;
    c.expect(":ferry.test CAP * LIST :cap-notify message-tags")
        .await;
    // Registration waits for CAP END.
    c.send("NICK capper").await;
    c.send("USER capper 0 * :Cap Per").await;
    quiet(&mut c).await;
    c.send("CAP END").await;
    c.expect(
        ":ferry.test 001 capper :Welcome to the FerryTest IRC Network capper!~capper@127.0.0.1",
    )
    .await;
    finish_burst(&mut c).await;
    c.send("CAP LIST").await;
    c.expect(":ferry.test CAP capper LIST :cap-notify message-tags")
        .await;
    c.send("CAP BOGUS").await;
    c.expect(":ferry.test 410 capper BOGUS :Invalid CAP command")
        .await;
    // CAP after registration does not suspend anything.
    c.send("CAP REQ :echo-message").await;
    c.expect(":ferry.test CAP capper ACK :echo-message").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_ls_without_version_and_no_negotiation() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.nick = "old".into();
    c.send("CAP LS").await;
    c.expect(&format!(":ferry.test CAP * LS :{ALL_CAPS}")).await;
    c.send("NICK old").await;
    c.send("USER old 0 * :Old Client").await;
    quiet(&mut c).await;
    // Once NICK is in, replies use it.
    c.send("CAP LIST").await;
    c.expect(":ferry.test CAP old LIST :").await;
    c.send("CAP END").await;
    c.expect(":ferry.test 001 old :Welcome to the FerryTest IRC Network old!~old@127.0.0.1")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_nick() {
    let server = TestServer::start().await;
    let mut zs = server.connect().await;
    zs.nick = "张三".into();
    zs.send("NICK 张三").await;
    zs.send("USER 张三 0 * :张三").await;
    zs.expect(":ferry.test 001 张三 :Welcome to the FerryTest IRC Network 张三!~user@127.0.0.1")
        .await;
    finish_burst(&mut zs).await;
    let mut bob = server.client("bob").await;
    bob.send("PRIVMSG 张三 :你好").await;
    zs.expect(":bob!~bob@127.0.0.1 PRIVMSG 张三 :你好").await;
    zs.send("PRIVMSG bob :你好, bob").await;
    bob.expect(":张三!~user@127.0.0.1 PRIVMSG bob :你好, bob")
        .await;
    bob.send("ISON 张三").await;
    bob.expect(":ferry.test 303 bob 张三").await;
    zs.send("JOIN #中文").await;
    zs.expect(":张三!~user@127.0.0.1 JOIN #中文").await;
    zs.expect(":ferry.test 353 张三 = #中文 @张三").await;
    zs.expect(":ferry.test 366 张三 #中文 :End of /NAMES list")
        .await;
    // Another client cannot take the same nick.
    let mut c = server.connect().await;
    c.send("NICK 张三").await;
    c.expect(":ferry.test 433 * 张三 :Nickname is already in use")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8265_nick_collision() {
    let server = TestServer::start().await;
    let mut foo = server.client("foo").await;
    let mut c = server.connect().await;
    // Full-width letters fold to ASCII under rfc8265.
    c.send("NICK Ｆｏｏ").await;
    c.expect(":ferry.test 433 * Ｆｏｏ :Nickname is already in use")
        .await;
    c.send("NICK FOO").await;
    c.expect(":ferry.test 433 * FOO :Nickname is already in use")
        .await;
    c.register("bar").await;
    c.send("PRIVMSG ＦＯＯ :wide").await;
    foo.expect(":bar!~bar@127.0.0.1 PRIVMSG ＦＯＯ :wide").await;
    c.send("NICK ｆｏｏ").await;
    c.expect(":ferry.test 433 bar ｆｏｏ :Nickname is already in use")
        .await;
    // rfc1459's bracket pairs are one nick too, as clients assume.
    let mut brackets = server.client("ali[ce]").await;
    c.send("NICK ALI{CE}").await;
    c.expect(":ferry.test 433 bar ALI{CE} :Nickname is already in use")
        .await;
    c.send("PRIVMSG ali{ce} :braces").await;
    brackets
        .expect(":bar!~bar@127.0.0.1 PRIVMSG ali{ce} :braces")
        .await;
    quiet(&mut c).await;
}

/// Registers `nick` on a fresh connection, in one write, and returns the
/// first line the server answers with.
async fn attempt(addr: std::net::SocketAddr, nick: String) -> (String, TestClient) {
    let mut c = TestClient::connect(addr).await;
    c.nick = nick.clone();
    c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :racer\r\n").as_bytes())
        .await;
    let first = c.line().await;
    (first, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_race_for_one_nick() {
    let server = TestServer::start().await;
    for round in 0..20 {
        let nick = format!("racer{round}");
        let a = tokio::spawn(attempt(server.addr, nick.clone()));
        let b = tokio::spawn(attempt(server.addr, nick.clone()));
        let (a, b) = (a.await.expect("task a"), b.await.expect("task b"));
        let mut firsts = [a.0.clone(), b.0.clone()];
        firsts.sort();
        assert_eq!(
            firsts,
            [
                format!(
                    ":ferry.test 001 {nick} :Welcome to the FerryTest IRC Network {nick}!~{nick}@127.0.0.1"
                ),
                format!(":ferry.test 433 * {nick} :Nickname is already in use"),
            ],
            "round {round}"
        );
        // The loser is still connected and may pick another nick.
        let mut loser = if command_of(&a.0) == "433" { a.1 } else { b.1 };
        loser.send(&format!("NICK {nick}b")).await;
        loser
            .expect(&format!(
                ":ferry.test 001 {nick}b :Welcome to the FerryTest IRC Network {nick}b!~{nick}@127.0.0.1"
            ))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_client_helper_registers() {
    let server = TestServer::start().await;
    let mut c = cap_client(&server, "helper", "multi-prefix").await;
    c.send("CAP LIST").await;
    c.expect(":ferry.test CAP helper LIST :multi-prefix").await;
}
