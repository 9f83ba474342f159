//! Accounts, login tokens and client certificates in PostgreSQL.

use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::{account_exists, backend, conn, PgStore};
use crate::{
    Account, AccountStore, CertAdded, LoginToken, Result, ScramCredentials, StoreError, Suspension,
    MAX_CERTS, MAX_TOKENS,
};

/// The columns `account_from_row` reads.
const READ_COLS: &str =
    "name, display, password_hash, scram_salt, scram_iterations, scram_stored_key, \
     scram_server_key, email, callerid, created_ms, suspended_reason, suspended_by, suspended_ms, \
     always_on, last_seen_ms, multiclient";

fn account_from_row(r: &Row) -> Account {
    Account {
        name: r.get(0),
        display: r.get(1),
        password_hash: r.get(2),
        scram: ScramCredentials {
            salt: r.get(3),
            iterations: r.get::<_, i64>(4) as u32,
            stored_key: r.get(5),
            server_key: r.get(6),
        },
        email: r.get(7),
        callerid: r.get(8),
        created_ms: r.get(9),
        suspended: r.get::<_, Option<String>>(10).map(|reason| Suspension {
            reason,
            by: r.get::<_, Option<String>>(11).unwrap_or_default(),
            at_ms: r.get::<_, Option<i64>>(12).unwrap_or(0),
        }),
        always_on: r.get(13),
        last_seen_ms: r.get(14),
        multiclient: r.get(15),
    }
}

