//! The whole command dispatcher, in process, for the fuzzer
//! (`fuzz/fuzz_targets/dispatch.rs`) and its regression tests.
//!
//! A [`Harness`] keeps one store and runtime; each [`Harness::run`] starts a
//! fresh [`Server`] on that store, connects three clients without sockets
//! (two registered UTF-8 clients, and one not registered on a GBK wire),
//! and feeds each its lines through the connection's own sans-I/O line
//! processor (`net::Lines`: framing, 417, flood control, charset decoding,
//! chains of deferred commands), on a clock of its own that flood control
//! moves forward instead of sleeping. Every byte the server would write to
//! anyone is taken through the connection's `net::Writer` (so encoded for
//! the GBK client) and checked; then everyone disconnects and the server
//! must have forgotten them all. Any broken promise panics.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_proto::{Message, MAX_LINE};
use ferry_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::charset::Charset;
use crate::client::Client;
use crate::clock::Clock;
use crate::lifecycle::Ending;
use crate::net::{lines, Lines, Writer};
use crate::route::Me;
use crate::session::{Pending, Session};
use crate::{Config, Server};

/// Clients in each run.
const CLIENTS: usize = 3;
/// Lines in one run, at most (keeps each run short).
const MAX_LINES: usize = 256;
/// Rounds of one feed before it must have settled: a processor that
/// neither handles a line nor waits for something is stuck.
const MAX_ROUNDS: usize = 100_000;

/// One client as its connection task holds it, without the socket.
struct Conn {
    session: Session,
    lines: Lines,
    writer: Writer,
    pending: Option<Box<Pending>>,
}

pub struct Harness {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    config: Config,
    _dir: tempfile::TempDir,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        // tmpfs when there is one: the store syncs every commit.
        let dir = tempfile::Builder::new()
            .prefix("ferry-fuzz")
            .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
        let mut config = Config::parse(
            "[server]\nname = \"fuzz.test\"\n\
             [accounts]\nmin_password_length = 1\n\
             [privacy]\ncloak = false\n",
            "fuzz",
        )
        .expect("fuzz config");
        config.data_dir = dir.path().to_path_buf();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Harness {
            rt,
            store,
            config,
            _dir: dir,
        }
    }

    /// Feeds `data` to three clients: each line's first byte picks the
    /// client, the rest up to a newline is what it sends.
    pub fn run(&self, data: &[u8]) {
        self.rt.block_on(self.run_async(data));
    }

    async fn run_async(&self, data: &[u8]) {
        let cancel = CancellationToken::new();
        let clock = Clock::system();
        let (history, task) = crate::history::History::start(
            self.store.clone(),
            Duration::from_secs(3600),
            clock,
            cancel.clone(),
        );
        let server = Arc::new(Server::new(
            self.config.clone(),
            self.store.clone(),
            history,
            clock,
        ));
        let gbk = Charset::new(encoding_rs::GBK, None);
        let mut conns: Vec<Option<Conn>> = (0..CLIENTS)
            .map(|i| {
                let id = server.next_client_id();
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8));
                let client = Me::new(Client::new(
                    id,
                    ip,
                    ip.to_string(),
                    server.clock.unix_secs(),
                    server.uptime_secs(),
                    server.budget.clone(),
                ));
                server.registry.add_client(Arc::clone(&client));
                let charset = if i == 2 { gbk } else { Charset::UTF8 };
                Some(Conn {
                    session: lines::open_session(&server, client, charset, ip),
                    lines: Lines::new(server.config().flood.burst, server.clock.now()),
                    writer: Writer::new(),
                    pending: None,
                })
            })
            .collect();
        // The harness's own clock, for flood control: it moves forward
        // when a line is held back, instead of sleeping.
        let mut now = server.clock.now();
        for (i, nick) in ["alice", "bob"].iter().enumerate() {
            let c = conns[i].as_mut().expect("connected");
            feed(
                &server,
                c,
                format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes(),
                &mut now,
            )
            .await;
            assert!(c.session.registered, "{nick} did not register");
        }
        drain_all(&mut conns);
        for chunk in data.split(|&b| b == b'\n').take(MAX_LINES) {
            let Some((&who, line)) = chunk.split_first() else {
                continue;
            };
            let who = who as usize % CLIENTS;
            let Some(c) = conns[who].as_mut() else {
                continue;
            };
            let mut bytes = line.to_vec();
            bytes.push(b'\n');
            feed(&server, c, &bytes, &mut now).await;
            if let Some(quit) = c.session.quit.take() {
                let c = conns[who].take().expect("connected");
                close(&server, c, quit.into());
            } else if let Some(reason) = c.session.client.take_kill() {
                close(&server, conns[who].take().expect("connected"), reason);
            }
            drain_all(&mut conns);
        }
        for c in conns.iter_mut() {
            if let Some(c) = c.take() {
                close(&server, c, "Connection closed".into());
            }
        }
        // Everyone is gone: nothing of them may remain.
        let r = &server.registry;
        assert!(
            r.held_nicks().is_empty(),
            "nicks left: {:?}",
            r.held_nicks()
        );
        assert!(
            r.channel_names().is_empty(),
            "channels left: {:?}",
            r.channel_names()
        );
        assert!(r.watched().is_empty(), "MONITOR entries left");
        assert_eq!(r.accounts_with_devices(), 0, "logged-in devices left");
        assert_eq!(server.markers.len(), 0, "read markers left in memory");
        assert_eq!(
            server.metadata.len(),
            0,
            "metadata or subscriptions left in memory"
        );
        assert!(server.snotice_watchers.is_empty());
        assert_eq!(server.users.load(Ordering::Relaxed), 0, "users");
        assert_eq!(server.invisible.load(Ordering::Relaxed), 0, "invisible");
        assert_eq!(server.opers.load(Ordering::Relaxed), 0, "opers");
        assert_eq!(server.budget.queued(), 0, "send queue bytes still counted");
        server.history.flush().await;
        cancel.cancel();
        let _ = task.await;
    }
}

