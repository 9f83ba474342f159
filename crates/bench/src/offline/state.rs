//! The state of a run and how each line read changes it.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Setup,
    Send,
    Deliver,
}

pub(super) const SENT: u8 = 1;
pub(super) const ACKED: u8 = 2;
pub(super) const FAILED: u8 = 3;

#[derive(Default)]
pub(super) struct SendM {
    pub(super) acked: u64,
    pub(super) failed: u64,
    pub(super) fails: BTreeMap<String, u64>,
    pub(super) notices: u64,
    pub(super) late_acks: u64,
    pub(super) latency: Hist,
    pub(super) last_ack: Option<Instant>,
    pub(super) disconnects: BTreeMap<String, u64>,
    pub(super) server_errors: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(super) struct Recv {
    pub(super) expected: u64,
    pub(super) got_acked: u64,
    pub(super) login_at: Option<Instant>,
    pub(super) last: Option<Instant>,
    pub(super) batch_open: bool,
    pub(super) complete: bool,
    pub(super) last_by_sender: HashMap<usize, u64>,
}

#[derive(Default)]
pub(super) struct DeliverM {
    pub(super) logins_ok: u64,
    pub(super) logins_failed: u64,
    pub(super) login_failures: BTreeMap<String, u64>,
    pub(super) login_latency: Hist,
    pub(super) delivered: u64,
    pub(super) delivered_acked: u64,
    pub(super) duplicates: u64,
    pub(super) out_of_order: u64,
    pub(super) live_before_backlog: u64,
    pub(super) wrong_recipient: u64,
    pub(super) delivered_unacked: u64,
    pub(super) complete: u64,
    pub(super) last: Option<Instant>,
    pub(super) disconnects: BTreeMap<String, u64>,
}

pub(super) struct State {
    pub(super) env: Rc<Env>,
    pub(super) s_count: u64,
    pub(super) r_count: u64,
    pub(super) burst: u64,
    pub(super) stage: Cell<Stage>,
    pub(super) setup: RefCell<SetupCount>,
    pub(super) setup_closed: Cell<u64>,
    pub(super) send: RefCell<SendM>,
    /// Per sender: its messages not yet answered, oldest first.
    pub(super) outstanding: RefCell<Vec<VecDeque<u64>>>,
    /// Per message: SENT, ACKED, FAILED (0: not sent).
    pub(super) status: RefCell<Vec<u8>>,
    pub(super) delivered: RefCell<Vec<bool>>,
    pub(super) recv: RefCell<Vec<Recv>>,
    pub(super) deliver: RefCell<DeliverM>,
}

/// (sender, recipient) of message `n`.
pub(crate) fn route(n: u64, senders: u64, recipients: u64, burst: u64) -> (usize, usize) {
    let s = n % senders.max(1);
    let k = n / senders.max(1);
    let r = (s + k / burst.max(1)) % recipients.max(1);
    (s as usize, r as usize)
}

impl State {
    pub(super) fn is_recipient(&self, s: &Sess) -> bool {
        s.global < self.r_count
    }

    pub(super) fn sender_line(&self, s: &Rc<Sess>, msg: &Message<'_>, now: Instant) -> Result<()> {
        match msg.command {
            "PRIVMSG" if source_nick(msg).eq_ignore_ascii_case(&s.nick) => {
                let Some((_, seq, due)) = msg.param(1).and_then(bench_payload) else {
                    return Ok(());
                };
                if self.stage.get() != Stage::Send {
                    // What is acknowledged is settled when the drain ends.
                    self.send.borrow_mut().late_acks += 1;
                    return Ok(());
                }
                {
                    let mut out = self.outstanding.borrow_mut();
                    let q = &mut out[s.idx];
                    if q.front() == Some(&seq) {
                        q.pop_front();
                    } else if let Some(p) = q.iter().position(|&x| x == seq) {
                        q.remove(p);
                    }
                }
                let mut st = self.status.borrow_mut();
                if let Some(x) = st.get_mut(seq as usize) {
                    if *x == SENT {
                        *x = ACKED;
                        let mut m = self.send.borrow_mut();
                        m.acked += 1;
                        m.latency.record(self.env.micros(now).saturating_sub(due));
                        m.last_ack = Some(now);
                    }
                }
            }
            "FAIL" if msg.param(0) == Some("PRIVMSG") => {
                self.refused(s, msg.param(1).unwrap_or("?"));
            }
            "401" if self.stage.get() == Stage::Send => self.refused(s, "401"),
            "301" => self.send.borrow_mut().notices += 1,
            cmd if cmd.len() == 3 && (cmd.starts_with('4') || cmd.starts_with('5')) => {
                bump(&mut self.send.borrow_mut().server_errors, cmd);
            }
            _ => {}
        }
        Ok(())
    }

    /// The sender's oldest message was not accepted.
    pub(super) fn refused(&self, s: &Sess, code: &str) {
        let seq = self.outstanding.borrow_mut()[s.idx].pop_front();
        let mut m = self.send.borrow_mut();
        bump(&mut m.fails, code);
        if let Some(seq) = seq {
            if let Some(x) = self.status.borrow_mut().get_mut(seq as usize) {
                *x = FAILED;
            }
            m.failed += 1;
        }
    }

