//! Abuse control at the door and on the wire: who may connect (total,
//! per IP, per network, connection rate), how fast a client may send
//! (a token bucket with fake lag, as Ergo and solanum do), and the keyed
//! host cloak that keeps users' addresses private.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

use crate::clock::Clock;
use crate::config::Config;

/// The network an address belongs to for `clients_per_cidr`: /24 for
/// IPv4, /64 for IPv6 (what one subscriber usually has).
fn network_of(ip: IpAddr) -> (IpAddr, u8) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let n = IpNet::new(IpAddr::V4(v4), 24).expect("24 is a valid prefix");
            (n.network(), 24)
        }
        IpAddr::V6(v6) => {
            let n = IpNet::new(IpAddr::V6(v6), 64).expect("64 is a valid prefix");
            (n.network(), 64)
        }
    }
}

/// Counters behind the connection limits.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// The server's, for the connection rate window.
    clock: Clock,
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
    per_net: DashMap<(IpAddr, u8), usize>,
    /// Connection attempts per IP: (window start, count) over
    /// `limits.connection_window` (a second).
    rate: DashMap<IpAddr, (Instant, u32)>,
}

/// Held by a connection for its lifetime; frees its place when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    counted: bool,
    /// The listener the connection came in on, for its open count.
    listener: Option<Arc<crate::stats::ListenerStats>>,
}

impl Ticket {
    /// Counts the connection as open on `l` until the ticket is dropped.
    pub(crate) fn on_listener(mut self, l: Arc<crate::stats::ListenerStats>) -> Ticket {
        l.open.fetch_add(1, Ordering::Relaxed);
        l.accepted.fetch_add(1, Ordering::Relaxed);
        self.listener = Some(l);
        self
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.open.fetch_sub(1, Ordering::Relaxed);
        }
        let a = &self.admission;
        a.total.fetch_sub(1, Ordering::Relaxed);
        if self.counted {
            let dec = |n: &mut usize| *n = n.saturating_sub(1);
            a.per_ip.alter(&self.ip, |_, mut n| {
                dec(&mut n);
                n
            });
            a.per_ip.remove_if(&self.ip, |_, n| *n == 0);
            let net = network_of(self.ip);
            a.per_net.alter(&net, |_, mut n| {
                dec(&mut n);
                n
            });
            a.per_net.remove_if(&net, |_, n| *n == 0);
        }
    }
}

impl Admission {
    /// Connections admitted and not yet closed.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Is `ip` in one of the configured exempt networks?
pub(crate) fn is_exempt(config: &Config, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    config.limits.exempt.iter().any(|n| n.contains(&ip))
}

/// Why a new connection was refused; the text is its ERROR line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// `limits.max_clients` connections are open.
    #[error("Server is full, try again later")]
    ServerFull,
    /// Over `limits.connections_per_second` from this address.
    #[error("Connecting too fast; wait a moment")]
    TooFast,
    /// `limits.clients_per_ip` connections from this address are open.
    #[error("Too many connections from your address (max {0})")]
    PerAddress(usize),
    /// `limits.clients_per_cidr` connections from this network are open.
    #[error("Too many connections from your network (max {0})")]
    PerNetwork(usize),
}

impl Admission {
    pub(crate) fn new(clock: Clock) -> Admission {
        Admission {
            clock,
            ..Admission::default()
        }
    }

    /// Admits a new connection from `ip`, or says why not (its text is the
    /// ERROR line it gets before being closed).
    pub(crate) fn admit(self: &Arc<Self>, config: &Config, ip: IpAddr) -> Result<Ticket, Refused> {
        self.admit_at(config, ip, self.clock.now())
    }

    fn admit_at(
        self: &Arc<Self>,
        config: &Config,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Ticket, Refused> {
        let l = &config.limits;
        let ip = ip.to_canonical();
        if self.total.load(Ordering::Relaxed) >= l.max_clients {
            return Err(Refused::ServerFull);
        }
        let exempt = is_exempt(config, ip);
        if !exempt {
            let mut r = self.rate.entry(ip).or_insert((now, 0));
            if now.duration_since(r.0) >= l.connection_window {
                *r = (now, 0);
            }
            r.1 += 1;
            if r.1 > l.connections_per_second {
                return Err(Refused::TooFast);
            }
            drop(r);
            if self.rate.len() > 100_000 {
                self.rate
                    .retain(|_, (since, _)| now.duration_since(*since) < l.connection_window);
            }
            if self.per_ip.get(&ip).is_some_and(|n| *n >= l.clients_per_ip) {
                return Err(Refused::PerAddress(l.clients_per_ip));
            }
            if self
                .per_net
                .get(&network_of(ip))
                .is_some_and(|n| *n >= l.clients_per_cidr)
            {
                return Err(Refused::PerNetwork(l.clients_per_cidr));
            }
            *self.per_ip.entry(ip).or_insert(0) += 1;
            *self.per_net.entry(network_of(ip)).or_insert(0) += 1;
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket {
            admission: self.clone(),
            ip,
            counted: !exempt,
            listener: None,
        })
    }
}

/// A client's receive budget: `burst` lines at once, then `rate` per
/// second. A line that finds the bucket empty waits (fake lag).
///
/// Every connection holds one: the last take is kept as nanoseconds since
/// one process-wide instant (8 bytes) rather than an `Instant` (16 with
/// its padding), which keeps a connection's state in its allocator size
/// class (`net::driver`'s size test).
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    last_ns: i64,
}

