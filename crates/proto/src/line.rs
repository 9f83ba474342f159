//! Building outgoing lines.

use crate::message::escape_tag_value;

/// An outgoing line under construction: tags, then source, then verb, then
/// parameters. [`Line::finish`] adds CRLF. The last parameter gets a colon
/// only when it needs one, unless [`Line::trailing`] asks for it.
#[derive(Debug, Default, Clone)]
pub struct Line {
    buf: String,
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Start,
    Tags,
    Body,
}

impl Line {
    pub fn new() -> Self {
        Line {
            buf: String::with_capacity(128),
            state: State::Start,
        }
    }

    /// Adds a tag; `value` empty means a tag without `=`.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        debug_assert!(self.state != State::Body, "tags come first");
        self.buf
            .push(if self.state == State::Start { '@' } else { ';' });
        self.buf.push_str(key);
        if !value.is_empty() {
            self.buf.push('=');
            escape_tag_value(value, &mut self.buf);
        }
        self.state = State::Tags;
        self
    }

    fn begin_body(&mut self) {
        if self.state == State::Tags {
            self.buf.push(' ');
        }
        self.state = State::Body;
    }

    pub fn source(mut self, source: &str) -> Self {
        self.begin_body();
        self.buf.push(':');
        self.buf.push_str(source);
        self.buf.push(' ');
        self
    }

    pub fn verb(mut self, verb: &str) -> Self {
        self.begin_body();
        self.buf.push_str(verb);
        self
    }

    /// A middle parameter, or the last one: a colon is added when the
    /// parameter is empty, holds a space or starts with a colon.
    pub fn param(mut self, p: &str) -> Self {
        self.buf.push(' ');
        if p.is_empty() || p.starts_with(':') || p.contains(' ') {
            self.buf.push(':');
        }
        self.buf.push_str(p);
        self
    }

    /// The last parameter, always written with a colon.
    pub fn trailing(mut self, p: &str) -> Self {
        self.buf.push_str(" :");
        self.buf.push_str(p);
        self
    }

    /// The line without CRLF.
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// The line without CRLF.
    pub fn into_string(self) -> String {
        self.buf
    }

    /// The line with CRLF.
    pub fn finish(mut self) -> String {
        self.buf.push_str("\r\n");
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds() {
        let l = Line::new()
            .tag("time", "x y")
            .source("srv")
            .verb("001")
            .param("nick")
            .param("Welcome here");
        assert_eq!(l.finish(), "@time=x\\sy :srv 001 nick :Welcome here\r\n");
        assert_eq!(
            Line::new().verb("PING").trailing("x").finish(),
            "PING :x\r\n"
        );
    }
}