impl PgStore {
    /// One `UPDATE accounts SET <column> = $2 WHERE name = $1`; `column`
    /// is one of ours, never user input. False if there is no such account.
    fn update_account<T>(&self, column: &'static str, name: &str, value: T) -> Result<bool>
    where
        T: tokio_postgres::types::ToSql + Sync + Send + 'static,
    {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let n = c
                .execute(
                    &format!("UPDATE accounts SET {column} = $2 WHERE name = $1"),
                    &[&name, &value],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn account_where(&self, clause: &'static str, arg: String) -> Result<Option<Account>> {
        let pool = self.pool();
        self.block(async move {
            let c = conn(&pool).await?;
            let r = c
                .query_opt(
                    &format!("SELECT {READ_COLS} FROM accounts WHERE {clause}"),
                    &[&arg],
                )
                .await
                .map_err(backend)?;
            Ok(r.as_ref().map(account_from_row))
        })
    }
}

impl AccountStore for PgStore {
    fn create_account(&self, a: &Account) -> Result<()> {
        let (pool, a) = (self.pool(), a.clone());
        self.block(async move {
            let c = conn(&pool).await?;
            let r = c
                .execute(
                    "INSERT INTO accounts (name, display, password_hash, scram_salt, scram_iterations, \
                     scram_stored_key, scram_server_key, email, callerid, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        &a.name,
                        &a.display,
                        &a.password_hash,
                        &a.scram.salt,
                        &(a.scram.iterations as i64),
                        &a.scram.stored_key,
                        &a.scram.server_key,
                        &a.email,
                        &a.callerid,
                        &a.created_ms,
                    ],
                )
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StoreError::AccountExists)
                }
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn account(&self, name: &str) -> Result<Option<Account>> {
        self.account_where("name = $1", name.to_string())
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        let pool = self.pool();
        self.block(async move {
            let c = conn(&pool).await?;
            let rows = c
                .query(
                    &format!("SELECT {READ_COLS} FROM accounts ORDER BY name"),
                    &[],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(account_from_row).collect())
        })
    }

    fn set_credentials(&self, name: &str, hash: &str, scram: &ScramCredentials) -> Result<bool> {
        let (pool, name, hash, s) = (
            self.pool(),
            name.to_string(),
            hash.to_string(),
            scram.clone(),
        );
        self.block(async move {
            let c = conn(&pool).await?;
            let n = c
                .execute(
                    "UPDATE accounts SET password_hash = $2, scram_salt = $3, scram_iterations = $4, \
                     scram_stored_key = $5, scram_server_key = $6 WHERE name = $1",
                    &[&name, &hash, &s.salt, &(s.iterations as i64), &s.stored_key, &s.server_key],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn set_callerid(&self, name: &str, on: bool) -> Result<bool> {
        self.update_account("callerid", name, on)
    }

    fn set_always_on(&self, name: &str, on: Option<bool>) -> Result<bool> {
        self.update_account("always_on", name, on)
    }

    fn set_multiclient(&self, name: &str, on: Option<bool>) -> Result<bool> {
        self.update_account("multiclient", name, on)
    }

    fn set_last_seen(&self, name: &str, ms: i64) -> Result<bool> {
        self.update_account("last_seen_ms", name, ms)
    }

    fn set_always_on_state(&self, name: &str, state: Option<&str>) -> Result<bool> {
        self.update_account("always_on_state", name, state.map(str::to_string))
    }

    fn always_on_states(&self) -> Result<Vec<(String, String)>> {
        let pool = self.pool();
        self.block(async move {
            let c = conn(&pool).await?;
            let rows = c
                .query(
                    "SELECT name, always_on_state FROM accounts \
                     WHERE always_on_state IS NOT NULL AND suspended_reason IS NULL ORDER BY name",
                    &[],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn set_suspended(&self, name: &str, suspension: Option<&Suspension>) -> Result<bool> {
        let (pool, name, s) = (self.pool(), name.to_string(), suspension.cloned());
        self.block(async move {
            let c = conn(&pool).await?;
            let n = c
                .execute(
                    "UPDATE accounts SET suspended_reason = $2, suspended_by = $3, suspended_ms = $4 \
                     WHERE name = $1",
                    &[
                        &name,
                        &s.as_ref().map(|s| s.reason.clone()),
                        &s.as_ref().map(|s| s.by.clone()),
                        &s.as_ref().map(|s| s.at_ms),
                    ],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn ping(&self) -> Result<()> {
        let pool = self.pool();
        self.block(async move {
            let c = conn(&pool).await?;
            c.query_one("SELECT MAX(version) FROM ferry_schema", &[])
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn add_token(&self, account: &str, token: &LoginToken, hash: &[u8]) -> Result<bool> {
        let (pool, account, t, hash) = (
            self.pool(),
            account.to_string(),
            token.clone(),
            hash.to_vec(),
        );
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            if !account_exists(&tx, &account).await? {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO login_tokens (id, account, hash, label, created_ms, last_used_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &t.id,
                    &account,
                    &hash,
                    &t.label,
                    &t.created_ms,
                    &t.last_used_ms,
                ],
            )
            .await
            .map_err(backend)?;
            tx.execute(
                "DELETE FROM login_tokens WHERE account = $1 AND id NOT IN \
                 (SELECT id FROM login_tokens WHERE account = $1 \
                  ORDER BY GREATEST(last_used_ms, created_ms) DESC LIMIT $2)",
                &[&account, &(MAX_TOKENS as i64)],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
    }

    fn tokens(&self, account: &str) -> Result<Vec<LoginToken>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let rows = c
                .query(
                    "SELECT id, label, created_ms, last_used_ms FROM login_tokens \
                     WHERE account = $1 ORDER BY created_ms DESC",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| LoginToken {
                    id: r.get(0),
                    label: r.get(1),
                    created_ms: r.get(2),
                    last_used_ms: r.get(3),
                })
                .collect())
        })
    }

    fn revoke_token(&self, account: &str, id: &str) -> Result<bool> {
        let (pool, account, id) = (self.pool(), account.to_string(), id.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let n = c
                .execute(
                    "DELETE FROM login_tokens WHERE account = $1 AND id = $2",
                    &[&account, &id],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn login_with_token(&self, hash: &[u8], now_ms: i64) -> Result<Option<Account>> {
        let (pool, hash) = (self.pool(), hash.to_vec());
        self.block(async move {
            let c = conn(&pool).await?;
            let r = c
                .query_opt(
                    &format!(
                        "WITH used AS (UPDATE login_tokens SET last_used_ms = $2 WHERE hash = $1 \
                         RETURNING account) \
                         SELECT {READ_COLS} FROM accounts WHERE name = (SELECT account FROM used)"
                    ),
                    &[&hash, &now_ms],
                )
                .await
                .map_err(backend)?;
            Ok(r.as_ref().map(account_from_row))
        })
    }

    fn delete_account(&self, name: &str) -> Result<bool> {
        let (pool, n) = (self.pool(), name.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let k = c
                .execute("DELETE FROM accounts WHERE name = $1", &[&n])
                .await
                .map_err(backend)?;
            Ok(k > 0)
        })
    }

    fn add_cert(&self, account: &str, fingerprint: &str, time_ms: i64) -> Result<CertAdded> {
        let (pool, account, fp) = (self.pool(), account.to_string(), fingerprint.to_string());
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            // One account at a time adds certificates: the count holds.
            tx.execute("SELECT 1 FROM accounts WHERE name = $1 FOR UPDATE", &[&account])
                .await
                .map_err(backend)?;
            let owner: Option<String> = tx
                .query_opt(
                    "SELECT account FROM account_certs WHERE fingerprint = $1",
                    &[&fp],
                )
                .await
                .map_err(backend)?
                .map(|r| r.get(0));
            match owner {
                Some(o) if o == account => return Ok(CertAdded::Already),
                Some(_) => return Ok(CertAdded::OtherAccount),
                None => {}
            }
            let n: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM account_certs WHERE account = $1",
                    &[&account],
                )
                .await
                .map_err(backend)?
                .get(0);
            if n as usize >= MAX_CERTS {
                return Ok(CertAdded::Full);
            }
            let r = tx
                .execute(
                    "INSERT INTO account_certs (fingerprint, account, added_ms) VALUES ($1, $2, $3)",
                    &[&fp, &account, &time_ms],
                )
                .await;
            match r {
                Ok(_) => {}
                // Another account took it meanwhile.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Ok(CertAdded::OtherAccount)
                }
                Err(e) => return Err(backend(e)),
            }
            tx.commit().await.map_err(backend)?;
            Ok(CertAdded::Added)
        })
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool> {
        let (pool, account, fp) = (self.pool(), account.to_string(), fingerprint.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let n = c
                .execute(
                    "DELETE FROM account_certs WHERE account = $1 AND fingerprint = $2",
                    &[&account, &fp],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn certs(&self, account: &str) -> Result<Vec<String>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let rows = c
                .query(
                    "SELECT fingerprint FROM account_certs WHERE account = $1 \
                     ORDER BY added_ms, fingerprint",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>> {
        self.account_where(
            "name = (SELECT account FROM account_certs WHERE fingerprint = $1)",
            fingerprint.to_string(),
        )
    }
}
