//! How an idle SQL worker is woken to look for due jobs.
//!
//! apalis 1.0's `IntervalStrategy` (`poll_with_interval`) makes its next
//! timer when one fires but does not poll it, so the timer never registers
//! the worker's waker: once a fetch comes back empty, nothing wakes the
//! worker until its next heartbeat (5 s by default). On Postgres every idle
//! worker waited that long for a new or newly due job (a job delayed by 2 s
//! ran after up to 7 s); the stall watchdog covered the rest.
//! [`Rearming`] polls each new timer at once, so the worker is woken every
//! `every`, whatever its fetches found, and it is woken at once when its
//! kind's [`Signal`] is poked (a job enqueued or relayed in this process, or
//! announced by Postgres: see [`crate::wake`]).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use tokio::sync::futures::OwnedNotified;

use crate::wake::Signal;

/// When a poked worker looks again, after the poke: see `Rearming::recheck`.
const RECHECKS: [Duration; 2] = [Duration::from_millis(25), Duration::from_millis(250)];

/// Wakes the worker every `every` and whenever its signal is poked (see the
/// module's notes).
pub(crate) struct Rearming {
    every: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    signal: Arc<Signal>,
    notified: Pin<Box<OwnedNotified>>,
    /// After a poke: how many more empty polls of the backend to see before
    /// waking the worker once more. A poke that lands while a fetch is in
    /// flight wakes a worker that can only wait for that fetch, which may
    /// have read the table before the job was there; the wake after its
    /// (empty) answer starts a fetch that sees it.
    owed: u8,
    waker: Option<Waker>,
    seen: (u64, u64),
    /// After a poke, wake-ups at [`RECHECKS`] from it, whatever the fetches
    /// in flight do: a poke can land while a fetch that read the table
    /// before the job's commit is in flight, and the worker's own
    /// bookkeeping of empty answers (`owed`) can miss one on a busy machine;
    /// a look a little later cannot miss the committed job.
    recheck: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
    /// The signal's generation at the last look: a poke that landed while no
    /// `Notified` was registered (between one completing and the next being
    /// polled, which on a busy machine can be long) still wakes the worker.
    generation: u64,
}

impl std::fmt::Debug for Rearming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rearming")
            .field("every", &self.every)
            .field("owed", &self.owed)
            .finish()
    }
}

impl Rearming {
    pub(crate) fn new(every: Duration, signal: Arc<Signal>) -> Self {
        let notified = Box::pin(signal.notified());
        let generation = signal.generation();
        Self {
            every,
            timer: None,
            signal,
            notified,
            owed: 0,
            waker: None,
            seen: (0, 0),
            recheck: None,
            generation,
        }
    }
}

impl PollStrategy for Rearming {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        match &mut self.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => self.waker = Some(cx.waker().clone()),
        }
        let mut woken = false;
        if self.notified.as_mut().poll(cx).is_ready() {
            let mut next = Box::pin(self.signal.notified());
            // Registers the waker for the next poke.
            let _ = next.as_mut().poll(cx);
            self.notified = next;
            woken = true;
        }
        // Read after the registration above: a poke after this read wakes
        // through `notified`, one before it shows here.
        let generation = self.signal.generation();
        if generation != self.generation {
            self.generation = generation;
            woken = true;
        }
        if woken {
            self.owed = 2;
            self.recheck = Some((Box::pin(tokio::time::sleep(RECHECKS[0])), 0));
        }
        if let Some((timer, at)) = &mut self.recheck
            && timer.as_mut().poll(cx).is_ready()
        {
            woken = true;
            let next = *at + 1;
            self.recheck = RECHECKS.get(next).map(|after| {
                let mut timer = Box::pin(tokio::time::sleep(*after - RECHECKS[*at]));
                // Registers the waker for the next look.
                let _ = timer.as_mut().poll(cx);
                (timer, next)
            });
        }
        let every = self.every;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if timer.as_mut().poll(cx).is_ready() {
            let mut next = Box::pin(tokio::time::sleep(every));
            // Registers the waker for the next round.
            let _ = next.as_mut().poll(cx);
            self.timer = Some(next);
            woken = true;
        }
        if woken {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }

    fn on_poll(&mut self, snapshot: &PollSnapshot) {
        let (ready, pending) = self.seen;
        self.seen = (snapshot.total_ready, snapshot.total_pending);
        if snapshot.total_ready > ready {
            // A job came out: the worker fetches again once its batch is
            // used up, after the poke.
            self.owed = 0;
        } else if snapshot.total_pending > pending && self.owed > 0 {
            self.owed -= 1;
            if self.owed == 0
                && let Some(waker) = &self.waker
            {
                waker.wake_by_ref();
            }
        }
    }
}
