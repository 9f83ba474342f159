// Unit tests of the page's own logic (crates/server/web/irc.js):
// `node --test tests/web/`, run by tests/it/web.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parse, build, escapeTag, unescapeTag, saslPlain, authenticateLines, linkify, backoff, mentions, messageTime,
} from "../../crates/server/web/irc.js";

test("lines parse with tags, source and a trailing parameter", () => {
  const m = parse("@time=2026-12-03T10:00:00.000Z;msgid=abc;+draft/reply=x\\sy :bob!~b@h PRIVMSG #中文 :你好 world");
  assert.equal(m.command, "PRIVMSG");
  assert.equal(m.nick, "bob");
  assert.equal(m.source, "bob!~b@h");
  assert.deepEqual(m.params, ["#中文", "你好 world"]);
  assert.equal(m.tags.msgid, "abc");
  assert.equal(m.tags["+draft/reply"], "x y");
  assert.equal(messageTime(m.tags), Date.parse("2026-12-03T10:00:00.000Z"));
  assert.deepEqual(parse("PING").params, []);
  assert.deepEqual(parse(":srv 001 me :Welcome").params, ["me", "Welcome"]);
  assert.deepEqual(parse("CAP * LS :a b=1 c").params, ["*", "LS", "a b=1 c"]);
});

test("tag values escape and unescape both ways", () => {
  for (const v of ["a;b c\\d\r\ne", "", "平常"]) assert.equal(unescapeTag(escapeTag(v)), v);
  assert.equal(unescapeTag("a\\"), "a");
});

test("lines are built with a trailing parameter only when needed, never with CR/LF", () => {
  assert.equal(build("PRIVMSG", ["#a", "hi"]), "PRIVMSG #a hi");
  assert.equal(build("PRIVMSG", ["#a", "hi there"]), "PRIVMSG #a :hi there");
  assert.equal(build("PRIVMSG", ["#a", ":)"]), "PRIVMSG #a ::)");
  assert.equal(build("PRIVMSG", ["bob", "two\r\nlines"]), "PRIVMSG bob :two  lines");
  assert.equal(build("TAGMSG", ["bob"], { "+typing": "active" }), "@+typing=active TAGMSG bob");
  assert.equal(build("TAGMSG", ["bob"], { "+draft/react": "👍", "+draft/reply": "id 1" }),
    "@+draft/react=👍;+draft/reply=id\\s1 TAGMSG bob");
});

test("SASL PLAIN is base64 of UTF-8, in 400-byte pieces", () => {
  assert.equal(saslPlain("张三", "pw"), Buffer.from("张三\0张三\0pw").toString("base64"));
  assert.deepEqual(authenticateLines("abc"), ["AUTHENTICATE abc"]);
  const long = "x".repeat(400);
  assert.deepEqual(authenticateLines(long), [`AUTHENTICATE ${long}`, "AUTHENTICATE +"]);
});

test("links are found, trailing punctuation left out, nothing else touched", () => {
  assert.deepEqual(linkify("see https://example.org/a?b=1, and <b>x</b>"), [
    { text: "see " }, { link: "https://example.org/a?b=1" }, { text: ", and <b>x</b>" },
  ]);
  assert.deepEqual(linkify("javascript:alert(1)"), [{ text: "javascript:alert(1)" }]);
  assert.deepEqual(linkify("看这个http://例子.cn/页面。"), [{ text: "看这个" }, { link: "http://例子.cn/页面" }, { text: "。" }]);
});

test("reconnects back off 1, 2, 4, 8, 16, then every 30 s", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map(backoff), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test("mentions are whole words, any case", () => {
  assert.ok(mentions("hey Alice, look", "alice"));
  assert.ok(mentions("张三：你好", "张三"));
  assert.ok(!mentions("malice", "alice"));
});
