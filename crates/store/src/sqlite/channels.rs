//! Registered channels in SQLite (migration 4: the `channels` table).

use rusqlite::{params, OptionalExtension, Row};

use super::{account_exists, backend, SqliteStore};
use crate::{
    AccessLevel, ChannelMask, ChannelRegistered, ChannelStore, ChannelTopic, PurgedChannel,
    RegisteredChannel, Result,
};

const CHANNEL_COLS: &str =
    "name, display, founder, created_ms, topic, topic_set_by, topic_set_ms, modes";

fn channel_from_row(r: &Row<'_>) -> rusqlite::Result<RegisteredChannel> {
    let topic = match (r.get(4)?, r.get(5)?, r.get(6)?) {
        (Some(text), Some(set_by), Some(set_ms)) => Some(ChannelTopic {
            text,
            set_by,
            set_ms,
        }),
        _ => None,
    };
    Ok(RegisteredChannel {
        name: r.get(0)?,
        display: r.get(1)?,
        founder: r.get(2)?,
        created_ms: r.get(3)?,
        topic,
        modes: r.get(7)?,
    })
}

/// Whether the channel `name` is registered, inside a job.
fn channel_exists(c: &rusqlite::Connection, name: &str) -> Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM channels WHERE name = ?1", [name], |_| Ok(()))
            .optional()
            .map_err(backend)?
            .is_some(),
    )
}

impl ChannelStore for SqliteStore {
    fn register_channel(&self, channel: &RegisteredChannel) -> Result<ChannelRegistered> {
        let ch = channel.clone();
        self.write(move |c| {
            if !account_exists(c, &ch.founder)? {
                return Ok(ChannelRegistered::NoFounder);
            }
            let topic = ch.topic.as_ref();
            let n = c
                .execute(
                    &format!(
                        "INSERT INTO channels ({CHANNEL_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                         ON CONFLICT (name) DO NOTHING"
                    ),
                    params![
                        ch.name,
                        ch.display,
                        ch.founder,
                        ch.created_ms,
                        topic.map(|t| &t.text),
                        topic.map(|t| &t.set_by),
                        topic.map(|t| t.set_ms),
                        ch.modes
                    ],
                )
                .map_err(backend)?;
            Ok(if n == 0 {
                ChannelRegistered::Taken
            } else {
                ChannelRegistered::Registered
            })
        })
    }

