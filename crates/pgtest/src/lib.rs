//! A private PostgreSQL for tests: one per test process, started on first
//! use in a temporary data directory, listening on 127.0.0.1 at a free
//! port, with a database per test ([`database`]).
//!
//! PostgreSQL refuses to run as root. Run as root (CI, this machine), the
//! tests give the data directory to the `postgres` user Debian's package
//! made and start `initdb` and `postgres` as that user with `setpriv`
//! (util-linux, like `runuser`, but it execs without a fork, so its
//! `--pdeathsig` reaches `postgres` itself): when the test process ends,
//! however it ends, the server gets SIGINT (a fast shutdown) and the
//! directory goes with the temp dir. Run as anyone else, they run as that
//! user.
//!
//! The binaries come from `FERRY_PG_BIN` (a directory) or the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package,
//! which `scripts/install-test-deps.sh` installs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// A running (or stopped) server of the tests.
pub struct Pg {
    pub port: u16,
    bin: PathBuf,
    root: bool,
    data: PathBuf,
    /// Kept so the directory lives as long as the process.
    _dir: tempfile::TempDir,
}

/// Where PostgreSQL's programs are.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("FERRY_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql ({e}): run scripts/install-test-deps.sh"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| "PostgreSQL is not installed: run scripts/install-test-deps.sh".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// `program` as the `postgres` user when we are root.
fn command(bin: &Path, program: &str, root: bool, pdeathsig: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
        if pdeathsig {
            c.arg("--pdeathsig=INT");
        }
        c.arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Data directories of earlier test processes whose server is gone (a
/// static's directory is never dropped): removed.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with("ferry-pg-") {
            continue;
        }
        let pid = std::fs::read_to_string(e.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
        let running = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        let young = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(120));
        // A directory still being set up has no pid file yet: left alone.
        if !running && !young {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn start() -> Result<Pg, String> {
    start_with(None)
}

/// Starts a server; with `tls` (certificate and key, PEM), TCP clients
/// must use TLS (`hostssl`; plain TCP is rejected).
fn start_with(tls: Option<(&str, &str)>) -> Result<Pg, String> {
    remove_stale();
    let bin = bin_dir()?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("ferry-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    if let Some((cert, key)) = tls {
        let write = |name: &str, text: &str, mode: u32| -> Result<(), String> {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(name);
            std::fs::write(&p, text).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())
        };
        write("server.crt", cert, 0o644)?;
        write("server.key", key, 0o600)?;
    }
    if root {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok {
            return Err("chown to postgres failed (is there a postgres user?)".into());
        }
    }
    let out = command(&bin, "initdb", root, false)
        .args([
            "--auth=trust",
            "--username=ferry",
            "--encoding=UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if tls.is_some() {
        let hba = "local all all trust\n\
                   hostssl all all 127.0.0.1/32 trust\n\
                   hostnossl all all 127.0.0.1/32 reject\n";
        std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| e.to_string())?;
        let conf = format!(
            "ssl = on\nssl_cert_file = '{0}/server.crt'\nssl_key_file = '{0}/server.key'\n",
            dir.path().display()
        );
        let mut c =
            std::fs::read_to_string(data.join("postgresql.conf")).map_err(|e| e.to_string())?;
        c.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), c).map_err(|e| e.to_string())?;
    }
    let pg = Pg {
        port: free_port(),
        bin,
        root,
        data,
        _dir: dir,
    };
    pg.run()?;
    Ok(pg)
}

impl Pg {
    /// A server of its own, for a test that stops and restarts it (the
    /// shared one, [`server`], must stay up for the others).
    pub fn private() -> Pg {
        start().unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"))
    }

    /// A server of its own that takes TCP clients over TLS only, with this
    /// certificate and key (PEM).
    pub fn private_tls(cert_pem: &str, key_pem: &str) -> Pg {
        start_with(Some((cert_pem, key_pem)))
            .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL: {e}"))
    }

