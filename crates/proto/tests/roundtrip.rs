//! Properties: what [`Line`] builds, [`Message::parse`] reads back; the
//! parser and the framer survive any input.

use ferry_proto::frame::Frame;
use ferry_proto::{next_line, FrameError, Line, Message};
use proptest::prelude::*;

/// A parameter that needs no colon: not empty, no space, no leading colon.
const MIDDLE: &str = "[^\\x00\\r\\n :][^\\x00\\r\\n ]*";
/// Anything that fits on one line.
const ANY_LINE: &str = "[^\\x00\\r\\n]*";

#[derive(Debug, Clone)]
struct Atoms {
    tags: Vec<(String, String)>,
    source: Option<String>,
    verb: String,
    middles: Vec<String>,
    /// The last parameter, and whether to write it with [`Line::trailing`].
    last: Option<(String, bool)>,
}

fn atoms() -> impl Strategy<Value = Atoms> {
    let tags = prop::collection::vec(("[a-z0-9+/.-]{1,10}", ANY_LINE), 0..5);
    let source = prop::option::of("[^\\x00\\r\\n :][^\\x00\\r\\n ]*");
    let verb = prop_oneof!["[A-Z]{1,10}", "[0-9]{3}"];
    let middles = prop::collection::vec(MIDDLE, 0..=14);
    let last = prop::option::of((ANY_LINE, any::<bool>()));
    (tags, source, verb, middles, last).prop_map(|(tags, source, verb, middles, last)| Atoms {
        tags,
        source,
        verb,
        middles,
        last,
    })
}

fn build(a: &Atoms) -> Line {
    let mut line = Line::new();
    for (k, v) in &a.tags {
        line = line.tag(k, v);
    }
    if let Some(s) = &a.source {
        line = line.source(s);
    }
    line = line.verb(&a.verb);
    for p in &a.middles {
        line = line.param(p);
    }
    match &a.last {
        Some((p, true)) => line.trailing(p),
        Some((p, false)) => line.param(p),
        None => line,
    }
}

/// Bytes that are mostly IRC punctuation, so that lines, tags and
/// terminators turn up often.
fn ircish_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"a@: ;=\\\r\n".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max)
}

/// Checks everything `next_line` promises about its answer for `buf`.
fn check_frame(buf: &[u8], limit: usize, tag_limit: usize) -> Result<(), TestCaseError> {
    let first_nl = buf.iter().position(|&b| b == b'\n');
    match next_line(buf, limit, tag_limit) {
        Ok(Some(Frame { len, consumed })) => {
            prop_assert_eq!(Some(consumed - 1), first_nl);
            prop_assert!(len == consumed - 1 || (len == consumed - 2 && buf[len] == b'\r'));
            let line = &buf[..len];
            match (line.first(), line.iter().position(|&b| b == b' ')) {
                (Some(b'@'), Some(sp)) => {
                    let (tags, rest) = (sp + 1, len - sp - 1);
                    prop_assert!(tags <= tag_limit, "tag section {} > {}", tags, tag_limit);
                    prop_assert!(rest <= limit, "line {} > {}", rest, limit);
                }
                (Some(b'@'), None) => prop_assert!(len <= tag_limit),
                _ => prop_assert!(len <= limit, "line {} > {}", len, limit),
            }
        }
        Ok(None) => {
            prop_assert_eq!(first_nl, None);
            prop_assert!(buf.len() <= limit + tag_limit + 1);
        }
        Err(FrameError::TooLong {
            consumed,
            complete: true,
        }) => {
            prop_assert_eq!(Some(consumed - 1), first_nl);
        }
        Err(FrameError::TooLong {
            consumed,
            complete: false,
        }) => {
            // All of it may go, and the caller then skips to the next
            // newline: there must not be one in what it dropped.
            prop_assert_eq!(consumed, buf.len());
            prop_assert_eq!(first_nl, None);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn built_lines_parse_back(a in atoms()) {
        let line = build(&a);
        let text = line.as_str();
        prop_assert_eq!(line.clone().finish(), format!("{text}\r\n"));
        let m = Message::parse(text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;

        let tags: Vec<(String, String)> = m.tags().map(|t| (t.key.to_string(), t.value().into_owned())).collect();
        prop_assert_eq!(&tags, &a.tags, "{:?}", text);
        prop_assert_eq!(m.tags_raw.is_some(), !a.tags.is_empty());
        for (k, _) in &a.tags {
            let last = a.tags.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            let got = m.tag(k);
            prop_assert_eq!(got.as_deref(), last);
        }
        prop_assert_eq!(m.source, a.source.as_deref());
        prop_assert_eq!(m.command, a.verb.as_str());
        let mut params: Vec<&str> = a.middles.iter().map(String::as_str).collect();
        if let Some((p, _)) = &a.last {
            params.push(p);
        }
        prop_assert_eq!(m.params(), params.as_slice(), "{:?}", text);
    }

    #[test]
    fn parse_never_panics(s in prop_oneof![any::<String>(), "[@:; =\\\\a!]{0,80}"]) {
        if let Ok(m) = Message::parse(&s) {
            for t in m.tags() {
                let _ = (t.value(), t.is_client_only(), m.tag(t.key));
            }
            prop_assert!(m.params().len() <= ferry_proto::MAX_PARAMS);
            let _ = format!("{m:?}");
        }
    }

    #[test]
    fn frames_respect_limits(
        buf in prop_oneof![ircish_bytes(1500), prop::collection::vec(any::<u8>(), 0..1500)],
        limit in 0usize..600,
        tag_limit in 0usize..600,
    ) {
        check_frame(&buf, limit, tag_limit)?;
    }

    /// A line within the limits is never refused, however it is split
    /// across reads, and whatever follows it.
    #[test]
    fn valid_lines_are_framed(
        tags in prop::option::of("[^\\x00\\r\\n ]{0,300}"),
        body in "[^@\\r\\n][^\\r\\n]{0,500}",
        crlf in any::<bool>(),
        extra_limit in 0usize..20,
        after in ircish_bytes(800),
    ) {
        let mut line = Vec::new();
        let mut tag_limit = 0;
        if let Some(t) = &tags {
            line.push(b'@');
            line.extend_from_slice(t.as_bytes());
            line.push(b' ');
            tag_limit = line.len();
        }
        line.extend_from_slice(body.as_bytes());
        let len = line.len();
        let limit = body.len();
        line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        let consumed = line.len();
        line.extend_from_slice(&after);
        let (limit, tag_limit) = (limit + extra_limit, tag_limit + extra_limit);
        for end in 0..consumed {
            prop_assert_eq!(next_line(&line[..end], limit, tag_limit), Ok(None), "prefix of {}", end);
        }
        for end in consumed..=line.len() {
            prop_assert_eq!(next_line(&line[..end], limit, tag_limit), Ok(Some(Frame { len, consumed })));
        }
    }
}
