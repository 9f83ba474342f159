//! What the scenario reports.

use super::*;

/// What `offline` measured (the report's `offline` field).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Offline {
    pub senders: u64,
    pub recipients: u64,
    /// Messages a sender writes to one recipient before the next.
    pub burst: u64,
    pub sasl: String,
    pub send: OfflineSend,
    pub delivery: OfflineDelivery,
    pub pass: bool,
    pub failed_because: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OfflineSend {
    /// Messages offered per second.
    pub rate: f64,
    pub duration_s: f64,
    pub sent: u64,
    /// Due but not sent (sender gone, or 16 MiB unwritten).
    pub unsent: u64,
    /// Echoed: committed by the server's store.
    pub acked: u64,
    /// Refused (FAIL PRIVMSG …, 401), by code.
    pub failed: u64,
    pub fails: BTreeMap<String, u64>,
    /// Neither echoed nor refused when the drain ended.
    pub unanswered: u64,
    /// Echoes that came after the drain ended (not counted as acked).
    pub late_acks: u64,
    /// 301 "is offline; your messages will be delivered…" notices.
    pub offline_notices: u64,
    /// acked / (first send → last echo).
    pub acked_per_s: f64,
    pub seconds: f64,
    /// Due time → echo.
    pub ack_latency_us: Percentiles,
    pub disconnects: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    pub generator: Gen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<OfflineServer>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OfflineDelivery {
    /// Recipients logging in per second.
    pub login_rate: f64,
    pub logins_ok: u64,
    pub logins_failed: u64,
    pub login_failures: BTreeMap<String, u64>,
    /// Due time → 001.
    pub login_latency_us: Percentiles,
    /// Acknowledged messages, all of which must be delivered.
    pub expected: u64,
    /// Bench messages received at login.
    pub delivered: u64,
    pub delivered_acked: u64,
    /// Acknowledged and never delivered.
    pub missing: u64,
    pub duplicates: u64,
    /// Among the stored messages (the login's batch), a sender's message
    /// before one it sent earlier.
    pub out_of_order: u64,
    /// Messages not yet committed when the drain ended that reached the
    /// recipient live, before its backlog (so ahead of older ones).
    pub live_before_backlog: u64,
    pub wrong_recipient: u64,
    /// Stored though not acknowledged when the drain ended (allowed).
    pub delivered_unacked: u64,
    /// Recipients whose waiting messages all arrived (batch closed).
    pub recipients_complete: u64,
    /// Per recipient with messages: login (903) → its last message.
    pub per_recipient_us: Percentiles,
    /// delivered / (first login due → last message).
    pub delivered_per_s: f64,
    pub seconds: f64,
    pub disconnects: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<OfflineServer>,
    pub all_delivered: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OfflineServer {
    pub cpu_s: f64,
    pub cpu_sys_s: f64,
    /// Per acknowledged message (send) or per delivered message (delivery).
    pub cpu_us_per_message: Option<f64>,
    pub rss_bytes: u64,
}
