//! The worker runtime: one apalis worker per job kind, all watching one
//! cancellation token.

use std::{future::Future, time::Duration};

use apalis::prelude::*;
use apalis_sqlite::SqliteStorage;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{ExponentialBackoff, Job, JobError, SqlQueue};

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
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            fetch_batch: 32,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Runs workers until its token is cancelled, then waits for them: a job in
/// flight finishes, a fetched job not yet started goes back to the queue.
pub struct Runtime {
    queue: SqlQueue,
    token: CancellationToken,
    workers: JoinSet<()>,
}

impl Runtime {
    pub fn new(queue: SqlQueue, token: CancellationToken) -> Self {
        Self {
            queue,
            token,
            workers: JoinSet::new(),
        }
    }

    /// Starts a worker for jobs of kind `J`, handled by `handler`.
    pub fn spawn<J, H, Fut>(&mut self, options: WorkerOptions, handler: H)
    where
        J: Job,
        H: Fn(J) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let queue = self.queue.clone();
        let token = self.token.clone();
        self.workers.spawn(async move {
            // A worker that loses its database restarts after a pause instead of
            // leaving its queue unserved for the life of the process.
            let mut pause = Duration::from_millis(200);
            loop {
                let result =
                    run_worker::<J, H, Fut>(&queue, &options, handler.clone(), &token).await;
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
    let storage_config = apalis_sqlite::Config::default()
        .queue(J::KIND)
        .batch_size(options.fetch_batch.max(concurrency))
        .heartbeat_interval(cfg.heartbeat)
        .missed_heartbeats(cfg.missed_heartbeats);
    let backend = SqliteStorage::<J>::new(queue.pool())
        .with_config(storage_config)
        .poll_with_interval(cfg.poll_interval);
    let policy = AttemptsPolicy {
        retries: J::MAX_ATTEMPTS.saturating_sub(1),
        backoff: ExponentialBackoff::new(options.backoff_base, options.backoff_max),
    };
    // Worker names are unique per run so that a restarted process never
    // collides with the registration of the one that died.
    let name = format!("{}-{}", J::KIND, uuid::Uuid::new_v4().simple());
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .concurrency(concurrency)
        .retry(policy)
        .build(move |job: J| {
            let handler = handler.clone();
            async move {
                let span = tracing::info_span!("job", kind = J::KIND);
                handler(job).instrument(span).await.map_err(|err| {
                    match &err {
                        JobError::Retryable(msg) => {
                            tracing::warn!(kind = J::KIND, error = %msg, "job failed; may retry")
                        }
                        JobError::Permanent(msg) => {
                            tracing::error!(kind = J::KIND, error = %msg, "job failed permanently")
                        }
                    }
                    Failure(err)
                })
            }
        });
    let token = token.clone();
    worker
        .run_until(async move {
            token.cancelled().await;
            Ok::<(), WorkerError>(())
        })
        .await
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

/// Retries a failed job after a backoff while it has attempts left, unless
/// the handler said the failure is permanent or the worker is shutting down
/// (then the job is released, to run again in the next process).
#[derive(Debug, Clone)]
struct AttemptsPolicy {
    retries: usize,
    backoff: ExponentialBackoff,
}

impl<T: Clone, Res> apalis::layers::retry::Policy<Task<T>, Res, BoxDynError> for AttemptsPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Task<T>,
        result: &mut Result<Res, BoxDynError>,
    ) -> Option<Self::Future> {
        let worker = req.data().get::<WorkerContext>()?;
        if worker.is_shutting_down() {
            return None;
        }
        match result {
            Ok(_) => None,
            Err(err) if err.downcast_ref::<AbortError>().is_some() => None,
            Err(_) if req.attempt() <= self.retries => {
                Some(tokio::time::sleep(self.backoff.next_delay()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &Task<T>) -> Option<Task<T>> {
        Some(req.clone())
    }
}
