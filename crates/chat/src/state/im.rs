//! What ferry adds beyond chat, each on its IRCv3 spec or as Ergo's
//! services do it: profiles (display names, draft/metadata-3), read state
//! shared by one's devices (draft/read-marker), a group's settings
//! (`/group`: channel modes and ChanServ) and the device list
//! (`/devices`: NickServ CLIENTS). Servers without them are told so.

use ferry_proto::Message;

use super::{nick_of, Chat, Kind, Line};

/// The services whose NOTICEs answer a command typed here: shown in the
/// conversation shown, not in a conversation of their own.
const SERVICES: &[&str] = &["NickServ", "ChanServ"];

pub(super) fn is_service(nick: &str) -> bool {
    SERVICES.iter().any(|s| s.eq_ignore_ascii_case(nick))
}

impl Chat {
    /// The metadata cap the server offers, if any (the -2 name too).
    fn metadata_cap(&self) -> bool {
        self.has("draft/metadata-3") || self.has("draft/metadata-2")
    }

    /// How a user is shown where there is room: `Name (nick)` once it set
    /// a display name, else its nick.
    pub fn shown_name(&self, nick: &str) -> String {
        match self.profiles.get(&self.fold(nick)) {
            Some(name) if name != nick => format!("{name} ({nick})"),
            _ => nick.to_string(),
        }
    }

    /// After the welcome: follow display names.
    pub(super) fn im_registered(&mut self) {
        if self.metadata_cap() {
            self.send("METADATA * SUB display-name");
        }
    }

    /// A friend seen: its display name, asked once (friends may share no
    /// channel with us, where the subscription would bring it).
    pub(super) fn ask_profile(&mut self, nick: &str) {
        let key = self.fold(nick);
        if self.metadata_cap() && self.profiles_asked.insert(key) {
            self.send(format!("METADATA {nick} GET display-name"));
        }
    }

    /// `761 me target key visibility :value`, `766 me target key :...`,
    /// `METADATA target key visibility [:value]`.
    pub(super) fn on_metadata(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        let (target, key, value) = match m.command {
            "761" => (p.get(1), p.get(2), p.get(4).copied()),
            "766" => (p.get(1), p.get(2), None),
            _ => (p.first(), p.get(1), p.get(3).copied()),
        };
        let (Some(&target), Some(&key)) = (target, key) else {
            return;
        };
        let target = if target == "*" {
            self.nick.clone()
        } else {
            target.to_string()
        };
        let folded = self.fold(&target);
        if self.is_channel(&target) {
            return;
        }
        if key == "display-name" {
            match value.filter(|v| !v.is_empty()) {
                Some(v) => self.profiles.insert(folded.clone(), v.to_string()),
                None => self.profiles.remove(&folded),
            };
        }
        // Asked for with /profile: said here.
        if m.command != "METADATA" && self.profile_shown.contains(&folded) {
            let i = self.active;
            let text = match value {
                Some(v) => format!("{target}: {key} = {v}"),
                None => format!("{target}: no {key}"),
            };
            self.info(i, now, text);
        }
    }

    /// `MARKREAD target timestamp=...`: read up to there, here or on
    /// another device of the account — what is older is not unread.
    pub(super) fn on_markread(&mut self, m: &Message<'_>) {
        let (Some(target), Some(at)) = (m.param(0), m.param(1)) else {
            return;
        };
        let Some(at) = at.strip_prefix("timestamp=").and_then(crate::time::parse) else {
            return;
        };
        let Some(i) = self.find(target) else { return };
        let key = self.fold(target);
        let sent = self.marks_sent.entry(key).or_insert(at);
        *sent = (*sent).max(at);
        let b = &mut self.buffers[i];
        let newer = b
            .lines
            .iter()
            .filter(|l| l.time > at && !l.own && l.is_talk())
            .count();
        b.unread = b.unread.min(newer);
        if b.unread == 0 {
            b.mention = false;
        }
    }

    /// The conversation `i` is shown: tells the server (and so our other
    /// devices) it is read up to its newest message.
    pub(super) fn mark_read(&mut self, i: usize) {
        if !self.has("draft/read-marker") || !self.online() {
            return;
        }
        let Some(b) = self.buffers.get(i) else { return };
        if b.kind == Kind::Server {
            return;
        }
        let Some(last) = b.lines.iter().filter(|l| l.is_talk()).map(|l| l.time).max() else {
            return;
        };
        let (name, key) = (b.name.clone(), self.fold(&b.name));
        if self.marks_sent.get(&key).is_some_and(|&t| t >= last) {
            return;
        }
        self.marks_sent.insert(key, last);
        self.send(format!(
            "MARKREAD {name} timestamp={}",
            crate::time::rfc3339(last)
        ));
    }

    /// A NOTICE from NickServ or ChanServ: said in the conversation shown.
    pub(super) fn service_notice(&mut self, nick: &str, text: &str, now: i64) {
        let i = self.active;
        self.info(i, now, format!("{nick}: {text}"));
    }

