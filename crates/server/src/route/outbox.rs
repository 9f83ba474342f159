//! A client's bounded send queue, and the memory budget all queues share.
//!
//! Producers (any task relaying to this client) push `Bytes` under a short
//! per-client mutex and wake the owner; nothing is allocated while the
//! queue is empty (`VecDeque::new` does not allocate). The byte count
//! covers queued and not-yet-written bytes, so a client that stops reading
//! reaches its SendQ limit and is disconnected without slowing anyone else.
//!
//! Every queue also counts its bytes in one [`Budget`] for the whole
//! server. Over the budget's soft limit a shedder task disconnects the
//! clients with the largest queues, slowest first, until the total is back
//! under it; over its hard limit a push to a client that is itself behind
//! is refused and that client shed at once. A push never waits, so a full
//! budget never stalls the server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use tokio::sync::Notify;

/// A queue at least this far behind is shed by a push over the hard limit
/// (so the overshoot past it is at most this much per client).
pub(crate) const SHED_FLOOR: usize = 16 * 1024;

/// Bytes queued for all clients, against the configured budget; and the
/// count of lines delivered to others, which every queue shares too.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Lines queued for a client by someone else (`Outbox::deliver`):
    /// `ferry_deliveries_total`.
    pub(crate) deliveries: crate::stats::Striped,
    queued: AtomicUsize,
    soft: AtomicUsize,
    hard: AtomicUsize,
    /// Rung when the soft limit is passed: wakes the shedder.
    pub(crate) pressure: Notify,
}

impl Budget {
    /// A budget of `soft` bytes (`0`: none); the hard limit is 5/4 of it.
    pub(crate) fn new(soft: usize) -> Budget {
        let b = Budget::default();
        b.set_limit(soft);
        b
    }

    pub(crate) fn set_limit(&self, soft: usize) {
        let soft = if soft == 0 { usize::MAX / 2 } else { soft };
        self.soft.store(soft, Ordering::Relaxed);
        self.hard
            .store(soft.saturating_add(soft / 4), Ordering::Relaxed);
    }

    /// Bytes queued (or taken and not yet written) for all clients.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn soft(&self) -> usize {
        self.soft.load(Ordering::Relaxed)
    }

    pub(crate) fn hard(&self) -> usize {
        self.hard.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) -> usize {
        self.queued.fetch_add(n, Ordering::Relaxed) + n
    }

    fn sub(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Why a queue was closed by its producers' side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Its own SendQ limit.
    SendQ,
    /// The server's memory budget: shed as one of the slowest.
    Budget,
}

#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Bytes>>,
    /// Bytes queued or taken by the writer but not yet written.
    pending: AtomicUsize,
    /// Set once the limit was hit or the connection closed; later pushes are dropped.
    closed: AtomicBool,
    /// 0, or an [`Overflow`] + 1.
    overflowed: AtomicU8,
    budget: Arc<Budget>,
    /// Wakes the owner's task: something was queued, or it was told to go.
    /// A flag and a waker slot, polled by the task without a future of
    /// its own (an idle connection holds nothing more).
    woken: AtomicBool,
    waker: AtomicWaker,
}

