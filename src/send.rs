//! `ferry send`: the tutorial's client (ask, connect, send, close) as a
//! real IRC tool, for ferry or any IRC server.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ferry_client::{Options, Session};

#[derive(clap::Args)]
pub struct SendArgs {
    /// `[HOST:PORT] [MESSAGE...]`: the server (default 127.0.0.1:6667, or
    /// :6697 with --tls), then the message, its words joined by spaces.
    /// Without a message, each line of standard input is sent.
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
    /// The server, when the first argument should not be read as one.
    #[arg(long, short)]
    server: Option<String>,
    /// Nick to register as (asked for on a terminal).
    #[arg(long, short)]
    nick: Option<String>,
    /// A nick or a channel (asked for on a terminal); channels are joined
    /// when the server requires it.
    #[arg(long, short)]
    to: Option<String>,
    /// Connect with TLS (certificates checked against the web's roots).
    #[arg(long)]
    tls: bool,
    /// With --tls: accept any certificate (self-signed test servers).
    #[arg(long, requires = "tls")]
    insecure: bool,
    /// Log in to this account (SASL PLAIN) before registering.
    #[arg(long)]
    account: Option<String>,
    /// File whose first line is the account's password (else FERRY_PASSWORD).
    #[arg(long, requires = "account")]
    password_file: Option<PathBuf>,
    /// What the wire speaks: utf-8, gbk, gb18030, big5, ...
    #[arg(long, default_value = "utf-8")]
    encoding: String,
    /// Seconds any one step may wait for the server.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Runs `ferry send`; errors are printed plainly and exit with status 1.
pub fn run(args: SendArgs) -> Result<()> {
    match run_inner(args) {
        Ok(()) => Ok(()),
        Err(e) => {
            // The client's errors already say everything; others get their causes.
            match e.downcast_ref::<ferry_client::Error>() {
                Some(e) => eprintln!("ferry send: {e}"),
                None => eprintln!("ferry send: {e:#}"),
            }
            std::process::exit(1);
        }
    }
}

/// Does this look like HOST:PORT rather than the start of a message?
fn is_address(s: &str) -> bool {
    !s.contains(char::is_whitespace)
        && s.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && (host.contains('.') || host.starts_with('[') || host == "localhost")
        })
}

fn ask(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no answer");
    }
    let answer = line.trim().to_string();
    if answer.is_empty() {
        bail!("nothing entered");
    }
    Ok(answer)
}

fn run_inner(args: SendArgs) -> Result<()> {
    let terminal = std::io::stdin().is_terminal();
    let mut words = args.args;
    let server = match args.server {
        Some(s) => s,
        None if words.first().is_some_and(|w| is_address(w)) => words.remove(0),
        None if args.tls => "127.0.0.1:6697".into(),
        None => "127.0.0.1:6667".into(),
    };
    let nick = match args.nick {
        Some(n) => n,
        None if terminal => ask("nick: ")?,
        None => bail!("--nick is required"),
    };
    let to = match args.to {
        Some(t) => t,
        None if terminal => ask("to (a nick or #channel): ")?,
        None => bail!("--to is required"),
    };
    let encoding = ferry_client::lookup_encoding(&args.encoding).with_context(|| {
        format!(
            "--encoding {:?}: not a charset IRC can carry (try utf-8, gbk, gb18030, big5)",
            args.encoding
        )
    })?;
    let password = match &args.account {
        None => None,
        Some(_) if args.password_file.is_some() || std::env::var_os("FERRY_PASSWORD").is_some() => {
            Some(crate::read_password(args.password_file.as_ref())?)
        }
        Some(_) if terminal => Some(crate::read_password(None)?),
        Some(_) => bail!("--account needs a password: --password-file FILE or FERRY_PASSWORD"),
    };
    // The message: the arguments, else one asked for on a terminal, else
    // every line of standard input (read as UTF-8, or in --encoding when
    // a line is not UTF-8).
    let messages: Vec<String> = if !words.is_empty() {
        vec![words.join(" ")]
    } else if terminal {
        vec![ask("message: ")?]
    } else {
        let mut out = Vec::new();
        for line in std::io::stdin().lock().split(b'\n') {
            let line = line.context("read standard input")?;
            let text = match String::from_utf8(line) {
                Ok(s) => s,
                Err(e) => encoding
                    .decode_without_bom_handling(e.as_bytes())
                    .0
                    .into_owned(),
            };
            let text = text.trim_end_matches('\r');
            if !text.is_empty() {
                out.push(text.to_string());
            }
        }
        out
    };
    if messages.is_empty() {
        bail!("nothing to send");
    }

    let mut opts = Options::new(server, nick);
    opts.tls = args.tls;
    opts.insecure = args.insecure;
    opts.account = args.account;
    opts.password = password;
    opts.encoding = encoding;
    opts.timeout = Duration::from_secs(args.timeout.max(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start tokio")?;
    rt.block_on(async move {
        let mut session = Session::connect(&opts).await?;
        for m in &messages {
            session.send(&to, m).await?;
        }
        session.quit("sent with ferry send").await?;
        Ok::<_, ferry_client::Error>(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_address;

    #[test]
    fn addresses_and_messages() {
        assert!(is_address("127.0.0.1:6667"));
        assert!(is_address("[::1]:6667"));
        assert!(is_address("irc.example.org:6697"));
        assert!(is_address("localhost:6667"));
        assert!(!is_address("12:30"));
        assert!(!is_address("hello"));
        assert!(!is_address("note: 1"));
    }
}
