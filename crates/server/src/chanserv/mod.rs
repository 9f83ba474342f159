//! ChanServ: groups that last (registered channels), with Ergo's
//! commands — REGISTER, UNREGISTER, INFO, OP, DEOP, AMODE, TRANSFER, SET
//! (`settings.rs`) and PURGE (`purge.rs`); `commands.rs` reads them.
//!
//! A registered channel keeps its founder, access list, topic, modes and
//! ban, exception and invite lists in the store (`ChannelStore`): it is
//! restored at start ([`restore`]), stays when its last member leaves, and
//! each change of its topic, modes or lists is saved once it is live
//! ([`save`]). Its founder and the accounts its access list names get
//! their status (`@`, `+`) back when they join ([`status_on_join`]).

mod commands;
mod purge;
mod settings;

use std::sync::Arc;

use ferry_store::{AccessLevel, ChannelMask, ChannelTopic};
use tracing::{info, warn};

use crate::channel::{ChanState, Channel, ListEntry, Prefix, Topic};
use crate::ctx::{then, Ctx};
use crate::event::Event;
use crate::route;
use crate::Server;

pub(crate) use commands::chanserv;
pub(crate) use settings::{cutoff_of, hides_before_join, Cutoff};

pub(crate) const CHANSERV: &str = "ChanServ";

/// What a registered channel's state knows of its registration.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// The founder's account, casefolded.
    pub founder: String,
    /// (account, level), casefolded accounts.
    pub access: Vec<(String, AccessLevel)>,
    /// Its settings (ChanServ SET).
    pub settings: settings::Settings,
}

impl Registration {
    /// The level `account` has: the founder's is op.
    fn level_of(&self, account: &str) -> Option<AccessLevel> {
        if self.founder == account {
            return Some(AccessLevel::Op);
        }
        self.access
            .iter()
            .find(|(a, _)| a == account)
            .map(|(_, l)| *l)
    }
}

/// The status a joiner gets on a registered channel (none on others).
pub(crate) fn status_on_join(st: &ChanState, account: Option<&str>) -> Option<Prefix> {
    let level = st.registered.as_ref()?.level_of(account?)?;
    Some(match level {
        AccessLevel::Op => Prefix {
            op: true,
            voice: false,
        },
        AccessLevel::Voice => Prefix {
            op: false,
            voice: true,
        },
    })
}

/// The status a joiner gets: a new channel's first member is its
/// operator; a registered channel's access list decides.
pub(crate) fn join_prefix(fresh: bool, status: Option<Prefix>) -> Prefix {
    Prefix {
        op: fresh || status.is_some_and(|p| p.op),
        voice: status.is_some_and(|p| p.voice),
    }
}

/// Loads every registered channel into the registry (at start).
pub(crate) fn restore(server: &Arc<Server>) {
    let store = server.store.clone();
    let loaded = (|| -> ferry_store::Result<Vec<_>> {
        let mut out = Vec::new();
        for c in store.channels()? {
            let access = store.channel_access(&c.name)?;
            let lists =
                ['b', 'e', 'I'].map(|k| store.channel_masks(&c.name, k).unwrap_or_default());
            let settings = settings::Settings::from_stored(&store.channel_settings(&c.name)?);
            out.push((c, access, lists, settings));
        }
        Ok(out)
    })();
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => return warn!(error = %e, "could not load registered channels"),
    };
    let casemap = server.config().casemap;
    let n = loaded.len();
    for (c, access, [bans, excepts, invex], settings) in loaded {
        let ch =
            server
                .registry
                .channel_or_create(&c.name, &c.display, (c.created_ms / 1000) as u64);
        let mut st = ch.lock();
        st.topic = c.topic.map(|t| Topic {
            text: t.text,
            set_by: t.set_by,
            set_at: (t.set_ms / 1000) as u64,
        });
        parse_modes(&c.modes, &mut st);
        let entries = |v: Vec<ChannelMask>| {
            v.into_iter()
                .map(|m| ListEntry {
                    folded: casemap.fold_lossy(&m.mask),
                    mask: m.mask,
                    set_by: m.set_by,
                    set_at: m.set_at,
                })
                .collect()
        };
        st.bans = entries(bans);
        st.excepts = entries(excepts);
        st.invex = entries(invex);
        ch.set_keeps_history(settings.keeps_history());
        st.registered = Some(Box::new(Registration {
            founder: c.founder,
            access,
            settings,
        }));
    }
    if n > 0 {
        info!(channels = n, "registered channels restored");
    }
}

