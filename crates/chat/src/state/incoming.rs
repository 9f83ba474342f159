//! Lines from the server: each goes to the conversation it belongs to.

use ferry_proto::Message;

use super::{nick_of, Batch, Chat, Friend, Kind, Line, Typing, What, TYPING_SHOWN_MS};

/// How a line reached us.
#[derive(Clone, Copy, Default)]
struct From {
    /// In a chathistory batch.
    history: bool,
    /// In the answer to history we asked for: not new to the user.
    requested: bool,
}

impl Chat {
    /// One line from the server (already decoded, without CR LF).
    pub fn on_line(&mut self, raw: &str, now: i64) {
        let Ok(m) = Message::parse(raw) else { return };
        if let Some(id) = m.tag("batch") {
            if let Some(b) = self.batches.get_mut(id.as_ref()) {
                b.lines.push(raw.to_string());
                return;
            }
        }
        self.handle(&m, From::default(), now);
    }

    fn handle(&mut self, m: &Message<'_>, from: From, now: i64) {
        let p = m.params();
        let last = p.last().copied().unwrap_or("");
        match m.command {
            "PING" => self.send(format!("PONG :{last}")),
            "CAP" => self.on_cap(m, now),
            "AUTHENTICATE" => self.on_authenticate(m),
            "900" | "901" | "902" | "903" | "904" | "905" | "906" | "908" => self.on_sasl(m, now),
            "001" => self.on_welcome(m, now),
            "005" => self.on_isupport(m),
            "376" | "422" => self.on_registered(now),
            "432" | "433" | "436" | "437" => self.on_nick_refused(m, now),
            "BATCH" => self.on_batch(m, now),
            "PRIVMSG" | "NOTICE" => self.on_talk(m, from, now),
            "TAGMSG" => self.on_tagmsg(m, now),
            "REDACT" => self.on_redact(m),
            "METADATA" | "761" | "766" => self.on_metadata(m, now),
            "MARKREAD" => self.on_markread(m),
            "324" => self.on_channel_modes(m, now),
            "JOIN" => self.on_join(m, now),
            "PART" => self.on_part(m, now),
            "KICK" => self.on_kick(m, now),
            "QUIT" => self.on_quit(m, now),
            "NICK" => self.on_nick(m, now),
            "TOPIC" => {
                let who = nick_of(m.source.unwrap_or(""));
                let Some(i) = self.find(p.first().copied().unwrap_or("")) else {
                    return;
                };
                self.buffers[i].topic = Some(last.to_string());
                self.info(i, time_of(m, now), format!("{who} set the topic: {last}"));
            }
            "332" => {
                let Some(i) = self.find(p.get(1).copied().unwrap_or("")) else {
                    return;
                };
                self.buffers[i].topic = Some(last.to_string());
                self.info(i, now, format!("topic: {last}"));
            }
            "353" => self.on_names(m),
            "MODE" => self.on_mode(m, now),
            "INVITE" => {
                let who = nick_of(m.source.unwrap_or(""));
                let chan = p.get(1).copied().unwrap_or("");
                if self.same(p.first().copied().unwrap_or(""), &self.nick) {
                    self.alert(now, format!("{who} invites you to {chan}: /join {chan}"));
                }
            }
            "AWAY" => {
                let who = nick_of(m.source.unwrap_or("")).to_string();
                let key = self.fold(&who);
                if let Some(f) = self.friends.get_mut(&key) {
                    f.away = !p.is_empty();
                }
            }
            "730" | "731" | "732" => self.on_monitor(m),
            "734" => self.alert(now, format!("friend list full: {last}")),
            "718" => self.on_friend_request(m, now),
            "716" | "717" | "301" => {
                let who = p.get(1).copied().unwrap_or("");
                let i = match self.find(who) {
                    Some(i) => i,
                    None => self.active,
                };
                self.info(i, now, format!("{who} {last}"));
            }
            "REGISTER" => self.on_register_reply(m, now),
            "FAIL" | "WARN" | "NOTE" => {
                let cmd = p.first().copied().unwrap_or("");
                self.alert(now, format!("{cmd}: {last}"));
            }
            "ERROR" => self.info(0, now, format!("server: {last}")),
            c if is_numeric(c) => self.on_numeric(m, now),
            _ => {}
        }
    }

