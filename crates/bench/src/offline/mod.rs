//! `ferry bench offline`: messages to accounts that are not connected,
//! acknowledged only once the server committed them; then the recipients
//! log in and the bench checks each got all of them, in order.
//!
//! Setup: R recipient accounts are registered (REGISTER) and leave; S
//! senders connect with `echo-message` (plain clients, no account). Send:
//! on an open-loop timetable, message n goes from sender n mod S to
//! recipient (s + ⌊k / burst⌋) mod R, k = ⌊n / S⌋: each sender writes
//! `--burst` messages to one friend, then the next. ferry echoes a message
//! to an offline account only after its store committed it (and sends
//! `FAIL PRIVMSG …` when it did not take it), so an echo is an
//! acknowledged durable commit; its latency is due time → echo.
//! Delivery: the recipients log in (SASL, with batch, server-time and
//! message-tags) at `--login-rate`; each must get every acknowledged
//! message meant for it exactly once, each sender's in the order sent.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ferry_proto::Message;
use serde::Serialize;

use crate::accounts::{
    self, bench_payload, bump, login_step, password, source_nick, start_all, wait_until, Env,
    Handler, Hello, Phase, Sess, SetupCount, Step,
};
use crate::presence::Gen;
use crate::report::{Limits, Report, Setup};
use crate::schedule::Schedule;
use crate::stats::{per_s, round3};
use crate::stats::{proc_sample, Cpu, CpuScope, Hist, Percentiles, ProcSample};
use crate::OfflineArgs;

mod report;
mod state;

pub use report::*;
use state::*;

/// A sender whose unwritten bytes pass this counts further sends as unsent.
const MAX_BACKLOG: usize = 16 * 1024 * 1024;

/// Runs `ferry bench offline`.
pub(crate) fn run(a: &OfflineArgs, target: std::net::SocketAddr, nofile: u64) -> Result<Report> {
    let c = &a.common;
    anyhow::ensure!(c.workers == 1, "offline runs in one process (--workers 1)");
    anyhow::ensure!(
        a.senders >= 1 && a.recipients >= 1,
        "--senders and --recipients must be at least 1"
    );
    anyhow::ensure!(
        a.rate > 0.0 && a.duration > 0.0 && a.login_rate > 0.0,
        "--rate, --duration and --login-rate must be positive"
    );
    let clients = a.senders + a.recipients;
    anyhow::ensure!(
        clients + crate::coord::SPARE_FILES <= nofile,
        "{clients} clients need about {} open files; this process may open {nofile}",
        clients + crate::coord::SPARE_FILES
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run_async(a, target, nofile))
}

