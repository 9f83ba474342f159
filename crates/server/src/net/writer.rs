//! The send side of a connection: what `route` queued for the client
//! (its `Outbox`) is taken, encoded for a wire that is not UTF-8, and
//! written with one vectored write, as far as the socket takes it without
//! blocking. An idle connection keeps no buffer here.
//!
//! Taking and encoding ([`Writer::take_queued`]) does no I/O, so the
//! fuzzer checks exactly the bytes a client would be sent.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;

use bytes::{Buf, Bytes};
use tracing::debug;

use super::Stream;
use crate::charset::{Charset, OutEncoder};
use crate::client::Client;
use crate::clock::Clock;
use crate::stats::Stats;

/// Slices one write hands the kernel at most.
const MAX_IOV: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// Taken from the outbox, not yet written.
    wq: VecDeque<Bytes>,
    /// The socket refused bytes: wait for writable before trying again.
    pub(crate) blocked: bool,
    /// The front of `wq` was written in part.
    front_partial: bool,
    /// Encodes what is written, for a wire that is not UTF-8.
    out: Option<Box<OutEncoder>>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    /// Nothing taken and unwritten.
    pub(crate) fn is_empty(&self) -> bool {
        self.wq.is_empty()
    }

    /// The queue overflowed: drops what was taken but keeps a line half
    /// written (or the ERROR that follows would be glued to its first
    /// half); returns how many bytes are kept.
    pub(crate) fn drop_unwritten(&mut self) -> usize {
        if self.front_partial {
            self.wq.truncate(1);
            self.wq.front().map_or(0, |b| b.len())
        } else {
            self.wq.clear();
            0
        }
    }

    /// Follows a change of the session's charset (listener, `CHARSET`):
    /// what is taken from the queue from now on is encoded for it.
    pub(crate) fn use_charset(&mut self, cs: Charset) {
        if self.out.as_ref().map(|o| o.encoding()) != cs.wire {
            self.out = cs.wire.map(|e| Box::new(OutEncoder::new(e)));
        }
    }

    /// Moves what is queued into the write queue, encoded when the wire is
    /// not UTF-8 (the outbox's count follows the encoded size).
    pub(crate) fn take_queued(&mut self, client: &Client) {
        let Some(enc) = self.out.as_mut() else {
            client.outbox.take_into(&mut self.wq);
            return;
        };
        let mut taken = VecDeque::new();
        client.outbox.take_into(&mut taken);
        if taken.is_empty() {
            return;
        }
        let mut out = Vec::new();
        let mut queued = 0;
        for chunk in &taken {
            queued += chunk.len();
            enc.push(chunk, &mut out);
        }
        client.outbox.recount(queued, out.len());
        if !out.is_empty() {
            self.wq.push_back(Bytes::from(out));
        }
    }

    /// Takes the write queue's bytes as if written (the fuzzer's socket).
    pub(crate) fn take_all(&mut self, client: &Client) -> Vec<u8> {
        self.take_queued(client);
        let mut bytes = Vec::with_capacity(self.wq.iter().map(Bytes::len).sum());
        for b in self.wq.drain(..) {
            bytes.extend_from_slice(&b);
        }
        client.outbox.written(bytes.len());
        bytes
    }

    /// Takes the write queue's chunks as a vectored write would send them
    /// (the relay bench's socket): counted, not copied. Returns the bytes.
    pub(crate) fn take_all_uncopied(&mut self, client: &Client) -> usize {
        self.take_queued(client);
        let n = self.wq.drain(..).map(|b| b.len()).sum();
        client.outbox.written(n);
        n
    }

    /// Writes what is queued, as far as the socket takes it without blocking.
    pub(crate) fn write_some(
        &mut self,
        stream: &mut Stream,
        client: &Client,
        stats: &Stats,
        clock: Clock,
    ) -> io::Result<()> {
        loop {
            if self.wq.is_empty() {
                self.take_queued(client);
                if self.wq.is_empty() {
                    // All written: an idle connection keeps no buffer.
                    self.wq = VecDeque::new();
                    client.backlog_since.store(0, Ordering::Relaxed);
                    // TLS: what rustls encrypted and could not write yet.
                    return match stream.flush_pending() {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.blocked = true;
                            Ok(())
                        }
                        r => r,
                    };
                }
                if client.backlog_since.load(Ordering::Relaxed) == 0 {
                    client
                        .backlog_since
                        .store(clock.unix_ms(), Ordering::Relaxed);
                }
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut n_slices = 0;
            for (slot, b) in slices.iter_mut().zip(self.wq.iter()) {
                *slot = IoSlice::new(b);
                n_slices += 1;
            }
            match stream.try_write_vectored(&slices[..n_slices]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    client.outbox.written(n);
                    stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `n` bytes of the write queue's front were written.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let front = self.wq.front_mut().expect("written bytes were queued");
            if front.len() <= n {
                n -= front.len();
                self.wq.pop_front();
                self.front_partial = false;
            } else {
                front.advance(n);
                self.front_partial = true;
                n = 0;
            }
        }
    }

    /// Writes everything queued, waiting for the socket as needed.
    pub(crate) async fn flush_all(
        &mut self,
        stream: &mut Stream,
        client: &Client,
        stats: &Stats,
        clock: Clock,
    ) {
        loop {
            if self.write_some(stream, client, stats, clock).is_err() {
                return;
            }
            if self.wq.is_empty() && client.outbox.is_empty() && !stream.has_pending_write() {
                return;
            }
            if stream.writable().await.is_err() {
                return;
            }
            self.blocked = false;
            debug!("flushing");
        }
    }
}
