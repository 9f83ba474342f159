//! Charsets on the wire: GBK and UTF-8 clients side by side.
//!
//! Inside the server every line is UTF-8. A client whose wire speaks
//! another charset (its listener's `charset`, or its own `CHARSET`
//! command) has each complete line decoded right after framing, and
//! everything queued for it encoded by its own connection task just
//! before the write. Fan-out is untouched: an event is still serialised
//! once, in UTF-8, and each GBK recipient pays for its own copy. A UTF-8
//! client does no transcoding work at all.
//!
//! Rules (docs/CHARSETS.md tells them to users):
//! - Only ASCII-compatible charsets: IRC's framing and syntax bytes
//!   (`\r \n space : @ # ,`) must mean the same in the charset.
//! - Message tags are always UTF-8, both ways.
//! - A character the charset cannot represent goes out as `?`; bytes that
//!   are not valid in the charset come in as U+FFFD. Never a broken byte
//!   sequence.
//! - Length is checked once, at the sender, on the UTF-8 form of its line.
//!   A recipient line that grows past 510 bytes when encoded (GB18030's
//!   four-byte forms) and is longer than its UTF-8 form is split at a
//!   character boundary; only the first piece keeps `msgid` and `label`.

use std::borrow::Cow;

use encoding_rs::{EncoderResult, Encoding, UTF_8};
use thiserror::Error;

/// Longest line body (tags excluded, CRLF excluded) a piece may have when
/// a transcoded line must be split.
const MAX_BODY: usize = ferry_proto::MAX_LINE - 2;

/// What a client's wire speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charset {
    /// `None`: UTF-8 (nothing to transcode).
    pub wire: Option<&'static Encoding>,
    /// For a UTF-8 wire: how to read a line that is not valid UTF-8.
    pub fallback: Option<&'static Encoding>,
}

impl Default for Charset {
    fn default() -> Self {
        Charset::UTF8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CharsetError {
    #[error("unknown charset {0:?}")]
    Unknown(String),
    #[error("{0} cannot carry IRC: only ASCII-compatible charsets can (not UTF-16, ISO-2022-JP or \"replacement\")")]
    NotAsciiCompatible(&'static str),
}

impl Charset {
    /// Plain UTF-8: lines that are not UTF-8 get `FAIL ... INVALID_UTF8`.
    pub const UTF8: Charset = Charset {
        wire: None,
        fallback: None,
    };

    /// Looks up a charset by any of its WHATWG labels (`gbk`, `gb2312`,
    /// `gb18030`, `big5`, `shift_jis`, `euc-kr`, `koi8-r`, `utf-8`, ...).
    pub fn lookup(label: &str) -> Result<&'static Encoding, CharsetError> {
        let enc = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| CharsetError::Unknown(label.to_string()))?;
        if !enc.is_ascii_compatible() {
            return Err(CharsetError::NotAsciiCompatible(enc.name()));
        }
        Ok(enc)
    }

    /// A wire speaking `enc` (UTF-8 keeps `fallback`, others ignore it).
    pub fn new(enc: &'static Encoding, fallback: Option<&'static Encoding>) -> Charset {
        if enc == UTF_8 {
            Charset {
                wire: None,
                fallback: fallback.filter(|f| *f != UTF_8),
            }
        } else {
            Charset {
                wire: Some(enc),
                fallback: None,
            }
        }
    }

    /// Plain UTF-8 without a fallback: no work on either path, and the
    /// only case in which UTF8ONLY is advertised.
    pub fn is_utf8_only(&self) -> bool {
        self.wire.is_none() && self.fallback.is_none()
    }

    /// The wire's charset name as users see it (`UTF-8`, `GBK`, `gb18030`).
    pub fn name(&self) -> &'static str {
        self.wire.unwrap_or(UTF_8).name()
    }

    /// How many times longer than the UTF-8 limit a raw line may be before
    /// it is decoded: the UTF-8 form of a line is at least half its size
    /// in any ASCII-compatible charset (GB18030's 4-byte `é` is 2 bytes).
    pub fn frame_factor(&self) -> usize {
        if self.is_utf8_only() {
            1
        } else {
            2
        }
    }

