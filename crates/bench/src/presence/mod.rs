//! `ferry bench presence`: accounts with F friends logging in and out;
//! what it costs to tell their friends (MONITOR 730/731).
//!
//! N accounts on a ring; account i MONITORs the F accounts nearest it
//! (i±1, i±2, …, F/2 on each side), so friendship is mutual and every
//! account has F watchers. Even-numbered accounts (*stayers*) log in once
//! and stay: they are the watchers whose notifications are counted.
//! Odd-numbered accounts (*churners*) log in on an open-loop timetable
//! (`--rate` logins per second, round-robin), stay `--session` seconds,
//! and QUIT.
//!
//! A login is the moment 903 arrives and CAP END leaves (registration,
//! and so the server's 730s, follow CAP END); a logout is the moment QUIT
//! leaves. Each stayer watching the account is owed one 730 (one 731),
//! and its latency is that moment to its receipt — all on one clock.
//! Churners watch too (their 730s are delivered, and counted apart, not
//! judged: whether a churner is online at that instant is a race).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ferry_proto::Message;
use serde::Serialize;

use crate::accounts::{
    self, bump, login_step, monitor_lines, password, start_all, wait_until, Env, Handler, Hello,
    Phase, Sess, SetupCount, Step,
};
use crate::report::{Limits, Report, Setup};
use crate::schedule::Schedule;
use crate::stats::{per_s, round3};
use crate::stats::{proc_sample, Cpu, CpuScope, Hist, Percentiles};
use crate::PresenceArgs;

mod report;
mod state;

pub use report::*;
use state::*;

/// Runs `ferry bench presence`.
pub(crate) fn run(a: &PresenceArgs, target: std::net::SocketAddr, nofile: u64) -> Result<Report> {
    let c = &a.common;
    anyhow::ensure!(c.workers == 1, "presence runs in one process (--workers 1)");
    anyhow::ensure!(a.accounts >= 4, "--accounts must be at least 4");
    anyhow::ensure!(
        a.friends >= 2 && a.friends < a.accounts,
        "--friends must be between 2 and accounts − 1"
    );
    anyhow::ensure!(
        a.rate > 0.0 && a.duration > 0.0 && a.session >= 0.0,
        "--rate and --duration must be positive"
    );
    anyhow::ensure!(
        a.accounts + crate::coord::SPARE_FILES <= nofile,
        "{} accounts online at once need about {} open files; this process may open {nofile}",
        a.accounts,
        a.accounts + crate::coord::SPARE_FILES
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run_async(a, target, nofile))
}