    pub(super) fn recipient_line(
        &self,
        s: &Rc<Sess>,
        msg: &Message<'_>,
        now: Instant,
    ) -> Result<()> {
        match msg.command {
            "REGISTER" if s.phase() == Phase::Registering => {
                if msg.param(0) != Some("SUCCESS") {
                    anyhow::bail!("REGISTER {}", msg.param(0).unwrap_or(""));
                }
                self.setup.borrow_mut().ok(s, now);
                s.send("QUIT :setup done");
                s.set_phase(Phase::Quitting);
            }
            "FAIL" if s.phase() == Phase::Registering => {
                anyhow::bail!("FAIL REGISTER {}", msg.param(1).unwrap_or("?"));
            }
            "PRIVMSG" | "NOTICE" => {
                let Some((_, seq, _)) = msg.param(1).and_then(bench_payload) else {
                    return Ok(());
                };
                // The login's backlog comes in a chathistory batch.
                let stored = msg.tag("batch").is_some();
                self.delivery(s, seq, stored, now);
            }
            "BATCH" => {
                let r = msg.param(0).unwrap_or("");
                let mut recv = self.recv.borrow_mut();
                let me = &mut recv[s.idx];
                if r.starts_with('+') {
                    me.batch_open = true;
                } else if r.starts_with('-') && me.batch_open {
                    me.batch_open = false;
                    if !me.complete {
                        me.complete = true;
                        self.deliver.borrow_mut().complete += 1;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn delivery(&self, s: &Sess, seq: u64, stored: bool, now: Instant) {
        let mut m = self.deliver.borrow_mut();
        m.delivered += 1;
        m.last = Some(now);
        let mut recv = self.recv.borrow_mut();
        let me = &mut recv[s.idx];
        me.last = Some(now);
        let (sender, recipient) = route(seq, self.s_count, self.r_count, self.burst);
        if recipient != s.idx {
            m.wrong_recipient += 1;
        }
        let mut seen = self.delivered.borrow_mut();
        match seen.get_mut(seq as usize) {
            Some(true) => {
                m.duplicates += 1;
                return;
            }
            Some(x) => *x = true,
            None => {
                m.wrong_recipient += 1;
                return;
            }
        }
        if self.status.borrow()[seq as usize] == ACKED {
            m.delivered_acked += 1;
            me.got_acked += 1;
        } else {
            m.delivered_unacked += 1;
        }
        if !stored {
            if me.expected > 0 && !me.complete {
                m.live_before_backlog += 1;
            }
            return;
        }
        let last = me.last_by_sender.entry(sender).or_insert(seq);
        if seq < *last {
            m.out_of_order += 1;
        }
        *last = seq.max(*last);
    }
}

impl Handler for State {
    fn line(&self, s: &Rc<Sess>, msg: &Message<'_>, now: Instant) -> Result<()> {
        let recipient = self.is_recipient(s);
        match login_step(&self.env, s, msg, now)? {
            Step::Handled => {}
            Step::LoggedIn => {
                self.recv.borrow_mut()[s.idx].login_at = Some(now);
            }
            Step::Welcome if recipient && s.phase() == Phase::Connecting => {
                s.send(&format!("REGISTER * * {}", password(&s.nick)));
                s.set_phase(Phase::Registering);
            }
            Step::Welcome if recipient => {
                s.set_phase(Phase::Ready);
                let mut m = self.deliver.borrow_mut();
                m.logins_ok += 1;
                m.login_latency
                    .record_duration(now.saturating_duration_since(s.due.get()));
                drop(m);
                let mut recv = self.recv.borrow_mut();
                let me = &mut recv[s.idx];
                if me.expected == 0 && !me.complete {
                    me.complete = true;
                    self.deliver.borrow_mut().complete += 1;
                }
            }
            Step::Welcome => {
                s.set_phase(Phase::Ready);
                self.setup.borrow_mut().ok(s, now);
            }
            Step::Other if recipient => self.recipient_line(s, msg, now)?,
            Step::Other => self.sender_line(s, msg, now)?,
        }
        s.kick();
        Ok(())
    }

    fn closed(&self, s: &Rc<Sess>, phase: Phase, reason: String, _now: Instant) {
        let recipient = self.is_recipient(s);
        match (self.stage.get(), recipient, phase) {
            (Stage::Setup, true, Phase::Quitting) => {
                self.setup_closed.set(self.setup_closed.get() + 1);
            }
            (Stage::Setup, true, _) => {
                self.setup.borrow_mut().fail(reason);
                self.setup_closed.set(self.setup_closed.get() + 1);
            }
            (Stage::Setup, false, Phase::Ready) | (Stage::Send, false, _) => {
                bump(&mut self.send.borrow_mut().disconnects, reason);
            }
            (Stage::Setup, false, _) => self.setup.borrow_mut().fail(reason),
            (Stage::Deliver, true, Phase::Ready) => {
                bump(&mut self.deliver.borrow_mut().disconnects, reason);
            }
            (Stage::Deliver, true, _) => {
                let mut m = self.deliver.borrow_mut();
                m.logins_failed += 1;
                bump(&mut m.login_failures, reason);
            }
            _ => {}
        }
    }
}
