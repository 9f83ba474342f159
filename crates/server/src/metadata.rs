//! Metadata (IRCv3 `draft/metadata-3`, as irctest's revision has it):
//! keys and values on users — their profile: display name, avatar,
//! status — and on channels, and which keys each connection subscribed to.
//!
//! - A user's metadata is its user's (all its devices share it), held
//!   here by the user's id; a logged-in user's is its account's, stored
//!   (`ferry_store::MetadataStore`) and loaded at login. A channel's is in
//!   its state, set by its operators.
//! - Subscriptions are per connection. A change reaches the connections
//!   subscribed to its key that share a channel with the user (or are on
//!   the channel), and the user's other devices, as `RPL_KEYVALUE` or
//!   `RPL_KEYNOTSET` with `*` for the recipient (as Ergo sends them).
//! - On JOIN a subscribed connection gets the channel's metadata and its
//!   members'; the members get the joiner's. At registration a connection
//!   gets its user's own in a `metadata` batch.
//!
//! The handler (METADATA) is `commands/metadata.rs`.

use bytes::Bytes;
use dashmap::DashMap;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::{Client, ClientId};
use crate::ctx::Ctx;
use crate::route::{self, Audience};
use crate::Server;

pub(crate) const RPL_WHOISKEYVALUE: &str = "760";
pub(crate) const RPL_KEYVALUE: &str = "761";
pub(crate) const RPL_KEYNOTSET: &str = "766";
pub(crate) const RPL_METADATASUBOK: &str = "770";
pub(crate) const RPL_METADATAUNSUBOK: &str = "771";
pub(crate) const RPL_METADATASUBS: &str = "772";
pub(crate) const RPL_METADATASYNCLATER: &str = "774";

/// Keys and values, in the order they were first set.
pub(crate) type Pairs = Vec<(String, String)>;

/// The metadata of users and the subscriptions of connections.
#[derive(Default)]
pub(crate) struct Metadata {
    /// User (its first connection's id) -> its keys.
    users: DashMap<ClientId, Pairs>,
    /// Connection -> the keys it subscribed to.
    subs: DashMap<ClientId, Vec<String>>,
}

/// What a SET did.
pub(crate) enum Set {
    /// The value changed (or the key went).
    Changed,
    /// It was so already.
    Same,
    /// One key too many.
    Full,
}

/// Sets (or, with `None`, removes) `key` in `pairs`.
pub(crate) fn set_in(pairs: &mut Pairs, key: &str, value: Option<&str>, max_keys: usize) -> Set {
    let at = pairs.iter().position(|(k, _)| k == key);
    match (at, value) {
        (Some(i), Some(v)) if pairs[i].1 == v => Set::Same,
        (Some(i), Some(v)) => {
            pairs[i].1 = v.to_string();
            Set::Changed
        }
        (None, Some(_)) if pairs.len() >= max_keys => Set::Full,
        (None, Some(v)) => {
            pairs.push((key.to_string(), v.to_string()));
            Set::Changed
        }
        (Some(i), None) => {
            pairs.remove(i);
            Set::Changed
        }
        (None, None) => Set::Same,
    }
}

impl Metadata {
    pub(crate) fn of_user(&self, user: ClientId) -> Pairs {
        self.users.get(&user).map(|p| p.clone()).unwrap_or_default()
    }

    pub(crate) fn set_user(
        &self,
        user: ClientId,
        key: &str,
        value: Option<&str>,
        max: usize,
    ) -> Set {
        let mut e = self.users.entry(user).or_default();
        let r = set_in(&mut e, key, value, max);
        let empty = e.is_empty();
        drop(e);
        if empty {
            self.users.remove_if(&user, |_, p| p.is_empty());
        }
        r
    }

    /// Replaces the user's keys (loaded at login); the old ones.
    pub(crate) fn replace_user(&self, user: ClientId, pairs: Pairs) -> Pairs {
        let old = if pairs.is_empty() {
            self.users.remove(&user).map(|(_, p)| p)
        } else {
            self.users.insert(user, pairs)
        };
        old.unwrap_or_default()
    }

    /// The user quit.
    pub(crate) fn forget_user(&self, user: ClientId) {
        self.users.remove(&user);
    }

    pub(crate) fn subscribed(&self, conn: ClientId, key: &str) -> bool {
        self.subs
            .get(&conn)
            .is_some_and(|s| s.iter().any(|k| k == key))
    }

    pub(crate) fn subs(&self, conn: ClientId) -> Vec<String> {
        self.subs.get(&conn).map(|s| s.clone()).unwrap_or_default()
    }

    /// Subscribes `conn` to `keys` in order, up to `max` in all: the keys
    /// it is subscribed to of those, and the first one refused (limit).
    pub(crate) fn subscribe(
        &self,
        conn: ClientId,
        keys: &[String],
        max: usize,
    ) -> (Vec<String>, Option<String>) {
        let mut s = self.subs.entry(conn).or_default();
        let mut ok = Vec::new();
        for k in keys {
            if !s.contains(k) {
                if s.len() >= max {
                    return (ok, Some(k.clone()));
                }
                s.push(k.clone());
            }
            ok.push(k.clone());
        }
        (ok, None)
    }

