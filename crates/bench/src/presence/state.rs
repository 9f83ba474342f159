//! The state of a run and how each line read changes it.

use super::*;

#[derive(Default)]
pub(super) struct Measure {
    pub(super) on: bool,
    pub(super) logins_started: u64,
    pub(super) logins_ok: u64,
    pub(super) logins_failed: u64,
    pub(super) login_failures: BTreeMap<String, u64>,
    pub(super) quits: u64,
    pub(super) sasl_latency: Hist,
    pub(super) login_latency: Hist,
    pub(super) online_expected: u64,
    pub(super) online_received: u64,
    pub(super) online_latency: Hist,
    pub(super) offline_expected: u64,
    pub(super) offline_received: u64,
    pub(super) offline_latency: Hist,
    pub(super) unexpected: u64,
    pub(super) churner_lines: u64,
    pub(super) disconnects: BTreeMap<String, u64>,
    pub(super) server_errors: BTreeMap<String, u64>,
    pub(super) first_login: Option<Instant>,
    pub(super) last_receipt: Option<Instant>,
}

pub(super) struct State {
    pub(super) env: Rc<Env>,
    pub(super) prefix: String,
    pub(super) sess: Vec<Rc<Sess>>,
    /// Who MONITORs account i (its friends: the list is symmetric).
    pub(super) friends: Vec<Vec<usize>>,
    pub(super) session: Duration,
    pub(super) setup: RefCell<SetupCount>,
    /// Setup: churners whose setup connection has closed.
    pub(super) setup_closed: Cell<u64>,
    pub(super) m: RefCell<Measure>,
    pub(super) login_at: RefCell<Vec<Option<Instant>>>,
    pub(super) quit_at: RefCell<Vec<Option<Instant>>>,
    pub(super) quits_due: RefCell<BinaryHeap<Reverse<(Instant, usize)>>>,
}

pub(super) fn is_stayer(i: usize) -> bool {
    i & 1 == 0
}

/// The F accounts nearest `i` on a ring of `n`: i+1, i−1, i+2, i−2, …
pub(crate) fn ring_friends(i: usize, n: usize, f: usize) -> Vec<usize> {
    let mut v = Vec::with_capacity(f);
    let mut k = 1;
    while v.len() < f.min(n.saturating_sub(1)) {
        let up = (i + k) % n;
        if up != i && !v.contains(&up) {
            v.push(up);
        }
        if v.len() < f {
            let down = (i + n - k % n) % n;
            if down != i && !v.contains(&down) {
                v.push(down);
            }
        }
        k += 1;
    }
    v
}

impl State {
    pub(super) fn index_of(&self, nick: &str) -> Option<usize> {
        let i: usize = nick.strip_prefix(&self.prefix)?.parse().ok()?;
        (i < self.sess.len()).then_some(i)
    }

    pub(super) fn ready_stayer_watchers(&self, i: usize) -> u64 {
        self.friends[i]
            .iter()
            .filter(|&&w| is_stayer(w) && self.sess[w].is_ready())
            .count() as u64
    }

    /// A 730 or 731 reached session `s`.
    pub(super) fn notice(&self, s: &Sess, msg: &Message<'_>, online: bool, now: Instant) {
        let mut m = self.m.borrow_mut();
        if !m.on {
            return;
        }
        let list = msg.param(1).unwrap_or("");
        for entry in list.split(',').filter(|e| !e.is_empty()) {
            if !is_stayer(s.idx) {
                m.churner_lines += 1;
                continue;
            }
            let nick = entry.split('!').next().unwrap_or("");
            let at = self.index_of(nick).and_then(|i| {
                if online {
                    self.login_at.borrow()[i]
                } else {
                    self.quit_at.borrow()[i]
                }
            });
            let Some(at) = at else {
                m.unexpected += 1;
                continue;
            };
            let us = now.saturating_duration_since(at).as_micros() as u64;
            if online {
                m.online_received += 1;
                m.online_latency.record(us);
            } else {
                m.offline_received += 1;
                m.offline_latency.record(us);
            }
            m.last_receipt = Some(now);
        }
    }
}