    /// The server's own administration: over its Unix socket, which
    /// every server of the tests takes without TLS.
    fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(
            &format!(
                "host={} port={} user=ferry dbname=postgres",
                self.data.display(),
                self.port
            ),
            postgres::NoTls,
        )
    }

    /// A new, empty database on this server: its URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = self.admin().expect("connect to the test PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        format!("postgres://ferry@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server (a fast shutdown: clients are disconnected).
    pub fn stop(&self) {
        let out = command(&self.bin, "pg_ctl", self.root, false)
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.data)
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again, on the same port and data.
    pub fn start(&self) {
        self.run()
            .unwrap_or_else(|e| panic!("restart PostgreSQL: {e}"));
    }

    fn run(&self) -> Result<(), String> {
        let (bin, root, data, port) = (self.bin.clone(), self.root, self.data.clone(), self.port);
        // Started from a thread that lives as long as the process: the death
        // signal follows the thread that made the child, not the process.
        let (tx, rx) = mpsc::channel();
        let log = data.with_file_name("postgres.log");
        std::thread::Builder::new()
            .name("ferry-pgtest".into())
            .spawn(move || {
                let log = std::fs::File::create(&log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null());
                let r = command(&bin, "postgres", root, true)
                    .arg("-D")
                    .arg(&data)
                    .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                    .args(["-c", "max_connections=300", "-c"])
                    .arg(format!("unix_socket_directories={}", data.display()))
                    .args(["-p", &port.to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn();
                let _ = tx.send(r.map(|_| ()).map_err(|e| format!("postgres: {e}")));
                loop {
                    std::thread::park();
                }
            })
            .map_err(|e| e.to_string())?;
        rx.recv().map_err(|e| e.to_string())??;
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            match self.admin() {
                Ok(_) => break,
                Err(e) if Instant::now() > until => {
                    return Err(format!("postgres never answered: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Ok(())
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // A private server goes with its directory.
        let _ = command(&self.bin, "pg_ctl", self.root, false)
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The process's PostgreSQL, started on first use. Panics, saying why,
/// where it cannot start: a test that needs it fails, never passes
/// without it.
pub fn server() -> &'static Pg {
    static PG: OnceLock<Result<Pg, String>> = OnceLock::new();
    match PG.get_or_init(start) {
        Ok(pg) => pg,
        Err(e) => panic!("cannot start a private PostgreSQL: {e}"),
    }
}

/// A new, empty database on the process's PostgreSQL: its connection URL
/// (`postgres://ferry@127.0.0.1:PORT/NAME`).
pub fn database() -> String {
    server().database()
}

/// A NATS server (Debian's `nats-server`, JetStream on) for the cluster
/// tests: one per test process ([`nats`]), or one of a test's own
/// ([`Nats::private`]), on 127.0.0.1 at a free port, its store in a
/// temporary directory; SIGINT when the test process ends, as for
/// PostgreSQL. Tests keep apart by a subject and bucket prefix of their
/// own ([`nats_prefix`]).
pub struct Nats {
    pub port: u16,
    dir: tempfile::TempDir,
}

fn start_nats() -> Result<Nats, String> {
    let dir = tempfile::Builder::new()
        .prefix("ferry-nats-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let n = Nats {
        port: free_port(),
        dir,
    };
    n.run()?;
    Ok(n)
}

impl Nats {
    /// A server of its own, for a test that stops and restarts it.
    pub fn private() -> Nats {
        start_nats().unwrap_or_else(|e| panic!("cannot start a NATS server: {e}"))
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGINT, and waits until its port is closed).
    pub fn stop(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("nats.pid")).unwrap_or_default();
        let _ = Command::new("kill").args(["-INT", pid.trim()]).status();
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < until, "nats-server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again, on the same port and store.
    pub fn start(&self) {
        self.run()
            .unwrap_or_else(|e| panic!("restart nats-server: {e}"));
    }

    fn run(&self) -> Result<(), String> {
        let port = self.port;
        let store = self.dir.path().join("js");
        let pid = self.dir.path().join("nats.pid");
        let log = self.dir.path().join("nats.log");
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ferry-natstest".into())
            .spawn(move || {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null());
                let r = Command::new("setpriv")
                    .arg("--pdeathsig=INT")
                    .arg("nats-server")
                    .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                    .arg(&store)
                    .arg("-P")
                    .arg(&pid)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn();
                let _ =
                    tx.send(r.map(|_| ()).map_err(|e| {
                        format!("nats-server: {e} (run scripts/install-test-deps.sh)")
                    }));
                loop {
                    std::thread::park();
                }
            })
            .map_err(|e| e.to_string())?;
        rx.recv().map_err(|e| e.to_string())??;
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > until {
                return Err("nats-server never listened".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("nats.pid")).unwrap_or_default();
        let _ = Command::new("kill")
            .args(["-INT", pid.trim()])
            .stderr(Stdio::null())
            .status();
    }
}

/// The process's NATS server, started on first use (panics, saying why,
/// where it cannot start).
pub fn nats() -> &'static Nats {
    static NATS: OnceLock<Result<Nats, String>> = OnceLock::new();
    match NATS.get_or_init(start_nats) {
        Ok(n) => n,
        Err(e) => panic!("cannot start a NATS server: {e}"),
    }
}

/// The URL of the process's NATS server.
pub fn nats_url() -> String {
    nats().url()
}

/// A subject and bucket prefix no other test of this process uses.
pub fn nats_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
