//! Server bans in SQLite.

use rusqlite::params;

use super::{backend, SqliteStore};
use crate::{BanKind, BanStore, Result, ServerBan};

impl BanStore for SqliteStore {
    fn add_ban(&self, ban: &ServerBan) -> Result<()> {
        let b = ban.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO server_bans (kind, mask, reason, set_by, set_ms, expires_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, mask) DO UPDATE SET \
                 reason = excluded.reason, set_by = excluded.set_by, set_ms = excluded.set_ms, \
                 expires_ms = excluded.expires_ms",
                params![
                    b.kind.code(),
                    b.mask,
                    b.reason,
                    b.set_by,
                    b.set_ms,
                    b.expires_ms
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn remove_ban(&self, kind: BanKind, mask: &str) -> Result<bool> {
        let mask = mask.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM server_bans WHERE kind = ?1 AND mask = ?2",
                    params![kind.code(), mask],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn bans(&self) -> Result<Vec<ServerBan>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT kind, mask, reason, set_by, set_ms, expires_ms FROM server_bans ORDER BY set_ms",
            )?;
            let rows = st.query_map([], |r| {
                let kind: String = r.get(0)?;
                Ok(ServerBan {
                    kind: if kind == "dline" { BanKind::Dline } else { BanKind::Kline },
                    mask: r.get(1)?,
                    reason: r.get(2)?,
                    set_by: r.get(3)?,
                    set_ms: r.get(4)?,
                    expires_ms: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }
}
