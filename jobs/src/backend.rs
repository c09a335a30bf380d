//! One handle over the two queue backends: the SQL queue (apalis's tables
//! in the application's database) and Amazon SQS (with a transactional
//! outbox in that database). The application enqueues, inspects and works
//! jobs the same way on both.

use std::time::Duration;

use crate::{
    Conn, DeadLetter, EnqueueError, Job, QueueStats, SqlQueue, Store, Tenant, outbox,
    sqs::{Outgoing, SqsError, SqsQueue},
};

/// SQS with its outbox database and the job kinds it carries.
#[derive(Debug, Clone)]
pub struct SqsBackend {
    pub sqs: SqsQueue,
    pub store: Store,
    pub kinds: Vec<&'static str>,
}

/// The queue backend a deployment chose.
#[derive(Debug, Clone)]
pub enum Queue {
    Sql(SqlQueue),
    Sqs(SqsBackend),
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Sqs(#[from] SqsError),
}

impl Queue {
    /// The database the queue (or its outbox) lives in.
    pub fn store(&self) -> &Store {
        match self {
            Self::Sql(queue) => queue.store(),
            Self::Sqs(backend) => &backend.store,
        }
    }

    /// The same backend reached through another pool on the same database
    /// (a read pool for counts, say); an SQS client is shared, not rebuilt.
    pub fn with_store(&self, store: Store) -> Self {
        match self {
            Self::Sql(queue) => Self::Sql(SqlQueue::new(store, queue.config().clone())),
            Self::Sqs(backend) => Self::Sqs(SqsBackend {
                store,
                ..backend.clone()
            }),
        }
    }

    /// Stores jobs on the caller's connection or transaction, durable when
    /// the caller commits: on SQLite and SQS they go to the outbox (see
    /// [`crate::outbox`]), from which the relay forwards them to the job
    /// table or to SQS; on Postgres straight into the job table. A job
    /// too large for an SQS message is refused here, with the caller, not
    /// later in the relay.
    pub async fn enqueue_all_in<J: Job>(
        &self,
        conn: Conn<'_>,
        jobs: &[J],
    ) -> Result<(), EnqueueError> {
        self.enqueue_all_at_in(conn, jobs, std::time::SystemTime::now())
            .await
    }

    /// [`Queue::enqueue_all_in`] for a hot path (form intake) that commits
    /// batches many times a second: on Postgres's SQL queue the jobs are
    /// not announced inside the caller's transaction (see
    /// [`SqlQueue::enqueue_all_quietly_in`] for why); the caller calls
    /// [`Queue::announce`] with `J::KIND` once it has committed. On SQLite
    /// and SQS the same as [`Queue::enqueue_all_in`] (the outbox's relay
    /// wakes the workers). On Postgres's SQL queue it is one statement, so
    /// on a connection outside a transaction it is atomic and durable at
    /// its own commit (no BEGIN and COMMIT round trips).
    pub async fn enqueue_all_quietly_in<J: Job>(
        &self,
        conn: Conn<'_>,
        jobs: &[J],
    ) -> Result<(), EnqueueError> {
        if let (Self::Sql(_), Conn::Postgres(_)) = (self, &conn) {
            return SqlQueue::enqueue_all_quietly_in(conn, jobs).await;
        }
        self.enqueue_all_in(conn, jobs).await
    }

    /// Wakes the workers of `kind` in every process for jobs committed
    /// with [`Queue::enqueue_all_quietly_in`]: a `NOTIFY` of its own on
    /// Postgres's SQL queue, nothing elsewhere. An error only leaves the
    /// jobs to the workers' next poll.
    pub async fn announce(&self, kind: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sql(queue) => queue.announce(kind).await,
            Self::Sqs(_) => Ok(()),
        }
    }

