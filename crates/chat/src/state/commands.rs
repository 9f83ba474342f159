//! What the user types: text for the conversation shown, or a command
//! (`/join`, `/msg`, ...) in the conventions every IRC client shares.

use super::{Action, Chat, Friend, Kind, Line, What};

/// Every command, for `/help` and Tab.
pub const NAMES: &[&str] = &[
    "accept", "away", "close", "devices", "friend", "group", "help", "join", "me", "msg", "names",
    "nick", "notice", "part", "profile", "query", "quit", "quote", "recall", "save", "topic",
    "typing", "whois",
];

/// `/help`: one line per command.
pub const HELP: &[&str] = &[
    "/join #channel [key]      join a channel (a group)",
    "/part [#channel] [why]    leave a channel (the one shown without a name)",
    "/msg NICK|#chan TEXT      send a message without switching to it",
    "/query NICK [TEXT]        open a direct conversation (and say TEXT)",
    "/close                    close the conversation shown (leaves a channel)",
    "/me TEXT                  an action: * you TEXT",
    "/notice NICK TEXT         send a notice",
    "/recall                   take back your last message here",
    "/topic [TEXT]             show or set the channel's topic",
    "/nick NAME                change your nick",
    "/away [MESSAGE]           mark yourself away; /away alone comes back",
    "/friend add|del NICK      add or remove a friend (presence on the right)",
    "/friend                   list your friends",
    "/accept NICK              accept a friend request: NICK may message you",
    "/names                    who is in the channel",
    "/whois NICK               who is NICK",
    "/profile [NICK]           a profile; /profile name|avatar|status [TEXT] sets yours",
    "/group [info]             the group shown: modes, founder, access list",
    "/group register|unregister, /group access add ACCOUNT op|voice | del ACCOUNT,",
    "  /group set history on|off | cutoff none|join-time, /group mode +i ...",
    "/devices [logout N|all]   your connected devices; log one out",
    "/typing on|off            send and show typing indicators",
    "/save [password]          save this server (and the password) in ~/.config/ferry",
    "/quote LINE               send a raw IRC line",
    "/quit [MESSAGE]           leave",
    "keys: Alt-1..9 or Ctrl-N/Ctrl-P switch conversations, PageUp/PageDown scroll",
    "(older history loads at the top), Tab completes, ↑/↓ recall, Alt-A accepts",
    "the newest friend request, Ctrl-C quits. //text sends text starting with /.",
];

/// Bytes of text per PRIVMSG: the line is at most 512 bytes with our
/// prefix (nick!user@host, up to ~100 bytes) added by the server.
const PIECE: usize = 400;

impl Chat {
    /// Enter: sends the input (or a pasted block waiting in it).
    pub fn submit(&mut self, now: i64) {
        if let Some(lines) = self.input.pasted.take() {
            self.input.take();
            self.typing_sent = None;
            return self.send_block(lines, now);
        }
        let text = self.input.take();
        self.typing_sent = None;
        if text.trim().is_empty() {
            return;
        }
        if let Some(rest) = text.strip_prefix("//") {
            let rest = format!("/{rest}");
            return self.say_here(&rest, now);
        }
        match text.strip_prefix('/') {
            Some(cmd) => self.command(cmd, now),
            None => self.say_here(&text, now),
        }
    }

