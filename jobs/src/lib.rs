//! Typed background jobs on apalis 1.0.
//!
//! A [`Job`] is a serde payload with a stable kind name (its queue), a maximum
//! number of attempts and an optional idempotency key. [`SqlQueue`] stores jobs
//! durably (apalis's tables in the application's SQLite or Postgres
//! database) and can enqueue inside the caller's
//! own transaction, so a job that must follow a write commits with it.
//! [`Runtime`] runs typed handlers with bounded concurrency, exponential
//! backoff between attempts (a job waiting for its next attempt goes back
//! to its queue with a due time and holds no worker slot), dead-lettering of permanent failures, and one
//! cancellation token for graceful shutdown.
//!
//! Delivery is at-least-once: a worker that dies mid-job stops heart-beating and
//! its jobs go back to the queue, so handlers must be idempotent. The crate
//! knows nothing of the application that uses it. [`Queue`] puts the SQL
//! queue (SQLite or Postgres) and Amazon SQS (see [`sqs`]) behind one handle.
//! A job can be enqueued to run at a time or after a delay ([`delay`]), and
//! a [`Schedule`] enqueues one at every tick of a cron expression in a time
//! zone, once per tick however many processes run it ([`schedule`]).
//! A kind can instead be handled in batches ([`batch`]): many jobs per
//! claim and per handler call, each settled by its own outcome.
//! [`Registry`] is an application's one list of job kinds and handlers;
//! [`inbox`] stores inbound webhooks once and enqueues their processing.
//! The crate's own tables are versioned (see [`MIGRATIONS_TABLE`]).

mod backend;
mod backoff;
pub mod batch;
pub mod delay;
pub mod inbox;
mod migrations;
mod outbox;
mod poll;
mod queue;
mod registry;
mod runtime;
pub mod schedule;
pub mod sqs;
mod wake;

pub use backend::{Queue, QueueError, SqsBackend};
pub use backoff::ExponentialBackoff;
pub use batch::Outcomes;
pub use inbox::{InboundEvent, InboxError};
pub use migrations::MIGRATIONS_TABLE;
pub use queue::{Conn, DeadLetter, EnqueueError, QueueConfig, QueueStats, SqlQueue, Store, Tenant};
pub use registry::{Registry, UnknownQueue};
pub use runtime::{Runtime, WorkerOptions};
pub use schedule::{Schedule, ScheduleError, ScheduleStatus};
pub use sqs::{SqsConfig, SqsQueue};
pub use wake::worker_restarts;
/// The time types schedules hand their jobs (a tick in its zone).
pub use {chrono, chrono_tz};

use serde::{Serialize, de::DeserializeOwned};

/// A typed job payload.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    /// Stable name of the job kind; also the queue it lives in. Never rename a
    /// kind that has jobs in flight.
    const KIND: &'static str;
    /// Attempts before the job is dead-lettered (first run included).
    const MAX_ATTEMPTS: usize = 8;
    /// Longest a run may take before it counts as a failed attempt (SQS:
    /// also what the message's visibility timeout is derived from).
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    /// A key that makes enqueueing idempotent: a second job of the same kind
    /// with the same key is ignored while the first is stored.
    fn idempotency_key(&self) -> Option<String> {
        None
    }

    /// The organization (tenant) this job works for, if any. Stored with the
    /// job (the job table's `organization_id`, the outbox's, an SQS message's
    /// `organization` attribute, `jobs_failures`), so that an organization's
    /// failures can be listed and retried by that organization alone. `None`
    /// is the deployment's own work: only operators see it.
    fn organization(&self) -> Option<i64> {
        None
    }
}

/// Why a handler failed, and whether trying again can help. `Clone`, so a
/// batch handler can give one failure to every job it concerns.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// A passing fault (database busy, network, 5xx): retried with backoff
    /// until the job's attempts run out, then dead-lettered.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Retrying cannot help (undecodable payload, rejected input): the job is
    /// dead-lettered at once with this error kept.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl JobError {
    pub fn retryable(err: impl std::fmt::Display) -> Self {
        Self::Retryable(err.to_string())
    }

    pub fn permanent(err: impl std::fmt::Display) -> Self {
        Self::Permanent(err.to_string())
    }
}
