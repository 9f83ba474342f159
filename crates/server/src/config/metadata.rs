//! `[metadata]`: profiles and channel metadata (IRCv3 `draft/metadata-3`).

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawMetadata {
    enabled: bool,
    max_subs: usize,
    max_keys: usize,
    max_value_bytes: usize,
    keys: Vec<String>,
}

impl Default for RawMetadata {
    fn default() -> Self {
        RawMetadata {
            enabled: true,
            max_subs: 100,
            max_keys: 20,
            max_value_bytes: 300,
            keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MetadataConfig {
    pub enabled: bool,
    /// Keys one connection may subscribe to.
    pub max_subs: usize,
    /// Keys one user or channel may hold.
    pub max_keys: usize,
    /// The longest value, in bytes (a RPL_KEYVALUE must fit one line).
    pub max_value_bytes: usize,
    /// The keys that may be set, lower case; empty: any valid key.
    pub keys: Vec<String>,
}

/// The most a value may be: with its key, the server's name and a nick it
/// must fit a 512-byte RPL_KEYVALUE line.
const VALUE_CEILING: usize = 350;

pub(super) fn validate(m: RawMetadata, src: &Source<'_>) -> Result<MetadataConfig, ConfigError> {
    if m.max_value_bytes == 0 || m.max_value_bytes > VALUE_CEILING {
        return Err(src.invalid(
            "metadata.max_value_bytes",
            format!("must be 1 to {VALUE_CEILING}"),
        ));
    }
    let mut keys = Vec::new();
    for k in m.keys {
        let k = k.to_ascii_lowercase();
        if !valid_key(&k) {
            return Err(src.invalid("metadata.keys", format!("{k:?} is not a valid key")));
        }
        keys.push(k);
    }
    Ok(MetadataConfig {
        enabled: m.enabled,
        max_subs: m.max_subs.max(1),
        max_keys: m.max_keys.max(1),
        max_value_bytes: m.max_value_bytes,
        keys,
    })
}

/// A key as the spec allows it: `a-z 0-9 _ . / -` (after lower-casing),
/// at most 64 bytes.
pub fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_./-".contains(&b))
}
