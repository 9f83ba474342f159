//! Parked connections: idle clients off the runtime.
//!
//! A connection task costs tokio a task (256 bytes) and a registration of
//! its socket (`ScheduledIo`, 256 bytes) for as long as it lives, and an
//! idle client needs neither: it is waiting for its next line or for a
//! message. So after `limits.park_after` with nothing to do (nothing read,
//! nothing queued, no command waiting), a registered connection ends its
//! task and leaves its state here: its socket, taken off tokio's reactor,
//! is watched by this parker's own epoll (mio, one thread), and its send
//! queue's waker points here. Whatever comes first — a line from the
//! client, a message for it, a kill, the sweeper's PING — gives the state
//! back to a new task on the runtime, which goes on where the old one
//! stopped. A parked client costs a slab slot and a waker (~80 bytes) in
//! place of those 512 (docs/PERFORMANCE.md, "Idle connections").
//!
//! Written by hand (with mio and slab) because no crate parks tokio
//! connections; it is the idle-memory core, as the router is the relay's.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Wake, Waker};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use tokio::runtime::Handle;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::Active;
use crate::Server;

/// The token of the waker that stops the parker's thread.
const STOP: Token = Token(usize::MAX);

pub(crate) struct Parker {
    registry: mio::Registry,
    stop: mio::Waker,
    slots: Mutex<Slots>,
    /// Tells a slot's tokens from those of an earlier one at the same key.
    generation: AtomicU32,
    runtime: Handle,
    tracker: TaskTracker,
    server: Weak<Server>,
}

#[derive(Default)]
struct Slots {
    slab: Slab<Slot>,
    /// Held while any connection is parked: shutdown waits for parked
    /// connections as for running ones.
    alive: Option<TaskTrackerToken>,
}

struct Slot {
    generation: u32,
    active: Box<Active>,
}

/// A slot's key and generation in one mio token.
fn token(key: usize, generation: u32) -> usize {
    debug_assert!(key < 1 << 32);
    key | (generation as usize) << 32
}

/// A parked connection's send-queue waker: a message, a kill or a PING
/// for it unparks it.
struct Unpark {
    parker: Arc<Parker>,
    token: usize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.parker.unpark(self.token);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parker.unpark(self.token);
    }
}

impl Parker {
    /// Starts the parker's thread; connections of `server` spawned again
    /// go to the current runtime, tracked by `tracker`.
    pub(crate) fn start(server: &Arc<Server>, tracker: TaskTracker) -> io::Result<Arc<Parker>> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let stop = mio::Waker::new(poll.registry(), STOP)?;
        let parker = Arc::new(Parker {
            registry,
            stop,
            slots: Mutex::new(Slots::default()),
            generation: AtomicU32::new(0),
            runtime: Handle::current(),
            tracker,
            server: Arc::downgrade(server),
        });
        let p = parker.clone();
        std::thread::Builder::new()
            .name("ferry-park".into())
            .spawn(move || p.watch(poll))?;
        Ok(parker)
    }

    /// Ends the thread; what is still parked is dropped with the parker.
    pub(crate) fn stop(&self) {
        let _ = self.stop.wake();
    }

    fn watch(self: Arc<Self>, mut poll: Poll) {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                warn!(error = %e, "parker: poll failed; parked connections stay parked");
                return;
            }
            for ev in events.iter() {
                if ev.token() == STOP {
                    *self.slots.lock().expect("park slots") = Slots::default();
                    return;
                }
                self.unpark(ev.token().0);
            }
        }
    }

    /// Parks `active`, from its task, which then ends; gives it back when
    /// it cannot be parked (it is then still on the runtime).
    pub(crate) fn park(self: &Arc<Self>, mut active: Box<Active>) -> Result<(), Box<Active>> {
        let fd = match active.park_stream() {
            Ok(fd) => fd,
            Err(_) => return Err(active),
        };
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let client = active.client().clone();
        let token = {
            let mut slots = self.slots.lock().expect("park slots");
            let slots = &mut *slots;
            let entry = slots.slab.vacant_entry();
            let token = token(entry.key(), generation);
            if self
                .registry
                .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
                .is_err()
            {
                // Back on the runtime; if even that fails, its reads fail
                // and it ends as a reset connection.
                let _ = active.unpark_stream();
                return Err(active);
            }
            entry.insert(Slot { generation, active });
            if slots.alive.is_none() {
                slots.alive = Some(self.tracker.token());
            }
            token
        };
        if let Some(server) = self.server.upgrade() {
            server.stats.parked.fetch_add(1, Ordering::Relaxed);
        }
        client.outbox.set_waker(&Waker::from(Arc::new(Unpark {
            parker: self.clone(),
            token,
        })));
        // Woken while parking (its task's waker, already gone, heard it):
        // straight back.
        if client.outbox.is_woken() {
            self.unpark(token);
        }
        Ok(())
    }

    /// Gives a parked connection back to the runtime, once: later calls
    /// with the same token find its slot empty (or another generation).
    fn unpark(&self, token: usize) {
        let (key, generation) = (token & 0xffff_ffff, (token >> 32) as u32);
        let mut slots = self.slots.lock().expect("park slots");
        let active = match slots.slab.get(key) {
            Some(s) if s.generation == generation => slots.slab.remove(key).active,
            _ => return,
        };
        if let Some(fd) = active.parked_fd() {
            let _ = self.registry.deregister(&mut SourceFd(&fd));
        }
        let Some(server) = self.server.upgrade() else {
            return;
        };
        server.stats.parked.fetch_sub(1, Ordering::Relaxed);
        // Spawned before the last parked one lets go of `alive`: shutdown
        // never sees it in neither place.
        self.tracker
            .spawn_on(super::driver::resume(server, active), &self.runtime);
        if slots.slab.is_empty() {
            slots.alive = None;
            // Free the slots of a crowd that has gone.
            slots.slab.shrink_to_fit();
        }
    }
}
