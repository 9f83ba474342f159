// The page's panels beyond the chat itself: avatars, the list of this
// account's connected devices (NickServ CLIENTS), and a group's settings
// and access list (channel modes, TOPIC, ChanServ INFO, AMODE, SET).
//
// The services answer in NOTICEs (as Ergo's do, which IRC clients show
// as text); the panels read the few answers they asked for by their
// shape, and show any other answer as the panel's last word.

import { build, fold } from "./irc.js";
import { t } from "./i18n.js";
import { h } from "./dom.js";

// ------------------------------------------------------------ avatars

/** Whether an avatar URL may be shown: https, or from this page's own
 * server. Loaded with no referrer; anything else (http elsewhere,
 * javascript:, data:) is never put in the page. */
export function avatarAllowed(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === "https:" || u.origin === location.origin;
  } catch (_) {
    return false;
  }
}

/** A user's picture: its avatar (METADATA `avatar`), or its initial. */
export function avatar(profiles, nick, shown) {
  const url = profiles.get(fold(nick))?.avatar;
  if (url && avatarAllowed(url)) {
    return h("img", { class: "avatar", src: url, alt: "", referrerpolicy: "no-referrer", loading: "lazy", "data-nick": nick });
  }
  const letter = [...(shown || nick)][0] || "?";
  return h("span", { class: "avatar initial", "aria-hidden": "true", text: letter.toUpperCase() });
}

// ------------------------------------------------------------ devices

/** Asks NickServ for this account's connections. */
export function listDevices(state) {
  state.devices = null;
  state.conn?.send(build("PRIVMSG", ["NickServ", "CLIENTS LIST"]));
}

/** A NOTICE from NickServ; true if a panel took it. */
function onNickServ(state, text) {
  if (/ is connected \d+ time\(s\):$/.test(text)) {
    state.devices = [];
    return true;
  }
  const d = /^(\d+): (.+?)( \(this one\))?$/.exec(text);
  if (d && Array.isArray(state.devices)) {
    state.devices.push({ n: Number(d[1]), text: d[2], self: !!d[3] });
    return true;
  }
  if (/ connection\(s\) logged out\.$/.test(text)) {
    listDevices(state);
    return true;
  }
  return false;
}

/** The account's connected devices (this one marked), each but this one
 * with a button that logs it out. */
export function devicesPanel(state) {
  if (!Array.isArray(state.devices)) return null;
  return h("section", { class: "devices" },
    h("h3", { text: t("devices") }),
    h("ul", { id: "devices", "aria-label": t("devices") }, state.devices.map((d) => h("li", {},
      h("span", { class: "name", text: d.text }),
      d.self ? h("span", { class: "presence", text: ` (${t("thisDevice")})` }) : h("button", {
        type: "button",
        class: "secondary",
        "aria-label": t("logoutDevice", { n: d.n }),
        onclick: () => state.conn.send(build("PRIVMSG", ["NickServ", `CLIENTS LOGOUT ${d.n}`])),
      }, t("revoke"))))));
}

// ------------------------------------------------------------ groups

/** A group's settings as the panel knows them. */
function group(c) {
  if (!c.group) c.group = { registered: undefined, founder: "", access: [], history: "", notice: "" };
  return c.group;
}

/** Opens (or closes) a group's settings: asks for its modes, its
 * registration and, for its operators, its ChanServ settings. */
export function toggleGroupPanel(state, c) {
  state.groupOpen = state.groupOpen === c.key ? null : c.key;
  if (state.groupOpen) refreshGroup(state, c);
}

function refreshGroup(state, c) {
  const g = group(c);
  g.access = [];
  state.conn.send(build("MODE", [c.name]));
  state.conn.send(build("PRIVMSG", ["ChanServ", `INFO ${c.name}`]));
}

/** A NOTICE from ChanServ; true if the open group panel took it. */
function onChanServ(state, text) {
  const c = state.groupOpen && state.convs.get(state.groupOpen);
  if (!c) return false;
  const g = group(c);
  let m;
  if ((m = /^(\S+) is registered; its founder is (\S+)\.$/.exec(text)) && fold(m[1]) === c.key) {
    g.registered = true;
    g.founder = m[2];
    g.access = [];
    const me = c.members.get(fold(state.me));
    if (me?.prefix.includes("@")) state.conn.send(build("PRIVMSG", ["ChanServ", `SET ${c.name}`]));
  } else if ((m = /^ {2}(\S+): \+([ov])$/.exec(text))) {
    g.access.push({ account: m[1], level: m[2] });
  } else if ((m = /^ {2}HISTORY: (\S+)/.exec(text))) {
    g.history = m[1];
  } else if (/^Settings of \S+:$/.test(text) || /^ {2}QUERY-CUTOFF: /.test(text)) {
    // the rest of SET's answer
  } else if ((m = /^(\S+) (is not registered\.|does not exist)/.exec(text)) && fold(m[1]) === c.key) {
    g.registered = false;
    g.founder = "";
    g.access = [];
  } else {
    // An answer to a change: shown, and the panel asks again.
    g.notice = text;
    refreshGroup(state, c);
  }
  return true;
}

