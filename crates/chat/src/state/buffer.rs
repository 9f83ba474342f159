//! A conversation: the server buffer, a channel or a direct conversation,
//! with its lines in time order, unread count and scroll position.

use std::collections::{BTreeMap, HashSet, VecDeque};

/// Lines a buffer keeps; older ones go (history can fetch them again).
pub const KEEP: usize = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Server,
    Channel,
    Query,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// `<nick> text`
    Message,
    /// `* nick text` (CTCP ACTION)
    Action,
    /// `-nick- text`
    Notice,
    /// Joins, parts, topics, server text.
    Info,
    /// Something the user should notice: errors, friend requests.
    Alert,
}

#[derive(Clone, Debug)]
pub struct Line {
    /// Unix milliseconds (the server's `time` tag when it sent one).
    pub time: i64,
    pub what: What,
    /// Who said it (empty for info lines).
    pub nick: String,
    pub text: String,
    pub msgid: Option<String>,
    /// Written by us.
    pub own: bool,
}

impl Line {
    pub fn info(time: i64, text: impl Into<String>) -> Line {
        Line {
            time,
            what: What::Info,
            nick: String::new(),
            text: text.into(),
            msgid: None,
            own: false,
        }
    }

    pub fn alert(time: i64, text: impl Into<String>) -> Line {
        Line {
            what: What::Alert,
            ..Line::info(time, text)
        }
    }

    pub fn is_talk(&self) -> bool {
        matches!(self.what, What::Message | What::Action | What::Notice)
    }
}

pub struct Buffer {
    pub name: String,
    pub kind: Kind,
    pub lines: VecDeque<Line>,
    /// Messages that arrived while another buffer was shown.
    pub unread: usize,
    /// One of them named us.
    pub mention: bool,
    /// Rows scrolled up from the bottom (0: following new lines).
    pub scroll: usize,
    /// A channel we are on (rejoined after a reconnect).
    pub joined: bool,
    /// The channel key it was joined with.
    pub key: Option<String>,
    pub topic: Option<String>,
    /// Channel members: folded nick → (prefix, nick).
    pub members: BTreeMap<String, (String, String)>,
    /// The server may have older lines (CHATHISTORY BEFORE).
    pub more_history: bool,
    msgids: HashSet<String>,
}

impl Buffer {
    pub fn new(name: impl Into<String>, kind: Kind) -> Buffer {
        Buffer {
            name: name.into(),
            kind,
            lines: VecDeque::new(),
            unread: 0,
            mention: false,
            scroll: 0,
            joined: false,
            key: None,
            topic: None,
            members: BTreeMap::new(),
            more_history: true,
            msgids: HashSet::new(),
        }
    }

    /// Adds a line where its time puts it (normally the end); a line whose
    /// msgid is already here is dropped. True when it was added.
    pub fn add(&mut self, line: Line) -> bool {
        if let Some(id) = &line.msgid {
            if !self.msgids.insert(id.clone()) {
                return false;
            }
        }
        let at = self
            .lines
            .iter()
            .rposition(|l| l.time <= line.time)
            .map_or(0, |i| i + 1);
        self.lines.insert(at, line);
        if self.lines.len() > KEEP {
            if let Some(old) = self.lines.pop_front() {
                if let Some(id) = old.msgid {
                    self.msgids.remove(&id);
                }
            }
        }
        true
    }

    /// Adds lines from history (in time order): where their times put
    /// them, before lines of the same millisecond (history asked for is
    /// older than what is here); msgids already here are dropped.
    pub fn merge(&mut self, new: Vec<Line>) {
        let mut new: VecDeque<Line> = new
            .into_iter()
            .filter(|l| {
                l.msgid
                    .as_ref()
                    .is_none_or(|id| self.msgids.insert(id.clone()))
            })
            .collect();
        if new.is_empty() {
            return;
        }
        let mut old = std::mem::take(&mut self.lines);
        let mut out = VecDeque::with_capacity(old.len() + new.len());
        while let (Some(o), Some(n)) = (old.front(), new.front()) {
            let next = if n.time <= o.time {
                new.pop_front()
            } else {
                old.pop_front()
            };
            out.extend(next);
        }
        out.extend(new);
        out.extend(old);
        while out.len() > KEEP {
            if let Some(id) = out.pop_front().and_then(|l| l.msgid) {
                self.msgids.remove(&id);
            }
        }
        self.lines = out;
    }

    /// The oldest line the server knows of (for CHATHISTORY BEFORE): its
    /// msgid, else its time.
    pub fn oldest_ref(&self) -> Option<(Option<&str>, i64)> {
        self.lines
            .iter()
            .find(|l| l.is_talk())
            .map(|l| (l.msgid.as_deref(), l.time))
    }

    pub fn nicks(&self) -> impl Iterator<Item = &str> {
        self.members.values().map(|(_, n)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(time: i64, text: &str, id: Option<&str>) -> Line {
        Line {
            time,
            what: What::Message,
            nick: "bob".into(),
            text: text.into(),
            msgid: id.map(String::from),
            own: false,
        }
    }

    #[test]
    fn lines_stay_in_time_order_and_msgids_once() {
        let mut b = Buffer::new("#a", Kind::Channel);
        assert!(b.add(msg(10, "ten", Some("x10"))));
        assert!(b.add(msg(30, "thirty", Some("x30"))));
        // History arriving later slots in before.
        assert!(b.add(msg(5, "five", Some("x5"))));
        assert!(b.add(msg(20, "twenty", None)));
        assert!(!b.add(msg(10, "ten again", Some("x10"))));
        let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["five", "ten", "twenty", "thirty"]);
        assert_eq!(b.oldest_ref(), Some((Some("x5"), 5)));
    }

    #[test]
    fn history_merges_before_lines_of_the_same_time() {
        let mut b = Buffer::new("#a", Kind::Channel);
        b.add(msg(5, "five", Some("x5")));
        b.add(msg(5, "five b", Some("x5b")));
        b.add(msg(9, "nine", Some("x9")));
        b.merge(vec![
            msg(3, "three", Some("x3")),
            msg(5, "older five", Some("o5")),
            msg(5, "five", Some("x5")),
            msg(7, "seven", None),
        ]);
        let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            ["three", "older five", "five", "five b", "seven", "nine"]
        );
    }

    #[test]
    fn keeps_a_bounded_number_of_lines() {
        let mut b = Buffer::new("#a", Kind::Channel);
        for i in 0..KEEP as i64 + 10 {
            b.add(msg(i, "x", Some(&format!("m{i}"))));
        }
        assert_eq!(b.lines.len(), KEEP);
        assert_eq!(b.lines[0].time, 10);
        // The dropped line's msgid is forgotten, so history can bring it back.
        assert!(b.add(msg(0, "x", Some("m0"))));
    }
}
