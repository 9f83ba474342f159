//! A client's bounded send queue.
//!
//! Producers (any task relaying to this client) push `Bytes` under a short
//! per-client mutex and wake the owner; nothing is allocated while the
//! queue is empty (`VecDeque::new` does not allocate). The byte count
//! covers queued and not-yet-written bytes, so a client that stops reading
//! reaches its SendQ limit and is disconnected without slowing anyone else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Bytes>>,
    /// Bytes queued or taken by the writer but not yet written.
    pending: AtomicUsize,
    /// Set once the limit was hit or the connection closed; later pushes are dropped.
    closed: AtomicBool,
    overflowed: AtomicBool,
    pub(crate) notify: Notify,
}

impl Outbox {
    /// Queues `parts` (one line, possibly split in a tag prefix and a body).
    /// Returns false when the queue is closed or would exceed `limit`; in
    /// the latter case the queue is marked overflowed and closed.
    pub fn push(&self, parts: &[&Bytes], limit: usize) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let len: usize = parts.iter().map(|b| b.len()).sum();
        let before = self.pending.fetch_add(len, Ordering::Relaxed);
        if before + len > limit {
            self.pending.fetch_sub(len, Ordering::Relaxed);
            self.overflowed.store(true, Ordering::Relaxed);
            self.closed.store(true, Ordering::Relaxed);
            self.notify.notify_one();
            return false;
        }
        {
            let mut q = self.queue.lock().expect("outbox lock");
            q.extend(parts.iter().map(|b| (*b).clone()));
        }
        self.notify.notify_one();
        true
    }

    /// Queues a last line even on a closed or full queue (the ERROR that
    /// tells a client why it is being disconnected).
    pub fn push_final(&self, line: Bytes) {
        self.pending.fetch_add(line.len(), Ordering::Relaxed);
        self.queue.lock().expect("outbox lock").push_back(line);
        self.notify.notify_one();
    }

    /// Moves everything queued into `out` (the writer's own buffer).
    pub fn take_into(&self, out: &mut VecDeque<Bytes>) {
        let mut q = self.queue.lock().expect("outbox lock");
        if out.is_empty() {
            std::mem::swap(&mut *q, out);
        } else {
            out.extend(q.drain(..));
        }
    }

    /// Called by the writer after `n` bytes reached the socket.
    pub fn written(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }

    /// The writer turned `queued` bytes taken from the queue into `now`
    /// bytes to write (a charset other than UTF-8): count the latter.
    pub fn recount(&self, queued: usize, now: usize) {
        self.pending.fetch_add(now, Ordering::Relaxed);
        self.pending.fetch_sub(queued, Ordering::Relaxed);
    }

    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.lock().expect("outbox lock").is_empty()
    }
}
