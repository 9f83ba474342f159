//! Case-insensitive comparison of nicknames and channel names.
//!
//! `rfc8265` is PRECIS UsernameCaseMapped (RFC 8265), as Ergo uses it: it
//! lets Chinese (or any) users pick nicks in their own script while two
//! nicks that look alike after width and case mapping stay one nick.
//! `ascii` folds only A-Z, for networks that want plain IRC behaviour.
//!
//! Under `rfc8265` ferry also folds `[]\~` to `{}|^`, as rfc1459 does: most
//! clients do not know `rfc8265` and fall back to rfc1459, and a nick pair
//! such as `ali[ce` / `ali{ce` that those clients take for one person must not
//! be two people on the server (WeeChat merged them in its nick list).

use std::borrow::Cow;

use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::UsernameCaseMapped;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Casemap {
    Ascii,
    #[default]
    Rfc8265,
}

impl Casemap {
    /// The value of `CASEMAPPING` in RPL_ISUPPORT.
    pub fn name(self) -> &'static str {
        match self {
            Casemap::Ascii => "ascii",
            Casemap::Rfc8265 => "rfc8265",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ascii" => Some(Casemap::Ascii),
            "rfc8265" | "precis" => Some(Casemap::Rfc8265),
            _ => None,
        }
    }

    /// The folded form of a name, or `None` when the name has characters
    /// this casemapping does not allow in names.
    pub fn fold<'a>(self, s: &'a str) -> Option<Cow<'a, str>> {
        let folded = self.fold_case(s)?;
        if self == Casemap::Rfc8265 && folded.contains(['[', ']', '\\', '~']) {
            let mapped = folded
                .chars()
                .map(|c| match c {
                    '[' => '{',
                    ']' => '}',
                    '\\' => '|',
                    '~' => '^',
                    c => c,
                })
                .collect();
            return Some(Cow::Owned(mapped));
        }
        Some(folded)
    }

    fn fold_case<'a>(self, s: &'a str) -> Option<Cow<'a, str>> {
        if s.is_ascii() {
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                return Some(Cow::Owned(s.to_ascii_lowercase()));
            }
            return Some(Cow::Borrowed(s));
        }
        match self {
            Casemap::Ascii => None,
            Casemap::Rfc8265 => {
                // PRECIS enforcement is idempotent for almost every input;
                // Ergo iterates to a fixed point for the rest, so do we.
                let mut cur: Cow<'a, str> = Cow::Borrowed(s);
                for _ in 0..4 {
                    let next = UsernameCaseMapped::enforce(cur.as_ref()).ok()?.into_owned();
                    if next == cur.as_ref() {
                        return Some(Cow::Owned(next));
                    }
                    cur = Cow::Owned(next);
                }
                None
            }
        }
    }

    /// Folds a string that is not a name (a mask, a hostname): characters
    /// PRECIS refuses are kept, lowercased.
    pub fn fold_lossy(self, s: &str) -> String {
        match self.fold(s) {
            Some(f) => f.into_owned(),
            None => s.to_lowercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds() {
        assert_eq!(Casemap::Ascii.fold("NiCk[]").as_deref(), Some("nick[]"));
        assert_eq!(Casemap::Ascii.fold("张三"), None);
        assert_eq!(Casemap::Rfc8265.fold("张三").as_deref(), Some("张三"));
        assert_eq!(Casemap::Rfc8265.fold("ÉLodie").as_deref(), Some("élodie"));
        // full-width letters map to their ASCII forms
        assert_eq!(Casemap::Rfc8265.fold("ＡＢ").as_deref(), Some("ab"));
        assert_eq!(Casemap::Rfc8265.fold("a b"), Some("a b".into()));
        // rfc1459's brackets, for clients that assume it
        assert_eq!(
            Casemap::Rfc8265.fold("Ali[ce]\\~").as_deref(),
            Some("ali{ce}|^")
        );
        assert_eq!(Casemap::Ascii.fold("ali[ce").as_deref(), Some("ali[ce"));
    }
}
