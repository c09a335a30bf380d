//! The worker runtime: one apalis worker per job kind, all watching one
//! cancellation token.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{ExponentialBackoff, Job, JobError, Queue, SqlQueue, outbox::DbOutcomes, queue::Store};

/// How one kind of job is worked.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs of this kind run at the same time, at most, in this process.
    pub concurrency: usize,
    /// Jobs claimed from the queue per fetch. Larger batches mean far fewer
    /// queue queries under a backlog; a dead worker's claimed jobs return to
    /// the queue after its missed heartbeats.
    pub fetch_batch: usize,
    /// First delay between attempts; doubles each time up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A worker that has started no job for this long while a job of its
    /// kind has been waiting this long is restarted (see `watch_for_stall`).
    pub stall_after: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            fetch_batch: 32,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            stall_after: Duration::from_secs(5),
        }
    }
}

/// Runs workers until its token is cancelled, then waits for them: a job in
/// flight finishes, a fetched job not yet started goes back to the queue.
pub struct Runtime {
    queue: Queue,
    token: CancellationToken,
    workers: JoinSet<()>,
    outcomes: Option<Arc<DbOutcomes>>,
}

impl Runtime {
    pub fn new(queue: impl Into<Queue>, token: CancellationToken) -> Self {
        let queue = queue.into();
        let mut workers = JoinSet::new();
        // SQS keeps no counts of what succeeded or failed: count here.
        let outcomes = match &queue {
            Queue::Sqs(backend) => {
                let outcomes = Arc::new(DbOutcomes::new(backend.store.clone()));
                workers.spawn(outcomes.clone().run(token.clone()));
                Some(outcomes)
            }
            // Jobs enqueued anywhere reach the SQL queue's workers through
            // the outbox: the workers bring its relay.
            Queue::Sql(sql) => {
                // On Postgres, jobs committed by any process are announced
                // (see `wake`): listen for them.
                if let Store::Postgres(pool) = sql.store() {
                    workers.spawn(crate::wake::listen(pool.clone(), token.clone()));
                }
                let (queue, token) = (queue.clone(), token.clone());
                workers.spawn(async move { queue.relay(token).await });
                None
            }
        };
        Self {
            queue,
            token,
            workers,
            outcomes,
        }
    }

    /// Starts a worker for jobs of kind `J`, handled by `handler`.
    pub fn spawn<J, H, Fut>(&mut self, options: WorkerOptions, handler: H)
    where
        J: Job,
        H: Fn(J) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let queue = match &self.queue {
            Queue::Sql(queue) => queue.clone(),
            Queue::Sqs(backend) => {
                let outcomes = self.outcomes.clone().expect("SQS runtimes count outcomes");
                self.workers.spawn(crate::sqs::run_worker::<J, _, _>(
                    backend.sqs.clone(),
                    options,
                    handler,
                    outcomes,
                    self.token.clone(),
                ));
                return;
            }
        };
        let token = self.token.clone();
        self.workers.spawn(async move {
            // A worker that loses its database restarts after a pause instead of
            // leaving its queue unserved for the life of the process.
            let mut pause = Duration::from_millis(200);
            loop {
                let run = token.child_token();
                let progress = Arc::new(Progress::default());
                let handler = {
                    let (handler, progress) = (handler.clone(), progress.clone());
                    move |job: J| {
                        progress.start();
                        let (handler, progress) = (handler.clone(), progress.clone());
                        async move {
                            let result = handler(job).await;
                            progress.finish();
                            result
                        }
                    }
                };
                let watchdog = tokio::spawn(watch_for_stall(
                    queue.clone(),
                    J::KIND,
                    options.stall_after,
                    progress,
                    run.clone(),
                ));
                let result = run_worker::<J, _, _>(&queue, &options, handler, &run).await;
                watchdog.abort();
                if token.is_cancelled() {
                    break;
                }
                match result {
                    Ok(()) => tracing::warn!(kind = J::KIND, "worker stopped; restarting"),
                    Err(err) => {
                        tracing::error!(kind = J::KIND, error = %err, "worker failed; restarting")
                    }
                }
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        });
    }

