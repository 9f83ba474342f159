//! Server bans set by operators (KLINE, DLINE), kept across restarts.

use crate::Result;

/// A server ban's kind: by `user@host` (KLINE) or by address (DLINE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanKind {
    Kline,
    Dline,
}

impl BanKind {
    /// How a backend stores the kind.
    pub(crate) fn code(self) -> &'static str {
        match self {
            BanKind::Kline => "kline",
            BanKind::Dline => "dline",
        }
    }
}

/// A ban set by an operator. `mask` is `user@host` as typed for a KLINE (the
/// server casefolds it to match), an address or CIDR network for a DLINE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBan {
    pub kind: BanKind,
    pub mask: String,
    pub reason: String,
    pub set_by: String,
    pub set_ms: i64,
    /// None: permanent.
    pub expires_ms: Option<i64>,
}

/// The operators' bans. The server reads them all once at start and keeps
/// them in memory (`Server::bans`, matched there), so none of these is on
/// the message path: they block until done (a write: committed) and are
/// called on the blocking pool, on any backend (see the crate docs).
pub trait BanStore: Send + Sync {
    /// Adds or replaces the ban on (`kind`, `mask`).
    fn add_ban(&self, ban: &ServerBan) -> Result<()>;
    /// False if there was no such ban.
    fn remove_ban(&self, kind: BanKind, mask: &str) -> Result<bool>;
    /// Every ban, expired ones included (the server skips those).
    fn bans(&self) -> Result<Vec<ServerBan>>;
}
