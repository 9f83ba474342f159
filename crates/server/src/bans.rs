//! Server bans (K-lines by user@host, D-lines by address): what KLINE,
//! DLINE, UNKLINE, UNDLINE and the admin API share — a mask as typed made
//! into the form stored, the ban put into the running list and applied to
//! everyone connected, the stored form of a mask to remove. Storing is the
//! caller's (each waits for the store its own way).

use std::sync::Arc;

use ferry_store::{BanKind, ServerBan};
use tracing::info;

use crate::server::Server;

/// The mask to store for `raw`, or why it is not one: a K-line keeps
/// `user@host` (a `nick!` in front is dropped: the nick does not matter to
/// it), a D-line the network of an address or CIDR.
pub(crate) fn mask(kind: BanKind, raw: &str) -> Result<String, &'static str> {
    match kind {
        BanKind::Kline => {
            let uh = raw.rsplit_once('!').map(|(_, r)| r).unwrap_or(raw);
            if uh.contains('@') && !uh.contains(' ') {
                Ok(uh.to_string())
            } else {
                Err("A K-line is user@host")
            }
        }
        BanKind::Dline => crate::guard::parse_net(raw)
            .map(|n| n.trunc().to_string())
            .ok_or("A D-line is an address or CIDR"),
    }
}

/// A new ban, set now for `minutes` (`None`: until removed).
pub(crate) fn new_ban(
    server: &Server,
    kind: BanKind,
    mask: String,
    reason: &str,
    set_by: String,
    minutes: Option<u64>,
) -> ServerBan {
    let now = server.clock.unix_ms();
    ServerBan {
        kind,
        mask,
        reason: reason.to_string(),
        set_by,
        set_ms: now,
        expires_ms: minutes.map(|m| now + m as i64 * 60_000),
    }
}

/// "K-line" or "D-line"; and what it did to a client ("K-lined").
pub(crate) fn words(kind: BanKind) -> (&'static str, &'static str) {
    match kind {
        BanKind::Kline => ("K-line", "K-lined"),
        BanKind::Dline => ("D-line", "D-lined"),
    }
}

/// After the ban was stored: it replaces any ban of its kind on the same
/// mask in the running list, operators hear of it, and everyone connected
/// whom it matches is disconnected. Returns how many were.
pub(crate) fn install(server: &Arc<Server>, ban: &ServerBan) -> usize {
    {
        let mut bans = server.bans.write().expect("bans lock");
        let cm = server.config().casemap;
        let key = cm.fold_lossy(&ban.mask);
        bans.retain(|b| !(b.kind == ban.kind && cm.fold_lossy(&b.mask) == key));
        bans.push(ban.clone());
    }
    let (word, verb) = words(ban.kind);
    let how_long = match ban.expires_ms {
        Some(e) => format!("{} minutes", (e - ban.set_ms) / 60_000),
        None => "permanent".into(),
    };
    info!(mask = %ban.mask, by = %ban.set_by, reason = %ban.reason, "{word} added");
    server.snote(
        's',
        &format!(
            "{} added {how_long} {word} for [{}] [{}]",
            ban.set_by, ban.mask, ban.reason
        ),
    );
    enforce(server, ban, verb)
}

/// Disconnects everyone connected whom a new ban matches.
fn enforce(server: &Arc<Server>, ban: &ServerBan, verb: &str) -> usize {
    let mut hits = 0;
    for c in server.registry.clients() {
        let (user, host) = {
            let i = c.info();
            (i.user.clone(), i.host.clone())
        };
        let hit = match ban.kind {
            BanKind::Kline => {
                c.is_registered()
                    && crate::guard::kline_reason(server, &user, &host, c.ip).is_some()
            }
            BanKind::Dline => {
                crate::guard::parse_net(&ban.mask).is_some_and(|n| n.contains(&c.ip.to_canonical()))
            }
        };
        if hit {
            crate::lifecycle::kill_user(server, &c, format!("{verb}: {}", ban.reason));
            hits += 1;
        }
    }
    hits
}

/// The mask a removal names, as it is stored: typed in any case, found by
/// its casefolded form (else as typed, made into the stored form).
pub(crate) fn stored_mask(server: &Server, kind: BanKind, raw: &str) -> String {
    let typed = mask(kind, raw).unwrap_or_else(|_| raw.to_string());
    let cm = server.config().casemap;
    server
        .bans
        .read()
        .expect("bans lock")
        .iter()
        .find(|b| b.kind == kind && cm.fold_lossy(&b.mask) == cm.fold_lossy(&typed))
        .map(|b| b.mask.clone())
        .unwrap_or(typed)
}

/// After the ban was removed from the store: out of the running list too.
pub(crate) fn uninstall(server: &Server, kind: BanKind, mask: &str) {
    server
        .bans
        .write()
        .expect("bans lock")
        .retain(|b| !(b.kind == kind && b.mask == mask));
    info!(%mask, "ban removed");
}

/// The bans of `kind` in force now (expired ones are not shown).
pub(crate) fn list(server: &Server, kind: BanKind) -> Vec<ServerBan> {
    let now = server.clock.unix_ms();
    server
        .bans
        .read()
        .expect("bans lock")
        .iter()
        .filter(|b| b.kind == kind && b.expires_ms.is_none_or(|e| e > now))
        .cloned()
        .collect()
}
