//! `[cluster]`: this node's place in a cluster of ferry nodes that share
//! a NATS server (the bus) and a PostgreSQL store (docs/CLUSTER.md).

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawCluster {
    /// `nats://host:port` (or `nats://user:password@host:port`); none: a
    /// single node.
    nats: Option<String>,
    /// This node's stable name (claims, logs, STATS); default: the
    /// machine's host name.
    node: Option<String>,
    /// The prefix of every subject and bucket (several clusters on one
    /// NATS keep apart by it).
    prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub nats: String,
    pub node: String,
    pub prefix: String,
}

/// What NATS subjects and KV keys take: `[-_a-zA-Z0-9]` here (no dots,
/// which separate subject tokens).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClusterConfig {
    /// A cluster on the NATS server at `nats`, this node named `node`.
    pub fn new(
        nats: &str,
        node: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<ClusterConfig, String> {
        if !(nats.starts_with("nats://") || nats.starts_with("tls://")) {
            return Err("must be a NATS URL (nats://host:port)".into());
        }
        let node = match node {
            Some(n) => n.to_string(),
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().replace('.', "-"))
                .unwrap_or_else(|_| "node".into()),
        };
        if !is_token(&node) {
            return Err(format!(
                "cluster.node {node:?}: letters, digits, - and _ only"
            ));
        }
        let prefix = prefix.unwrap_or("ferry").to_string();
        if !is_token(&prefix) {
            return Err(format!(
                "cluster.prefix {prefix:?}: letters, digits, - and _ only"
            ));
        }
        Ok(ClusterConfig {
            nats: nats.to_string(),
            node,
            prefix,
        })
    }
}

pub(super) fn validate(
    c: RawCluster,
    src: &Source<'_>,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(nats) = c.nats else {
        return Ok(None);
    };
    ClusterConfig::new(&nats, c.node.as_deref(), c.prefix.as_deref())
        .map(Some)
        .map_err(|e| src.invalid("cluster.nats", e))
}
