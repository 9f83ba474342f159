//! The running client: the terminal (raw mode, the alternate screen,
//! bracketed paste — always given back, also after a panic or a signal),
//! keys, the connection's events and a clock, all into the state.

use std::io::Stdout;
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event, EventStream, KeyCode, KeyEvent,
    KeyEventKind, KeyModifiers,
};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::net;
use crate::state::{Action, Chat};
use crate::time::now_ms;

/// The terminal in the state the chat needs; restored when dropped.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Puts the terminal back as the shell had it. Safe to call twice.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Screen {
    fn open() -> Result<Screen> {
        // A panic anywhere first gives the terminal back, then reports.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            hook(info);
        }));
        enable_raw_mode().context("put the terminal in raw mode")?;
        execute!(
            std::io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste
        )
        .context("set up the terminal")?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        Ok(Screen { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// What a key does outside the input line's own editing.
fn key(chat: &mut Chat, k: KeyEvent, now: i64) {
    if k.kind == KeyEventKind::Release {
        return;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let before = chat.input.text();
    match k.code {
        KeyCode::Char(c) if alt && c.is_ascii_digit() && c != '0' => {
            chat.switch(c as usize - '1' as usize);
        }
        KeyCode::Char('a' | 'A') if alt => chat.accept_newest(now),
        KeyCode::Char('c') if ctrl => {
            chat.input.take();
            chat.input.insert_str("/quit");
            chat.submit(now);
        }
        KeyCode::Char('n') if ctrl => chat.next_buffer(1),
        KeyCode::Char('p') if ctrl => chat.next_buffer(-1),
        KeyCode::Char('a') if ctrl => chat.input.home(),
        KeyCode::Char('e') if ctrl => chat.input.end(),
        KeyCode::Char('w') if ctrl => chat.input.delete_word(),
        KeyCode::Char('u') if ctrl => chat.input.kill_to_start(),
        KeyCode::Char('k') if ctrl => chat.input.kill_to_end(),
        KeyCode::Char('b') if ctrl => chat.input.left(),
        KeyCode::Char('f') if ctrl => chat.input.right(),
        KeyCode::Char('h') if ctrl => chat.input.backspace(),
        KeyCode::Char('d') if ctrl => chat.input.delete(),
        KeyCode::Char(_) if ctrl || alt => {}
        KeyCode::Char(c) => chat.input.insert(c),
        KeyCode::Enter => chat.submit(now),
        KeyCode::Esc => chat.input.pasted = None,
        KeyCode::Backspace => chat.input.backspace(),
        KeyCode::Delete => chat.input.delete(),
        KeyCode::Left => chat.input.left(),
        KeyCode::Right => chat.input.right(),
        KeyCode::Home => chat.input.home(),
        KeyCode::End => chat.input.end(),
        KeyCode::Up => chat.input.up(),
        KeyCode::Down => chat.input.down(),
        KeyCode::PageUp => chat.page_up(),
        KeyCode::PageDown => chat.page_down(),
        KeyCode::Tab => {
            // The names come from the rest of the state, the input is
            // edited: take it out while completing.
            let mut input = std::mem::take(&mut chat.input);
            input.complete(|w, first| chat.completions(w, first));
            chat.input = input;
        }
        _ => {}
    }
    if chat.input.text() != before {
        chat.edited(now);
    }
}

/// Runs the chat until the user quits or a signal ends it.
pub async fn run(
    mut chat: Chat,
    opts: ferry_client::Options,
    save: impl Fn(&Chat, bool) -> Result<String>,
) -> Result<()> {
    let (ev_tx, mut ev_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let conn = tokio::spawn(net::run(opts, ev_tx, cmd_rx));
    let mut screen = Screen::open()?;
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut ended = false;
    while !ended {
        let now = now_ms();
        screen
            .terminal
            .draw(|f| crate::ui::draw(f, &mut chat, now))?;
        tokio::select! {
            k = keys.next() => match k {
                Some(Ok(Event::Key(k))) => key(&mut chat, k, now_ms()),
                Some(Ok(Event::Paste(text))) => {
                    chat.paste(&text);
                    chat.edited(now_ms());
                }
                Some(Ok(Event::Resize(..))) => {
                    screen.terminal.autoresize()?;
                }
                Some(Ok(_)) => {}
                // The terminal went away.
                Some(Err(_)) | None => ended = true,
            },
            e = ev_rx.recv() => {
                let now = now_ms();
                match e {
                    Some(net::Event::Connecting) => chat.on_connecting(),
                    Some(net::Event::Connected) => chat.on_connected(now),
                    Some(net::Event::Line(l)) => chat.on_line(&l, now),
                    Some(net::Event::Closed { reason, retry_in, attempt }) => {
                        chat.on_closed(now, &reason, Some(now + retry_in.as_millis() as i64), attempt);
                    }
                    None => ended = true,
                }
            }
            _ = tick.tick() => chat.tick(now_ms()),
            _ = term.recv() => ended = true,
            _ = hup.recv() => ended = true,
            _ = int.recv() => ended = true,
        }
        for a in std::mem::take(&mut chat.actions) {
            let Action::Save(with_password) = a;
            let now = now_ms();
            match save(&chat, with_password) {
                Ok(text) => chat.info(chat.active, now, text),
                Err(e) => chat.alert(now, format!("could not save: {e:#}")),
            }
        }
        for line in chat.drain_out() {
            if cmd_tx.send(net::Command::Line(line)).await.is_err() {
                break;
            }
        }
        if chat.quit.is_some() {
            ended = true;
        }
    }
    if chat.quit.is_none() && chat.online() {
        let _ = cmd_tx
            .send(net::Command::Line("QUIT :ferry chat closed".into()))
            .await;
    }
    let _ = cmd_tx.send(net::Command::Close).await;
    drop(screen);
    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
    Ok(())
}
