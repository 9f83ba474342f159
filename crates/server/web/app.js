// ferry's web chat: log in or register, friends with live presence,
// conversations (direct messages and groups) with history, typing,
// replies and reactions — all of it IRC over the WebSocket beside this
// page (conn.js), so any IRC user can be talked to.
//
// Every piece of a message is put on the page as text (textContent, text
// nodes, anchors built here): nothing a message says is ever parsed as
// HTML.

import { build, fold, isChannel, messageTime, timestampRef, linkify, mentions } from "./irc.js";
import { Connection } from "./conn.js";
import { t, language, setLanguage } from "./i18n.js";
import { $, h } from "./dom.js";
import * as panels from "./panels.js";

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;

const state = {
  conn: null,
  me: "",
  account: "",
  convs: new Map(), // folded name → conversation
  order: [], // folded names, most recent first
  current: null,
  friends: new Map(), // folded nick → { nick, status }
  requests: new Map(), // folded nick → nick
  friendsOnly: false,
  replyTo: null,
  typingSentAt: 0,
  status: { state: "connecting" },
  batches: new Map(), // batch id → { type, target }
  stay: false,
  tokenId: null,
  tokens: [],
  tokensLoaded: false,
  profiles: new Map(), // folded nick → { "display-name": ..., avatar: ... }
  markSent: new Map(), // folded target → the read-marker time (ms) we last sent
};

/** The name a user goes by: its display name (METADATA) and its nick. */
function shownName(nick) {
  const dn = state.profiles.get(fold(nick))?.["display-name"];
  return dn && dn !== nick ? `${dn} (${nick})` : nick;
}

/** A friend's display name and avatar (an account's are kept offline too). */
function askProfile(nick) {
  if (!state.conn?.caps.has("draft/metadata-3")) return;
  state.profiles.set(fold(nick), state.profiles.get(fold(nick)) || {});
  state.conn.send(build("METADATA", [nick, "GET", "display-name", "avatar"]));
}

/** Tells the server (and so this account's other devices) how far this
 * conversation is read: up to its newest message. */
function markRead(c) {
  const last = c.messages[c.messages.length - 1];
  if (!last || !state.conn) return;
  if ((state.markSent.get(c.key) || 0) >= last.time) return;
  state.markSent.set(c.key, last.time);
  state.conn.send(build("MARKREAD", [c.name, timestampRef(last.time)]));
}

function conv(name) {
  const key = fold(name);
  let c = state.convs.get(key);
  if (!c) {
    c = {
      key,
      name,
      channel: isChannel(name),
      messages: [],
      ids: new Set(),
      unread: 0,
      mention: false,
      members: new Map(),
      topic: "",
      joined: false,
      historyDone: false,
      loading: false,
      typing: new Map(),
    };
    state.convs.set(key, c);
  }
  return c;
}

function touch(c) {
  state.order = [c.key, ...state.order.filter((k) => k !== c.key)];
}

function savedChannels() {
  try {
    return JSON.parse(localStorage.getItem(`ferry.channels.${fold(state.account)}`) || "[]");
  } catch (_) {
    return [];
  }
}

function saveChannels() {
  const list = [...state.convs.values()].filter((c) => c.channel && c.joined).map((c) => c.name);
  try {
    localStorage.setItem(`ferry.channels.${fold(state.account)}`, JSON.stringify(list));
  } catch (_) {}
}

// ------------------------------------------------------------ messages

/** Puts a message in its conversation, in time order, once per msgid. */
function addMessage(c, msg, { history = false } = {}) {
  if (msg.msgid && c.ids.has(msg.msgid)) {
    // Our own echo: the pending copy is now sent.
    return;
  }
  if (msg.msgid) c.ids.add(msg.msgid);
  if (msg.self && !history && msg.msgid) {
    const pending = c.messages.find((m) => m.pending && m.text === msg.text);
    if (pending) {
      Object.assign(pending, msg, { pending: false });
      render();
      return;
    }
  }
  let i = c.messages.length;
  while (i > 0 && c.messages[i - 1].time > msg.time) i--;
  c.messages.splice(i, 0, msg);
  if (!history) {
    touch(c);
    if (state.current === c.key && !document.hidden) markRead(c);
    if (!msg.self && (state.current !== c.key || document.hidden)) {
      c.unread++;
      if (!c.channel || mentions(msg.text, state.me)) {
        c.mention = true;
        notify(c, msg);
      }
    }
  } else if (!state.order.includes(c.key)) {
    state.order.push(c.key);
  }
}

function notify(c, msg) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(t("notifyTitle", { from: c.channel ? `${msg.from} · ${c.name}` : msg.from }), {
      body: msg.text,
      tag: c.key,
    });
    n.onclick = () => {
      window.focus();
      open(c.key);
    };
  } catch (_) {}
}

