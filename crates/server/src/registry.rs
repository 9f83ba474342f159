//! Who is here: clients by id, nicks, channels, MONITOR watchers.
//!
//! The in-process registry is five concurrent maps (`dashmap`, sharded
//! locks; no global lock), keyed by casefolded names. Everything that asks
//! "who holds this nick", "which channel is this", "who watches this
//! nick" or claims and gives back a name goes through this type, so a
//! cluster-wide registry can take its place. What such a registry must
//! give (issue 15 builds it on NATS KV):
//! - [`Registry::claim_nick`] / [`Registry::release_nick`]: a nick is held
//!   by at most one client network-wide (a compare-and-set on the nick's
//!   key), released only by its holder;
//! - lookups ([`Registry::find_nick`], [`Registry::channel`]) that answer
//!   for remote users and channels too (locally cached, invalidated by the
//!   bus);
//! - channel membership ([`Registry::channel_or_create`],
//!   [`Registry::leave`]): the channel object here holds the local members;
//!   a cluster keeps which nodes have members, so `route` knows where to
//!   publish;
//! - MONITOR watchers per nick ([`Registry::watch`]), so a node tells its
//!   own watchers when a nick comes or goes anywhere;
//! - an account's logged-in connections ([`Registry::devices`]), so what
//!   one device does reaches the account's others wherever they are.
//!
//! Lock order, where two are held: a map shard, then a channel, then a
//! member's `Info`. No shard is held while a channel's members are
//! visited, except in [`Registry::remove_channel_if_empty`].

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::channel::Channel;
use crate::client::{Client, ClientId};

#[derive(Default)]
pub(crate) struct Registry {
    clients: DashMap<ClientId, Arc<Client>>,
    nicks: DashMap<String, Arc<Client>>,
    channels: DashMap<String, Arc<Channel>>,
    /// Casefolded nick -> who MONITORs it.
    monitors: DashMap<String, HashMap<ClientId, Arc<Client>>>,
    /// Casefolded account -> its logged-in connections (its devices).
    accounts: DashMap<String, Vec<Arc<Client>>>,
}

/// A nick claimed by someone else.
#[derive(Debug)]
pub(crate) struct NickTaken;

/// A channel name another channel has.
#[derive(Debug)]
pub(crate) struct NameTaken;

impl Registry {
    // ------------------------------------------------------------ clients

    /// A new connection's client, from its accept on.
    pub(crate) fn add_client(&self, c: Arc<Client>) {
        self.clients.insert(c.id, c);
    }

    /// Forgets a connection that ended (after `lifecycle::disconnect`).
    pub(crate) fn remove_client(&self, id: ClientId) {
        self.clients.remove(&id);
    }

