//! What the server itself sends others: WALLOPS, server notices to
//! operators (`Server::snote`), and the admin API's kick and broadcast.

use std::sync::Arc;

use bytes::Bytes;

use super::{deliver, to_members};
use crate::channel::Channel;
use crate::client::Client;
use crate::event::Event;
use crate::Server;

// ------------------------------------------------------------- operators

/// WALLOPS to every user with `+w` but `me`; true when `me` has `+w`
/// too (its copy goes in its own reply).
pub(crate) fn wallops(server: &Server, me: &Client, e: &Event) -> bool {
    let sendq = server.config().limits.sendq_bytes;
    let mut mine = false;
    for c in server.registry.registered() {
        if c.info().modes.wallops {
            if c.id == me.id {
                mine = true;
            } else {
                deliver(e, &c, sendq);
            }
        }
    }
    mine
}

impl Server {
    /// A server notice to every operator watching (+s) with `letter` in
    /// their snomask (see [`crate::client::SNOMASKS`]): connects, exits,
    /// kills, floods, refused connections, bans.
    pub(crate) fn snote(&self, letter: char, text: &str) {
        if self.snotice_watchers.is_empty() {
            return;
        }
        let Some(bit) = crate::client::snomask_bit(letter) else {
            return;
        };
        let cfg = self.config();
        for w in self.snotice_watchers.iter() {
            let (c, mask) = w.value();
            if mask & bit == 0 {
                continue;
            }
            let line = format!(
                ":{} NOTICE {} :*** Notice -- {text}\r\n",
                cfg.server_name,
                c.nick()
            );
            let line = Bytes::from(line);
            c.each_conn(|c| {
                c.outbox.push(&[&line], cfg.limits.sendq_bytes);
            });
        }
    }
}

// ------------------------------------------------------------ the server

/// The server kicks `target` from `ch` (the admin API): every member,
/// the target too, sees `:server KICK #ch nick :reason`. False if the
/// target is not on it.
pub(crate) fn kick_by_server(
    server: &Server,
    ch: &Arc<Channel>,
    target: &Arc<Client>,
    reason: &str,
) -> bool {
    let line = format!(
        ":{} KICK {} {} :{reason}\r\n",
        server.name,
        ch.name,
        target.nick()
    );
    let e = Event::new(line, server.clock.wall());
    let id = server.msgid_at(e.time_ms);
    let e = e.with_msgid(id);
    let sendq = server.config().limits.sendq_bytes;
    let empty = {
        let mut st = ch.lock();
        if !st.members.contains_key(&target.id) {
            return false;
        }
        to_members(&st, None, &e, sendq);
        st.members.remove(&target.id);
        st.members.is_empty()
    };
    target.info().channels.retain(|c| !Arc::ptr_eq(c, ch));
    if empty {
        server.registry.remove_channel_if_empty(ch);
    }
    true
}

/// A server NOTICE to every registered client (the admin API's
/// broadcast); returns how many it was queued for.
pub(crate) fn notice_everyone(server: &Server, text: &str) -> usize {
    let sendq = server.config().limits.sendq_bytes;
    let mut sent = 0;
    for c in server.registry.registered() {
        let line = format!(":{} NOTICE {} :{text}\r\n", server.name, c.nick());
        if super::deliver_line(&c, &Bytes::from(line), sendq) {
            sent += 1;
        }
    }
    sent
}