/** Where a PRIVMSG/NOTICE belongs: the channel, or the other party. */
function conversationOf(m) {
  const target = m.params[0] || "";
  if (isChannel(target)) return target.replace(/^[@+]+/, "");
  return fold(m.nick) === fold(state.me) ? target : m.nick;
}

function onPrivmsg(m, history) {
  if (m.nick === "NickServ" || !m.params[0]) return;
  const name = conversationOf(m);
  const c = conv(name);
  addMessage(
    c,
    {
      msgid: m.tags.msgid || null,
      time: messageTime(m.tags),
      from: m.nick,
      self: fold(m.nick) === fold(state.me),
      text: m.params[1] ?? "",
      notice: m.command === "NOTICE",
      replyTo: m.tags["+draft/reply"] || null,
      reactions: new Map(),
    },
    { history },
  );
  c.typing.delete(fold(m.nick));
}

function onTagmsg(m) {
  const c = conv(conversationOf(m));
  const who = fold(m.nick);
  if (who === fold(state.me)) {
    if (!m.tags["+draft/react"]) return;
  }
  const typing = m.tags["+typing"];
  if (typing === "active") c.typing.set(who, { nick: m.nick, until: Date.now() + 6000 });
  else if (typing) c.typing.delete(who);
  const react = m.tags["+draft/react"];
  const to = m.tags["+draft/reply"];
  if (react && to) {
    const target = c.messages.find((x) => x.msgid === to);
    if (target) {
      const set = target.reactions.get(react) || new Set();
      set.add(m.nick);
      target.reactions.set(react, set);
    }
  }
}

// ------------------------------------------------------------ protocol