    pub(crate) fn unsubscribe(&self, conn: ClientId, keys: &[String]) {
        if let Some(mut s) = self.subs.get_mut(&conn) {
            s.retain(|k| !keys.contains(k));
        }
        self.subs.remove_if(&conn, |_, s| s.is_empty());
    }

    /// The connection ended.
    pub(crate) fn forget_conn(&self, conn: ClientId) {
        self.subs.remove(&conn);
    }

    /// Users and connections with entries (the fuzzer's leak check).
    pub(crate) fn len(&self) -> usize {
        self.users.len() + self.subs.len()
    }
}

/// `:server 761 <to> <target> <key> * :<value>`
pub(crate) fn keyvalue(server: &str, to: &str, target: &str, key: &str, value: &str) -> String {
    format!(":{server} {RPL_KEYVALUE} {to} {target} {key} * :{value}")
}

/// `:server 766 <to> <target> <key> :<why>`
pub(crate) fn keynotset(server: &str, to: &str, target: &str, key: &str, why: &str) -> String {
    format!(":{server} {RPL_KEYNOTSET} {to} {target} {key} :{why}")
}

/// The line telling subscribers that `key` of `target` is now `value`
/// (None: gone).
fn change_line(server: &str, target: &str, key: &str, value: Option<&str>) -> Bytes {
    let mut l = match value {
        Some(v) => keyvalue(server, "*", target, key, v),
        None => keynotset(server, "*", target, key, "Key deleted"),
    };
    l.push_str("\r\n");
    Bytes::from(l)
}

/// A user's key changed: its subscribed peers and other devices hear.
pub(crate) fn user_changed(
    server: &Server,
    user: &Client,
    conn: ClientId,
    key: &str,
    value: Option<&str>,
) {
    let line = change_line(&server.name, &user.nick(), key, value);
    let subscribed = |c| server.metadata.subscribed(c, key);
    route::to_subscribers(server, Audience::PeersOf(user), conn, subscribed, &line);
}

/// A channel's key changed: its subscribed members hear.
pub(crate) fn channel_changed(
    server: &Server,
    ch: &Channel,
    conn: ClientId,
    key: &str,
    value: Option<&str>,
) {
    let line = change_line(&server.name, &ch.name, key, value);
    let subscribed = |c| server.metadata.subscribed(c, key);
    route::to_subscribers(
        server,
        Audience::Members(&ch.lock(), None),
        conn,
        subscribed,
        &line,
    );
}

/// Lines in a `metadata` batch (when the client has `batch`) about
/// `target`, into this connection's reply.
pub(crate) fn batch(cx: &mut Ctx<'_>, target: &str, lines: Vec<String>) {
    let id = cx.caps().has(Cap::Batch).then(|| cx.server.msgid());
    let server = cx.server_name().to_string();
    if let Some(id) = &id {
        cx.reply
            .line(format!(":{server} BATCH +{id} metadata {target}"));
    }
    for l in lines {
        let tags = id
            .as_ref()
            .map(|i| format!("batch={i}"))
            .unwrap_or_default();
        cx.reply.push(tags, l);
    }
    if let Some(id) = &id {
        cx.reply.line(format!(":{server} BATCH -{id}"));
    }
}

/// The keys of `pairs` this connection subscribed to, as RPL_KEYVALUE
/// lines about `target`.
fn subscribed_lines(cx: &Ctx<'_>, target: &str, pairs: &Pairs, out: &mut Vec<String>) {
    let conn = cx.conn().id;
    for (k, v) in pairs {
        if cx.server.metadata.subscribed(conn, k) {
            out.push(keyvalue(cx.server_name(), "*", target, k, v));
        }
    }
}

/// A channel's metadata and its members' (subscribed keys), for SYNC and
/// for a JOIN.
pub(crate) fn channel_lines(cx: &Ctx<'_>, ch: &Channel) -> Vec<String> {
    let (chan, members): (Pairs, Vec<(ClientId, String)>) = {
        let st = ch.lock();
        let m = st
            .members
            .values()
            .map(|m| (m.client.id, m.client.nick()))
            .collect();
        (st.metadata.clone(), m)
    };
    let mut out = Vec::new();
    subscribed_lines(cx, &ch.name, &chan, &mut out);
    for (id, nick) in members {
        subscribed_lines(cx, &nick, &cx.server.metadata.of_user(id), &mut out);
    }
    out
}

/// The channel's and its members' metadata (subscribed keys), for this
/// connection: it joined, or is a device given the user's channels.
pub(crate) fn learn_channel(cx: &mut Ctx<'_>, ch: &Channel) {
    if cx.caps().metadata() {
        let lines = channel_lines(cx, ch);
        if !lines.is_empty() {
            batch(cx, &ch.name, lines);
        }
    }
}