/// Applies a stored mode string (`+ntk key`) to a channel.
fn parse_modes(s: &str, st: &mut ChanState) {
    let mut words = s.split(' ');
    let letters = words.next().unwrap_or("");
    for c in letters.chars() {
        let m = &mut st.modes;
        match c {
            'C' => m.no_ctcp = true,
            'i' => m.invite_only = true,
            'm' => m.moderated = true,
            'n' => m.no_external = true,
            's' => m.secret = true,
            't' => m.topic_lock = true,
            'k' => m.key = words.next().map(str::to_string),
            'l' => m.limit = words.next().and_then(|l| l.parse().ok()),
            _ => {}
        }
    }
}

/// What the store keeps of a channel's state.
pub(super) struct Snapshot {
    pub topic: Option<ChannelTopic>,
    pub modes: String,
    pub lists: [Vec<ChannelMask>; 3],
}

pub(super) fn snapshot(st: &ChanState) -> Snapshot {
    let (m, p) = st.modes.to_mode_string(true);
    let modes = std::iter::once(m).chain(p).collect::<Vec<_>>().join(" ");
    let masks = |l: &[ListEntry]| {
        l.iter()
            .map(|e| ChannelMask {
                mask: e.mask.clone(),
                set_by: e.set_by.clone(),
                set_at: e.set_at,
            })
            .collect()
    };
    Snapshot {
        topic: st.topic.as_ref().map(|t| ChannelTopic {
            text: t.text.clone(),
            set_by: t.set_by.clone(),
            set_ms: t.set_at as i64 * 1000,
        }),
        modes,
        lists: [masks(&st.bans), masks(&st.excepts), masks(&st.invex)],
    }
}

/// A registered channel's topic, modes or lists changed (live already):
/// saved before the command that changed them completes (its reply waits
/// for the commit). Nothing for a channel not registered.
pub(crate) fn save(cx: &mut Ctx<'_>, ch: &Channel) {
    let snap = {
        let st = ch.lock();
        if st.registered.is_none() {
            return;
        }
        snapshot(&st)
    };
    let (server, name) = (cx.server_arc(), ch.folded.clone());
    cx.defer(async move {
        let r = server
            .store(move |s| {
                s.set_channel_topic(&name, snap.topic.as_ref())?;
                s.set_channel_modes(&name, &snap.modes)?;
                for (k, l) in ['b', 'e', 'I'].into_iter().zip(&snap.lists) {
                    s.set_channel_masks(&name, k, l)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            warn!(error = %e, "could not save a registered channel");
        }
        then(|_cx: &mut Ctx<'_>| {})
    });
}

/// An account was deleted: the channels it founded are no longer
/// registered (the store forgot them with it), and it leaves every access
/// list.
pub(crate) fn account_gone(server: &Server, account: &str) {
    for ch in server.registry.channels() {
        let empty = {
            let mut st = ch.lock();
            let Some(reg) = st.registered.as_mut() else {
                continue;
            };
            reg.access.retain(|(a, _)| a != account);
            if reg.founder == account {
                st.registered = None;
                ch.set_keeps_history(true);
            }
            st.members.is_empty()
        };
        if empty {
            server.registry.remove_channel_if_empty(&ch);
        }
    }
}

/// A NOTICE from ChanServ to this client.
pub(super) fn say(cx: &mut Ctx<'_>, text: &str) {
    let nick = cx.me().nick();
    let line = format!(
        ":{CHANSERV}!{CHANSERV}@{} NOTICE {nick} :{text}",
        cx.server_name()
    );
    cx.reply.line(line);
}

/// A joiner given its status by the channel's access list: the other
/// members see ChanServ set it now; the joiner, after its JOIN and names
/// (the event returned, for its reply).
pub(crate) fn announce_status(
    server: &Server,
    st: &ChanState,
    joiner: crate::client::ClientId,
    chname: &str,
    nick: &str,
    p: Prefix,
) -> Option<Event> {
    let modes = match (p.op, p.voice) {
        (true, _) => "+o",
        (false, true) => "+v",
        _ => return None,
    };
    let line = format!(
        ":{CHANSERV}!{CHANSERV}@{} MODE {chname} {modes} {nick}\r\n",
        server.name
    );
    let e = Event::new(line, server.clock.wall()).with_msgid(server.msgid());
    route::to_members(st, Some(joiner), &e, server.config().limits.sendq_bytes);
    Some(e)
}
