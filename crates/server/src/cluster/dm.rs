//! Private messages between nodes: a PRIVMSG, NOTICE or TAGMSG to a nick
//! another node's user holds goes to that node (found from the nick's
//! claim) as a NATS request on `<prefix>.node.<node>.dm`; the node
//! delivers it to its user as a message from anyone would be delivered
//! (`route::from_afar`: SILENCE, `+g`) and answers what became of it, so
//! the sender is answered as on one server (echo, `301`, `716`, `401`).
//!
//! The request: headers `to` (the folded nick), `kind`, `msgid`, `time`
//! (Unix ms), `account`, `tags` (client tags), `mask` (the sender's folded
//! `nick!user@host`), `nick` (its folded nick); the body is the line as
//! the recipient gets it (`:nick!user@host PRIVMSG target :text\r\n`).
//! The answer: `ok <identity>[ <away>]`, `dropped`, `refused` or `gone`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::HeaderMap;
use futures_util::StreamExt;
use tracing::warn;

use super::{key, Cluster, Unavailable};
use crate::event::{format_millis, Event};
use crate::route::{self, FromAfar};
use crate::Server;

/// How long a delivery may wait for the other node's answer.
const DM_TIMEOUT: Duration = Duration::from_secs(3);

/// What the recipient's node made of a message.
pub(crate) enum Outcome {
    /// Delivered to `identity` (its history identity, `a:acct` or
    /// `n:nick`), with its away message.
    Delivered {
        identity: String,
        away: Option<String>,
    },
    Dropped,
    Refused,
    /// Nobody on any node holds the nick.
    Nobody,
}

/// A message for a user of another node.
pub(crate) struct Outgoing {
    pub folded: String,
    pub kind: &'static str,
    pub event: Event,
    pub mask: String,
    pub nick: String,
}

impl Cluster {
    fn dm_subject(&self, node: &str) -> String {
        format!("{}.node.{node}.dm", self.prefix)
    }

    /// The node whose user holds `folded`, if any.
    async fn node_of(&self, folded: &str) -> Result<Option<String>, Unavailable> {
        let v = self
            .nicks
            .get(key(folded))
            .await
            .map_err(|e| Unavailable(e.to_string()))?;
        Ok(v.and_then(|v| {
            let s = String::from_utf8_lossy(&v).into_owned();
            s.split(' ').next().map(str::to_string)
        }))
    }

    /// Sends `m` to the node of its recipient and waits for its answer.
    pub(crate) async fn send_dm(&self, m: &Outgoing) -> Result<Outcome, Unavailable> {
        let go = async {
            let Some(node) = self.node_of(&m.folded).await? else {
                return Ok(Outcome::Nobody);
            };
            if node == self.node {
                // Held here, yet not found here: it left meanwhile.
                return Ok(Outcome::Nobody);
            }
            let e = &m.event;
            let mut h = HeaderMap::new();
            h.insert("to", m.folded.as_str());
            h.insert("kind", m.kind);
            h.insert("time", e.time_ms.to_string().as_str());
            h.insert("mask", m.mask.as_str());
            h.insert("nick", m.nick.as_str());
            if let Some(id) = &e.msgid {
                h.insert("msgid", id.as_str());
            }
            if let Some(a) = &e.account {
                h.insert("account", a.as_str());
            }
            if let Some(t) = &e.client_tags {
                h.insert("tags", t.as_str());
            }
            if e.bot {
                h.insert("bot", "1");
            }
            let r = self
                .client
                .request_with_headers(self.dm_subject(&node), h, e.body.clone())
                .await
                .map_err(|e| Unavailable(e.to_string()))?;
            let answer = String::from_utf8_lossy(&r.payload).into_owned();
            let mut w = answer.splitn(3, ' ');
            Ok(match w.next() {
                Some("ok") => Outcome::Delivered {
                    identity: w.next().unwrap_or_default().to_string(),
                    away: w.next().map(str::to_string),
                },
                Some("dropped") => Outcome::Dropped,
                Some("refused") => Outcome::Refused,
                _ => Outcome::Nobody,
            })
        };
        match tokio::time::timeout(DM_TIMEOUT, go).await {
            Ok(r) => r,
            Err(_) => Err(Unavailable("no answer from the recipient's node".into())),
        }
    }

    /// Takes this node's deliveries until the server goes.
    pub(crate) async fn serve_dms(self: Arc<Self>, server: Weak<Server>) {
        let mut sub = match self.client.subscribe(self.dm_subject(&self.node)).await {
            Ok(s) => s,
            Err(e) => return warn!(error = %e, "cluster: cannot take deliveries"),
        };
        while let Some(msg) = sub.next().await {
            let Some(server) = server.upgrade() else {
                return;
            };
            let answer = receive(&server, &msg);
            if let Some(reply) = msg.reply {
                if let Err(e) = self.client.publish(reply, answer.into()).await {
                    warn!(error = %e, "cluster: could not answer a delivery");
                }
            }
        }
    }
}

