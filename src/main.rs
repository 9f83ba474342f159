//! `ferry`: the chat relay server and its tools.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ferry_server::config::{self, Config};
use tracing::{info, warn};

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
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (`ferry config example` prints one).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on, IP:PORT; repeat for several. Replaces the
    /// configured listeners.
    #[arg(long = "listen", short)]
    listen: Vec<SocketAddr>,
    /// Directory for the server's data. Overrides `server.data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
                println!("{}", config::hash_password(pw));
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

fn atty_stdin() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn serve(args: ServeArgs) -> Result<()> {
    init_tracing();
    let mut cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if !args.listen.is_empty() {
        cfg.listen = args.listen.clone();
    }
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
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
        for addr in &cfg.listen {
            let l = bind(*addr).with_context(|| format!("bind {addr}"))?;
            listeners.push(l);
        }
        ferry_server::serve(cfg, listeners, shutdown_signal())
            .await
            .context("serve")
    })
}

/// Binds with a backlog fit for connection storms; IPv6 sockets only take IPv6.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(4096)
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