async fn run_async(a: &OfflineArgs, target: std::net::SocketAddr, nofile: u64) -> Result<Report> {
    let c = &a.common;
    let (rn, sn) = (a.recipients as usize, a.senders as usize);
    let env = Rc::new(Env::new(
        target,
        c,
        a.sasl,
        Duration::from_secs_f64(c.timeout),
    ));
    let recips: Vec<Rc<Sess>> = (0..rn)
        .map(|i| Rc::new(Sess::new(i, i as u64, format!("{}{i}", c.nick_prefix))))
        .collect();
    let senders: Vec<Rc<Sess>> = (0..sn)
        .map(|i| {
            Rc::new(Sess::new(
                i,
                (rn + i) as u64,
                format!("{}s{i}", c.nick_prefix),
            ))
        })
        .collect();
    let sched = Schedule::for_duration(a.rate, Duration::from_secs_f64(a.duration));
    let total = sched.total();
    let st = Rc::new(State {
        env: env.clone(),
        s_count: a.senders,
        r_count: a.recipients,
        burst: a.burst.max(1),
        stage: Cell::new(Stage::Setup),
        setup: RefCell::default(),
        setup_closed: Cell::new(0),
        send: RefCell::default(),
        outstanding: RefCell::new(vec![VecDeque::new(); sn]),
        status: RefCell::new(vec![0; total as usize]),
        delivered: RefCell::new(vec![false; total as usize]),
        recv: RefCell::new((0..rn).map(|_| Recv::default()).collect()),
        deliver: RefCell::default(),
    });
    let handler: Rc<dyn Handler> = st.clone();
    let pid = c.server_pid;
    let sample = || -> Result<Option<ProcSample>> { pid.map(proc_sample).transpose() };

    // Setup: recipient accounts made (then they leave); senders connect.
    crate::coord::note(&format!(
        "registering {rn} accounts, connecting {sn} senders"
    ));
    let gen0 = Cpu::now(CpuScope::Process);
    let settled = {
        let st = st.clone();
        move || {
            let s = st.setup.borrow();
            s.done + s.failed
        }
    };
    let all_r: Vec<usize> = (0..rn).collect();
    let limit = Duration::from_secs_f64(
        rn as f64 / a.register_rate.max(1.0) * 4.0 + c.timeout * 4.0 + 60.0,
    );
    let reg_seconds = start_all(
        &recips,
        &all_r,
        a.register_rate,
        c.max_inflight.min(200),
        limit,
        |s| accounts::spawn(s, &env, handler.clone(), Hello::Plain),
        &settled,
    )
    .await;
    wait_until(Duration::from_secs_f64(c.timeout), || {
        st.setup_closed.get() >= a.recipients
    })
    .await;
    let registered = st.setup.borrow().done;
    let all_s: Vec<usize> = (0..sn).collect();
    start_all(
        &senders,
        &all_s,
        a.connect_rate,
        c.max_inflight,
        Duration::from_secs_f64(sn as f64 / a.connect_rate.max(1.0) * 4.0 + c.timeout * 2.0 + 60.0),
        |s| accounts::spawn(s, &env, handler.clone(), Hello::Caps("echo-message")),
        &settled,
    )
    .await;
    let setup = {
        let s = st.setup.borrow();
        Setup {
            planned: a.recipients + a.senders,
            registered: s.done,
            ready: s.done,
            failed: s.failed,
            failures: s.failures.clone(),
            seconds: round3(reg_seconds),
            // Accounts made per second (REGISTER: argon2 and PBKDF2 each).
            registrations_per_s: if reg_seconds > 0.0 {
                (registered as f64 / reg_seconds).round()
            } else {
                0.0
            },
            connect_latency_us: s.latency.percentiles(),
            generator_cpu_s: round3(Cpu::now(CpuScope::Process).since(gen0).total()),
            ..Default::default()
        }
    };

    // Send.
    crate::coord::note(&format!(
        "{} offline messages/s for {} s",
        a.rate, a.duration
    ));
    st.stage.set(Stage::Send);
    let srv0 = sample()?;
    let gen1 = Cpu::now(CpuScope::Process);
    let t0 = Instant::now();
    let t0_us = env.micros(t0);
    let mut lag = Hist::default();
    let (mut sent, mut unsent) = (0u64, 0u64);
    let mut next = 0u64;
    let mut dirty: Vec<usize> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while next < total {
        tick.tick().await;
        let el = t0.elapsed();
        let due = sched.due_by(el);
        if next < due {
            lag.record_duration(el.saturating_sub(sched.due_at(next)));
        }
        for n in next..due {
            let (si, ri) = route(n, a.senders, a.recipients, a.burst);
            let s = &senders[si];
            let mut out = s.out.borrow_mut();
            if !s.is_ready() || out.len() > MAX_BACKLOG {
                unsent += 1;
                continue;
            }
            let due_us = t0_us + sched.due_at(n).as_micros() as u64;
            let _ = write!(
                out,
                "PRIVMSG {} :{}1 {n} {due_us}\r\n",
                recips[ri].nick,
                crate::engine::conn::MARK
            );
            st.status.borrow_mut()[n as usize] = SENT;
            st.outstanding.borrow_mut()[si].push_back(n);
            sent += 1;
            if !s.dirty.replace(true) {
                dirty.push(si);
            }
        }
        next = due;
        for si in dirty.drain(..) {
            senders[si].kick();
        }
    }
    let send_end = Instant::now();
    wait_until(Duration::from_secs_f64(a.drain), || {
        let m = st.send.borrow();
        m.acked + m.failed >= sent
    })
    .await;
    st.stage.set(Stage::Deliver);
    let srv1 = sample()?;
    let gen = Cpu::now(CpuScope::Process).since(gen1);
    let send_wall = t0.elapsed().as_secs_f64();
    let mut sm = std::mem::take(&mut *st.send.borrow_mut());
    let ack_span = sm
        .last_ack
        .map_or(0.0, |l| l.max(send_end).duration_since(t0).as_secs_f64());
    let mut send = OfflineSend {
        rate: a.rate,
        duration_s: a.duration,
        sent,
        unsent,
        acked: sm.acked,
        failed: sm.failed,
        fails: std::mem::take(&mut sm.fails),
        unanswered: sent.saturating_sub(sm.acked + sm.failed),
        late_acks: 0,
        offline_notices: sm.notices,
        acked_per_s: per_s(sm.acked, ack_span),
        seconds: round3(ack_span),
        ack_latency_us: sm.latency.percentiles(),
        disconnects: std::mem::take(&mut sm.disconnects),
        server_errors: std::mem::take(&mut sm.server_errors),
        generator: Gen::measured(gen, send_wall, &lag),
        server: None,
    };
    if let (Some(b), Some(e)) = (srv0, srv1) {
        send.server = Some(server_part(b, e, sm.acked));
    }

    // Delivery: who is owed what.
    {
        let status = st.status.borrow();
        let mut recv = st.recv.borrow_mut();
        for (n, &x) in status.iter().enumerate() {
            if x == ACKED {
                let (_, r) = route(n as u64, a.senders, a.recipients, a.burst);
                recv[r].expected += 1;
            }
        }
    }
    let expected = send.acked;
    tokio::time::sleep(Duration::from_millis(500)).await;
    crate::coord::note(&format!(
        "{rn} recipients logging in at {}/s for {expected} messages",
        a.login_rate
    ));
    let srv2 = sample()?;
    let t1 = Instant::now();
    let login_limit = Duration::from_secs_f64(
        rn as f64 / a.login_rate * 4.0 + c.timeout * 2.0 + a.delivery_timeout,
    );
    {
        let st2 = st.clone();
        start_all(
            &recips,
            &all_r,
            a.login_rate,
            c.max_inflight,
            login_limit,
            |s| {
                accounts::spawn(
                    s,
                    &env,
                    handler.clone(),
                    Hello::Login("batch server-time message-tags"),
                )
            },
            move || {
                let m = st2.deliver.borrow();
                m.logins_ok + m.logins_failed
            },
        )
        .await;
    }
    let ok = wait_until(Duration::from_secs_f64(a.delivery_timeout), || {
        let m = st.deliver.borrow();
        m.complete >= m.logins_ok && m.delivered_acked >= expected
    })
    .await;
    if !ok {
        crate::coord::note("gave up waiting for every offline message");
    }
    let srv3 = sample()?;
    let dm = std::mem::take(&mut *st.deliver.borrow_mut());
    send.late_acks = st.send.borrow().late_acks;
    let mut per_recipient = Hist::default();
    for r in st.recv.borrow().iter() {
        if let (Some(a0), Some(b)) = (r.login_at, r.last) {
            per_recipient.record_duration(b.saturating_duration_since(a0));
        }
    }
    let span = dm
        .last
        .map_or(0.0, |l| l.saturating_duration_since(t1).as_secs_f64());
    let mut delivery = OfflineDelivery {
        login_rate: a.login_rate,
        logins_ok: dm.logins_ok,
        logins_failed: dm.logins_failed,
        login_failures: dm.login_failures,
        login_latency_us: dm.login_latency.percentiles(),
        expected,
        delivered: dm.delivered,
        delivered_acked: dm.delivered_acked,
        missing: expected.saturating_sub(dm.delivered_acked),
        duplicates: dm.duplicates,
        out_of_order: dm.out_of_order,
        live_before_backlog: dm.live_before_backlog,
        wrong_recipient: dm.wrong_recipient,
        delivered_unacked: dm.delivered_unacked,
        recipients_complete: dm.complete,
        per_recipient_us: per_recipient.percentiles(),
        delivered_per_s: per_s(dm.delivered, span),
        seconds: round3(span),
        disconnects: dm.disconnects,
        server: None,
        all_delivered: false,
    };
    delivery.all_delivered = delivery.missing == 0
        && delivery.duplicates == 0
        && delivery.out_of_order == 0
        && delivery.wrong_recipient == 0
        && delivery.logins_failed == 0;
    if let (Some(b), Some(e)) = (srv2, srv3) {
        delivery.server = Some(server_part(b, e, dm.delivered));
    }

    let mut why = Vec::new();
    if send.unsent > 0 {
        why.push(format!("unsent: {}", send.unsent));
    }
    if send.failed > 0 {
        why.push(format!("refused: {} ({:?})", send.failed, send.fails));
    }
    if send.unanswered > 0 {
        why.push(format!("unanswered after the drain: {}", send.unanswered));
    }
    let lost_senders: u64 = send.disconnects.values().sum();
    if lost_senders > 0 {
        why.push(format!("senders disconnected: {lost_senders}"));
    }
    let p99_limit = (a.p99_limit_ms * 1000.0) as u64;
    if send.ack_latency_us.p99 > p99_limit {
        why.push(format!(
            "ack p99 {:.1} ms > {:.1} ms",
            send.ack_latency_us.p99 as f64 / 1000.0,
            a.p99_limit_ms
        ));
    }
    if send.generator.lag_us.p99 > 10_000 {
        why.push(format!(
            "generator behind schedule (lag p99 {:.1} ms)",
            send.generator.lag_us.p99 as f64 / 1000.0
        ));
    }
    if !delivery.all_delivered {
        why.push(format!(
            "delivery: {} missing, {} duplicated, {} out of order, {} to the wrong recipient, {} logins failed",
            delivery.missing,
            delivery.duplicates,
            delivery.out_of_order,
            delivery.wrong_recipient,
            delivery.logins_failed
        ));
    }
    let pass = why.is_empty();
    let limited_by = if pass {
        "none: every message acknowledged in time and delivered".to_string()
    } else {
        why.join("; ")
    };
    let off = Offline {
        senders: a.senders,
        recipients: a.recipients,
        burst: a.burst.max(1),
        sasl: format!("{:?}", a.sasl).to_lowercase(),
        send,
        delivery,
        pass,
        failed_because: why,
    };
    Ok(Report {
        scenario: "offline",
        target: target.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        params: serde_json::to_value(crate::Scenario::Offline(a.clone()))?,
        workers: 1,
        setup,
        hold: None,
        server: None,
        result: None,
        max: None,
        presence: None,
        offline: Some(off),
        limits: Limits {
            open_files_per_process: nofile,
            clients_per_process_max: a.senders + a.recipients,
            source_addresses: if c.no_bind_source || !target.is_ipv4() {
                1
            } else {
                (a.senders + a.recipients).div_ceil(c.per_source.max(1))
            },
            limited_by,
        },
    })
}

fn server_part(b: ProcSample, e: ProcSample, n: u64) -> OfflineServer {
    let cpu = e.cpu_s - b.cpu_s;
    OfflineServer {
        cpu_s: round3(cpu),
        cpu_sys_s: round3(e.sys_s - b.sys_s),
        cpu_us_per_message: (n > 0).then(|| round3(cpu * 1e6 / n as f64)),
        rss_bytes: e.rss_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_bursts_to_one_recipient_then_the_next() {
        // 3 senders, 5 recipients, bursts of 2.
        let r: Vec<(usize, usize)> = (0..12).map(|n| route(n, 3, 5, 2)).collect();
        assert_eq!(&r[..6], &[(0, 0), (1, 1), (2, 2), (0, 0), (1, 1), (2, 2)]);
        assert_eq!(&r[6..9], &[(0, 1), (1, 2), (2, 3)]);
        // Every recipient gets messages when senders ≥ recipients too.
        let hit: std::collections::HashSet<usize> =
            (0..10_000).map(|n| route(n, 100, 10, 10).1).collect();
        assert_eq!(hit.len(), 10);
    }
}
