// IRC lines for the web chat: parsing and building them (message tags
// with their escaping, RFC 1459 parameters), and the small pieces of IRC
// the page needs to reason about (casefolding for comparisons, SASL PLAIN,
// server-time). No DOM here: node --test runs this file's tests.

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

/** A tag value as the wire carries it, unescaped (message-tags). */
export function unescapeTag(v) {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === "\\" && i + 1 < v.length) {
      const next = v[++i];
      out += TAG_UNESCAPES[next] ?? next;
    } else if (c !== "\\") {
      out += c;
    }
  }
  return out;
}

/** A tag value escaped for the wire. */
export function escapeTag(v) {
  return String(v).replace(/[\\; \r\n]/g, (c) =>
    ({ "\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n" })[c],
  );
}

/**
 * Parses one line (without CR/LF): { tags, source, nick, command, params }.
 * `nick` is the source's nick (before `!`), `command` upper-case.
 */
export function parse(line) {
  let rest = line;
  const tags = {};
  if (rest.startsWith("@")) {
    const sp = rest.indexOf(" ");
    const raw = sp < 0 ? rest.slice(1) : rest.slice(1, sp);
    rest = sp < 0 ? "" : rest.slice(sp + 1);
    for (const t of raw.split(";")) {
      if (!t) continue;
      const eq = t.indexOf("=");
      if (eq < 0) tags[t] = "";
      else tags[t.slice(0, eq)] = unescapeTag(t.slice(eq + 1));
    }
  }
  rest = rest.replace(/^ +/, "");
  let source = "";
  if (rest.startsWith(":")) {
    const sp = rest.indexOf(" ");
    source = sp < 0 ? rest.slice(1) : rest.slice(1, sp);
    rest = sp < 0 ? "" : rest.slice(sp + 1);
  }
  const params = [];
  let command = "";
  while (rest.length) {
    rest = rest.replace(/^ +/, "");
    if (!rest.length) break;
    if (command && rest.startsWith(":")) {
      params.push(rest.slice(1));
      break;
    }
    const sp = rest.indexOf(" ");
    const word = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? "" : rest.slice(sp + 1);
    if (!command) command = word.toUpperCase();
    else params.push(word);
  }
  const bang = source.indexOf("!");
  const nick = bang < 0 ? source : source.slice(0, bang);
  return { tags, source, nick, command, params };
}

/**
 * Builds a line: `build("PRIVMSG", ["#chan", "hi there"], { "+typing": "active" })`.
 * The last parameter gets a `:` when it needs one.
 */
export function build(command, params = [], tags = null) {
  let line = "";
  if (tags) {
    const t = Object.entries(tags)
      .map(([k, v]) => (v === "" || v == null ? k : `${k}=${escapeTag(v)}`))
      .join(";");
    if (t) line += `@${t} `;
  }
  line += command;
  params.forEach((p, i) => {
    const s = String(p).replace(/[\r\n]/g, " ");
    const last = i === params.length - 1;
    if (last && (s === "" || s.includes(" ") || s.startsWith(":"))) line += ` :${s}`;
    else line += ` ${s}`;
  });
  return line;
}

/** rfc8265-ish folding for comparing nicks and channels in the page
 * (the server's own folding decides; this only has to agree on case). */
export function fold(name) {
  return String(name).normalize("NFKC").toLowerCase();
}

export function isChannel(target) {
  return typeof target === "string" && target.startsWith("#");
}

/** SASL PLAIN's payload, base64 of UTF-8 (RFC 4616). */
export function saslPlain(account, password) {
  const bytes = new TextEncoder().encode(`${account}\0${account}\0${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The `AUTHENTICATE` lines for a payload: 400-byte pieces, and `+`
 * after a piece of exactly 400 (or for an empty payload). */
export function authenticateLines(payload) {
  const out = [];
  for (let i = 0; i < payload.length; i += 400) out.push(`AUTHENTICATE ${payload.slice(i, i + 400)}`);
  if (payload.length % 400 === 0) out.push("AUTHENTICATE +");
  return out;
}

/** A message's time: its `time` tag (server-time), else now. */
export function messageTime(tags, now = Date.now()) {
  const t = tags && tags.time ? Date.parse(tags.time) : NaN;
  return Number.isNaN(t) ? now : t;
}

/** `timestamp=...` for CHATHISTORY. */
export function timestampRef(ms) {
  return `timestamp=${new Date(ms).toISOString()}`;
}

/**
 * Splits text into the pieces the page shows: plain text and links
 * (http, https). Never HTML: the caller makes text nodes and anchors.
 */
export function linkify(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"'`]+/giu;
  let at = 0;
  for (const m of text.matchAll(re)) {
    let url = m[0].replace(/[.,;:!?)\]}'"，。！？）]+$/u, "");
    if (m.index > at) out.push({ text: text.slice(at, m.index) });
    out.push({ link: url });
    at = m.index + url.length;
  }
  if (at < text.length) out.push({ text: text.slice(at) });
  return out;
}

/** Reconnect delays: 1, 2, 4, 8, 16, then every 30 s. */
export function backoff(attempt) {
  return Math.min(30, 2 ** Math.max(0, attempt)) * 1000;
}

/** Whether `text` mentions `nick` as a word (any case). */
export function mentions(text, nick) {
  if (!nick) return false;
  const t = fold(text);
  const n = fold(nick);
  let i = t.indexOf(n);
  while (i >= 0) {
    const before = i === 0 ? "" : t[i - 1];
    const after = t[i + n.length] ?? "";
    if (!/[\p{L}\p{N}_]/u.test(before) && !/[\p{L}\p{N}_]/u.test(after)) return true;
    i = t.indexOf(n, i + 1);
  }
  return false;
}
