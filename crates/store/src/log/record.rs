//! One history record as it sits in a segment file.
//!
//! ```text
//!  0  u32  len      the whole record, header included
//!  4  u32  crc      CRC-32 of bytes 8..len
//!  8  u64  id       log-wide sequence number
//! 16  i64  time_ms
//! 24  u64  prev     position of the key's record n-1 (NONE for n = 0)
//! 32  u64  jump     position of the key's record n & (n-1) (NONE for n = 0)
//! 40  u64  n        this record's index among its key's records
//! 48  fields: key, msgid, source, account, command, target (u16 length
//!     each; account 0xFFFF when none), text, tags (u32 length each)
//! ```
//!
//! All little-endian. A position is segment << 32 | offset.

use crate::StoredMessage;

pub(crate) const HEADER: usize = 48;
/// No record: the end of a key's chain.
pub(crate) const NONE: u64 = u64::MAX;
/// Far more than any IRC line: a length over it is a torn or foreign file.
pub(crate) const MAX_RECORD: usize = 1 << 20;
const NO_ACCOUNT: u16 = u16::MAX;

/// The fixed part of a record: all a chain walk needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub len: u32,
    pub crc: u32,
    pub id: u64,
    pub time_ms: i64,
    pub prev: u64,
    pub jump: u64,
    pub n: u64,
}

impl Header {
    pub(crate) fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let h = Header {
            len: u32_at(0),
            crc: u32_at(4),
            id: u64_at(8),
            time_ms: u64_at(16) as i64,
            prev: u64_at(24),
            jump: u64_at(32),
            n: u64_at(40),
        };
        let len = h.len as usize;
        (HEADER..=MAX_RECORD).contains(&len).then_some(h)
    }
}

/// Appends a record for `m` of `key` to `out`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    key: &str,
    m: &StoredMessage,
    id: u64,
    prev: u64,
    jump: u64,
    n: u64,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(m.time_ms as u64).to_le_bytes());
    out.extend_from_slice(&prev.to_le_bytes());
    out.extend_from_slice(&jump.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    let short = |out: &mut Vec<u8>, s: &str| {
        // IRC lines bound every field far below 64 KiB; cut, never wrap.
        let s = truncate(s, (u16::MAX - 1) as usize);
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    let long = |out: &mut Vec<u8>, s: &str| {
        let s = truncate(s, MAX_RECORD / 4);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    short(out, key);
    short(out, &m.msgid);
    short(out, &m.source);
    match &m.account {
        Some(a) => short(out, a),
        None => out.extend_from_slice(&NO_ACCOUNT.to_le_bytes()),
    }
    short(out, &m.command);
    short(out, &m.target);
    long(out, &m.text);
    long(out, &m.tags);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What marks a redacted record's command (padded with NULs to the
/// original's length, so the record keeps its size).
const REDACTED: &str = "REDACT";

/// Was this record redacted (`scrub`)?
pub(crate) fn is_redacted(m: &StoredMessage) -> bool {
    m.command.starts_with(REDACTED)
}

/// The message as a redacted record keeps it, byte for byte as long: who
/// sent it, when, where and its msgid; its command marked; its text and
/// tags NULs. (Every stored command — PRIVMSG, NOTICE, TAGMSG — is at
/// least as long as the mark.)
pub(crate) fn scrub(m: StoredMessage) -> StoredMessage {
    let nuls = |n: usize| "\0".repeat(n);
    let mut command = String::from(REDACTED);
    command.push_str(&nuls(m.command.len().saturating_sub(REDACTED.len())));
    StoredMessage {
        command,
        text: nuls(m.text.len()),
        tags: nuls(m.tags.len()),
        ..m
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A whole record read back: its header, key and message. None when the
/// bytes are not a record (a torn write, a bad checksum).
pub(crate) fn decode(b: &[u8]) -> Option<(Header, String, StoredMessage)> {
    let h = Header::parse(b)?;
    let len = h.len as usize;
    if b.len() < len || crc32fast::hash(&b[8..len]) != h.crc {
        return None;
    }
    let mut r = Reader { b: &b[HEADER..len] };
    let key = r.short()?;
    let msgid = r.short()?;
    let source = r.short()?;
    let account = r.account()?;
    let command = r.short()?;
    let target = r.short()?;
    let text = r.long()?;
    let tags = r.long()?;
    let m = StoredMessage {
        msgid,
        time_ms: h.time_ms,
        source,
        account,
        command,
        target,
        text,
        tags,
    };
    Some((h, key, m))
}

/// The key of a record whose checksum was already verified.
pub(crate) fn key_of(b: &[u8]) -> Option<String> {
    Reader {
        b: b.get(HEADER..)?,
    }
    .short()
}

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.b.len() < n {
            return None;
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Some(a)
    }

    fn str(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn short(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        self.str(n as usize)
    }

    fn account(&mut self) -> Option<Option<String>> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        if n == NO_ACCOUNT {
            return Some(None);
        }
        self.str(n as usize).map(Some)
    }

    fn long(&mut self) -> Option<String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.str(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(account: Option<&str>) -> StoredMessage {
        StoredMessage {
            msgid: "m1".into(),
            time_ms: 1_700_000_000_123,
            source: "alice!a@h".into(),
            account: account.map(str::to_string),
            command: "PRIVMSG".into(),
            target: "#中文".into(),
            text: "你好 world".into(),
            tags: "+draft/reply=x".into(),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        for account in [None, Some("alice"), Some("")] {
            let mut b = vec![7, 7, 7];
            encode(&mut b, "#中文", &msg(account), 42, 5, 3, 9);
            let (h, key, m) = decode(&b[3..]).expect("decodes");
            assert_eq!((h.id, h.prev, h.jump, h.n), (42, 5, 3, 9));
            assert_eq!(h.len as usize, b.len() - 3);
            assert_eq!(key, "#中文");
            assert_eq!(m, msg(account));
            assert_eq!(key_of(&b[3..]).as_deref(), Some("#中文"));
        }
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let mut b = Vec::new();
        encode(&mut b, "#a", &msg(None), 1, NONE, NONE, 0);
        for cut in [0, 7, HEADER, b.len() - 1] {
            assert!(decode(&b[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = b.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(decode(&flipped).is_none());
        let mut huge = b.clone();
        huge[0..4].copy_from_slice(&(MAX_RECORD as u32 + 1).to_le_bytes());
        assert!(Header::parse(&huge).is_none());
    }

    #[test]
    fn overlong_fields_are_cut_on_a_character() {
        let mut m = msg(None);
        m.source = "é".repeat(40_000);
        let mut b = Vec::new();
        encode(&mut b, "#a", &m, 1, NONE, NONE, 0);
        let (_, _, back) = decode(&b).expect("decodes");
        assert!(back.source.len() < u16::MAX as usize);
        assert!(back.source.chars().all(|c| c == 'é'));
    }
}