function onMessage(m) {
  const p = m.params;
  const batch = m.tags.batch;
  const history = !!(batch && state.batches.get(batch)?.type === "chathistory");
  switch (m.command) {
    case "BATCH": {
      const id = p[0].slice(1);
      if (p[0].startsWith("+")) {
        const c = p[2] ? state.convs.get(fold(p[2])) : null;
        state.batches.set(id, { type: p[1], target: p[2], before: c ? c.messages.length : 0 });
      } else {
        const b = state.batches.get(id);
        state.batches.delete(id);
        const c = b && b.type === "chathistory" && b.target ? state.convs.get(fold(b.target)) : null;
        if (c && c.loading) {
          c.loading = false;
          // Fewer than asked for: nothing older is left.
          if (c.messages.length - b.before < 50) c.historyDone = true;
        }
      }
      break;
    }
    case "PRIVMSG":
    case "NOTICE":
      if (!m.source.includes("!")) break; // from the server itself
      if (m.command === "NOTICE" && panels.onServiceNotice(state, m)) break;
      onPrivmsg(m, history && !isOfflineBatch(batch));
      break;
    case "TAGMSG":
      if (!history) onTagmsg(m);
      break;
    case "JOIN": {
      const c = conv(p[0]);
      if (fold(m.nick) === fold(state.me)) {
        c.joined = true;
        c.members = new Map();
        touch(c);
        saveChannels();
        fetchLatest(c);
      }
      c.members.set(fold(m.nick), { nick: m.nick, prefix: "" });
      break;
    }
    case "PART":
    case "KICK": {
      const c = conv(p[0]);
      const who = m.command === "KICK" ? p[1] : m.nick;
      c.members.delete(fold(who));
      if (fold(who) === fold(state.me)) {
        c.joined = false;
        saveChannels();
      }
      break;
    }
    case "QUIT":
      for (const c of state.convs.values()) c.members.delete(fold(m.nick));
      break;
    case "NICK":
      for (const c of state.convs.values()) {
        const mem = c.members.get(fold(m.nick));
        if (mem) {
          c.members.delete(fold(m.nick));
          c.members.set(fold(p[0]), { ...mem, nick: p[0] });
        }
      }
      if (fold(m.nick) === fold(state.me)) state.me = p[0];
      break;
    case "353": {
      const c = conv(p[2]);
      for (const n of (p[3] || "").split(" ").filter(Boolean)) {
        const prefix = n.match(/^[@+]*/)[0];
        const nick = n.slice(prefix.length);
        c.members.set(fold(nick), { nick, prefix });
      }
      break;
    }
    case "332":
      conv(p[1]).topic = p[2] || "";
      break;
    case "324": // the group's modes
      panels.onChannelMode(conv(p[1]), p[2] || "", p.slice(3));
      break;
    case "REDACT": {
      // A message taken back: by its sender, or a channel operator.
      const target = p[0] || "";
      const name = isChannel(target) ? target : (fold(target) === fold(state.me) ? m.nick : target);
      const c = state.convs.get(fold(name));
      const msg = c?.messages.find((x) => x.msgid === p[1]);
      if (msg) {
        msg.recalled = true;
        msg.text = "";
        msg.reactions = new Map();
      }
      break;
    }
    case "MARKREAD": {
      // Read on another device (or when joining): what is older is read.
      const c = state.convs.get(fold(p[0] || ""));
      const at = Date.parse((p[1] || "").replace(/^timestamp=/, ""));
      if (c && !Number.isNaN(at)) {
        state.markSent.set(c.key, Math.max(state.markSent.get(c.key) || 0, at));
        if (!c.messages.some((x) => x.time > at && !x.self)) {
          c.unread = 0;
          c.mention = false;
        }
      }
      break;
    }
    case "761": { // a user's key (METADATA): its display name, its avatar
      const [, target, key, , value] = p;
      if (target && !isChannel(target) && key) {
        const prof = state.profiles.get(fold(target)) || {};
        prof[key] = value ?? "";
        state.profiles.set(fold(target), prof);
      }
      break;
    }
    case "766": {
      const [, target, key] = p;
      const prof = target && state.profiles.get(fold(target));
      if (prof && key) delete prof[key];
      break;
    }
    case "TOPIC":
      conv(p[0]).topic = p[1] || "";
      break;
    case "730": // MONITOR online
      for (const target of (p[1] || "").split(",")) {
        const nick = target.split("!")[0];
        if (nick) {
          if (!state.profiles.has(fold(nick))) askProfile(nick);
          state.friends.set(fold(nick), { nick, status: "online" });
        }
      }
      break;
    case "731":
      for (const nick of (p[1] || "").split(",")) {
        if (nick) state.friends.set(fold(nick), { nick, status: "offline" });
      }
      break;
    case "732":
      for (const nick of (p[1] || "").split(",")) {
        if (nick && !state.friends.has(fold(nick))) {
          state.friends.set(fold(nick), { nick, status: "offline" });
          askProfile(nick);
        }
      }
      break;
    case "AWAY": {
      const f = state.friends.get(fold(m.nick));
      if (f) f.status = p.length ? "away" : "online";
      break;
    }
    case "716": { // the recipient takes messages from friends only
      const c = state.convs.get(fold(p[1]));
      const pending = c?.messages.filter((x) => x.pending) || [];
      for (const x of pending) {
        x.pending = false;
        x.refused = t("askedFriend", { nick: p[1] });
      }
      break;
    }
    case "718": // +g: someone asked to message us
      state.requests.set(fold(p[1]), p[1]);
      break;
    case "221":
      state.friendsOnly = (p[1] || "").includes("g");
      break;
    case "MODE":
      if (isChannel(p[0] || "")) panels.onChannelMode(conv(p[0]), p[1] || "", p.slice(2));
      else if (fold(p[0]) === fold(state.me)) {
        const modes = p[1] || "";
        let on = true;
        for (const ch of modes) {
          if (ch === "+") on = true;
          else if (ch === "-") on = false;
          else if (ch === "g") state.friendsOnly = on;
        }
      }
      break;
    case "TOKEN":
      onToken(m);
      break;
    case "CHATHISTORY":
      if (p[0] === "TARGETS" && p[1]) {
        const c = conv(p[1]);
        if (!c.channel || c.joined) fetchLatest(c);
      }
      break;
    case "FAIL":
      if (p[0] === "CHATHISTORY") {
        const c = p[2] ? state.convs.get(fold(p[2])) : null;
        if (c) {
          c.loading = false;
          c.historyDone = true;
        }
      }
      break;
  }
  render();
}

/** The batch the server sends offline messages in is a chathistory
 * batch named for our own nick: live news, not old history. */
function isOfflineBatch(id) {
  const b = state.batches.get(id);
  return b && fold(b.target || "") === fold(state.me);
}

function fetchLatest(c) {
  if (c.fetched) return;
  c.fetched = true;
  c.loading = true;
  state.conn.send(build("CHATHISTORY", ["LATEST", c.name, "*", "50"]));
}

function fetchOlder(c) {
  if (c.loading || c.historyDone) return;
  const oldest = c.messages[0];
  if (!oldest) return;
  c.loading = true;
  const ref = oldest.msgid ? `msgid=${oldest.msgid}` : timestampRef(oldest.time);
  state.conn.send(build("CHATHISTORY", ["BEFORE", c.name, ref, "50"]));
}

// ------------------------------------------------------------ actions

function open(key) {
  state.current = key;
  const c = state.convs.get(key);
  if (c) {
    c.unread = 0;
    c.mention = false;
    if (!c.channel) fetchLatest(c);
    markRead(c);
  }
  state.replyTo = null;
  document.body.classList.add("in-conversation");
  render();
  $("#composer")?.focus();
}

