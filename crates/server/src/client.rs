//! What other tasks may see of a connection: its send queue and a few
//! fields behind a short mutex. The connection's own task owns everything
//! else (see `session.rs`).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::caps::Caps;
use crate::channel::Channel;
use crate::route::{Budget, Outbox};

pub(crate) type ClientId = u64;

#[derive(Debug)]
pub(crate) struct Client {
    pub id: ClientId,
    pub ip: IpAddr,
    /// Its send queue: filled only by `route` (and, for its own
    /// connection, through `route::Me`); drained by its connection.
    pub(crate) outbox: Outbox,
    info: Mutex<Info>,
    caps: AtomicU32,
    registered: AtomicBool,
    /// Seconds since server start at the last line read from this client.
    pub last_active: AtomicU64,
    pub ping_sent: AtomicBool,
    /// Set by whoever ends this connection from outside (KILL, ping timeout).
    kill: Mutex<Option<Box<str>>>,
    pub connected_at: u64,
    /// The owner's ACCEPT and SILENCE lists, for senders to check.
    lists: Mutex<LazyLists>,
    /// Seconds since server start when this client's nick must be given
    /// up (a registered nick used without logging in); 0: no deadline.
    pub nick_deadline: AtomicU32,
    force_nick: AtomicBool,
    /// The SILENCE list is not empty: lets a channel message skip locking
    /// every member's lists (see `sync_silence_flag`).
    has_silence: AtomicBool,
    /// Unix ms since which output has been waiting unwritten (0: none):
    /// what a client cut off for SendQ may have missed.
    pub backlog_since: AtomicI64,
    /// Who last sent this client a private message (`guard::target_hash`
    /// of their casefolded nick): writing back is no target change.
    pub last_dm_from: AtomicU64,
    /// Messages were stored for this client's account after its login
    /// fetched the waiting ones: fetch again (see `commands::offline_poked`).
    offline_poke: AtomicBool,
    /// Connected over TLS (WHOIS 671).
    pub tls: bool,
    /// SHA-256 of the client certificate it presented, lowercase hex
    /// (SASL EXTERNAL, WHOIS 276).
    pub certfp: Option<Box<str>>,
    /// `lists().devices` holds at least one connection: lets delivery
    /// skip the lock for the clients that have none.
    has_devices: AtomicBool,
}

/// The connections of one user beyond its first (multiclient, as Ergo
/// has it): the first connection's [`Client`] is the user everyone else
/// sees — in channels, in the nick map — and what is delivered to it goes
/// to every connection listed here too. It lives on while any of them is
/// connected, after its own connection ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Devices {
    conns: Vec<Arc<Client>>,
    /// The first connection ended; the user stays while `conns` has one.
    first_gone: bool,
    /// The last connection ended: the user quits, no one may attach.
    ended: bool,
    /// The user stays when its last connection ends (always-on).
    always_on: bool,
    /// Killed (KILL, a ban, a suspension): always-on or not, it goes.
    killed: bool,
    /// Its account's owner turned multiclient off: no other connection
    /// may share its nick.
    single: bool,
}

/// What a connection's end left of its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detached {
    /// Other connections of the user remain.
    Stays,
    /// None remains, but the user is always-on: it stays, parked.
    Parked,
    /// None remains: the user quits.
    Last,
}

impl Devices {
    /// Anything to keep (a reset of the lists must not drop it).
    pub(crate) fn in_use(&self) -> bool {
        !self.conns.is_empty() || self.first_gone || self.ended || self.always_on || self.single
    }
}

/// A client's [`FriendLists`], made at the first change: most clients
/// never have any, and an empty set of lists would cost each of them
/// 144 bytes. Reading absent lists reads empty ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct LazyLists(Option<Box<FriendLists>>);

static NO_LISTS: std::sync::LazyLock<FriendLists> = std::sync::LazyLock::new(FriendLists::default);

impl std::ops::Deref for LazyLists {
    type Target = FriendLists;
    fn deref(&self) -> &FriendLists {
        self.0.as_deref().unwrap_or(&NO_LISTS)
    }
}

impl std::ops::DerefMut for LazyLists {
    fn deref_mut(&mut self) -> &mut FriendLists {
        self.0.get_or_insert_with(Box::default)
    }
}