    /// Starts a batch worker for jobs of kind `J` (see [`crate::batch`]):
    /// `handler` takes up to `options.fetch_batch` jobs at once (at most
    /// ten on SQS) and returns one outcome per job, in order;
    /// `options.concurrency` batches run at the same time, at most.
    pub fn spawn_batch<J, H, Fut>(&mut self, options: WorkerOptions, handler: H)
    where
        J: Job,
        H: Fn(Vec<J>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = crate::batch::Outcomes> + Send + 'static,
    {
        match &self.queue {
            Queue::Sql(queue) => {
                self.workers.spawn(crate::batch::run_sql::<J, _, _>(
                    queue.clone(),
                    options,
                    handler,
                    self.token.clone(),
                ));
            }
            Queue::Sqs(backend) => {
                let outcomes = self.outcomes.clone().expect("SQS runtimes count outcomes");
                self.workers.spawn(crate::sqs::run_batch_worker::<J, _, _>(
                    backend.sqs.clone(),
                    options,
                    handler,
                    outcomes,
                    self.token.clone(),
                ));
            }
        }
    }

    /// Runs `schedules` (see [`crate::schedule`]): each tick's job is
    /// enqueued once, whichever of the runtimes sharing the database
    /// claims it. Stops with the runtime.
    pub fn schedule(&mut self, schedules: Vec<crate::Schedule>) {
        self.workers.spawn(crate::schedule::run(
            self.queue.clone(),
            schedules,
            self.token.clone(),
        ));
    }

    /// Cancels every worker and waits until each has stopped.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        while self.workers.join_next().await.is_some() {}
    }
}

async fn run_worker<J, H, Fut>(
    queue: &SqlQueue,
    options: &WorkerOptions,
    handler: H,
    token: &CancellationToken,
) -> Result<(), WorkerError>
where
    J: Job,
    H: Fn(J) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let cfg = queue.config();
    let concurrency = options.concurrency.max(1);
    let batch = options.fetch_batch.max(concurrency);
    let backoff = ExponentialBackoff::new(options.backoff_base, options.backoff_max);
    // Worker names are unique per run so that a restarted process never
    // collides with the registration of the one that died.
    let name = format!("{}-{}", J::KIND, uuid::Uuid::new_v4().simple());
    let rescheduler = queue.clone();
    // No retry layer: a retry inside the worker (apalis's `RetryLayer`)
    // sleeps through the backoff in the job's slot, so a few failing jobs
    // held every slot while honest ones waited. A failed attempt instead
    // ends at once: its job's `run_at` is moved to the backoff's end, then
    // apalis records it `Failed`, and the queue hands it out again only
    // when due (both apalis storages fetch `Failed` jobs with attempts
    // left once `run_at` has passed).
    let service = move |job: J, id: TaskId, attempt: Attempt| {
        let (handler, queue, backoff) = (handler.clone(), rescheduler.clone(), backoff.clone());
        async move {
            let span = tracing::info_span!("job", kind = J::KIND);
            let result = handler(job).instrument(span).await;
            let attempt = attempt.current().max(1);
            match &result {
                Ok(()) => {}
                Err(JobError::Retryable(msg)) if attempt < J::MAX_ATTEMPTS => {
                    let delay = backoff.delay_after(attempt as u32);
                    tracing::warn!(
                        kind = J::KIND,
                        attempt,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %msg,
                        "job failed; back in its queue until its next attempt"
                    );
                    if let Err(err) = queue
                        .reschedule(&id.to_string(), SystemTime::now() + delay)
                        .await
                    {
                        tracing::error!(kind = J::KIND, error = %err, "could not delay the retry");
                    }
                }
                Err(JobError::Retryable(msg)) => {
                    tracing::error!(kind = J::KIND, attempt, error = %msg, "job failed on its last attempt; dead")
                }
                Err(JobError::Permanent(msg)) => {
                    tracing::error!(kind = J::KIND, error = %msg, "job failed permanently")
                }
            }
            result.map_err(Failure)
        }
    };
    let stop = {
        let token = token.clone();
        async move {
            token.cancelled().await;
            Ok::<(), WorkerError>(())
        }
    };
    // The two storages are different types with the same builder calls.
    macro_rules! run_on {
        ($backend:expr) => {
            WorkerBuilder::new(name)
                .backend(apalis_core::backend::ext::poll_strategy::PollWith::new(
                    $backend,
                    crate::poll::Rearming::new(cfg.poll_interval, crate::wake::signal(J::KIND)),
                ))
                .concurrency(concurrency)
                .build(service)
                .run_until(stop)
                .await
        };
    }
    match queue.store() {
        Store::Sqlite(pool) => run_on!(
            SqliteStorage::<J>::new(pool).with_config(
                apalis_sqlite::Config::default()
                    .queue(J::KIND)
                    .batch_size(batch)
                    .heartbeat_interval(cfg.heartbeat)
                    .missed_heartbeats(cfg.missed_heartbeats)
            )
        ),
        Store::Postgres(pool) => run_on!(
            PostgresStorage::<J>::new(pool).with_config(
                apalis_postgres::Config::default()
                    .queue(J::KIND)
                    .batch_size(batch)
                    .heartbeat_interval(cfg.heartbeat)
                    .missed_heartbeats(cfg.missed_heartbeats)
            )
        ),
    }
}

