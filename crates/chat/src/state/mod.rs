//! Everything `ferry chat` knows, without a terminal or a socket: lines
//! from the server go in ([`Chat::on_line`]), keys and commands go in
//! ([`Chat::submit`], ...), lines for the server come out
//! ([`Chat::drain_out`]). The screen is drawn from it (crate::ui) and the
//! tests drive it directly.

mod buffer;
mod commands;
mod im;
mod incoming;
mod registration;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

pub use buffer::{Buffer, Kind, Line, What};

use crate::input::Input;

/// Who to be on the server.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub nick: String,
    pub user: String,
    pub realname: String,
    /// Log in with SASL PLAIN.
    pub account: Option<String>,
    pub password: Option<String>,
    /// Register `nick` as an account with `password` once connected
    /// (draft/account-registration), then log in with it from then on.
    pub register: bool,
}

/// The connection, as the status line shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Registering,
    Online,
    /// Lost or refused; the next attempt is `retry_at` (Unix ms).
    Down {
        reason: String,
        retry_at: Option<i64>,
        attempt: u32,
    },
}

/// What the server told us about itself (CAP, 005).
#[derive(Debug)]
pub struct ServerInfo {
    pub name: Option<String>,
    pub network: Option<String>,
    /// Capabilities offered (with their values) and acknowledged.
    pub offered: HashMap<String, Option<String>>,
    pub caps: HashSet<String>,
    pub chantypes: String,
    /// PREFIX: (mode, symbol), highest first.
    pub prefix: Vec<(char, char)>,
    pub casemapping: String,
    pub monitor: bool,
    pub callerid: bool,
}

