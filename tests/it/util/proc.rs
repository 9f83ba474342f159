//! Child processes for the tests (the `ferry` binary, the examples,
//! ngircd): a [`Proc`] guard that kills and reaps its process however the
//! test ends, free ports, and [`Deadline`]-bounded waits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use ferry_testkit::WAIT;

/// The `ferry` binary cargo built for these tests.
pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A command running the `ferry` binary.
pub fn ferry() -> Command {
    Command::new(FERRY)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs `cmd` to its end off the async runtime, writing `stdin` (None: no
/// input) and capturing its output.
pub async fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut p = Proc::spawn(&mut cmd);
        if let Some(bytes) = stdin {
            p.child
                .stdin
                .take()
                .expect("stdin")
                .write_all(&bytes)
                .expect("write stdin");
        }
        p.output()
    })
    .await
    .expect("join")
}

/// The end of a wait: [`WAIT`] after it is made. A wait that passes it
/// fails the test, so no wait hangs.
pub struct Deadline(Instant);

impl Default for Deadline {
    fn default() -> Self {
        Deadline::new()
    }
}

impl Deadline {
    pub fn new() -> Deadline {
        Deadline(Instant::now() + WAIT)
    }

    /// Panics with `what` (what did not happen) if the deadline has passed,
    /// else sleeps a moment before the caller looks again.
    pub async fn tick(&self, what: impl std::fmt::Display) {
        assert!(Instant::now() < self.0, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// [`Deadline::tick`] outside the async runtime.
    pub fn tick_blocking(&self, what: impl std::fmt::Display) {
        assert!(Instant::now() < self.0, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A spawned process, killed (SIGKILL) and reaped when dropped, also when
/// the test panics.
pub struct Proc {
    pub child: Child,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let name = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc { child, name }
    }

    /// `ferry serve ARGS PATH` (PATH: of `--config` or `--data-dir`), its
    /// standard streams closed.
    pub fn serve(args: &[&str], path: &Path) -> Proc {
        Proc::spawn(
            ferry()
                .arg("serve")
                .args(args)
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    }

    /// [`Proc::serve`] with `RUST_LOG=info`, its output into the file `log`.
    pub fn serve_logging(args: &[&str], path: &Path, log: &Path) -> Proc {
        Proc::serve_logging_at("info", args, path, log)
    }

    /// [`Proc::serve_logging`] at another `RUST_LOG` level.
    pub fn serve_logging_at(level: &str, args: &[&str], path: &Path, log: &Path) -> Proc {
        let out = std::fs::File::create(log).expect("create log");
        Proc::spawn(
            ferry()
                .arg("serve")
                .args(args)
                .arg(path)
                .env("RUST_LOG", level)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out),
        )
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn assert_running(&mut self) {
        assert!(self.is_running(), "{} exited early", self.name);
    }

    /// Sends `sig` (`-HUP`, `-TERM`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {}", self.name);
    }

    /// SIGKILL (unless it has exited), and reaped at once.
    pub fn kill(&mut self) {
        if self.is_running() {
            self.child.kill().expect("SIGKILL");
        }
        self.child.wait().expect("reap");
    }

    /// Waits until `addr` accepts a connection; fails if the process exits
    /// first or the deadline passes.
    pub async fn accepting(&mut self, addr: SocketAddr) {
        let deadline = Deadline::new();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            self.assert_running();
            deadline
                .tick(format_args!("{} does not listen on {addr}", self.name))
                .await;
        }
    }

    /// Waits until the file `log` (its output) contains `text`.
    pub async fn logged(&mut self, log: &Path, text: &str) {
        let deadline = Deadline::new();
        loop {
            let now = std::fs::read_to_string(log).unwrap_or_default();
            if now.contains(text) {
                return;
            }
            self.assert_running();
            deadline
                .tick(format_args!("{} did not log {text:?}: {now}", self.name))
                .await;
        }
    }

    /// Waits for the process to exit.
    pub async fn exit(&mut self) -> ExitStatus {
        let deadline = Deadline::new();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            deadline
                .tick(format_args!("{} did not exit", self.name))
                .await;
        }
    }

    /// [`Proc::exit`] outside the async runtime.
    pub fn exit_blocking(&mut self) -> ExitStatus {
        let deadline = Deadline::new();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            deadline.tick_blocking(format_args!("{} did not exit", self.name));
        }
    }

    /// Closes its input and waits for its end: its status and what it wrote
    /// to piped stdout and stderr (blocking).
    pub fn output(mut self) -> Output {
        drop(self.child.stdin.take());
        let stderr = self.child.stderr.take();
        let errs = std::thread::spawn(move || read_all(stderr));
        let stdout = read_all(self.child.stdout.take());
        let stderr = errs.join().expect("stderr reader");
        let status = self.child.wait().expect("wait");
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Its piped standard output, line by line.
    pub fn lines(&mut self) -> Lines {
        let out = self.child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }
}

fn read_all(r: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut r) = r {
        r.read_to_end(&mut buf).expect("read child output");
    }
    buf
}

/// A child's standard output, line by line, with a hang guard.
pub struct Lines(Receiver<String>);

impl Lines {
    /// Reads lines until one satisfies `pred`; returns it.
    pub fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.0.recv_timeout(WAIT) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => panic!("no line {what} ({e})"),
            }
        }
    }
}