/// A handler's error on its way into apalis. Deliberately not an `Error`
/// itself: its conversion turns a permanent failure into apalis's
/// `AbortError`, which marks the job killed (dead) instead of failed.
struct Failure(JobError);

impl From<Failure> for BoxDynError {
    fn from(failure: Failure) -> Self {
        match failure.0 {
            JobError::Permanent(msg) => Box::new(AbortError::new(msg)),
            retryable => Box::new(retryable),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a worker is doing: jobs in flight, and when it last started or
/// finished one (Unix seconds).
pub(crate) struct Progress {
    in_flight: AtomicU64,
    last: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            in_flight: AtomicU64::new(0),
            last: AtomicU64::new(now_secs()),
        }
    }
}

impl Progress {
    pub(crate) fn start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.last.store(now_secs(), Ordering::Relaxed);
    }

    pub(crate) fn finish(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.last.store(now_secs(), Ordering::Relaxed);
    }

    /// Seconds without starting or finishing anything while nothing runs;
    /// zero while a job (however long) is running.
    fn idle_secs(&self) -> u64 {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return 0;
        }
        now_secs().saturating_sub(self.last.load(Ordering::Relaxed))
    }
}

/// apalis 1.0's polling stopped waking a worker after an empty fetch (fixed
/// in `poll`; jobs stayed `Pending` with an idle worker until its
/// heartbeat). Wake-ups on enqueue and the rearmed poll make a stall
/// unexpected, but "none stuck forever" is ours to keep: as a last resort, a
/// watchdog restarts a worker that has been idle while a job of its kind
/// has been due for `stall_after`, and counts the restart
/// ([`crate::wake::worker_restarts`], on the application's metrics).
pub(crate) async fn watch_for_stall(
    queue: SqlQueue,
    kind: &'static str,
    stall_after: Duration,
    progress: Arc<Progress>,
    run: CancellationToken,
) {
    let limit = stall_after.as_secs().max(1);
    let every = (stall_after / 2).max(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = run.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if progress.idle_secs() < limit {
            continue;
        }
        match queue.oldest_due_secs(kind).await {
            Ok(Some(waited)) if waited >= limit as i64 => {
                tracing::warn!(kind, waited, "worker idle while jobs wait; restarting it");
                crate::wake::count_restart(kind);
                run.cancel();
                return;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(kind, error = %err, "stall check failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueConfig;

    #[tokio::test]
    async fn an_idle_worker_with_due_jobs_is_restarted() {
        let dir = std::env::temp_dir().join(format!("jobs-stall-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("q.db"))
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        SqlQueue::migrate(&pool.clone().into()).await.unwrap();
        let queue = SqlQueue::new(pool.clone(), QueueConfig::default());
        let progress = Arc::new(Progress::default());
        progress.last.store(now_secs() - 60, Ordering::Relaxed);

        // Nothing waiting: the worker is left alone.
        let run = CancellationToken::new();
        let watch = tokio::spawn(watch_for_stall(
            queue.clone(),
            "k",
            Duration::from_secs(1),
            progress.clone(),
            run.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!run.is_cancelled());

        // A job has waited 10 s: restart.
        sqlx::query(
            "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority)
             VALUES (x'7b7d', 'j1', 'k', 'Pending', 0, 3, CAST(strftime('%s','now') AS INTEGER) - 10, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        tokio::time::timeout(Duration::from_secs(3), run.cancelled())
            .await
            .expect("watchdog restarts the idle worker");
        watch.await.unwrap();
        assert_eq!(
            crate::wake::worker_restarts()
                .into_iter()
                .find(|(kind, _)| *kind == "k"),
            Some(("k", 1)),
            "the restart is counted"
        );

        // A job running (however long) is not a stall.
        progress.start();
        let run = CancellationToken::new();
        let watch = tokio::spawn(watch_for_stall(
            queue,
            "k",
            Duration::from_secs(1),
            progress,
            run.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!run.is_cancelled());
        run.cancel();
        watch.await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
