//! Registering with the server: capability negotiation (CAP LS 302),
//! SASL PLAIN, a free nick, ISUPPORT, and what follows the welcome:
//! rejoining channels, the friend list, account registration.

use base64::Engine;
use ferry_proto::Message;

use super::{Chat, Conn, Kind};

/// Capabilities `ferry chat` uses when offered. Each changes what the
/// server sends and the state understands all of them.
const WANTED: &[&str] = &[
    "server-time",
    "message-tags",
    "echo-message",
    "batch",
    "draft/chathistory",
    "draft/multiline",
    "draft/message-redaction",
    "draft/read-marker",
    "draft/metadata-3",
    "draft/metadata-2",
    "away-notify",
    "account-notify",
    "extended-join",
    "multi-prefix",
    "cap-notify",
    "chghost",
    "invite-notify",
    "extended-monitor",
    "standard-replies",
];

impl Chat {
    pub(super) fn start_registration(&mut self) {
        self.send("CAP LS 302");
        let nick = self.me.nick.clone();
        self.send(format!("NICK {nick}"));
        let user = if self.me.user.is_empty() {
            "ferry"
        } else {
            &self.me.user
        };
        let realname = if self.me.realname.is_empty() {
            "ferry chat"
        } else {
            &self.me.realname
        };
        let line = format!("USER {user} 0 * :{realname}");
        self.send(line);
    }

    fn wants_sasl(&self) -> bool {
        self.me.account.is_some() && self.me.password.is_some() && !self.me.register
    }

    fn cap_end(&mut self) {
        if !self.cap_done {
            self.cap_done = true;
            self.send("CAP END");
        }
    }

