//! Group commit for form intake.
//!
//! One writer task owns intake writes. Requests hand it their submission and
//! wait; the writer takes everything that is waiting (up to a batch limit),
//! writes it in one transaction, commits, and only then answers each
//! request. Under a burst, hundreds of submissions share one fsync instead of
//! queueing for the database lock one by one, and still nobody is thanked
//! before their own submission is durable.

use std::time::Duration;

use ::jobs::{Job, Queue};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use crate::{
    intake::{jobs::FormSubmission, model::Answers},
    platform::db,
};

/// Largest number of writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// What intake stores: an accepted submission (its job), or one held for
/// review because it looked automated (boxed: rare, and it keeps every
/// write that travels the channel small).
#[derive(Debug)]
pub enum Write {
    Submission(FormSubmission),
    Held(Box<crate::intake::held::queries::NewHeld>),
}

/// The key that makes a submission idempotent: the rendered form's key
/// (`_key`, a UUID) plus `.` and 32 hex digits of a SHA-256 over the parsed
/// (normalised) answers. An exact repeat (a double tap, a browser's retry,
/// htmx resending after a 503) has the same key, so it becomes one job and
/// one timeline entry; another person sending the same rendered form (the
/// Back button, a shared kiosk tablet, a cached page) has different
/// answers, so theirs is a submission of its own. One allocation, no
/// formatting machinery: this runs for every submission.
pub fn submission_key(form_key: &str, answers: &Answers) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let mut field = |value: &str| {
        // Length-prefixed, so that no two different answers run together
        // into the same bytes.
        hash.update((value.len() as u64).to_le_bytes());
        hash.update(value.as_bytes());
    };
    field(&answers.name);
    field(answers.email_key());
    field(answers.phone.as_ref().map_or("", |p| p.as_str()));
    field(answers.company.as_deref().unwrap_or(""));
    field(answers.interest.as_deref().unwrap_or(""));
    field(if answers.consent { "1" } else { "0" });
    // Every answer with its label (none in a payload from before the form
    // builder, whose key is unchanged).
    for answer in &answers.fields {
        field(&answer.label);
        field(&answer.value);
    }
    let digest = hash.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(form_key.len() + 33);
    key.push_str(form_key);
    key.push('.');
    for byte in &digest[..16] {
        key.push(HEX[usize::from(byte >> 4)] as char);
        key.push(HEX[usize::from(byte & 0xf)] as char);
    }
    key
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// More submissions are waiting than the configured backlog allows.
    #[error("intake is at capacity")]
    Busy,
    /// The writer has stopped (shutting down).
    #[error("intake is shutting down")]
    Closed,
    #[error("storing the submission failed: {0}")]
    Storage(String),
}

/// Limits past which a new submission is turned away with 503 rather than
/// queued behind everything else: submissions being handled at once, and
/// jobs waiting for the workers (sampled, so checking it costs nothing).
pub struct Limits {
    in_flight: tokio::sync::Semaphore,
    max_backlog: i64,
    backlog: std::sync::atomic::AtomicI64,
}

impl Limits {
    pub fn new(max_in_flight: usize, max_backlog: i64) -> Self {
        Self {
            in_flight: tokio::sync::Semaphore::new(max_in_flight.max(1)),
            max_backlog,
            backlog: Default::default(),
        }
    }

    /// A place among the submissions being handled, if there is one free.
    pub fn enter(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.in_flight.try_acquire().ok()
    }

    pub fn backlog_full(&self) -> bool {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed) >= self.max_backlog
    }

    pub fn set_backlog(&self, jobs: i64) {
        self.backlog
            .store(jobs, std::sync::atomic::Ordering::Relaxed);
    }

    /// Samples the job backlog every `every` until `token` is cancelled.
    pub async fn watch_backlog(
        self: std::sync::Arc<Self>,
        queue: Queue,
        every: Duration,
        token: tokio_util::sync::CancellationToken,
    ) {
        loop {
            match queue.unfinished().await {
                Ok(jobs) => self.set_backlog(jobs),
                Err(err) => tracing::warn!(error = %err, "cannot sample the job backlog"),
            }
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

struct Pending {
    write: Write,
    done: oneshot::Sender<Result<(), IntakeError>>,
}

/// Handle to the intake writer; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Pending>,
}

impl Intake {
    /// Starts the writer. `backlog` bounds how many writes may wait for it;
    /// past that, [`Intake::write`] answers [`IntakeError::Busy`] at once.
    /// The writer runs until every handle is dropped and all that was handed
    /// to it is committed; await the returned task to know it has finished.
    ///
    /// SQLite has one writer at a time, so it gets one writer task. Postgres
    /// commits concurrent transactions in parallel (each waits for its own
    /// WAL flush), so several writers take turns at the channel: while one
    /// commits, the next gathers the following batch.
    pub fn start(
        pool: db::Pool,
        queue: Queue,
        backlog: usize,
        writers: usize,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        let writers = match writers {
            0 if pool.is_postgres() => 4,
            0 => 1,
            n => n,
        };
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let mut tasks = tokio::task::JoinSet::new();
        let gather_yields = if writers == 1 { GATHER_YIELDS } else { 0 };
        // Room for one pending announcement: a batch committed while one
        // is pending is covered by it (it is sent after being taken).
        let (announce, mut announcements) = mpsc::channel::<()>(1);
        for _ in 0..writers {
            tasks.spawn(writer(
                pool.clone(),
                queue.clone(),
                rx.clone(),
                gather_yields,
                announce.clone(),
            ));
        }
        drop(announce);
        // Announces committed batches to other processes' workers
        // (Postgres), off the writers' path; ends with the last writer.
        let announcer = tokio::spawn(async move {
            while announcements.recv().await.is_some() {
                if let Err(err) = queue.announce(FormSubmission::KIND).await {
                    tracing::warn!(error = %err, "cannot announce new submissions; workers find them at their next poll");
                }
            }
        });
        let all_done = tokio::spawn(async move {
            while tasks.join_next().await.is_some() {}
            let _ = announcer.await;
        });
        (Self { tx }, all_done)
    }

    /// Stores `write` durably; returns once it is committed.
    pub async fn write(&self, write: Write) -> Result<(), IntakeError> {
        let (done, committed) = oneshot::channel();
        self.tx
            .try_send(Pending { write, done })
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => IntakeError::Busy,
                mpsc::error::TrySendError::Closed(_) => IntakeError::Closed,
            })?;
        committed.await.map_err(|_| IntakeError::Closed)?
    }

    /// Writes waiting for the writer right now.
    pub fn waiting(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn writer(
    pool: db::Pool,
    queue: Queue,
    rx: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    gather_yields: usize,
    announce: mpsc::Sender<()>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writes = Writes::default();
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    // `recv_many` waits for at least one write, then takes all that are
    // waiting: batches grow by themselves while the previous commit runs.
    // The lock is held only while taking a batch, never while committing.
    while take_batch(&rx, &mut batch, gather_yields).await > 0 {
        // Moved out of the requests' hands, not copied: each request now
        // only waits for its answer.
        for pending in batch.drain(..) {
            match pending.write {
                Write::Submission(job) => writes.submissions.push(job),
                Write::Held(held) => writes.held.push(*held),
            }
            waiting.push(pending.done);
        }
        let result = commit(&pool, &queue, &writes).await;
        if let Err(err) = &result {
            tracing::error!(error = %err, writes = waiting.len(), "intake batch failed");
        }
        let committed_jobs = result.is_ok() && !writes.submissions.is_empty();
        writes.submissions.clear();
        writes.held.clear();
        for done in waiting.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(err) => Err(IntakeError::Storage(err.to_string())),
            };
            // The request may have gone (client hung up); its write stands.
            let _ = done.send(answer);
        }
        // Wakes the workers of other processes (Postgres), after the
        // commit: see `try_commit`. Full means one is already due.
        if committed_jobs {
            let _ = announce.try_send(());
        }
    }
}

