//! A connection's two timers — fake lag on what it reads, the write hold
//! on what others queue for it — in one box that exists only while one is
//! set: a timer inline in the task would cost every connection its size.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[derive(Default)]
struct Both {
    /// Over its line budget: the next line waits for this (fake lag).
    throttled: Option<Pin<Box<Sleep>>>,
    /// While the server is busy: lines others queued wait for this so
    /// that one write carries several (`server.hold_ms`).
    held: Option<Pin<Box<Sleep>>>,
}

#[derive(Default)]
pub(super) struct Timers(Option<Box<Both>>);

/// Which of the two.
#[derive(Clone, Copy)]
pub(super) enum Which {
    Throttled,
    Held,
}

impl Timers {
    fn slot(both: &mut Both, which: Which) -> &mut Option<Pin<Box<Sleep>>> {
        match which {
            Which::Throttled => &mut both.throttled,
            Which::Held => &mut both.held,
        }
    }

    pub(super) fn is_set(&self, which: Which) -> bool {
        self.0.as_ref().is_some_and(|b| match which {
            Which::Throttled => b.throttled.is_some(),
            Which::Held => b.held.is_some(),
        })
    }

    pub(super) fn set_until(&mut self, which: Which, at: Instant) {
        let both = self.0.get_or_insert_with(Box::default);
        *Self::slot(both, which) = Some(Box::pin(tokio::time::sleep_until(at)));
    }

    pub(super) fn set_for(&mut self, which: Which, d: Duration) {
        self.set_until(which, Instant::now() + d);
    }

    /// Clears it; the box goes once neither is set.
    pub(super) fn clear(&mut self, which: Which) {
        if let Some(both) = self.0.as_mut() {
            *Self::slot(both, which) = None;
            if both.throttled.is_none() && both.held.is_none() {
                self.0 = None;
            }
        }
    }

    /// Has it fired? Then it is cleared; if not, `cx` is woken when it does.
    pub(super) fn fired(&mut self, which: Which, cx: &mut Context<'_>) -> bool {
        let fired = self
            .0
            .as_mut()
            .and_then(|b| Self::slot(b, which).as_mut())
            .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if fired {
            self.clear(which);
        }
        fired
    }
}
