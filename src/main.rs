//! `ferry`: the chat relay server and its tools.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ferry_server::config::{self, Config};
use tracing::{info, warn};

mod send;
mod store;

/// jemalloc instead of the C library's allocator: an idle client costs
/// 13 % less memory with it (1,548 against 1,788 bytes at 19,000 clients,
/// docs/PERFORMANCE.md), glibc's per-chunk headers and 16-byte rounding
/// being most of the difference; CPU per message unchanged.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (`_RJEM_MALLOC_CONF` in the
/// environment still overrides them): a background thread gives freed
/// pages back to the system within about a second, instead of only when
/// the server next allocates. An idle server's memory is then what its
/// clients hold — parked connections free their task and registration
/// (crates/server/src/park.rs), which would otherwise stay resident.
#[cfg(all(unix, not(target_env = "musl")))]
#[allow(non_upper_case_globals, unsafe_code)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000\0";

#[derive(Parser)]
#[command(name = "ferry", version, about = "A chat relay server speaking IRC")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (defaults: 127.0.0.1:6667, data in ./ferry-data).
    Serve(ServeArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage accounts in a server's store (works while it runs).
    Account(AccountArgs),
    /// Send a message to a nick or a channel on any IRC server, and wait
    /// until the server confirms it.
    Send(send::SendArgs),
    /// A full-screen chat client for the terminal (ferry or any IRC
    /// server): conversations, friends, history; docs/CLIENT.md.
    Chat(ferry_chat::Args),
    /// Load-test an IRC server on loopback (ferry or any other): idle,
    /// dm and fanout scenarios; presence and offline for ferry's accounts;
    /// one JSON line per run.
    Bench(ferry_bench::Args),
    /// Write a TLS certificate and key for development.
    Cert(CertArgs),
    /// The admin listener's API tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The server's store: online backups.
    Store(store::StoreArgs),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make an API token: prints it once, and the `[[admin.token]]` block
    /// (its SHA-256 only) to add to the config.
    Token {
        /// The token's name, written in the log beside every change made with it.
        name: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    Text,
    /// One JSON object per line: timestamp, level, message, fields.
    Json,
}

#[derive(clap::Args)]
struct CertArgs {
    /// Make a self-signed certificate (the only kind this command makes;
    /// use a real CA such as Let's Encrypt for a public server).
    #[arg(long, required = true)]
    self_signed: bool,
    /// Directory for cert.pem and key.pem (created if needed).
    #[arg(long, default_value = "tls")]
    out: PathBuf,
    /// Host names or IP addresses the certificate is for; repeat for
    /// several (default: localhost, 127.0.0.1, ::1).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct AccountArgs {
    #[command(subcommand)]
    command: AccountCommand,
    /// The server's data directory.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The server's config (for its data directory and casemapping).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account. The password comes from --password-file,
    /// FERRY_PASSWORD, or standard input.
    Add {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set an account's password (same sources as `add`).
    Passwd {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete an account and everything stored for it.
    Del { name: String },
    /// List the accounts.
    List,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (`ferry config example` prints one).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on, IP:PORT, or IP:PORT/CHARSET for clients that
    /// speak another charset (`127.0.0.1:6668/gbk`), and/or /tls for TLS
    /// (`0.0.0.0:6697/tls`: the certificate of [tls] in the config, else
    /// tls/cert.pem from `ferry cert --self-signed`), and/or /web for a
    /// web listener (IRCv3 WebSocket; `127.0.0.1:8080/web`); repeat for
    /// several.
    /// Replaces the configured listeners.
    #[arg(long = "listen", short, value_parser = config::Listen::parse_spec)]
    listen: Vec<config::ListenSpec>,
    /// Directory for the server's data. Overrides `server.data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The admin listener (metrics, health, the JSON API): IP:PORT, or a
    /// port alone for 127.0.0.1. Overrides `[admin] listen`.
    #[arg(long, value_parser = config::parse_admin_address)]
    admin: Option<SocketAddr>,
    /// The store: a PostgreSQL URL (`postgres://ferry:secret@127.0.0.1/ferry`)
    /// instead of SQLite in the data directory. Overrides `[store] url`.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Join a cluster on this NATS server (`nats://127.0.0.1:4222`); needs
    /// a PostgreSQL store every node shares. Overrides `[cluster] nats`.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// This node's stable name in the cluster. Overrides `[cluster] node`.
    #[arg(long)]
    node: Option<String>,
    /// How logs are written to standard error.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a complete, commented configuration file.
    Example,
    /// Hash a password (read from standard input) for an `[[oper]]` block.
    HashPassword,
    /// Load a configuration file and report the first error, if any.
    Check { file: PathBuf },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Account(args) => account(args),
        Command::Send(args) => send::run(args),
        Command::Chat(args) => ferry_chat::run(args).map_err(|e| {
            eprintln!("ferry chat: {e:#}");
            std::process::exit(1)
        }),
        Command::Bench(args) => ferry_bench::run(args),
        Command::Cert(args) => cert(args),
        Command::Admin {
            command: AdminCommand::Token { name },
        } => {
            anyhow::ensure!(
                !name.is_empty() && !name.chars().any(|c| c.is_control() || c == ' '),
                "a token's name is one word"
            );
            let (token, hash) = ferry_server::new_token();
            println!("token: {token}");
            println!("(shown once: ferry keeps only its hash)");
            println!();
            println!("[[admin.token]]");
            println!("name = \"{name}\"");
            println!("hash = \"{hash}\"");
            Ok(())
        }
        Command::Store(args) => store::run(args),
        Command::Config { command } => match command {
            ConfigCommand::Example => {
                print!("{}", config::EXAMPLE);
                Ok(())
            }
            ConfigCommand::HashPassword => {
                let mut line = String::new();
                if atty_stdin() {
                    eprint!("Password: ");
                }
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("read password from stdin")?;
                let pw = line.trim_end_matches(['\r', '\n']);
                anyhow::ensure!(!pw.is_empty(), "empty password");
                println!("{}", ferry_server::auth::hash_password(pw));
                Ok(())
            }
            ConfigCommand::Check { file } => {
                Config::load(&file)?;
                println!("{}: ok", file.display());
                Ok(())
            }
        },
    }
}

/// Reads a password: the file, else FERRY_PASSWORD, else one line of stdin.
fn read_password(file: Option<&PathBuf>) -> Result<String> {
    let pw = match (file, std::env::var("FERRY_PASSWORD")) {
        (Some(f), _) => {
            std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?
        }
        (None, Ok(p)) => p,
        (None, Err(_)) => {
            if atty_stdin() {
                eprint!("Password: ");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("read password from stdin")?;
            line
        }
    };
    let pw = pw.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!pw.is_empty(), "empty password");
    Ok(pw)
}

fn account(args: AccountArgs) -> Result<()> {
    use ferry_store::prelude::*;
    use ferry_store::SqliteStore;
    let cfg = config_for_tool(args.config.as_ref(), args.data_dir)?;
    let store = SqliteStore::open(&cfg.data_dir)
        .with_context(|| format!("open the store in {}", cfg.data_dir.display()))?;
    let fold = |name: &str| -> Result<String> {
        anyhow::ensure!(
            ferry_proto::validate::is_valid_nick(name, cfg.casemap, cfg.limits.nick_length),
            "{name:?} is not a valid account name (it must be a valid nick)"
        );
        Ok(cfg
            .casemap
            .fold(name)
            .expect("valid names fold")
            .into_owned())
    };
    match args.command {
        // The same checks and the same code as REGISTER.
        AccountCommand::Add {
            name,
            password_file,
        } => {
            let pw = read_password(password_file.as_ref())?;
            ferry_server::create_account(&store, &cfg, &name, &pw)?;
            println!("account {name} created");
        }
        AccountCommand::Passwd {
            name,
            password_file,
        } => {
            let pw = read_password(password_file.as_ref())?;
            ferry_server::set_password(&store, &cfg, &name, &pw)?;
            println!("password of {name} changed");
        }
        AccountCommand::Del { name } => {
            let key = fold(&name)?;
            anyhow::ensure!(store.delete_account(&key)?, "no account {name}");
            println!("account {name} deleted");
        }
        AccountCommand::List => {
            for a in store.accounts()? {
                let g = if a.callerid { " +g" } else { "" };
                println!("{}{g}", a.display);
            }
        }
    }
    Ok(())
}

/// The config a tool (`ferry account`, `ferry store`) works on: the file,
/// else the defaults, with `--data-dir` over its data directory.
fn config_for_tool(file: Option<&PathBuf>, data_dir: Option<PathBuf>) -> Result<Config> {
    let mut cfg = match file {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    Ok(cfg)
}

/// `ferry cert --self-signed`: a development certificate and its key.
fn cert(args: CertArgs) -> Result<()> {
    let names = if args.names.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        args.names
    };
    let cert_path = args.out.join("cert.pem");
    let key_path = args.out.join("key.pem");
    for p in [&cert_path, &key_path] {
        anyhow::ensure!(
            args.force || !p.exists(),
            "{} exists (use --force to replace it)",
            p.display()
        );
    }
    let pair = ferry_server::tls::self_signed(&names).context("make the certificate")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {}", args.out.display()))?;
    std::fs::write(&cert_path, &pair.cert_pem)
        .with_context(|| format!("write {}", cert_path.display()))?;
    write_private(&key_path, pair.key_pem.as_bytes())
        .with_context(|| format!("write {}", key_path.display()))?;
    println!("wrote {} and {}", cert_path.display(), key_path.display());
    println!("for: {}", names.join(", "));
    println!("SHA-256 fingerprint: {}", pair.fingerprint);
    println!();
    println!("[[listen]]");
    println!("address = \"127.0.0.1:6697\"");
    println!("tls = true");
    println!("tls_cert = \"{}\"", cert_path.display());
    println!("tls_key = \"{}\"", key_path.display());
    Ok(())
}

/// Writes a file only its owner can read (a private key).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}

fn atty_stdin() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// Logs go to standard error (standard output stays for command output),
/// colored only on a terminal. A thread of their own writes them, buffered:
/// a connection logs as it comes, registers and goes, and a `write` to
/// standard error for each line cost the runtime thread a system call
/// apiece (two of the eight a registration cost). Keep the guard until
/// the end: dropping it writes what is still queued.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .thread_name("ferry-log")
        // Its queue is allocated whole up front (the default, 128,000
        // lines, is 4 MiB); past this many lines waiting, lines are dropped.
        .buffered_lines_limit(16_384)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object a line for the journal, Loki and the like: the
        // event's fields at the top level, no span lists.
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    guard
}

fn serve(args: ServeArgs) -> Result<()> {
    let _log = init_tracing(args.log_format);
    let mut cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(a) = args.admin {
        cfg.admin.listen = Some(a);
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(url) = &args.store {
        // The file's pool size and CA, if it names them.
        let (pool, ca) = match &cfg.store {
            config::StoreConfig::Postgres {
                pool_size, ca_file, ..
            } => (*pool_size, ca_file.clone()),
            config::StoreConfig::Sqlite => (config::DEFAULT_POOL_SIZE, None),
        };
        cfg.store = config::StoreConfig::postgres(url, pool).map_err(anyhow::Error::msg)?;
        if let config::StoreConfig::Postgres { ca_file, .. } = &mut cfg.store {
            *ca_file = ca;
        }
    }
    if args.cluster.is_some() || args.node.is_some() {
        let file = cfg.cluster.clone();
        let nats = args
            .cluster
            .clone()
            .or_else(|| file.as_ref().map(|c| c.nats.clone()))
            .context("--node needs --cluster (or [cluster] nats)")?;
        let node = args
            .node
            .clone()
            .or_else(|| file.as_ref().map(|c| c.node.clone()));
        let prefix = file.as_ref().map(|c| c.prefix.clone());
        cfg.cluster = Some(
            config::ClusterConfig::new(&nats, node.as_deref(), prefix.as_deref())
                .map_err(anyhow::Error::msg)?,
        );
        anyhow::ensure!(
            cfg.store != config::StoreConfig::Sqlite,
            "--cluster needs a PostgreSQL store that every node shares (--store postgres://...)"
        );
    }
    if !args.listen.is_empty() {
        cfg.listen = args
            .listen
            .iter()
            .map(|l| l.resolve(&cfg))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?;
    }
    let source = args.config.clone().map(|path| ferry_server::ConfigSource {
        path,
        listen: (!args.listen.is_empty()).then(|| cfg.listen.clone()),
        data_dir: args.data_dir.clone(),
        admin: args.admin,
        store: args.store.as_ref().map(|_| cfg.store.clone()),
    });
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => info!(
            open_files = n,
            clients = n.saturating_sub(64),
            "raised the open-file limit"
        ),
        Err(e) => warn!(error = %e, "could not raise the open-file limit"),
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data dir {}", cfg.data_dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio")?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        for l in &cfg.listen {
            let addr = l.address;
            let tcp = bind(addr).with_context(|| format!("bind {addr}"))?;
            let listener = ferry_server::Listener::configured(tcp, l)
                .with_context(|| format!("TLS on {addr}"))?;
            listeners.push(listener);
        }
        let admin = match cfg.admin.listen {
            Some(addr) => {
                Some(bind(addr).with_context(|| format!("bind the admin listener {addr}"))?)
            }
            None => None,
        };
        let (rehash, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(rehash_on_hangup(rehash));
        let control = ferry_server::Control {
            source,
            rehash: Some(requests),
            admin,
        };
        ferry_server::serve_with(cfg, listeners, shutdown_signal(), control)
            .await
            .context("serve")
    })
}

/// Binds with a backlog fit for connection storms; IPv6 sockets only take
/// IPv6 (`IPV6_V6ONLY`), so `0.0.0.0:6667` and `[::]:6667` can both be
/// listened on, as the example configuration shows.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    tokio::net::TcpListener::from_std(sock.into())
}

/// SIGHUP: the same as an operator's REHASH: the configuration file is
/// read again and TLS listeners read their certificate and key files
/// again (new handshakes use them; connections keep theirs; bad files are
/// logged and the old ones stay). A SIGHUP never ends the server.
async fn rehash_on_hangup(rehash: tokio::sync::mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no SIGHUP handler: send REHASH as an operator instead");
                return;
            }
        };
        while hup.recv().await.is_some() {
            info!("SIGHUP: rehashing");
            if rehash.send(()).is_err() {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    drop(rehash);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