impl Default for ServerInfo {
    fn default() -> Self {
        ServerInfo {
            name: None,
            network: None,
            offered: HashMap::new(),
            caps: HashSet::new(),
            chantypes: "#&".into(),
            prefix: vec![('o', '@'), ('v', '+')],
            casemapping: "rfc1459".into(),
            monitor: false,
            callerid: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Friend {
    pub nick: String,
    /// None until the server said.
    pub online: Option<bool>,
    pub away: bool,
}

/// Someone typing (`+typing`), shown until `until` (Unix ms).
#[derive(Clone, Debug)]
pub struct Typing {
    pub buffer: String,
    /// The nick folded, and as shown.
    pub who: String,
    pub nick: String,
    pub until: i64,
}

/// Something only the program around the state can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Save this server in the config file (with the password: true).
    Save(bool),
}

/// The rows the screen showed of the active buffer at the last draw.
#[derive(Clone, Copy, Debug, Default)]
pub struct View {
    pub rows: usize,
    pub total: usize,
}

/// Lines pasted as separate messages go out at this pace: a burst, then
/// one every `PACE_MS` — under ferry's default flood limit (2 lines/s
/// after 20) and ngircd's (a line a second after a few).
const PACE_BURST: f64 = 4.0;
const PACE_MS: f64 = 1_000.0;

/// How long another's `+typing=active` is shown without a refresh, and how
/// often ours is sent (the spec's figures: at most every 3 s, paused after
/// 6 s without a key).
const TYPING_SHOWN_MS: i64 = 6_000;
const TYPING_EVERY_MS: i64 = 3_000;

/// Lines asked of CHATHISTORY at a time.
pub const HISTORY_PAGE: usize = 50;

struct Batch {
    kind: String,
    params: Vec<String>,
    lines: Vec<String>,
}

pub struct Chat {
    pub me: Identity,
    /// Our nick now (001, NICK).
    pub nick: String,
    /// The account we are logged in to (900).
    pub account: Option<String>,
    pub buffers: Vec<Buffer>,
    pub active: usize,
    /// The friend list (the server's stored MONITOR list), by folded nick.
    pub friends: BTreeMap<String, Friend>,
    pub input: Input,
    pub conn: Conn,
    pub srv: ServerInfo,
    pub typing_on: bool,
    pub typing: Vec<Typing>,
    /// Friend requests (718) not yet answered, newest last.
    pub requests: Vec<String>,
    /// A message for the status line (the newest event worth it).
    pub notice: Option<String>,
    /// Set when the user quits, with the quit message.
    pub quit: Option<String>,
    pub actions: Vec<Action>,
    pub view: View,
    /// Display names (draft/metadata-3), by folded nick.
    pub profiles: HashMap<String, String>,
    /// Folded nicks whose profile was asked for (once each).
    profiles_asked: HashSet<String>,
    /// Folded nicks whose profile `/profile` shows when it comes.
    profile_shown: HashSet<String>,
    /// How far each conversation is read, as the server knows it
    /// (draft/read-marker), by folded name: Unix ms.
    marks_sent: HashMap<String, i64>,
    out: Vec<String>,
    paced: VecDeque<(String, String)>,
    tokens: f64,
    refilled: i64,
    batches: HashMap<String, Batch>,
    /// Lines of a chathistory batch being read, by buffer.
    merging: Option<Vec<(usize, Line)>>,
    /// Folded targets we asked history for.
    history_wanted: HashSet<String>,
    /// Folded channels the user asked to join (shown when joined).
    join_wanted: HashSet<String>,
    /// Registration: CAP negotiation over, welcome burst over, nick tries.
    cap_done: bool,
    registered: bool,
    nick_tries: u32,
    /// Our +typing: the target and when `active` was last sent.
    typing_sent: Option<(String, i64)>,
    last_edit: i64,
}

impl Chat {
    pub fn new(me: Identity) -> Chat {
        let nick = me.nick.clone();
        Chat {
            me,
            nick,
            account: None,
            buffers: vec![Buffer::new("server", Kind::Server)],
            active: 0,
            friends: BTreeMap::new(),
            input: Input::default(),
            conn: Conn::Connecting,
            srv: ServerInfo::default(),
            typing_on: true,
            typing: Vec::new(),
            requests: Vec::new(),
            notice: None,
            quit: None,
            actions: Vec::new(),
            view: View::default(),
            profiles: HashMap::new(),
            profiles_asked: HashSet::new(),
            profile_shown: HashSet::new(),
            marks_sent: HashMap::new(),
            out: Vec::new(),
            paced: VecDeque::new(),
            tokens: PACE_BURST,
            refilled: 0,
            batches: HashMap::new(),
            merging: None,
            history_wanted: HashSet::new(),
            join_wanted: HashSet::new(),
            cap_done: false,
            registered: false,
            nick_tries: 0,
            typing_sent: None,
            last_edit: 0,
        }
    }

    /// Lines for the server, in order.
    pub fn drain_out(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, line: impl Into<String>) {
        self.out.push(line.into());
    }

    pub fn has(&self, cap: &str) -> bool {
        self.srv.caps.contains(cap)
    }

    pub fn online(&self) -> bool {
        self.conn == Conn::Online
    }

    /// A name as the server compares it (its CASEMAPPING).
    pub fn fold(&self, s: &str) -> String {
        let lower = s.to_lowercase();
        match self.srv.casemapping.as_str() {
            "rfc1459" | "strict-rfc1459" => lower
                .chars()
                .map(|c| match c {
                    '[' => '{',
                    ']' => '}',
                    '\\' => '|',
                    '~' if self.srv.casemapping == "rfc1459" => '^',
                    c => c,
                })
                .collect(),
            _ => lower,
        }
    }

    pub fn same(&self, a: &str, b: &str) -> bool {
        a == b || self.fold(a) == self.fold(b)
    }

    pub fn is_channel(&self, name: &str) -> bool {
        name.chars()
            .next()
            .is_some_and(|c| self.srv.chantypes.contains(c))
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        let f = self.fold(name);
        self.buffers
            .iter()
            .position(|b| b.kind != Kind::Server && self.fold(&b.name) == f)
    }

    /// The buffer for `name`, made if missing.
    pub fn buffer(&mut self, name: &str, kind: Kind) -> usize {
        if let Some(i) = self.find(name) {
            return i;
        }
        self.buffers.push(Buffer::new(name, kind));
        self.buffers.len() - 1
    }

    pub fn active_buffer(&self) -> &Buffer {
        &self.buffers[self.active]
    }

    /// Shows buffer `i`: its unread count and mention mark are cleared.
    pub fn switch(&mut self, i: usize) {
        if i < self.buffers.len() {
            self.active = i;
            let b = &mut self.buffers[i];
            b.unread = 0;
            b.mention = false;
            self.mark_read(i);
        }
    }

    pub fn next_buffer(&mut self, step: isize) {
        let n = self.buffers.len() as isize;
        self.switch(((self.active as isize + step).rem_euclid(n)) as usize);
    }

    /// Writes an info line into buffer `i`.
    pub fn info(&mut self, i: usize, now: i64, text: impl Into<String>) {
        self.buffers[i].add(Line::info(now, text));
    }

    /// An error or something to act on, where the user is looking.
    pub fn alert(&mut self, now: i64, text: impl Into<String>) {
        let text = text.into();
        self.notice = Some(text.clone());
        let i = self.active;
        self.buffers[i].add(Line::alert(now, text));
    }

    // --- the connection ------------------------------------------------

    /// The connection is up: register.
    pub fn on_connected(&mut self, now: i64) {
        self.conn = Conn::Registering;
        self.srv = ServerInfo::default();
        self.batches.clear();
        self.history_wanted.clear();
        self.cap_done = false;
        self.registered = false;
        self.nick_tries = 0;
        self.typing_sent = None;
        self.typing.clear();
        self.paced.clear();
        self.info(0, now, "connected; registering…");
        self.start_registration();
    }

    /// The connection is gone; `retry_at` says when the next attempt is.
    pub fn on_closed(&mut self, now: i64, reason: &str, retry_at: Option<i64>, attempt: u32) {
        let was_up = !matches!(self.conn, Conn::Down { .. });
        self.conn = Conn::Down {
            reason: reason.to_string(),
            retry_at,
            attempt,
        };
        self.typing.clear();
        self.paced.clear();
        if was_up {
            let when = match retry_at {
                Some(t) => format!("; reconnecting in {} s", ((t - now).max(0) + 999) / 1000),
                None => String::new(),
            };
            let text = format!("disconnected: {reason}{when}");
            for i in 0..self.buffers.len() {
                if i == 0 || self.buffers[i].joined || self.buffers[i].kind == Kind::Query {
                    self.buffers[i].add(Line::alert(now, text.clone()));
                }
            }
        }
        for f in self.friends.values_mut() {
            f.online = None;
        }
    }

    pub fn on_connecting(&mut self) {
        self.conn = Conn::Connecting;
    }

    // --- time ------------------------------------------------------------

    /// Called a few times a second: paced lines go out, typing marks
    /// expire, a pause in typing is told.
    pub fn tick(&mut self, now: i64) {
        let dt = (now - self.refilled).max(0) as f64;
        self.refilled = now;
        self.tokens = (self.tokens + dt / PACE_MS).min(PACE_BURST);
        while self.tokens >= 1.0 {
            let Some((target, line)) = self.paced.pop_front() else {
                break;
            };
            self.tokens -= 1.0;
            self.say(&target, &line, now);
        }
        self.typing.retain(|t| t.until > now);
        if let Some((target, _)) = &self.typing_sent {
            if now - self.last_edit > TYPING_SHOWN_MS && self.has("message-tags") {
                let target = target.clone();
                self.send(format!("@+typing=paused TAGMSG {target}"));
                self.typing_sent = None;
            }
        }
    }

    /// Lines still waiting for their turn (pasted blocks).
    pub fn paced_len(&self) -> usize {
        self.paced.len()
    }

    /// The input changed: tell the conversation we are typing (at most
    /// every 3 s), or that we stopped (the input emptied).
    pub fn edited(&mut self, now: i64) {
        self.last_edit = now;
        let b = self.active_buffer();
        let target = match b.kind {
            Kind::Server => None,
            _ => Some(b.name.clone()),
        };
        if !self.typing_on || !self.has("message-tags") || !self.online() {
            return;
        }
        let Some(target) = target else { return };
        let text = self.input.text();
        if text.is_empty() || text.starts_with('/') {
            if let Some((t, _)) = self.typing_sent.take() {
                self.send(format!("@+typing=done TAGMSG {t}"));
            }
            return;
        }
        let due = match &self.typing_sent {
            Some((t, at)) => !self.same(t, &target) || now - at >= TYPING_EVERY_MS,
            None => true,
        };
        if due {
            self.send(format!("@+typing=active TAGMSG {target}"));
            self.typing_sent = Some((target, now));
        }
    }

    /// Who is typing in the active buffer.
    pub fn typing_here(&self) -> Vec<&str> {
        let here = self.fold(&self.active_buffer().name);
        self.typing
            .iter()
            .filter(|t| t.buffer == here)
            .map(|t| t.nick.as_str())
            .collect()
    }

    // --- scrolling ---------------------------------------------------------

    /// PageUp: a page back; at the top of what is loaded, older lines are
    /// asked of the server (CHATHISTORY BEFORE).
    pub fn page_up(&mut self) {
        let page = self.view.rows.saturating_sub(1).max(1);
        let max = self.view.total.saturating_sub(self.view.rows);
        let b = &mut self.buffers[self.active];
        b.scroll = (b.scroll + page).min(max);
        if b.scroll >= max {
            self.fetch_older(self.active);
        }
    }

    pub fn page_down(&mut self) {
        let page = self.view.rows.saturating_sub(1).max(1);
        let b = &mut self.buffers[self.active];
        b.scroll = b.scroll.saturating_sub(page);
    }

    /// Asks the server for the lines before the oldest of buffer `i`.
    pub fn fetch_older(&mut self, i: usize) {
        let b = &self.buffers[i];
        if b.kind == Kind::Server || !b.more_history || !self.has("draft/chathistory") {
            return;
        }
        let key = self.fold(&b.name);
        if self.history_wanted.contains(&key) || !self.online() {
            return;
        }
        let anchor = match b.oldest_ref() {
            Some((Some(id), _)) => format!("msgid={id}"),
            Some((None, t)) => format!("timestamp={}", crate::time::rfc3339(t)),
            None => "*".into(),
        };
        let sub = if anchor == "*" { "LATEST" } else { "BEFORE" };
        let line = format!("CHATHISTORY {sub} {} {anchor} {HISTORY_PAGE}", b.name);
        self.history_wanted.insert(key);
        self.notice = Some(format!("loading older messages of {}…", b.name));
        self.send(line);
    }

    /// Asks for the newest lines of buffer `i` (a channel just joined, a
    /// conversation opened, a reconnect).
    fn fetch_latest(&mut self, i: usize) {
        if !self.has("draft/chathistory") {
            return;
        }
        let name = self.buffers[i].name.clone();
        let key = self.fold(&name);
        if self.history_wanted.insert(key) {
            self.send(format!("CHATHISTORY LATEST {name} * {HISTORY_PAGE}"));
        }
    }

    /// Names Tab can complete the word `word` to.
    pub fn completions(&self, word: &str, first: bool) -> Vec<String> {
        if first && word.starts_with('/') {
            return commands::NAMES.iter().map(|c| format!("/{c}")).collect();
        }
        let mut out: Vec<String> = Vec::new();
        if self.is_channel(word) {
            out.extend(
                self.buffers
                    .iter()
                    .filter(|b| b.kind == Kind::Channel)
                    .map(|b| b.name.clone()),
            );
            return out;
        }
        let b = self.active_buffer();
        out.extend(
            b.nicks()
                .filter(|n| !self.same(n, &self.nick))
                .map(String::from),
        );
        out.extend(
            self.buffers
                .iter()
                .filter(|b| b.kind == Kind::Query)
                .map(|b| b.name.clone()),
        );
        out.extend(self.friends.values().map(|f| f.nick.clone()));
        let mut seen = HashSet::new();
        out.retain(|n| seen.insert(self.fold(n)));
        out
    }
}

/// The nick in a `nick!user@host` source.
pub fn nick_of(source: &str) -> &str {
    source.split(['!', '@']).next().unwrap_or(source)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_im;
