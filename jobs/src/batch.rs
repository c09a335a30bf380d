//! Batched handlers: a job kind whose handler takes many jobs at once.
//!
//! A batch worker claims up to `WorkerOptions::fetch_batch` due jobs of its
//! kind with one statement, hands them to the handler together, and
//! settles each by the outcome the handler gave it: done, retried after
//! its backoff (`run_at`), or dead. One bad job fails alone.
//!
//! On the SQL queue this is our own loop over apalis's tables, not an
//! apalis worker: apalis 1.0 hands a worker's service one task at a time
//! (each with its own lock and acknowledgement event), so a batch could
//! only be rebuilt from single tasks after the fact. The loop keeps
//! apalis's contract with the other users of those tables:
//!
//! - it registers in apalis's `Workers` / `apalis.workers` under the
//!   kind's name (`worker_type`), heart-beats there, and re-queues the
//!   jobs of dead workers of its kind as apalis's heartbeat does, so a
//!   crashed batch worker's claims come back (with the attempt counted);
//! - a claim sets `status = 'Running'` and `lock_by` to the worker, the
//!   states apalis's own orphan recovery, statistics and dashboards read;
//! - an acknowledgement writes what apalis's would: `attempts` plus one,
//!   `last_result` as `{"Ok":null}` or `{"Err":"retryable: …"}`, status
//!   `Done`, `Failed` (retried when its `run_at`, moved to the end of the
//!   backoff, has passed; dead once out of attempts) or `Killed`.
//!
//! A graceful stop claims nothing more and finishes the batch in hand, so
//! no claimed job waits for a heartbeat to expire.
//!
//! On SQS a batch is one `ReceiveMessage` of up to ten, done messages go
//! in one `DeleteMessageBatch`, retries in one `ChangeMessageVisibilityBatch`.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    ExponentialBackoff, Job, JobError, SqlQueue, Store, WorkerOptions,
    runtime::{Progress, watch_for_stall},
};

/// What a batch handler returns: one outcome per job it was given, in the
/// same order. `Ok(())` is done; `Err(JobError::Retryable)` is retried
/// with backoff (dead once out of attempts); `Err(JobError::Permanent)` is
/// dead at once. A missing outcome counts as retryable.
pub type Outcomes = Vec<Result<(), JobError>>;

/// Every job of a batch failed the same way (the database was unreachable,
/// say): `n` copies of `err`.
pub fn all_failed(n: usize, err: &JobError) -> Outcomes {
    (0..n).map(|_| Err(err.clone())).collect()
}

/// A job claimed from the SQL queue.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: String,
    job: Vec<u8>,
    /// Attempts before this one.
    attempts: i64,
    max_attempts: i64,
}

/// What became of one claimed job.
enum Settle {
    Done,
    /// Retryable with attempts left: due again at the end of its backoff.
    Retry {
        error: String,
        due: SystemTime,
    },
    /// Dead: `Failed` out of attempts, or `Killed` (permanent).
    Dead {
        error: String,
        killed: bool,
    },
}

fn now_secs() -> i64 {
    crate::delay::unix_ms(SystemTime::now()) / 1000
}

