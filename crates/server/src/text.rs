//! Building strings on the message path.

/// The parts joined, in one allocation of the exact size. `format!`
/// estimates its capacity from the literal pieces alone and grows by
/// reallocating: for a line of a few names that cost ~1,500 instructions
/// per call, on every relayed message (callgrind,
/// `crates/server/examples/relay.rs`); this costs ~100.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(super::truncate_utf8("hello", 10), "hello");
        assert_eq!(super::truncate_utf8("hello", 3), "hel");
        // 你 is three bytes: a cut inside it drops it whole.
        assert_eq!(super::truncate_utf8("a你好", 3), "a");
        assert_eq!(super::truncate_utf8("a你好", 4), "a你");
        assert_eq!(super::truncate_utf8("你", 0), "");
    }

    #[test]
    fn concat_joins_exactly() {
        let s = super::concat(&[":", "nick", "!", "u", "@", "h", " PRIVMSG x :你好", "\r\n"]);
        assert_eq!(s, ":nick!u@h PRIVMSG x :你好\r\n");
        assert_eq!(s.capacity(), s.len());
        assert_eq!(super::concat(&[]), "");
    }
}
