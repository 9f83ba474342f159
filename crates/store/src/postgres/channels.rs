//! Registered channels, their lists and settings, and purged channels in
//! PostgreSQL.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{account_exists, backend, conn, PgStore};
use crate::{
    AccessLevel, ChannelMask, ChannelRegistered, ChannelStore, ChannelTopic, PurgedChannel,
    RegisteredChannel, Result,
};

const CHANNEL_COLS: &str =
    "name, display, founder, created_ms, topic, topic_set_by, topic_set_ms, modes";

fn channel_from_row(r: &Row) -> RegisteredChannel {
    let topic = match (r.get(4), r.get(5), r.get(6)) {
        (Some(text), Some(set_by), Some(set_ms)) => Some(ChannelTopic {
            text,
            set_by,
            set_ms,
        }),
        _ => None,
    };
    RegisteredChannel {
        name: r.get(0),
        display: r.get(1),
        founder: r.get(2),
        created_ms: r.get(3),
        topic,
        modes: r.get(7),
    }
}

async fn channel_exists(c: &impl GenericClient, name: &str) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM channels WHERE name = $1", &[&name])
            .await
            .map_err(backend)?
            .is_some(),
    )
}

impl PgStore {
    /// One statement with the channel name first; the rows it changed.
    fn channel_exec(
        &self,
        sql: &'static str,
        name: &str,
        rest: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
    ) -> Result<u64> {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&name];
            params.extend(
                rest.iter()
                    .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync)),
            );
            c.execute(sql, &params).await.map_err(backend)
        })
    }
}

impl ChannelStore for PgStore {
    fn register_channel(&self, channel: &RegisteredChannel) -> Result<ChannelRegistered> {
        let (pool, ch) = (self.pool(), channel.clone());
        self.block(async move {
            let c = conn(&pool).await?;
            if !account_exists(&c, &ch.founder).await? {
                return Ok(ChannelRegistered::NoFounder);
            }
            let topic = ch.topic.as_ref();
            let n = c
                .execute(
                    &format!(
                        "INSERT INTO channels ({CHANNEL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (name) DO NOTHING"
                    ),
                    &[
                        &ch.name,
                        &ch.display,
                        &ch.founder,
                        &ch.created_ms,
                        &topic.map(|t| t.text.clone()),
                        &topic.map(|t| t.set_by.clone()),
                        &topic.map(|t| t.set_ms),
                        &ch.modes,
                    ],
                )
                .await
                .map_err(backend)?;
            Ok(if n == 0 {
                ChannelRegistered::Taken
            } else {
                ChannelRegistered::Registered
            })
        })
    }

    fn unregister_channel(&self, name: &str) -> Result<bool> {
        Ok(self.channel_exec("DELETE FROM channels WHERE name = $1", name, vec![])? > 0)
    }