/// One batch's writes, by kind.
#[derive(Default)]
struct Writes {
    submissions: Vec<FormSubmission>,
    held: Vec<crate::intake::held::queries::NewHeld>,
}

/// Waits for at least one write, then takes all that are waiting. A small
/// batch first lets the runtime run a few more tasks (requests on their
/// way to the channel): each commit has a fixed cost (the transaction, the
/// WAL write, waking the writer's connection thread), and under load a
/// few yields gather many more writes into it for a few microseconds.
async fn take_batch(
    rx: &tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    batch: &mut Vec<Pending>,
    gather_yields: usize,
) -> usize {
    let mut rx = rx.lock().await;
    if rx.recv_many(batch, MAX_BATCH).await == 0 {
        return 0;
    }
    for _ in 0..gather_yields {
        if batch.len() >= GATHER_ENOUGH {
            break;
        }
        tokio::task::yield_now().await;
        while let Ok(pending) = rx.try_recv() {
            batch.push(pending);
            if batch.len() == MAX_BATCH {
                return batch.len();
            }
        }
    }
    batch.len()
}

/// Yields to gather a small batch when there is one writer (SQLite): with
/// 100 clients sending as fast as they can on 2 cores, 4–8 gave about 15%
/// more submissions per second than none (and 16 no more than 8). Several
/// writers (Postgres) take turns at the channel instead, and yielding while
/// holding it cost about 18% there.
const GATHER_YIELDS: usize = 8;
/// A batch this large is committed without gathering more.
const GATHER_ENOUGH: usize = 64;

async fn commit(pool: &db::Pool, queue: &Queue, writes: &Writes) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match try_commit(pool, queue, writes).await {
            Ok(()) => return Ok(()),
            // A busy database is worth a few short retries before the people
            // waiting are told to try again.
            Err(err) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %err, attempt, "intake commit failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

async fn try_commit(pool: &db::Pool, queue: &Queue, writes: &Writes) -> anyhow::Result<()> {
    // Postgres's SQL queue, submissions only (nearly every batch): the
    // jobs' insert is one statement, atomic and durable at its own commit,
    // so it runs outside an explicit transaction, one round trip instead
    // of three (BEGIN, INSERT, COMMIT). Not announced in it: see below.
    if let (db::Pool::Postgres(pg), Queue::Sql(_), true) = (pool, queue, writes.held.is_empty()) {
        let mut conn = pg.acquire().await?;
        queue
            .enqueue_all_quietly_in(::jobs::Conn::Postgres(&mut conn), &writes.submissions)
            .await?;
        return Ok(());
    }
    let mut tx = pool.begin_write().await?;
    if !writes.submissions.is_empty() {
        // Still this transaction, durable at its commit: an append to the
        // outbox that the relay makes jobs of (SQLite, SQS), or the job
        // table itself (Postgres), in one statement; see jobs::outbox for
        // why. On Postgres the insert is not announced in the transaction
        // (a notifying transaction holds a database-wide lock through its
        // WAL flush, so the writers' commits would queue for it one at a
        // time instead of sharing flushes): `writer` announces the batch
        // once it is committed.
        queue
            .enqueue_all_quietly_in(tx.queue_conn(), &writes.submissions)
            .await?;
    }
    // Rare (autofill, bots): one statement each.
    for held in &writes.held {
        crate::intake::held::queries::insert(&mut tx, held).await?;
    }
    tx.commit().await?;
    Ok(())
}