    /// The UTF-8 form of one line read from this wire (without its line
    /// terminator). Invalid sequences become U+FFFD; a tag section that is
    /// valid UTF-8 is kept as it is (tags are UTF-8 on every wire).
    pub fn decode<'a>(&self, raw: &'a [u8]) -> Cow<'a, str> {
        match (self.wire, self.fallback) {
            (None, None) => String::from_utf8_lossy(raw),
            (None, Some(fallback)) => match std::str::from_utf8(raw) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => fallback.decode_without_bom_handling(raw).0,
            },
            (Some(enc), _) => {
                let (tags, body) = split_tags(raw);
                if tags.is_empty() {
                    return enc.decode_without_bom_handling(body).0;
                }
                let mut s = match std::str::from_utf8(tags) {
                    Ok(t) => t.to_string(),
                    Err(_) => enc.decode_without_bom_handling(tags).0.into_owned(),
                };
                s.push_str(&enc.decode_without_bom_handling(body).0);
                Cow::Owned(s)
            }
        }
    }
}

/// `@tags ` (with its space) and the rest of a line.
fn split_tags(line: &[u8]) -> (&[u8], &[u8]) {
    if line.first() == Some(&b'@') {
        match line.iter().position(|&b| b == b' ') {
            Some(sp) => line.split_at(sp + 1),
            None => (line, &[][..]),
        }
    } else {
        (&[][..], line)
    }
}

/// Is a decoded line over the limits (tag section incl. `@` and space,
/// and the rest, both without CRLF)?
pub(crate) fn too_long(line: &str, limit: usize, tag_limit: usize) -> bool {
    let (tags, rest) = split_tags(line.as_bytes());
    tags.len() > tag_limit || rest.len() > limit
}

/// Appends `s` encoded in `enc`; what `enc` cannot represent becomes `?`.
pub(crate) fn encode_into(enc: &'static Encoding, s: &str, out: &mut Vec<u8>) {
    let mut e = enc.new_encoder();
    let mut src = s;
    loop {
        let need = e
            .max_buffer_length_from_utf8_without_replacement(src.len())
            .unwrap_or(src.len() * 4 + 16);
        out.reserve(need);
        let (r, read) = e.encode_from_utf8_to_vec_without_replacement(src, out, true);
        src = &src[read..];
        match r {
            EncoderResult::InputEmpty => return,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => out.push(b'?'),
        }
    }
}

/// Where the outgoing stream is, between chunks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum At {
    #[default]
    LineStart,
    Tags,
    Body,
}

/// Transcodes what a connection writes: a stream of whole CRLF lines in
/// UTF-8, handed over in chunks (an event is a tag-prefix chunk and a body
/// chunk; a reply is one chunk of several lines). Tags pass unchanged.
#[derive(Debug)]
pub(crate) struct OutEncoder {
    enc: &'static Encoding,
    at: At,
    /// The current line's tag section (`@...` and the space), until its body ends.
    tags: Vec<u8>,
    /// A body that a chunk ended in the middle of (not the usual case).
    body: Vec<u8>,
}

