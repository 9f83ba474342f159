//! `ferry store backup` and `ferry store migrate`: the store's tools.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
    /// The server's data directory.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The server's config (for its data directory).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy the store into a new directory while the server runs: the
    /// database as of one commit, the history log, the cloak key. Start
    /// a server on the copy with `--data-dir DEST` to restore it.
    Backup {
        /// The new directory (must not exist).
        dest: PathBuf,
    },
    /// Copy a SQLite store (the server stopped) into an empty PostgreSQL
    /// database, in one transaction, checked by counting every table on
    /// both sides; then run ferry with `--store URL`.
    Migrate {
        /// The data directory to read (default: the config's, or
        /// `--data-dir`).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The PostgreSQL database (`postgres://user:password@host/db`).
        #[arg(long)]
        to: String,
        /// TLS to it, the server's certificate checked against this CA
        /// (PEM); `sslmode=require` in the URL checks against the web's.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

pub(crate) fn run(args: StoreArgs) -> Result<()> {
    let cfg = crate::config_for_tool(args.config.as_ref(), args.data_dir)?;
    match args.command {
        StoreCommand::Migrate { from, to, ca_file } => {
            let from = from.unwrap_or_else(|| cfg.data_dir.clone());
            let m = ferry_store::migrate_to_postgres(&from, &to, ca_file.as_deref())
                .with_context(|| format!("migrate {} to PostgreSQL", from.display()))?;
            println!(
                "migrated {} to PostgreSQL; rows on both sides:",
                from.display()
            );
            for (table, n) in &m.tables {
                println!("  {table} {n}");
            }
            println!("run: ferry serve --store '<the same URL>' (or [store] url in the config)");
        }
        StoreCommand::Backup { dest } => {
            let s = ferry_store::backup(&cfg.data_dir, &dest).with_context(|| {
                format!("back up {} to {}", cfg.data_dir.display(), dest.display())
            })?;
            println!("backed up {} to {}", cfg.data_dir.display(), dest.display());
            println!(
                "accounts {}, list entries {}, offline messages {}, bans {}, channels {}, history records {}",
                s.accounts, s.list_entries, s.offline_messages, s.bans, s.channels, s.history_records
            );
            println!(
                "restore: stop the server, put the copy in place of its data directory (or start it with --data-dir {})",
                dest.display()
            );
        }
    }
    Ok(())
}