    /// [`Queue::enqueue_all_in`], the jobs due at `at` (never run before
    /// it): see [`crate::delay`] for how each backend waits.
    pub async fn enqueue_all_at_in<J: Job>(
        &self,
        conn: Conn<'_>,
        jobs: &[J],
        at: std::time::SystemTime,
    ) -> Result<(), EnqueueError> {
        let due_ms = crate::delay::future_ms(at);
        // On Postgres the SQL queue's table takes a batch in one `unnest()`
        // insert as fast as the outbox would (faster: 11,600/s against
        // 7,400/s sustained, measured on one machine), so jobs go there
        // directly; the outbox serves SQLite, where the job table's seven
        // indexes make it dear, and SQS.
        if let (Self::Sql(_), Conn::Postgres(_)) = (self, &conn) {
            return SqlQueue::enqueue_all_at_in(conn, jobs, at).await;
        }
        let mut messages = Vec::with_capacity(jobs.len());
        for job in jobs {
            let body = serde_json::to_string(job)?;
            if let Self::Sqs(_) = self {
                SqsQueue::check_size(J::KIND, &body)
                    .map_err(|e| EnqueueError::Other(e.to_string()))?;
            }
            messages.push(Outgoing {
                body,
                dedup_key: job.idempotency_key(),
                organization: job.organization(),
            });
        }
        match (self, due_ms) {
            // SQS holds a message for 15 minutes at most: a delayed job
            // waits in the database until the relay sends it.
            (Self::Sqs(_), Some(due_ms)) => {
                crate::delay::hold(conn, J::KIND, messages, due_ms).await
            }
            _ => outbox::insert(conn, J::KIND, J::MAX_ATTEMPTS, messages, due_ms).await,
        }
    }

