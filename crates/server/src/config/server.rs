//! `[server]`: names, data directory, connection password, casemapping and
//! MOTD.

use std::path::PathBuf;

use ferry_proto::Casemap;
use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawServer {
    name: String,
    description: String,
    network: String,
    data_dir: PathBuf,
    password: String,
    casemapping: String,
    motd: Option<String>,
    motd_file: Option<PathBuf>,
    admin_location: String,
    admin_email: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            name: "ferry.local".into(),
            description: "ferry chat relay".into(),
            network: "ferry".into(),
            data_dir: "./ferry-data".into(),
            password: String::new(),
            casemapping: "rfc8265".into(),
            motd: None,
            motd_file: None,
            admin_location: "ferry".into(),
            admin_email: "root@localhost".into(),
        }
    }
}

/// The checked `[server]` section; [`super::Config`] keeps its fields at
/// the top level.
pub(super) struct Server {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) network: String,
    pub(super) data_dir: PathBuf,
    pub(super) password: Option<String>,
    pub(super) casemap: Casemap,
    pub(super) motd: Vec<String>,
    pub(super) admin_location: String,
    pub(super) admin_email: String,
}

pub(super) fn validate(s: RawServer, src: &Source<'_>) -> Result<Server, ConfigError> {
    if s.name.is_empty() || s.name.contains(' ') || !s.name.contains('.') {
        return Err(src.invalid(
            "server.name",
            "must be a host name with a dot and no spaces".into(),
        ));
    }
    if s.network.is_empty() || s.network.contains(' ') {
        return Err(src.invalid("server.network", "must be one word".into()));
    }
    let casemap = Casemap::from_name(&s.casemapping).ok_or_else(|| {
        src.invalid(
            "server.casemapping",
            "must be \"rfc8265\" or \"ascii\"".into(),
        )
    })?;
    let motd_text = match (&s.motd, &s.motd_file) {
        (Some(_), Some(_)) => {
            return Err(src.invalid(
                "server.motd_file",
                "set either motd or motd_file, not both".into(),
            ))
        }
        (Some(t), None) => t.clone(),
        (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| {
            src.invalid(
                "server.motd_file",
                format!("cannot read {}: {e}", p.display()),
            )
        })?,
        (None, None) => "Welcome to ferry, a chat relay on IRC.".into(),
    };
    let motd = motd_text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    Ok(Server {
        name: s.name,
        description: s.description,
        network: s.network,
        data_dir: s.data_dir,
        password: (!s.password.is_empty()).then_some(s.password),
        casemap,
        motd,
        admin_location: s.admin_location,
        admin_email: s.admin_email,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn errors_name_key_and_line() {
        let e = Config::parse("[server]\nname = \"x y\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "f.toml:2: `server.name`: must be a host name with a dot and no spaces"
        );
    }
}