function sendText(text) {
  const c = state.convs.get(state.current);
  if (!c || !text.trim()) return;
  for (const piece of text.split("\n").filter((l) => l.trim())) {
    const tags = {};
    if (state.replyTo) tags["+draft/reply"] = state.replyTo.msgid;
    const line = build("PRIVMSG", [c.name, piece], Object.keys(tags).length ? tags : null);
    const sent = state.conn.send(line);
    c.messages.push({
      msgid: null,
      time: Date.now(),
      from: state.me,
      self: true,
      text: piece,
      pending: true,
      unsentNow: !sent,
      replyTo: state.replyTo?.msgid || null,
      reactions: new Map(),
    });
  }
  state.replyTo = null;
  state.typingSentAt = 0;
  if (state.conn.caps.has("message-tags")) state.conn.send(build("TAGMSG", [c.name], { "+typing": "done" }));
  touch(c);
  render();
}

function typing() {
  const c = state.convs.get(state.current);
  if (!c || !state.conn.registered || !state.conn.caps.has("message-tags")) return;
  const now = Date.now();
  if (now - state.typingSentAt < 3000) return;
  state.typingSentAt = now;
  state.conn.send(build("TAGMSG", [c.name], { "+typing": "active" }));
}

function react(c, msg) {
  if (!msg.msgid) return;
  state.conn.send(build("TAGMSG", [c.name], { "+draft/react": "👍", "+draft/reply": msg.msgid }));
  const set = msg.reactions.get("👍") || new Set();
  set.add(state.me);
  msg.reactions.set("👍", set);
  render();
}

function addFriend(nick) {
  nick = nick.trim();
  if (!nick) return;
  state.conn.send(build("MONITOR", ["+", nick]));
  state.conn.send(build("ACCEPT", [nick]));
  if (!state.friends.has(fold(nick))) state.friends.set(fold(nick), { nick, status: "offline" });
  render();
}

function removeFriend(nick) {
  state.conn.send(build("MONITOR", ["-", nick]));
  state.conn.send(build("ACCEPT", [`-${nick}`]));
  state.friends.delete(fold(nick));
  render();
}

function acceptRequest(nick) {
  state.requests.delete(fold(nick));
  addFriend(nick);
  open(conv(nick).key);
}

function joinGroup(name) {
  name = name.trim();
  if (!name) return;
  if (!name.startsWith("#")) name = `#${name}`;
  state.conn.send(build("JOIN", [name]));
  const c = conv(name);
  touch(c);
  open(c.key);
}

function leaveGroup(c) {
  state.conn.send(build("PART", [c.name]));
  c.joined = false;
  state.convs.delete(c.key);
  state.order = state.order.filter((k) => k !== c.key);
  state.current = null;
  saveChannels();
  render();
}

// ------------------------------------------------------------ rendering

function fmtTime(ms) {
  const d = new Date(ms);
  const now = new Date();
  const opts = d.toDateString() === now.toDateString()
    ? { hour: "2-digit", minute: "2-digit" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return d.toLocaleString(language() === "zh" ? "zh-CN" : "en", opts);
}

function textWithLinks(text) {
  return linkify(text).map((part) =>
    part.link
      ? h("a", { href: part.link, target: "_blank", rel: "noopener noreferrer nofollow" }, part.link)
      : document.createTextNode(part.text),
  );
}

function renderLogin(error) {
  const form = h(
    "form",
    {
      id: "login",
      class: "login",
      onsubmit: (e) => {
        e.preventDefault();
        go(e.submitter?.value === "register");
      },
    },
    h("h1", { text: t("title") }),
    h("p", { class: "tagline", text: t("tagline") }),
    h("label", { for: "nick" }, t("nickname")),
    h("input", { id: "nick", name: "nick", autocomplete: "username", autocapitalize: "off", spellcheck: "false", required: true }),
    h("label", { for: "password" }, t("password")),
    h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("label", { class: "toggle" },
      h("input", { type: "checkbox", id: "stay", checked: true }),
      t("stay")),
    h("p", { id: "login-error", class: "error", role: "alert", "aria-live": "assertive" }, error || ""),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit", value: "login" }, t("login")),
      h("button", { type: "submit", value: "register", class: "secondary" }, t("register")),
    ),
    langButton(),
  );
  const go = (register) => {
    const nick = $("#nick").value.trim();
    const password = $("#password").value;
    if (!nick || !password) {
      $("#login-error").textContent = t("needBoth");
      return;
    }
    start(nick, password, register, $("#stay").checked);
  };
  $("#app").replaceChildren(form);
  $("#nick").focus();
}

