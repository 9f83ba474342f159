//! `[[oper]]`: operators, by password hash, client certificate or both.

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOper {
    name: String,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    certfp: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Oper {
    pub name: String,
    /// A PHC string (`$argon2id$...`), as `ferry config hash-password` prints.
    pub password_hash: Option<String>,
    /// SHA-256 of the TLS client certificate the operator must present
    /// (lowercase hex). With a password too, both must match; alone, the
    /// certificate is enough (`OPER name`).
    pub certfp: Option<String>,
}

pub(super) fn validate(raw: Vec<RawOper>, src: &Source<'_>) -> Result<Vec<Oper>, ConfigError> {
    raw.into_iter().map(|o| oper(o, src)).collect()
}

fn oper(o: RawOper, src: &Source<'_>) -> Result<Oper, ConfigError> {
    if let Some(h) = &o.password_hash {
        if argon2::PasswordHash::new(h).is_err() {
            return Err(src.invalid(
                "oper.password_hash",
                format!(
                    "oper {:?}: not a PHC hash string (make one with `ferry config hash-password`)",
                    o.name
                ),
            ));
        }
    }
    let certfp = match o.certfp {
        None => None,
        Some(fp) => {
            let hex: String = fp
                .chars()
                .filter(|c| *c != ':')
                .collect::<String>()
                .to_ascii_lowercase();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(src.invalid(
                    "oper.certfp",
                    format!(
                        "oper {:?}: a certificate fingerprint is 64 hex digits (SHA-256, as WHOIS 276 shows it)",
                        o.name
                    ),
                ));
            }
            Some(hex)
        }
    };
    if o.password_hash.is_none() && certfp.is_none() {
        return Err(src.invalid(
            "oper",
            format!("oper {:?}: needs password_hash, certfp or both", o.name),
        ));
    }
    Ok(Oper {
        name: o.name,
        password_hash: o.password_hash,
        certfp,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error(text: &str) -> String {
        Config::parse(text, "f.toml").unwrap_err().to_string()
    }

    #[test]
    fn opers_need_a_valid_hash_or_fingerprint() {
        assert_eq!(
            error("[[oper]]\nname = \"root\"\npassword_hash = \"plain\"\n"),
            "f.toml:3: `oper.password_hash`: oper \"root\": not a PHC hash string \
             (make one with `ferry config hash-password`)"
        );
        assert_eq!(
            error("[[oper]]\nname = \"root\"\ncertfp = \"ab:cd\"\n"),
            "f.toml:3: `oper.certfp`: oper \"root\": a certificate fingerprint is 64 hex \
             digits (SHA-256, as WHOIS 276 shows it)"
        );
        assert_eq!(
            error("[[oper]]\nname = \"root\"\n"),
            "f.toml:?: `oper`: oper \"root\": needs password_hash, certfp or both"
        );
        let fp = "AB:".repeat(31) + "AB";
        let cfg = Config::parse(
            &format!("[[oper]]\nname = \"root\"\ncertfp = \"{fp}\"\n"),
            "f",
        )
        .unwrap();
        assert_eq!(
            cfg.opers[0].certfp.as_deref(),
            Some("ab".repeat(32).as_str())
        );
    }
}