/** A NOTICE from a service: the panels' answers. */
export function onServiceNotice(state, m) {
  const text = m.params[1] ?? "";
  if (m.nick === "NickServ") return onNickServ(state, text);
  if (m.nick === "ChanServ") return onChanServ(state, text);
  return false;
}

/** RPL_CHANNELMODEIS and MODE on a channel: the group's mode letters,
 * and its members' status. */
export function onChannelMode(c, modes, args) {
  const set = new Set(c.modes || "");
  let on = true;
  let i = 0;
  for (const ch of modes) {
    if (ch === "+" || ch === "-") { on = ch === "+"; continue; }
    if ("ov".includes(ch)) {
      const nick = args[i++];
      const mem = nick && c.members.get(fold(nick));
      if (mem) {
        const sym = ch === "o" ? "@" : "+";
        mem.prefix = on ? (mem.prefix.includes(sym) ? mem.prefix : sym === "@" ? `@${mem.prefix}` : `${mem.prefix}+`) : mem.prefix.replace(sym, "");
      }
      continue;
    }
    if ("beIqa".includes(ch)) { i++; continue; }
    if (ch === "k" || (ch === "l" && on)) i++;
    if (on) set.add(ch);
    else set.delete(ch);
  }
  c.modes = [...set].join("");
}

const TOGGLES = [["i", "inviteOnly"], ["m", "moderated"], ["t", "topicLock"], ["C", "noCtcp"], ["u", "auditorium"]];

/** A group's settings: its topic, modes, registration, history and
 * access list, changeable by its operators. */
export function groupPanel(state, c) {
  if (state.groupOpen !== c.key) return null;
  const g = group(c);
  const me = c.members.get(fold(state.me));
  const op = !!me?.prefix.includes("@");
  const cs = (cmd) => state.conn.send(build("PRIVMSG", ["ChanServ", cmd]));
  const modes = c.modes || "";
  return h("section", { class: "group-settings", "aria-label": t("groupSettings") },
    h("h3", { text: t("groupSettings") }),
    h("form", { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      state.conn.send(build("TOPIC", [c.name, e.target.topic.value]));
    } },
      h("label", { for: "group-topic", text: t("topic") }),
      h("input", { id: "group-topic", name: "topic", value: c.topic || "", disabled: !op && modes.includes("t") }),
      h("button", { type: "submit", class: "secondary" }, t("save"))),
    h("ul", { class: "modes" }, TOGGLES.map(([letter, name]) => h("li", {},
      h("label", {},
        h("input", { type: "checkbox", "data-mode": letter, checked: modes.includes(letter), disabled: !op, onchange: (e) => {
          state.conn.send(build("MODE", [c.name, `${e.target.checked ? "+" : "-"}${letter}`]));
        } }),
        t(name))))),
    g.registered === undefined ? null : g.registered
      ? h("div", { class: "registration" },
          h("p", { class: "registered", text: t("registeredTo", { founder: g.founder }) }),
          op ? h("label", {},
            h("input", { type: "checkbox", id: "group-history", checked: g.history !== "off", onchange: (e) => cs(`SET ${c.name} HISTORY ${e.target.checked ? "ON" : "OFF"}`) }),
            t("keepHistory")) : null,
          h("h4", { text: t("accessList") }),
          h("ul", { id: "access-list", "aria-label": t("accessList") },
            h("li", {}, h("span", { class: "name", text: g.founder }), h("span", { class: "presence", text: ` ${t("founder")}` })),
            g.access.map((a) => h("li", {},
              h("span", { class: "name", text: a.account }),
              h("span", { class: "presence", text: ` ${t(a.level === "o" ? "levelOp" : "levelVoice")}` }),
              op ? h("button", { type: "button", class: "secondary", "aria-label": t("removeAccess", { account: a.account }), onclick: () => cs(`AMODE ${c.name} -${a.level} ${a.account}`) }, "×") : null))),
          op ? h("form", { class: "inline", onsubmit: (e) => {
            e.preventDefault();
            const who = e.target.account.value.trim();
            if (who) cs(`AMODE ${c.name} +${e.target.level.value} ${who}`);
            e.target.reset();
          } },
            h("label", { for: "access-account", text: t("addAccess") }),
            h("input", { id: "access-account", name: "account", autocapitalize: "off" }),
            h("select", { name: "level", "aria-label": t("level") },
              h("option", { value: "o" }, t("levelOp")),
              h("option", { value: "v" }, t("levelVoice"))),
            h("button", { type: "submit", class: "secondary" }, t("add"))) : null)
      : h("div", { class: "registration" },
          h("p", { text: t("notRegistered") }),
          op ? h("button", { type: "button", onclick: () => cs(`REGISTER ${c.name}`) }, t("registerGroup")) : null),
    g.notice ? h("p", { class: "service", role: "status", text: g.notice }) : null);
}
