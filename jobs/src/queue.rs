//! The SQL queue: apalis's job tables in the application's own database
//! (apalis-sqlite's `Jobs` on SQLite, apalis-postgres's `apalis.jobs` on
//! Postgres), so that enqueueing can share the caller's transaction.

use std::time::Duration;

use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

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
    Storage(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
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

/// A job that failed, with the error it failed with: a dead letter (it will
/// not run again) or a recent failure that will be retried.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: String,
    pub queue: String,
    pub attempts: i64,
    pub error: Option<String>,
    /// The job's payload as JSON (SQS: the message body).
    pub payload: String,
    /// The organization the job works for ([`crate::Job::organization`]).
    pub organization: Option<i64>,
    /// For a job that will be retried: when its next attempt is due (Unix
    /// ms). `None` for dead letters, and on SQS (the message's visibility
    /// is not readable).
    pub due_at: Option<i64>,
}

/// Whose jobs a listing or an action may touch: the deployment's operators
/// see every job; an organization only the jobs tagged with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    All,
    Organization(i64),
}

impl Tenant {
    /// The organization to filter on, `None` for all.
    pub fn organization(self) -> Option<i64> {
        match self {
            Self::All => None,
            Self::Organization(id) => Some(id),
        }
    }

    /// Whether a job tagged `organization` is within this tenant's reach.
    pub fn reaches(self, organization: Option<i64>) -> bool {
        match self {
            Self::All => true,
            Self::Organization(id) => organization == Some(id),
        }
    }
}

/// Where the SQL queue lives: the application's database, either dialect.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl From<SqlitePool> for Store {
    fn from(pool: SqlitePool) -> Self {
        Self::Sqlite(pool)
    }
}

impl From<PgPool> for Store {
    fn from(pool: PgPool) -> Self {
        Self::Postgres(pool)
    }
}

