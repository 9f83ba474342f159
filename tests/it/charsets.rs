//! GBK and UTF-8 clients side by side (docs/CHARSETS.md): byte-exact on
//! each wire. GBK bytes are written out by hand: 张三 = D5C5 C8FD,
//! 你好 = C4E3 BAC3, 谢谢 = D0BB D0BB, 中文 = D6D0 CEC4, 好 = BAC3.

use ferry_testkit::{test_config_with, TestClient, TestServer};

use crate::util::{cap_client, finish_burst, quiet, tag};

/// Registers 张三 (user `zhang`) on the GBK listener, raw bytes only.
async fn zhang(server: &TestServer) -> TestClient {
    let mut c = server.connect_speaking(1, "gbk").await;
    c.nick = "张三".into();
    c.send_raw(b"NICK \xd5\xc5\xc8\xfd\r\nUSER zhang 0 * :Zhang San\r\n")
        .await;
    c.expect_raw(
        b":ferry.test 001 \xd5\xc5\xc8\xfd :Welcome to the FerryTest IRC Network \xd5\xc5\xc8\xfd!~zhang@127.0.0.1",
    )
    .await;
    finish_burst(&mut c).await;
    c
}

/// The 005 tokens a client saw during registration.
async fn isupport_of(c: &mut TestClient, nick: &str) -> Vec<String> {
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :{nick}")).await;
    let mut tokens = Vec::new();
    loop {
        let l = c.line().await;
        let Some(rest) = l.strip_prefix(&format!(":ferry.test 005 {nick} ")) else {
            if l.contains(" 376 ") {
                return tokens;
            }
            continue;
        };
        let rest = rest.split(" :").next().unwrap_or("");
        tokens.extend(rest.split(' ').map(String::from));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_and_utf8_direct_messages_byte_exact() {
    let server = TestServer::with_charset("gbk").await;
    let mut zhang = zhang(&server).await;
    let mut li = server.client("li").await;

    zhang.send_raw(b"PRIVMSG li :\xc4\xe3\xba\xc3\r\n").await;
    li.expect_raw(":张三!~zhang@127.0.0.1 PRIVMSG li :你好".as_bytes())
        .await;

    li.send("PRIVMSG 张三 :谢谢").await;
    zhang
        .expect_raw(b":li!~li@127.0.0.1 PRIVMSG \xd5\xc5\xc8\xfd :\xd0\xbb\xd0\xbb")
        .await;

    // WHOIS and friends come back in GBK as well.
    zhang.send("WHOIS 张三").await;
    zhang
        .expect_raw(
            b":ferry.test 311 \xd5\xc5\xc8\xfd \xd5\xc5\xc8\xfd ~zhang 127.0.0.1 * :Zhang San",
        )
        .await;
    zhang.sync().await;
    quiet(&mut li).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_and_utf8_in_a_channel_byte_exact() {
    let server = TestServer::with_charset("gbk").await;
    let mut zhang = zhang(&server).await;
    let mut li = server.client("li").await;

    zhang.send_raw(b"JOIN #\xd6\xd0\xce\xc4\r\n").await;
    zhang
        .expect_raw(b":\xd5\xc5\xc8\xfd!~zhang@127.0.0.1 JOIN #\xd6\xd0\xce\xc4")
        .await;
    zhang.sync().await;
    li.send("JOIN #中文").await;
    li.until(|l| l.contains(" 366 ")).await;
    zhang
        .expect_raw(b":li!~li@127.0.0.1 JOIN #\xd6\xd0\xce\xc4")
        .await;

    zhang
        .send_raw(b"PRIVMSG #\xd6\xd0\xce\xc4 :\xb4\xf3\xbc\xd2\xba\xc3\r\n")
        .await;
    li.expect_raw(":张三!~zhang@127.0.0.1 PRIVMSG #中文 :大家好".as_bytes())
        .await;
    li.send("PRIVMSG #中文 :再见").await;
    zhang
        .expect_raw(b":li!~li@127.0.0.1 PRIVMSG #\xd6\xd0\xce\xc4 :\xd4\xd9\xbc\xfb")
        .await;
    // The same text reaches a second GBK member and a second UTF-8 one.
    let mut wang = server.connect_speaking(1, "gbk").await;
    wang.register("wang").await;
    wang.send("JOIN #中文").await;
    wang.until(|l| l.contains(" 366 ")).await;
    li.send("PRIVMSG #中文 :好").await;
    wang.expect_raw(b":li!~li@127.0.0.1 PRIVMSG #\xd6\xd0\xce\xc4 :\xba\xc3")
        .await;
    zhang.until(|l| l.ends_with(":好")).await;
    li.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmappable_and_invalid_sequences() {
    let server = TestServer::with_charset("gbk").await;
    let mut zhang = zhang(&server).await;
    let mut li = server.client("li").await;

    // Emoji and Hangul are not in GBK: one `?` each, never broken bytes.
    li.send("PRIVMSG 张三 :好😀한!").await;
    zhang
        .expect_raw(b":li!~li@127.0.0.1 PRIVMSG \xd5\xc5\xc8\xfd :\xba\xc3??!")
        .await;
    // Bytes that are not GBK arrive as U+FFFD.
    zhang.send_raw(b"PRIVMSG li :a\xffb\xc4\r\n").await;
    li.expect(":张三!~zhang@127.0.0.1 PRIVMSG li :a\u{fffd}b\u{fffd}")
        .await;
    // A nick must still be a valid nick after decoding.
    zhang.send_raw(b"NICK a\xff\r\n").await;
    zhang
        .expect_raw(b":ferry.test 432 \xd5\xc5\xc8\xfd a? :Erroneous nickname")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_is_checked_on_the_utf8_form() {
    let server = TestServer::with_charset("gbk").await;
    let mut zhang = zhang(&server).await;
    let mut li = server.client("li").await;
    // 166 × 好: 332 bytes of GBK, 498 of UTF-8; with "PRIVMSG li :" 510.
    let mut line = b"PRIVMSG li :".to_vec();
    for _ in 0..166 {
        line.extend_from_slice(b"\xba\xc3");
    }
    line.extend_from_slice(b"\r\n");
    zhang.send_raw(&line).await;
    // Taken (510 bytes as UTF-8); relayed with the sender's prefix it is
    // cut, at a character, to fit li's 512-byte line.
    let head = ":张三!~zhang@127.0.0.1 PRIVMSG li :";
    let fits = (510 - head.len()) / "好".len();
    li.expect(&format!("{head}{}", "好".repeat(fits))).await;
    // One more: 334 bytes on the wire, 513 once decoded.
    let mut over = b"PRIVMSG li :".to_vec();
    for _ in 0..167 {
        over.extend_from_slice(b"\xba\xc3");
    }
    over.extend_from_slice(b"\r\n");
    zhang.send_raw(&over).await;
    zhang
        .expect_raw(b":ferry.test 417 \xd5\xc5\xc8\xfd :Input line was too long")
        .await;
    quiet(&mut li).await;
    zhang.send("PING :ok").await;
    zhang.expect(":ferry.test PONG ferry.test :ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gb18030_recipient_gets_long_lines_split() {
    let server = TestServer::with_charset("gb18030").await;
    let mut kim = server.connect_speaking(1, "gb18030").await;
    kim.nick = "kim".into();
    kim.send("CAP REQ :message-tags").await;
    kim.expect(":ferry.test CAP * ACK :message-tags").await;
    kim.send("CAP END").await;
    kim.register("kim").await;
    let mut li = cap_client(&server, "li", "message-tags echo-message").await;

    // 150 Hangul syllables: 450 bytes of UTF-8 (the relayed line fits 512),
    // 600 of GB18030 (it does not).
    let text = "한".repeat(150);
    li.send(&format!("PRIVMSG kim :{text}")).await;
    let echo = li.line().await;
    let msgid = tag(&echo, "msgid").expect("msgid").to_string();

    let first = kim.raw_line().await;
    let second = kim.raw_line().await;
    let head = format!("@msgid={msgid} :li!~li@127.0.0.1 PRIVMSG kim :");
    assert!(
        first.starts_with(head.as_bytes()),
        "{}",
        first.escape_ascii()
    );
    // Only the first piece carries the msgid.
    let head2 = b":li!~li@127.0.0.1 PRIVMSG kim :";
    assert!(second.starts_with(head2), "{}", second.escape_ascii());
    assert!(first.len() - (head.len() - head2.len()) <= 510);
    assert!(second.len() <= 510);
    let gb = encoding_rs::GB18030;
    let mut joined = String::new();
    joined.push_str(&gb.decode_without_bom_handling(&first[head.len()..]).0);
    joined.push_str(&gb.decode_without_bom_handling(&second[head2.len()..]).0);
    assert_eq!(joined, text);
    quiet(&mut kim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_stay_utf8_on_a_gbk_wire() {
    let server = TestServer::with_charset("gbk").await;
    let mut zhang = server.connect_speaking(1, "gbk").await;
    zhang.nick = "zhang".into();
    zhang.send("CAP REQ :message-tags").await;
    zhang.expect(":ferry.test CAP * ACK :message-tags").await;
    zhang.send("CAP END").await;
    zhang.register("zhang").await;
    let mut li = cap_client(&server, "li", "message-tags").await;

    li.send("@+example=好 PRIVMSG zhang :好").await;
    let l = zhang.raw_line().await;
    let tail = b";+example=\xe5\xa5\xbd :li!~li@127.0.0.1 PRIVMSG zhang :\xba\xc3";
    assert!(
        l.starts_with(b"@msgid=") && l.ends_with(tail),
        "{}",
        l.escape_ascii()
    );
    // And from the GBK side: its tags are read as UTF-8, its text as GBK.
    zhang
        .send_raw(b"@+example=\xe5\xa5\xbd PRIVMSG li :\xba\xc3\r\n")
        .await;
    let l = li.line().await;
    assert!(
        l.ends_with(";+example=好 :zhang!~zhang@127.0.0.1 PRIVMSG li :好"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8only_only_where_the_wire_is_plain_utf8() {
    let server = TestServer::with_config(test_config_with(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\ncharset = \"gbk\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nfallback_charset = \"gb18030\"\n",
    ))
    .await;
    let mut plain = server.connect().await;
    assert!(isupport_of(&mut plain, "plain")
        .await
        .contains(&"UTF8ONLY".into()));
    let mut gbk = server.connect_speaking(1, "gbk").await;
    assert!(!isupport_of(&mut gbk, "gbk")
        .await
        .contains(&"UTF8ONLY".into()));
    let mut fb = TestClient::connect(server.addrs[2]).await;
    assert!(!isupport_of(&mut fb, "fb")
        .await
        .contains(&"UTF8ONLY".into()));

    // The fallback listener reads UTF-8 as UTF-8 and anything else as GB18030.
    fb.send("PRIVMSG plain :好").await;
    plain.expect(":fb!~fb@127.0.0.1 PRIVMSG plain :好").await;
    fb.send_raw(b"PRIVMSG plain :\xc4\xe3\xba\xc3\r\n").await;
    plain.expect(":fb!~fb@127.0.0.1 PRIVMSG plain :你好").await;
    // ...and writes UTF-8.
    plain.send("PRIVMSG fb :谢谢").await;
    fb.expect(":plain!~plain@127.0.0.1 PRIVMSG fb :谢谢").await;
    // The plain listener still refuses what is not UTF-8.
    plain.send_raw(b"PRIVMSG fb :\xc4\xe3\r\n").await;
    plain
        .expect(":ferry.test FAIL PRIVMSG INVALID_UTF8 :Message rejected, your message contained invalid UTF-8")
        .await;
    quiet(&mut fb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charset_command_switches_a_connection() {
    let server = TestServer::start().await;
    let mut zhang = server.client("zhang").await;
    let mut li = server.client("li").await;
    zhang.send("CHARSET").await;
    zhang
        .expect(":ferry.test NOTE CHARSET CURRENT UTF-8 :This connection speaks UTF-8")
        .await;
    zhang.send("CHARSET klingon").await;
    zhang
        .expect(":ferry.test FAIL CHARSET UNKNOWN_CHARSET klingon :Unknown charset \"klingon\"")
        .await;
    zhang.send("CHARSET utf-16le").await;
    zhang
        .expect(
            ":ferry.test FAIL CHARSET UNSUPPORTED_CHARSET utf-16le :UTF-16LE cannot carry IRC: \
             only ASCII-compatible charsets can (not UTF-16, ISO-2022-JP or \"replacement\")",
        )
        .await;

    zhang.send("CHARSET gbk").await;
    zhang
        .expect(":ferry.test NOTE CHARSET CHANGED GBK :This connection now speaks GBK")
        .await;
    zhang
        .expect(":ferry.test 005 zhang -UTF8ONLY :are supported by this server")
        .await;
    zhang.send_raw(b"PRIVMSG li :\xc4\xe3\xba\xc3\r\n").await;
    li.expect(":zhang!~zhang@127.0.0.1 PRIVMSG li :你好").await;
    li.send("PRIVMSG zhang :谢谢").await;
    zhang
        .expect_raw(b":li!~li@127.0.0.1 PRIVMSG zhang :\xd0\xbb\xd0\xbb")
        .await;

    zhang.send("CHARSET utf-8").await;
    zhang
        .expect(":ferry.test NOTE CHARSET CHANGED UTF-8 :This connection now speaks UTF-8")
        .await;
    zhang
        .expect(":ferry.test 005 zhang UTF8ONLY :are supported by this server")
        .await;
    li.send("PRIVMSG zhang :谢谢").await;
    zhang.expect(":li!~li@127.0.0.1 PRIVMSG zhang :谢谢").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charset_before_registration() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.nick = "张三".into();
    c.send("CHARSET gbk").await;
    c.expect(":ferry.test NOTE CHARSET CHANGED GBK :This connection now speaks GBK")
        .await;
    c.speak("gbk");
    let tokens = isupport_of(&mut c, "张三").await;
    assert!(!tokens.contains(&"UTF8ONLY".into()), "{tokens:?}");
}
