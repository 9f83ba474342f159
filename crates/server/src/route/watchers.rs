//! Who follows someone: MONITOR watchers (a nick comes or goes) and
//! metadata subscribers (a user's or channel's key changed).

use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::numeric::*;

use super::{channel_peers, deliver_line};
use crate::channel::ChanState;
use crate::client::{Client, ClientId};
use crate::Server;

/// Tells everyone MONITORing `folded` that `me` is online (730).
pub(crate) fn monitor_online(server: &Server, me: &Client, folded: &str) {
    let watchers = server.registry.watchers(folded);
    if watchers.is_empty() {
        return;
    }
    let prefix = me.info().prefix();
    monitor_status(server, watchers, RPL_MONONLINE, &prefix);
}

/// Tells everyone MONITORing `folded` that `nick` went offline (731).
pub(crate) fn monitor_offline(server: &Server, folded: &str, nick: &str) {
    let watchers = server.registry.watchers(folded);
    if !watchers.is_empty() {
        monitor_status(server, watchers, RPL_MONOFFLINE, nick);
    }
}

fn monitor_status(server: &Server, watchers: Vec<Arc<Client>>, code: &str, what: &str) {
    let cfg = server.config();
    for w in watchers {
        let line = format!(":{} {code} {} :{what}\r\n", cfg.server_name, w.nick());
        deliver_line(&w, &line.into(), cfg.limits.sendq_bytes);
    }
}

// -------------------------------------------------------------- metadata

/// Whose connections hear of a metadata change.
pub(crate) enum Audience<'a> {
    /// A user's key: everyone sharing a channel with it, and its own other
    /// connections.
    PeersOf(&'a Client),
    /// A channel's key: its members (but the user given, all of whose
    /// connections are skipped).
    Members(&'a ChanState, Option<ClientId>),
}

/// `line` (a RPL_KEYVALUE or RPL_KEYNOTSET) to each connection of the
/// audience that negotiated metadata and for which `subscribed` holds
/// (it subscribed to the key), but `except` (the connection that made
/// the change).
pub(crate) fn to_subscribers(
    server: &Server,
    audience: Audience<'_>,
    except: ClientId,
    subscribed: impl Fn(ClientId) -> bool,
    line: &Bytes,
) {
    let sendq = server.config().limits.sendq_bytes;
    let send = |c: &Client| {
        if c.id != except && c.caps().metadata() && subscribed(c.id) {
            c.outbox.deliver(&[line], sendq);
        }
    };
    match audience {
        Audience::PeersOf(user) => {
            user.each_conn(send);
            for p in channel_peers(user) {
                p.each_conn(send);
            }
        }
        Audience::Members(st, but) => {
            for (id, m) in &st.members {
                if Some(*id) != but {
                    m.client.each_conn(send);
                }
            }
        }
    }
}