async fn run_async(a: &PresenceArgs, target: std::net::SocketAddr, nofile: u64) -> Result<Report> {
    let c = &a.common;
    let n = a.accounts as usize;
    let env = Rc::new(Env::new(
        target,
        c,
        a.sasl,
        Duration::from_secs_f64(c.timeout),
    ));
    let sess: Vec<Rc<Sess>> = (0..n)
        .map(|i| Rc::new(Sess::new(i, i as u64, format!("{}{i}", c.nick_prefix))))
        .collect();
    let friends: Vec<Vec<usize>> = (0..n)
        .map(|i| ring_friends(i, n, a.friends as usize))
        .collect();
    let st = Rc::new(State {
        env: env.clone(),
        prefix: c.nick_prefix.clone(),
        sess,
        friends,
        session: Duration::from_secs_f64(a.session),
        setup: RefCell::default(),
        setup_closed: Cell::new(0),
        m: RefCell::default(),
        login_at: RefCell::new(vec![None; n]),
        quit_at: RefCell::new(vec![None; n]),
        quits_due: RefCell::default(),
    });
    let pid = c.server_pid;
    let handler: Rc<dyn Handler> = st.clone();

    // Setup: every account registered, its MONITOR list stored; stayers
    // stay online, churners leave.
    crate::coord::note(&format!("registering {n} accounts"));
    let gen0 = Cpu::now(CpuScope::Process);
    let all: Vec<usize> = (0..n).collect();
    let limit =
        Duration::from_secs_f64(n as f64 / a.register_rate.max(1.0) * 4.0 + c.timeout * 4.0 + 60.0);
    let seconds = {
        let st2 = st.clone();
        start_all(
            &st.sess,
            &all,
            a.register_rate,
            c.max_inflight.min(200),
            limit,
            |s| accounts::spawn(s, &env, handler.clone(), Hello::Plain),
            move || {
                let s = st2.setup.borrow();
                s.done + s.failed
            },
        )
        .await
    };
    let churners: Vec<usize> = (0..n).filter(|&i| !is_stayer(i)).collect();
    let leaving = churners.len() as u64;
    wait_until(Duration::from_secs_f64(c.timeout), || {
        st.setup_closed.get() >= leaving
    })
    .await;
    let setup = {
        let s = st.setup.borrow();
        let mut setup = Setup {
            planned: n as u64,
            registered: s.done,
            ready: s.done,
            failed: s.failed,
            failures: s.failures.clone(),
            seconds: round3(seconds),
            registrations_per_s: if seconds > 0.0 {
                (s.done as f64 / seconds).round()
            } else {
                0.0
            },
            connect_latency_us: s.latency.percentiles(),
            generator_cpu_s: round3(Cpu::now(CpuScope::Process).since(gen0).total()),
            ..Default::default()
        };
        setup.connect_lag_s = 0.0;
        setup
    };
    // Let the setup's own 731s arrive before anything counts.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The run.
    let stayers = (0..n).filter(|&i| is_stayer(i)).count() as u64;
    let watchers_per_login = churners
        .iter()
        .map(|&i| st.ready_stayer_watchers(i))
        .sum::<u64>() as f64
        / churners.len().max(1) as f64;
    crate::coord::note(&format!(
        "{} logins/s for {} s ({} stayers watching, {:.1} per login)",
        a.rate, a.duration, stayers, watchers_per_login
    ));
    st.m.borrow_mut().on = true;
    let srv0 = pid.map(proc_sample).transpose()?;
    let gen1 = Cpu::now(CpuScope::Process);
    let t0 = Instant::now();
    let sched = Schedule::for_duration(a.rate, Duration::from_secs_f64(a.duration));
    let mut lag = Hist::default();
    let mut skipped_busy = 0u64;
    let mut next = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let hard_end = t0 + Duration::from_secs_f64(a.duration + a.session + c.timeout * 2.0 + 10.0);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let el = now - t0;
        let due = sched.due_by(el);
        if next < due {
            lag.record_duration(el.saturating_sub(sched.due_at(next)));
        }
        while next < due {
            let i = churners[(next as usize) % churners.len()];
            let s = &st.sess[i];
            if s.phase() == Phase::Idle {
                s.due.set(t0 + sched.due_at(next));
                st.m.borrow_mut().logins_started += 1;
                accounts::spawn(s, &env, handler.clone(), Hello::Login("extended-monitor"));
            } else {
                skipped_busy += 1;
            }
            next += 1;
        }
        // Sessions whose time is up leave.
        loop {
            let top = st.quits_due.borrow().peek().map(|r| r.0);
            let Some((at, i)) = top else { break };
            if at > now {
                break;
            }
            st.quits_due.borrow_mut().pop();
            let s = &st.sess[i];
            if s.is_ready() {
                let owed = st.ready_stayer_watchers(i);
                st.quit_at.borrow_mut()[i] = Some(Instant::now());
                {
                    let mut m = st.m.borrow_mut();
                    m.offline_expected += owed;
                    m.quits += 1;
                }
                s.send("QUIT :bye");
                s.set_phase(Phase::Quitting);
                s.kick();
            }
        }
        let all_out = churners.iter().all(|&i| st.sess[i].phase() == Phase::Idle);
        if (next >= sched.total() && all_out && st.quits_due.borrow().is_empty()) || now > hard_end
        {
            break;
        }
    }
    wait_until(Duration::from_secs_f64(a.drain), || {
        let m = st.m.borrow();
        m.online_received >= m.online_expected && m.offline_received >= m.offline_expected
    })
    .await;
    let srv1 = pid.map(proc_sample).transpose()?;
    let gen = Cpu::now(CpuScope::Process).since(gen1);
    let wall = t0.elapsed().as_secs_f64();
    let mut m = std::mem::take(&mut *st.m.borrow_mut());

    let received = m.online_received + m.offline_received;
    let span = match (m.first_login, m.last_receipt) {
        (Some(a0), Some(b)) if b > a0 => (b - a0).as_secs_f64(),
        _ => 0.0,
    };
    let mut p = Presence {
        accounts: a.accounts,
        friends: a.friends,
        stayers,
        churners: churners.len() as u64,
        watchers_per_login: round3(watchers_per_login),
        sasl: format!("{:?}", a.sasl).to_lowercase(),
        logins: Logins {
            rate: a.rate,
            duration_s: a.duration,
            session_s: a.session,
            due: sched.total(),
            skipped_busy,
            started: m.logins_started,
            ok: m.logins_ok,
            failed: m.logins_failed,
            failures: std::mem::take(&mut m.login_failures),
            quits: m.quits,
            per_s: if a.duration > 0.0 {
                (m.logins_ok as f64 / a.duration * 10.0).round() / 10.0
            } else {
                0.0
            },
            sasl_latency_us: m.sasl_latency.percentiles(),
            latency_us: m.login_latency.percentiles(),
        },
        online: Notices {
            expected: m.online_expected,
            received: m.online_received,
            lost: m.online_expected.saturating_sub(m.online_received),
            latency_us: m.online_latency.percentiles(),
        },
        offline: Notices {
            expected: m.offline_expected,
            received: m.offline_received,
            lost: m.offline_expected.saturating_sub(m.offline_received),
            latency_us: m.offline_latency.percentiles(),
        },
        unexpected: m.unexpected,
        churner_lines: m.churner_lines,
        notifications_per_s: per_s(received, span),
        disconnects: std::mem::take(&mut m.disconnects),
        server_errors: std::mem::take(&mut m.server_errors),
        generator: Gen::measured(gen, wall, &lag),
        server: None,
        pass: false,
        failed_because: Vec::new(),
    };
    if let (Some(b), Some(e)) = (srv0, srv1) {
        let cpu = e.cpu_s - b.cpu_s;
        let all_notes = received + m.churner_lines + m.unexpected;
        p.server = Some(PresenceServer {
            cpu_s: round3(cpu),
            cpu_sys_s: round3(e.sys_s - b.sys_s),
            cpu_us_per_login: (m.logins_ok > 0).then(|| round3(cpu * 1e6 / m.logins_ok as f64)),
            cpu_us_per_notification: (all_notes > 0).then(|| round3(cpu * 1e6 / all_notes as f64)),
            rss_bytes: e.rss_bytes,
        });
    }
    let p99_limit = (a.p99_limit_ms * 1000.0) as u64;
    let mut why = Vec::new();
    if p.online.lost > 0 {
        why.push(format!(
            "730 lost: {} of {}",
            p.online.lost, p.online.expected
        ));
    }
    if p.offline.lost > 0 {
        why.push(format!(
            "731 lost: {} of {}",
            p.offline.lost, p.offline.expected
        ));
    }
    if p.logins.failed > 0 {
        why.push(format!("logins failed: {}", p.logins.failed));
    }
    if p.logins.skipped_busy > 0 {
        why.push(format!(
            "logins skipped (churner still online): {}",
            p.logins.skipped_busy
        ));
    }
    let lost_stayers: u64 = p.disconnects.values().sum();
    if lost_stayers > 0 {
        why.push(format!("stayers disconnected: {lost_stayers}"));
    }
    for (what, n) in [("730", &p.online), ("731", &p.offline)] {
        if n.latency_us.p99 > p99_limit {
            why.push(format!(
                "{what} p99 {:.1} ms > {:.1} ms",
                n.latency_us.p99 as f64 / 1000.0,
                a.p99_limit_ms
            ));
        }
    }
    if p.generator.lag_us.p99 > 10_000 {
        why.push(format!(
            "generator behind schedule (lag p99 {:.1} ms)",
            p.generator.lag_us.p99 as f64 / 1000.0
        ));
    }
    p.pass = why.is_empty();
    p.failed_because = why;
    let limited_by = if p.pass {
        "none: every notification arrived in time".to_string()
    } else {
        p.failed_because.join("; ")
    };
    Ok(Report {
        scenario: "presence",
        target: target.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        params: serde_json::to_value(crate::Scenario::Presence(a.clone()))?,
        workers: 1,
        setup,
        hold: None,
        server: None,
        result: None,
        max: None,
        presence: Some(p),
        offline: None,
        limits: Limits {
            open_files_per_process: nofile,
            clients_per_process_max: a.accounts,
            source_addresses: if c.no_bind_source || !target.is_ipv4() {
                1
            } else {
                a.accounts.div_ceil(c.per_source.max(1))
            },
            limited_by,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_friends_are_mutual_and_distinct() {
        let n = 20;
        for f in [2, 4, 7, 19] {
            for i in 0..n {
                let fr = ring_friends(i, n, f);
                assert_eq!(fr.len(), f, "i {i} f {f}: {fr:?}");
                assert!(!fr.contains(&i));
                let mut d = fr.clone();
                d.sort_unstable();
                d.dedup();
                assert_eq!(d.len(), f);
                if f % 2 == 0 {
                    for &j in &fr {
                        assert!(ring_friends(j, n, f).contains(&i), "{i}↔{j}, f {f}");
                    }
                }
            }
        }
        assert_eq!(ring_friends(0, 10, 4), vec![1, 9, 2, 8]);
    }

    #[test]
    fn half_of_a_churners_friends_stay() {
        let n = 1000;
        let stay = ring_friends(1, n, 100)
            .iter()
            .filter(|&&w| is_stayer(w))
            .count();
        assert_eq!(stay, 50);
    }
}
