//! The cluster: ferry nodes that share a NATS server and a PostgreSQL
//! store, and that clients cannot tell from one server (docs/CLUSTER.md).
//!
//! Built so far: **nicks unique across the cluster**. Every node claims a
//! nick in the JetStream key-value bucket `<prefix>-nicks` before a
//! client may have it (at registration, and at a NICK change), with KV
//! `create`, which succeeds on exactly one node when two claim at once:
//! the other client gets `433`. The claim goes when its user quits or
//! changes nick. A node that starts drops the claims a former run of it
//! (the same node name) left behind.
//!
//! Keys: NATS keys take only `[-/_=.a-zA-Z0-9]`, so a claim's key is the
//! casefolded nick's UTF-8 in hex. Value: `<node> <client id>`.
//!
//! Not built yet: deliveries between nodes, channels across nodes, leases
//! that free the claims of a node that dies and never comes back.

use std::sync::Arc;
use std::time::Duration;

mod dm;

use async_nats::jetstream::kv;
use tracing::{info, warn};

pub(crate) use dm::{deliver_afar, Afar};

use crate::client::ClientId;
use crate::config::ClusterConfig;

/// A claim could not be decided: the bus is unreachable.
#[derive(Debug)]
pub(crate) struct Unavailable(pub String);

pub(crate) struct Cluster {
    pub node: String,
    prefix: String,
    client: async_nats::Client,
    nicks: kv::Store,
    /// Claims this node holds: user → its casefolded nick.
    held: dashmap::DashMap<ClientId, String>,
}

/// How long a claim may wait for the bus.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);

fn key(folded: &str) -> String {
    let mut k = String::with_capacity(folded.len() * 2);
    for b in folded.bytes() {
        k.push_str(&format!("{b:02x}"));
    }
    k
}

impl Cluster {
    /// Connects to NATS and opens (making if needed) the nick bucket.
    pub(crate) async fn start(cfg: &ClusterConfig) -> Result<Arc<Cluster>, String> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("ferry {}", cfg.node))
            .connection_timeout(Duration::from_secs(5))
            .connect(cfg.nats.as_str())
            .await
            .map_err(|e| format!("connect to NATS at {}: {e}", cfg.nats))?;
        let js = async_nats::jetstream::new(client.clone());
        let bucket = format!("{}-nicks", cfg.prefix);
        // The bucket's stream made by hand, as `create_key_value` would:
        // that asks for the account's info first, which async-nats cannot
        // read from a 2.9 server (Debian's).
        use async_nats::jetstream::stream;
        let made = js
            .get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                discard: stream::DiscardPolicy::New,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                num_replicas: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await;
        // Another node making it at the same moment: it is there now.
        if let Err(e) = made {
            js.get_stream(format!("KV_{bucket}"))
                .await
                .map_err(|_| format!("NATS key-value bucket {bucket}: {e}"))?;
        }
        let nicks = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| format!("NATS key-value bucket {bucket}: {e}"))?;
        let c = Arc::new(Cluster {
            node: cfg.node.clone(),
            prefix: cfg.prefix.clone(),
            client,
            nicks,
            held: dashmap::DashMap::new(),
        });
        c.drop_own_leftovers().await;
        info!(node = %cfg.node, nats = %cfg.nats, "cluster: joined");
        Ok(c)
    }

    /// Whether the bus is reachable now (`/readyz`): the client's
    /// connection state (it reconnects by itself).
    pub(crate) fn bus_state(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            s => Err(format!("NATS {s}")),
        }
    }

    fn owner(&self, id: ClientId) -> String {
        format!("{} {id}", self.node)
    }

    /// The claims a former run of this node left (it stopped without
    /// releasing them): its users are gone, so are their nicks.
    async fn drop_own_leftovers(&self) {
        use futures_util::StreamExt;
        let Ok(mut keys) = self.nicks.keys().await else {
            return;
        };
        let mine = format!("{} ", self.node);
        let mut n = 0;
        while let Some(Ok(k)) = keys.next().await {
            if let Ok(Some(v)) = self.nicks.get(&k).await {
                if v.starts_with(mine.as_bytes()) && self.nicks.delete(&k).await.is_ok() {
                    n += 1;
                }
            }
        }
        if n > 0 {
            info!(
                claims = n,
                "cluster: dropped the nick claims of this node's last run"
            );
        }
    }

    /// Does this node hold `folded` for `id` already?
    pub(crate) fn holds(&self, id: ClientId, folded: &str) -> bool {
        self.held.get(&id).is_some_and(|f| *f == folded)
    }

    /// Claims `folded` for user `id`: true if it is the user's now (or
    /// was already), false if another holds it. Nothing changes for the
    /// user until [`Cluster::commit`]; [`Cluster::unclaim`] gives it up.
    pub(crate) async fn claim(&self, id: ClientId, folded: &str) -> Result<bool, Unavailable> {
        if self.holds(id, folded) {
            return Ok(true);
        }
        // The bus away, a request would wait for it to come back: a
        // client is told within this instead.
        match tokio::time::timeout(CLAIM_TIMEOUT, self.try_claim(id, folded)).await {
            Ok(r) => r,
            Err(_) => Err(Unavailable("no answer from NATS".into())),
        }
    }

    async fn try_claim(&self, id: ClientId, folded: &str) -> Result<bool, Unavailable> {
        let value = self.owner(id);
        match self.nicks.create(key(folded), value.clone().into()).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Ours already (a retry after an answer lost)?
                match self.nicks.get(key(folded)).await {
                    Ok(Some(v)) => Ok(v == value.as_bytes()),
                    // Released meanwhile: the next try may have it.
                    Ok(None) => Ok(false),
                    Err(e) => Err(Unavailable(e.to_string())),
                }
            }
            Err(e) => Err(Unavailable(e.to_string())),
        }
    }

    /// The user took the nick it claimed: that claim is its, the one it
    /// held before goes.
    pub(crate) fn commit(self: &Arc<Self>, id: ClientId, folded: &str) {
        let Some(old) = self.held.insert(id, folded.to_string()) else {
            return;
        };
        if old != folded {
            let me = self.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { me.delete_if_mine(id, &old).await });
            }
        }
    }

    /// Gives up, now, the claim user `id` holds (a NICK change claimed the
    /// new one): the old nick is free on every node before the change is
    /// answered.
    pub(crate) async fn drop_held(&self, id: ClientId) {
        let old = self.held.get(&id).map(|f| f.clone());
        if let Some(old) = old {
            let _ = tokio::time::timeout(CLAIM_TIMEOUT, self.delete_if_mine(id, &old)).await;
        }
    }

    /// User `id` is gone: its claim goes.
    pub(crate) fn release(self: &Arc<Self>, id: ClientId) {
        let Some((_, folded)) = self.held.remove(&id) else {
            return;
        };
        let me = self.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { me.delete_if_mine(id, &folded).await });
        }
    }

    /// Gives up a claim made that its user could not use after all (never
    /// the one it holds).
    pub(crate) async fn unclaim(&self, id: ClientId, folded: &str) {
        if !self.holds(id, folded) {
            self.delete_if_mine(id, folded).await;
        }
    }

    async fn delete_if_mine(&self, id: ClientId, folded: &str) {
        let k = key(folded);
        match self.nicks.get(&k).await {
            Ok(Some(v)) if v == self.owner(id).as_bytes() => {
                if let Err(e) = self.nicks.delete(&k).await {
                    warn!(error = %e, "cluster: could not release a nick claim");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cluster: could not release a nick claim"),
        }
    }
}