    /// A paste: one line goes into the input; several wait there as a
    /// block until Enter (Esc drops it).
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines: Vec<String> = text
            .trim_end_matches('\n')
            .split('\n')
            .map(String::from)
            .collect();
        if lines.len() <= 1 {
            self.input.insert_str(lines.first().map_or("", |s| s));
        } else {
            self.input.pasted = Some(lines);
        }
    }

    fn say_here(&mut self, text: &str, now: i64) {
        let b = self.active_buffer();
        if b.kind == Kind::Server {
            return self.alert(
                now,
                "this is the server's buffer: /join a channel or /query a nick to talk",
            );
        }
        let target = b.name.clone();
        self.say(&target, text, now);
    }

    /// Sends `text` to `target` (in pieces when long) and, when the server
    /// does not echo, shows it.
    pub(super) fn say(&mut self, target: &str, text: &str, now: i64) {
        self.send_as(target, text, What::Message, now);
    }

    fn send_as(&mut self, target: &str, text: &str, what: What, now: i64) {
        if !self.online() {
            return self.alert(now, "not connected: the message was not sent");
        }
        for piece in pieces(text, PIECE) {
            let body = match what {
                What::Action => format!("\u{1}ACTION {piece}\u{1}"),
                _ => piece.to_string(),
            };
            let cmd = if what == What::Notice {
                "NOTICE"
            } else {
                "PRIVMSG"
            };
            self.send(format!("{cmd} {target} :{body}"));
            if !self.has("echo-message") {
                let kind = if self.is_channel(target) {
                    Kind::Channel
                } else {
                    Kind::Query
                };
                let i = self.buffer(target, kind);
                let nick = self.nick.clone();
                self.buffers[i].add(Line {
                    time: now,
                    what: what.clone(),
                    nick,
                    text: piece.to_string(),
                    msgid: None,
                    own: true,
                });
            }
        }
    }

    /// Several lines pasted at once: one draft/multiline message where the
    /// server offers it (and the block is within its limits), else
    /// separate messages paced to the server's flood limits.
    fn send_block(&mut self, lines: Vec<String>, now: i64) {
        let b = self.active_buffer();
        if b.kind == Kind::Server {
            return self.alert(now, "paste into a conversation, not the server's buffer");
        }
        let target = b.name.clone();
        if !self.online() {
            return self.alert(now, "not connected: the message was not sent");
        }
        if let Some((max_bytes, max_lines)) = self.multiline_limits() {
            let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
            if lines.len() <= max_lines && bytes <= max_bytes {
                let id = format!("ml{now:x}");
                self.send(format!("BATCH +{id} draft/multiline {target}"));
                for l in &lines {
                    self.send(format!("@batch={id} PRIVMSG {target} :{l}"));
                }
                self.send(format!("BATCH -{id}"));
                if !self.has("echo-message") {
                    let i = self.find(&target).unwrap_or(self.active);
                    let nick = self.nick.clone();
                    self.buffers[i].add(Line {
                        time: now,
                        what: What::Message,
                        nick,
                        text: lines.join("\n"),
                        msgid: None,
                        own: true,
                    });
                }
                return;
            }
        }
        for l in lines.into_iter().filter(|l| !l.is_empty()) {
            self.paced.push_back((target.clone(), l));
        }
        self.tick(now);
    }

    /// draft/multiline's max-bytes and max-lines, when acknowledged.
    fn multiline_limits(&self) -> Option<(usize, usize)> {
        if !self.has("draft/multiline") || !self.has("batch") {
            return None;
        }
        let value = self
            .srv
            .offered
            .get("draft/multiline")?
            .clone()
            .unwrap_or_default();
        let mut bytes = None;
        let mut lines = 100;
        for kv in value.split(',') {
            match kv.split_once('=') {
                Some(("max-bytes", v)) => bytes = v.parse().ok(),
                Some(("max-lines", v)) => lines = v.parse().unwrap_or(lines),
                _ => {}
            }
        }
        Some((bytes?, lines))
    }

    fn command(&mut self, line: &str, now: i64) {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let cmd = cmd.to_ascii_lowercase();
        let here = self.active_buffer().name.clone();
        let here_kind = self.active_buffer().kind;
        let need_online = !matches!(cmd.as_str(), "help" | "quit" | "close" | "typing" | "save");
        if need_online && !self.online() {
            return self.alert(now, format!("/{cmd}: not connected"));
        }
        let mut words = rest.split_whitespace();
        match cmd.as_str() {
            "join" | "j" => {
                let Some(chan) = words.next() else {
                    return self.alert(now, "usage: /join #channel [key]");
                };
                let chan = if self.is_channel(chan) {
                    chan.to_string()
                } else {
                    format!("#{chan}")
                };
                let key = words.next().map(String::from);
                if let Some(i) = self.find(&chan).filter(|&i| self.buffers[i].joined) {
                    return self.switch(i);
                }
                let f = self.fold(&chan);
                self.join_wanted.insert(f);
                match &key {
                    Some(k) => self.send(format!("JOIN {chan} {k}")),
                    None => self.send(format!("JOIN {chan}")),
                }
                let i = self.buffer(&chan, Kind::Channel);
                self.buffers[i].key = key;
            }
            "part" | "leave" => {
                let (chan, why) = match words.next() {
                    Some(c) if self.is_channel(c) => (c.to_string(), rest[c.len()..].trim()),
                    _ if here_kind == Kind::Channel => (here.clone(), rest),
                    _ => return self.alert(now, "usage: /part #channel [reason]"),
                };
                if why.is_empty() {
                    self.send(format!("PART {chan}"));
                } else {
                    self.send(format!("PART {chan} :{why}"));
                }
            }
            "close" => match here_kind {
                Kind::Server => self.alert(now, "the server's buffer stays"),
                Kind::Channel if self.active_buffer().joined && self.online() => {
                    self.send(format!("PART {here}"))
                }
                _ => {
                    self.buffers.remove(self.active);
                    self.active = self.active.saturating_sub(1);
                }
            },
            "msg" | "query" => {
                let Some(target) = words.next().map(String::from) else {
                    return self.alert(now, format!("usage: /{cmd} NICK [TEXT]"));
                };
                let text = rest[target.len()..].trim().to_string();
                if cmd == "query" {
                    let kind = if self.is_channel(&target) {
                        Kind::Channel
                    } else {
                        Kind::Query
                    };
                    let fresh = self.find(&target).is_none();
                    let i = self.buffer(&target, kind);
                    self.switch(i);
                    if fresh && kind == Kind::Query {
                        self.fetch_latest(i);
                    }
                } else if text.is_empty() {
                    return self.alert(now, "usage: /msg NICK TEXT");
                }
                if !text.is_empty() {
                    self.say(&target, &text, now);
                }
            }
            "me" => {
                if here_kind == Kind::Server {
                    return self.alert(now, "/me: not in a conversation");
                }
                self.send_as(&here, rest, What::Action, now);
            }
            "notice" => {
                let Some(target) = words.next().map(String::from) else {
                    return self.alert(now, "usage: /notice NICK TEXT");
                };
                let text = rest[target.len()..].trim().to_string();
                self.send_as(&target, &text, What::Notice, now);
            }
            "topic" => {
                if here_kind != Kind::Channel {
                    return self.alert(now, "/topic: not in a channel");
                }
                if rest.is_empty() {
                    self.send(format!("TOPIC {here}"));
                } else {
                    self.send(format!("TOPIC {here} :{rest}"));
                }
            }
            "nick" => match words.next() {
                Some(n) => {
                    self.me.nick = n.to_string();
                    self.send(format!("NICK {n}"));
                }
                None => self.alert(now, "usage: /nick NAME"),
            },
            "group" => self.group_command(rest, now),
            "devices" => self.devices_command(rest, now),
            "profile" => self.profile_command(rest, now),
            "recall" => {
                // Takes back our newest message here (REDACT).
                if !self.has("draft/message-redaction") {
                    return self.alert(now, "/recall: the server cannot take messages back");
                }
                let b = &self.buffers[self.active];
                let Some(id) = b
                    .lines
                    .iter()
                    .rev()
                    .find(|l| l.own && l.is_talk())
                    .and_then(|l| l.msgid.clone())
                else {
                    return self.alert(now, "/recall: no message of yours to take back here");
                };
                self.send(format!("REDACT {here} {id}"));
            }
            "away" => {
                if rest.is_empty() {
                    self.send("AWAY");
                } else {
                    self.send(format!("AWAY :{rest}"));
                }
            }
            "quit" => {
                let msg = if rest.is_empty() { "ferry chat" } else { rest };
                if self.online() {
                    self.send(format!("QUIT :{msg}"));
                }
                self.quit = Some(msg.to_string());
            }
            "friend" | "friends" => self.friend_command(&mut words, now),
            "accept" => match words.next() {
                Some(n) => self.accept(n, now),
                None => self.accept_newest(now),
            },
            "names" => {
                if here_kind == Kind::Channel {
                    let list: Vec<String> = self.buffers[self.active]
                        .members
                        .values()
                        .map(|(p, n)| {
                            format!(
                                "{}{n}",
                                p.chars().next().map(String::from).unwrap_or_default()
                            )
                        })
                        .collect();
                    let n = list.len();
                    self.info(self.active, now, format!("{n} here: {}", list.join(" ")));
                } else {
                    self.alert(now, "/names: not in a channel");
                }
            }
            "whois" => match words.next() {
                Some(n) => self.send(format!("WHOIS {n}")),
                None => self.alert(now, "usage: /whois NICK"),
            },
            "typing" => match words.next() {
                Some("on") => self.typing_on = true,
                Some("off") => self.typing_on = false,
                _ => {
                    let state = if self.typing_on { "on" } else { "off" };
                    self.info(self.active, now, format!("typing indicators are {state}"));
                }
            },
            "save" => self.actions.push(Action::Save(rest == "password")),
            "quote" | "raw" => {
                if !rest.is_empty() {
                    self.send(rest.to_string());
                }
            }
            "help" => {
                for line in HELP {
                    self.info(self.active, now, *line);
                }
            }
            _ => self.alert(now, format!("unknown command /{cmd} — /help lists them")),
        }
    }

    fn friend_command<'a>(&mut self, words: &mut impl Iterator<Item = &'a str>, now: i64) {
        let sub = words.next();
        let nick = words.next();
        match (sub, nick) {
            (Some("add"), Some(n)) => {
                if !self.srv.monitor {
                    return self.alert(
                        now,
                        "this server has no MONITOR: friends' presence is not shown",
                    );
                }
                self.send(format!("MONITOR + {n}"));
                // ACCEPT (who may write to us under +g) is per account.
                if self.srv.callerid && self.account.is_some() {
                    self.send(format!("ACCEPT {n}"));
                }
                let key = self.fold(n);
                self.friends.entry(key).or_insert(Friend {
                    nick: n.to_string(),
                    online: None,
                    away: false,
                });
                self.info(self.active, now, format!("{n} is a friend now"));
            }
            (Some("del" | "remove" | "rm"), Some(n)) => {
                if self.srv.monitor {
                    self.send(format!("MONITOR - {n}"));
                }
                if self.srv.callerid && self.account.is_some() {
                    self.send(format!("ACCEPT -{n}"));
                }
                let key = self.fold(n);
                self.friends.remove(&key);
                self.info(self.active, now, format!("{n} is no longer a friend"));
            }
            (None, _) => {
                let list: Vec<String> = self
                    .friends
                    .values()
                    .map(|f| {
                        let state = match f.online {
                            Some(true) if f.away => "away",
                            Some(true) => "online",
                            Some(false) => "offline",
                            None => "?",
                        };
                        format!("{} ({state})", f.nick)
                    })
                    .collect();
                let text = if list.is_empty() {
                    "no friends yet: /friend add NICK".to_string()
                } else {
                    format!("friends: {}", list.join(", "))
                };
                self.info(self.active, now, text);
            }
            _ => self.alert(now, "usage: /friend add|del NICK"),
        }
    }

    /// Accepts `nick`'s friend request: they may message us (ACCEPT) and
    /// become a friend whose presence we see (MONITOR).
    pub fn accept(&mut self, nick: &str, now: i64) {
        if !self.online() {
            return self.alert(now, "/accept: not connected");
        }
        self.send(format!("ACCEPT {nick}"));
        if self.srv.monitor {
            self.send(format!("MONITOR + {nick}"));
            let key = self.fold(nick);
            self.friends.entry(key).or_insert(Friend {
                nick: nick.to_string(),
                online: None,
                away: false,
            });
        }
        let f = self.fold(nick);
        self.requests.retain(|r| r.to_lowercase() != f);
        let i = self.buffer(nick, Kind::Query);
        self.info(i, now, format!("accepted {nick}: they can message you now"));
        self.notice = Some(format!("accepted {nick}'s friend request"));
    }

    /// Alt-A: accepts the newest friend request.
    pub fn accept_newest(&mut self, now: i64) {
        match self.requests.last().cloned() {
            Some(n) => self.accept(&n, now),
            None => self.alert(now, "no friend request to accept"),
        }
    }
}

/// `text` in pieces of at most `max` bytes, cut at spaces where possible
/// and never inside a character.
pub fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > max / 2) {
            cut = space;
        }
        out.push(&rest[..cut]);
        rest = rest[cut..].trim_start_matches(' ');
    }
    out.push(rest);
    out
}
