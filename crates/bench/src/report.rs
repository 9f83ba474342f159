//! What a run prints: one JSON line (`Report`), and on a terminal a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

pub use crate::stats::Percentiles;

/// The result of one `ferry bench` run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `idle`, `dm`, `fanout`, `presence` or `offline`.
    pub scenario: &'static str,
    pub target: String,
    pub version: &'static str,
    /// The scenario's options as given.
    pub params: serde_json::Value,
    pub workers: usize,
    pub setup: Setup,
    /// idle: the hold after everyone registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// idle with --server-pid: the server's memory and CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerIdle>,
    /// dm, fanout: the step at --rate, or with --max the best passing step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<MaxResult>,
    /// presence: logins, and the 730/731 friends were sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<crate::presence::Presence>,
    /// offline: acknowledged commits, then delivery at login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<crate::offline::Offline>,
    pub limits: Limits,
}

/// Connecting and registering every client.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Setup {
    pub planned: u64,
    /// Saw 001.
    pub registered: u64,
    /// Registered, and joined where the scenario needs a channel.
    pub ready: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    pub nick_retries: u64,
    /// First connect to the last client ready (slowest worker).
    pub seconds: f64,
    pub registrations_per_s: f64,
    /// Connect to 001, microseconds.
    pub connect_latency_us: Percentiles,
    /// Most the connect timetable fell behind, in any worker.
    pub connect_lag_s: f64,
    pub generator_cpu_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Hold {
    pub seconds: f64,
    pub alive_at_end: u64,
    pub disconnects: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    pub generator_cpu_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerIdle {
    pub pid: u32,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    /// (RSS after the hold − RSS before connecting) / clients registered.
    pub bytes_per_client: Option<f64>,
    pub cpu_connect_s: f64,
    /// The system (kernel) part of cpu_connect_s.
    pub cpu_connect_sys_s: f64,
    pub cpu_us_per_registration: Option<f64>,
    /// CPU while every client sat idle.
    pub cpu_hold_s: f64,
}

/// One fixed-rate run of dm or fanout.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Step {
    /// Offered messages per second (channel messages for fanout).
    pub rate: f64,
    pub duration_s: f64,
    pub sent: u64,
    /// Deliveries owed: sent, times M−1 for fanout.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    /// Deliveries of an earlier step that arrived during this one.
    pub late: u64,
    /// Due but not sent: the sender was gone, or 16 MiB were unwritten.
    pub unsent: u64,
    pub reconnected: u64,
    pub disconnects: BTreeMap<String, u64>,
    pub server_errors: BTreeMap<String, u64>,
    /// Deliveries per second, first send to last receipt.
    pub delivered_per_s: f64,
    /// Due time (timetable) to receipt, microseconds.
    pub latency_us: Percentiles,
    pub generator: Generator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStep>,
    pub pass: bool,
    pub failed_because: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Generator {
    /// User + system CPU of all workers over the step.
    pub cpu_s: f64,
    /// The system (kernel) part of cpu_s.
    pub cpu_sys_s: f64,
    /// CPU / wall time of the busiest worker (1.0 = one core saturated).
    pub cpu_util_max: f64,
    /// Per tick, how late the scheduler was, microseconds.
    pub lag_us: Percentiles,
    /// Per write of bench lines, how long the oldest of them was held to
    /// share the write (the generator holds only while it is busy; see
    /// the engine), microseconds.
    pub hold_us: Percentiles,
    pub behind_schedule: bool,
    pub saturated: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStep {
    pub cpu_s: f64,
    /// The system (kernel) part of cpu_s.
    pub cpu_sys_s: f64,
    pub cpu_us_per_delivery: Option<f64>,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MaxResult {
    /// The highest rate that passed, messages per second.
    pub best_rate: Option<f64>,
    /// Why the next rate up failed.
    pub stopped_by: String,
    pub p99_limit_ms: f64,
    pub max_lag_ms: f64,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Limits {
    /// RLIMIT_NOFILE of each process (its hard limit).
    pub open_files_per_process: u64,
    pub clients_per_process_max: u64,
    pub source_addresses: u64,
    /// What bounded this run, in words.
    pub limited_by: String,
}

/// Pass criteria of a step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Criteria {
    pub p99_limit_us: u64,
    pub max_lag_us: u64,
}

/// Why a step fails; empty when it passes.
pub(crate) fn verdict(s: &Step, c: Criteria) -> Vec<String> {
    let mut why = Vec::new();
    if s.lost > 0 {
        why.push(format!("loss: {} of {}", s.lost, s.expected));
    }
    let disconnects: u64 = s.disconnects.values().sum();
    if disconnects > 0 {
        why.push(format!("disconnects: {disconnects}"));
    }
    if s.unsent > 0 {
        why.push(format!("unsent: {}", s.unsent));
    }
    if s.latency_us.p99 > c.p99_limit_us {
        why.push(format!(
            "p99 {:.1} ms > {:.1} ms",
            s.latency_us.p99 as f64 / 1000.0,
            c.p99_limit_us as f64 / 1000.0
        ));
    }
    if s.generator.lag_us.p99 > c.max_lag_us {
        why.push(format!(
            "generator behind schedule (lag p99 {:.1} ms)",
            s.generator.lag_us.p99 as f64 / 1000.0
        ));
    }
    why
}

/// A readable rendering for a terminal.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ferry bench {} → {}  (workers: {})",
        r.scenario, r.target, r.workers
    );
    let mut flat = Vec::new();
    let mut v = serde_json::to_value(r).unwrap_or_default();
    let steps = v
        .get_mut("max")
        .and_then(|m| m.get_mut("steps"))
        .map(serde_json::Value::take);
    for key in ["scenario", "target", "version", "workers", "params"] {
        if let Some(o) = v.as_object_mut() {
            o.shift_remove(key);
        }
    }
    let params: Vec<String> = match serde_json::to_value(&r.params) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
            .collect(),
        _ => Vec::new(),
    };
    let _ = writeln!(out, "  {}", params.join(" "));
    flatten("", &v, &mut flat);
    let width = flat.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, val) in flat {
        let _ = writeln!(out, "  {k:<width$}  {val}");
    }
    if let Some(serde_json::Value::Array(steps)) = steps {
        let _ = writeln!(
            out,
            "\n  {:>10}  {:>4}  {:>9}  {:>9}  {:>9}  {:>8}  {:>7}  verdict",
            "rate/s", "pass", "p50 ms", "p99 ms", "max ms", "lost", "gen cpu"
        );
        for s in &steps {
            let ms = |k: &str| s["latency_us"][k].as_f64().unwrap_or(0.0) / 1000.0;
            let why: Vec<&str> = s["failed_because"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>10.0}  {:>4}  {:>9.2}  {:>9.2}  {:>9.2}  {:>8}  {:>7.2}  {}",
                s["rate"].as_f64().unwrap_or(0.0),
                if s["pass"].as_bool().unwrap_or(false) {
                    "yes"
                } else {
                    "no"
                },
                ms("p50"),
                ms("p99"),
                ms("max"),
                s["lost"],
                s["generator"]["cpu_util_max"].as_f64().unwrap_or(0.0),
                why.join("; ")
            );
        }
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.is_empty() && !prefix.is_empty() {
                out.push((prefix.to_string(), "-".into()));
            }
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Array(a) if a.is_empty() => out.push((prefix.to_string(), "-".into())),
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|x| x.to_string().trim_matches('"').to_string())
                .collect();
            out.push((prefix.to_string(), items.join("; ")));
        }
        serde_json::Value::Number(n) => {
            let s = match n.as_f64() {
                Some(f) if n.is_f64() => format!("{f:.3}"),
                _ => n.to_string(),
            };
            out.push((prefix.to_string(), s));
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        Step {
            rate: 1000.0,
            duration_s: 1.0,
            sent: 1000,
            expected: 1000,
            received: 1000,
            latency_us: Percentiles {
                count: 1000,
                p50: 200,
                p90: 300,
                p99: 900,
                p999: 2000,
                max: 3000,
                mean: 250.0,
            },
            generator: Generator {
                lag_us: Percentiles {
                    p99: 1100,
                    ..Default::default()
                },
                ..Default::default()
            },
            pass: true,
            ..Default::default()
        }
    }

    fn criteria() -> Criteria {
        Criteria {
            p99_limit_us: 100_000,
            max_lag_us: 10_000,
        }
    }

    #[test]
    fn a_clean_step_passes() {
        assert!(verdict(&step(), criteria()).is_empty());
    }

    #[test]
    fn each_criterion_fails_a_step() {
        let mut s = step();
        s.lost = 3;
        s.unsent = 1;
        s.disconnects.insert("closed by the server".into(), 2);
        s.latency_us.p99 = 150_000;
        s.generator.lag_us.p99 = 20_000;
        let why = verdict(&s, criteria());
        assert_eq!(why.len(), 5, "{why:?}");
        assert_eq!(why[0], "loss: 3 of 1000");
        assert!(why[3].starts_with("p99 150.0 ms"));
        assert!(why[4].starts_with("generator behind schedule"));
    }

    fn report() -> Report {
        Report {
            scenario: "dm",
            target: "127.0.0.1:6667".into(),
            version: "0.1.0",
            params: serde_json::json!({"pairs": 10, "rate": 1000.0}),
            workers: 1,
            setup: Setup {
                planned: 20,
                registered: 20,
                ready: 20,
                ..Default::default()
            },
            hold: None,
            server: None,
            result: Some(step()),
            max: Some(MaxResult {
                best_rate: Some(1000.0),
                steps: vec![step(), step()],
                ..Default::default()
            }),
            presence: None,
            offline: None,
            limits: Limits {
                open_files_per_process: 20_000,
                limited_by: "none".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&report()).expect("serialise"))
                .expect("json");
        for path in [
            "/scenario",
            "/params/pairs",
            "/setup/registered",
            "/setup/connect_latency_us/p99",
            "/result/latency_us/p50",
            "/result/latency_us/p999",
            "/result/latency_us/max",
            "/result/lost",
            "/result/generator/cpu_s",
            "/result/generator/lag_us/p99",
            "/max/best_rate",
            "/max/steps/1/pass",
            "/limits/limited_by",
        ] {
            assert!(v.pointer(path).is_some(), "missing {path} in {v}");
        }
        // Absent parts are left out, not null.
        assert!(v.get("hold").is_none() && v.get("server").is_none());
        // One line.
        assert!(!serde_json::to_string(&report())
            .expect("serialise")
            .contains('\n'));
    }

    #[test]
    fn table_shows_fields_and_steps() {
        let t = table(&report());
        assert!(t.contains("setup.registered"), "{t}");
        assert!(t.contains("result.latency_us.p99"), "{t}");
        assert!(t.contains("rate/s"), "{t}");
        assert_eq!(t.lines().filter(|l| l.contains(" yes ")).count(), 2, "{t}");
    }
}