    fn on_numeric(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        // Ends of lists and details the state already took in; a server
        // without CAP says so to our CAP LS.
        if matches!(m.command, "366" | "333" | "329" | "733")
            || (m.command == "421" && p.get(1) == Some(&"CAP"))
        {
            return;
        }
        let rest = p.get(1..).unwrap_or(&[]);
        if !m.command.starts_with(['4', '5']) {
            return self.info(0, now, rest.join(" "));
        }
        // `<me> <what> :<why>` → "what: why"
        let text = match rest.split_last() {
            Some((why, what)) if !what.is_empty() => format!("{}: {why}", what.join(" ")),
            _ => rest.join(" "),
        };
        self.alert(now, text);
    }

    fn on_batch(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        let Some(r) = p.first() else { return };
        if let Some(id) = r.strip_prefix('+') {
            self.batches.insert(
                id.to_string(),
                Batch {
                    kind: p.get(1).copied().unwrap_or("").to_string(),
                    params: p.iter().skip(2).map(|s| s.to_string()).collect(),
                    lines: Vec::new(),
                },
            );
            return;
        }
        let Some(b) = r.strip_prefix('-').and_then(|id| self.batches.remove(id)) else {
            return;
        };
        match b.kind.as_str() {
            "chathistory" => {
                let target = b.params.first().cloned().unwrap_or_default();
                let requested = self.history_wanted.remove(&self.fold(&target));
                let from = From {
                    history: true,
                    requested,
                };
                let mut got = 0;
                self.merging = Some(Vec::new());
                for raw in &b.lines {
                    if let Ok(m) = Message::parse(raw) {
                        got += usize::from(matches!(m.command, "PRIVMSG" | "NOTICE"));
                        self.handle(&m, from, now);
                    }
                }
                let mut by_buffer: std::collections::BTreeMap<usize, Vec<Line>> =
                    std::collections::BTreeMap::new();
                for (i, l) in self.merging.take().unwrap_or_default() {
                    by_buffer.entry(i).or_default().push(l);
                }
                for (i, lines) in by_buffer {
                    self.buffers[i].merge(lines);
                }
                // What came into the conversation shown is read.
                self.mark_read(self.active);
                if requested && got < super::HISTORY_PAGE {
                    if let Some(i) = self.find(&target) {
                        self.buffers[i].more_history = false;
                    }
                    self.notice = None;
                }
            }
            "draft/multiline" => self.on_multiline(&b, now),
            _ => {
                for raw in &b.lines {
                    if let Ok(m) = Message::parse(raw) {
                        self.handle(&m, From::default(), now);
                    }
                }
            }
        }
    }

    /// A draft/multiline batch: one message of several lines.
    fn on_multiline(&mut self, b: &Batch, now: i64) {
        let mut text = String::new();
        let mut first: Option<String> = None;
        for raw in &b.lines {
            let Ok(m) = Message::parse(raw) else { continue };
            if !matches!(m.command, "PRIVMSG" | "NOTICE") {
                continue;
            }
            if first.is_none() {
                first = Some(raw.clone());
            } else if m.tag("draft/multiline-concat").is_none() {
                text.push('\n');
            }
            text.push_str(m.param(1).unwrap_or(""));
        }
        let Some(first) = first else { return };
        let Ok(m) = Message::parse(&first) else {
            return;
        };
        self.add_talk(&m, text, From::default(), now);
    }