    /// Connections, registered or not.
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A snapshot of every connection (sweeps, shedding, bans, STATS,
    /// TRACE, shutdown): no lock is held while the caller works.
    pub(crate) fn clients(&self) -> Vec<Arc<Client>> {
        self.clients.iter().map(|c| c.value().clone()).collect()
    }

    /// Visits every connection under its shard's lock: only for work that
    /// takes no other lock (the sweeper's atomics, a kill).
    pub(crate) fn for_each_client(&self, mut f: impl FnMut(&Arc<Client>)) {
        for c in self.clients.iter() {
            f(c.value());
        }
    }

    // -------------------------------------------------------------- nicks

    /// Claims `folded` for `c`; fine if `c` holds it already.
    pub(crate) fn claim_nick(&self, folded: &str, c: &Arc<Client>) -> Result<(), NickTaken> {
        match self.nicks.entry(folded.to_string()) {
            Entry::Occupied(o) if o.get().id != c.id => Err(NickTaken),
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(v) => {
                v.insert(c.clone());
                Ok(())
            }
        }
    }

    /// Gives `folded` back, if `id` holds it.
    pub(crate) fn release_nick(&self, folded: &str, id: ClientId) {
        self.nicks.remove_if(folded, |_, c| c.id == id);
    }

    /// Whoever holds `folded`, registered or still registering.
    pub(crate) fn nick_holder(&self, folded: &str) -> Option<Arc<Client>> {
        self.nicks.get(folded).map(|c| c.clone())
    }

    /// Is `folded` held by anyone?
    pub(crate) fn nick_taken(&self, folded: &str) -> bool {
        self.nicks.contains_key(folded)
    }

    /// The registered client going by `folded`.
    pub(crate) fn find_nick(&self, folded: &str) -> Option<Arc<Client>> {
        self.nick_holder(folded).filter(|c| c.is_registered())
    }

    /// A snapshot of every registered client (WHO masks, WALLOPS).
    pub(crate) fn registered(&self) -> Vec<Arc<Client>> {
        self.nicks
            .iter()
            .map(|e| e.value().clone())
            .filter(|c| c.is_registered())
            .collect()
    }

    // ----------------------------------------------------------- channels

    pub(crate) fn channel(&self, folded: &str) -> Option<Arc<Channel>> {
        self.channels.get(folded).map(|c| c.clone())
    }

    /// The channel `folded`, made (empty) if it does not exist. The caller
    /// joins it under its lock, and must look again if it finds it dead
    /// (emptied and removed meanwhile).
    pub(crate) fn channel_or_create(&self, folded: &str, name: &str, now: u64) -> Arc<Channel> {
        self.channels
            .entry(folded.to_string())
            .or_insert_with(|| Arc::new(Channel::new(name.to_string(), folded.to_string(), now)))
            .clone()
    }

    /// Moves `old`'s state (members, modes, topic, lists, metadata) to a
    /// new channel named `name` and takes `old` off the map: `old` is dead
    /// from then on (a JOIN that finds it looks again). Err when `folded`
    /// is another channel's, or `old` is gone. The members' lists of
    /// channels are the caller's to update.
    pub(crate) fn rename_channel(
        &self,
        old: &Arc<Channel>,
        name: &str,
        folded: &str,
    ) -> Result<Arc<Channel>, NameTaken> {
        let entry = self.channels.entry(folded.to_string());
        if let Entry::Occupied(o) = &entry {
            if !Arc::ptr_eq(o.get(), old) {
                return Err(NameTaken);
            }
        }
        let moved = {
            let mut st = old.lock();
            if st.dead {
                return Err(NameTaken);
            }
            let moved = std::mem::take(&mut *st);
            st.dead = true;
            moved
        };
        let new = Arc::new(Channel::new(
            name.to_string(),
            folded.to_string(),
            moved.created,
        ));
        *new.lock() = moved;
        match entry {
            Entry::Occupied(mut o) => {
                o.insert(new.clone());
            }
            Entry::Vacant(v) => {
                v.insert(new.clone());
            }
        }
        if old.folded != folded {
            self.channels
                .remove_if(&old.folded, |_, c| Arc::ptr_eq(c, old));
        }
        Ok(new)
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// A snapshot of every channel (LIST, STATS).
    pub(crate) fn channels(&self) -> Vec<Arc<Channel>> {
        self.channels.iter().map(|c| c.value().clone()).collect()
    }

    /// Removes `id` from `ch` (PART, KICK, QUIT) and the channel itself if
    /// that emptied it. False if `id` was not a member.
    pub(crate) fn leave(&self, ch: &Arc<Channel>, id: ClientId) -> bool {
        let (was, empty) = {
            let mut st = ch.lock();
            st.invited.remove(&id);
            let was = st.members.remove(&id).is_some();
            (was, st.members.is_empty())
        };
        if empty {
            self.remove_channel_if_empty(ch);
        }
        was
    }

    /// Drops a channel from the map if nobody is in it (marking it dead,
    /// so a JOIN racing with this looks it up again).
    pub(crate) fn remove_channel_if_empty(&self, ch: &Arc<Channel>) {
        self.channels.remove_if(&ch.folded, |_, c| {
            let mut st = c.lock();
            // A registered channel stays, empty, until unregistered.
            if st.members.is_empty() && st.registered.is_none() {
                st.dead = true;
                true
            } else {
                false
            }
        });
    }

    // ----------------------------------------------------------- accounts

    /// `c` is logged in to `account` (casefolded).
    pub(crate) fn add_device(&self, account: &str, c: &Arc<Client>) {
        let mut e = self.accounts.entry(account.to_string()).or_default();
        if !e.iter().any(|d| d.id == c.id) {
            e.push(c.clone());
        }
    }

    /// `id` is no longer logged in to `account` (logout, disconnect).
    pub(crate) fn remove_device(&self, account: &str, id: ClientId) {
        if let Some(mut e) = self.accounts.get_mut(account) {
            e.retain(|d| d.id != id);
        }
        self.accounts.remove_if(account, |_, e| e.is_empty());
    }

    /// The connections logged in to `account` now (a snapshot).
    pub(crate) fn devices(&self, account: &str) -> Vec<Arc<Client>> {
        self.accounts
            .get(account)
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Accounts with a connection logged in.
    pub(crate) fn accounts_with_devices(&self) -> usize {
        self.accounts.len()
    }

    // ------------------------------------------------------------ MONITOR

    /// `c` follows `folded` (MONITOR +).
    pub(crate) fn watch(&self, folded: &str, c: &Arc<Client>) {
        self.monitors
            .entry(folded.to_string())
            .or_default()
            .insert(c.id, c.clone());
    }

    /// `id` no longer follows `folded`.
    pub(crate) fn unwatch(&self, folded: &str, id: ClientId) {
        if let Some(mut w) = self.monitors.get_mut(folded) {
            w.remove(&id);
        }
        self.monitors.remove_if(folded, |_, w| w.is_empty());
    }

    /// Who follows `folded` (a snapshot).
    pub(crate) fn watchers(&self, folded: &str) -> Vec<Arc<Client>> {
        self.monitors
            .get(folded)
            .map(|w| w.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many nicks somebody follows (STATS z).
    pub(crate) fn watched_count(&self) -> usize {
        self.monitors.len()
    }

    /// Casefolded nicks somebody follows (for the fuzzer's leak check).
    pub(crate) fn watched(&self) -> Vec<String> {
        self.monitors.iter().map(|e| e.key().clone()).collect()
    }

    /// Casefolded nicks held (for the fuzzer's leak check).
    pub(crate) fn held_nicks(&self) -> Vec<String> {
        self.nicks.iter().map(|e| e.key().clone()).collect()
    }

    /// Casefolded channel names (for the fuzzer's leak check).
    pub(crate) fn channel_names(&self) -> Vec<String> {
        self.channels.iter().map(|e| e.key().clone()).collect()
    }
}
