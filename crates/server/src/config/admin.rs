//! `[admin]`: the admin listener (Prometheus metrics, health checks and the
//! JSON API of `admin/`) and the bearer tokens the API takes.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAdmin {
    /// `IP:PORT`, or a bare port for 127.0.0.1; none: no admin listener.
    listen: Option<String>,
    token: Vec<RawToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    hash: String,
}

/// One API token: its name (what the log says did a write) and the
/// SHA-256 of the token itself. Tokens are 256 random bits
/// (`ferry admin token`), so a fast hash is enough: nothing can be
/// guessed from it, and a request costs no argon2 run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub name: String,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone, Default)]
pub struct Admin {
    pub listen: Option<SocketAddr>,
    pub tokens: Vec<AdminToken>,
}

/// `IP:PORT`, or a port alone meaning loopback (`--admin 9780`).
pub fn parse_admin_address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not IP:PORT or a port"))
}

/// `sha256:` and 64 hex digits.
fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn validate(a: RawAdmin, src: &Source<'_>) -> Result<Admin, ConfigError> {
    let listen = match &a.listen {
        Some(l) => Some(parse_admin_address(l).map_err(|m| src.invalid("admin.listen", m))?),
        None => None,
    };
    let mut tokens: Vec<AdminToken> = Vec::new();
    for t in a.token {
        if t.name.is_empty() || t.name.chars().any(|c| c.is_control() || c == ' ') {
            return Err(src.invalid_value(
                "admin.token.name",
                &t.name,
                "must be a word (it names the token in the log)".into(),
            ));
        }
        if tokens.iter().any(|o| o.name == t.name) {
            return Err(src.invalid_value(
                "admin.token.name",
                &t.name,
                "two tokens have this name".into(),
            ));
        }
        let Some(sha256) = parse_hash(&t.hash) else {
            return Err(src.invalid_value(
                "admin.token.hash",
                &t.hash,
                "must be sha256: and 64 hex digits (`ferry admin token NAME` makes one)".into(),
            ));
        };
        tokens.push(AdminToken {
            name: t.name,
            sha256,
        });
    }
    Ok(Admin { listen, tokens })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_port_alone_is_loopback() {
        assert_eq!(
            parse_admin_address("9780").unwrap(),
            "127.0.0.1:9780".parse().unwrap()
        );
        assert_eq!(
            parse_admin_address("[::]:9780").unwrap(),
            "[::]:9780".parse().unwrap()
        );
        assert!(parse_admin_address("localhost").is_err());
    }

    #[test]
    fn tokens_need_a_sha256_hash() {
        let ok = format!(
            "[admin]\nlisten = \"127.0.0.1:9780\"\n[[admin.token]]\nname = \"ops\"\nhash = \"sha256:{}\"\n",
            "ab".repeat(32)
        );
        let c = Config::parse(&ok, "f.toml").unwrap();
        assert_eq!(c.admin.tokens[0].name, "ops");
        assert_eq!(c.admin.tokens[0].sha256, [0xab; 32]);
        let bad = "[admin]\n[[admin.token]]\nname = \"ops\"\nhash = \"hunter2\"\n";
        let e = Config::parse(bad, "f.toml").unwrap_err().to_string();
        assert!(
            e.contains("admin.token.hash") && e.contains("f.toml:4:"),
            "{e}"
        );
    }
}