function langButton() {
  return h("button", {
    type: "button",
    class: "lang",
    "aria-label": t("languageName"),
    onclick: () => {
      setLanguage(language() === "zh" ? "en" : "zh");
      if (state.conn) render();
      else renderLogin();
    },
  }, t("language"));
}

function statusText() {
  const s = state.status;
  if (s.state === "online") return t("online");
  if (s.state === "reconnecting") return t("reconnecting", { s: Math.round(s.inMs / 1000) });
  return t("connecting");
}

function render() {
  if (!state.conn) return;
  const app = $("#app");
  const keepInput = $("#composer")?.value ?? "";
  const hadFocus = document.activeElement?.id;
  const scroller = $("#messages");
  const atBottom = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const oldTop = scroller?.scrollTop ?? 0;
  const oldHeight = scroller?.scrollHeight ?? 0;

  const header = h(
    "header",
    { class: "bar" },
    h("button", { type: "button", class: "back", "aria-label": t("back"), onclick: () => {
      document.body.classList.remove("in-conversation");
    } }, "‹"),
    h("strong", { text: state.me }),
    h("span", { id: "status", class: `status ${state.status.state}`, role: "status", "aria-live": "polite" }, statusText()),
    h("label", { class: "toggle" },
      h("input", { type: "checkbox", id: "friends-only", checked: state.friendsOnly, onchange: (e) => {
        state.conn.send(build("MODE", [state.me, e.target.checked ? "+g" : "-g"]));
      } }),
      t("friendsOnly")),
    langButton(),
    h("button", { type: "button", onclick: logout }, t("logout")),
  );

  const convList = h("ul", { id: "conversations", "aria-label": t("conversations") },
    state.order.map((key) => state.convs.get(key)).filter(Boolean).map((c) => {
      const last = c.messages[c.messages.length - 1];
      return h("li", { class: key(c) },
        h("button", {
          type: "button",
          "aria-label": c.name,
          "aria-current": state.current === c.key ? "true" : null,
          onclick: () => open(c.key),
        },
        h("span", { class: "name", text: c.name }),
        c.unread ? h("span", { class: `badge${c.mention ? " mention" : ""}`, "aria-label": t("unread", { n: c.unread }) }, String(c.unread)) : null,
        h("span", { class: "last", text: last ? `${last.self ? t("you") : last.from}: ${last.text}` : "" })));
    }));

  const friends = [...state.friends.values()].sort((a, b) => a.nick.localeCompare(b.nick));
  const friendList = h("ul", { id: "friends", "aria-label": t("friends") },
    friends.map((f) => h("li", { class: `friend ${f.status}` },
      h("button", { type: "button", "aria-label": f.nick, onclick: () => open(conv(f.nick).key) },
        h("span", { class: "dot", "aria-hidden": "true" }),
        panels.avatar(state.profiles, f.nick, shownName(f.nick)),
        h("span", { class: "name", text: shownName(f.nick) }),
        h("span", { class: "presence", text: t(`${f.status}_`) })),
      h("button", { type: "button", class: "remove", "aria-label": t("removeFriend", { nick: f.nick }), onclick: () => removeFriend(f.nick) }, "×"))));

  const requests = state.requests.size
    ? h("section", { class: "requests", "aria-label": t("friendRequests") },
        h("h2", { text: t("friendRequests") }),
        h("ul", {}, [...state.requests.values()].map((nick) => h("li", {},
          h("span", { text: t("wantsToTalk", { nick }) }),
          h("button", { type: "button", onclick: () => acceptRequest(nick) }, t("accept")),
          h("button", { type: "button", class: "secondary", onclick: () => { state.requests.delete(fold(nick)); render(); } }, t("ignore"))))))
    : null;

  const side = h("nav", { class: "side" },
    requests,
    h("h2", { text: t("conversations") }),
    convList,
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); joinGroup(e.target.group.value); e.target.reset(); } },
      h("label", { for: "group" }, t("joinGroup")),
      h("input", { id: "group", name: "group", placeholder: "#", autocapitalize: "off" }),
      h("button", { type: "submit" }, t("joinButton"))),
    h("h2", { text: t("friends") }),
    friendList,
    h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); addFriend(e.target.friend.value); e.target.reset(); } },
      h("label", { for: "friend" }, t("addFriend")),
      h("input", { id: "friend", name: "friend", autocapitalize: "off" }),
      h("button", { type: "submit" }, t("addFriendButton"))),
    sessionsPanel());

  const c = state.convs.get(state.current);
  let main;
  if (!c) {
    main = h("main", { class: "conversation empty" }, h("p", { text: t("noConversation") }));
  } else {
    const typingNow = [...c.typing.values()].filter((x) => x.until > Date.now());
    const typingLine = typingNow.length === 1 ? t("typing", { who: typingNow[0].nick }) : typingNow.length > 1 ? t("typingMany") : "";
    main = h("main", { class: "conversation" },
      h("div", { class: "title" },
        c.channel ? null : panels.avatar(state.profiles, c.name, shownName(c.name)),
        h("h2", { id: "conversation-title", text: c.channel ? c.name : shownName(c.name) }),
        c.channel && c.topic ? h("p", { class: "topic", "aria-label": t("topic") }, c.topic) : null,
        c.channel ? h("button", { type: "button", class: "secondary", "aria-expanded": state.groupOpen === c.key ? "true" : "false", onclick: () => { panels.toggleGroupPanel(state, c); render(); } }, t("groupSettings")) : null,
        c.channel ? h("button", { type: "button", class: "secondary", onclick: () => leaveGroup(c) }, t("leave")) : null),
      c.channel ? panels.groupPanel(state, c) : null,
      h("div", { id: "messages", role: "log", "aria-label": c.name, tabindex: "0", onscroll: (e) => {
        if (e.target.scrollTop < 30) { fetchOlder(c); }
      } },
        c.historyDone ? h("p", { class: "beginning", text: t("noMore") }) : h("button", { type: "button", class: "older", onclick: () => fetchOlder(c) }, t("loadOlder")),
        c.messages.map((msg) => messageItem(c, msg))),
      h("p", { class: "typing", "aria-live": "polite" }, typingLine),
      state.replyTo ? h("p", { class: "replying" },
        t("replyingTo", { nick: state.replyTo.from, text: state.replyTo.text.slice(0, 60) }),
        h("button", { type: "button", class: "secondary", onclick: () => { state.replyTo = null; render(); } }, t("cancelReply"))) : null,
      h("form", { class: "compose", onsubmit: (e) => { e.preventDefault(); const box = $("#composer"); const text = box.value; box.value = ""; sendText(text); } },
        h("label", { for: "composer", class: "visually-hidden" }, t("message")),
        h("textarea", { id: "composer", rows: "1", "aria-label": t("message"), placeholder: t("message"), oninput: typing, onkeydown: (e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); e.target.form.requestSubmit(); }
        } }),
        h("button", { type: "submit" }, t("send"))));
  }
  const members = c && c.channel
    ? h("aside", { class: "members", "aria-label": t("members") },
        h("h2", { text: `${t("members")} (${c.members.size})` }),
        h("ul", {}, [...c.members.values()].sort((a, b) => (b.prefix > a.prefix) - (b.prefix < a.prefix) || a.nick.localeCompare(b.nick)).map((mem) => {
          const f = state.friends.get(fold(mem.nick));
          return h("li", { class: f ? f.status : "online" }, panels.avatar(state.profiles, mem.nick, shownName(mem.nick)), h("span", { class: "prefix", text: mem.prefix }), shownName(mem.nick));
        })))
    : null;

  app.replaceChildren(header, h("div", { class: "layout" }, side, main, members));
  const box = $("#composer");
  if (box) {
    box.value = keepInput;
    if (hadFocus === "composer") box.focus();
  }
  if (hadFocus && hadFocus !== "composer") document.getElementById(hadFocus)?.focus();
  const sc = $("#messages");
  if (sc) {
    if (atBottom) sc.scrollTop = sc.scrollHeight;
    else sc.scrollTop = oldTop + (sc.scrollHeight - oldHeight);
  }
  document.title = unreadTotal() ? `(${unreadTotal()}) ${t("title")}` : t("title");
}

