//! Saved servers: `~/.config/ferry/chat.toml` (`$XDG_CONFIG_HOME/ferry`
//! when set), readable by its owner only (0600, in a 0700 directory)
//! since it may hold a password.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct File {
    /// The server `ferry chat` with no address connects to.
    pub default: Option<String>,
    /// Send and show typing indicators.
    pub typing: Option<bool>,
    #[serde(rename = "server")]
    pub servers: Vec<Saved>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Saved {
    /// `HOST:PORT`.
    pub address: String,
    pub tls: bool,
    pub insecure: bool,
    pub nick: String,
    pub account: Option<String>,
    /// Only when the user asked to save it.
    pub password: Option<String>,
    pub encoding: Option<String>,
}

/// Where the file is.
pub fn path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("ferry").join("chat.toml"))
}

impl File {
    /// The saved file, or None when there is none yet (first run).
    pub fn load(path: &Path) -> Result<Option<File>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let f =
                    toml::from_str(&text).with_context(|| format!("read {}", path.display()))?;
                Ok(Some(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Writes the file whole (a temporary file renamed over it), mode 0600.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let dir = path.parent().context("config path has no directory")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("create {}", dir.display()))?;
        let text = toml::to_string_pretty(self).context("write the config")?;
        let tmp = path.with_extension("toml.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("create {}", tmp.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(b"# ferry chat's saved servers (ferry chat /save). Mode 0600: it may hold a password.\n")?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
        Ok(())
    }

    pub fn find(&self, address: &str) -> Option<&Saved> {
        self.servers.iter().find(|s| s.address == address)
    }

    /// Puts `s` in place of the entry for its address (or adds it) and
    /// makes it the default.
    pub fn upsert(&mut self, s: Saved) {
        self.default = Some(s.address.clone());
        match self.servers.iter_mut().find(|o| o.address == s.address) {
            Some(o) => *o = s,
            None => self.servers.push(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_and_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry").join("chat.toml");
        assert_eq!(File::load(&path).unwrap(), None);
        let mut f = File::default();
        f.upsert(Saved {
            address: "127.0.0.1:6667".into(),
            nick: "alice".into(),
            account: Some("alice".into()),
            password: Some("s3cret pass".into()),
            ..Saved::default()
        });
        f.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        let back = File::load(&path).unwrap().unwrap();
        assert_eq!(back, f);
        assert_eq!(back.default.as_deref(), Some("127.0.0.1:6667"));
        assert_eq!(back.find("127.0.0.1:6667").unwrap().nick, "alice");
    }
}
