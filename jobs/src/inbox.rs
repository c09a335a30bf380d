//! The webhook inbox: an inbound event (a Stripe, Mailgun or Wistia
//! webhook, say) is stored once per provider and event id, and its
//! processing job is enqueued in the same transaction. A webhook endpoint
//! calls [`accept`] and answers 2xx as soon as it returns: one commit, and
//! the provider's redelivery of the same event is a no-op.
//!
//! The processing job is an [`InboundEvent`] (kind [`InboundEvent::KIND`]),
//! enqueued like any job (through the outbox on SQLite and SQS, so SQS is
//! never waited on while the provider waits for its answer). Its handler
//! wraps the application's with [`process`], which loads the stored
//! request, runs it and records the outcome on the event: `processed`,
//! `failed` (will be tried again) or `dead` (out of attempts, or failed
//! permanently). [`events`] lists them for operators.
//!
//! The raw request (headers and body, exactly as received, for signature
//! checks and replays) is kept until [`purge`] drops it from events that
//! are finished and older than the retention period; the row itself stays,
//! so that a late redelivery is still recognised.

use std::{future::Future, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{Conn, EnqueueError, Job, JobError, Queue, Store, outbox::now_ms, queue::on_store};

/// Longest provider name, in bytes.
pub const MAX_PROVIDER_LEN: usize = 64;
/// Longest event id, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 255;

/// Why an event could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The provider or event id is empty or too long: the caller's 400.
    #[error("invalid inbound event: {0}")]
    Invalid(&'static str),
    #[error("inbox storage failed: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("the event's processing job could not be enqueued: {0}")]
    Enqueue(#[from] EnqueueError),
}

/// The job that processes one stored event: it names the event; the
/// request itself stays in the inbox (a body may be larger than a job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// The event's row in `jobs_inbox`.
    pub id: i64,
    pub provider: String,
    pub event_id: String,
}

impl Job for InboundEvent {
    const KIND: &'static str = "jobs.inbound_event";
    const MAX_ATTEMPTS: usize = 8;

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.provider, self.event_id))
    }
}

/// A stored event as its handler receives it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub provider: String,
    pub event_id: String,
    /// Request headers as received, in order: (name, value).
    pub headers: Vec<(String, String)>,
    /// The raw request body, byte for byte.
    pub body: Vec<u8>,
    /// When it was accepted (Unix ms).
    pub received_at: i64,
    /// This run's attempt, from 1.
    pub attempt: i64,
}

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Stored; its job has not finished a run yet.
    Received,
    Processed,
    /// Its last run failed; it will be tried again.
    Failed,
    /// Out of attempts or failed permanently: it will not run again.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "processed" => Self::Processed,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            _ => Self::Received,
        }
    }
}

/// An event as operators see it (no headers or body).
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub provider: String,
    pub event_id: String,
    pub status: Status,
    pub attempts: i64,
    /// The last failure's error.
    pub error: Option<String>,
    /// Unix ms.
    pub received_at: i64,
    /// Unix ms, when processed or dead.
    pub finished_at: Option<i64>,
    /// Whether the raw request has been dropped (retention passed).
    pub purged: bool,
}

fn check(provider: &str, event_id: &str) -> Result<(), InboxError> {
    if provider.is_empty() || provider.len() > MAX_PROVIDER_LEN {
        return Err(InboxError::Invalid("provider must be 1 to 64 bytes"));
    }
    if event_id.is_empty() || event_id.len() > MAX_EVENT_ID_LEN {
        return Err(InboxError::Invalid("event id must be 1 to 255 bytes"));
    }
    Ok(())
}