    /// A message taken back (REDACT): its line says so, its text is gone.
    fn on_redact(&mut self, m: &Message<'_>) {
        let (Some(target), Some(id)) = (m.param(0), m.param(1)) else {
            return;
        };
        let by = nick_of(m.source.unwrap_or("")).to_string();
        let name = if self.is_channel(target) || !self.same(target, &self.nick) {
            target.to_string()
        } else {
            by.clone()
        };
        let Some(i) = self.find(&name) else {
            return;
        };
        if let Some(l) = self.buffers[i]
            .lines
            .iter_mut()
            .find(|l| l.msgid.as_deref() == Some(id))
        {
            l.what = What::Info;
            l.text = format!("{} recalled a message", l.nick);
            l.nick = String::new();
        }
    }

    fn on_talk(&mut self, m: &Message<'_>, from: From, now: i64) {
        let text = m.param(1).unwrap_or("").to_string();
        self.add_talk(m, text, from, now);
    }

    fn add_talk(&mut self, m: &Message<'_>, text: String, from: From, now: i64) {
        let source = m.source.unwrap_or("");
        let target = m.param(0).unwrap_or("");
        let notice = m.command == "NOTICE";
        let time = time_of(m, now);
        // The server's own notices (no user behind them).
        if source.is_empty() || (!source.contains('!') && source.contains('.')) {
            return self.info(0, time, strip_formatting(&text));
        }
        let nick = nick_of(source).to_string();
        if notice && super::im::is_service(&nick) {
            return self.service_notice(&nick, &strip_formatting(&text), time);
        }
        let own = self.same(&nick, &self.nick);
        // `@#chan`: a message to the channel's operators.
        let chan = target.trim_start_matches(|c| self.srv.prefix.iter().any(|&(_, s)| s == c));
        let (name, kind) = if self.is_channel(chan) {
            (chan.to_string(), Kind::Channel)
        } else if own {
            (target.to_string(), Kind::Query)
        } else {
            (nick.clone(), Kind::Query)
        };
        let (what, body) = match ctcp(&text) {
            Some(("ACTION", rest)) => (What::Action, rest.to_string()),
            Some((cmd, rest)) => {
                if !notice && !own && !from.history {
                    self.ctcp_reply(&nick, cmd, rest);
                }
                return;
            }
            None if notice => (What::Notice, text),
            None => (What::Message, text),
        };
        let mention = !own && kind == Kind::Channel && names(&body, &self.nick);
        let line = Line {
            time,
            what,
            nick: nick.clone(),
            text: strip_formatting(&body),
            msgid: m.tag("msgid").map(|s| s.into_owned()),
            own,
        };
        if name.is_empty() {
            return;
        }
        let i = self.buffer(&name, kind);
        let added = match &mut self.merging {
            // History: merged into the buffer when its batch ends.
            Some(pending) if from.history => {
                pending.push((i, line));
                true
            }
            _ => self.buffers[i].add(line),
        };
        let key = self.fold(&name);
        let who = self.fold(&nick);
        self.typing.retain(|t| !(t.buffer == key && t.who == who));
        if added && i == self.active && !from.history {
            self.mark_read(i);
        }
        if added && !own && !from.requested && i != self.active {
            let b = &mut self.buffers[i];
            b.unread += 1;
            b.mention |= mention || kind == Kind::Query;
        }
    }

    fn ctcp_reply(&mut self, nick: &str, cmd: &str, rest: &str) {
        let reply = match cmd {
            "VERSION" => format!("VERSION ferry chat {}", env!("CARGO_PKG_VERSION")),
            "PING" => format!("PING {rest}"),
            "TIME" => format!("TIME {}", crate::time::rfc3339(crate::time::now_ms())),
            _ => return,
        };
        self.send(format!("NOTICE {nick} :\u{1}{reply}\u{1}"));
    }

