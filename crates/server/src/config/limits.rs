//! `[limits]`: lengths, queue sizes, timers, list sizes and connection
//! limits.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawLimits {
    nick_length: usize,
    channel_length: usize,
    topic_length: usize,
    away_length: usize,
    kick_length: usize,
    realname_length: usize,
    sendq_bytes: usize,
    sendq_total_bytes: usize,
    registration_timeout_secs: u64,
    ping_interval_secs: u64,
    ping_timeout_secs: u64,
    park_after_secs: u64,
    max_targets: usize,
    channels_per_user: usize,
    channel_members: usize,
    list_entries: usize,
    monitor_entries: usize,
    accept_entries: usize,
    silence_entries: usize,
    whowas_entries: usize,
    max_clients: usize,
    clients_per_ip: usize,
    clients_per_cidr: usize,
    connections_per_second: u32,
    connection_window_ms: u64,
    exempt: Vec<String>,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            nick_length: 32,
            channel_length: 64,
            topic_length: 390,
            away_length: 390,
            kick_length: 390,
            realname_length: 150,
            sendq_bytes: 256 * 1024,
            sendq_total_bytes: 1 << 30,
            registration_timeout_secs: 30,
            ping_interval_secs: 120,
            ping_timeout_secs: 240,
            park_after_secs: 2,
            max_targets: 4,
            channels_per_user: 100,
            channel_members: 100_000,
            list_entries: 100,
            monitor_entries: 100,
            accept_entries: 200,
            silence_entries: 100,
            whowas_entries: 1000,
            max_clients: 1_000_000,
            clients_per_ip: 10,
            clients_per_cidr: 50,
            connections_per_second: 5,
            connection_window_ms: 1000,
            exempt: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub nick_length: usize,
    pub channel_length: usize,
    pub topic_length: usize,
    pub away_length: usize,
    pub kick_length: usize,
    pub realname_length: usize,
    pub sendq_bytes: usize,
    /// Memory budget for all send queues together (0: none): over it the
    /// clients with the largest queues are disconnected first.
    pub sendq_total_bytes: usize,
    pub registration_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// A registered client idle this long leaves the runtime until its
    /// next line or message (`park.rs`); zero: never.
    pub park_after: Duration,
    pub max_targets: usize,
    pub channels_per_user: usize,
    /// Members one channel may have (the server's cap beside +l).
    pub channel_members: usize,
    pub list_entries: usize,
    pub monitor_entries: usize,
    pub accept_entries: usize,
    pub silence_entries: usize,
    pub whowas_entries: usize,
    /// Connections the server takes in all.
    pub max_clients: usize,
    pub clients_per_ip: usize,
    /// Per /24 (IPv4) or /64 (IPv6).
    pub clients_per_cidr: usize,
    /// New connections per IP per `connection_window` (a second).
    pub connections_per_second: u32,
    /// The window `connections_per_second` counts in (tests shorten it).
    pub connection_window: Duration,
    /// Networks exempt from the per-IP limits and from flood control.
    pub exempt: Vec<ipnet::IpNet>,
}

pub(super) fn validate(l: RawLimits, src: &Source<'_>) -> Result<Limits, ConfigError> {
    if l.nick_length < 9 || l.nick_length > 200 {
        return Err(src.invalid("limits.nick_length", "must be between 9 and 200".into()));
    }
    if l.channel_length < 2 || l.channel_length > 200 {
        return Err(src.invalid("limits.channel_length", "must be between 2 and 200".into()));
    }
    if l.sendq_bytes < 4096 {
        return Err(src.invalid("limits.sendq_bytes", "must be at least 4096".into()));
    }
    if l.max_targets == 0 {
        return Err(src.invalid("limits.max_targets", "must be at least 1".into()));
    }
    if l.ping_interval_secs == 0 || l.ping_timeout_secs <= l.ping_interval_secs {
        return Err(src.invalid(
            "limits.ping_timeout_secs",
            "must be longer than limits.ping_interval_secs (and both above 0)".into(),
        ));
    }
    if l.connection_window_ms == 0 || l.connection_window_ms > 60_000 {
        return Err(src.invalid(
            "limits.connection_window_ms",
            "must be between 1 and 60000".into(),
        ));
    }
    let exempt = l
        .exempt
        .iter()
        .map(|e| {
            e.parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    src.invalid(
                        "limits.exempt",
                        format!("{e:?} is not an address or CIDR network"),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(Limits {
        nick_length: l.nick_length,
        channel_length: l.channel_length,
        topic_length: l.topic_length,
        away_length: l.away_length,
        kick_length: l.kick_length,
        realname_length: l.realname_length,
        sendq_bytes: l.sendq_bytes,
        sendq_total_bytes: l.sendq_total_bytes,
        registration_timeout: Duration::from_secs(l.registration_timeout_secs.max(1)),
        ping_interval: Duration::from_secs(l.ping_interval_secs),
        ping_timeout: Duration::from_secs(l.ping_timeout_secs),
        park_after: Duration::from_secs(l.park_after_secs),
        max_targets: l.max_targets,
        channels_per_user: l.channels_per_user,
        channel_members: l.channel_members.max(1),
        list_entries: l.list_entries,
        monitor_entries: l.monitor_entries,
        accept_entries: l.accept_entries,
        silence_entries: l.silence_entries,
        whowas_entries: l.whowas_entries,
        max_clients: l.max_clients,
        clients_per_ip: l.clients_per_ip,
        clients_per_cidr: l.clients_per_cidr,
        connections_per_second: l.connections_per_second,
        connection_window: Duration::from_millis(l.connection_window_ms),
        exempt,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn errors_name_key_and_line() {
        let e = Config::parse("[limits]\nnick_length = 3\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.toml:2: `limits.nick_length`"), "{e}");
    }

    #[test]
    fn connection_window_is_bounded() {
        let c = Config::parse("", "f.toml").unwrap();
        assert_eq!(c.limits.connection_window.as_millis(), 1000);
        for bad in ["0", "60001"] {
            let e = Config::parse(
                &format!("[limits]\nconnection_window_ms = {bad}\n"),
                "f.toml",
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with("f.toml:2: `limits.connection_window_ms`"),
                "{e}"
            );
        }
    }
}