/// Stores event `event_id` of `provider` with its raw request, and enqueues
/// its [`InboundEvent`] job, in one transaction on the queue's database.
/// Returns `true` when the event is new, `false` when it was already stored
/// (a redelivery: nothing is written, nothing enqueued). Either way the
/// caller may answer the provider 2xx once this returns `Ok`.
///
/// Errors: [`InboxError::Invalid`] for an empty or over-long provider
/// (64 bytes) or event id (255 bytes); storage and enqueue failures (the
/// caller answers 5xx and the provider redelivers).
pub async fn accept(
    queue: &Queue,
    provider: &str,
    event_id: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<bool, InboxError> {
    check(provider, event_id)?;
    let headers = serde_json::to_string(headers).map_err(EnqueueError::from)?;
    let insert = "INSERT INTO jobs_inbox (provider, event_id, headers, body, received_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, event_id) DO NOTHING
         RETURNING id";
    macro_rules! accept_in {
        ($tx:ident, $conn:expr) => {{
            let id: Option<i64> = sqlx::query_scalar(insert)
                .bind(provider)
                .bind(event_id)
                .bind(&headers)
                .bind(body)
                .bind(now_ms())
                .fetch_optional(&mut *$tx)
                .await?;
            let Some(id) = id else {
                // Already stored: a redelivery. Nothing to commit.
                return Ok(false);
            };
            let job = InboundEvent {
                id,
                provider: provider.to_string(),
                event_id: event_id.to_string(),
            };
            queue
                .enqueue_all_in($conn(&mut *$tx), std::slice::from_ref(&job))
                .await?;
            $tx.commit().await?;
            Ok(true)
        }};
    }
    match queue.store() {
        Store::Sqlite(pool) => {
            // Take the write lock up front: a deferred transaction that
            // reads before writing could fail to upgrade under contention.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            accept_in!(tx, Conn::Sqlite)
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            accept_in!(tx, Conn::Postgres)
        }
    }
}

/// Runs `handler` on the event `job` names and records the outcome on it.
/// Meant as the body of the [`InboundEvent`] job's handler:
///
/// ```ignore
/// registry.register(options, move |ctx: Ctx, job: InboundEvent| async move {
///     jobs::inbox::process(&ctx.store, job, |event| handle(&ctx, event)).await
/// });
/// ```
///
/// An event already processed is skipped (a job delivered twice); one whose
/// request was purged fails permanently. The handler's error is returned,
/// so the job is retried or dead-lettered as any job is; the event shows
/// `failed`, or `dead` once its attempts (counted on the event, up to
/// [`InboundEvent::MAX_ATTEMPTS`]) run out or the error is permanent.
pub async fn process<H, Fut>(store: &Store, job: InboundEvent, handler: H) -> Result<(), JobError>
where
    H: FnOnce(Event) -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    type Row = (String, Option<String>, Option<Vec<u8>>, i64, i64);
    let sql = "UPDATE jobs_inbox SET attempts = attempts + 1
         WHERE id = $1 AND status <> 'processed'
         RETURNING status, headers, body, received_at, CAST(attempts AS BIGINT)";
    let row: Option<Row> = on_store!(store, pool => sqlx::query_as(sql)
        .bind(job.id)
        .fetch_optional(pool)
        .await)
    .map_err(JobError::retryable)?;
    let Some((_, headers, body, received_at, attempt)) = row else {
        tracing::info!(provider = %job.provider, event_id = %job.event_id, "inbound event already processed; skipped");
        return Ok(());
    };
    let result = match (headers, body) {
        (Some(headers), Some(body)) => {
            let headers = serde_json::from_str(&headers).unwrap_or_default();
            handler(Event {
                id: job.id,
                provider: job.provider.clone(),
                event_id: job.event_id.clone(),
                headers,
                body,
                received_at,
                attempt,
            })
            .await
        }
        _ => Err(JobError::permanent(
            "the event's request was purged before it was processed",
        )),
    };
    let (status, error) = match &result {
        Ok(()) => (Status::Processed, None),
        Err(JobError::Retryable(msg)) if attempt < InboundEvent::MAX_ATTEMPTS as i64 => {
            (Status::Failed, Some(msg.as_str()))
        }
        Err(JobError::Retryable(msg) | JobError::Permanent(msg)) => {
            (Status::Dead, Some(msg.as_str()))
        }
    };
    let finished = matches!(status, Status::Processed | Status::Dead).then(now_ms);
    let error: Option<String> = error.map(|e| e.chars().take(2000).collect());
    let sql = "UPDATE jobs_inbox SET status = $2, error = COALESCE($3, error), finished_at = $4 WHERE id = $1";
    let recorded = on_store!(store, pool => sqlx::query(sql)
        .bind(job.id)
        .bind(status.as_str())
        .bind(error)
        .bind(finished)
        .execute(pool)
        .await
        .map(|_| ()));
    if let Err(err) = recorded {
        if result.is_ok() {
            // Processed but not recorded: run again (handlers are
            // idempotent) rather than show a false state.
            return Err(JobError::retryable(err));
        }
        tracing::warn!(error = %err, "could not record an inbound event's failure");
    }
    result
}

/// Events, newest first: all, or those in `status`; at most `limit`.
pub async fn events(
    store: &Store,
    status: Option<Status>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        String,
        i64,
        Option<String>,
        i64,
        Option<i64>,
        bool,
    );
    let sql = "SELECT id, provider, event_id, status, CAST(attempts AS BIGINT), error, received_at,
            finished_at, purged_at IS NOT NULL
         FROM jobs_inbox WHERE (CAST($1 AS TEXT) IS NULL OR status = $1)
         ORDER BY id DESC LIMIT $2";
    let rows: Vec<Row> = on_store!(store, pool => sqlx::query_as(sql)
        .bind(status.map(Status::as_str))
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                provider,
                event_id,
                status,
                attempts,
                error,
                received_at,
                finished_at,
                purged,
            )| {
                Entry {
                    id,
                    provider,
                    event_id,
                    status: Status::parse(&status),
                    attempts,
                    error,
                    received_at,
                    finished_at,
                    purged,
                }
            },
        )
        .collect())
}

/// Drops the headers and body of finished events (processed or dead)
/// received longer than `older_than` ago; the row stays, so a redelivery is
/// still a no-op. Returns how many events lost their request.
pub async fn purge(store: &Store, older_than: Duration) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let cutoff = now - older_than.as_millis() as i64;
    let sql = "UPDATE jobs_inbox SET headers = NULL, body = NULL, purged_at = $2
         WHERE received_at < $1 AND body IS NOT NULL AND status IN ('processed', 'dead')";
    on_store!(store, pool => sqlx::query(sql)
        .bind(cutoff)
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
}
