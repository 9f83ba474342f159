//! Measurements: latency histograms that travel between processes, the
//! generator's own CPU (getrusage) and a server's RSS and CPU (/proc).

use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest value a histogram holds: one hour in microseconds.
const HIGH_US: u64 = 3_600_000_000;

/// A histogram as it crosses a pipe: `(value, count)` for every bucket
/// that has a count.
pub(crate) type HistData = Vec<(u64, u64)>;

/// Microseconds, 3 significant digits, 1 µs to 1 h.
#[derive(Clone, Debug)]
pub(crate) struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(1, HIGH_US, 3).expect("valid histogram bounds"))
    }
}

impl Hist {
    pub(crate) fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, HIGH_US));
    }

    pub(crate) fn record_duration(&mut self, d: Duration) {
        self.record(d.as_micros().min(u128::from(HIGH_US)) as u64);
    }

    pub(crate) fn merge(&mut self, other: &Hist) {
        self.0
            .add(&other.0)
            .expect("histograms with the same bounds add");
    }

    pub(crate) fn data(&self) -> HistData {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    pub(crate) fn from_data(data: &[(u64, u64)]) -> Hist {
        let mut h = Hist::default();
        for &(v, n) in data {
            // Saturating: a worker may send anything; never panic on it.
            let _ = h.0.record_n(v.clamp(1, HIGH_US), n);
        }
        h
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    pub(crate) fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let q = |q| self.0.value_at_quantile(q);
        Percentiles {
            count: self.0.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: self.0.max(),
            mean: (self.0.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Summary of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// CPU time used, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cpu {
    pub user_s: f64,
    pub sys_s: f64,
}

/// Whose CPU a worker reports: its whole process, or only its thread when
/// it runs inside the coordinator's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuScope {
    Process,
    Thread,
}

impl Cpu {
    pub(crate) fn now(scope: CpuScope) -> Cpu {
        use nix::sys::resource::{getrusage, UsageWho};
        let who = match scope {
            CpuScope::Process => UsageWho::RUSAGE_SELF,
            CpuScope::Thread => UsageWho::RUSAGE_THREAD,
        };
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        match getrusage(who) {
            Ok(u) => Cpu {
                user_s: secs(u.user_time()),
                sys_s: secs(u.system_time()),
            },
            Err(_) => Cpu::default(),
        }
    }

    pub(crate) fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
        }
    }

    pub(crate) fn total(self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// A server process as /proc shows it at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcSample {
    pub rss_bytes: u64,
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// System (kernel) CPU seconds alone.
    pub sys_s: f64,
}

pub(crate) fn proc_sample(pid: u32) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat (is --server-pid right?)"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let ticks = clock_ticks();
    let (user_s, sys_s) = parse_stat_cpu(&stat, ticks).context("unexpected /proc/PID/stat")?;
    Ok(ProcSample {
        rss_bytes: parse_vmrss(&status).context("no VmRSS in /proc/PID/status")?,
        cpu_s: user_s + sys_s,
        sys_s,
    })
}

/// Whether process `pid` holds a socket listening on `addr`'s port; `None`
/// when that cannot be told (no such listener in this network namespace,
/// or the process's file descriptors are not ours to read).
pub(crate) fn holds_listener(pid: u32, addr: std::net::SocketAddr) -> Option<bool> {
    let table = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).ok()?;
    let port = format!(":{:04X}", addr.port());
    // sl local_address rem_address st ... inode: st 0A is LISTEN.
    let inodes: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 9 && f[3] == "0A" && f[1].ends_with(&port))
                .then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let held = fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|link| inodes.iter().any(|i| link.as_os_str() == i.as_str()))
    });
    Some(held)
}

fn clock_ticks() -> f64 {
    use nix::unistd::{sysconf, SysconfVar};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// (utime, stime) (fields 14 and 15) in seconds. The command name (field
/// 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat_cpu(stat: &str, ticks: f64) -> Option<(f64, f64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime as f64 / ticks, stime as f64 / ticks))
}

pub(crate) fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Rounded to three decimals, as the reports show seconds and ratios.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `n` per second over `secs` (0 when no time passed), rounded.
pub(crate) fn per_s(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs).round()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histograms_equal_one_fed_everything() {
        let mut a = Hist::default();
        let mut b = Hist::default();
        let mut all = Hist::default();
        for v in 1..=5000u64 {
            let us = v * 37 % 20_000 + 1;
            if v % 3 == 0 {
                a.record(us)
            } else {
                b.record(us)
            }
            all.record(us);
        }
        b.record(2_000_000);
        all.record(2_000_000);
        let mut merged = Hist::default();
        merged.merge(&Hist::from_data(&a.data()));
        merged.merge(&Hist::from_data(&b.data()));
        assert_eq!(merged.count(), 5001);
        assert_eq!(merged.percentiles(), all.percentiles());
        assert!(merged.percentiles().max >= 2_000_000);
    }

    #[test]
    fn round_trip_keeps_percentiles() {
        let mut h = Hist::default();
        for us in [5, 50, 500, 5000, 50_000, 500_000] {
            h.record(us);
        }
        let data = h.data();
        assert_eq!(data.len(), 6);
        assert_eq!(Hist::from_data(&data).percentiles(), h.percentiles());
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        assert_eq!(Hist::default().percentiles(), Percentiles::default());
    }

    #[test]
    fn out_of_range_values_saturate() {
        let mut h = Hist::default();
        h.record(0);
        h.record(u64::MAX);
        let p = h.percentiles();
        assert_eq!(p.count, 2);
        assert!(p.max >= HIGH_US);
        let _ = Hist::from_data(&[(u64::MAX, 3), (0, 1)]);
    }

    #[test]
    fn parses_proc_stat_with_odd_command_names() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let stat = "1234 (ferry (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3";
        assert_eq!(parse_stat_cpu(stat, 100.0), Some((2.5, 0.5)));
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tferry\nVmPeak:\t  9000 kB\nVmRSS:\t    4096 kB\nThreads:\t3\n";
        assert_eq!(parse_vmrss(status), Some(4096 * 1024));
    }

    #[test]
    fn finds_who_holds_a_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        assert_eq!(holds_listener(std::process::id(), addr), Some(true));
        // A process that does not hold it (or whose fds we cannot read).
        assert_ne!(holds_listener(1, addr), Some(true));
        drop(l);
        assert_eq!(holds_listener(std::process::id(), addr), None);
    }

    #[test]
    fn reads_our_own_process() {
        let s = proc_sample(std::process::id()).expect("our own /proc entry");
        assert!(s.rss_bytes > 0);
        assert!(Cpu::now(CpuScope::Process).total() >= 0.0);
    }
}