impl Outbox {
    pub(crate) fn new(budget: Arc<Budget>) -> Outbox {
        Outbox {
            queue: Mutex::default(),
            pending: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            overflowed: AtomicU8::new(0),
            budget,
            woken: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Wakes the owning task.
    pub(crate) fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether a wake is waiting to be seen by [`Outbox::poll_woken`].
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Who is woken from now on (a parked connection's parker).
    pub(crate) fn set_waker(&self, w: &std::task::Waker) {
        self.waker.register(w);
    }

    /// Ready once after each [`Outbox::wake`]; otherwise registers the
    /// task to be woken.
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.swap(false, Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.woken.swap(false, Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Queues `parts` (one line, possibly split in a tag prefix and a body).
    /// Visible in `route` alone: nothing else fills another client's queue.
    /// Returns false when the queue is closed or would exceed `limit` (or
    /// the server's hard budget while this client is behind); then the
    /// queue is marked overflowed and closed.
    pub(super) fn push(&self, parts: &[&Bytes], limit: usize) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let len: usize = parts.iter().map(|b| b.len()).sum();
        let before = self.pending.fetch_add(len, Ordering::Relaxed);
        if before + len > limit {
            self.pending.fetch_sub(len, Ordering::Relaxed);
            self.overflow(Overflow::SendQ);
            return false;
        }
        let total = self.budget.add(len);
        if total > self.budget.soft() {
            if total > self.budget.hard() && before >= SHED_FLOOR {
                self.pending.fetch_sub(len, Ordering::Relaxed);
                self.budget.sub(len);
                self.overflow(Overflow::Budget);
                return false;
            }
            self.budget.pressure.notify_one();
        }
        {
            let mut q = self.queue.lock().expect("outbox lock");
            q.extend(parts.iter().map(|b| (*b).clone()));
        }
        self.wake();
        true
    }

    /// [`Outbox::push`] of a line from someone else: counted as a delivery.
    pub(super) fn deliver(&self, parts: &[&Bytes], limit: usize) -> bool {
        let ok = self.push(parts, limit);
        if ok {
            self.budget.deliveries.add(1);
        }
        ok
    }

    /// Closes the queue for `why`; its owner ends the connection.
    pub(crate) fn overflow(&self, why: Overflow) {
        let code = match why {
            Overflow::SendQ => 1,
            Overflow::Budget => 2,
        };
        let _ = self
            .overflowed
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        self.closed.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Queues a last line even on a closed or full queue (the ERROR that
    /// tells a client why it is being disconnected).
    pub(super) fn push_final(&self, line: Bytes) {
        self.pending.fetch_add(line.len(), Ordering::Relaxed);
        self.budget.add(line.len());
        self.queue.lock().expect("outbox lock").push_back(line);
        self.wake();
    }

    /// Moves everything queued into `out` (the writer's own buffer).
    ///
    /// The queue keeps no buffer behind: an idle client holds none (the
    /// writer frees its own once all is written), and a busy one makes one
    /// per burst.
    pub(crate) fn take_into(&self, out: &mut VecDeque<Bytes>) {
        let taken = std::mem::take(&mut *self.queue.lock().expect("outbox lock"));
        if out.is_empty() {
            *out = taken;
        } else {
            out.extend(taken);
        }
    }

    /// Called by the writer after `n` bytes reached the socket.
    pub(crate) fn written(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::Relaxed);
        self.budget.sub(n);
    }

    /// The writer turned `queued` bytes taken from the queue into `now`
    /// bytes to write (a charset other than UTF-8): count the latter.
    pub(crate) fn recount(&self, queued: usize, now: usize) {
        self.pending.fetch_add(now, Ordering::Relaxed);
        self.pending.fetch_sub(queued, Ordering::Relaxed);
        self.budget.add(now);
        self.budget.sub(queued);
    }

    /// Drops everything queued and uncounts it, including what the writer
    /// took and will not write (the caller drops that), but for `keep`
    /// bytes the writer still writes: a client being disconnected for its
    /// queue frees the memory at once.
    pub(crate) fn discard(&self, keep: usize) {
        self.closed.store(true, Ordering::Relaxed);
        let dropped = std::mem::take(&mut *self.queue.lock().expect("outbox lock"));
        let n = self.pending.swap(keep, Ordering::Relaxed);
        self.budget.sub(n.saturating_sub(keep));
        drop(dropped);
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn overflowed(&self) -> Option<Overflow> {
        match self.overflowed.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(Overflow::SendQ),
            _ => Some(Overflow::Budget),
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().expect("outbox lock").is_empty()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Whatever is still counted leaves the budget with the queue.
        self.budget.sub(*self.pending.get_mut());
    }
}

/// Which clients to shed when `queued` bytes are over the `soft` budget:
/// the largest queues first (the slowest readers), until what they hold
/// brings the total under 9/10 of the budget.
pub(crate) fn slowest_first<T>(
    mut queues: Vec<(usize, T)>,
    queued: usize,
    soft: usize,
) -> Vec<(usize, T)> {
    let target = soft / 10 * 9;
    queues.sort_unstable_by_key(|q| std::cmp::Reverse(q.0));
    let mut freed = 0;
    let mut take = 0;
    for (n, _) in &queues {
        if queued.saturating_sub(freed) <= target {
            break;
        }
        freed += n;
        take += 1;
    }
    queues.truncate(take);
    queues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_queues_are_shed_until_under_budget() {
        let queues = vec![(10, 'a'), (500, 'b'), (0, 'c'), (300, 'd'), (200, 'e')];
        // 1010 queued, budget 700: down to 630 takes b (500) alone.
        let shed = slowest_first(queues.clone(), 1010, 700);
        assert_eq!(shed, vec![(500, 'b')]);
        // budget 400: down to 360 takes b then d.
        let shed = slowest_first(queues.clone(), 1010, 400);
        assert_eq!(shed, vec![(500, 'b'), (300, 'd')]);
        assert!(slowest_first(queues, 1010, 2000).is_empty());
    }

    fn line(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn every_byte_is_counted_in_the_budget_and_released() {
        let budget = Arc::new(Budget::new(1 << 20));
        let a = Outbox::new(budget.clone());
        let b = Outbox::new(budget.clone());
        assert!(a.push(&[&line(100)], 1000));
        assert!(b.push(&[&line(50), &line(10)], 1000));
        assert_eq!(budget.queued(), 160);
        let mut taken = VecDeque::new();
        a.take_into(&mut taken);
        a.written(40);
        assert_eq!(budget.queued(), 120);
        a.recount(60, 90);
        assert_eq!((a.pending(), budget.queued()), (90, 150));
        a.discard(10);
        assert_eq!((a.pending(), budget.queued()), (10, 70));
        a.written(10);
        assert_eq!(budget.queued(), 60);
        drop(b);
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn over_its_sendq_a_queue_closes() {
        let a = Outbox::new(Arc::new(Budget::new(0)));
        assert!(a.push(&[&line(600)], 1000));
        assert!(!a.push(&[&line(600)], 1000));
        assert_eq!(a.overflowed(), Some(Overflow::SendQ));
        assert!(!a.push(&[&line(1)], 1000));
    }

    #[test]
    fn over_the_hard_budget_only_a_client_behind_is_shed() {
        // soft 64 KiB, hard 80 KiB.
        let budget = Arc::new(Budget::new(64 * 1024));
        let slow = Outbox::new(budget.clone());
        let fast = Outbox::new(budget.clone());
        while slow.push(&[&line(1024)], 1 << 20) {}
        assert_eq!(slow.overflowed(), Some(Overflow::Budget));
        assert!(budget.queued() <= budget.hard());
        // A client that is not behind still gets its line.
        assert!(fast.push(&[&line(1024)], 1 << 20));
        assert_eq!(fast.overflowed(), None);
    }
}