    /// Stores one job in its own transaction.
    pub async fn enqueue<J: Job>(&self, job: &J) -> Result<(), EnqueueError> {
        match self.store() {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                self.enqueue_all_in(Conn::Sqlite(&mut conn), std::slice::from_ref(job))
                    .await
            }
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                self.enqueue_all_in(Conn::Postgres(&mut conn), std::slice::from_ref(job))
                    .await
            }
        }
    }

    /// Per-queue counts. On SQS they are SQS's approximate counts, plus the
    /// outbox as pending, plus the outcome counters kept in the database.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.stats().await?),
            Self::Sqs(backend) => {
                let outcomes = outbox::outcomes(&backend.store).await?;
                // Jobs still in the outbox wait under their own kind.
                let waiting = outbox::waiting_by_kind(&backend.store).await?;
                // Delayed jobs held for SQS wait too (`delay::held`).
                let held = crate::delay::held(&backend.store).await?;
                let mut stats = Vec::new();
                for kind in &backend.kinds {
                    let counts = backend.sqs.counts(kind).await?;
                    let (succeeded, failed, dead) =
                        outcomes.get(*kind).copied().unwrap_or_default();
                    let (outbox_waiting, oldest) = match waiting.get(*kind) {
                        Some(&(n, oldest)) => (n, Some(oldest)),
                        None => (0, None),
                    };
                    stats.push(QueueStats {
                        queue: kind.to_string(),
                        pending: counts.visible
                            + counts.delayed
                            + outbox_waiting
                            + held.iter().find(|h| h.0 == *kind).map_or(0, |h| h.1),
                        running: counts.in_flight,
                        done: succeeded,
                        retrying: (failed - dead).max(0),
                        dead: counts.dead,
                        oldest_pending_secs: oldest,
                    });
                }
                Ok(stats)
            }
        }
    }

    /// Jobs not yet finished (waiting, running, retrying) across queues;
    /// delayed jobs count from their due time.
    pub async fn unfinished(&self) -> Result<i64, QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.unfinished().await?),
            Self::Sqs(backend) => {
                let mut n = outbox::waiting_bound(&backend.store).await?;
                for kind in &backend.kinds {
                    let c = backend.sqs.counts(kind).await?;
                    // Delayed messages (and jobs held in `jobs_delayed`)
                    // are not due: no backlog yet.
                    n += c.visible + c.in_flight;
                }
                Ok(n)
            }
        }
    }

    /// Jobs that will not run again (every organization's).
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, QueueError> {
        self.dead_letters_of(Tenant::All, limit).await
    }

    /// Jobs of `tenant` that will not run again. On SQS, the dead-letter
    /// queues are looked at (a few dozen messages each) and filtered by
    /// the messages' `organization` attribute.
    pub async fn dead_letters_of(
        &self,
        tenant: Tenant,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.dead_letters_of(tenant, limit).await?),
            Self::Sqs(backend) => {
                let mut letters = Vec::new();
                for kind in &backend.kinds {
                    for letter in backend.sqs.dead_letters(kind, 100).await? {
                        if !tenant.reaches(letter.organization) {
                            continue;
                        }
                        letters.push(DeadLetter {
                            id: letter.id,
                            queue: letter.kind,
                            attempts: letter.attempts,
                            error: letter.error,
                            payload: letter.body,
                            organization: letter.organization,
                            due_at: None,
                        });
                    }
                }
                letters.truncate(limit.max(0) as usize);
                Ok(letters)
            }
        }
    }

    /// Dead letter `id` of `queue`, if `tenant` reaches it.
    pub async fn dead_letter(
        &self,
        tenant: Tenant,
        queue: &str,
        id: &str,
    ) -> Result<Option<DeadLetter>, QueueError> {
        match self {
            Self::Sql(sql) => Ok(sql.dead_letter(tenant, id).await?),
            Self::Sqs(_) => Ok(self
                .dead_letters_of(tenant, 1000)
                .await?
                .into_iter()
                .find(|d| d.queue == queue && d.id == id)),
        }
    }

    /// Recent failures that will be retried (every organization's).
    pub async fn recent_failures(&self, limit: i64) -> Result<Vec<DeadLetter>, QueueError> {
        self.recent_failures_of(Tenant::All, limit).await
    }

    /// Recent failures of `tenant` that will be retried, newest first. On
    /// the SQL queue, one per job (its last error, and when it is due
    /// again); on SQS, one per failed attempt (`jobs_failures`).
    pub async fn recent_failures_of(
        &self,
        tenant: Tenant,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.recent_failures_of(tenant, limit).await?),
            Self::Sqs(backend) => {
                Ok(
                    outbox::recent_failures(&backend.store, tenant.organization(), limit)
                        .await?
                        .into_iter()
                        .map(|f| DeadLetter {
                            id: f.id.to_string(),
                            queue: f.kind,
                            attempts: f.attempt,
                            error: Some(f.error),
                            payload: f.body.unwrap_or_default(),
                            organization: f.organization_id,
                            due_at: None,
                        })
                        .collect(),
                )
            }
        }
    }

    /// Sends dead letter `id` of `queue` back to run again, with fresh
    /// attempts. False when there is no such dead letter.
    pub async fn retry_dead(&self, queue: &str, id: &str) -> Result<bool, QueueError> {
        self.retry_dead_of(Tenant::All, queue, id).await
    }

    /// [`Queue::retry_dead`] for a dead letter `tenant` reaches; false for
    /// any other.
    pub async fn retry_dead_of(
        &self,
        tenant: Tenant,
        queue: &str,
        id: &str,
    ) -> Result<bool, QueueError> {
        match self {
            Self::Sql(sql) => Ok(sql.retry_dead_of(tenant, id).await?),
            Self::Sqs(backend) => Ok(backend.sqs.settle_dead(queue, id, true, tenant).await?),
        }
    }

    /// Deletes dead letter `id` of `queue`. False when there is none.
    pub async fn discard_dead(&self, queue: &str, id: &str) -> Result<bool, QueueError> {
        self.discard_dead_of(Tenant::All, queue, id).await
    }

    /// [`Queue::discard_dead`] for a dead letter `tenant` reaches.
    pub async fn discard_dead_of(
        &self,
        tenant: Tenant,
        queue: &str,
        id: &str,
    ) -> Result<bool, QueueError> {
        match self {
            Self::Sql(sql) => Ok(sql.discard_dead_of(tenant, id).await?),
            Self::Sqs(backend) => Ok(backend.sqs.settle_dead(queue, id, false, tenant).await?),
        }
    }

    /// Deletes what is kept only for a while: finished jobs (SQL) or
    /// failure records (SQS). Returns how many went.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.prune(older_than).await?),
            Self::Sqs(backend) => Ok(outbox::prune_failures(&backend.store, older_than).await?),
        }
    }

    /// A cheap round trip proving the queue answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Self::Sql(queue) => Ok(queue.ping().await?),
            Self::Sqs(backend) => {
                outbox::waiting(&backend.store).await?;
                if let Some(kind) = backend.kinds.first() {
                    backend.sqs.ping(kind).await?;
                }
                Ok(())
            }
        }
    }

    /// Forwards the outbox to the job table or to SQS until `token` is
    /// cancelled. On the SQL queue every [`crate::Runtime`] runs it: the
    /// jobs are of use only to workers, so a web process leaves the move
    /// (the costly write to the job table's indexes) to them and spends
    /// itself on intake. SQS is relayed from every process, so that jobs
    /// reach SQS as soon as they are committed wherever workers run.
    pub async fn relay(&self, token: tokio_util::sync::CancellationToken) {
        match self {
            Self::Sql(queue) => outbox::relay_to_sql(queue.store().clone(), token).await,
            Self::Sqs(backend) => {
                outbox::relay(backend.store.clone(), backend.sqs.clone(), token).await
            }
        }
    }
}

impl From<SqlQueue> for Queue {
    fn from(queue: SqlQueue) -> Self {
        Self::Sql(queue)
    }
}

impl From<SqsBackend> for Queue {
    fn from(backend: SqsBackend) -> Self {
        Self::Sqs(backend)
    }
}