    fn unregister_channel(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM channels WHERE name = ?1", [&name])
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn channel(&self, name: &str) -> Result<Option<RegisteredChannel>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {CHANNEL_COLS} FROM channels WHERE name = ?1"
            ))?
            .query_row([name], channel_from_row)
            .optional()
        })
    }

    fn channels(&self) -> Result<Vec<RegisteredChannel>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {CHANNEL_COLS} FROM channels ORDER BY name"
            ))?;
            let rows = st.query_map([], channel_from_row)?;
            rows.collect()
        })
    }

    fn set_channel_topic(&self, name: &str, topic: Option<&ChannelTopic>) -> Result<bool> {
        let (name, topic) = (name.to_string(), topic.cloned());
        self.write(move |c| {
            let t = topic.as_ref();
            let n = c
                .execute(
                    "UPDATE channels SET topic = ?2, topic_set_by = ?3, topic_set_ms = ?4 \
                     WHERE name = ?1",
                    params![
                        name,
                        t.map(|t| &t.text),
                        t.map(|t| &t.set_by),
                        t.map(|t| t.set_ms)
                    ],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn channel_access(&self, name: &str) -> Result<Vec<(String, AccessLevel)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT account, level FROM channel_access WHERE channel = ?1 ORDER BY account",
            )?;
            let rows = st.query_map([name], |r| {
                let level: String = r.get(1)?;
                Ok((r.get(0)?, level))
            })?;
            Ok(rows
                .filter_map(|r| r.ok())
                .filter_map(|(a, l)| AccessLevel::from_letter(l.chars().next()?).map(|l| (a, l)))
                .collect())
        })
    }

    fn set_channel_access(
        &self,
        name: &str,
        account: &str,
        level: Option<AccessLevel>,
    ) -> Result<bool> {
        let (name, account) = (name.to_string(), account.to_string());
        self.write(move |c| {
            let registered = channel_exists(c, &name)?;
            if !registered || !account_exists(c, &account)? {
                return Ok(false);
            }
            match level {
                Some(l) => c.execute(
                    "INSERT INTO channel_access (channel, account, level) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (channel, account) DO UPDATE SET level = excluded.level",
                    params![name, account, l.letter().to_string()],
                ),
                None => c.execute(
                    "DELETE FROM channel_access WHERE channel = ?1 AND account = ?2",
                    params![name, account],
                ),
            }
            .map_err(backend)?;
            Ok(true)
        })
    }

    fn channel_masks(&self, name: &str, kind: char) -> Result<Vec<ChannelMask>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT mask, set_by, set_at FROM channel_masks WHERE channel = ?1 AND kind = ?2 \
                 ORDER BY set_at, mask",
            )?;
            let rows = st.query_map(params![name, kind.to_string()], |r| {
                Ok(ChannelMask {
                    mask: r.get(0)?,
                    set_by: r.get(1)?,
                    set_at: r.get::<_, i64>(2)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn set_channel_masks(&self, name: &str, kind: char, masks: &[ChannelMask]) -> Result<()> {
        let (name, masks) = (name.to_string(), masks.to_vec());
        self.write(move |c| {
            c.execute(
                "DELETE FROM channel_masks WHERE channel = ?1 AND kind = ?2",
                params![name, kind.to_string()],
            )
            .map_err(backend)?;
            for m in masks {
                c.execute(
                    "INSERT OR IGNORE INTO channel_masks (channel, kind, mask, set_by, set_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM channels WHERE name = ?1)",
                    params![name, kind.to_string(), m.mask, m.set_by, m.set_at as i64],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn channels_of(&self, account: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, display FROM channels WHERE founder = ?1 \
                 UNION SELECT c.name, c.display FROM channels c \
                 JOIN channel_access a ON a.channel = c.name WHERE a.account = ?1 \
                 ORDER BY 1",
            )?;
            let rows = st.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    fn transfer_channel(&self, name: &str, founder: &str) -> Result<bool> {
        let (name, founder) = (name.to_string(), founder.to_string());
        self.write(move |c| {
            if !account_exists(c, &founder)? {
                return Ok(false);
            }
            let n = c
                .execute(
                    "UPDATE channels SET founder = ?2 WHERE name = ?1",
                    params![name, founder],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn set_channel_modes(&self, name: &str, modes: &str) -> Result<bool> {
        let (name, modes) = (name.to_string(), modes.to_string());
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE channels SET modes = ?2 WHERE name = ?1",
                    params![name, modes],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn channel_settings(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, value FROM channel_settings WHERE channel = ?1 ORDER BY key",
            )?;
            let rows = st.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    fn set_channel_setting(&self, name: &str, key: &str, value: Option<&str>) -> Result<bool> {
        let (name, key, value) = (name.to_string(), key.to_string(), value.map(str::to_string));
        self.write(move |c| {
            let registered = channel_exists(c, &name)?;
            if !registered {
                return Ok(false);
            }
            match value {
                Some(v) => c.execute(
                    "INSERT INTO channel_settings (channel, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value",
                    params![name, key, v],
                ),
                None => c.execute(
                    "DELETE FROM channel_settings WHERE channel = ?1 AND key = ?2",
                    params![name, key],
                ),
            }
            .map_err(backend)?;
            Ok(true)
        })
    }

    fn purge_channel(&self, purge: &PurgedChannel) -> Result<()> {
        let p = purge.clone();
        self.write(move |c| {
            c.execute("DELETE FROM channels WHERE name = ?1", [&p.name])
                .map_err(backend)?;
            c.execute(
                "INSERT INTO purged_channels (name, display, by, reason, at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![p.name, p.display, p.by, p.reason, p.at_ms],
            )
            .map_err(backend)?;
            Ok(())
        })
    }

    fn unpurge_channel(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM purged_channels WHERE name = ?1", [&name])
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn purged_channels(&self) -> Result<Vec<PurgedChannel>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, display, by, reason, at_ms FROM purged_channels ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(PurgedChannel {
                    name: r.get(0)?,
                    display: r.get(1)?,
                    by: r.get(2)?,
                    reason: r.get(3)?,
                    at_ms: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{account, temp_store};
    use crate::{
        AccountStore, ChannelRegistered::*, ChannelStore, ChannelTopic, PurgedChannel,
        RegisteredChannel,
    };

    fn rust(founder: &str) -> RegisteredChannel {
        RegisteredChannel {
            name: "#rust".into(),
            display: "#Rust".into(),
            founder: founder.into(),
            created_ms: 5,
            topic: None,
            modes: "+nt".into(),
        }
    }

    #[test]
    fn channels_register_once_and_keep_topic_and_modes() {
        let (dir, s) = temp_store();
        assert_eq!(s.register_channel(&rust("bob")).unwrap(), NoFounder);
        s.create_account(&account("bob")).unwrap();
        s.create_account(&account("eve")).unwrap();
        assert_eq!(s.channel("#rust").unwrap(), None);
        assert_eq!(s.register_channel(&rust("bob")).unwrap(), Registered);
        assert_eq!(s.register_channel(&rust("eve")).unwrap(), Taken);
        assert_eq!(s.channel("#rust").unwrap(), Some(rust("bob")));

        let topic = ChannelTopic {
            text: "the book".into(),
            set_by: "bob!~b@h".into(),
            set_ms: 9,
        };
        assert!(s.set_channel_topic("#rust", Some(&topic)).unwrap());
        assert!(s.set_channel_modes("#rust", "+ntk key").unwrap());
        assert!(!s.set_channel_topic("#none", Some(&topic)).unwrap());
        assert!(!s.set_channel_modes("#none", "+n").unwrap());
        let mut a = rust("eve");
        a.name = "#a".into();
        a.display = "#a".into();
        a.topic = Some(topic.clone());
        assert_eq!(s.register_channel(&a).unwrap(), Registered);
        let want = RegisteredChannel {
            topic: Some(topic),
            modes: "+ntk key".into(),
            ..rust("bob")
        };
        // Kept across a restart, listed by name.
        s.close();
        let s = crate::SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.channels().unwrap(), vec![a.clone(), want.clone()]);

        assert!(s.set_channel_topic("#rust", None).unwrap());
        assert_eq!(s.channel("#rust").unwrap().unwrap().topic, None);
        assert!(s.unregister_channel("#rust").unwrap());
        assert!(!s.unregister_channel("#rust").unwrap());
        assert_eq!(s.channel("#rust").unwrap(), None);
        // Deleting the founder's account unregisters what it founded.
        assert!(s.delete_account("eve").unwrap());
        assert!(s.channels().unwrap().is_empty());
    }

    #[test]
    fn access_lists_masks_and_transfer_last_with_the_channel() {
        use crate::{AccessLevel, ChannelMask};
        let (_dir, s) = temp_store();
        for a in ["alice", "bob", "carol"] {
            s.create_account(&account(a)).unwrap();
        }
        assert!(!s
            .set_channel_access("#rust", "bob", Some(AccessLevel::Op))
            .unwrap());
        assert_eq!(s.register_channel(&rust("alice")).unwrap(), Registered);
        assert!(s
            .set_channel_access("#rust", "bob", Some(AccessLevel::Op))
            .unwrap());
        assert!(s
            .set_channel_access("#rust", "carol", Some(AccessLevel::Voice))
            .unwrap());
        assert!(!s
            .set_channel_access("#rust", "nobody", Some(AccessLevel::Op))
            .unwrap());
        assert!(s
            .set_channel_access("#rust", "bob", Some(AccessLevel::Voice))
            .unwrap());
        assert_eq!(
            s.channel_access("#rust").unwrap(),
            vec![
                ("bob".into(), AccessLevel::Voice),
                ("carol".into(), AccessLevel::Voice)
            ]
        );
        assert_eq!(
            s.channels_of("carol").unwrap(),
            vec![("#rust".into(), "#Rust".into())]
        );
        assert_eq!(s.channels_of("alice").unwrap().len(), 1, "the founder");
        assert!(s.set_channel_access("#rust", "carol", None).unwrap());
        assert!(s.channels_of("carol").unwrap().is_empty());
        let ban = ChannelMask {
            mask: "*!*@bad".into(),
            set_by: "alice".into(),
            set_at: 7,
        };
        s.set_channel_masks("#rust", 'b', std::slice::from_ref(&ban))
            .unwrap();
        assert_eq!(s.channel_masks("#rust", 'b').unwrap(), vec![ban]);
        assert!(s.channel_masks("#rust", 'I').unwrap().is_empty());
        assert!(s.transfer_channel("#rust", "bob").unwrap());
        assert_eq!(s.channel("#rust").unwrap().unwrap().founder, "bob");
        assert!(!s.transfer_channel("#rust", "nobody").unwrap());
        // Unregistered: its lists go with it.
        assert!(s.unregister_channel("#rust").unwrap());
        assert_eq!(s.register_channel(&rust("alice")).unwrap(), Registered);
        assert!(s.channel_access("#rust").unwrap().is_empty());
        assert!(s.channel_masks("#rust", 'b').unwrap().is_empty());
    }

    #[test]
    fn settings_go_with_the_channel_and_a_purge_unregisters_and_lasts() {
        let (dir, s) = temp_store();
        s.create_account(&account("bob")).unwrap();
        assert!(!s
            .set_channel_setting("#rust", "history", Some("off"))
            .unwrap());
        assert_eq!(s.register_channel(&rust("bob")).unwrap(), Registered);
        assert!(s
            .set_channel_setting("#rust", "history", Some("off"))
            .unwrap());
        assert!(s
            .set_channel_setting("#rust", "history", Some("on"))
            .unwrap());
        assert!(s
            .set_channel_setting("#rust", "query-cutoff", Some("join-time"))
            .unwrap());
        assert!(s
            .set_channel_setting("#rust", "query-cutoff", None)
            .unwrap());
        assert_eq!(
            s.channel_settings("#rust").unwrap(),
            vec![("history".to_string(), "on".to_string())]
        );
        let p = PurgedChannel {
            name: "#rust".into(),
            display: "#Rust".into(),
            by: "oper".into(),
            reason: "spam".into(),
            at_ms: 7,
        };
        s.purge_channel(&p).unwrap();
        s.purge_channel(&PurgedChannel {
            reason: "again".into(),
            ..p.clone()
        })
        .unwrap();
        assert_eq!(s.channel("#rust").unwrap(), None);
        assert_eq!(s.channel_settings("#rust").unwrap(), vec![]);
        s.close();
        let s = crate::SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.purged_channels().unwrap(), vec![p]);
        assert!(s.unpurge_channel("#rust").unwrap());
        assert!(!s.unpurge_channel("#rust").unwrap());
        assert_eq!(s.purged_channels().unwrap(), vec![]);
    }
}