/** The account's logged-in browsers (login tokens), each revocable. */
function sessionsPanel() {
  const list = state.tokensLoaded
    ? h("ul", { id: "sessions", "aria-label": t("sessions") }, state.tokens.map((tok) => h("li", {},
        h("span", { class: "name", text: tok.label || tok.id }),
        tok.id === state.tokenId ? h("span", { class: "presence", text: ` (${t("thisBrowser")})` }) : null,
        h("span", { class: "last", text: ` ${t("since", { when: fmtTime(tok.created) })}` }),
        h("button", { type: "button", class: "secondary", "aria-label": t("revokeNamed", { name: tok.label || tok.id }), onclick: () => {
          state.conn.send(build("TOKEN", ["REVOKE", tok.id]));
        } }, t("revoke")))))
    : null;
  return h("details", { class: "sessions", open: state.sessionsOpen || null },
    h("summary", { onclick: (e) => {
      e.preventDefault();
      state.sessionsOpen = !state.sessionsOpen;
      if (state.sessionsOpen) {
        state.tokens = [];
        state.tokensLoaded = false;
        state.conn.send(build("TOKEN", ["LIST"]));
        panels.listDevices(state);
      }
      render();
    } }, t("sessions")),
    list,
    state.sessionsOpen ? panels.devicesPanel(state) : null,
    state.sessionsOpen ? profileForm() : null,
    state.sessionsOpen ? h("button", { type: "button", class: "secondary", onclick: exportData }, t("exportData")) : null,
    state.exportError ? h("p", { class: "error", role: "alert", text: state.exportError }) : null);
}