    fn on_tagmsg(&mut self, m: &Message<'_>, now: i64) {
        let Some(state) = m.tag("+typing") else {
            return;
        };
        let source = m.source.unwrap_or("");
        let nick = nick_of(source).to_string();
        if self.same(&nick, &self.nick) {
            return;
        }
        let target = m.param(0).unwrap_or("");
        let name = if self.is_channel(target) {
            target.to_string()
        } else {
            nick.clone()
        };
        let key = self.fold(&name);
        let who = self.fold(&nick);
        self.typing.retain(|t| !(t.buffer == key && t.who == who));
        if state == "active" {
            self.typing.push(Typing {
                buffer: key,
                who,
                nick,
                until: now + TYPING_SHOWN_MS,
            });
        }
    }

    fn on_join(&mut self, m: &Message<'_>, now: i64) {
        let source = m.source.unwrap_or("");
        let nick = nick_of(source).to_string();
        let chan = m.param(0).unwrap_or("").to_string();
        if !self.is_channel(&chan) || nick.is_empty() {
            return;
        }
        let i = self.buffer(&chan, Kind::Channel);
        let key = self.fold(&nick);
        if self.same(&nick, &self.nick) {
            let b = &mut self.buffers[i];
            b.joined = true;
            b.members.clear();
            b.more_history = true;
            if self.join_wanted.remove(&self.fold(&chan)) {
                self.switch(i);
            }
            self.info(i, now, format!("you joined {chan}"));
            self.fetch_latest(i);
        } else {
            self.info(i, time_of(m, now), format!("→ {nick} joined"));
        }
        self.buffers[i].members.insert(key, (String::new(), nick));
    }

    fn on_part(&mut self, m: &Message<'_>, now: i64) {
        let nick = nick_of(m.source.unwrap_or("")).to_string();
        let chan = m.param(0).unwrap_or("");
        let Some(i) = self.find(chan) else { return };
        if self.same(&nick, &self.nick) {
            self.buffers.remove(i);
            if self.active >= i {
                self.active = self.active.saturating_sub(1);
            }
            return;
        }
        let key = self.fold(&nick);
        self.buffers[i].members.remove(&key);
        let why = m.param(1).map(|r| format!(" ({r})")).unwrap_or_default();
        self.info(i, time_of(m, now), format!("← {nick} left{why}"));
    }

    fn on_kick(&mut self, m: &Message<'_>, now: i64) {
        let by = nick_of(m.source.unwrap_or("")).to_string();
        let chan = m.param(0).unwrap_or("");
        let who = m.param(1).unwrap_or("").to_string();
        let why = m.param(2).unwrap_or("").to_string();
        let Some(i) = self.find(chan) else { return };
        let key = self.fold(&who);
        self.buffers[i].members.remove(&key);
        if self.same(&who, &self.nick) {
            self.buffers[i].joined = false;
            let line = Line::alert(now, format!("{by} kicked you: {why}"));
            self.buffers[i].add(line);
        } else {
            self.info(i, now, format!("{by} kicked {who}: {why}"));
        }
    }

    fn on_quit(&mut self, m: &Message<'_>, now: i64) {
        let nick = nick_of(m.source.unwrap_or("")).to_string();
        let key = self.fold(&nick);
        let why = m.param(0).unwrap_or("");
        for i in 0..self.buffers.len() {
            let is_query =
                self.buffers[i].kind == Kind::Query && self.fold(&self.buffers[i].name) == key;
            let here = self.buffers[i].members.remove(&key).is_some() || is_query;
            if here {
                self.info(i, time_of(m, now), format!("← {nick} quit ({why})"));
            }
        }
    }

    fn on_nick(&mut self, m: &Message<'_>, now: i64) {
        let old = nick_of(m.source.unwrap_or("")).to_string();
        let new = m.param(0).unwrap_or("").to_string();
        if new.is_empty() || old.is_empty() {
            return;
        }
        let (ko, kn) = (self.fold(&old), self.fold(&new));
        let me = self.same(&old, &self.nick);
        if me {
            self.nick = new.clone();
            self.info(0, now, format!("you are now {new}"));
        }
        for i in 0..self.buffers.len() {
            let is_query =
                self.buffers[i].kind == Kind::Query && self.fold(&self.buffers[i].name) == ko;
            let b = &mut self.buffers[i];
            let mut here = false;
            if let Some((prefix, _)) = b.members.remove(&ko) {
                b.members.insert(kn.clone(), (prefix, new.clone()));
                here = true;
            }
            if is_query {
                b.name = new.clone();
                here = true;
            }
            if here && !me {
                self.info(i, now, format!("{old} is now {new}"));
            }
        }
    }

