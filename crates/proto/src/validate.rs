//! What may be a nickname or a channel name.

use crate::Casemap;

/// A nickname: not empty, within `max_len` characters, no spaces or the
/// characters IRC gives meaning to, not starting with a digit, `-`, `#`,
/// `&`, `$` or `:`, and foldable by the casemapping.
pub fn is_valid_nick(nick: &str, casemap: Casemap, max_len: usize) -> bool {
    let Some(first) = nick.chars().next() else {
        return false;
    };
    if nick.chars().count() > max_len {
        return false;
    }
    if first.is_ascii_digit()
        || matches!(first, '-' | '#' | '&' | '$' | ':' | '~' | '+' | '%' | '@')
    {
        return false;
    }
    if nick.chars().any(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, ',' | '*' | '?' | '!' | '@' | '.' | ':')
    }) {
        return false;
    }
    match casemap {
        Casemap::Ascii => nick
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"[]\\`_^{|}-".contains(&b)),
        Casemap::Rfc8265 => casemap.fold(nick).is_some(),
    }
}

/// A channel name: `#` then at least one character, within `max_len`
/// bytes, no space, comma, BEL or control characters, foldable.
pub fn is_valid_channel(name: &str, casemap: Casemap, max_len: usize) -> bool {
    let Some(rest) = name.strip_prefix('#') else {
        return false;
    };
    if rest.is_empty() || name.len() > max_len {
        return false;
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ',' || c == '\u{7}')
    {
        return false;
    }
    casemap.fold(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        let c = Casemap::Rfc8265;
        assert!(is_valid_nick("alice", c, 30));
        assert!(is_valid_nick("张三", c, 30));
        assert!(is_valid_nick("[bot]_x", c, 30));
        assert!(!is_valid_nick("1abc", c, 30));
        assert!(!is_valid_nick("a b", c, 30));
        assert!(!is_valid_nick("a,b", c, 30));
        assert!(!is_valid_nick("#a", c, 30));
        assert!(!is_valid_nick("", c, 30));
        assert!(!is_valid_nick("张三", Casemap::Ascii, 30));
        assert!(is_valid_channel("#rust", c, 64));
        assert!(is_valid_channel("#中文", c, 64));
        assert!(!is_valid_channel("#a,b", c, 64));
        assert!(!is_valid_channel("rust", c, 64));
        assert!(!is_valid_channel("#", c, 64));
    }
}
