//! Configuration: a raw struct that mirrors the TOML file, checked once and
//! turned into [`Config`]. Every error names the key, and its line when the
//! key is in the file.
//!
//! One file per section of the file: each holds the section's raw serde
//! struct (keys and defaults), its checked form and the `validate` that
//! turns one into the other. [`Config::from_raw`] only calls them in turn.

mod accounts;
mod admin;
mod cluster;
mod flood;
mod history;
mod limits;
mod listen;
mod metadata;
mod opers;
mod privacy;
mod server;
mod store;

use std::path::{Path, PathBuf};

use ferry_proto::Casemap;
use serde::Deserialize;
use thiserror::Error;

pub use crate::tls::TlsFiles;
pub use accounts::{Accounts, AlwaysOn, NickEnforcement};
pub use admin::{parse_admin_address, Admin, AdminToken};
pub use cluster::ClusterConfig;
pub use flood::Flood;
pub use history::HistoryConfig;
pub use limits::Limits;
pub use listen::{Listen, ListenError, ListenSpec, Sts};
pub use metadata::{valid_key, MetadataConfig};
pub use opers::Oper;
pub use privacy::Privacy;
pub use store::{StoreConfig, DEFAULT_POOL_SIZE};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}:{line}: `{key}`: {message}", line = line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()))]
    Invalid {
        path: String,
        key: String,
        line: Option<usize>,
        message: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    server: server::RawServer,
    listen: Vec<listen::RawListen>,
    limits: limits::RawLimits,
    accounts: accounts::RawAccounts,
    history: history::RawHistory,
    metadata: metadata::RawMetadata,
    flood: flood::RawFlood,
    privacy: privacy::RawPrivacy,
    tls: listen::RawTls,
    oper: Vec<opers::RawOper>,
    admin: admin::RawAdmin,
    store: store::RawStore,
    cluster: cluster::RawCluster,
}

/// The checked configuration the server runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub server_name: String,
    pub description: String,
    pub network: String,
    pub data_dir: PathBuf,
    /// The connection password (PASS); `None` when the server is open.
    pub password: Option<String>,
    pub casemap: Casemap,
    pub motd: Vec<String>,
    pub admin_location: String,
    pub admin_email: String,
    pub listen: Vec<Listen>,
    pub limits: Limits,
    pub accounts: Accounts,
    pub history: HistoryConfig,
    pub metadata: MetadataConfig,
    pub flood: Flood,
    pub privacy: Privacy,
    pub opers: Vec<Oper>,
    /// STS policy advertised to clients, if any.
    pub sts: Option<Sts>,
    /// `[tls]` cert and key: what TLS listeners use unless they name their own.
    pub tls_default: Option<TlsFiles>,
    /// `[admin]`: the admin listener and its API tokens.
    pub admin: Admin,
    /// `[store]`: SQLite in the data directory, or PostgreSQL.
    pub store: StoreConfig,
    /// `[cluster]`: the NATS server and this node's name; None: a single
    /// node.
    pub cluster: Option<ClusterConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_raw(RawConfig::default(), "<defaults>", "").expect("defaults are valid")
    }
}

/// The commented example configuration (`ferry config example`).
pub const EXAMPLE: &str = include_str!("../../ferry.example.toml");

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg = Config::parse(&text, &path.display().to_string())?;
        Ok(cfg)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        Config::from_raw(raw, origin, text)
    }

    /// Checks each section in turn; the first error found is the one
    /// reported.
    fn from_raw(raw: RawConfig, origin: &str, text: &str) -> Result<Config, ConfigError> {
        let src = Source { origin, text };
        let server = server::validate(raw.server, &src)?;
        let listeners = listen::validate(&raw.listen, &raw.tls, &src)?;
        let limits = limits::validate(raw.limits, &src)?;
        let accounts = accounts::validate(raw.accounts, &src)?;
        let history = history::validate(raw.history, &src)?;
        let metadata = metadata::validate(raw.metadata, &src)?;
        let flood = flood::validate(raw.flood, &src)?;
        let privacy = privacy::validate(raw.privacy, &src)?;
        let opers = opers::validate(raw.oper, &src)?;
        let admin = admin::validate(raw.admin, &src)?;
        let store = store::validate(raw.store, &src)?;
        let cluster = cluster::validate(raw.cluster, &src)?;
        if cluster.is_some() && store == StoreConfig::Sqlite {
            return Err(src.invalid(
                "cluster.nats",
                "a cluster needs a PostgreSQL store ([store] url) that every node shares".into(),
            ));
        }
        Ok(Config {
            server_name: server.name,
            description: server.description,
            network: server.network,
            data_dir: server.data_dir,
            password: server.password,
            casemap: server.casemap,
            motd: server.motd,
            admin_location: server.admin_location,
            admin_email: server.admin_email,
            listen: listeners.listen,
            limits,
            accounts,
            history,
            metadata,
            flood,
            privacy,
            opers,
            sts: listeners.sts,
            tls_default: listeners.tls_default,
            admin,
            store,
            cluster,
        })
    }
}

/// The text being checked and the name it goes by: what an error needs to
/// name its file and find its line.
struct Source<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error_on_line(&self, key: &str, line: Option<usize>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.origin.to_string(),
            key: key.to_string(),
            line,
            message,
        }
    }

    /// `key` is wrong: the error points at the line setting it.
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        self.error_on_line(key, find_line(self.text, key), message)
    }

    /// `key` is wrong where it is set to `value`: the error points at the
    /// line holding the offending value (several `[[listen]]` blocks have
    /// the same keys).
    fn invalid_value(&self, key: &str, value: &str, message: String) -> ConfigError {
        self.error_on_line(key, find_line_with(self.text, key, value), message)
    }

    /// The line of a section header such as `[tls.sts]`.
    fn header_line(&self, header: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| l.trim() == header)
            .map(|i| i + 1)
    }
}

/// The line of `key` (`section.name`, last part searched) in the file.
fn find_line(text: &str, key: &str) -> Option<usize> {
    let name = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The line where `key`'s last part is set to a value containing `value`
/// (several `[[listen]]` blocks have the same keys), else where it is set.
fn find_line_with(text: &str, key: &str, value: &str) -> Option<usize> {
    let name = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(name)
                .map(|r| r.trim_start())
                .is_some_and(|r| r.starts_with('=') && r.contains(value))
        })
        .map(|i| i + 1)
        .or_else(|| find_line(text, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_loads() {
        let c = Config::parse(EXAMPLE, "example").unwrap();
        assert_eq!(c.server_name, "ferry.local");
        assert!(!c.opers.is_empty());
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let e = Config::parse("[server]\nnmae = 1\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nmae") && e.contains("line 2"), "{e}");
    }
}