/// A user's metadata (subscribed keys), for SYNC.
pub(crate) fn user_lines(cx: &Ctx<'_>, user: &Client) -> Vec<String> {
    let mut out = Vec::new();
    subscribed_lines(
        cx,
        &user.nick(),
        &cx.server.metadata.of_user(user.id),
        &mut out,
    );
    out
}

/// This connection joined `ch`: it learns the channel's and the members'
/// metadata, and the members the joiner's.
pub(crate) fn on_join(cx: &mut Ctx<'_>, ch: &Channel) {
    learn_channel(cx, ch);
    let me = cx.me().clone();
    let mine = cx.server.metadata.of_user(me.id);
    if mine.is_empty() {
        return;
    }
    let nick = me.nick();
    let st = ch.lock();
    for (k, v) in &mine {
        let line = change_line(&cx.server.name, &nick, k, Some(v));
        let subscribed = |c| cx.server.metadata.subscribed(c, k);
        // Not to the joiner's own connections: they know.
        let members = Audience::Members(&st, Some(me.id));
        route::to_subscribers(cx.server, members, me.id, subscribed, &line);
    }
}

/// Registration completed: what was set before it becomes the user's (and
/// its account's: stored in the background, as nothing waited for it),
/// then the user's own metadata goes to this connection.
pub(crate) fn registered(cx: &mut Ctx<'_>) {
    let pre =
        cx.s.more
            .if_made()
            .map(|m| std::mem::take(&mut m.prereg_metadata))
            .unwrap_or_default();
    cx.s.more.tidy();
    if !pre.is_empty() {
        let me = cx.me().clone();
        let max = cx.server.config().metadata.max_keys;
        for (k, v) in &pre {
            if let Set::Changed = cx.server.metadata.set_user(me.id, k, Some(v), max) {
                user_changed(cx.server, &me, cx.conn().id, k, Some(v));
            }
        }
        if let Some(account) = cx.s.account.clone() {
            persist(cx.server, account, pre);
        }
    }
    // A login's stored profile is still loading: it sends the batch.
    if !cx.s.after_login_pending {
        burst(cx);
    }
}

/// Stores keys of an account's profile without anyone waiting for it.
pub(crate) fn persist(server: &std::sync::Arc<Server>, account: String, pairs: Pairs) {
    let server = server.clone();
    tokio::spawn(async move {
        for (k, v) in pairs {
            let a = account.clone();
            if let Err(e) = server
                .store(move |s| s.set_metadata(&a, &k, Some(&v)))
                .await
            {
                tracing::warn!(error = %e, %account, "could not store metadata");
            }
        }
    });
}

/// The account's stored profile, loaded at login, becomes the user's;
/// what the user had set before logging in is added to it (and stored).
/// This connection is sent the result.
pub(crate) fn logged_in(cx: &mut Ctx<'_>, account: &str, stored: Pairs) {
    let me = cx.me().clone();
    let before = cx.server.metadata.of_user(me.id);
    let mut merged = stored.clone();
    let max = cx.server.config().metadata.max_keys;
    let mut extra = Vec::new();
    for (k, v) in &before {
        if let Set::Changed = set_in(&mut merged, k, Some(v), max) {
            extra.push((k.clone(), v.clone()));
        }
    }
    if merged != before {
        cx.server.metadata.replace_user(me.id, merged.clone());
    }
    for (k, v) in &merged {
        if !before.iter().any(|(bk, bv)| bk == k && bv == v) {
            user_changed(cx.server, &me, cx.conn().id, k, Some(v));
        }
    }
    if !extra.is_empty() {
        persist(cx.server, account.to_string(), extra);
    }
    burst(cx);
}

/// After the welcome: the user's own metadata, in a `metadata` batch.
pub(crate) fn burst(cx: &mut Ctx<'_>) {
    if !cx.caps().metadata() {
        return;
    }
    let me = cx.me().clone();
    let nick = me.nick();
    let server = cx.server_name().to_string();
    let lines = cx
        .server
        .metadata
        .of_user(me.id)
        .iter()
        .map(|(k, v)| keyvalue(&server, "*", &nick, k, v))
        .collect();
    batch(cx, &nick, lines);
}

/// RPL_WHOISKEYVALUE lines for a WHOIS of `target`, if this connection
/// negotiated metadata.
pub(crate) fn whois(cx: &mut Ctx<'_>, target: &Client) {
    if !cx.caps().metadata() {
        return;
    }
    let (me, tnick) = (cx.me().nick(), target.nick());
    for (k, v) in cx.server.metadata.of_user(target.id) {
        let l = format!(
            ":{} {RPL_WHOISKEYVALUE} {me} {tnick} {k} * :{v}",
            cx.server_name()
        );
        cx.reply.line(l);
    }
}