    pub(super) fn on_cap(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        let sub = p.get(1).copied().unwrap_or("");
        let list = p.last().copied().unwrap_or("");
        let caps = list.split(' ').filter(|c| !c.is_empty());
        match sub {
            "LS" | "NEW" => {
                for c in caps {
                    let (name, value) = match c.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_string())),
                        None => (c, None),
                    };
                    self.srv.offered.insert(name.to_string(), value);
                }
                if sub == "LS" && p.get(2) == Some(&"*") {
                    return;
                }
                let mut want: Vec<&str> = WANTED
                    .iter()
                    .copied()
                    .filter(|c| self.srv.offered.contains_key(*c) && !self.has(c))
                    // One name of metadata: the newer where both are.
                    .filter(|c| {
                        *c != "draft/metadata-2"
                            || !self.srv.offered.contains_key("draft/metadata-3")
                    })
                    .collect();
                if sub == "LS" && self.wants_sasl() {
                    if self.srv.offered.contains_key("sasl") {
                        want.push("sasl");
                    } else {
                        self.alert(now, "this server does not offer SASL: not logged in");
                    }
                }
                if want.is_empty() {
                    if sub == "LS" {
                        self.cap_end();
                    }
                } else {
                    self.send(format!("CAP REQ :{}", want.join(" ")));
                }
            }
            "ACK" => {
                for c in caps {
                    match c.strip_prefix('-') {
                        Some(gone) => {
                            self.srv.caps.remove(gone);
                        }
                        None => {
                            self.srv.caps.insert(c.to_string());
                        }
                    }
                }
                if self.cap_done {
                    return;
                }
                if self.has("sasl") && self.wants_sasl() {
                    self.send("AUTHENTICATE PLAIN");
                } else {
                    self.cap_end();
                }
            }
            "NAK" => self.cap_end(),
            "DEL" => {
                for c in caps {
                    self.srv.caps.remove(c);
                    self.srv.offered.remove(c);
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_authenticate(&mut self, m: &Message<'_>) {
        if m.param(0) != Some("+") {
            return;
        }
        let account = self.me.account.clone().unwrap_or_default();
        let password = self.me.password.clone().unwrap_or_default();
        let blob =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{account}\0{password}"));
        for chunk in blob.as_bytes().chunks(400) {
            let chunk = String::from_utf8_lossy(chunk).into_owned();
            self.send(format!("AUTHENTICATE {chunk}"));
        }
        if blob.len() % 400 == 0 {
            self.send("AUTHENTICATE +");
        }
    }

    /// 900, 903, 90x: the login's outcome.
    pub(super) fn on_sasl(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        match m.command {
            "900" => {
                let account = p.get(2).copied().unwrap_or("").to_string();
                self.info(0, now, format!("logged in as {account}"));
                self.account = Some(account);
            }
            "901" => self.account = None,
            "903" => self.cap_end(),
            _ => {
                let text = p.last().copied().unwrap_or("");
                let account = self.me.account.clone().unwrap_or_default();
                self.alert(now, format!("login to account {account} failed: {text}"));
                self.cap_end();
            }
        }
    }

    /// 005: what the server supports.
    pub(super) fn on_isupport(&mut self, m: &Message<'_>) {
        let p = m.params();
        for token in p.iter().skip(1).take(p.len().saturating_sub(2)) {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            match key {
                "CHANTYPES" => self.srv.chantypes = value.to_string(),
                "NETWORK" => self.srv.network = Some(value.to_string()),
                "CASEMAPPING" => self.srv.casemapping = value.to_ascii_lowercase(),
                "MONITOR" => self.srv.monitor = true,
                "CALLERID" | "ACCEPT" => self.srv.callerid = true,
                "PREFIX" => {
                    if let Some((modes, symbols)) =
                        value.strip_prefix('(').and_then(|v| v.split_once(')'))
                    {
                        self.srv.prefix = modes.chars().zip(symbols.chars()).collect();
                    }
                }
                _ => {}
            }
        }
    }

    /// 001: registered under the nick the server gave.
    pub(super) fn on_welcome(&mut self, m: &Message<'_>, now: i64) {
        if let Some(n) = m.param(0) {
            self.nick = n.to_string();
        }
        self.srv.name = m.source.map(String::from);
        self.cap_done = true;
        let text = m.params().last().copied().unwrap_or("").to_string();
        self.info(0, now, text);
    }

    /// 432/433/436/437 before the welcome: try another nick.
    pub(super) fn on_nick_refused(&mut self, m: &Message<'_>, now: i64) {
        let text = m.params().last().copied().unwrap_or("").to_string();
        let tried = m.param(1).unwrap_or("").to_string();
        if self.registered {
            self.alert(now, format!("nick {tried}: {text}"));
            return;
        }
        self.nick_tries += 1;
        let next = match self.nick_tries {
            // Registration cannot finish without a nick: after a few
            // taken ones (or an invalid one), one the server will take.
            n if n > 6 => return self.alert(now, format!("nick {tried}: {text}")),
            n if n > 3 || m.command == "432" => format!("ferry{}", now.rem_euclid(100_000)),
            n => format!("{}{}", self.me.nick, "_".repeat(n as usize)),
        };
        self.info(0, now, format!("nick {tried}: {text}; trying {next}"));
        self.send(format!("NICK {next}"));
    }

    /// The welcome burst is over (end of MOTD): rejoin, follow friends,
    /// register the account if asked.
    pub(super) fn on_registered(&mut self, now: i64) {
        if self.registered {
            return;
        }
        self.registered = true;
        self.conn = Conn::Online;
        self.notice = None;
        if self.me.register {
            let password = self.me.password.clone().unwrap_or_default();
            self.send(format!("REGISTER * * {password}"));
        }
        let channels: Vec<(String, Option<String>)> = self
            .buffers
            .iter()
            .filter(|b| b.kind == Kind::Channel && b.joined)
            .map(|b| (b.name.clone(), b.key.clone()))
            .collect();
        for (name, key) in channels {
            let f = self.fold(&name);
            self.join_wanted.remove(&f);
            match key {
                Some(k) => self.send(format!("JOIN {name} {k}")),
                None => self.send(format!("JOIN {name}")),
            }
        }
        if self.srv.monitor {
            let known: Vec<String> = self.friends.values().map(|f| f.nick.clone()).collect();
            if !known.is_empty() {
                self.send(format!("MONITOR + {}", known.join(",")));
            }
            self.send("MONITOR L");
            self.send("MONITOR S");
        }
        // Direct conversations open from before a reconnect get what was
        // said meanwhile.
        let queries: Vec<usize> = (0..self.buffers.len())
            .filter(|&i| self.buffers[i].kind == Kind::Query)
            .collect();
        for i in queries {
            self.fetch_latest(i);
        }
        self.im_registered();
        let who = match &self.account {
            Some(a) => format!("{} (account {a})", self.nick),
            None => self.nick.clone(),
        };
        self.info(0, now, format!("ready as {who}"));
    }

    /// REGISTER's answer (draft/account-registration).
    pub(super) fn on_register_reply(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        match p.first().copied() {
            Some("SUCCESS") => {
                let account = p.get(1).copied().unwrap_or("").to_string();
                self.me.register = false;
                self.me.account = Some(account.clone());
                self.info(0, now, format!("account {account} registered"));
                self.notice = Some(format!("account {account} registered and logged in"));
            }
            Some("VERIFICATION_REQUIRED") => {
                self.me.register = false;
                let text = p.last().copied().unwrap_or("");
                self.alert(
                    now,
                    format!("account registration needs verification: {text}"),
                );
            }
            _ => {}
        }
    }
}
