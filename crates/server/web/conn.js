// The page's connection to ferry: IRC over a WebSocket (text.ircv3.net),
// registration with SASL PLAIN (or REGISTER for a new account), and
// reconnecting by itself — after 1, 2, 4, 8, 16, then every 30 s — with
// every line typed meanwhile kept and sent once logged in again.
//
// The password lives in this object's memory only, for reconnects; it is
// never written to browser storage.

import { parse, build, saslPlain, authenticateLines, backoff } from "./irc.js";

/** Capabilities the page asks for when the server offers them. */
export const WANTED = [
  "message-tags", "server-time", "echo-message", "batch", "labeled-response",
  "sasl", "draft/account-registration", "draft/chathistory", "extended-monitor",
  "away-notify", "account-notify", "multi-prefix", "cap-notify", "standard-replies",
  "draft/message-redaction", "draft/read-marker", "draft/metadata-3",
];

export class Connection extends EventTarget {
  /** `url`: the WebSocket's, `ws[s]://host/`. */
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.creds = null;
    this.caps = new Set();
    this.offered = new Set();
    this.registered = false;
    this.nick = "";
    this.queue = [];
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.everRegistered = false;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Logs in as `account` (or registers it first, with `register`). */
  start(account, password, register = false) {
    this.creds = { account, password, register };
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Logs out: QUIT, and no reconnect. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.raw("QUIT :Logged out");
    }
    this.ws?.close();
    this.ws = null;
    this.creds = null;
    this.queue = [];
    this.registered = false;
  }

  open() {
    clearTimeout(this.timer);
    this.registered = false;
    this.caps = new Set();
    this.offered = new Set();
    this.emit("status", { state: "connecting" });
    let ws;
    try {
      ws = new WebSocket(this.url, ["text.ircv3.net", "binary.ircv3.net"]);
    } catch (e) {
      return this.retry();
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      const nick = this.creds.account;
      this.nick = nick;
      this.raw("CAP LS 302");
      this.raw(build("NICK", [nick]));
      this.raw(build("USER", [nick, "0", "*", nick]));
    };
    ws.onmessage = (ev) => {
      const text = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
      this.line(text);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      const was = this.registered;
      this.registered = false;
      if (this.stopped) return;
      this.emit("disconnected", { wasRegistered: was });
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    const delay = backoff(this.attempt++);
    this.emit("status", { state: "reconnecting", inMs: delay });
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Sends now, whatever the state (registration lines). */
  raw(line) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(line);
  }

  /** Sends once logged in: lines typed while away wait in order. Returns
   * whether it went out now. */
  send(line) {
    if (this.registered) {
      this.raw(line);
      return true;
    }
    this.queue.push(line);
    return false;
  }

  line(text) {
    const m = parse(text);
    const p = m.params;
    switch (m.command) {
      case "PING":
        this.raw(build("PONG", p));
        return;
      case "CAP":
        return this.cap(p);
      case "AUTHENTICATE":
        if (p[0] === "+" && this.creds) {
          for (const l of authenticateLines(saslPlain(this.creds.account, this.creds.password))) this.raw(l);
        }
        return;
      case "903": // SASL success
        this.raw("CAP END");
        return;
      case "904":
      case "905":
      case "906": {
        const suspended = /suspended/i.test(p[p.length - 1] || "");
        this.fail(suspended ? "suspended" : "password");
        return;
      }
      case "REGISTER":
        if (p[0] === "SUCCESS") {
          this.creds.register = false;
          this.raw("CAP END");
        }
        return;
      case "FAIL":
        if (p[0] === "REGISTER") {
          const code = p[1];
          this.fail(
            code === "ACCOUNT_EXISTS" ? "taken"
              : code === "WEAK_PASSWORD" ? "weak"
              : code === "BAD_ACCOUNT_NAME" ? "badname"
              : code === "TEMPORARILY_UNAVAILABLE" ? "throttled"
              : "register",
          );
          return;
        }
        break;
      case "433": // nick in use (another session): take the next free one
        if (!this.registered) {
          this.nick = `${this.creds.account}_${Math.floor(Math.random() * 1000)}`;
          this.raw(build("NICK", [this.nick]));
          return;
        }
        break;
      case "001":
        this.nick = p[0];
        this.registered = true;
        this.attempt = 0;
        const first = !this.everRegistered;
        this.everRegistered = true;
        this.emit("status", { state: "online" });
        this.emit("registered", { first, nick: this.nick });
        // What was typed while away goes out now, in order.
        const waiting = this.queue;
        this.queue = [];
        for (const l of waiting) this.raw(l);
        this.emit("flushed", { lines: waiting });
        break;
      case "ERROR":
        if (!this.registered && /too many|throttl|banned|K-lined|D-lined/i.test(p[0] || "")) {
          this.emit("refused", { reason: p[0] });
        } else if (/Logged out from another device/.test(p[0] || "")) {
          // Ended from another device (NickServ CLIENTS LOGOUT): no reconnect.
          this.stopped = true;
          this.emit("loggedout", {});
        }
        break;
      case "NICK":
        if (m.nick === this.nick) this.nick = p[0];
        break;
    }
    this.emit("message", m);
  }

  cap(p) {
    const sub = p[1];
    if (sub === "LS" || sub === "NEW") {
      const more = p[2] === "*";
      const list = more ? p[3] : p[2];
      for (const item of (list || "").split(" ")) {
        if (item) this.offered.add(item.split("=")[0]);
      }
      if (more) return;
      const want = WANTED.filter((c) => this.offered.has(c) && !this.caps.has(c));
      if (sub === "LS") {
        if (want.length) this.raw(build("CAP", ["REQ", want.join(" ")]));
        else this.raw("CAP END");
      } else if (want.length) {
        this.raw(build("CAP", ["REQ", want.join(" ")]));
      }
    } else if (sub === "ACK") {
      for (const c of (p[2] || "").split(" ")) if (c) this.caps.add(c.replace(/^-/, ""));
      if (this.registered) return;
      if (this.creds.register && this.caps.has("draft/account-registration")) {
        this.raw(build("REGISTER", [this.creds.account, "*", this.creds.password]));
      } else if (this.caps.has("sasl")) {
        this.raw("AUTHENTICATE PLAIN");
      } else {
        this.fail("nosasl");
      }
    } else if (sub === "NAK") {
      this.raw("CAP END");
    }
  }

  fail(reason) {
    // Wrong credentials are not retried: the user must say again.
    this.stopped = true;
    clearTimeout(this.timer);
    this.emit("loginfailed", { reason });
    this.ws?.close();
    this.ws = null;
  }
}