impl Handler for State {
    fn line(&self, s: &Rc<Sess>, msg: &Message<'_>, now: Instant) -> Result<()> {
        let step = login_step(&self.env, s, msg, now)?;
        match step {
            Step::Handled => {}
            Step::LoggedIn => {
                // Registration, and so the 730s, follow this CAP END.
                let owed = self.ready_stayer_watchers(s.idx);
                self.login_at.borrow_mut()[s.idx] = Some(now);
                let mut m = self.m.borrow_mut();
                m.online_expected += owed;
                m.sasl_latency
                    .record_duration(now.saturating_duration_since(s.due.get()));
                m.first_login.get_or_insert(now);
            }
            Step::Welcome if s.phase() == Phase::Connecting => {
                // Setup: make the account.
                s.send(&format!("REGISTER * * {}", password(&s.nick)));
                s.set_phase(Phase::Registering);
            }
            Step::Welcome => {
                s.set_phase(Phase::Ready);
                let mut m = self.m.borrow_mut();
                m.logins_ok += 1;
                m.login_latency
                    .record_duration(now.saturating_duration_since(s.due.get()));
                drop(m);
                self.quits_due
                    .borrow_mut()
                    .push(Reverse((now + self.session, s.idx)));
            }
            Step::Other => match msg.command {
                "REGISTER" if s.phase() == Phase::Registering => {
                    if msg.param(0) != Some("SUCCESS") {
                        anyhow::bail!("REGISTER {}", msg.param(0).unwrap_or(""));
                    }
                    let nicks: Vec<String> = self.friends[s.idx]
                        .iter()
                        .map(|&f| self.sess[f].nick.clone())
                        .collect();
                    for l in monitor_lines(&nicks) {
                        s.send(&l);
                    }
                    // MONITOR edits are stored before the next line is read.
                    s.send("PING :fb-setup");
                    s.set_phase(Phase::Monitoring);
                }
                "PONG"
                    if s.phase() == Phase::Monitoring
                        && msg.params().last() == Some(&"fb-setup") =>
                {
                    self.setup.borrow_mut().ok(s, now);
                    if is_stayer(s.idx) {
                        s.set_phase(Phase::Ready);
                    } else {
                        s.send("QUIT :setup done");
                        s.set_phase(Phase::Quitting);
                    }
                }
                "730" => self.notice(s, msg, true, now),
                "731" => self.notice(s, msg, false, now),
                "FAIL" => {
                    let code = msg.param(1).unwrap_or("?");
                    if s.phase() == Phase::Registering {
                        anyhow::bail!("FAIL REGISTER {code}");
                    }
                    bump(
                        &mut self.m.borrow_mut().server_errors,
                        format!("FAIL {code}"),
                    );
                }
                cmd if cmd.len() == 3 && (cmd.starts_with('4') || cmd.starts_with('5')) => {
                    bump(&mut self.m.borrow_mut().server_errors, cmd);
                }
                _ => {}
            },
        }
        s.kick();
        Ok(())
    }

    fn closed(&self, s: &Rc<Sess>, phase: Phase, reason: String, _now: Instant) {
        let mut m = self.m.borrow_mut();
        if !m.on {
            // Setup.
            if phase == Phase::Quitting {
                self.setup_closed.set(self.setup_closed.get() + 1);
            } else if phase != Phase::Ready {
                self.setup.borrow_mut().fail(reason);
                if !is_stayer(s.idx) {
                    self.setup_closed.set(self.setup_closed.get() + 1);
                }
            } else {
                bump(&mut m.disconnects, reason);
            }
            return;
        }
        match phase {
            Phase::Quitting => {}
            Phase::Ready => bump(&mut m.disconnects, reason),
            _ => {
                m.logins_failed += 1;
                bump(&mut m.login_failures, reason);
            }
        }
    }
}
