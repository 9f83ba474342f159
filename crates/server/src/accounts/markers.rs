//! Read markers (IRCv3 `draft/read-marker`): how far the user has read
//! each conversation. A logged-in account's markers are stored
//! ([`ferry_store::MarkerStore`]) and shared in memory by all its
//! connections ([`SharedMarkers`]), so a JOIN on any device answers from
//! memory and a MARKREAD on one reaches the others. A connection that is
//! not logged in keeps markers of its own for as long as it lasts.
//!
//! A marker only moves forward: a MARKREAD older than the one kept is
//! answered with the one kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use dashmap::DashMap;
use ferry_store::{ReadMarker, MAX_MARKERS};
use tracing::warn;

use crate::caps::Cap;
use crate::ctx::{then, Ctx};
use crate::event::{format_millis, Event};
use crate::route;

/// Markers by casefolded target (ms since the Unix epoch).
pub(crate) type Marks = Arc<Mutex<HashMap<String, i64>>>;

/// The markers of every account with a connection, shared by its
/// connections: each holds the `Arc`, this map only a `Weak`, so the set
/// goes when the account's last connection does.
#[derive(Default)]
pub(crate) struct SharedMarkers(DashMap<String, Weak<Mutex<HashMap<String, i64>>>>);

impl SharedMarkers {
    /// The live set of `account`'s markers, or `loaded` made the live set.
    /// What `loaded` holds that the live set lacks is merged in (a marker
    /// moved while this connection was loading).
    pub(crate) fn attach(&self, account: &str, loaded: Vec<ReadMarker>) -> Marks {
        let mut e = self.0.entry(account.to_string()).or_default();
        if let Some(live) = e.upgrade() {
            let mut m = lock(&live);
            for r in loaded {
                raise(&mut m, r.target, r.time_ms);
            }
            drop(m);
            return live;
        }
        let mut m = HashMap::with_capacity(loaded.len());
        for r in loaded {
            raise(&mut m, r.target, r.time_ms);
        }
        let marks = Arc::new(Mutex::new(m));
        *e = Arc::downgrade(&marks);
        marks
    }

    /// A connection of `account` lets its markers go (logout, disconnect).
    pub(crate) fn release(&self, account: &str, mine: Marks) {
        drop(mine);
        self.0.remove_if(account, |_, w| w.strong_count() == 0);
    }

    /// Accounts with markers in memory (for the fuzzer's leak check).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

fn lock(m: &Marks) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
    m.lock().expect("read markers lock")
}

/// Moves `target`'s marker to `ms` unless it is further; the marker after.
/// Past [`MAX_MARKERS`] targets, the oldest marker makes room.
fn raise(m: &mut HashMap<String, i64>, target: String, ms: i64) -> i64 {
    if m.len() >= MAX_MARKERS && !m.contains_key(&target) {
        if let Some(oldest) = m.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
            m.remove(&oldest);
        }
    }
    let e = m.entry(target).or_insert(ms);
    *e = (*e).max(ms);
    *e
}

/// `MARKREAD <target> timestamp=<time>` (or `*`: nothing read yet).
fn line(server: &str, target: &str, ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!(
            ":{server} MARKREAD {target} timestamp={}",
            format_millis(ms)
        ),
        None => format!(":{server} MARKREAD {target} *"),
    }
}

/// This connection's marker for `target` (casefolded), if any.
fn marker_of(cx: &Ctx<'_>, folded: &str) -> Option<i64> {
    cx.s.more
        .markers
        .as_ref()
        .and_then(|m| lock(m).get(folded).copied())
}

/// Tells this client where it has read `target` up to (MARKREAD get, and
/// on JOIN before RPL_ENDOFNAMES).
pub(crate) fn send_marker(cx: &mut Ctx<'_>, target: &str) {
    let folded = cx.server.config().casemap.fold_lossy(target);
    let ms = marker_of(cx, &folded);
    let l = line(&cx.server.name, target, ms);
    cx.reply.line(l);
}

/// [`send_marker`] where the client asked for read markers (JOIN).
pub(crate) fn send_marker_if_wanted(cx: &mut Ctx<'_>, target: &str) {
    if cx.caps().has(Cap::ReadMarker) {
        send_marker(cx, target);
    }
}

/// MARKREAD set: moves the marker (stored first for an account), answers
/// with the marker as kept and tells the account's other connections.
pub(crate) fn set_marker(cx: &mut Ctx<'_>, target: &str, ms: i64) {
    let folded = cx.server.config().casemap.fold_lossy(target);
    let Some(account) = cx.s.account.clone() else {
        let marks = cx.s.more.markers.get_or_insert_with(Marks::default).clone();
        let now = raise(&mut lock(&marks), folded, ms);
        let l = line(&cx.server.name, target, Some(now));
        cx.reply.line(l);
        return;
    };
    let server = cx.server_arc();
    let target = target.to_string();
    cx.defer(async move {
        let (a, f) = (account.clone(), folded.clone());
        let r = server.store(move |s| s.set_marker(&a, &f, ms)).await;
        then(move |cx: &mut Ctx<'_>| {
            let stored = match r {
                Ok(Some(stored)) => stored,
                Ok(None) => {
                    cx.fail("INTERNAL_ERROR", &[&target], "The account is gone");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "could not store a read marker");
                    cx.fail(
                        "INTERNAL_ERROR",
                        &[&target],
                        "Could not keep the marker; try again",
                    );
                    return;
                }
            };
            let now = match &cx.s.more.markers {
                Some(m) => raise(&mut lock(m), folded, stored),
                None => stored,
            };
            let l = line(&cx.server.name, &target, Some(now));
            // The others are told only of a marker that moved.
            if now == ms {
                let e = Event::new(format!("{l}\r\n"), cx.server.clock.wall());
                let me = cx.conn().id;
                route::to_devices(cx.server, &account, me, Cap::ReadMarker, &e);
            }
            cx.reply.line(l);
        })
    });
}

/// Loaded at login: this connection now shares the account's markers
/// (what it marked before logging in was its own, and goes).
pub(crate) fn attach_markers(cx: &mut Ctx<'_>, account: &str, loaded: Vec<ReadMarker>) {
    let marks = cx.server.markers.attach(account, loaded);
    cx.s.more.markers = Some(marks);
}

/// The connection is leaving `account` (logout, disconnect).
pub(crate) fn detach_markers(
    server: &crate::Server,
    s: &mut crate::session::Session,
    account: &str,
) {
    if let Some(m) = s.more.if_made().and_then(|m| m.markers.take()) {
        server.markers.release(account, m);
    }
}
