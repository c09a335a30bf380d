//! The embedded SQL queue: apalis-sqlite's tables in the application's own
//! SQLite database, so that enqueueing can share the caller's transaction.

use std::time::Duration;

use apalis_sqlite::SqliteStorage;
use sqlx::{SqliteConnection, SqlitePool};

use crate::Job;

/// How workers poll and how quickly a dead worker's jobs are recovered.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// How often a worker proves it is alive.
    pub heartbeat: Duration,
    /// Missed heartbeats after which a worker's jobs go back to the queue.
    pub missed_heartbeats: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(100),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("job payload could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("queue storage failed: {0}")]
    Storage(#[from] apalis_sqlite::Error),
}

/// Counts for one queue, as an operator wants to see them.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueStats {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    /// Failed but with attempts left: will run again.
    pub retrying: i64,
    /// Permanently failed or out of attempts.
    pub dead: i64,
    /// Age in seconds of the oldest job still waiting to run.
    pub oldest_pending_secs: Option<i64>,
}

/// A job that will not run again, with the error that ended it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: String,
    pub queue: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub payload: String,
}

/// SQL written once for "this job will not run again".
const DEAD: &str = "(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))";

/// Handle to the SQL queue in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqlQueue {
    pool: SqlitePool,
    config: QueueConfig,
}

impl SqlQueue {
    pub fn new(pool: SqlitePool, config: QueueConfig) -> Self {
        Self { pool, config }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Creates or upgrades the queue's tables. Safe beside the application's
    /// own migrations in the same database (each ignores the other's).
    pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
        // apalis-sqlite's `setup` also turns `synchronous` off on a pooled
        // connection, which would give up durability: run only its migrations.
        let mut migrator = SqliteStorage::<()>::migrations();
        migrator.set_ignore_missing(true);
        migrator.run(pool).await?;
        // apalis-sqlite acknowledges a batch by looking up every job still
        // carrying the worker's id in `lock_by`, and finished jobs keep it: a
        // busy worker's acks grow with all it has ever done (quadratic over a
        // 10,000-job burst). A finished job needs no lock, so release it.
        sqlx::query(
            "CREATE TRIGGER IF NOT EXISTS jobs_release_lock_when_done
             AFTER UPDATE OF status ON Jobs
             WHEN NEW.status = 'Done' AND NEW.lock_by IS NOT NULL
             BEGIN UPDATE Jobs SET lock_by = NULL WHERE id = NEW.id; END",
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Stores a job in its own transaction.
    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<(), EnqueueError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(apalis_sqlite::Error::from)?;
        Self::enqueue_in(&mut conn, job).await
    }

    /// Stores jobs on the caller's connection or transaction: they become
    /// visible to workers only when the caller commits.
    pub async fn enqueue_in<J: Job>(
        conn: &mut SqliteConnection,
        job: &J,
    ) -> Result<(), EnqueueError> {
        Self::enqueue_all_in(conn, std::slice::from_ref(job)).await
    }

    /// Stores many jobs in few statements: under a burst the cost of a
    /// batch is a round trip to SQLite's connection thread per few hundred
    /// jobs, not one per job. Rows match what apalis-sqlite's own
    /// `push_tasks` writes (ULID ids, JSON payload as a blob, empty
    /// metadata); a job whose idempotency key is already stored for its
    /// kind is skipped.
    pub async fn enqueue_all_in<J: Job>(
        conn: &mut SqliteConnection,
        jobs: &[J],
    ) -> Result<(), EnqueueError> {
        // SQLite allows 32,766 bound values per statement; 4 per row.
        const ROWS_PER_STATEMENT: usize = 1000;
        let run_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for job in chunk {
                rows.push((
                    serde_json::to_vec(job)?,
                    ulid::Ulid::generate().to_string(),
                    job.idempotency_key(),
                ));
            }
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key) ",
            );
            insert.push_values(rows, |mut row, (payload, id, key)| {
                row.push_bind(payload)
                    .push_bind(id)
                    .push_bind(J::KIND)
                    .push("'Pending'")
                    .push("0")
                    .push_bind(J::MAX_ATTEMPTS as i64)
                    .push_bind(run_at)
                    .push("0")
                    .push("'{}'")
                    .push_bind(key);
            });
            insert.push(" ON CONFLICT (job_type, idempotency_key) DO NOTHING");
            insert
                .build()
                .execute(&mut *conn)
                .await
                .map_err(apalis_sqlite::Error::from)?;
        }
        Ok(())
    }

    /// Per-queue counts, one row per queue that has ever held a job.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, sqlx::Error> {
        let sql = format!(
            "SELECT job_type AS queue,
                SUM(CASE WHEN status IN ('Pending', 'Queued') THEN 1 ELSE 0 END) AS pending,
                SUM(CASE WHEN status = 'Running' THEN 1 ELSE 0 END) AS running,
                SUM(CASE WHEN status = 'Done' THEN 1 ELSE 0 END) AS done,
                SUM(CASE WHEN status = 'Failed' AND attempts < max_attempts THEN 1 ELSE 0 END) AS retrying,
                SUM(CASE WHEN {DEAD} THEN 1 ELSE 0 END) AS dead,
                MAX(0, CAST(strftime('%s', 'now') AS INTEGER)
                    - MIN(CASE WHEN status IN ('Pending', 'Queued') THEN run_at END)) AS oldest_pending_secs
             FROM Jobs GROUP BY job_type ORDER BY job_type"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
    }

    /// Jobs that will not run again, newest first.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let sql = format!(
            "SELECT id, job_type AS queue, attempts, last_result AS error, CAST(job AS TEXT) AS payload
             FROM Jobs WHERE {DEAD} ORDER BY done_at DESC LIMIT $1"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
    }

    /// Jobs of every queue not yet finished: waiting, running or retrying.
    pub async fn unfinished(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM Jobs WHERE status IN ('Pending', 'Queued', 'Running')
             OR (status = 'Failed' AND attempts < max_attempts)",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// How long, in seconds, the oldest job of `kind` that could run now has
    /// been waiting for a worker; `None` when none is waiting.
    pub async fn oldest_due_secs(&self, kind: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT CAST(strftime('%s', 'now') AS INTEGER) - MIN(run_at) FROM Jobs
             WHERE job_type = $1 AND status = 'Pending' AND lock_by IS NULL
               AND run_at <= CAST(strftime('%s', 'now') AS INTEGER)",
        )
        .bind(kind)
        .fetch_one(&self.pool)
        .await
    }

    /// Deletes jobs that finished successfully longer ago than `older_than`,
    /// and registrations of workers silent for as long. Dead letters stay
    /// until someone deals with them. Returns the jobs deleted.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, sqlx::Error> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(older_than)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let jobs = sqlx::query("DELETE FROM Jobs WHERE status = 'Done' AND done_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM Workers WHERE last_seen < $1
             AND NOT EXISTS (SELECT 1 FROM Jobs WHERE Jobs.lock_by = Workers.id)",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(jobs)
    }

    /// A cheap round trip proving the queue's storage answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM (SELECT 1 FROM Jobs LIMIT 1)")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
    }
}
