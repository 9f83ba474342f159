//! The per-account lists and friend requests in PostgreSQL.

use deadpool_postgres::GenericClient;

use super::{backend, conn, PgStore};
use crate::{FriendStore, ListEntry, ListKind, Result};

/// Records a request (also from the offline writer, inside its batch).
pub(super) async fn insert_request(
    c: &impl GenericClient,
    account: &str,
    from: &str,
    time_ms: i64,
) -> Result<()> {
    c.execute(
        "INSERT INTO friend_requests (account, requester, time_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (account, requester) DO UPDATE SET time_ms = excluded.time_ms",
        &[&account, &from, &time_ms],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// One list of `account` (also read by the offline writer).
pub(super) async fn read_list(
    c: &impl GenericClient,
    account: &str,
    kind: ListKind,
) -> Result<Vec<ListEntry>> {
    let rows = c
        .query(
            "SELECT entry, display FROM account_lists WHERE account = $1 AND kind = $2 \
             ORDER BY display COLLATE \"C\"",
            &[&account, &kind.code()],
        )
        .await
        .map_err(backend)?;
    Ok(rows
        .iter()
        .map(|r| ListEntry {
            key: r.get(0),
            display: r.get(1),
        })
        .collect())
}

impl FriendStore for PgStore {
    fn list(&self, account: &str, kind: ListKind) -> Result<Vec<ListEntry>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move { read_list(&conn(&pool).await?, &account, kind).await })
    }

    fn edit_list(
        &self,
        account: &str,
        kind: ListKind,
        clear: bool,
        add: &[ListEntry],
        remove: &[String],
    ) -> Result<()> {
        let (pool, account, add, remove) = (
            self.pool(),
            account.to_string(),
            add.to_vec(),
            remove.to_vec(),
        );
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            let k = kind.code();
            if clear {
                tx.execute(
                    "DELETE FROM account_lists WHERE account = $1 AND kind = $2",
                    &[&account, &k],
                )
                .await
                .map_err(backend)?;
            }
            for e in &add {
                tx.execute(
                    "INSERT INTO account_lists (account, kind, entry, display) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (account, kind, entry) DO UPDATE SET display = excluded.display",
                    &[&account, &k, &e.key, &e.display],
                )
                .await
                .map_err(backend)?;
            }
            for key in &remove {
                tx.execute(
                    "DELETE FROM account_lists WHERE account = $1 AND kind = $2 AND entry = $3",
                    &[&account, &k, key],
                )
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    fn add_request(&self, account: &str, from: &str, time_ms: i64) -> Result<()> {
        let (pool, account, from) = (self.pool(), account.to_string(), from.to_string());
        self.block(
            async move { insert_request(&conn(&pool).await?, &account, &from, time_ms).await },
        )
    }

    fn take_requests(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let mut rows: Vec<(String, i64)> = c
                .query(
                    "DELETE FROM friend_requests WHERE account = $1 RETURNING requester, time_ms",
                    &[&account],
                )
                .await
                .map_err(backend)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            rows.sort_by_key(|(_, t)| *t);
            Ok(rows)
        })
    }
}
