//! Checks the fuzz targets run (`fuzz/fuzz_targets/parse.rs`), kept here
//! so that the property tests and the fuzzer share them. Each function
//! panics when a promise of this crate is broken.

use crate::{next_line, Casemap, FrameError, Line, Message, MAX_CLIENT_TAGS, MAX_LINE};

/// Frames `data` as the server does, parses every line, and checks that
/// each parsed message built again with [`Line`] parses to the same
/// message; casemapping and masks must hold their own promises on every
/// parameter.
pub fn parse_and_check(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        match next_line(rest, MAX_LINE - 2, MAX_CLIENT_TAGS + 2) {
            Ok(Some(frame)) => {
                assert!(frame.len < frame.consumed && frame.consumed <= rest.len());
                check_line(&rest[..frame.len]);
                rest = &rest[frame.consumed..];
            }
            Ok(None) => {
                // No newline in what is left: a caller would wait for more.
                assert!(!rest.contains(&b'\n'));
                check_line(rest);
                return;
            }
            Err(FrameError::TooLong { consumed, .. }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                rest = &rest[consumed..];
            }
        }
    }
}

fn check_line(raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    let Ok(m) = Message::parse(text) else {
        return;
    };
    assert!(!m.command.is_empty() && !m.command.contains(' '));
    let params = m.params();
    if let Some((_, middle)) = params.split_last() {
        for p in middle {
            assert!(
                !p.is_empty() && !p.starts_with(':') && !p.contains(' '),
                "{text:?}"
            );
        }
    }
    let tags: Vec<(&str, String)> = m.tags().map(|t| (t.key, t.value().into_owned())).collect();
    for (k, _) in &tags {
        let _ = m.tag(k);
    }
    for p in params {
        for cm in [Casemap::Ascii, Casemap::Rfc8265] {
            // Folding is idempotent: a folded nick folds to itself, or two
            // spellings of one nick could be told apart.
            if let Some(f) = cm.fold(p) {
                let again = cm.fold(&f).map(|c| c.into_owned());
                assert_eq!(again.as_deref(), Some(f.as_ref()), "{cm:?} {p:?}");
            }
            let _ = crate::validate::is_valid_nick(p, cm, 32);
            let _ = crate::validate::is_valid_channel(p, cm, 64);
        }
        if !p.contains(['*', '?', '\\']) {
            assert!(crate::mask::matches(p, p), "{p:?}");
        }
        let _ = crate::mask::normalize(p);
    }
    // Build it again and read it back: the same message. (A verb that
    // starts with `@` or `:` parses only after tags or a source; no real
    // verb does, and `Line` cannot write one on its own.)
    let well_formed = m.source.is_none_or(|s| !s.is_empty())
        && !m.command.starts_with(['@', ':'])
        && tags
            .iter()
            .all(|(k, _)| !k.is_empty() && !k.contains(['=', ';', ' ']));
    if !well_formed {
        return;
    }
    let mut line = Line::new();
    for (k, v) in &tags {
        line = line.tag(k, v);
    }
    if let Some(s) = m.source {
        line = line.source(s);
    }
    line = line.verb(m.command);
    if let Some((last, middle)) = params.split_last() {
        for p in middle {
            line = line.param(p);
        }
        line = line.trailing(last);
    }
    let built = line.as_str();
    let back = Message::parse(built).unwrap_or_else(|e| panic!("{built:?}: {e}"));
    assert_eq!(back.source, m.source, "{text:?} -> {built:?}");
    assert_eq!(back.command, m.command, "{text:?} -> {built:?}");
    assert_eq!(back.params(), params, "{text:?} -> {built:?}");
    let back_tags: Vec<(&str, String)> = back
        .tags()
        .map(|t| (t.key, t.value().into_owned()))
        .collect();
    assert_eq!(back_tags, tags, "{text:?} -> {built:?}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_of_odd_lines_pass() {
        for l in [
            &b"@a=b\\:c;d :src PRIVMSG #c :hi there\r\n"[..],
            b"PING\n\nNICK\r\r\n",
            b"@=;; :: X :",
            b"CMD a b c d e f g h i j k l m n o p q r s\n",
            b"\xff\xfe NICK \x00\r\n",
            b"MODE #c +b *!*@*\\\n",
            // Found by the fuzzer: a verb `@` after an empty tag section.
            b"@ @\r\n",
        ] {
            super::parse_and_check(l);
        }
    }
}
