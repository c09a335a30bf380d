//! Waking idle workers when jobs arrive, instead of when they next poll.
//!
//! Each job kind has a [`Signal`] in this process, and so has the outbox
//! relay ([`RELAY`]). A signal is poked:
//! - when a job is enqueued in this process ([`crate::Queue`] and
//!   [`crate::SqlQueue`]): its kind's workers, or the relay when the job went
//!   to the outbox (SQLite, SQS);
//! - when the relay has moved rows into the job table: the kinds it moved;
//! - on Postgres, when another process (or a transaction of this one) commits
//!   a job: the crate's statement trigger on `apalis.jobs` (migration 0004,
//!   in place of apalis-postgres's row trigger) sends one
//!   `NOTIFY "apalis::job::insert"` per insert statement and kind of due job,
//!   `{"job_type": …}`, in the inserting transaction, so it is delivered on
//!   commit, and every runtime on Postgres `LISTEN`s for it ([`listen`]) and
//!   pokes the job's kind. A batch of 500 jobs in one statement is one
//!   notification, not 500.
//!
//! A poke before the enqueueing transaction commits (a job enqueued on the
//! caller's transaction) costs at most two empty fetches; the commit's own
//! wake-up (the relay's, or the notification) follows. Polling every
//! `QueueConfig::poll_interval` stays as the fallback for whatever no signal
//! reaches (SQLite across processes: the relay's 20 ms poll of the outbox;
//! delayed jobs and retries coming due), and the stall watchdog as the last
//! resort, its restarts counted ([`worker_restarts`]).

use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The relay's signal name: not a job kind (kinds are the application's
/// names; this one cannot be typed as one).
pub(crate) const RELAY: &str = "\0outbox-relay";

/// The channel the insert trigger notifies on (apalis-postgres's name).
pub(crate) const CHANNEL: &str = "apalis::job::insert";

/// Something for idle waiters of one kind to wake up for.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Pokes so far: a waiter compares it before and after a round of work
    /// to see whether it missed one while busy.
    generation: AtomicU64,
    notify: Arc<Notify>,
}

impl Signal {
    pub(crate) fn poke(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A future that completes at the next poke (registered once polled or
    /// enabled; pokes before that are seen through [`Signal::generation`]).
    pub(crate) fn notified(&self) -> tokio::sync::futures::OwnedNotified {
        self.notify.clone().notified_owned()
    }
}

static SIGNALS: LazyLock<Mutex<HashMap<String, Arc<Signal>>>> = LazyLock::new(Default::default);

/// The signal of `kind` in this process (made on first use).
pub(crate) fn signal(kind: &str) -> Arc<Signal> {
    let mut signals = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(signal) = signals.get(kind) {
        return signal.clone();
    }
    let signal = Arc::new(Signal::default());
    signals.insert(kind.to_string(), signal.clone());
    signal
}

/// Wakes whatever waits for `kind` in this process; nothing when nothing
/// has waited for it yet.
pub(crate) fn poke(kind: &str) {
    let signal = SIGNALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(kind)
        .cloned();
    if let Some(signal) = signal {
        signal.poke();
    }
}

/// Wakes every waiter in this process (a listener that reconnected may have
/// missed notifications).
fn poke_all() {
    let signals: Vec<_> = SIGNALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    for signal in signals {
        signal.poke();
    }
}

/// Waits for `signal` to be poked after `seen` (its generation before the
/// caller's last round of work) or for `wait`, whichever comes first, or for
/// `token`. Returns false when cancelled.
pub(crate) async fn wait(
    signal: &Signal,
    seen: u64,
    wait: Duration,
    token: &CancellationToken,
) -> bool {
    let notified = signal.notified();
    tokio::pin!(notified);
    let _ = notified.as_mut().enable();
    if signal.generation() != seen {
        return !token.is_cancelled();
    }
    tokio::select! {
        () = token.cancelled() => false,
        () = notified => true,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Listens on Postgres for jobs committed anywhere (see the module's notes)
/// and pokes their kinds, until `token` is cancelled. A lost connection is
/// re-established after a pause, and everything is poked then: what was
/// committed meanwhile was not announced.
pub(crate) async fn listen(pool: sqlx::PgPool, token: CancellationToken) {
    #[derive(serde::Deserialize)]
    struct Inserted {
        job_type: String,
    }
    // A connection of its own, outside the application's pool: it is held
    // for the life of the process.
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut pause = Duration::from_millis(200);
    loop {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
            listener.listen(CHANNEL).await?;
            poke_all();
            loop {
                match listener.try_recv().await? {
                    Some(note) => match serde_json::from_str::<Inserted>(note.payload()) {
                        Ok(inserted) => poke(&inserted.job_type),
                        Err(_) => poke_all(),
                    },
                    // The connection was lost (and made again): what was
                    // committed meanwhile was not announced.
                    None => poke_all(),
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = token.cancelled() => break,
            result = listening => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "job notifications lost; listening again");
                }
            }
        }
        poke_all();
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
    own.close().await;
}

static RESTARTS: LazyLock<Mutex<HashMap<&'static str, u64>>> = LazyLock::new(Default::default);

/// Counts a worker of `kind` restarted by the stall watchdog.
pub(crate) fn count_restart(kind: &'static str) {
    *RESTARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(kind)
        .or_default() += 1;
}

/// Workers restarted by the stall watchdog in this process, per kind, since
/// it started: the watchdog is the last resort behind wake-ups and polling,
/// so anything but zero is worth a look. Kinds never restarted are absent.
pub fn worker_restarts() -> Vec<(&'static str, u64)> {
    let mut counts: Vec<_> = RESTARTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, n)| (*k, *n))
        .collect();
    counts.sort();
    counts
}
