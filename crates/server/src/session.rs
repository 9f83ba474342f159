//! What a connection's own task owns: registration state, negotiated caps,
//! its MONITOR list. Nobody else reads it, so it needs no lock.

use std::future::Future;
use std::pin::Pin;

use ferry_store::{Account, ListEntry};

use crate::auth::scram::ServerFirst;
use crate::caps::Caps;
use crate::charset::Charset;
use crate::ctx::Then;
use crate::reply::Reply;
use crate::route::Me;

/// Where a SASL exchange is.
#[derive(Debug)]
pub(crate) enum Sasl {
    Plain,
    /// The client certificate's fingerprint names the account.
    External,
    ScramFirst,
    ScramFinal(Box<ServerFirst>, Box<Account>),
    ScramDone(Box<Account>),
}

/// A command waiting for the store or the hasher: the connection reads no
/// further line until it completes, so replies keep their order — except
/// behind a message being stored for offline accounts, which later
/// messages may follow in a chain (see `Conn::process`).
pub(crate) struct Pending {
    pub fut: Pin<Box<dyn Future<Output = Then> + Send>>,
    /// The reply so far (its label, its lines), finished after `fut`.
    pub reply: Reply,
    pub verb: String,
    /// Later messages may be handled while this one waits.
    pub chainable: bool,
    /// The next command of the chain, finished after this one.
    pub next: Option<Box<Pending>>,
}

impl Pending {
    /// Puts `p` at the end of the chain that starts at `head`; returns
    /// the chain's length.
    pub(crate) fn append(head: &mut Option<Box<Pending>>, p: Box<Pending>) -> usize {
        let mut n = 1;
        let mut at = head;
        while let Some(q) = at {
            n += 1;
            at = &mut q.next;
        }
        *at = Some(p);
        n
    }
}

#[derive(Debug)]
pub(crate) struct Session {
    /// This connection's client: the one whose queue it may fill.
    pub client: Me,
    pub caps: Caps,
    /// CAP LS/REQ seen before registration: wait for CAP END.
    pub cap_negotiating: bool,
    pub cap_version: u32,
    /// The casefolded nick this session holds in the nick map.
    pub folded_nick: Option<String>,
    /// (user, realname) from USER; boxed, as it is kept only until
    /// registration completes.
    pub user: Option<Box<(String, String)>>,
    pub registered: bool,
    /// What few sessions use (PASS, OPER, MONITOR): in a box made at the
    /// first write, so that the rest pay one pointer.
    pub more: More,
    /// Set by a command that ends the connection: the text of the ERROR.
    pub quit: Option<Box<str>>,
    /// The account logged in to, casefolded.
    pub account: Option<String>,
    /// Logged in before registration: load the account's state after it.
    pub after_login_pending: bool,
    /// This session used MONITOR: it follows the account's stored list.
    pub monitor_used: bool,
    pub(crate) pending: Option<Box<Pending>>,
    /// Lines are being handled behind a chain of stored messages: every
    /// reply waits in the chain, in order, whether or not it waits itself.
    pub(crate) in_chain: bool,
    /// From an exempt network, or flood control is off.
    pub flood_exempt: bool,
    /// What this connection's wire speaks (its listener's, or `CHARSET`).
    pub charset: Charset,
}

/// The rarely used part of a [`Session`].
#[derive(Debug, Default)]
pub(crate) struct SessionMore {
    /// PASS, until registration.
    pub pass: Option<String>,
    /// The operator block this session opered up with.
    pub oper_name: Option<String>,
    /// (casefolded, as given) nicks this session MONITORs.
    pub monitoring: Vec<(String, String)>,
    /// The account's stored MONITOR list, once loaded.
    pub stored_monitor: Option<Vec<ListEntry>>,
    /// The last nick refused as in use (REGISTER * before a nick is set).
    pub nick_attempt: Option<String>,
    /// The nick (casefolded) asked for before registration that a user
    /// logged in to an account holds: at registration this connection
    /// becomes another device of that user if it is logged in to the same
    /// account, else it is told 433.
    pub attach: Option<String>,
    /// (mechanism, payload so far, step), while a SASL exchange is under way.
    pub sasl: Option<(String, String, Sasl)>,
    /// The last target told "will be delivered later", and when (ms).
    pub offline_told: Option<(String, i64)>,
    /// Target-change limit state, from the first private message on.
    pub targets: Option<crate::guard::TargetChanges>,
    /// Its listener's charset when that is not UTF-8 (`CHARSET utf-8`
    /// keeps its fallback).
    pub listener_charset: Option<Charset>,
    /// The user this connection is another device of (multiclient): the
    /// first connection's client, which channels and the nick map hold.
    /// None for a first (or only) connection, whose user is `client`.
    pub identity: Option<std::sync::Arc<crate::client::Client>>,
    /// Metadata set before registration (METADATA * SET), for the user
    /// this connection becomes.
    pub prereg_metadata: crate::metadata::Pairs,
    /// A multiline batch being received (draft/multiline).
    pub multiline: Option<Box<crate::multiline::Open>>,
    /// Read markers (MARKREAD): the account's, shared with its other
    /// connections, or this connection's own when it is not logged in.
    pub markers: Option<crate::accounts::Marks>,
}

/// A [`SessionMore`] made at the first write; reading an absent one reads
/// an empty one.
#[derive(Debug, Default)]
pub(crate) struct More(Option<Box<SessionMore>>);

static NO_MORE: std::sync::LazyLock<SessionMore> = std::sync::LazyLock::new(SessionMore::default);

impl More {
    /// Changes it only if it exists (a clean-up need not make one).
    pub(crate) fn if_made(&mut self) -> Option<&mut SessionMore> {
        self.0.as_deref_mut()
    }

    /// Frees it if nothing in it is set.
    pub(crate) fn tidy(&mut self) {
        if let Some(m) = &self.0 {
            if m.pass.is_none()
                && m.oper_name.is_none()
                && m.monitoring.is_empty()
                && m.stored_monitor.is_none()
                && m.nick_attempt.is_none()
                && m.attach.is_none()
                && m.sasl.is_none()
                && m.offline_told.is_none()
                && m.targets.is_none()
                && m.listener_charset.is_none()
                && m.markers.is_none()
                && m.identity.is_none()
                && m.prereg_metadata.is_empty()
                && m.multiline.is_none()
            {
                self.0 = None;
            }
        }
    }
}

impl std::ops::Deref for More {
    type Target = SessionMore;
    fn deref(&self) -> &SessionMore {
        self.0.as_deref().unwrap_or(&NO_MORE)
    }
}

impl std::ops::DerefMut for More {
    fn deref_mut(&mut self) -> &mut SessionMore {
        self.0.get_or_insert_with(Box::default)
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("verb", &self.verb).finish()
    }
}

impl Session {
    /// The user this connection is: its own client, or the one it is
    /// another device of.
    pub(crate) fn user(&self) -> &std::sync::Arc<crate::client::Client> {
        self.more.identity.as_ref().unwrap_or(&self.client)
    }

    pub(crate) fn new(client: Me) -> Session {
        Session {
            client,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_version: 0,
            folded_nick: None,
            user: None,
            registered: false,
            more: More::default(),
            quit: None,
            account: None,
            after_login_pending: false,
            monitor_used: false,
            pending: None,
            in_chain: false,
            flood_exempt: false,
            charset: Charset::UTF8,
        }
    }
}
