//! Wildcard masks: `*` matches any run of characters, `?` exactly one.

/// Does `subject` match `mask`? Both should already be folded by the same
/// casemapping. Greedy with one backtrack point: linear in practice.
pub fn matches(mask: &str, subject: &str) -> bool {
    let m: Vec<char> = mask.chars().collect();
    let s: Vec<char> = subject.chars().collect();
    let (mut mi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if mi < m.len() && (m[mi] == '?' || m[mi] == s[si]) && m[mi] != '*' {
            mi += 1;
            si += 1;
        } else if mi < m.len() && m[mi] == '*' {
            star = Some((mi, si));
            mi += 1;
        } else if let Some((smi, ssi)) = star {
            mi = smi + 1;
            si = ssi + 1;
            star = Some((smi, ssi + 1));
        } else {
            return false;
        }
    }
    m[mi..].iter().all(|&c| c == '*')
}

/// Completes a ban-style mask: `nick` → `nick!*@*`, `user@host` →
/// `*!user@host`, `nick!user` → `nick!user@*`.
pub fn normalize(mask: &str) -> String {
    let has_bang = mask.contains('!');
    let has_at = mask.contains('@');
    match (has_bang, has_at) {
        (true, true) => mask.to_string(),
        (true, false) => format!("{mask}@*"),
        (false, true) => format!("*!{mask}"),
        (false, false) => format!("{mask}!*@*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches("a*b?c", "axxbyc"));
        assert!(!matches("a*b?c", "axxbc"));
        assert!(matches("*@127.0.0.1", "x!y@127.0.0.1"));
        assert_eq!(normalize("bob"), "bob!*@*");
        assert_eq!(normalize("*@host"), "*!*@host");
    }
}