/// A connection (or open transaction) of the caller's, to enqueue on.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// Runs the same query-building expression against whichever pool the store
/// holds: the expression is compiled once per dialect.
macro_rules! on_store {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_store;

/// SQL written once for "this job will not run again".
const DEAD: &str = "(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))";
/// ... for "failed, will be retried when due" ...
const RETRYING: &str = "(status = 'Failed' AND attempts < max_attempts)";
/// ... and for "not finished: waiting, running or retrying".
const UNFINISHED: &str = "(status IN ('Pending', 'Queued', 'Running') OR (status = 'Failed' AND attempts < max_attempts))";

/// Handle to the SQL queue.
#[derive(Debug, Clone)]
pub struct SqlQueue {
    store: Store,
    config: QueueConfig,
}

/// Who announces a Postgres insert to the workers of other processes.
#[derive(Debug, Clone, Copy)]
enum Announce {
    /// The insert trigger, in the inserting transaction.
    InTransaction,
    /// The caller, after its commit ([`SqlQueue::announce`]).
    AfterCommit,
}

fn unix_secs(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SqlQueue {
    pub fn new(store: impl Into<Store>, config: QueueConfig) -> Self {
        Self {
            store: store.into(),
            config,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Creates or upgrades the queue's tables: apalis's, then the crate's own
    /// (versioned in `jobs_schema_migrations`, see [`crate::MIGRATIONS_TABLE`]).
    /// Safe beside the application's own migrations in the same database.
    pub async fn migrate(store: &Store) -> Result<(), sqlx::migrate::MigrateError> {
        match store {
            Store::Sqlite(pool) => {
                // apalis-sqlite's `setup` also turns `synchronous` off on a
                // pooled connection, which would give up durability: run only
                // its migrations.
                let mut migrator = SqliteStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
            Store::Postgres(pool) => {
                let mut migrator = PostgresStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
        }
        // The crate's own tables (outbox, counters, inbox, the job table's
        // additions), versioned: see `migrations`.
        crate::migrations::run(store).await?;
        Ok(())
    }

    /// Stores a job in its own transaction.
    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<(), EnqueueError> {
        match &self.store {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                Self::enqueue_all_in(Conn::Sqlite(&mut conn), std::slice::from_ref(job)).await
            }
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                Self::enqueue_all_in(Conn::Postgres(&mut conn), std::slice::from_ref(job)).await
            }
        }
    }

    /// Stores jobs on the caller's connection or transaction: they become
    /// visible to workers only when the caller commits. Under a burst the
    /// cost of a batch is a statement per few hundred jobs, not one per job.
    /// Rows match what apalis's own sinks write (ULID ids, JSON payload as
    /// bytes); a job whose idempotency key is already stored for its kind is
    /// skipped.
    pub async fn enqueue_all_in<J: Job>(conn: Conn<'_>, jobs: &[J]) -> Result<(), EnqueueError> {
        Self::enqueue_all_at_in(conn, jobs, std::time::SystemTime::now()).await
    }

    /// [`SqlQueue::enqueue_all_in`], the jobs due at `at` (a row's
    /// `run_at`, the same column a retry waits on: see [`crate::delay`]).
    /// On SQLite `run_at` is whole seconds, rounded up for a time to come.
    pub async fn enqueue_all_at_in<J: Job>(
        conn: Conn<'_>,
        jobs: &[J],
        at: std::time::SystemTime,
    ) -> Result<(), EnqueueError> {
        Self::insert_at_in(conn, jobs, at, Announce::InTransaction).await
    }

    /// [`SqlQueue::enqueue_all_in`] for a caller that commits batches of
    /// jobs many times a second and announces them itself once committed
    /// ([`Queue::announce`](crate::Queue::announce)): on Postgres the
    /// insert trigger's `NOTIFY` is left out of the caller's transaction.
    /// A notifying transaction holds a lock on the whole database's
    /// notification queue through its commit, WAL flush included, so
    /// concurrent writers that notify commit one at a time instead of
    /// sharing a flush (measured with 8 clients inserting 25 jobs a
    /// transaction: 7,000 jobs/s with the `NOTIFY` inside, 13,000–16,600
    /// without). Announced after the commit, the `NOTIFY` is a transaction
    /// of its own with nothing to flush. Elsewhere the same as
    /// [`SqlQueue::enqueue_all_in`].
    pub async fn enqueue_all_quietly_in<J: Job>(
        conn: Conn<'_>,
        jobs: &[J],
    ) -> Result<(), EnqueueError> {
        Self::insert_at_in(
            conn,
            jobs,
            std::time::SystemTime::now(),
            Announce::AfterCommit,
        )
        .await
    }

    async fn insert_at_in<J: Job>(
        conn: Conn<'_>,
        jobs: &[J],
        at: std::time::SystemTime,
        announce: Announce,
    ) -> Result<(), EnqueueError> {
        let due_ms = crate::delay::unix_ms(at);
        let mut payloads = Vec::with_capacity(jobs.len());
        let mut ids = Vec::with_capacity(jobs.len());
        let mut keys = Vec::with_capacity(jobs.len());
        let mut organizations = Vec::with_capacity(jobs.len());
        for job in jobs {
            payloads.push(serde_json::to_vec(job)?);
            ids.push(ulid::Ulid::generate().to_string());
            keys.push(job.idempotency_key());
            organizations.push(job.organization());
        }
        match conn {
            Conn::Sqlite(conn) => {
                // SQLite allows 32,766 bound values per statement; 6 per row.
                const ROWS_PER_STATEMENT: usize = 1000;
                let rows: Vec<_> = payloads
                    .into_iter()
                    .zip(ids)
                    .zip(keys)
                    .zip(organizations)
                    .collect();
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key, organization_id) ",
                    );
                    insert.push_values(chunk, |mut row, (((payload, id), key), organization)| {
                        row.push_bind(payload.as_slice())
                            .push_bind(id.as_str())
                            .push_bind(J::KIND)
                            .push("'Pending'")
                            .push("0")
                            .push_bind(J::MAX_ATTEMPTS as i64)
                            .push_bind(crate::delay::sqlite_run_at(due_ms))
                            .push("0")
                            .push("'{}'")
                            .push_bind(key.as_deref())
                            .push_bind(*organization);
                    });
                    insert.push(" ON CONFLICT (job_type, idempotency_key) DO NOTHING");
                    insert.build().execute(&mut *conn).await?;
                }
            }
            Conn::Postgres(conn) => {
                // One statement for the whole batch: arrays unnested
                // server-side. Its insert trigger announces the jobs (one
                // `NOTIFY` per statement and kind) unless told, in the same
                // statement, that the caller announces them after its
                // commit (migration 0004).
                let sql = match announce {
                    Announce::InTransaction => {
                        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key, organization_id)
                         SELECT id, $2, job, 'Pending', 0, $4, to_timestamp($5), 0, key, organization
                         FROM unnest($1::text[], $3::bytea[], $6::text[], $7::bigint[]) AS t(id, job, key, organization)
                         ON CONFLICT (job_type, idempotency_key) DO NOTHING"
                    }
                    Announce::AfterCommit => {
                        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key, organization_id)
                         SELECT id, $2, job, 'Pending', 0, $4, to_timestamp($5), 0, key, organization
                         FROM unnest($1::text[], $3::bytea[], $6::text[], $7::bigint[]) AS t(id, job, key, organization),
                            (SELECT set_config('jobs.announce_after_commit', 'on', true)) AS announced_later
                         ON CONFLICT (job_type, idempotency_key) DO NOTHING"
                    }
                };
                sqlx::query(sql)
                    .bind(ids)
                    .bind(J::KIND)
                    .bind(payloads)
                    .bind(J::MAX_ATTEMPTS as i32)
                    .bind(crate::delay::postgres_run_at(due_ms))
                    .bind(keys)
                    .bind(organizations)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        // Wakes this process's workers of the kind (before the caller's
        // commit, if on its transaction: see `wake` for why that is cheap).
        if due_ms <= crate::outbox::now_ms() {
            crate::wake::poke(J::KIND);
        }
        Ok(())
    }

    /// Announces to every process's workers (`wake::listen`) that jobs
    /// of `kind` inserted with [`SqlQueue::enqueue_all_quietly_in`] are
    /// committed: one `NOTIFY` in a transaction of its own. Nothing on
    /// SQLite, where the relay wakes workers. A failure only delays the
    /// jobs until the workers' next poll.
    pub async fn announce(&self, kind: &str) -> Result<(), sqlx::Error> {
        if let Store::Postgres(pool) = &self.store {
            sqlx::query("SELECT pg_notify($1, json_build_object('job_type', $2::text)::text)")
                .bind(crate::wake::CHANNEL)
                .bind(kind)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Per-queue counts, one row per queue that has ever held a job.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, sqlx::Error> {
        let counts = format!(
            "job_type AS queue,
             CAST(SUM(CASE WHEN status IN ('Pending', 'Queued') THEN 1 ELSE 0 END) AS BIGINT) AS pending,
             CAST(SUM(CASE WHEN status = 'Running' THEN 1 ELSE 0 END) AS BIGINT) AS running,
             CAST(SUM(CASE WHEN status = 'Done' THEN 1 ELSE 0 END) AS BIGINT) AS done,
             CAST(SUM(CASE WHEN status = 'Failed' AND attempts < max_attempts THEN 1 ELSE 0 END) AS BIGINT) AS retrying,
             CAST(SUM(CASE WHEN {DEAD} THEN 1 ELSE 0 END) AS BIGINT) AS dead"
        );
        // Both reads in one snapshot: a relay committing between them would
        // make moved jobs count twice or not at all.
        let (sql, begin) = match &self.store {
            Store::Sqlite(_) => (
                format!(
                    "SELECT {counts},
                        MAX(0, CAST(strftime('%s', 'now') AS INTEGER)
                            - MIN(CASE WHEN status IN ('Pending', 'Queued') THEN run_at END)) AS oldest_pending_secs
                     FROM Jobs GROUP BY job_type ORDER BY job_type"
                ),
                "BEGIN",
            ),
            Store::Postgres(_) => (
                format!(
                    "SELECT {counts},
                        CAST(GREATEST(0, EXTRACT(EPOCH FROM now()
                            - MIN(CASE WHEN status IN ('Pending', 'Queued') THEN run_at END))) AS BIGINT) AS oldest_pending_secs
                     FROM apalis.jobs GROUP BY job_type ORDER BY job_type"
                ),
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            ),
        };
        let (mut stats, outbox): (Vec<QueueStats>, Vec<(String, i64, i64)>) = on_store!(&self.store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let stats = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await?;
            let outbox = sqlx::query_as(crate::outbox::WAITING_BY_KIND)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (stats, outbox)
        });
        // Jobs still in the outbox are waiting too, for the relay.
        let now_ms = unix_secs(std::time::SystemTime::now()) * 1000;
        for (kind, waiting, oldest_ms) in outbox {
            let at = match stats.iter().position(|s| s.queue == kind) {
                Some(at) => at,
                None => {
                    stats.push(QueueStats {
                        queue: kind,
                        ..QueueStats::default()
                    });
                    stats.len() - 1
                }
            };
            let entry = &mut stats[at];
            entry.pending += waiting;
            let age = ((now_ms - oldest_ms) / 1000).max(0);
            entry.oldest_pending_secs = Some(entry.oldest_pending_secs.unwrap_or(0).max(age));
        }
        stats.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(stats)
    }

    /// Jobs that will not run again, newest first (every organization's).
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
        self.dead_letters_of(Tenant::All, limit).await
    }

    /// Jobs of `tenant` that will not run again, newest first.
    pub async fn dead_letters_of(
        &self,
        tenant: Tenant,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, sqlx::Error> {
        self.failures(DEAD, tenant, None, limit).await
    }

    /// Jobs that failed and will be tried again (every organization's).
    pub async fn recent_failures(&self, limit: i64) -> Result<Vec<DeadLetter>, sqlx::Error> {
        self.recent_failures_of(Tenant::All, limit).await
    }

    /// Jobs of `tenant` that failed and will be tried again (each waits in
    /// its queue for its due time), newest failure first.
    pub async fn recent_failures_of(
        &self,
        tenant: Tenant,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, sqlx::Error> {
        self.failures(RETRYING, tenant, None, limit).await
    }

    /// Dead letter `id`, if it is one and `tenant` reaches it.
    pub async fn dead_letter(
        &self,
        tenant: Tenant,
        id: &str,
    ) -> Result<Option<DeadLetter>, sqlx::Error> {
        Ok(self.failures(DEAD, tenant, Some(id), 1).await?.pop())
    }

    async fn failures(
        &self,
        filter: &str,
        tenant: Tenant,
        id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let (table, error, payload, due) = match &self.store {
            Store::Sqlite(_) => (
                "Jobs",
                "last_result",
                "CAST(job AS TEXT)",
                "CAST(run_at AS INTEGER) * 1000",
            ),
            Store::Postgres(_) => (
                "apalis.jobs",
                "CAST(last_result AS TEXT)",
                "convert_from(job, 'UTF8')",
                "CAST(EXTRACT(EPOCH FROM run_at) * 1000 AS BIGINT)",
            ),
        };
        let sql = format!(
            "SELECT id, job_type AS queue, CAST(attempts AS BIGINT) AS attempts, {error} AS error, {payload} AS payload,
                CAST(organization_id AS BIGINT) AS organization,
                CASE WHEN {RETRYING} THEN {due} END AS due_at
             FROM {table} WHERE {filter}
               AND (CAST($2 AS BIGINT) IS NULL OR organization_id = $2)
               AND (CAST($3 AS TEXT) IS NULL OR id = $3)
             ORDER BY done_at DESC, id DESC LIMIT $1"
        );
        on_store!(&self.store, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(tenant.organization())
            .bind(id)
            .fetch_all(pool)
            .await)
    }

    /// Puts a dead letter back in its queue with fresh attempts. Returns
    /// false when no dead job has that id.
    pub async fn retry_dead(&self, id: &str) -> Result<bool, sqlx::Error> {
        self.retry_dead_of(Tenant::All, id).await
    }

    /// Puts a dead letter of `tenant` back in its queue with fresh attempts.
    /// Returns false when `tenant` has no dead job with that id.
    pub async fn retry_dead_of(&self, tenant: Tenant, id: &str) -> Result<bool, sqlx::Error> {
        let sql = match &self.store {
            Store::Sqlite(_) => format!(
                "UPDATE Jobs SET status = 'Pending', attempts = 0, lock_by = NULL, lock_at = NULL,
                    done_at = NULL, run_at = CAST(strftime('%s', 'now') AS INTEGER)
                 WHERE id = $1 AND {DEAD} AND (CAST($2 AS BIGINT) IS NULL OR organization_id = $2)"
            ),
            Store::Postgres(_) => format!(
                "UPDATE apalis.jobs SET status = 'Pending', attempts = 0, lock_by = NULL, lock_at = NULL,
                    done_at = NULL, run_at = now()
                 WHERE id = $1 AND {DEAD} AND (CAST($2 AS BIGINT) IS NULL OR organization_id = $2)"
            ),
        };
        on_store!(&self.store, pool => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(tenant.organization())
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
    }

    /// Deletes a dead letter for good. Returns false when no dead job has
    /// that id.
    pub async fn discard_dead(&self, id: &str) -> Result<bool, sqlx::Error> {
        self.discard_dead_of(Tenant::All, id).await
    }

    /// Deletes a dead letter of `tenant` for good. Returns false when
    /// `tenant` has no dead job with that id.
    pub async fn discard_dead_of(&self, tenant: Tenant, id: &str) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND {DEAD} AND (CAST($2 AS BIGINT) IS NULL OR organization_id = $2)",
            self.table()
        );
        on_store!(&self.store, pool => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(tenant.organization())
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0))
    }

    /// Sends job `id`, which just failed and has attempts left, back to the
    /// queue until `due` (its next attempt): a job waiting for a retry is a
    /// row with a future `run_at`, not a worker sleeping on it. Written
    /// before apalis records the failure (which leaves `run_at` alone), so
    /// no worker can fetch the job in between.
    pub async fn reschedule(
        &self,
        id: &str,
        due: std::time::SystemTime,
    ) -> Result<(), sqlx::Error> {
        let due_ms = crate::delay::unix_ms(due);
        match &self.store {
            Store::Sqlite(pool) => {
                // apalis-sqlite keeps run_at in whole seconds: rounded up, so
                // a job is never due before its backoff has passed.
                sqlx::query("UPDATE Jobs SET run_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(crate::delay::sqlite_run_at(due_ms))
                    .execute(pool)
                    .await?;
            }
            Store::Postgres(pool) => {
                sqlx::query("UPDATE apalis.jobs SET run_at = to_timestamp($2) WHERE id = $1")
                    .bind(id)
                    .bind(crate::delay::postgres_run_at(due_ms))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    fn table(&self) -> &'static str {
        match self.store {
            Store::Sqlite(_) => "Jobs",
            Store::Postgres(_) => "apalis.jobs",
        }
    }

    /// Jobs of every queue not yet finished: waiting (in the outbox too, as
    /// an upper bound: see `outbox::waiting_bound`), running or retrying.
    /// A delayed job not yet due is no backlog: it is not counted until its
    /// time (see [`crate::delay`]).
    pub async fn unfinished(&self) -> Result<i64, sqlx::Error> {
        // One statement, so one snapshot: read apart, a relay committing in
        // between would move jobs out of the outbox after the job table was
        // counted, and both counts would miss them.
        let now = match self.store {
            Store::Sqlite(_) => "CAST(strftime('%s', 'now') AS INTEGER)",
            Store::Postgres(_) => "now()",
        };
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM {} WHERE {UNFINISHED}
                AND NOT (status = 'Pending' AND run_at > {now})) + {}",
            self.table(),
            crate::outbox::WAITING_BOUND
        );
        on_store!(&self.store, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await)
    }

    /// How long, in seconds, the oldest job of `kind` that could run now
    /// (waiting, or a retry now due) has been waiting for a worker; `None`
    /// when none is waiting.
    pub async fn oldest_due_secs(&self, kind: &str) -> Result<Option<i64>, sqlx::Error> {
        match &self.store {
            Store::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT CAST(strftime('%s', 'now') AS INTEGER) - MIN(run_at) FROM Jobs
                     WHERE job_type = $1
                       AND ((status = 'Pending' AND lock_by IS NULL)
                            OR (status = 'Failed' AND attempts < max_attempts))
                       AND run_at <= CAST(strftime('%s', 'now') AS INTEGER)",
                )
                .bind(kind)
                .fetch_one(pool)
                .await
            }
            Store::Postgres(pool) => sqlx::query_scalar(
                "SELECT CAST(EXTRACT(EPOCH FROM now() - MIN(run_at)) AS BIGINT) FROM apalis.jobs
                     WHERE job_type = $1
                       AND ((status = 'Pending' AND lock_by IS NULL)
                            OR (status = 'Failed' AND attempts < max_attempts))
                       AND run_at <= now()",
            )
            .bind(kind)
            .fetch_one(pool)
            .await,
        }
    }

    /// Deletes jobs that finished successfully longer ago than `older_than`,
    /// and registrations of workers silent for as long. Dead letters stay
    /// until someone deals with them. Returns the jobs deleted.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, sqlx::Error> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(older_than)
            .map(unix_secs)
            .unwrap_or(0);
        let (jobs, workers, time) = match self.store {
            Store::Sqlite(_) => ("Jobs", "Workers", "$1"),
            Store::Postgres(_) => ("apalis.jobs", "apalis.workers", "to_timestamp($1)"),
        };
        let delete_jobs = format!("DELETE FROM {jobs} WHERE status = 'Done' AND done_at < {time}");
        let delete_workers = format!(
            "DELETE FROM {workers} WHERE last_seen < {time}
             AND NOT EXISTS (SELECT 1 FROM {jobs} WHERE {jobs}.lock_by = {workers}.id)"
        );
        on_store!(&self.store, pool => {
            let deleted = sqlx::query(sqlx::AssertSqlSafe(delete_jobs))
                .bind(cutoff as f64)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query(sqlx::AssertSqlSafe(delete_workers))
                .bind(cutoff as f64)
                .execute(pool)
                .await?;
            Ok(deleted)
        })
    }

    /// A cheap round trip proving the queue's storage answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT 1) AS probe",
            self.table()
        );
        on_store!(&self.store, pool => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await)
        .map(|_| ())
    }
}