    /// `324 me #chan modes [args]`: a group's modes, in its conversation.
    pub(super) fn on_channel_modes(&mut self, m: &Message<'_>, now: i64) {
        let p = m.params();
        let Some(i) = self.find(p.get(1).copied().unwrap_or("")) else {
            return;
        };
        let modes = p.get(2..).unwrap_or(&[]).join(" ");
        self.info(i, now, format!("modes: {modes}"));
    }

    /// `/group ...` in a channel: its settings and access list.
    pub(super) fn group_command(&mut self, rest: &str, now: i64) {
        let b = self.active_buffer();
        if b.kind != Kind::Channel {
            return self.alert(now, "/group: show a channel first");
        }
        let chan = b.name.clone();
        let mut w = rest.split_whitespace();
        let sub = w.next().unwrap_or("info").to_ascii_lowercase();
        let args: Vec<&str> = w.collect();
        let cs = |c: &mut Chat, cmd: String| c.send(format!("PRIVMSG ChanServ :{cmd}"));
        match (sub.as_str(), args.as_slice()) {
            ("info", []) => {
                self.send(format!("MODE {chan}"));
                cs(self, format!("INFO {chan}"));
            }
            ("register", []) => cs(self, format!("REGISTER {chan}")),
            ("unregister", []) => cs(self, format!("UNREGISTER {chan}")),
            ("access", []) => cs(self, format!("AMODE {chan}")),
            ("access", ["add", account, level]) => {
                let letter = match level.to_ascii_lowercase().as_str() {
                    "op" | "o" => 'o',
                    "voice" | "v" => 'v',
                    _ => return self.alert(now, "usage: /group access add ACCOUNT op|voice"),
                };
                cs(self, format!("AMODE {chan} +{letter} {account}"));
            }
            ("access", ["del", account]) => cs(self, format!("AMODE {chan} -o {account}")),
            ("set", []) => cs(self, format!("SET {chan}")),
            ("set", [setting, value]) => {
                let setting = match setting.to_ascii_lowercase().as_str() {
                    "history" => "HISTORY",
                    "cutoff" | "query-cutoff" => "QUERY-CUTOFF",
                    _ => return self.alert(now, "usage: /group set history on|off, /group set cutoff none|join-time|registration-time"),
                };
                cs(self, format!("SET {chan} {setting} {value}"));
            }
            ("mode", [modes, more @ ..]) => {
                let more = more.join(" ");
                self.send(format!("MODE {chan} {modes} {more}").trim_end().to_string());
            }
            ("transfer", [account]) => cs(self, format!("TRANSFER {chan} {account}")),
            _ => self.alert(
                now,
                "usage: /group [info] | register | unregister | access [add ACCOUNT op|voice | del ACCOUNT] | set [history on|off | cutoff none|join-time|registration-time] | mode MODES | transfer ACCOUNT",
            ),
        }
    }

    /// `/devices [logout N|all]`: the account's connections.
    pub(super) fn devices_command(&mut self, rest: &str, now: i64) {
        let args: Vec<&str> = rest.split_whitespace().collect();
        match args.as_slice() {
            [] | ["list"] => self.send("PRIVMSG NickServ :CLIENTS LIST"),
            ["logout", which] => self.send(format!("PRIVMSG NickServ :CLIENTS LOGOUT {which}")),
            _ => self.alert(now, "usage: /devices [logout NUMBER|all]"),
        }
    }

    /// `/profile [NICK] | name [TEXT] | avatar [URL] | status [TEXT]`.
    pub(super) fn profile_command(&mut self, rest: &str, now: i64) {
        if !self.metadata_cap() {
            return self.alert(
                now,
                "/profile: the server keeps no profiles (draft/metadata-3)",
            );
        }
        let (first, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let value = value.trim();
        let key = match first.to_ascii_lowercase().as_str() {
            "name" => "display-name",
            "avatar" => "avatar",
            "status" => "status",
            "" => {
                let me = self.nick.clone();
                return self.show_profile(&me);
            }
            _ => return self.show_profile(nick_of(first)),
        };
        if value.is_empty() {
            self.send(format!("METADATA * SET {key}"));
        } else {
            self.send(format!("METADATA * SET {key} :{value}"));
        }
        let me = self.fold(&self.nick.clone());
        self.profile_shown.insert(me);
    }

    fn show_profile(&mut self, nick: &str) {
        let key = self.fold(nick);
        self.profile_shown.insert(key);
        self.send(format!("METADATA {nick} GET display-name avatar status"));
    }

    /// `718`: someone asks to write to us under `+g` (a friend request).
    pub(super) fn on_friend_request(&mut self, m: &Message<'_>, now: i64) {
        let nick = m.param(1).unwrap_or("").to_string();
        if nick.is_empty() {
            return;
        }
        let f = self.fold(&nick);
        self.requests.retain(|r| r.to_lowercase() != f);
        self.requests.push(nick.clone());
        let text = format!(
            "{nick} asks to message you (friend request) — press Alt-A to accept, or /accept {nick}"
        );
        let i = self.buffer(&nick, Kind::Query);
        self.buffers[i].add(Line::alert(now, text.clone()));
        if i != self.active {
            self.buffers[i].unread += 1;
            self.buffers[i].mention = true;
        }
        self.notice = Some(text);
    }
}