/// Starts the batch worker of kind `J` on the SQL queue: restarts after a
/// pause if it loses its database, and is watched for stalls like every
/// worker (see [`watch_for_stall`]).
pub(crate) async fn run_sql<J, H, Fut>(
    queue: SqlQueue,
    options: WorkerOptions,
    handler: H,
    token: CancellationToken,
) where
    J: Job,
    H: Fn(Vec<J>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcomes> + Send + 'static,
{
    let mut pause = Duration::from_millis(200);
    loop {
        let run = token.child_token();
        let progress = Arc::new(Progress::default());
        let _watchdog = AbortOnDrop(tokio::spawn(watch_for_stall(
            queue.clone(),
            J::KIND,
            options.stall_after,
            progress.clone(),
            run.clone(),
        )));
        let result =
            run_sql_once::<J, _, _>(&queue, &options, handler.clone(), progress, &run).await;
        if token.is_cancelled() {
            break;
        }
        match result {
            Ok(()) => tracing::warn!(kind = J::KIND, "batch worker stopped; restarting"),
            Err(err) => {
                tracing::error!(kind = J::KIND, error = %err, "batch worker failed; restarting")
            }
        }
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// One run: register, heart-beat, and `concurrency` loops each claiming
/// and settling a batch at a time, until `run` is cancelled or the
/// database fails.
async fn run_sql_once<J, H, Fut>(
    queue: &SqlQueue,
    options: &WorkerOptions,
    handler: H,
    progress: Arc<Progress>,
    run: &CancellationToken,
) -> Result<(), sqlx::Error>
where
    J: Job,
    H: Fn(Vec<J>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcomes> + Send + 'static,
{
    // Unique per run, as apalis's worker names are (see `runtime`).
    let name = format!("{}-{}", J::KIND, uuid::Uuid::new_v4().simple());
    register(queue, J::KIND, &name).await?;
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat(
        queue.clone(),
        J::KIND,
        name.clone(),
    )));
    let mut loops = tokio::task::JoinSet::new();
    // One claim at a time per run: a claim waiting on a locked table holds
    // a pooled connection, and `concurrency` of them could take every
    // connection the web shares on Postgres.
    let claiming = Arc::new(tokio::sync::Mutex::new(()));
    for _ in 0..options.concurrency.max(1) {
        let (queue, options, handler, progress, run, name, claiming) = (
            queue.clone(),
            options.clone(),
            handler.clone(),
            progress.clone(),
            run.clone(),
            name.clone(),
            claiming.clone(),
        );
        loops.spawn(async move {
            let result =
                claim_loop::<J, _, _>(&queue, &options, handler, &progress, &run, &name, &claiming)
                    .await;
            // One loop failing ends the run (and restarts it).
            run.cancel();
            result
        });
    }
    let mut result = Ok(());
    while let Some(done) = loops.join_next().await {
        match done {
            Ok(Err(err)) if result.is_ok() => result = Err(err),
            Err(panic) if result.is_ok() => {
                result = Err(sqlx::Error::Protocol(format!(
                    "batch loop panicked: {panic}"
                )))
            }
            _ => {}
        }
    }
    result
}

/// A spawned task that ends with its owner: when a run's future is
/// dropped (a stop, or a runtime dropped as a killed process would be),
/// its heartbeat must stop too, or the dead run would look alive.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn claim_loop<J, H, Fut>(
    queue: &SqlQueue,
    options: &WorkerOptions,
    handler: H,
    progress: &Progress,
    run: &CancellationToken,
    name: &str,
    claiming: &tokio::sync::Mutex<()>,
) -> Result<(), sqlx::Error>
where
    J: Job,
    H: Fn(Vec<J>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcomes> + Send + 'static,
{
    let size = options.fetch_batch.max(1);
    let backoff = ExponentialBackoff::new(options.backoff_base, options.backoff_max);
    let poll = queue.config().poll_interval;
    // Woken when a job of this kind is enqueued or relayed in this process,
    // or announced by Postgres (`crate::wake`); the poll is the fallback.
    let signal = crate::wake::signal(J::KIND);
    loop {
        if run.is_cancelled() {
            return Ok(());
        }
        let seen = signal.generation();
        let claimed = {
            let _turn = tokio::select! {
                () = run.cancelled() => return Ok(()),
                turn = claiming.lock() => turn,
            };
            claim(queue, J::KIND, name, size).await?
        };
        if claimed.is_empty() {
            if !crate::wake::wait(&signal, seen, poll, run).await {
                return Ok(());
            }
            continue;
        }
        progress.start();
        let settles = work::<J, _, _>(&handler, &claimed, &backoff).await;
        progress.finish();
        settle_with_retries(queue, J::KIND, name, &claimed, &settles).await?;
    }
}

/// Decodes the claimed jobs, runs the handler on those that decode, and
/// says how each is to be settled.
async fn work<J, H, Fut>(
    handler: &H,
    claimed: &[Claimed],
    backoff: &ExponentialBackoff,
) -> Vec<Settle>
where
    J: Job,
    H: Fn(Vec<J>) -> Fut,
    Fut: Future<Output = Outcomes> + Send + 'static,
{
    let mut results: Vec<Option<Result<(), JobError>>> = Vec::with_capacity(claimed.len());
    let mut jobs = Vec::with_capacity(claimed.len());
    let mut slots = Vec::with_capacity(claimed.len());
    for (i, c) in claimed.iter().enumerate() {
        match serde_json::from_slice::<J>(&c.job) {
            Ok(job) => {
                jobs.push(job);
                slots.push(i);
                results.push(None);
            }
            Err(err) => results.push(Some(Err(JobError::Permanent(format!(
                "undecodable {} job: {err}",
                J::KIND
            ))))),
        }
    }
    if !jobs.is_empty() {
        let n = jobs.len();
        let span = tracing::info_span!("job_batch", kind = J::KIND, size = n);
        let outcomes = match tokio::time::timeout(J::TIMEOUT, handler(jobs).instrument(span)).await
        {
            Ok(outcomes) => outcomes,
            Err(_) => all_failed(
                n,
                &JobError::Retryable(format!("batch timed out after {}s", J::TIMEOUT.as_secs())),
            ),
        };
        let mut outcomes = outcomes.into_iter();
        for slot in slots {
            results[slot] = Some(outcomes.next().unwrap_or_else(|| {
                Err(JobError::Retryable(
                    "the batch handler gave no outcome for this job".into(),
                ))
            }));
        }
    }
    claimed
        .iter()
        .zip(results)
        .map(|(c, result)| {
            let attempt = c.attempts + 1;
            match result.unwrap_or(Ok(())) {
                Ok(()) => Settle::Done,
                Err(err @ JobError::Retryable(_)) if attempt < c.max_attempts => {
                    let delay = backoff.delay_after(attempt as u32);
                    tracing::warn!(
                        kind = %J::KIND,
                        attempt,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %err,
                        "job failed; back in its queue until its next attempt"
                    );
                    Settle::Retry {
                        error: err.to_string(),
                        due: SystemTime::now() + delay,
                    }
                }
                Err(err) => {
                    let killed = matches!(err, JobError::Permanent(_));
                    tracing::error!(kind = J::KIND, attempt, error = %err, "job failed for good; dead");
                    Settle::Dead {
                        error: err.to_string(),
                        killed,
                    }
                }
            }
        })
        .collect()
}

/// Claims up to `size` due jobs of `kind` for worker `name`: one statement.
async fn claim(
    queue: &SqlQueue,
    kind: &str,
    name: &str,
    size: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut claimed: Vec<Claimed> = match queue.store() {
        // apalis-sqlite's own fetch (`fetch_next.sql`: the two branches
        // use its partial indexes), straight to `Running`.
        Store::Sqlite(pool) => {
            sqlx::query_as(
                "UPDATE Jobs SET status = 'Running', lock_by = $1, lock_at = strftime('%s', 'now')
                 WHERE ROWID IN (
                    WITH candidates AS (
                        SELECT * FROM (
                            SELECT ROWID, priority, run_at, id FROM Jobs
                            WHERE job_type = $2 AND status = 'Pending' AND lock_by IS NULL
                              AND run_at <= $4
                            ORDER BY priority DESC, run_at ASC, id ASC LIMIT $3)
                        UNION ALL
                        SELECT * FROM (
                            SELECT ROWID, priority, run_at, id FROM Jobs
                            WHERE job_type = $2 AND status = 'Failed' AND attempts < max_attempts
                              AND run_at <= $4
                            ORDER BY priority DESC, run_at ASC, id ASC LIMIT $3))
                    SELECT ROWID FROM candidates ORDER BY priority DESC, run_at ASC, id ASC LIMIT $3)
                 RETURNING id, job, attempts, max_attempts",
            )
            .bind(name)
            .bind(kind)
            .bind(size as i64)
            .bind(now_secs())
            .fetch_all(pool)
            .await?
        }
        // apalis-postgres's `get_jobs`, straight to `Running`.
        Store::Postgres(pool) => {
            sqlx::query_as(
                "WITH picked AS (
                    SELECT id FROM apalis.jobs
                    WHERE (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
                      AND run_at <= now() AND job_type = $2
                    ORDER BY priority DESC, run_at ASC, id ASC
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED)
                 UPDATE apalis.jobs j SET status = 'Running', lock_by = $1, lock_at = now()
                 FROM picked WHERE j.id = picked.id
                 RETURNING j.id, j.job, CAST(j.attempts AS BIGINT) AS attempts,
                     CAST(j.max_attempts AS BIGINT) AS max_attempts",
            )
            .bind(name)
            .bind(kind)
            .bind(size as i64)
            .fetch_all(pool)
            .await?
        }
    };
    // In queue order (ids are ULIDs: time-ordered), whatever order the
    // database returned them in.
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(claimed)
}

/// Settles a batch; a failure is tried again a few times (the jobs are
/// still ours), then left to orphan recovery after this worker's
/// heartbeat stops (they run again: handlers are idempotent).
async fn settle_with_retries(
    queue: &SqlQueue,
    kind: &'static str,
    name: &str,
    claimed: &[Claimed],
    settles: &[Settle],
) -> Result<(), sqlx::Error> {
    let mut pause = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        match settle(queue, name, claimed, settles).await {
            Ok(()) => return Ok(()),
            Err(err) if tries < 4 => {
                tries += 1;
                tracing::warn!(kind, error = %err, "could not settle a batch; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Acknowledges a batch in one transaction: every done job in one
/// statement, each failure in its own (they are rare). Only jobs still
/// locked by `name` are touched: a job re-queued meanwhile (this worker
/// was taken for dead) is left to its next run.
async fn settle(
    queue: &SqlQueue,
    name: &str,
    claimed: &[Claimed],
    settles: &[Settle],
) -> Result<(), sqlx::Error> {
    let done: Vec<&str> = claimed
        .iter()
        .zip(settles)
        .filter(|(_, s)| matches!(s, Settle::Done))
        .map(|(c, _)| c.id.as_str())
        .collect();
    let failed: Vec<(&str, &Settle)> = claimed
        .iter()
        .zip(settles)
        .filter(|(_, s)| !matches!(s, Settle::Done))
        .map(|(c, s)| (c.id.as_str(), s))
        .collect();
    let failure = |s: &Settle| -> (&'static str, String, Option<i64>) {
        match s {
            Settle::Retry { error, due } => (
                "Failed",
                serde_json::json!({ "Err": error }).to_string(),
                Some(crate::delay::unix_ms(*due)),
            ),
            Settle::Dead { error, killed } => (
                if *killed { "Killed" } else { "Failed" },
                serde_json::json!({ "Err": error }).to_string(),
                None,
            ),
            Settle::Done => unreachable!("done jobs are settled together"),
        }
    };
    match queue.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            if !done.is_empty() {
                let ids = serde_json::to_string(&done).expect("ids serialize");
                sqlx::query(
                    "UPDATE Jobs SET status = 'Done', attempts = attempts + 1,
                        last_result = '{\"Ok\":null}', done_at = strftime('%s', 'now'),
                        lock_by = NULL
                     WHERE lock_by = $1 AND id IN (SELECT value FROM json_each($2))",
                )
                .bind(name)
                .bind(ids)
                .execute(&mut *tx)
                .await?;
            }
            for (id, s) in failed {
                let (status, result, due_ms) = failure(s);
                sqlx::query(
                    "UPDATE Jobs SET status = $3, attempts = attempts + 1, last_result = $4,
                        done_at = strftime('%s', 'now'), run_at = COALESCE($5, run_at),
                        lock_by = NULL, lock_at = NULL
                     WHERE id = $1 AND lock_by = $2",
                )
                .bind(id)
                .bind(name)
                .bind(status)
                .bind(result)
                .bind(due_ms.map(crate::delay::sqlite_run_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            if !done.is_empty() {
                sqlx::query(
                    "UPDATE apalis.jobs SET status = 'Done', attempts = attempts + 1,
                        last_result = '{\"Ok\":null}'::jsonb, done_at = now(), lock_by = NULL
                     WHERE lock_by = $1 AND id = ANY($2)",
                )
                .bind(name)
                .bind(done.iter().map(|id| id.to_string()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
            }
            for (id, s) in failed {
                let (status, result, due_ms) = failure(s);
                sqlx::query(
                    "UPDATE apalis.jobs SET status = $3, attempts = attempts + 1,
                        last_result = CAST($4 AS jsonb), done_at = now(),
                        run_at = COALESCE(to_timestamp(CAST($5 AS DOUBLE PRECISION)), run_at),
                        lock_by = NULL, lock_at = NULL
                     WHERE id = $1 AND lock_by = $2",
                )
                .bind(id)
                .bind(name)
                .bind(status)
                .bind(result)
                .bind(due_ms.map(crate::delay::postgres_run_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
    }
}

/// Registers worker `name` of `kind` in apalis's workers table (a claimed
/// job's `lock_by` refers to it), re-queueing first the jobs of workers of
/// this kind that have stopped heart-beating.
async fn register(queue: &SqlQueue, kind: &str, name: &str) -> Result<(), sqlx::Error> {
    match queue.store() {
        Store::Sqlite(pool) => {
            sqlx::query(
                "INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen, started_at)
                 VALUES ($1, $2, 'JobsBatch', '', strftime('%s', 'now'), strftime('%s', 'now'))",
            )
            .bind(name)
            .bind(kind)
            .execute(pool)
            .await?;
        }
        Store::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen, started_at)
                 VALUES ($1, $2, 'JobsBatch', '', now(), now())",
            )
            .bind(name)
            .bind(kind)
            .execute(pool)
            .await?;
        }
    }
    requeue_orphans(queue, kind, name).await?;
    Ok(())
}

/// Proves worker `name` alive every heartbeat and re-queues the claims of
/// workers of its kind silent for `missed_heartbeats` of them (apalis's
/// heartbeat does the same for its own workers).
async fn heartbeat(queue: SqlQueue, kind: &'static str, name: String) {
    let every = queue.config().heartbeat;
    loop {
        tokio::time::sleep(every).await;
        let alive = match queue.store() {
            Store::Sqlite(pool) => {
                sqlx::query("UPDATE Workers SET last_seen = strftime('%s', 'now') WHERE id = $1")
                    .bind(&name)
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
            Store::Postgres(pool) => {
                sqlx::query("UPDATE apalis.workers SET last_seen = now() WHERE id = $1")
                    .bind(&name)
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(err) = alive {
            tracing::warn!(kind, error = %err, "batch worker heartbeat failed");
            continue;
        }
        if let Err(err) = requeue_orphans(&queue, kind, &name).await {
            tracing::warn!(kind, error = %err, "could not re-queue a dead worker's jobs");
        }
    }
}

/// apalis's `reenqueue_orphaned` for `kind`, sparing worker `me`: the
/// dead worker's claims go back to `Pending`, the lost run counted as an
/// attempt.
async fn requeue_orphans(queue: &SqlQueue, kind: &str, me: &str) -> Result<u64, sqlx::Error> {
    let config = queue.config();
    let dead_for = (config.heartbeat * config.missed_heartbeats.max(1) as u32).as_secs_f64();
    let done = match queue.store() {
        Store::Sqlite(pool) => {
            sqlx::query(
                "UPDATE Jobs SET status = 'Pending', done_at = NULL, lock_by = NULL, lock_at = NULL,
                    attempts = attempts + 1,
                    last_result = '{\"Err\": \"Re-enqueued due to worker heartbeat timeout.\"}'
                 WHERE id IN (
                    SELECT Jobs.id FROM Jobs INNER JOIN Workers ON lock_by = Workers.id
                    WHERE (status = 'Running' OR status = 'Queued')
                      AND strftime('%s', 'now') - Workers.last_seen >= $1
                      AND Workers.worker_type = $2 AND Workers.id != $3)",
            )
            .bind(dead_for as i64)
            .bind(kind)
            .bind(me)
            .execute(pool)
            .await?
            .rows_affected()
        }
        Store::Postgres(pool) => {
            sqlx::query(
                "WITH stale AS (
                    SELECT jobs.id FROM apalis.jobs
                    INNER JOIN apalis.workers ON jobs.lock_by = workers.id
                    WHERE (jobs.status = 'Running' OR jobs.status = 'Queued')
                      AND now() - workers.last_seen >= CAST($1 AS DOUBLE PRECISION) * interval '1 second'
                      AND workers.worker_type = $2 AND workers.id != $3
                    FOR UPDATE OF jobs SKIP LOCKED)
                 UPDATE apalis.jobs SET status = 'Pending', done_at = NULL, lock_by = NULL,
                    lock_at = NULL, attempts = attempts + 1,
                    last_result = '{\"Err\": \"Re-enqueued due to worker heartbeat timeout.\"}'
                 FROM stale WHERE apalis.jobs.id = stale.id",
            )
            .bind(dead_for)
            .bind(kind)
            .bind(me)
            .execute(pool)
            .await?
            .rows_affected()
        }
    };
    let n = done;
    if n > 0 {
        tracing::info!(
            kind,
            jobs = n,
            "re-queued the jobs of a worker that stopped"
        );
    }
    Ok(n)
}
