//! Accounts and client certificates in SQLite.

use rusqlite::{params, OptionalExtension, Row};

use super::offline::forget_recipient;
use super::{account_exists, backend, SqliteStore};
use crate::{
    Account, AccountStore, CertAdded, LoginToken, Result, ScramCredentials, StoreError, Suspension,
    MAX_CERTS, MAX_TOKENS,
};

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        name: r.get(0)?,
        display: r.get(1)?,
        password_hash: r.get(2)?,
        scram: ScramCredentials {
            salt: r.get(3)?,
            iterations: r.get::<_, i64>(4)? as u32,
            stored_key: r.get(5)?,
            server_key: r.get(6)?,
        },
        email: r.get(7)?,
        callerid: r.get::<_, i64>(8)? != 0,
        created_ms: r.get(9)?,
        suspended: match r.get::<_, Option<String>>(10)? {
            Some(reason) => Some(Suspension {
                reason,
                by: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                at_ms: r.get::<_, Option<i64>>(12)?.unwrap_or(0),
            }),
            None => None,
        },
        always_on: r.get::<_, Option<i64>>(13)?.map(|v| v != 0),
        last_seen_ms: r.get(14)?,
        multiclient: r.get::<_, Option<i64>>(15)?.map(|v| v != 0),
    })
}

/// The columns an `INSERT` gives; a new account is never suspended.
const ACCOUNT_COLS: &str =
    "name, display, password_hash, scram_salt, scram_iterations, scram_stored_key, \
                            scram_server_key, email, callerid, created_ms";
/// The columns `account_from_row` reads.
const READ_COLS: &str =
    "name, display, password_hash, scram_salt, scram_iterations, scram_stored_key, \
     scram_server_key, email, callerid, created_ms, suspended_reason, suspended_by, suspended_ms, \
     always_on, last_seen_ms, multiclient";

impl SqliteStore {
    /// Sets (None: clears, the server's default) one of an account's
    /// yes/no choices; `column` is one of ours, never user input.
    fn set_choice(&self, column: &'static str, name: &str, on: Option<bool>) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    &format!("UPDATE accounts SET {column} = ?2 WHERE name = ?1"),
                    params![name, on.map(|v| v as i64)],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }
}

