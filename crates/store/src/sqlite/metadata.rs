//! Account metadata (profiles) in SQLite.

use rusqlite::params;

use super::{account_exists, backend, SqliteStore};
use crate::{MetadataStore, Result};

impl MetadataStore for SqliteStore {
    fn metadata(&self, account: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, value FROM account_metadata WHERE account = ?1 ORDER BY key",
            )?;
            let rows = st.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    fn set_metadata(&self, account: &str, key: &str, value: Option<&str>) -> Result<bool> {
        let (account, key) = (account.to_string(), key.to_string());
        let value = value.map(str::to_string);
        self.write(move |c| {
            if !account_exists(c, &account)? {
                return Ok(false);
            }
            match value {
                Some(v) => c.execute(
                    "INSERT INTO account_metadata (account, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
                    params![account, key, v],
                ),
                None => c.execute(
                    "DELETE FROM account_metadata WHERE account = ?1 AND key = ?2",
                    params![account, key],
                ),
            }
            .map_err(backend)?;
            Ok(true)
        })
    }

    fn clear_metadata(&self, account: &str) -> Result<()> {
        let account = account.to_string();
        self.write(move |c| {
            c.execute(
                "DELETE FROM account_metadata WHERE account = ?1",
                [&account],
            )
            .map_err(backend)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, temp_store};
    use crate::{AccountStore, MetadataStore};

    #[test]
    fn an_account_keeps_its_profile() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        assert!(s.metadata("bob").unwrap().is_empty());
        assert!(s
            .set_metadata("bob", "display-name", Some("Bob 鲍勃"))
            .unwrap());
        assert!(s
            .set_metadata("bob", "avatar", Some("https://x/b.png"))
            .unwrap());
        assert!(s
            .set_metadata("bob", "display-name", Some("Bob B"))
            .unwrap());
        assert_eq!(
            s.metadata("bob").unwrap(),
            vec![
                ("avatar".to_string(), "https://x/b.png".to_string()),
                ("display-name".to_string(), "Bob B".to_string()),
            ]
        );
        assert!(s.set_metadata("bob", "avatar", None).unwrap());
        assert_eq!(s.metadata("bob").unwrap().len(), 1);
        assert!(!s.set_metadata("nobody", "avatar", Some("x")).unwrap());
        s.clear_metadata("bob").unwrap();
        assert!(s.metadata("bob").unwrap().is_empty());
        // Gone with the account.
        s.set_metadata("bob", "status", Some("away")).unwrap();
        s.delete_account("bob").unwrap();
        s.create_account(&account("bob")).unwrap();
        assert!(s.metadata("bob").unwrap().is_empty());
    }
}
