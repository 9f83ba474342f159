//! A real terminal for `ferry chat`: a tmux server of the test's own
//! (its own socket, its own config), one window of a fixed size, keys
//! typed with `send-keys`, pastes with `paste-buffer -p` (bracketed, as a
//! terminal pastes), the screen read with `capture-pane`. Killed when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::proc::{Deadline, FERRY};

pub const COLS: u16 = 110;
pub const ROWS: u16 = 30;

pub struct Tmux {
    socket: String,
    pub dir: PathBuf,
    pub home: PathBuf,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// `s` quoted for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Is tmux here? (scripts/install-test-deps.sh installs it.)
pub fn available(test: &str) -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED {test}: tmux is not installed (scripts/install-test-deps.sh installs it)"
        );
    }
    ok
}

impl Tmux {
    /// `ferry chat ARGS` in a fresh terminal, with HOME in a fresh
    /// directory of the test's (so no saved servers).
    pub fn chat(test: &str, args: &[&str]) -> Tmux {
        let dir = super::proc::scratch(&format!("tmux-{test}"));
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        Tmux::start(test, dir, home, &chat_command(args))
    }

    /// Runs the shell command `cmd` in a fresh terminal with HOME `home`.
    pub fn start(test: &str, dir: PathBuf, home: PathBuf, cmd: &str) -> Tmux {
        let conf = dir.join("tmux.conf");
        // Keep the pane when the program ends, to read what it left.
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").expect("conf");
        let t = Tmux {
            socket: format!("ferry-it-{test}-{}", std::process::id()),
            dir,
            home,
        };
        let (cols, rows) = (COLS.to_string(), ROWS.to_string());
        let home_env = format!("HOME={}", t.home.display());
        let out = t.tmux_with(
            &conf,
            &[
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &cols,
                "-y",
                &rows,
                "-e",
                "LANG=C.UTF-8",
                "-e",
                "TZ=UTC",
                "-e",
                &home_env,
                "-e",
                "XDG_CONFIG_HOME=",
                "-e",
                "FERRY_PASSWORD=",
                cmd,
            ],
        );
        assert!(out.status.success(), "tmux: {out:?}");
        t
    }

    fn tmux_with(&self, conf: &Path, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    fn tmux(&self, args: &[&str]) -> Output {
        self.tmux_with(&self.dir.join("tmux.conf"), args)
    }

    /// Keys by tmux's names: `Enter`, `PageUp`, `M-3`, `C-n`.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Types `text` as it is (no key names).
    pub fn type_text(&self, text: &str) {
        assert!(self
            .tmux(&["send-keys", "-t", "t", "-l", text])
            .status
            .success());
    }

    /// Types `line` and Enter.
    pub fn enter(&self, line: &str) {
        self.type_text(line);
        self.keys(&["Enter"]);
    }

    /// Resizes the terminal, as a user dragging its window.
    pub fn resize(&self, cols: u16, rows: u16) {
        let (c, r) = (cols.to_string(), rows.to_string());
        assert!(self
            .tmux(&["resize-window", "-t", "t", "-x", &c, "-y", &r])
            .status
            .success());
    }

    /// Pastes `text` the way a terminal does (bracketed paste, when the
    /// program asked for it).
    pub fn paste(&self, text: &str) {
        assert!(self
            .tmux(&["set-buffer", "-b", "p", "--", text])
            .status
            .success());
        assert!(self
            .tmux(&["paste-buffer", "-p", "-d", "-b", "p", "-t", "t"])
            .status
            .success());
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `what`; returns the screen.
    pub async fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what)).await
    }

    /// Waits until `pred` holds for the screen (`what` says what for the
    /// failure message).
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let d = Deadline::new();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            d.tick(format_args!("screen never showed {what:?}; it shows:\n{s}"))
                .await;
        }
    }

    /// The pid of the program in the pane.
    pub fn pid(&self) -> u32 {
        let out = self.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }

    /// Waits for `ferry chat` to end; its exit status. (The shell around
    /// it prints the status: tmux itself may mark a pane dead before it
    /// has one.)
    pub async fn wait_dead(&self) -> i32 {
        // -J: the shell's line may wrap where the cursor was left.
        let d = Deadline::new();
        let s = loop {
            let out = self.tmux(&["capture-pane", "-p", "-J", "-t", "t"]);
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            if s.contains(EXITED) {
                break s;
            }
            d.tick(format_args!("ferry chat did not end; screen: {s:?}"))
                .await;
        };
        let rest = &s[s.rfind(EXITED).expect("shown") + EXITED.len()..];
        let code: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let code = code.parse().expect("an exit status");
        if code != 0 {
            eprintln!("ferry chat ended with {code}; its screen:\n{s}");
        }
        code
    }

    /// Runs `ferry chat ARGS` again in this terminal's HOME, in a new
    /// window that replaces the old.
    pub fn respawn(&self, args: &[&str]) {
        let cmd = chat_command(args);
        assert!(self
            .tmux(&["respawn-pane", "-k", "-t", "t", &cmd])
            .status
            .success());
    }
}

/// What the shell prints after `ferry chat` ends, before its status.
const EXITED: &str = "ferry chat exited with ";

/// The shell command running `ferry chat ARGS`, then saying how it ended
/// (and staying, so that is read).
pub fn chat_command(args: &[&str]) -> String {
    let mut cmd = quote(FERRY) + " chat";
    for a in args {
        cmd.push(' ');
        cmd.push_str(&quote(a));
    }
    // The shell stays a while: tmux may drop what a dying pane wrote last.
    cmd + &format!("; echo \"{EXITED}$?\"; sleep 60")
}

/// Display cells of `s` (a Chinese character takes two).
pub fn cells(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}