/// What a connection task does with bytes read: the line processor
/// handles them, deferred commands finish in order (each before later
/// lines), and flood control moves `clock` to when the next line may go.
async fn feed(server: &Arc<Server>, c: &mut Conn, bytes: &[u8], clock: &mut Instant) {
    c.lines.read_into().extend_from_slice(bytes);
    c.lines.received();
    for _ in 0..MAX_ROUNDS {
        if c.pending.is_none() {
            c.pending = c.session.pending.take();
        }
        if c.session.quit.is_some() {
            return;
        }
        if let Some(p) = c.pending.as_mut() {
            let then = p.fut.as_mut().await;
            c.lines
                .complete(server, &mut c.session, &mut c.pending, then);
            continue;
        }
        if !c.lines.unprocessed() {
            return;
        }
        if let lines::Stop::Throttled(at) =
            c.lines
                .process(server, &mut c.session, &mut c.pending, *clock)
        {
            assert!(at > *clock, "throttled until a time that has come");
            *clock = at;
        }
    }
    panic!("the line processor did not settle");
}

fn close(server: &Arc<Server>, mut c: Conn, reason: String) {
    let ending = Ending {
        quit: reason.clone(),
        error: Some(reason.clone()),
        log: reason,
    };
    drop(c.pending.take());
    crate::lifecycle::disconnect(server, &mut c.session, &ending);
    server.registry.remove_client(c.session.client.id);
    check_queue(&mut c);
    c.session.client.outbox.discard(0);
}

fn drain_all(conns: &mut [Option<Conn>]) {
    for c in conns.iter_mut().flatten() {
        check_queue(c);
    }
}

