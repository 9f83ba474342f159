//! `[store]`: where accounts, lists, offline messages and history live —
//! SQLite in the data directory (the default), or PostgreSQL.

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStore {
    /// `postgres://user:password@host:port/database` (or libpq's
    /// `key=value` form); none: SQLite in `server.data_dir`.
    url: Option<String>,
    /// PostgreSQL connections this node keeps (default 2).
    pool_size: usize,
    /// The CA (PEM) the database server's certificate must come from;
    /// set, the connection is TLS (as with `sslmode=require` in the URL,
    /// which without it checks against the web's roots).
    ca_file: Option<std::path::PathBuf>,
}

/// PostgreSQL connections a node keeps unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 2;

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: None,
            pool_size: DEFAULT_POOL_SIZE,
            ca_file: None,
        }
    }
}

/// The store the server runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite in the data directory.
    Sqlite,
    /// PostgreSQL at `url`, with `pool_size` connections, over TLS
    /// checked against `ca_file` if set.
    Postgres {
        url: String,
        pool_size: usize,
        ca_file: Option<std::path::PathBuf>,
    },
}

impl StoreConfig {
    /// PostgreSQL at `url` (`postgres://`, `postgresql://`, or libpq's
    /// `key=value` form) with `pool_size` connections; why not, if not.
    pub fn postgres(url: &str, pool_size: usize) -> Result<StoreConfig, String> {
        let is_pg = url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.contains("host=")
            || url.contains("dbname=");
        if !is_pg {
            return Err(
                "must be a PostgreSQL URL (postgres://user:password@host/database); leave it out for SQLite"
                    .into(),
            );
        }
        if pool_size == 0 || pool_size > 64 {
            return Err("the pool size must be 1 to 64".into());
        }
        Ok(StoreConfig::Postgres {
            url: url.to_string(),
            pool_size,
            ca_file: None,
        })
    }
}

pub(super) fn validate(s: RawStore, src: &Source<'_>) -> Result<StoreConfig, ConfigError> {
    match s.url.filter(|u| !u.trim().is_empty()) {
        None => Ok(StoreConfig::Sqlite),
        Some(url) => {
            let mut c = StoreConfig::postgres(&url, s.pool_size)
                .map_err(|e| src.invalid("store.url", e))?;
            if let StoreConfig::Postgres { ca_file, .. } = &mut c {
                ca_file.clone_from(&s.ca_file);
            }
            Ok(c)
        }
    }
}
