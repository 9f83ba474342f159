//! `ferry chat`: a full-screen chat client for the terminal, for ferry
//! and any IRC server. Conversations on the left, the one shown in the
//! middle, friends (the stored MONITOR list) on the right; history on
//! PageUp (CHATHISTORY), friend requests, offline messages with their
//! times, typing indicators, pasted blocks as draft/multiline, and a
//! reconnect with backoff. docs/CLIENT.md has every key and command.
//!
//! The parts: `state` (everything known, no I/O: tested directly),
//! `ui` (drawing it with ratatui), `net` (the socket, through
//! ferry-client's TCP/TLS), `app` (the terminal and the event loop),
//! `config` and `setup` (saved servers, first-run questions).

mod app;
mod config;
mod input;
mod net;
mod setup;
pub mod state;
mod time;
mod ui;
mod wrap;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use state::{Chat, Identity};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server, HOST:PORT (default: the one saved last, else
    /// 127.0.0.1:6667, or :6697 with --tls).
    #[arg(value_name = "HOST:PORT")]
    server: Option<String>,
    /// Your nick (asked for on the first run).
    #[arg(long, short)]
    nick: Option<String>,
    /// Connect with TLS (certificates checked against the web's roots).
    #[arg(long)]
    tls: bool,
    /// With --tls: accept any certificate (self-signed test servers).
    #[arg(long, requires = "tls")]
    insecure: bool,
    /// Log in to this account (SASL PLAIN).
    #[arg(long)]
    account: Option<String>,
    /// File whose first line is the password (else FERRY_PASSWORD, the
    /// saved one, or a prompt).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Register the nick as an account on the server (ferry, Ergo: any
    /// server with draft/account-registration) with the password.
    #[arg(long)]
    register: bool,
    /// What the wire speaks: utf-8, gbk, gb18030, big5, ...
    #[arg(long)]
    encoding: Option<String>,
    /// Do not send typing indicators (or show them).
    #[arg(long)]
    no_typing: bool,
    /// Seconds connecting may take.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Runs `ferry chat` to its end.
pub fn run(args: Args) -> Result<()> {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if !terminal {
        bail!("ferry chat needs a terminal (for scripts: ferry send)");
    }
    let path = config::path().context("no HOME: cannot find ~/.config/ferry")?;
    let saved_file = config::File::load(&path)?;
    let first_run = saved_file.is_none();
    let mut file = saved_file.unwrap_or_default();
    let server = match (&args.server, &file.default) {
        (Some(s), _) => s.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) if args.tls => "127.0.0.1:6697".into(),
        (None, None) => "127.0.0.1:6667".into(),
    };
    let saved = file.find(&server).cloned().unwrap_or_default();
    // A saved server keeps its TLS settings; flags add to them.
    let tls = args.tls || saved.tls;
    let insecure = args.insecure || (tls && saved.insecure);
    let enc_label = args
        .encoding
        .clone()
        .or(saved.encoding.clone())
        .unwrap_or_else(|| "utf-8".into());
    let encoding = ferry_client::lookup_encoding(&enc_label).with_context(|| {
        format!(
            "--encoding {enc_label:?}: not a charset IRC can carry (try utf-8, gbk, gb18030, big5)"
        )
    })?;

    let mut me = Identity {
        user: "ferry".into(),
        realname: "ferry chat".into(),
        ..Identity::default()
    };
    let mut save_now = None;
    if first_run && args.nick.is_none() && saved.nick.is_empty() {
        let fr = setup::first_run(&server)?;
        me.nick = fr.nick;
        me.account = fr.account;
        me.password = fr.password;
        me.register = fr.register;
        if fr.save {
            save_now = Some(fr.save_password);
        }
    } else {
        me.nick = match (&args.nick, saved.nick.is_empty()) {
            (Some(n), _) => n.clone(),
            (None, false) => saved.nick.clone(),
            (None, true) => setup::ask("your nick", std::env::var("USER").ok().as_deref())?,
        };
        me.register = args.register;
        me.account = match (&args.account, args.register) {
            (Some(a), _) => Some(a.clone()),
            (None, true) => Some(me.nick.clone()),
            (None, false) => saved.account.clone(),
        };
        if me.account.is_some() {
            let saved_pw = saved
                .password
                .as_deref()
                .filter(|_| me.account == saved.account && args.password_file.is_none());
            me.password = Some(setup::find_password(
                args.password_file.as_deref(),
                saved_pw,
                terminal,
            )?);
        }
    }

    let mut opts = ferry_client::Options::new(server.clone(), me.nick.clone());
    opts.tls = tls;
    opts.insecure = insecure;
    opts.encoding = encoding;
    opts.realname = "ferry chat".into();
    opts.timeout = Duration::from_secs(args.timeout.max(1));

    let settings = config::Saved {
        address: server.clone(),
        tls,
        insecure,
        nick: me.nick.clone(),
        account: me.account.clone(),
        password: None,
        encoding: (enc_label != "utf-8").then(|| enc_label.clone()),
    };
    if let Some(with_password) = save_now {
        let mut s = settings.clone();
        if with_password {
            s.password = me.password.clone();
        }
        file.upsert(s);
        file.save(&path)?;
    }

    let mut chat = Chat::new(me);
    chat.typing_on = !args.no_typing && file.typing.unwrap_or(true);
    // `/save`: this server as it is now (the nick and account in use).
    let save = move |chat: &Chat, with_password: bool| -> Result<String> {
        let mut file = config::File::load(&path)?.unwrap_or_default();
        let mut s = settings.clone();
        s.nick = chat.me.nick.clone();
        s.account = chat.account.clone().or(chat.me.account.clone());
        if with_password {
            s.password = chat.me.password.clone();
        } else if let Some(old) = file.find(&s.address) {
            // Saving without the password keeps one saved before only
            // for the same account.
            s.password = old.password.clone().filter(|_| old.account == s.account);
        }
        let had = s.password.is_some();
        file.upsert(s);
        file.save(&path)?;
        Ok(format!(
            "saved {} in {}{}",
            settings.address,
            path.display(),
            if had { " (with the password)" } else { "" }
        ))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start tokio")?;
    rt.block_on(app::run(chat, opts, save))
}