    fn on_names(&mut self, m: &Message<'_>) {
        let p = m.params();
        let chan = p.get(2).copied().unwrap_or("");
        let Some(i) = self.find(chan) else { return };
        let names = p.last().copied().unwrap_or("");
        for entry in names.split(' ').filter(|n| !n.is_empty()) {
            let nick = entry.trim_start_matches(|c| self.srv.prefix.iter().any(|&(_, s)| s == c));
            let prefix = entry[..entry.len() - nick.len()].to_string();
            let nick = nick_of(nick).to_string();
            let key = self.fold(&nick);
            self.buffers[i].members.insert(key, (prefix, nick));
        }
    }

    fn on_mode(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        let target = p.first().copied().unwrap_or("");
        if !self.is_channel(target) {
            return;
        }
        let Some(i) = self.find(target) else { return };
        let by = nick_of(m.source.unwrap_or(""));
        let text = format!("{by} sets mode {}", p[1..].join(" "));
        // Member status (+o, +v): keep the prefixes right.
        let mut args = p.iter().skip(2);
        let mut adding = true;
        for c in p.get(1).copied().unwrap_or("").chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                c => {
                    if let Some(&(_, symbol)) = self.srv.prefix.iter().find(|(mo, _)| *mo == c) {
                        let Some(nick) = args.next() else { break };
                        let key = self.fold(nick);
                        if let Some((prefix, _)) = self.buffers[i].members.get_mut(&key) {
                            prefix.retain(|s| s != symbol);
                            if adding {
                                prefix.insert(0, symbol);
                            }
                        }
                    } else if "bkeIlfjLqh".contains(c) && (adding || c != 'l') {
                        args.next();
                    }
                }
            }
        }
        self.info(i, time_of(m, now), text);
    }

    fn on_monitor(&mut self, m: &Message<'_>) {
        let online = match m.command {
            "730" => Some(true),
            "731" => Some(false),
            _ => None,
        };
        let list = m.params().last().copied().unwrap_or("");
        for entry in list.split(',').filter(|e| !e.is_empty()) {
            let nick = nick_of(entry).to_string();
            let key = self.fold(&nick);
            let f = self.friends.entry(key).or_insert(Friend {
                nick: nick.clone(),
                online: None,
                away: false,
            });
            f.nick = nick.clone();
            if online.is_some() {
                f.online = online;
                if online == Some(false) {
                    f.away = false;
                }
            }
            self.ask_profile(&nick);
        }
    }
}

fn is_numeric(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit())
}

/// The line's `time` tag, else now.
fn time_of(m: &Message<'_>, now: i64) -> i64 {
    m.tag("time")
        .and_then(|t| crate::time::parse(&t))
        .unwrap_or(now)
}

/// `\x01CMD rest\x01` → (CMD, rest).
fn ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.split_once(' ').unwrap_or((inner, "")))
}

/// Does `text` name `nick` (as a word, any case)?
pub fn names(text: &str, nick: &str) -> bool {
    let nick = nick.to_lowercase();
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || "-_[]\\`^{}|".contains(c)))
        .any(|w| w == nick)
}

/// mIRC formatting (bold, colours, ...) removed: the screen shows text.
pub fn strip_formatting(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{3}' => {
                // ^C[fg[,bg]], each one or two digits.
                for _ in 0..2 {
                    if chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
                let mut look = chars.clone();
                if look.next() == Some(',') && look.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    }
                }
            }
            '\u{2}' | '\u{f}' | '\u{11}' | '\u{16}' | '\u{1d}' | '\u{1e}' | '\u{1f}' => {}
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}
