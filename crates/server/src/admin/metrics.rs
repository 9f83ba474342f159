//! `/metrics`: the server's counters in Prometheus' text format (0.0.4),
//! through prometheus-client. Nothing here is counted for the metrics'
//! sake on the message path: a scrape reads the atomics the server keeps
//! for STATS (and the striped relay counters, `stats.rs`), and sums what
//! it needs over the registry. The one metric with state of its own is
//! the store's commit-time histogram, fed by the store's writer thread.
//!
//! Names and units follow Prometheus' conventions (`_total` counters,
//! `_bytes`, `_seconds`); no label names a user or a channel.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::App;
use crate::stats::{Login, Relayed};
use crate::Server;

/// The registry `/metrics` encodes, and the histogram the store feeds.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) commit_seconds: Histogram,
}

impl Metrics {
    /// The registry with the store's histogram; [`Metrics::collect`] adds
    /// the server's counters once the server exists.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        // 0.25 ms .. 2 s: a group commit is a write and an fsync.
        let commit_seconds = Histogram::new(exponential_buckets(0.00025, 2.0, 14));
        registry.register(
            "ferry_store_commit_seconds",
            "Time each group commit of the store took (its COMMIT: pages written and, when durable, fsync)",
            commit_seconds.clone(),
        );
        Metrics {
            registry,
            commit_seconds,
        }
    }

    /// Reads `server`'s counters at every scrape from now on.
    pub(crate) fn collect(&mut self, server: &Arc<Server>) {
        self.registry.register_collector(Box::new(Counters {
            server: server.clone(),
        }));
    }

    /// The exposition text.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# encoding failed");
        }
        out
    }
}

pub(super) async fn scrape(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// Reads the server's own counters at each scrape.
struct Counters {
    server: Arc<Server>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counters")
    }
}

type Enc<'a> = DescriptorEncoder<'a>;

fn counter(e: &mut Enc<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut Enc<'_>, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// One metric with a value per label set.
fn counters<L: prometheus_client::encoding::EncodeLabelSet>(
    e: &mut Enc<'_>,
    name: &str,
    help: &str,
    values: &[(L, u64)],
) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (labels, v) in values {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauges<L: prometheus_client::encoding::EncodeLabelSet>(
    e: &mut Enc<'_>,
    name: &str,
    help: &str,
    values: &[(L, i64)],
) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
    for (labels, v) in values {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn n(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Counters {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.server;
        let st = &s.stats;
        let relaxed = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let e = &mut e;
        gauges(
            e,
            "ferry_build_info",
            "This server's version and name (always 1)",
            &[(
                [("version", crate::VERSION), ("server", s.name.as_str())],
                1,
            )],
        )?;
        gauge(
            e,
            "ferry_start_time_seconds",
            "When this server started, in seconds since the Unix epoch",
            s.clock.unix_secs() as i64 - s.uptime_secs() as i64,
        )?;
        let users = s.users.load(Ordering::Relaxed);
        gauge(e, "ferry_clients", "Registered clients connected", n(users))?;
        gauge(
            e,
            "ferry_clients_unregistered",
            "Connections that have not finished registering",
            n(s.registry.client_count().saturating_sub(users)),
        )?;
        gauge(
            e,
            "ferry_clients_parked",
            "Idle connections parked off the runtime",
            n(st.parked.load(Ordering::Relaxed)),
        )?;
        gauge(
            e,
            "ferry_operators",
            "IRC operators connected",
            n(s.opers.load(Ordering::Relaxed)),
        )?;
        gauge(
            e,
            "ferry_channels",
            "Channels that exist now",
            n(s.registry.channel_count()),
        )?;
        let listeners = s.listeners.lock().expect("listeners lock").clone();
        let names: Vec<String> = listeners.iter().map(|l| l.address.to_string()).collect();
        gauges(
            e,
            "ferry_connections",
            "Connections open now, per listener",
            &listeners
                .iter()
                .zip(&names)
                .map(|(l, a)| {
                    (
                        [("listener", a.as_str())],
                        n(l.open.load(Ordering::Relaxed)),
                    )
                })
                .collect::<Vec<_>>(),
        )?;
        counters(
            e,
            "ferry_connections_accepted",
            "Connections accepted, per listener",
            &listeners
                .iter()
                .zip(&names)
                .map(|(l, a)| ([("listener", a.as_str())], relaxed(&l.accepted)))
                .collect::<Vec<_>>(),
        )?;
        counter(
            e,
            "ferry_connections_refused",
            "Connections refused (connection limits, D-lines)",
            relaxed(&st.refused),
        )?;
        let relayed: Vec<_> = Relayed::all()
            .map(|k| {
                let target = if k.channel { "channel" } else { "user" };
                (
                    [
                        ("kind", Relayed::VERBS[usize::from(k.verb)]),
                        ("target", target),
                    ],
                    st.relayed_count(k),
                )
            })
            .collect();
        counters(
            e,
            "ferry_messages_relayed",
            "Messages relayed to a user or a channel (PRIVMSG, NOTICE, TAGMSG; one per target)",
            &relayed,
        )?;
        counter(
            e,
            "ferry_deliveries",
            "Lines queued for clients other than their sender (each member a channel message reaches)",
            s.budget.deliveries.get(),
        )?;
        counter(
            e,
            "ferry_offline_stored",
            "Messages stored for offline accounts",
            relaxed(&st.offline_stored),
        )?;
        gauge(
            e,
            "ferry_sendq_bytes",
            "Bytes waiting in all clients' send queues",
            n(s.budget.queued()),
        )?;
        gauge(
            e,
            "ferry_sendq_limit_bytes",
            "The memory budget all send queues share (limits.sendq_total_bytes)",
            n(s.config().limits.sendq_total_bytes),
        )?;
        counters(
            e,
            "ferry_sendq_shed",
            "Clients disconnected for a full send queue (sendq) or to keep the memory budget (budget)",
            &[
                ([("reason", "sendq")], relaxed(&st.sendq_exceeded)),
                ([("reason", "budget")], relaxed(&st.budget_shed)),
            ],
        )?;
        counter(
            e,
            "ferry_excess_flood",
            "Clients disconnected for flooding",
            relaxed(&st.excess_flood),
        )?;
        counter(
            e,
            "ferry_target_change_refused",
            "Messages refused by the target-change limit",
            relaxed(&st.target_change_refused),
        )?;
        counter(
            e,
            "ferry_received_bytes",
            "Bytes read from clients",
            relaxed(&st.bytes_in),
        )?;
        counter(
            e,
            "ferry_sent_bytes",
            "Bytes written to clients",
            relaxed(&st.bytes_out),
        )?;
        counter(
            e,
            "ferry_received_lines",
            "Lines read from clients",
            relaxed(&st.lines_in),
        )?;
        let (rows, dropped) = s.history.counts();
        counter(e, "ferry_history_rows", "Messages handed to history", rows)?;
        counter(
            e,
            "ferry_history_rows_dropped",
            "History rows dropped because the history writer fell behind",
            dropped,
        )?;
        counter(
            e,
            "ferry_registrations",
            "Accounts created (REGISTER, NickServ REGISTER, the admin API)",
            relaxed(&st.registrations),
        )?;
        counters(
            e,
            "ferry_logins",
            "Logins (SASL, NickServ IDENTIFY) by result",
            &Login::NAMES
                .iter()
                .enumerate()
                .map(|(i, r)| ([("result", *r)], relaxed(&st.logins[i])))
                .collect::<Vec<_>>(),
        )?;
        Ok(())
    }
}
