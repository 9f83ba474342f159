//! Server bans in PostgreSQL.

use super::{backend, conn, PgStore};
use crate::{BanKind, BanStore, Result, ServerBan};

impl BanStore for PgStore {
    fn add_ban(&self, ban: &ServerBan) -> Result<()> {
        let (pool, b) = (self.pool(), ban.clone());
        self.block(async move {
            conn(&pool)
                .await?
                .execute(
                    "INSERT INTO server_bans (kind, mask, reason, set_by, set_ms, expires_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, mask) DO UPDATE SET \
                     reason = excluded.reason, set_by = excluded.set_by, set_ms = excluded.set_ms, \
                     expires_ms = excluded.expires_ms",
                    &[
                        &b.kind.code(),
                        &b.mask,
                        &b.reason,
                        &b.set_by,
                        &b.set_ms,
                        &b.expires_ms,
                    ],
                )
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn remove_ban(&self, kind: BanKind, mask: &str) -> Result<bool> {
        let (pool, mask) = (self.pool(), mask.to_string());
        self.block(async move {
            let n = conn(&pool)
                .await?
                .execute(
                    "DELETE FROM server_bans WHERE kind = $1 AND mask = $2",
                    &[&kind.code(), &mask],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn bans(&self) -> Result<Vec<ServerBan>> {
        let pool = self.pool();
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT kind, mask, reason, set_by, set_ms, expires_ms FROM server_bans \
                     ORDER BY set_ms",
                    &[],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| ServerBan {
                    kind: if r.get::<_, &str>(0) == "dline" {
                        BanKind::Dline
                    } else {
                        BanKind::Kline
                    },
                    mask: r.get(1),
                    reason: r.get(2),
                    set_by: r.get(3),
                    set_ms: r.get(4),
                    expires_ms: r.get(5),
                })
                .collect())
        })
    }
}