/// The instant bucket times count from.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Signed: an instant taken before the epoch was first read (a caller's
/// `now` from just before the first bucket) is before it, not at it.
fn nanos_since_epoch(t: Instant) -> i64 {
    let e = epoch();
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    match t.checked_duration_since(e) {
        Some(d) => nanos(d),
        None => -nanos(e.duration_since(t)),
    }
}

impl Bucket {
    /// Full at `now`.
    pub(crate) fn new(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: burst as f64,
            last_ns: nanos_since_epoch(now),
        }
    }

    /// Takes a token, or returns when the next one will be there.
    pub(crate) fn take(&mut self, now: Instant, rate: f64, burst: u32) -> Result<(), Instant> {
        let now_ns = nanos_since_epoch(now);
        let elapsed = now_ns.saturating_sub(self.last_ns).max(0) as f64 / 1e9;
        self.tokens = (self.tokens + elapsed * rate).min(burst as f64);
        self.last_ns = now_ns;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// The host others see for `ip`: a keyed hash of the address and of its
/// network (so a ban on `*.<network part>.<suffix>` covers a subscriber),
/// or the address itself when cloaking is off.
pub(crate) fn host_for(config: &Config, ip: IpAddr) -> String {
    let ip = ip.to_canonical();
    let Some(key) = &config.privacy.cloak_key else {
        let s = ip.to_string();
        // A host may not start with ':' on the wire.
        return if s.starts_with(':') {
            format!("0{s}")
        } else {
            s
        };
    };
    let digest = |data: &str| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(data.as_bytes());
        let out = m.finalize().into_bytes();
        out[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let (net, prefix) = network_of(ip);
    format!(
        "{}.{}.{}",
        digest(&ip.to_string()),
        digest(&format!("{net}/{prefix}")),
        config.privacy.cloak_suffix
    )
}

/// The reason of a DLINE covering `ip`, if one is in force.
pub(crate) fn dline_reason(server: &crate::Server, ip: IpAddr) -> Option<String> {
    let ip = ip.to_canonical();
    let now = server.clock.unix_ms();
    let bans = server.bans.read().expect("bans lock");
    bans.iter()
        .filter(|b| b.kind == ferry_store::BanKind::Dline && b.expires_ms.is_none_or(|e| e > now))
        .find(|b| parse_net(&b.mask).is_some_and(|n| n.contains(&ip)))
        .map(|b| b.reason.clone())
}

/// The reason of a KLINE matching `user@host` or `user@address`, if any.
pub(crate) fn kline_reason(
    server: &crate::Server,
    user: &str,
    host: &str,
    ip: IpAddr,
) -> Option<String> {
    let cm = server.config().casemap;
    let by_host = cm.fold_lossy(&format!("{user}@{host}"));
    let by_ip = cm.fold_lossy(&format!("{user}@{}", ip.to_canonical()));
    let now = server.clock.unix_ms();
    let bans = server.bans.read().expect("bans lock");
    bans.iter()
        .filter(|b| b.kind == ferry_store::BanKind::Kline && b.expires_ms.is_none_or(|e| e > now))
        .find(|b| {
            let m = cm.fold_lossy(&b.mask);
            ferry_proto::mask::matches(&m, &by_host) || ferry_proto::mask::matches(&m, &by_ip)
        })
        .map(|b| b.reason.clone())
}

/// An address or CIDR network.
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(3, t0);
        for _ in 0..3 {
            assert!(b.take(t0, 2.0, 3).is_ok());
        }
        let next = b.take(t0, 2.0, 3).unwrap_err();
        assert_eq!(next, t0 + Duration::from_millis(500));
        assert!(b.take(t0 + Duration::from_millis(500), 2.0, 3).is_ok());
    }

    #[test]
    fn refusals_keep_their_error_lines() {
        let texts = [
            (Refused::ServerFull, "Server is full, try again later"),
            (Refused::TooFast, "Connecting too fast; wait a moment"),
            (
                Refused::PerAddress(10),
                "Too many connections from your address (max 10)",
            ),
            (
                Refused::PerNetwork(50),
                "Too many connections from your network (max 50)",
            ),
        ];
        for (refused, text) in texts {
            assert_eq!(refused.to_string(), text);
        }
    }

    #[test]
    fn limits_per_ip_and_network() {
        let cfg = Config::parse(
            "[server]\nname = \"a.b\"\n[limits]\nclients_per_ip = 2\nclients_per_cidr = 3\nconnections_per_second = 100\n",
            "t",
        )
        .unwrap();
        let a = Arc::new(Admission::default());
        let ip1: IpAddr = "192.0.2.1".parse().unwrap();
        let t1 = a.admit(&cfg, ip1).unwrap();
        let _t2 = a.admit(&cfg, ip1).unwrap();
        assert!(a
            .admit(&cfg, ip1)
            .unwrap_err()
            .to_string()
            .contains("your address"));
        let _t3 = a.admit(&cfg, "192.0.2.9".parse().unwrap()).unwrap();
        assert!(a
            .admit(&cfg, "192.0.2.10".parse().unwrap())
            .unwrap_err()
            .to_string()
            .contains("your network"));
        assert!(a.admit(&cfg, "198.51.100.1".parse().unwrap()).is_ok());
        drop(t1);
        assert!(a.admit(&cfg, ip1).is_ok());
    }

    #[test]
    fn connection_rate_counts_in_its_window() {
        let cfg = Config::parse(
            "[limits]\nclients_per_ip = 100\nconnections_per_second = 2\nconnection_window_ms = 200\n",
            "t",
        )
        .unwrap();
        let a = Arc::new(Admission::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        let _t1 = a.admit_at(&cfg, ip, t0).unwrap();
        let _t2 = a.admit_at(&cfg, ip, t0).unwrap();
        assert!(matches!(a.admit_at(&cfg, ip, t0), Err(Refused::TooFast)));
        let later = t0 + Duration::from_millis(199);
        assert!(matches!(a.admit_at(&cfg, ip, later), Err(Refused::TooFast)));
        assert!(a
            .admit_at(&cfg, ip, t0 + Duration::from_millis(200))
            .is_ok());
    }

    #[test]
    fn cloaks_are_stable_and_hide_the_address() {
        let mut cfg = Config::default();
        cfg.privacy.cloak_key = Some(b"secret".to_vec());
        let h = host_for(&cfg, "192.0.2.1".parse().unwrap());
        assert_eq!(h, host_for(&cfg, "192.0.2.1".parse().unwrap()));
        assert!(!h.contains("192"));
        let other = host_for(&cfg, "192.0.2.77".parse().unwrap());
        // same /24: same network part
        assert_eq!(h.split('.').nth(1), other.split('.').nth(1));
        assert_ne!(h.split('.').next(), other.split('.').next());
    }
}

/// The target-change limit (solanum's "targets changing too fast"): a
/// client may start conversations with `max` new nicks at once, then one
/// more every `every`. The last `max` nicks it wrote to cost nothing again.
/// Made at a client's first private message, so idle clients carry none.
#[derive(Debug)]
pub(crate) struct TargetChanges {
    recent: std::collections::VecDeque<u64>,
    tokens: f64,
    at: Instant,
    /// Operators were told this client hit the limit (until it refills).
    pub warned: bool,
}

impl TargetChanges {
    pub(crate) fn new(max: u32, now: Instant) -> TargetChanges {
        TargetChanges {
            recent: std::collections::VecDeque::new(),
            tokens: f64::from(max),
            at: now,
            warned: false,
        }
    }

    /// May the client write to the target hashed `h`? `free`: it does not
    /// count (the target wrote first, or is on the ACCEPT list).
    pub(crate) fn allow(
        &mut self,
        h: u64,
        free: bool,
        now: Instant,
        max: u32,
        every: Duration,
    ) -> bool {
        if let Some(i) = self.recent.iter().position(|&r| r == h) {
            self.recent.remove(i);
            self.recent.push_back(h);
            return true;
        }
        let gained = now.duration_since(self.at).as_secs_f64() / every.as_secs_f64();
        self.tokens = (self.tokens + gained).min(f64::from(max));
        self.at = now;
        if !free {
            if self.tokens < 1.0 {
                return false;
            }
            self.tokens -= 1.0;
            self.warned = false;
        }
        self.recent.push_back(h);
        while self.recent.len() > max as usize {
            self.recent.pop_front();
        }
        true
    }
}

/// A short hash of a casefolded nick, for [`TargetChanges`].
pub(crate) fn target_hash(folded: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    folded.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod target_change_tests {
    use super::*;

    #[test]
    fn new_targets_cost_a_slot_and_slots_come_back() {
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        let mut t = TargetChanges::new(3, t0);
        for h in 1..=3 {
            assert!(t.allow(h, false, t0, 3, every));
        }
        assert!(!t.allow(4, false, t0, 3, every), "a fourth new target");
        assert!(t.allow(2, false, t0, 3, every), "a recent target is free");
        assert!(t.allow(9, true, t0, 3, every), "a free target");
        assert!(t.allow(4, false, t0 + every, 3, every), "one slot back");
        assert!(!t.allow(5, false, t0 + every, 3, every));
    }
}