/// Lists other clients check before delivering to this one.
#[derive(Debug, Clone, Default)]
pub(crate) struct FriendLists {
    /// Casefolded account names (or nicks) allowed through +g.
    pub accept: HashSet<String>,
    /// The same, as the owner typed them.
    pub accept_display: Vec<String>,
    /// (mask as typed, casefolded) whose messages are dropped.
    pub silence: Vec<(String, String)>,
    /// Senders told they are being ignored (+g), and when (secs).
    pub notified: HashMap<String, u64>,
    /// This user's connections beyond its first (multiclient): kept in
    /// the lists' box so that a client alone pays nothing for them.
    pub(crate) devices: Devices,
}

/// Fields other clients can read: under a per-client mutex that is a leaf
/// lock (never held while taking a channel lock).
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    // Boxed strings: a client keeps these for hours and they rarely change,
    // so the spare capacity word of a `String` (8 bytes each) is waste.
    pub nick: Box<str>,
    pub user: Box<str>,
    pub host: Box<str>,
    pub realname: Box<str>,
    pub away: Option<Box<str>>,
    pub account: Option<Box<str>>,
    pub modes: UserModes,
    pub channels: Vec<Arc<Channel>>,
    /// Unix time of the last PRIVMSG/NOTICE (WHOIS idle).
    pub last_message: u64,
    pub signon: u64,
}

impl Info {
    pub(crate) fn prefix(&self) -> String {
        crate::text::concat(&[&self.nick, "!", &self.user, "@", &self.host])
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UserModes {
    /// +g: only accepted accounts may message (CALLERID).
    pub callerid: bool,
    pub invisible: bool,
    pub wallops: bool,
    /// +s: server notices (operators only).
    pub snotices: bool,
    pub oper: bool,
    pub bot: bool,
}

impl UserModes {
    pub(crate) fn to_mode_string(self) -> String {
        let mut s = String::from("+");
        if self.bot {
            s.push('B');
        }
        if self.callerid {
            s.push('g');
        }
        if self.invisible {
            s.push('i');
        }
        if self.oper {
            s.push('o');
        }
        if self.snotices {
            s.push('s');
        }
        if self.wallops {
            s.push('w');
        }
        s
    }
}

impl Client {
    /// A connection's client; its send queue counts in `budget`.
    pub(crate) fn new(
        id: ClientId,
        ip: IpAddr,
        host: String,
        connected_at: u64,
        now: u64,
        budget: Arc<Budget>,
    ) -> Client {
        Client {
            id,
            ip,
            outbox: Outbox::new(budget),
            info: Mutex::new(Info {
                nick: "*".into(),
                host: host.into(),
                signon: connected_at,
                ..Info::default()
            }),
            caps: AtomicU32::new(0),
            registered: AtomicBool::new(false),
            last_active: AtomicU64::new(now),
            ping_sent: AtomicBool::new(false),
            kill: Mutex::new(None),
            connected_at,
            lists: Mutex::new(LazyLists::default()),
            nick_deadline: AtomicU32::new(0),
            force_nick: AtomicBool::new(false),
            has_silence: AtomicBool::new(false),
            backlog_since: AtomicI64::new(0),
            last_dm_from: AtomicU64::new(0),
            offline_poke: AtomicBool::new(false),
            tls: false,
            certfp: None,
            has_devices: AtomicBool::new(false),
        }
    }

    /// How the client is connected: TLS, and its certificate's fingerprint.
    pub(crate) fn with_transport(mut self, tls: bool, certfp: Option<String>) -> Client {
        self.tls = tls;
        self.certfp = certfp.map(Into::into);
        self
    }

    pub(crate) fn info(&self) -> MutexGuard<'_, Info> {
        self.info.lock().expect("client info lock")
    }

    pub(crate) fn lists(&self) -> MutexGuard<'_, LazyLists> {
        self.lists.lock().expect("client lists lock")
    }

    /// Has this client silenced anyone? (No lock: the relay path asks.)
    pub(crate) fn has_silence(&self) -> bool {
        self.has_silence.load(Ordering::Relaxed)
    }

    /// Call after editing `lists().silence`, with the guard still held.
    pub(crate) fn sync_silence_flag(&self, lists: &FriendLists) {
        self.has_silence
            .store(!lists.silence.is_empty(), Ordering::Relaxed);
    }

    pub(crate) fn clear_nick_deadline(&self) {
        self.nick_deadline.store(0, Ordering::Relaxed);
    }

