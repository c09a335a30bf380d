//! How an idle SQL worker is woken to look for due jobs.
//!
//! apalis 1.0's `IntervalStrategy` (`poll_with_interval`) makes its next
//! timer when one fires but does not poll it, so the timer never registers
//! the worker's waker: once a fetch comes back empty, nothing wakes the
//! worker until its next heartbeat (5 s by default). On Postgres every idle
//! worker waited that long for a new or newly due job (a job delayed by 2 s
//! ran after up to 7 s); the stall watchdog covered the rest.
//! [`Rearming`] polls each new timer at once, so the worker is woken every
//! `every`, whatever its fetches found.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};

/// Wakes the worker every `every` (see the module's notes).
#[derive(Debug)]
pub(crate) struct Rearming {
    every: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Rearming {
    pub(crate) fn new(every: Duration) -> Self {
        Self { every, timer: None }
    }
}

impl PollStrategy for Rearming {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let every = self.every;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let mut next = Box::pin(tokio::time::sleep(every));
                // Registers the waker for the next round.
                let _ = next.as_mut().poll(cx);
                self.timer = Some(next);
                Poll::Ready(Some(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