impl OutEncoder {
    pub(crate) fn new(enc: &'static Encoding) -> OutEncoder {
        OutEncoder {
            enc,
            at: At::LineStart,
            tags: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn encoding(&self) -> &'static Encoding {
        self.enc
    }

    /// Transcodes one chunk, appending to `out`.
    pub(crate) fn push(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            match self.at {
                At::LineStart => {
                    self.at = if chunk[0] == b'@' { At::Tags } else { At::Body };
                }
                At::Tags => match chunk.iter().position(|&b| b == b' ') {
                    Some(sp) => {
                        self.tags.extend_from_slice(&chunk[..=sp]);
                        chunk = &chunk[sp + 1..];
                        self.at = At::Body;
                    }
                    None => {
                        self.tags.extend_from_slice(chunk);
                        return;
                    }
                },
                At::Body => match chunk.iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        let line = &chunk[..nl];
                        chunk = &chunk[nl + 1..];
                        if self.body.is_empty() {
                            self.finish_line(line, out);
                        } else {
                            let mut body = std::mem::take(&mut self.body);
                            body.extend_from_slice(line);
                            self.finish_line(&body, out);
                        }
                    }
                    None => {
                        self.body.extend_from_slice(chunk);
                        return;
                    }
                },
            }
        }
    }

    fn finish_line(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let tags = std::mem::take(&mut self.tags);
        self.at = At::LineStart;
        let text = String::from_utf8_lossy(body);
        let start = out.len();
        out.extend_from_slice(&tags);
        let body_start = out.len();
        encode_into(self.enc, &text, out);
        let encoded = out.len() - body_start;
        if encoded > MAX_BODY && encoded > body.len() {
            if let Some(split) = split_point(&text) {
                out.truncate(start);
                self.split_line(&tags, &text, split, out);
                return;
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Writes `text` as several lines that each fit in 510 bytes once
    /// encoded: `head` (through the trailing parameter's colon) repeated,
    /// the trailing parameter cut at character boundaries.
    fn split_line(&self, tags: &[u8], text: &str, head_len: usize, out: &mut Vec<u8>) {
        let (head, trailing) = text.split_at(head_len);
        let mut head_enc = Vec::new();
        encode_into(self.enc, head, &mut head_enc);
        let budget = MAX_BODY.saturating_sub(head_enc.len()).max(16);
        let later_tags = continuation_tags(tags);
        let mut piece: Vec<u8> = Vec::with_capacity(budget);
        let mut first = true;
        let mut ch = Vec::with_capacity(8);
        let emit = |piece: &mut Vec<u8>, first: &mut bool, out: &mut Vec<u8>| {
            out.extend_from_slice(if *first { tags } else { &later_tags });
            out.extend_from_slice(&head_enc);
            out.append(piece);
            out.extend_from_slice(b"\r\n");
            *first = false;
        };
        let mut buf = [0u8; 4];
        for c in trailing.chars() {
            ch.clear();
            encode_into(self.enc, c.encode_utf8(&mut buf), &mut ch);
            if !piece.is_empty() && piece.len() + ch.len() > budget {
                emit(&mut piece, &mut first, out);
            }
            piece.extend_from_slice(&ch);
        }
        if !piece.is_empty() || first {
            emit(&mut piece, &mut first, out);
        }
    }
}

/// Where the trailing parameter's text starts (after ` :`), if the line has one.
fn split_point(line: &str) -> Option<usize> {
    let after_source = if line.starts_with(':') {
        line.find(' ')? + 1
    } else {
        0
    };
    line[after_source..]
        .find(" :")
        .map(|i| after_source + i + 2)
}

/// The tag section for the second and later pieces of a split line: the
/// same tags less `msgid` and `label`, which name one message only.
fn continuation_tags(tags: &[u8]) -> Vec<u8> {
    let Some(inner) = tags.strip_prefix(b"@").and_then(|t| t.strip_suffix(b" ")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in inner.split(|&b| b == b';') {
        let key = t.split(|&b| b == b'=').next().unwrap_or(t);
        if key == b"msgid" || key == b"label" || t.is_empty() {
            continue;
        }
        out.push(if out.is_empty() { b'@' } else { b';' });
        out.extend_from_slice(t);
    }
    if !out.is_empty() {
        out.push(b' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{GB18030, GBK};

    fn gbk() -> Charset {
        Charset::new(GBK, None)
    }

    fn encode_all(enc: &'static Encoding, chunks: &[&[u8]]) -> Vec<u8> {
        let mut e = OutEncoder::new(enc);
        let mut out = Vec::new();
        for c in chunks {
            e.push(c, &mut out);
        }
        out
    }

    #[test]
    fn lookup_refuses_what_cannot_carry_irc() {
        assert_eq!(Charset::lookup("GBK").unwrap(), GBK);
        assert_eq!(Charset::lookup("gb2312").unwrap(), GBK);
        assert_eq!(Charset::lookup("gb18030").unwrap(), GB18030);
        assert!(Charset::lookup("koi8-r").is_ok());
        assert_eq!(
            Charset::lookup("utf-16le"),
            Err(CharsetError::NotAsciiCompatible("UTF-16LE"))
        );
        assert_eq!(
            Charset::lookup("replacement"),
            Err(CharsetError::NotAsciiCompatible("replacement"))
        );
        assert!(matches!(
            Charset::lookup("iso-2022-kr"),
            Err(CharsetError::NotAsciiCompatible("replacement"))
        ));
        assert!(matches!(
            Charset::lookup("no-such"),
            Err(CharsetError::Unknown(_))
        ));
        assert_eq!(Charset::new(UTF_8, Some(UTF_8)), Charset::UTF8);
    }

    #[test]
    fn decodes_gbk_keeps_utf8_tags() {
        // 你好 in GBK
        assert_eq!(
            gbk().decode(b"PRIVMSG bob :\xc4\xe3\xba\xc3"),
            "PRIVMSG bob :你好"
        );
        assert_eq!(
            gbk().decode("@+draft/react=👍 TAGMSG bob".as_bytes()),
            "@+draft/react=👍 TAGMSG bob"
        );
        // An invalid sequence is a visible U+FFFD, not lost bytes.
        assert_eq!(
            gbk().decode(b"PRIVMSG bob :a\xffb"),
            "PRIVMSG bob :a\u{fffd}b"
        );
        let fb = Charset::new(UTF_8, Some(GB18030));
        assert!(matches!(
            fb.decode("PRIVMSG bob :é".as_bytes()),
            Cow::Borrowed(_)
        ));
        assert_eq!(fb.decode(b"PRIVMSG bob :\xc4\xe3"), "PRIVMSG bob :你");
    }

    #[test]
    fn encodes_bodies_not_tags() {
        let out = encode_all(
            GBK,
            &[
                "@time=x;+r=好 ".as_bytes(),
                ":张!~a@h PRIVMSG bob :你好\r\n".as_bytes(),
                b":srv 001 x :hi\r\n@batch=1 :srv NOTICE x :\xe5\xa5\xbd\r\n",
            ],
        );
        let mut want = "@time=x;+r=好 :".as_bytes().to_vec();
        want.extend_from_slice(b"\xd5\xc5!~a@h PRIVMSG bob :\xc4\xe3\xba\xc3\r\n");
        want.extend_from_slice(b":srv 001 x :hi\r\n@batch=1 :srv NOTICE x :\xba\xc3\r\n");
        assert_eq!(out, want);
        // Emoji and Hangul are not in GBK: `?`, one per character.
        let out = encode_all(GBK, &[":a PRIVMSG b :😀한\r\n".as_bytes()]);
        assert_eq!(out, b":a PRIVMSG b :??\r\n");
        // A body split over chunks (not how the server queues, but safe).
        let out = encode_all(GBK, &[b":a PRIVMSG b :\xe4\xbd", b"\xa0\r", b"\n"]);
        assert_eq!(out, b":a PRIVMSG b :\xc4\xe3\r\n");
    }

    #[test]
    fn gb18030_growth_splits_at_characters() {
        // 150 Hangul syllables: 450 bytes of UTF-8, 600 of GB18030.
        let text: String = "한".repeat(150);
        let line = format!("@msgid=m1;time=t :a!~a@h PRIVMSG b :{text}\r\n");
        let out = encode_all(GB18030, &[line.as_bytes()]);
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(b"@msgid=m1;time=t :a!~a@h PRIVMSG b :"));
        assert!(lines[1].starts_with(b"@time=t :a!~a@h PRIVMSG b :"));
        let mut joined = String::new();
        for l in &lines {
            let (_, body) = split_tags(l);
            assert!(body.len() <= MAX_BODY + 1, "{}", body.len());
            let s = GB18030.decode_without_bom_handling(body).0.into_owned();
            let s = s.trim_end_matches('\r');
            joined.push_str(s.split_once(" :").unwrap().1);
        }
        assert_eq!(joined, text);
        // GBK never grows a line: no split there.
        let out = encode_all(GBK, &[line.as_bytes()]);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn continuation_drops_msgid_and_label() {
        assert_eq!(continuation_tags(b"@label=1;msgid=x "), b"");
        assert_eq!(
            continuation_tags(b"@batch=b;msgid=x;+y=z "),
            b"@batch=b;+y=z "
        );
        assert_eq!(continuation_tags(b""), b"");
    }
}