/** One's display name and avatar, shown beside one's nick to everyone. */
function profileForm() {
  const prof = state.profiles.get(fold(state.me || "")) || {};
  const set = (key, v) => state.conn.send(build("METADATA", v ? ["*", "SET", key, v] : ["*", "SET", key]));
  return h("form", { class: "profile", onsubmit: (e) => {
    e.preventDefault();
    set("display-name", $("#display-name").value.trim());
    set("avatar", $("#avatar-url").value.trim());
  } },
    h("label", { for: "display-name", text: t("displayName") }),
    h("input", { id: "display-name", value: prof["display-name"] || "", maxlength: "60", autocomplete: "nickname" }),
    h("label", { for: "avatar-url", text: t("avatarUrl") }),
    h("input", { id: "avatar-url", type: "url", value: prof.avatar || "", placeholder: "https://", autocapitalize: "off" }),
    h("button", { type: "submit", class: "secondary" }, t("save")));
}

/** Downloads everything the server keeps for this account (GET /export
 * with this browser's login token) as a JSON file. */
async function exportData() {
  const s = session();
  state.exportError = null;
  if (!s) {
    state.exportError = t("exportNeedsStay");
    return render();
  }
  try {
    const r = await fetch("/export", { headers: { Authorization: `Bearer ${s.token}` } });
    if (!r.ok) throw new Error(String(r.status));
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: `ferry-export-${s.account}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (_) {
    state.exportError = t("exportFailed");
    render();
  }
}

function key(c) {
  return `conv${state.current === c.key ? " current" : ""}${c.unread ? " unread" : ""}`;
}

function unreadTotal() {
  let n = 0;
  for (const c of state.convs.values()) n += c.unread;
  return n;
}

function messageItem(c, msg) {
  const quoted = msg.replyTo ? c.messages.find((x) => x.msgid === msg.replyTo) : null;
  return h("article", { class: `message${msg.self ? " self" : ""}${msg.pending ? " pending" : ""}${msg.notice ? " notice" : ""}`, "data-msgid": msg.msgid || "" },
    quoted ? h("blockquote", { class: "quote" }, `${quoted.from}: ${quoted.text.slice(0, 80)}`) : null,
    h("header", {},
      h("span", { class: "from", text: shownName(msg.from) }),
      h("time", { datetime: new Date(msg.time).toISOString(), text: fmtTime(msg.time) }),
      msg.pending ? h("span", { class: "unsent", text: t("unsent") }) : null,
      msg.refused ? h("span", { class: "unsent", text: msg.refused }) : null),
    msg.recalled
      ? h("p", { class: "text recalled", text: t("recalled") })
      : h("p", { class: "text" }, textWithLinks(msg.text)),
    msg.reactions.size ? h("p", { class: "reactions" }, [...msg.reactions].map(([emoji, who]) => h("span", { title: [...who].join(", ") }, `${emoji} ${who.size}`))) : null,
    msg.msgid && !msg.recalled ? h("div", { class: "actions" },
      h("button", { type: "button", class: "link", onclick: () => { state.replyTo = msg; render(); $("#composer")?.focus(); } }, t("reply")),
      h("button", { type: "button", class: "link", "aria-label": t("react"), onclick: () => react(c, msg) }, "👍"),
      msg.self ? h("button", { type: "button", class: "link", "aria-label": t("recallNamed", { text: msg.text.slice(0, 40) }), onclick: () => {
        state.conn.send(build("REDACT", [c.name, msg.msgid]));
      } }, t("recall")) : null) : null);
}

// ------------------------------------------------------------ session

// ------------------------------------------------------------ tokens

/** The stored login token, if this browser stays logged in. */
function session() {
  try {
    const s = JSON.parse(localStorage.getItem("ferry.session") || "null");
    return s && s.account && s.token ? s : null;
  } catch (_) {
    return null;
  }
}

function saveSession(s) {
  try {
    if (s) localStorage.setItem("ferry.session", JSON.stringify(s));
    else localStorage.removeItem("ferry.session");
  } catch (_) {}
}

/** What the browser is, to name its token by. */
function browserLabel() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom/.test(ua) ? "Chrome"
    : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows"
    : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

function onToken(m) {
  const p = m.params;
  if (p[0] === "NEW" && state.stay) {
    // From now on this browser logs in with the token, and the password
    // is forgotten (reconnects use the token too).
    saveSession({ account: state.account, id: p[1], token: p[2] });
    state.conn.creds.password = p[2];
    state.tokenId = p[1];
  } else if (p[0] === "ITEM") {
    state.tokens.push({ id: p[1], created: Number(p[2]), used: Number(p[3]), label: p[4] || "" });
  } else if (p[0] === "END") {
    state.tokensLoaded = true;
  } else if (p[0] === "REVOKED") {
    state.tokens = state.tokens.filter((x) => x.id !== p[1]);
    if (p[1] === state.tokenId) logout();
  }
}

function start(nick, password, register, stay = false, fromToken = null) {
  const conn = new Connection(wsUrl);
  let shown = false;
  state.stay = stay;
  state.tokenId = fromToken?.id || null;
  conn.addEventListener("status", (e) => {
    state.status = e.detail;
    if (shown) render();
  });
  conn.addEventListener("loginfailed", (e) => {
    const r = e.detail.reason;
    if (fromToken || state.tokenId) {
      // The token was revoked (or the account suspended): log in again.
      saveSession(null);
      state.tokenId = null;
      state.conn = null;
      shown = false;
      return renderLogin(r === "suspended" ? t("suspended") : t("sessionEnded"));
    }
    const key = { password: "wrongPassword", suspended: "suspended", taken: "taken", weak: "weak", badname: "badname", throttled: "throttled", register: "registerFailed", nosasl: "nosasl" }[r] || "wrongPassword";
    if (shown) {
      state.conn = null;
      shown = false;
    }
    renderLogin(t(key));
  });
  conn.addEventListener("refused", (e) => renderLogin(t("refused", { reason: e.detail.reason })));
  conn.addEventListener("loggedout", () => {
    // Another device of the account logged this one out: this browser
    // forgets its login too.
    saveSession(null);
    state.tokenId = null;
    state.conn = null;
    shown = false;
    renderLogin(t("loggedOutElsewhere"));
  });
  conn.addEventListener("registered", (e) => {
    state.me = e.detail.nick;
    state.account = nick;
    state.conn = conn;
    shown = true;
    if (e.detail.first && stay && !fromToken) conn.send(build("TOKEN", ["NEW", browserLabel()]));
    // Friends (the stored MONITOR list), our +g, recent conversations.
    if (conn.caps.has("draft/metadata-3")) conn.send("METADATA * SUB display-name avatar");
    conn.send("MONITOR L");
    conn.send("MONITOR S");
    conn.send(build("MODE", [state.me]));
    conn.send(build("CHATHISTORY", ["TARGETS", timestampRef(Date.now() - 30 * 86400e3), timestampRef(Date.now() + 60e3), "50"]));
    for (const ch of savedChannels()) conn.send(build("JOIN", [ch]));
    for (const c of state.convs.values()) {
      // After a reconnect: what was missed comes again (deduplicated).
      c.fetched = false;
      if (c.channel && c.joined) conn.send(build("JOIN", [c.name]));
      else if (!c.channel && c.messages.length) fetchLatest(c);
    }
    if ("Notification" in window && Notification.permission === "default") {
      document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
    }
    render();
  });
  conn.addEventListener("flushed", () => {
    for (const c of state.convs.values()) for (const m of c.messages) m.unsentNow = false;
    render();
  });
  conn.addEventListener("message", (e) => onMessage(e.detail));
  state.conn = null;
  conn.start(nick, password, register);
  $("#login-error") && ($("#login-error").textContent = t("connecting"));
  window.ferry = { state, conn };
}

function logout() {
  const s = session();
  if (s && state.conn) state.conn.raw(build("TOKEN", ["REVOKE", s.id]));
  saveSession(null);
  state.tokenId = null;
  state.conn?.stop();
  state.conn = null;
  state.convs.clear();
  state.order = [];
  state.friends.clear();
  state.requests.clear();
  state.current = null;
  document.body.classList.remove("in-conversation");
  renderLogin();
}

setLanguage(language());
setInterval(() => {
  // Typing indicators expire.
  const c = state.convs.get(state.current);
  if (c && [...c.typing.values()].some((x) => x.until <= Date.now())) {
    for (const [k, v] of c.typing) if (v.until <= Date.now()) c.typing.delete(k);
    render();
  }
}, 2000);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current) {
    const c = state.convs.get(state.current);
    if (c) {
      c.unread = 0;
      c.mention = false;
      render();
    }
  }
});
const saved = session();
if (saved) {
  renderLogin(t("connecting"));
  start(saved.account, saved.token, false, true, saved);
} else {
  renderLogin();
}
