//! Parsing one IRC line into a borrowed [`Message`].

use std::borrow::Cow;

use thiserror::Error;

use crate::MAX_PARAMS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but spaces (or tags and a source) before the end of line.
    #[error("no command")]
    NoCommand,
}

/// One parsed line. Everything borrows from the input; tag values stay
/// escaped until [`Tag::value`] is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The tag section without its leading `@`, if any.
    pub tags_raw: Option<&'a str>,
    /// The source without its leading `:`, if any.
    pub source: Option<&'a str>,
    /// The verb as sent (callers compare case-insensitively).
    pub command: &'a str,
    params: [&'a str; MAX_PARAMS],
    n_params: u8,
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("tags", &self.tags_raw)
            .field("source", &self.source)
            .field("command", &self.command)
            .field("params", &self.params())
            .finish()
    }
}

/// One `key[=value]` of a tag section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    pub key: &'a str,
    /// The value as it appears on the wire (escaped); `None` without `=`.
    pub raw_value: Option<&'a str>,
}

impl<'a> Tag<'a> {
    /// The unescaped value; a missing value is the empty string.
    pub fn value(&self) -> Cow<'a, str> {
        unescape_tag_value(self.raw_value.unwrap_or(""))
    }

    /// Client-only tags start with `+` (possibly after a vendor prefix).
    pub fn is_client_only(&self) -> bool {
        self.key.starts_with('+')
    }
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start_matches(' ')
}

impl<'a> Message<'a> {
    /// Parses one line without its line terminator. Runs of spaces separate
    /// atoms, as RFC 1459 says; a stray CR or LF is left to the caller.
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let mut rest = line;
        let mut tags_raw = None;
        if let Some(after) = rest.strip_prefix('@') {
            let (t, r) = after.split_once(' ').unwrap_or((after, ""));
            tags_raw = Some(t);
            rest = skip_spaces(r);
        }
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (s, r) = after.split_once(' ').unwrap_or((after, ""));
            source = Some(s);
            rest = skip_spaces(r);
        }
        let (command, r) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        rest = r;
        let mut params = [""; MAX_PARAMS];
        let mut n = 0;
        loop {
            rest = skip_spaces(rest);
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params[n] = trailing;
                n += 1;
                break;
            }
            if n == MAX_PARAMS - 1 {
                params[n] = rest;
                n += 1;
                break;
            }
            let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params[n] = p;
            n += 1;
            rest = r;
        }
        Ok(Message {
            tags_raw,
            source,
            command,
            params,
            n_params: n as u8,
        })
    }

    pub fn params(&self) -> &[&'a str] {
        &self.params[..self.n_params as usize]
    }

    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params().get(i).copied()
    }

    /// Iterates over the tags, in order, skipping empty keys.
    pub fn tags(&self) -> impl Iterator<Item = Tag<'a>> + 'a {
        self.tags_raw
            .unwrap_or("")
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once('=') {
                Some((key, v)) => Tag {
                    key,
                    raw_value: Some(v),
                },
                None => Tag {
                    key: t,
                    raw_value: None,
                },
            })
    }

    /// The last occurrence of tag `key`, unescaped.
    pub fn tag(&self, key: &str) -> Option<Cow<'a, str>> {
        self.tags()
            .filter(|t| t.key == key)
            .last()
            .map(|t| t.value())
    }
}

/// Undoes the tag value escaping of IRCv3 message-tags.
pub fn unescape_tag_value(v: &str) -> Cow<'_, str> {
    if !v.contains('\\') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Escapes a tag value for the wire.
pub fn escape_tag_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Splits `nick!user@host` into its parts; missing parts are `None`.
pub fn split_userhost(s: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let (rest, host) = match s.split_once('@') {
        Some((r, h)) => (r, (!h.is_empty()).then_some(h)),
        None => (s, None),
    };
    let (nick, user) = match rest.split_once('!') {
        Some((n, u)) => (n, (!u.is_empty()).then_some(u)),
        None => (rest, None),
    };
    ((!nick.is_empty()).then_some(nick), user, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic() {
        let m = Message::parse("@a=b\\sc;d :nick!u@h PRIVMSG #c :hello world").unwrap();
        assert_eq!(m.source, Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params(), &["#c", "hello world"]);
        assert_eq!(m.tag("a").as_deref(), Some("b c"));
        assert_eq!(m.tag("d").as_deref(), Some(""));
        assert_eq!(Message::parse("   "), Err(ParseError::NoCommand));
        assert_eq!(Message::parse("@a "), Err(ParseError::NoCommand));
    }

    #[test]
    fn too_many_params() {
        let line = "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17";
        let m = Message::parse(line).unwrap();
        assert_eq!(m.params().len(), 15);
        assert_eq!(m.param(14), Some("15 16 17"));
    }
}