/// Takes what is queued for `c` as its writer would send it and checks
/// every line: CRLF-ended, valid in the client's charset (UTF-8, or GBK
/// for the GBK client), no NUL or stray CR/LF, parseable, within the sizes
/// a client must accept; and the queue's byte count matches what was sent.
fn check_queue(c: &mut Conn) {
    let client = &c.session.client;
    c.writer.use_charset(c.session.charset);
    let before = client.outbox.pending();
    let bytes = c.writer.take_all(client);
    assert_eq!(client.outbox.pending(), 0, "queued bytes miscounted");
    if c.session.charset.wire.is_none() {
        assert_eq!(before, bytes.len(), "queued bytes miscounted");
    }
    if bytes.is_empty() {
        return;
    }
    assert!(
        bytes.ends_with(b"\r\n"),
        "unterminated output {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let decoded;
    let text = match c.session.charset.wire {
        None => std::str::from_utf8(&bytes).expect("output is UTF-8"),
        Some(enc) => {
            decoded = enc
                .decode_without_bom_handling_and_without_replacement(&bytes)
                .unwrap_or_else(|| panic!("output is not valid {}", enc.name()));
            &decoded
        }
    };
    for line in text.split_terminator("\r\n") {
        assert!(!line.is_empty(), "empty line in output");
        assert!(!line.contains(['\r', '\n', '\0']), "bad byte in {line:?}");
        let (tags, body) = match line.strip_prefix('@') {
            Some(t) => line[1..]
                .split_once(' ')
                .map_or((t.len(), 0), |(t, b)| (t.len(), b.len())),
            None => (0, line.len()),
        };
        assert!(
            tags <= ferry_proto::MAX_TAGS_SECTION,
            "tags too long: {line:?}"
        );
        // A relayed message may exceed 512 by its source; never by more.
        assert!(body <= MAX_LINE + 256, "line too long ({body}): {line:?}");
        let m = Message::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(!m.command.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::Harness;

    /// Inputs the fuzzer found or that cover the most paths; each must
    /// pass every check.
    #[test]
    fn regressions() {
        let h = Harness::new();
        for input in [
            &b"\x00JOIN #a,#b\n\x01JOIN #a\n\x00PRIVMSG #a :hi\n\x01PART #a\n\x00QUIT :bye\n"[..],
            b"\x02NICK carol\n\x02USER c 0 * :c\n\x02MONITOR + alice,bob\n\x00NICK alicia\n",
            b"\x00REGISTER * * pw\n\x00MONITOR + bob\n\x01ACCEPT alice\n\x01MODE bob +g\n\x00PRIVMSG bob :x\n",
            b"\x00JOIN #c\n\x00MODE #c +bki x!*@* key\n\x01JOIN #c key\n\x00KICK #c bob :out\n",
            b"\x00\xff\xfe\n\x01@a=b PRIVMSG alice :\x00\r\n\x00CHATHISTORY LATEST bob * 10\n",
            b"\x00OPER x y\n\x01SILENCE +*!*@*\n\x00INVITE bob #z\n\x00WHO *\n\x00WHOIS bob\n",
        ] {
            h.run(input);
        }
        // Found by the fuzzer: an unknown charset name of control bytes was
        // echoed escaped, twice, in a 773-byte FAIL line.
        let mut charset = b"\x00CHARSET Sb".to_vec();
        charset.extend([2u8; 120]);
        charset.push(b'\n');
        h.run(&charset);
        // Past the flood burst (20 lines): the rest wait on the harness's
        // clock, in order, behind a chain of messages to an offline account.
        let mut flood = b"\x00REGISTER * * pw\n".to_vec();
        for i in 0..40 {
            flood.extend(format!("\x00PRIVMSG bob :{i}\n\x01PING {i}\n").as_bytes());
        }
        h.run(&flood);
        // The GBK client: its lines decoded, what it is sent encoded.
        h.run(b"\x02NICK \xc4\xe3\xba\xc3\n\x02USER u 0 * :\xd6\xd0\n\x02JOIN #\xd6\xd0\n\x00JOIN #\xe4\xb8\xad\n\x00PRIVMSG #\xe4\xb8\xad :\xf0\x9f\x98\x80 \xe4\xb8\xad\n\x02CHARSET utf-8\n\x02PRIVMSG alice :\xe4\xb8\xad\n");
    }
}