/// One delivery from another node: the answer.
fn receive(server: &Server, msg: &async_nats::Message) -> String {
    let h = msg.headers.as_ref();
    let get = |k: &str| h.and_then(|h| h.get(k)).map(|v| v.as_str().to_string());
    let Some(to) = get("to") else {
        return "gone".into();
    };
    let Some(target) = server.registry.find_nick(&to) else {
        return "gone".into();
    };
    if target.is_parked() {
        // Always-on with no device: the sender's node keeps it for later.
        return "gone".into();
    }
    let body = String::from_utf8_lossy(&msg.payload).into_owned();
    let time_ms: i64 = get("time").and_then(|t| t.parse().ok()).unwrap_or(0);
    let mut e = Event::new(body, server.clock.wall());
    e.time_ms = time_ms;
    e.time = format_millis(time_ms);
    e.msgid = get("msgid");
    e.account = get("account");
    e.client_tags = get("tags");
    e.bot = get("bot").is_some();
    e.tags_only = get("kind").as_deref() == Some("TAGMSG");
    let mask = get("mask").unwrap_or_default();
    let nick = get("nick").unwrap_or_default();
    let account = e.account.as_deref().and_then(|a| server.fold_nick(a));
    match route::from_afar(server, &target, &e, &mask, (&nick, account.as_deref())) {
        FromAfar::Delivered { away } => {
            let identity = crate::history::identity(server, &target);
            match away {
                Some(a) => format!("ok {identity} {a}"),
                None => format!("ok {identity}"),
            }
        }
        FromAfar::Dropped => "dropped".into(),
        FromAfar::Refused => "refused".into(),
    }
}

/// A private message to a nick no user of this node holds, for the
/// cluster to find (`commands::messaging`).
pub(crate) struct Afar {
    /// As the sender typed it.
    pub target: String,
    pub folded: String,
    pub event: Event,
    pub stored: ferry_store::StoredMessage,
    /// The account the nick is, if it is one: where the message waits if
    /// no node has its user.
    pub account: Option<String>,
}

/// Sends each message to the node of its recipient (one deferred step);
/// then answers the sender as one server would, and keeps for later, with
/// `waiting`, those whose recipient is nowhere online.
pub(crate) fn deliver_afar(
    cx: &mut crate::ctx::Ctx<'_>,
    afar: Vec<Afar>,
    waiting: Vec<crate::accounts::Waiting>,
    kind: route::Kind,
) {
    use crate::ctx::then;
    let Some(c) = cx.server.cluster().cloned() else {
        return;
    };
    let mask = cx.server.config().casemap.fold_lossy(&cx.prefix());
    let nick = cx.s.folded_nick.clone().unwrap_or_default();
    let out: Vec<(Outgoing, Afar)> = afar
        .into_iter()
        .map(|a| {
            let o = Outgoing {
                folded: a.folded.clone(),
                kind: kind.verb(),
                event: a.event.clone(),
                mask: mask.clone(),
                nick: nick.clone(),
            };
            (o, a)
        })
        .collect();
    cx.defer(async move {
        let mut done = Vec::with_capacity(out.len());
        for (o, a) in out {
            let r = c.send_dm(&o).await;
            done.push((a, r));
        }
        then(move |cx: &mut crate::ctx::Ctx<'_>| answer(cx, done, waiting, kind))
    });
}

fn answer(
    cx: &mut crate::ctx::Ctx<'_>,
    done: Vec<(Afar, Result<Outcome, Unavailable>)>,
    mut waiting: Vec<crate::accounts::Waiting>,
    kind: route::Kind,
) {
    use ferry_proto::numeric::{ERR_TARGUMODEG, RPL_AWAY};
    for (a, r) in done {
        let sent = match r {
            Ok(Outcome::Delivered { identity, away }) => {
                // Kept once, by the sender's node.
                if let Some(mine) = crate::history::my_identity(cx.s) {
                    let key = ferry_store::dm_key(&mine, &identity);
                    cx.server.history.record(key, a.stored);
                }
                if let Some(away) = away.filter(|_| kind == route::Kind::Privmsg) {
                    cx.num(RPL_AWAY, &[&a.target, &away]);
                }
                true
            }
            // SILENCEd: the sender sees what it always sees.
            Ok(Outcome::Dropped) => true,
            Ok(Outcome::Refused) => {
                if kind != route::Kind::Notice {
                    cx.num(
                        ERR_TARGUMODEG,
                        &[&a.target, "is in +g mode (server-side ignore)."],
                    );
                }
                false
            }
            Ok(Outcome::Nobody) => {
                match a.account {
                    Some(account) => waiting.push(crate::accounts::Waiting {
                        account,
                        target: a.target,
                        event: a.event,
                        stored: a.stored,
                    }),
                    None if kind == route::Kind::Notice => {}
                    None => cx.reject(crate::ctx::Reject::NoSuchNick(a.target)),
                }
                continue;
            }
            Err(e) => {
                warn!(error = %e.0, "cluster: a message could not be delivered");
                cx.fail(
                    "TEMPORARILY_UNAVAILABLE",
                    &[&a.target],
                    "The cluster cannot deliver this now; try again",
                );
                false
            }
        };
        if sent {
            if cx.caps().has(crate::caps::Cap::EchoMessage) {
                cx.push_own(&a.event);
            }
            cx.to_my_devices(&a.event);
        }
    }
    if !waiting.is_empty() {
        crate::accounts::store_for_later(cx, waiting, kind);
    }
}
