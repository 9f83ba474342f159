//! What the scenario reports.

use super::*;

/// What `presence` measured (the report's `presence` field).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Presence {
    pub accounts: u64,
    pub friends: u64,
    /// Accounts that stay online and watch (even-numbered).
    pub stayers: u64,
    /// Accounts that log in and out (odd-numbered).
    pub churners: u64,
    /// Stayers watching each churner (the 730s owed per login).
    pub watchers_per_login: f64,
    pub sasl: String,
    pub logins: Logins,
    /// 730 RPL_MONONLINE owed to stayers: one per login per stayer watching.
    pub online: Notices,
    /// 731 RPL_MONOFFLINE owed to stayers: one per QUIT per stayer watching.
    pub offline: Notices,
    /// 730/731 that stayers got for no login or QUIT of this run.
    pub unexpected: u64,
    /// 730/731 that churners got: their friends' state at login, and
    /// notifications while they were online (not judged).
    pub churner_lines: u64,
    /// (online + offline received) / (first login → last receipt).
    pub notifications_per_s: f64,
    /// Stayers lost during the run, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Error numerics (4xx/5xx) and FAILs received, by numeric.
    pub server_errors: BTreeMap<String, u64>,
    pub generator: Gen,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<PresenceServer>,
    pub pass: bool,
    pub failed_because: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Logins {
    /// Logins offered per second.
    pub rate: f64,
    pub duration_s: f64,
    /// Seconds a churner stays logged in.
    pub session_s: f64,
    /// Logins the timetable called for.
    pub due: u64,
    /// Not started: that churner was still online or leaving.
    pub skipped_busy: u64,
    pub started: u64,
    /// Reached 001.
    pub ok: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    pub quits: u64,
    pub per_s: f64,
    /// Due time → 903 (connect, CAP, SASL).
    pub sasl_latency_us: Percentiles,
    /// Due time → 001.
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Notices {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// Login (903 / CAP END) or QUIT → receipt by a stayer.
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Gen {
    pub cpu_s: f64,
    pub cpu_sys_s: f64,
    /// CPU / wall time (1.0 = its core saturated).
    pub cpu_util: f64,
    /// Per tick, how late the timetable ran, microseconds.
    pub lag_us: Percentiles,
}

impl Gen {
    /// The generator's CPU over `wall` seconds and its timetable lag.
    pub(crate) fn measured(cpu: crate::stats::Cpu, wall: f64, lag: &crate::stats::Hist) -> Gen {
        Gen {
            cpu_s: round3(cpu.total()),
            cpu_sys_s: round3(cpu.sys_s),
            cpu_util: if wall > 0.0 {
                round3(cpu.total() / wall)
            } else {
                0.0
            },
            lag_us: lag.percentiles(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PresenceServer {
    pub cpu_s: f64,
    pub cpu_sys_s: f64,
    /// All of the server's CPU in the run, per login.
    pub cpu_us_per_login: Option<f64>,
    /// All of the server's CPU in the run, per 730/731 received by anyone.
    pub cpu_us_per_notification: Option<f64>,
    pub rss_bytes: u64,
}
