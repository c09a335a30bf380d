//! Rally's job payloads and their handlers.

use ::jobs::{Job, JobError, Registry, WorkerOptions};
use serde::{Deserialize, Serialize};

use crate::{db, domain::Answers};

/// A validated public-form submission waiting to become a prospect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormSubmission {
    pub form_id: i64,
    /// Unique per rendered form: makes both enqueueing and processing idempotent.
    pub submission_key: String,
    pub answers: Answers,
    pub submitted_at: i64,
    /// The form's organization: its owners and admins see this job if it
    /// fails (`None` in jobs enqueued before jobs carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<i64>,
}

impl Job for FormSubmission {
    const KIND: &'static str = "rally.form_submission";
    const MAX_ATTEMPTS: usize = 10;

    fn idempotency_key(&self) -> Option<String> {
        Some(self.submission_key.clone())
    }

    fn organization(&self) -> Option<i64> {
        self.organization_id
    }
}

/// Turns a submission into a prospect and a timeline entry, at most once per
/// submission key however often it is delivered.
pub async fn process_submission(pool: &db::Pool, job: FormSubmission) -> Result<(), JobError> {
    let form = db::form_by_id(pool, job.form_id)
        .await
        .map_err(JobError::retryable)?
        .ok_or_else(|| JobError::permanent(format!("form {} no longer exists", job.form_id)))?;
    let mut tx = pool.begin_write().await.map_err(JobError::retryable)?;
    let applied = db::apply_submission(
        &mut tx,
        &form,
        &job.submission_key,
        &job.answers,
        job.submitted_at,
    )
    .await
    .map_err(JobError::retryable)?;
    tx.commit().await.map_err(JobError::retryable)?;
    if !applied {
        tracing::info!(form_id = form.id, "submission already processed; skipped");
    }
    Ok(())
}

/// Form submissions applied per transaction, at most (one claim each).
pub const SUBMISSION_BATCH: usize = 128;

/// What Rally's job handlers work with, built at start-up.
#[derive(Clone)]
pub struct Context {
    pub pool: db::Pool,
    pub mailer: crate::email::Mailer,
}

/// Rally's job kinds, their handlers and options, built once: the one list
/// from which the workers, `rally worker --queues`, `rally queues create`,
/// the SQS backend's queues, the dashboards and `/metrics` all come. A
/// feature with jobs adds its `register` line here.
pub fn registry() -> &'static Registry<Context> {
    static REGISTRY: std::sync::LazyLock<Registry<Context>> = std::sync::LazyLock::new(|| {
        Registry::new()
            // In batches: one transaction applies many submissions (see
            // `submission_batch`).
            .register_batch(
                WorkerOptions {
                    fetch_batch: SUBMISSION_BATCH,
                    ..WorkerOptions::default()
                },
                |ctx: Context, jobs: Vec<FormSubmission>| async move {
                    crate::submission_batch::process_submissions(&ctx.pool, jobs).await
                },
            )
            .register(
                WorkerOptions::default(),
                |ctx: Context, job: crate::email::EmailSend| async move {
                    crate::email::send(&ctx.pool, &ctx.mailer, job).await
                },
            )
    });
    &REGISTRY
}

/// Every queue (job kind) Rally has, in the order `rally worker` lists them.
pub fn queues() -> Vec<&'static str> {
    registry().kinds()
}