    /// Asks the owning task to rename this client to a guest nick.
    pub(crate) fn request_guest_nick(&self) {
        self.force_nick.store(true, Ordering::Relaxed);
        self.outbox.wake();
    }

    pub(crate) fn take_guest_nick_request(&self) -> bool {
        self.force_nick.swap(false, Ordering::Relaxed)
    }

    pub(crate) fn nick(&self) -> String {
        self.info().nick.to_string()
    }

    pub(crate) fn caps(&self) -> Caps {
        Caps(self.caps.load(Ordering::Relaxed))
    }

    pub(crate) fn set_caps(&self, caps: Caps) {
        self.caps.store(caps.0, Ordering::Relaxed)
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    pub(crate) fn set_registered(&self) {
        self.registered.store(true, Ordering::Release)
    }

    /// Tells the owning task that messages are waiting in the store (or,
    /// once this user's first connection ended, another of its own).
    pub(crate) fn poke_offline(&self) {
        if let Some(c) = self.fetching_conn() {
            return c.poke_offline();
        }
        self.offline_poke.store(true, Ordering::Release);
        self.outbox.wake();
    }

    pub(crate) fn take_offline_poke(&self) -> bool {
        self.offline_poke.swap(false, Ordering::Acquire)
    }

    /// Ends the user: asks each of its connections' tasks to close with
    /// `reason`. True when it has none (an always-on user, parked): then
    /// nobody will, and the caller does its QUIT (`lifecycle::kill_user`).
    #[must_use = "a parked user's QUIT is the caller's"]
    pub(crate) fn kill(&self, reason: String) -> bool {
        let parked = {
            let mut l = self.lists();
            if l.devices.in_use() {
                let d = &mut l.devices;
                d.killed = true;
                let parked = d.first_gone && d.conns.is_empty() && !d.ended;
                if parked {
                    d.ended = true;
                }
                parked
            } else {
                false
            }
        };
        for d in self.devices() {
            d.kill_conn(reason.clone());
        }
        self.kill_conn(reason);
        parked
    }

    /// Asks the owning task to close this connection alone with `reason`
    /// (a ping timeout, shutdown): the user may stay on its others.
    pub(crate) fn kill_conn(&self, reason: String) {
        let mut k = self.kill.lock().expect("kill lock");
        if k.is_none() {
            *k = Some(reason.into_boxed_str());
        }
        drop(k);
        self.outbox.wake();
    }

    // ------------------------------------------------------- multiclient

    /// Does this user have connections beyond its first? (No lock.)
    pub(crate) fn has_devices(&self) -> bool {
        self.has_devices.load(Ordering::Acquire)
    }

    /// The connections beyond the first (a snapshot).
    pub(crate) fn devices(&self) -> Vec<Arc<Client>> {
        if !self.has_devices() {
            return Vec::new();
        }
        self.lists().devices.conns.clone()
    }

    /// Calls `f` on each connection of this user: its first (while it is
    /// connected) and the others. Under the devices lock, a leaf: `f` may
    /// only queue lines.
    pub(crate) fn each_conn(&self, mut f: impl FnMut(&Client)) {
        if !self.has_devices() {
            return f(self);
        }
        let l = self.lists();
        if !l.devices.first_gone {
            f(self);
        }
        for c in &l.devices.conns {
            f(c);
        }
    }

    /// The connection that fetches what waits in the store for this user
    /// (one, so offline messages arrive once): its first, while connected.
    pub(crate) fn fetching_conn(&self) -> Option<Arc<Client>> {
        let l = self.lists();
        let d = &l.devices;
        d.first_gone.then(|| d.conns.first().cloned()).flatten()
    }

    /// Adds `conn` as another connection of this user; false if the user
    /// is quitting (its last connection ended meanwhile).
    pub(crate) fn attach(&self, conn: Arc<Client>) -> bool {
        let mut l = self.lists();
        let d = &mut l.devices;
        if d.ended {
            return false;
        }
        d.conns.push(conn);
        self.has_devices.store(true, Ordering::Release);
        true
    }

    /// The connection `id` of this user ended (its first, or another):
    /// what is left of the user.
    pub(crate) fn detach(&self, id: ClientId) -> Detached {
        let mut l = self.lists();
        if !l.devices.in_use() {
            // Alone: its only connection ended (and no box is made).
            return Detached::Last;
        }
        let d = &mut l.devices;
        if id == self.id {
            d.first_gone = true;
        } else {
            d.conns.retain(|c| c.id != id);
        }
        self.has_devices
            .store(!d.conns.is_empty(), Ordering::Release);
        if !(d.first_gone && d.conns.is_empty()) {
            Detached::Stays
        } else if d.always_on && !d.killed && !d.ended {
            Detached::Parked
        } else {
            d.ended = true;
            Detached::Last
        }
    }

    /// Its account's multiclient choice (at login, and NickServ SET
    /// MULTICLIENT): `false` keeps it to one connection.
    pub(crate) fn set_multiclient(&self, on: bool) {
        let mut l = self.lists();
        if !on || l.devices.in_use() {
            l.devices.single = !on;
        }
    }

    /// May another connection of its account share this user's nick?
    pub(crate) fn allows_devices(&self) -> bool {
        !self.lists().devices.single
    }

    /// Does this user stay when its last connection ends?
    pub(crate) fn is_always_on(&self) -> bool {
        self.lists().devices.always_on
    }

    /// A user restored with no connection (an always-on user at start):
    /// parked from the first.
    pub(crate) fn park_without_connection(&self) {
        self.lists().devices.first_gone = true;
    }

    /// Whether this user stays when its last connection ends (its
    /// account's always-on, at login and on NickServ SET ALWAYS-ON).
    pub(crate) fn set_always_on(&self, on: bool) {
        let mut l = self.lists();
        if on || l.devices.in_use() {
            l.devices.always_on = on;
        }
    }

    /// An always-on user with no connection: what is sent to it waits in
    /// the store for its next device.
    pub(crate) fn is_parked(&self) -> bool {
        if !self.outbox.is_closed() || self.has_devices() {
            return false;
        }
        let l = self.lists();
        let d = &l.devices;
        d.first_gone && d.conns.is_empty() && !d.ended
    }

    pub(crate) fn take_kill(&self) -> Option<String> {
        self.kill
            .lock()
            .expect("kill lock")
            .take()
            .map(String::from)
    }
}

/// Server notice mask letters (user mode +s), solanum's where they overlap.
pub(crate) const SNOMASKS: &[(char, &str)] = &[
    ('b', "floods: Excess Flood, target-change limits"),
    ('c', "client connects and exits"),
    ('f', "limits: refused connections, SendQ and memory budget"),
    ('k', "kills"),
    ('n', "nick changes"),
    ('r', "rejected: K-lined and D-lined clients"),
    ('s', "operators: bans set and removed, REHASH, OPER"),
];

/// What `+s` without a mask gives (all but nick changes).
pub(crate) const SNOMASK_DEFAULT: &str = "bcfkrs";

pub(crate) fn snomask_bit(c: char) -> Option<u32> {
    SNOMASKS
        .iter()
        .position(|&(l, _)| l == c)
        .map(|i| 1u32 << i)
}

/// `+letters`, as RPL_SNOMASK shows a mask.
pub(crate) fn snomask_string(mask: u32) -> String {
    let mut s = String::from("+");
    for (i, &(l, _)) in SNOMASKS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            s.push(l);
        }
    }
    s
}

/// Applies a mask change such as `+ck-n` (or plain `ck`, which adds).
/// Unknown letters are ignored.
pub(crate) fn apply_snomask(mut mask: u32, spec: &str) -> u32 {
    let mut adding = true;
    for c in spec.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            '*' if adding => mask = (1 << SNOMASKS.len()) - 1,
            '*' => mask = 0,
            c => {
                if let Some(b) = snomask_bit(c) {
                    if adding {
                        mask |= b
                    } else {
                        mask &= !b
                    }
                }
            }
        }
    }
    mask
}

#[cfg(test)]
mod snomask_tests {
    use super::*;

    #[test]
    fn masks_apply_like_solanum() {
        let d = apply_snomask(0, SNOMASK_DEFAULT);
        assert_eq!(snomask_string(d), "+bcfkrs");
        assert_eq!(snomask_string(apply_snomask(d, "-c+n")), "+bfknrs");
        assert_eq!(snomask_string(apply_snomask(0, "kx")), "+k");
        assert_eq!(apply_snomask(d, "-*"), 0);
        assert_eq!(snomask_string(apply_snomask(0, "*")), "+bcfknrs");
    }
}
