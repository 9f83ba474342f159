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

#[cfg(test)]
mod tests {
    use super::super::test_support::temp_store;
    use crate::{BanKind, BanStore, ServerBan};

    #[test]
    fn bans_are_replaced_by_kind_and_mask() {
        let (_dir, s) = temp_store();
        let ban = |kind, mask: &str, set_ms| ServerBan {
            kind,
            mask: mask.into(),
            reason: "spam".into(),
            set_by: "oper".into(),
            set_ms,
            expires_ms: None,
        };
        s.add_ban(&ban(BanKind::Kline, "*@bad.example", 2)).unwrap();
        s.add_ban(&ban(BanKind::Dline, "192.0.2.0/24", 1)).unwrap();
        let mut again = ban(BanKind::Kline, "*@bad.example", 3);
        again.expires_ms = Some(10);
        s.add_ban(&again).unwrap();
        assert_eq!(
            s.bans().unwrap(),
            vec![ban(BanKind::Dline, "192.0.2.0/24", 1), again]
        );
        // The same mask under the other kind is another ban.
        assert!(!s.remove_ban(BanKind::Dline, "*@bad.example").unwrap());
        assert!(s.remove_ban(BanKind::Kline, "*@bad.example").unwrap());
        assert_eq!(s.bans().unwrap().len(), 1);
    }
}
