//! The relay path in process, for `benches/relay.rs`: what one direct
//! message costs the server's own code, without sockets or the kernel.
//!
//! A [`Relay`] holds a server and `pairs` pairs of registered UTF-8
//! clients without sockets (as the fuzz harness does): each
//! [`Relay::dm`] hands sender *i* one `PRIVMSG r<i> :…` line through its
//! connection's line processor (`net::Lines`: framing, flood control,
//! dispatch, `route`, history), then takes what was queued for receiver
//! *i* through its `net::Writer`, as its connection would before writing
//! it. History is on, as shipped: its writer task runs on the same
//! runtime thread between batches of lines, and appends on a blocking
//! thread, as in `ferry serve`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::charset::Charset;
use crate::client::Client;
use crate::clock::Clock;
use crate::net::{lines, Lines, Writer};
use crate::route::Me;
use crate::session::Session;
use crate::{Config, Server};

struct Conn {
    session: Session,
    lines: Lines,
    writer: Writer,
}

pub struct Relay {
    /// Taken out while it runs the relay (`block_on` borrows it).
    rt: Option<tokio::runtime::Runtime>,
    server: Arc<Server>,
    senders: Vec<Conn>,
    receivers: Vec<Conn>,
    next: usize,
    sent: u64,
    /// Sender i's line to receiver i.
    lines: Vec<Vec<u8>>,
    /// Bytes the receivers' writers produced.
    pub delivered_bytes: u64,
    clock: Instant,
    cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Relay {
    /// A server with `pairs` sender/receiver pairs registered.
    pub fn new(pairs: usize) -> Relay {
        let dir = tempfile::Builder::new()
            .prefix("ferry-relaybench")
            .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
        let config = Config::parse(
            "[server]\nname = \"bench.test\"\n[limits]\nexempt = [\"127.0.0.0/8\"]\n",
            "relaybench",
        )
        .expect("bench config");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cancel = CancellationToken::new();
        let clock = Clock::system();
        let server = rt.block_on(async {
            let (history, _task) = crate::history::History::start(
                store.clone(),
                Duration::from_secs(3600),
                clock,
                cancel.clone(),
            );
            Arc::new(Server::new(config, store, history, clock))
        });
        let mut r = Relay {
            rt: Some(rt),
            senders: Vec::new(),
            receivers: Vec::new(),
            next: 0,
            sent: 0,
            lines: (0..pairs)
                .map(|i| format!("PRIVMSG r{i} :fb 1 {i} 1234567890\r\n").into_bytes())
                .collect(),
            delivered_bytes: 0,
            clock: server.clock.now(),
            server,
            cancel,
            _dir: dir,
        };
        for i in 0..pairs {
            let s = r.connect(&format!("s{i}"));
            r.senders.push(s);
            let c = r.connect(&format!("r{i}"));
            r.receivers.push(c);
        }
        r
    }

    fn connect(&mut self, nick: &str) -> Conn {
        let server = &self.server;
        let id = server.next_client_id();
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let client = Me::new(Client::new(
            id,
            ip,
            ip.to_string(),
            server.clock.unix_secs(),
            server.uptime_secs(),
            server.budget.clone(),
        ));
        server.registry.add_client(Arc::clone(&client));
        let mut c = Conn {
            session: lines::open_session(server, client, Charset::UTF8, ip),
            lines: Lines::new(server.config().flood.burst, server.clock.now()),
            writer: Writer::new(),
        };
        feed(
            server,
            &mut self.clock,
            &mut c,
            format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes(),
        );
        assert!(c.session.registered, "{nick} did not register");
        let _ = c.writer.take_all(&c.session.client);
        c
    }

    /// `n` direct messages, each from the next sender to its receiver,
    /// and each delivered into the receiver's writer.
    pub fn dm(&mut self, n: usize) {
        let rt = self.rt.take().expect("the runtime");
        rt.block_on(self.dm_async(n));
        self.rt = Some(rt);
    }

    async fn dm_async(&mut self, n: usize) {
        for k in 0..n {
            if k % 256 == 255 {
                // Let the history task take what was recorded.
                tokio::task::yield_now().await;
            }
            let i = self.next;
            self.next = (self.next + 1) % self.senders.len();
            self.sent += 1;
            feed(
                &self.server,
                &mut self.clock,
                &mut self.senders[i],
                &self.lines[i],
            );
            let r = &mut self.receivers[i];
            let n = r.writer.take_all_uncopied(&r.session.client);
            assert!(n > 0, "nothing delivered");
            self.delivered_bytes += n as u64;
        }
    }

    /// History rows recorded, and dropped, so far.
    pub fn history_counts(&self) -> (u64, u64) {
        self.server.history.counts()
    }
}

/// What a connection task does with bytes read (no store calls here:
/// none of these lines waits for one).
fn feed(server: &Arc<Server>, clock: &mut Instant, c: &mut Conn, bytes: &[u8]) {
    c.lines.read_into().extend_from_slice(bytes);
    c.lines.received();
    let mut pending = None;
    while c.lines.unprocessed() {
        if let lines::Stop::Throttled(at) =
            c.lines
                .process(server, &mut c.session, &mut pending, *clock)
        {
            *clock = at;
        }
        assert!(pending.is_none(), "a line waited for the store");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_dm_is_delivered_and_kept() {
        let mut r = super::Relay::new(4);
        r.dm(100);
        assert!(r.delivered_bytes > 100 * 30);
        let (rows, dropped) = r.history_counts();
        assert_eq!((rows, dropped), (100, 0));
    }
}
