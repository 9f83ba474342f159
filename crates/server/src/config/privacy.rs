//! `[privacy]`: cloaked host names.

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPrivacy {
    cloak: bool,
    cloak_secret: Option<String>,
    cloak_suffix: String,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy {
            cloak: true,
            cloak_secret: None,
            cloak_suffix: "ip".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Privacy {
    /// Show keyed cloaks instead of addresses.
    pub cloak: bool,
    /// The cloak key: from `cloak_secret`, else `cloak.key` in the data
    /// directory (made at first start). `None`: show addresses.
    pub cloak_key: Option<Vec<u8>>,
    pub cloak_suffix: String,
}

pub(super) fn validate(p: RawPrivacy, src: &Source<'_>) -> Result<Privacy, ConfigError> {
    if p.cloak_suffix.is_empty() || p.cloak_suffix.contains([' ', '@', '!']) {
        return Err(src.invalid("privacy.cloak_suffix", "must be a host name part".into()));
    }
    Ok(Privacy {
        cloak: p.cloak,
        cloak_key: p.cloak_secret.filter(|_| p.cloak).map(String::into_bytes),
        cloak_suffix: p.cloak_suffix,
    })
}