    fn channel(&self, name: &str) -> Result<Option<RegisteredChannel>> {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let r = conn(&pool)
                .await?
                .query_opt(
                    &format!("SELECT {CHANNEL_COLS} FROM channels WHERE name = $1"),
                    &[&name],
                )
                .await
                .map_err(backend)?;
            Ok(r.as_ref().map(channel_from_row))
        })
    }

    fn channels(&self) -> Result<Vec<RegisteredChannel>> {
        let pool = self.pool();
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    &format!("SELECT {CHANNEL_COLS} FROM channels ORDER BY name COLLATE \"C\""),
                    &[],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(channel_from_row).collect())
        })
    }

    fn set_channel_topic(&self, name: &str, topic: Option<&ChannelTopic>) -> Result<bool> {
        let t = topic.cloned();
        let n = self.channel_exec(
            "UPDATE channels SET topic = $2, topic_set_by = $3, topic_set_ms = $4 WHERE name = $1",
            name,
            vec![
                Box::new(t.as_ref().map(|t| t.text.clone())),
                Box::new(t.as_ref().map(|t| t.set_by.clone())),
                Box::new(t.as_ref().map(|t| t.set_ms)),
            ],
        )?;
        Ok(n > 0)
    }

    fn set_channel_modes(&self, name: &str, modes: &str) -> Result<bool> {
        let n = self.channel_exec(
            "UPDATE channels SET modes = $2 WHERE name = $1",
            name,
            vec![Box::new(modes.to_string())],
        )?;
        Ok(n > 0)
    }

    fn channel_access(&self, name: &str) -> Result<Vec<(String, AccessLevel)>> {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT account, level FROM channel_access WHERE channel = $1 \
                     ORDER BY account COLLATE \"C\"",
                    &[&name],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let level: &str = r.get(1);
                    AccessLevel::from_letter(level.chars().next()?).map(|l| (r.get(0), l))
                })
                .collect())
        })
    }

    fn set_channel_access(
        &self,
        name: &str,
        account: &str,
        level: Option<AccessLevel>,
    ) -> Result<bool> {
        let (pool, name, account) = (self.pool(), name.to_string(), account.to_string());
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            if !channel_exists(&tx, &name).await? || !account_exists(&tx, &account).await? {
                return Ok(false);
            }
            match level {
                Some(l) => {
                    let letter = l.letter().to_string();
                    tx.execute(
                        "INSERT INTO channel_access (channel, account, level) VALUES ($1, $2, $3) \
                         ON CONFLICT (channel, account) DO UPDATE SET level = excluded.level",
                        &[&name, &account, &letter],
                    )
                    .await
                }
                None => {
                    tx.execute(
                        "DELETE FROM channel_access WHERE channel = $1 AND account = $2",
                        &[&name, &account],
                    )
                    .await
                }
            }
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
    }

    fn channel_masks(&self, name: &str, kind: char) -> Result<Vec<ChannelMask>> {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT mask, set_by, set_at FROM channel_masks WHERE channel = $1 AND kind = $2 \
                     ORDER BY set_at, mask COLLATE \"C\"",
                    &[&name, &kind.to_string()],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| ChannelMask {
                    mask: r.get(0),
                    set_by: r.get(1),
                    set_at: r.get::<_, i64>(2) as u64,
                })
                .collect())
        })
    }

    fn set_channel_masks(&self, name: &str, kind: char, masks: &[ChannelMask]) -> Result<()> {
        let (pool, name, masks) = (self.pool(), name.to_string(), masks.to_vec());
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            let k = kind.to_string();
            tx.execute(
                "DELETE FROM channel_masks WHERE channel = $1 AND kind = $2",
                &[&name, &k],
            )
            .await
            .map_err(backend)?;
            for m in masks {
                tx.execute(
                    "INSERT INTO channel_masks (channel, kind, mask, set_by, set_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM channels WHERE name = $1) \
                     ON CONFLICT DO NOTHING",
                    &[&name, &k, &m.mask, &m.set_by, &(m.set_at as i64)],
                )
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    fn channels_of(&self, account: &str) -> Result<Vec<(String, String)>> {
        let (pool, account) = (self.pool(), account.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT name, display FROM (SELECT name, display FROM channels WHERE founder = $1 \
                     UNION SELECT c.name, c.display FROM channels c \
                     JOIN channel_access a ON a.channel = c.name WHERE a.account = $1) mine \
                     ORDER BY name COLLATE \"C\"",
                    &[&account],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn transfer_channel(&self, name: &str, founder: &str) -> Result<bool> {
        let (pool, name, founder) = (self.pool(), name.to_string(), founder.to_string());
        self.block(async move {
            let c = conn(&pool).await?;
            if !account_exists(&c, &founder).await? {
                return Ok(false);
            }
            let n = c
                .execute(
                    "UPDATE channels SET founder = $2 WHERE name = $1",
                    &[&name, &founder],
                )
                .await
                .map_err(backend)?;
            Ok(n > 0)
        })
    }

    fn channel_settings(&self, name: &str) -> Result<Vec<(String, String)>> {
        let (pool, name) = (self.pool(), name.to_string());
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT key, value FROM channel_settings WHERE channel = $1 \
                     ORDER BY key COLLATE \"C\"",
                    &[&name],
                )
                .await
                .map_err(backend)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn set_channel_setting(&self, name: &str, key: &str, value: Option<&str>) -> Result<bool> {
        let (pool, name, key) = (self.pool(), name.to_string(), key.to_string());
        let value = value.map(str::to_string);
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            if !channel_exists(&tx, &name).await? {
                return Ok(false);
            }
            match value {
                Some(v) => {
                    tx.execute(
                        "INSERT INTO channel_settings (channel, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value",
                        &[&name, &key, &v],
                    )
                    .await
                }
                None => {
                    tx.execute(
                        "DELETE FROM channel_settings WHERE channel = $1 AND key = $2",
                        &[&name, &key],
                    )
                    .await
                }
            }
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
    }

    fn purge_channel(&self, purge: &PurgedChannel) -> Result<()> {
        let (pool, p) = (self.pool(), purge.clone());
        self.block(async move {
            let mut c = conn(&pool).await?;
            let tx = c.transaction().await.map_err(backend)?;
            tx.execute("DELETE FROM channels WHERE name = $1", &[&p.name])
                .await
                .map_err(backend)?;
            tx.execute(
                "INSERT INTO purged_channels (name, display, by, reason, at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                &[&p.name, &p.display, &p.by, &p.reason, &p.at_ms],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)
        })
    }

    fn unpurge_channel(&self, name: &str) -> Result<bool> {
        Ok(self.channel_exec("DELETE FROM purged_channels WHERE name = $1", name, vec![])? > 0)
    }

    fn purged_channels(&self) -> Result<Vec<PurgedChannel>> {
        let pool = self.pool();
        self.block(async move {
            let rows = conn(&pool)
                .await?
                .query(
                    "SELECT name, display, by, reason, at_ms FROM purged_channels \
                     ORDER BY name COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| PurgedChannel {
                    name: r.get(0),
                    display: r.get(1),
                    by: r.get(2),
                    reason: r.get(3),
                    at_ms: r.get(4),
                })
                .collect())
        })
    }
}
