//! Lines on the wire: tags in UTF-8 whatever the charset, the rest in
//! the wire's charset (GBK listeners and servers).

use encoding_rs::{Encoding, UTF_8};

/// `line` (no CR LF) as bytes for the wire: tags as UTF-8, the rest
/// in the wire's charset, then CR LF.
pub fn encode_line(enc: &'static Encoding, line: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(line.len() + 2);
    let (tags, rest) = match line.strip_prefix('@').and_then(|_| line.split_once(' ')) {
        Some((t, r)) => (Some(t), r),
        None => (None, line),
    };
    if let Some(t) = tags {
        bytes.extend_from_slice(t.as_bytes());
        bytes.push(b' ');
    }
    if enc == UTF_8 {
        bytes.extend_from_slice(rest.as_bytes());
    } else {
        bytes.extend_from_slice(&enc.encode(rest).0);
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// One line read from the wire (with or without its CR LF) as text: tags
/// as UTF-8 (lossy), the rest decoded from the wire's charset (UTF-8
/// lossy when that is the charset).
pub fn decode_line(enc: &'static Encoding, mut buf: &[u8]) -> String {
    while let [rest @ .., b'\n' | b'\r'] = buf {
        buf = rest;
    }
    let split = if buf.first() == Some(&b'@') {
        buf.iter()
            .position(|&b| b == b' ')
            .map_or(buf.len(), |i| i + 1)
    } else {
        0
    };
    let mut text = String::from_utf8_lossy(&buf[..split]).into_owned();
    text.push_str(&enc.decode_without_bom_handling(&buf[split..]).0);
    text
}
