//! The whole command dispatcher, in process, for the fuzzer
//! (`fuzz/fuzz_targets/dispatch.rs`) and its regression tests.
//!
//! A [`Harness`] keeps one store and runtime; each [`Harness::run`] starts a
//! fresh [`Server`] on that store, connects three clients without sockets
//! (two registered, one not), feeds them the input's lines the way a
//! connection task does (framing, 417, deferred store calls), checks every
//! line the server queued for anyone, then disconnects everyone and checks
//! that the server forgot them all. Any broken promise panics.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::{next_line, FrameError, Message, MAX_CLIENT_TAGS, MAX_LINE};
use ferry_store::{SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::commands;
use crate::lifecycle::Ending;
use crate::route::Me;
use crate::session::Session;
use crate::{Config, Server};

/// Clients in each run.
const CLIENTS: usize = 3;
/// Lines in one run, at most (keeps each run short).
const MAX_LINES: usize = 256;

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
        let (history, task) = crate::history::History::start(
            self.store.clone(),
            Duration::from_secs(3600),
            cancel.clone(),
        );
        let server = Arc::new(Server::new(
            self.config.clone(),
            self.store.clone(),
            history,
        ));
        let mut sessions: Vec<Option<Session>> = (0..CLIENTS)
            .map(|i| {
                let id = server.next_client_id();
                let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8));
                let client = Me::new(Client::new(
                    id,
                    ip,
                    ip.to_string(),
                    crate::unix_now(),
                    server.uptime_secs(),
                    server.budget.clone(),
                ));
                server.registry.add_client(Arc::clone(&client));
                Some(Session::new(client))
            })
            .collect();
        for (i, nick) in ["alice", "bob"].iter().enumerate() {
            let s = sessions[i].as_mut().expect("connected");
            feed(
                &server,
                s,
                format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes(),
            )
            .await;
            assert!(s.registered, "{nick} did not register");
        }
        drain_all(&sessions);
        for chunk in data.split(|&b| b == b'\n').take(MAX_LINES) {
            let Some((&who, line)) = chunk.split_first() else {
                continue;
            };
            let who = who as usize % CLIENTS;
            let Some(s) = sessions[who].as_mut() else {
                continue;
            };
            let mut bytes = line.to_vec();
            bytes.push(b'\n');
            feed(&server, s, &bytes).await;
            if let Some(quit) = s.quit.take() {
                close(
                    &server,
                    sessions[who].take().expect("connected"),
                    quit.into(),
                );
            } else if let Some(reason) = s.client.take_kill() {
                close(&server, sessions[who].take().expect("connected"), reason);
            }
            drain_all(&sessions);
        }
        for s in sessions.iter_mut() {
            if let Some(s) = s.take() {
                close(&server, s, "Connection closed".into());
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

/// What a connection task does with bytes read: frame, handle each line,
/// finish deferred commands before the next line.
async fn feed(server: &Arc<Server>, s: &mut Session, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() && s.quit.is_none() {
        match next_line(rest, MAX_LINE - 2, MAX_CLIENT_TAGS + 2) {
            Ok(Some(frame)) => {
                let line = &rest[..frame.len];
                rest = &rest[frame.consumed..];
                if !line.iter().all(|&b| b == b' ') {
                    commands::handle_line(server, s, line);
                }
            }
            Ok(None) => return,
            Err(FrameError::TooLong { consumed, .. }) => {
                rest = &rest[consumed..];
                commands::input_too_long(server, s);
            }
        }
        while let Some(p) = s.pending.take() {
            let then = p.fut.await;
            commands::resume(server, s, then, p.reply, p.verb);
        }
    }
}

fn close(server: &Arc<Server>, mut s: Session, reason: String) {
    let ending = Ending {
        quit: reason.clone(),
        error: Some(reason.clone()),
        log: reason,
    };
    crate::lifecycle::disconnect(server, &mut s, &ending);
    server.registry.remove_client(s.client.id);
    check_queue(&s.client);
    s.client.outbox.discard(0);
}

fn drain_all(sessions: &[Option<Session>]) {
    for s in sessions.iter().flatten() {
        check_queue(&s.client);
    }
}

/// Takes what is queued for `c` and checks every line of it: CRLF-ended,
/// UTF-8, no NUL or stray CR/LF, parseable, within the sizes a client
/// must accept; and the queue's byte count matches what was taken.
fn check_queue(c: &Client) {
    let mut taken = std::collections::VecDeque::new();
    c.outbox.take_into(&mut taken);
    let bytes: Vec<u8> = taken.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(c.outbox.pending(), bytes.len(), "queued bytes miscounted");
    c.outbox.written(bytes.len());
    if bytes.is_empty() {
        return;
    }
    assert!(
        bytes.ends_with(b"\r\n"),
        "unterminated output {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let text = std::str::from_utf8(&bytes).expect("output is UTF-8");
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
    }
}
