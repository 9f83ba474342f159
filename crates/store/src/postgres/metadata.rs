//! Account metadata (profiles) in PostgreSQL.

use tokio_postgres::error::SqlState;

use super::{backend, conn, PgStore};
use crate::{MetadataStore, Result};

impl MetadataStore for PgStore {
    fn metadata(&self, account: &str) -> Result<Vec<(String, String)>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT key, value FROM account_metadata WHERE account = $1 \
                     ORDER BY key COLLATE \"C\"",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn set_metadata(&self, account: &str, key: &str, value: Option<&str>) -> Result<bool> {
        let (pool, account, key) = (self.pool(), account.to_string(), key.to_string());
        let value = value.map(str::to_string);
        self.block(async move {
            let c = conn(&pool).await?;
            let r = match value {
                // No such account: the foreign key refuses the row.
                Some(v) => c
                    .execute(
                        "INSERT INTO account_metadata (account, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
                        &[&account, &key, &v],
                    )
                    .await
                    .map(|_| true),
                None => c
                    .execute(
                        "DELETE FROM account_metadata WHERE account = $1 AND key = $2",
                        &[&account, &key],
                    )
                    .await
                    .map(|_| true),
            };
            match r {
                Ok(_) => Ok(super::account_exists(&c, &account).await?),
                Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Ok(false),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn clear_metadata(&self, account: &str) -> Result<()> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            conn(&pool)
                .await?
                .execute(
                    "DELETE FROM account_metadata WHERE account = $1",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(())
        })
    }
}
