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

#[cfg(test)]
mod tests {
    #[test]
    fn concat_joins_exactly() {
        let s = super::concat(&[":", "nick", "!", "u", "@", "h", " PRIVMSG x :你好", "\r\n"]);
        assert_eq!(s, ":nick!u@h PRIVMSG x :你好\r\n");
        assert_eq!(s.capacity(), s.len());
        assert_eq!(super::concat(&[]), "");
    }
}
