//! The per-account lists and friend requests in SQLite.

use rusqlite::{params, Connection};

use super::offline::forget_recipient;
use super::{backend, SqliteStore};
use crate::{FriendStore, ListEntry, ListKind, Result};

/// Records a request (also from the offline batch, inside its job).
pub(super) fn insert_request(
    c: &Connection,
    account: &str,
    from: &str,
    time_ms: i64,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO friend_requests (account, requester, time_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account, requester) DO UPDATE SET time_ms = excluded.time_ms",
    )
    .and_then(|mut st| st.execute(params![account, from, time_ms]))
    .map_err(backend)?;
    Ok(())
}

impl FriendStore for SqliteStore {
    fn list(&self, account: &str, kind: ListKind) -> Result<Vec<ListEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT entry, display FROM account_lists WHERE account = ?1 AND kind = ?2 ORDER BY display",
            )?;
            let rows = st.query_map(params![account, kind.code()], |r| {
                Ok(ListEntry { key: r.get(0)?, display: r.get(1)? })
            })?;
            rows.collect()
        })
    }

    fn edit_list(
        &self,
        account: &str,
        kind: ListKind,
        clear: bool,
        add: &[ListEntry],
        remove: &[String],
    ) -> Result<()> {
        let (account, add, remove) = (account.to_string(), add.to_vec(), remove.to_vec());
        self.write(move |c| {
            forget_recipient(&account);
            let k = kind.code();
            if clear {
                c.execute("DELETE FROM account_lists WHERE account = ?1 AND kind = ?2", params![account, k])
                    .map_err(backend)?;
            }
            for e in &add {
                c.execute(
                    "INSERT INTO account_lists (account, kind, entry, display) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (account, kind, entry) DO UPDATE SET display = excluded.display",
                    params![account, k, e.key, e.display],
                )
                .map_err(backend)?;
            }
            for key in &remove {
                c.execute(
                    "DELETE FROM account_lists WHERE account = ?1 AND kind = ?2 AND entry = ?3",
                    params![account, k, key],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn add_request(&self, account: &str, from: &str, time_ms: i64) -> Result<()> {
        let (account, from) = (account.to_string(), from.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO friend_requests (account, requester, time_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account, requester) DO UPDATE SET time_ms = excluded.time_ms",
                params![account, from, time_ms],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn take_requests(&self, account: &str) -> Result<Vec<(String, i64)>> {
        let account = account.to_string();
        self.write(move |c| {
            let mut st = c
                .prepare_cached("SELECT requester, time_ms FROM friend_requests WHERE account = ?1 ORDER BY time_ms")
                .map_err(backend)?;
            let rows: Vec<(String, i64)> = st
                .query_map([&account], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .map_err(backend)?;
            c.execute("DELETE FROM friend_requests WHERE account = ?1", [&account]).map_err(backend)?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, temp_store};
    use crate::{AccountStore, FriendStore, ListEntry, ListKind};

    #[test]
    fn lists_are_edited_and_requests_taken_once() {
        let (_dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();

        let e = |k: &str| ListEntry {
            key: k.into(),
            display: k.to_uppercase(),
        };
        s.edit_list("bob", ListKind::Monitor, false, &[e("a"), e("b")], &[])
            .unwrap();
        s.edit_list("bob", ListKind::Monitor, false, &[e("c")], &["a".into()])
            .unwrap();
        let keys: Vec<String> = s
            .list("bob", ListKind::Monitor)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["b", "c"]);
        assert!(s.list("bob", ListKind::Accept).unwrap().is_empty());

        s.add_request("bob", "Carol", 5).unwrap();
        assert_eq!(
            s.take_requests("bob").unwrap(),
            vec![("Carol".to_string(), 5)]
        );
        assert!(s.take_requests("bob").unwrap().is_empty());
    }
}
