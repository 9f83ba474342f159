//! Questions asked on the terminal before the chat starts: the first
//! run's set-up (server, nick, registering an account, saving), and
//! passwords, read without echo.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use crossterm::event::{read, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode};

/// Asks `prompt`; an empty answer is `default` (when there is one).
pub fn ask(prompt: &str, default: Option<&str>) -> Result<String> {
    match default {
        Some(d) => eprint!("{prompt} [{d}]: "),
        None => eprint!("{prompt}: "),
    }
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no answer");
    }
    let answer = line.trim();
    match (answer.is_empty(), default) {
        (true, Some(d)) => Ok(d.to_string()),
        (true, None) => bail!("nothing entered"),
        (false, _) => Ok(answer.to_string()),
    }
}

/// A yes/no question.
pub fn yes(prompt: &str, default: bool) -> Result<bool> {
    let hint = if default { "Y/n" } else { "y/N" };
    let a = ask(
        &format!("{prompt} ({hint})"),
        Some(if default { "y" } else { "n" }),
    )?;
    Ok(a.to_ascii_lowercase().starts_with('y'))
}

/// Reads a password from the terminal without showing it.
pub fn password(prompt: &str) -> Result<String> {
    eprint!("{prompt}: ");
    std::io::stderr().flush()?;
    enable_raw_mode().context("read a password")?;
    let result = read_hidden();
    let _ = disable_raw_mode();
    eprintln!();
    let pw = result?;
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(pw)
}

fn read_hidden() -> Result<String> {
    let mut pw = String::new();
    loop {
        let Event::Key(k) = read()? else { continue };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        match k.code {
            KeyCode::Enter => return Ok(pw),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                bail!("cancelled")
            }
            KeyCode::Char(c) => pw.push(c),
            KeyCode::Backspace => {
                pw.pop();
            }
            _ => {}
        }
    }
}

/// The password: from `file`, else FERRY_PASSWORD, else `saved`, else
/// asked (on a terminal).
pub fn find_password(
    file: Option<&std::path::Path>,
    saved: Option<&str>,
    terminal: bool,
) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        let pw = text.lines().next().unwrap_or("").to_string();
        if pw.is_empty() {
            bail!("{}: no password on its first line", f.display());
        }
        return Ok(pw);
    }
    if let Ok(pw) = std::env::var("FERRY_PASSWORD") {
        if !pw.is_empty() {
            return Ok(pw);
        }
    }
    if let Some(pw) = saved {
        return Ok(pw.to_string());
    }
    if terminal {
        return password("password");
    }
    bail!("--account needs a password: --password-file FILE or FERRY_PASSWORD")
}

/// What the first run settled.
pub struct FirstRun {
    pub nick: String,
    pub account: Option<String>,
    pub password: Option<String>,
    pub register: bool,
    pub save: bool,
    pub save_password: bool,
}

/// The first run: no saved servers and no nick given. Asks who to be,
/// offers to register the nick as an account (a ferry server keeps its
/// friends, offline messages and history), and whether to save.
pub fn first_run(server: &str) -> Result<FirstRun> {
    eprintln!("ferry chat — first run. Connecting to {server}.");
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    let nick = ask("your nick", user.as_deref())?;
    let mut account = None;
    let mut pw = None;
    let mut register = false;
    if yes(
        &format!("register an account {nick} on {server} (keeps your nick, friends and offline messages)?"),
        false,
    )? {
        loop {
            let a = password("choose a password")?;
            let b = password("the same password again")?;
            if a == b {
                pw = Some(a);
                break;
            }
            eprintln!("they differ; once more");
        }
        account = Some(nick.clone());
        register = true;
    } else if yes("log in to an account you have?", false)? {
        let a = ask("account", Some(&nick))?;
        pw = Some(password("password")?);
        account = Some(a);
    }
    let save = yes("save these settings in ~/.config/ferry/chat.toml?", true)?;
    let save_password =
        save && pw.is_some() && yes("save the password there too (readable only by you)?", false)?;
    Ok(FirstRun {
        nick,
        account,
        password: pw,
        register,
        save,
        save_password,
    })
}