impl AccountStore for SqliteStore {
    fn create_account(&self, a: &Account) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            forget_recipient(&a.name);
            let r = c.execute(
                &format!("INSERT INTO accounts ({ACCOUNT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    a.name,
                    a.display,
                    a.password_hash,
                    a.scram.salt,
                    a.scram.iterations as i64,
                    a.scram.stored_key,
                    a.scram.server_key,
                    a.email,
                    a.callerid as i64,
                    a.created_ms
                ],
            );
            match r {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::AccountExists)
                }
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn account(&self, name: &str) -> Result<Option<Account>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {READ_COLS} FROM accounts WHERE name = ?1"))?
                .query_row([name], account_from_row)
                .optional()
        })
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {READ_COLS} FROM accounts ORDER BY name"))?;
            let rows = st.query_map([], account_from_row)?;
            rows.collect()
        })
    }

    fn set_credentials(&self, name: &str, hash: &str, scram: &ScramCredentials) -> Result<bool> {
        let (name, hash, s) = (name.to_string(), hash.to_string(), scram.clone());
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET password_hash = ?2, scram_salt = ?3, scram_iterations = ?4, \
                     scram_stored_key = ?5, scram_server_key = ?6 WHERE name = ?1",
                    params![name, hash, s.salt, s.iterations as i64, s.stored_key, s.server_key],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn set_callerid(&self, name: &str, on: bool) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET callerid = ?2 WHERE name = ?1",
                    params![name, on as i64],
                )
                .map_err(backend)?;
            forget_recipient(&name);
            Ok(n > 0)
        })
    }

    fn set_always_on(&self, name: &str, on: Option<bool>) -> Result<bool> {
        self.set_choice("always_on", name, on)
    }

    fn set_multiclient(&self, name: &str, on: Option<bool>) -> Result<bool> {
        self.set_choice("multiclient", name, on)
    }

    fn set_last_seen(&self, name: &str, ms: i64) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET last_seen_ms = ?2 WHERE name = ?1",
                    params![name, ms],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn set_always_on_state(&self, name: &str, state: Option<&str>) -> Result<bool> {
        let (name, state) = (name.to_string(), state.map(str::to_string));
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET always_on_state = ?2 WHERE name = ?1",
                    params![name, state],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn always_on_states(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT name, always_on_state FROM accounts \
                 WHERE always_on_state IS NOT NULL AND suspended_reason IS NULL ORDER BY name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    fn set_suspended(&self, name: &str, suspension: Option<&Suspension>) -> Result<bool> {
        let name = name.to_string();
        let s = suspension.cloned();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE accounts SET suspended_reason = ?2, suspended_by = ?3, suspended_ms = ?4 \
                     WHERE name = ?1",
                    params![
                        name,
                        s.as_ref().map(|s| &s.reason),
                        s.as_ref().map(|s| &s.by),
                        s.as_ref().map(|s| s.at_ms)
                    ],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn ping(&self) -> Result<()> {
        self.writer_alive()?;
        self.read(|c| c.query_row("SELECT MAX(version) FROM ferry_schema", [], |_| Ok(())))
    }

    fn add_token(&self, account: &str, token: &LoginToken, hash: &[u8]) -> Result<bool> {
        let (account, t, hash) = (account.to_string(), token.clone(), hash.to_vec());
        self.write(move |c| {
            if !account_exists(c, &account)? {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO login_tokens (id, account, hash, label, created_ms, last_used_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![t.id, account, hash, t.label, t.created_ms, t.last_used_ms],
            )
            .map_err(backend)?;
            c.execute(
                "DELETE FROM login_tokens WHERE account = ?1 AND id NOT IN \
                 (SELECT id FROM login_tokens WHERE account = ?1 \
                  ORDER BY CASE WHEN last_used_ms > created_ms THEN last_used_ms ELSE created_ms END DESC \
                  LIMIT ?2)",
                params![account, MAX_TOKENS as i64],
            )
            .map_err(backend)?;
            Ok(true)
        })
    }

    fn tokens(&self, account: &str) -> Result<Vec<LoginToken>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, label, created_ms, last_used_ms FROM login_tokens \
                 WHERE account = ?1 ORDER BY created_ms DESC",
            )?;
            let rows = st.query_map([account], |r| {
                Ok(LoginToken {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    created_ms: r.get(2)?,
                    last_used_ms: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn revoke_token(&self, account: &str, id: &str) -> Result<bool> {
        let (account, id) = (account.to_string(), id.to_string());
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM login_tokens WHERE account = ?1 AND id = ?2",
                    params![account, id],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn login_with_token(&self, hash: &[u8], now_ms: i64) -> Result<Option<Account>> {
        let hash = hash.to_vec();
        self.write(move |c| {
            let account: Option<String> = c
                .query_row(
                    "SELECT account FROM login_tokens WHERE hash = ?1",
                    [&hash],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(account) = account else {
                return Ok(None);
            };
            c.execute(
                "UPDATE login_tokens SET last_used_ms = ?2 WHERE hash = ?1",
                params![hash, now_ms],
            )
            .map_err(backend)?;
            c.query_row(
                &format!("SELECT {READ_COLS} FROM accounts WHERE name = ?1"),
                [&account],
                account_from_row,
            )
            .optional()
            .map_err(backend)
        })
    }

    fn delete_account(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM accounts WHERE name = ?1", [&name])
                .map_err(backend)?;
            forget_recipient(&name);
            Ok(n > 0)
        })
    }

    fn add_cert(&self, account: &str, fingerprint: &str, time_ms: i64) -> Result<CertAdded> {
        let (account, fp) = (account.to_string(), fingerprint.to_string());
        self.write(move |c| {
            let owner: Option<String> = c
                .query_row(
                    "SELECT account FROM account_certs WHERE fingerprint = ?1",
                    [&fp],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            match owner {
                Some(o) if o == account => return Ok(CertAdded::Already),
                Some(_) => return Ok(CertAdded::OtherAccount),
                None => {}
            }
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM account_certs WHERE account = ?1",
                    [&account],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if n as usize >= MAX_CERTS {
                return Ok(CertAdded::Full);
            }
            c.execute(
                "INSERT INTO account_certs (fingerprint, account, added_ms) VALUES (?1, ?2, ?3)",
                params![fp, account, time_ms],
            )
            .map_err(backend)?;
            Ok(CertAdded::Added)
        })
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool> {
        let (account, fp) = (account.to_string(), fingerprint.to_string());
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM account_certs WHERE account = ?1 AND fingerprint = ?2",
                    params![account, fp],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn certs(&self, account: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT fingerprint FROM account_certs WHERE account = ?1 ORDER BY added_ms, fingerprint",
            )?;
            let rows = st.query_map([account], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM accounts WHERE name = \
                     (SELECT account FROM account_certs WHERE fingerprint = ?1)",
                    READ_COLS
                ),
                [fingerprint],
                account_from_row,
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, temp_store};
    use crate::{AccountStore, StoreError, Suspension};

    #[test]
    fn suspension_is_kept_and_lifted() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        assert_eq!(s.account("bob").unwrap().unwrap().suspended, None);
        let why = Suspension {
            reason: "spam".into(),
            by: "deploy".into(),
            at_ms: 42,
        };
        assert!(s.set_suspended("bob", Some(&why)).unwrap());
        assert_eq!(
            s.account("bob").unwrap().unwrap().suspended,
            Some(why.clone())
        );
        assert_eq!(s.accounts().unwrap()[0].suspended, Some(why));
        assert!(s.set_suspended("bob", None).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().suspended, None);
        assert!(!s.set_suspended("nobody", None).unwrap());
        s.ping().unwrap();
        s.close();
        assert!(matches!(s.ping(), Err(StoreError::Closed)));
    }

    #[test]
    fn accounts_are_created_once_and_changed() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        assert!(matches!(
            s.create_account(&account("bob")),
            Err(StoreError::AccountExists)
        ));
        assert_eq!(s.account("bob").unwrap().unwrap().display, "BOB");
        assert!(s.set_callerid("bob", true).unwrap());
        assert!(s.account("bob").unwrap().unwrap().callerid);
        assert_eq!(s.account("bob").unwrap().unwrap().always_on, None);
        assert!(s.set_always_on("bob", Some(false)).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().always_on, Some(false));
        assert!(s.set_always_on("bob", Some(true)).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().always_on, Some(true));
        assert!(s.set_always_on("bob", None).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().always_on, None);
        assert!(!s.set_always_on("nobody", Some(true)).unwrap());
        assert!(s.set_multiclient("bob", Some(false)).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().multiclient, Some(false));
        assert!(s.set_multiclient("bob", None).unwrap());
        assert_eq!(s.account("bob").unwrap().unwrap().multiclient, None);
    }
}
