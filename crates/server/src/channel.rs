//! A channel: members and modes behind the channel's own mutex.
//!
//! Lock order: the server's channel map shard, then a channel, then a
//! member's `Client::info`. Nothing awaits while holding a channel lock;
//! fan-out pushes into members' bounded queues under it, which never blocks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::{Client, ClientId};

#[derive(Debug)]
pub(crate) struct Channel {
    /// The name as first created (display form).
    pub name: String,
    /// The casefolded name, the channel map's key.
    pub folded: String,
    /// ChanServ SET HISTORY OFF: its messages are not kept. Read on the
    /// message path without the state's lock.
    history_off: std::sync::atomic::AtomicBool,
    state: Mutex<ChanState>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prefix {
    pub op: bool,
    pub voice: bool,
}

impl Prefix {
    /// Highest prefix only, or all with multi-prefix.
    pub(crate) fn symbols(self, multi: bool) -> &'static str {
        match (self.op, self.voice, multi) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            _ => "",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Member {
    pub client: Arc<Client>,
    pub prefix: Prefix,
    /// When it joined (Unix ms): ChanServ's QUERY-CUTOFF JOIN-TIME hides
    /// the history before it.
    pub joined_ms: i64,
}

/// A user as channel lists see them: the casefolded `nick!user@host` and
/// the casefolded account, if logged in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub mask: &'a str,
    pub account: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub(crate) struct ListEntry {
    pub mask: String,
    /// The mask casefolded, for matching.
    pub folded: String,
    pub set_by: String,
    pub set_at: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Topic {
    pub text: String,
    pub set_by: String,
    pub set_at: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ChanModes {
    pub invite_only: bool,
    pub moderated: bool,
    pub no_external: bool,
    pub secret: bool,
    pub topic_lock: bool,
    /// +C: no CTCP to the channel but ACTION (`/me`).
    pub no_ctcp: bool,
    /// +u, auditorium (as Ergo): members without `+v` or `@` see only those
    /// with it (and themselves) — in NAMES and WHO, and their JOIN, PART
    /// and QUIT reach only them. For groups of thousands.
    pub auditorium: bool,
    pub key: Option<String>,
    pub limit: Option<usize>,
}

impl ChanModes {
    /// `+nt` style string, with parameters when `show_params`.
    pub(crate) fn to_mode_string(&self, show_params: bool) -> (String, Vec<String>) {
        let mut m = String::from("+");
        let mut params = Vec::new();
        for (on, c) in [
            (self.no_ctcp, 'C'),
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
            (self.auditorium, 'u'),
        ] {
            if on {
                m.push(c);
            }
        }
        if let Some(k) = &self.key {
            m.push('k');
            if show_params {
                params.push(k.clone());
            }
        }
        if let Some(l) = self.limit {
            m.push('l');
            if show_params {
                params.push(l.to_string());
            }
        }
        (m, params)
    }
}

#[derive(Debug, Default)]
pub(crate) struct ChanState {
    pub members: HashMap<ClientId, Member>,
    pub topic: Option<Topic>,
    pub modes: ChanModes,
    pub bans: Vec<ListEntry>,
    pub excepts: Vec<ListEntry>,
    pub invex: Vec<ListEntry>,
    pub invited: HashSet<ClientId>,
    pub created: u64,
    /// Its metadata (draft/metadata-3), set by its operators: (key, value).
    pub metadata: Vec<(String, String)>,
    /// Registered with ChanServ: it stays when empty, and its access list
    /// gives status on join.
    pub registered: Option<Box<crate::chanserv::Registration>>,
    /// The casefolded names it had before RENAMEs, oldest first: its
    /// history under them is still its own.
    pub former_keys: Vec<String>,
    /// Set when the channel left the server's map: a JOIN that raced with
    /// the last PART must look the channel up again.
    pub dead: bool,
}

impl ChanState {
    /// Does `id` have a status (`@` or `+`) here?
    pub(crate) fn is_privileged(&self, id: ClientId) -> bool {
        self.members
            .get(&id)
            .is_some_and(|m| m.prefix.op || m.prefix.voice)
    }

    /// Under +u, may `viewer` see `member` (in NAMES, WHO, their comings
    /// and goings)? Always without +u.
    pub(crate) fn sees(&self, viewer: ClientId, member: ClientId) -> bool {
        !self.modes.auditorium
            || viewer == member
            || self.is_privileged(viewer)
            || self.is_privileged(member)
    }
}

impl Channel {
    /// Whether its messages go into history (ChanServ SET HISTORY).
    pub(crate) fn keeps_history(&self) -> bool {
        !self.history_off.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_keeps_history(&self, on: bool) {
        self.history_off
            .store(!on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn new(name: String, folded: String, created: u64) -> Channel {
        Channel {
            name,
            folded,
            history_off: Default::default(),
            state: Mutex::new(ChanState {
                created,
                ..ChanState::default()
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ChanState> {
        self.state.lock().expect("channel lock")
    }
}

impl ChanState {
    pub(crate) fn prefix_of(&self, id: ClientId) -> Option<Prefix> {
        self.members.get(&id).map(|m| m.prefix)
    }

    pub(crate) fn is_op(&self, id: ClientId) -> bool {
        self.prefix_of(id).is_some_and(|p| p.op)
    }

    /// Does one of the entries match this user? Entries are masks
    /// (`nick!user@host`) or the account extban: `$a` (any logged-in user),
    /// `$a:name` (that account). Mutes (`$m:mask`) are not bans: they are
    /// [`ChanState::is_muted`]'s.
    pub(crate) fn list_matches(list: &[ListEntry], who: &Who<'_>) -> bool {
        list.iter()
            .any(|e| !e.folded.starts_with("$m:") && Self::entry_matches(&e.folded, who))
    }

    fn entry_matches(folded: &str, who: &Who<'_>) -> bool {
        match folded.strip_prefix("$a") {
            Some("") => who.account.is_some(),
            Some(rest) => rest
                .strip_prefix(':')
                .is_some_and(|name| who.account == Some(name)),
            None => ferry_proto::mask::matches(folded, who.mask),
        }
    }

    /// The mute extban (`+b $m:mask`, as Ergo and InspIRCd have it): a
    /// match may join and read but not speak. An exception (`+e`) that
    /// matches — a plain one or a `$m:` one — lifts it.
    pub(crate) fn is_muted(&self, who: &Who<'_>) -> bool {
        let muted = |list: &[ListEntry], mutes_only: bool| {
            list.iter().any(|e| match e.folded.strip_prefix("$m:") {
                Some(mask) => Self::entry_matches(mask, who),
                None => !mutes_only && Self::entry_matches(&e.folded, who),
            })
        };
        muted(&self.bans, true) && !muted(&self.excepts, false)
    }

    pub(crate) fn is_banned(&self, who: &Who<'_>) -> bool {
        Self::list_matches(&self.bans, who) && !Self::list_matches(&self.excepts, who)
    }

    /// May this member or outsider speak? (`+n`, `+m`, bans)
    pub(crate) fn can_send(&self, id: ClientId, who: &Who<'_>) -> bool {
        let folded_mask = who;
        match self.members.get(&id) {
            None => {
                !self.modes.no_external
                    && !self.modes.moderated
                    && !self.is_banned(folded_mask)
                    && !self.is_muted(folded_mask)
            }
            Some(m) => {
                if m.prefix.op || m.prefix.voice {
                    return true;
                }
                !self.modes.moderated && !self.is_banned(folded_mask) && !self.is_muted(folded_mask)
            }
        }
    }
}
