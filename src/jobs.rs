//! Rally's job payloads and their handlers.

use ::jobs::{Job, JobError, Runtime, WorkerOptions};
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

/// Every queue (job kind) Rally has, in the order `rally worker` lists them.
pub const QUEUES: &[&str] = &[FormSubmission::KIND, crate::email::EmailSend::KIND];

/// Checks `--queues` names: each must be one of [`QUEUES`].
pub fn check_queues(queues: &[String]) -> anyhow::Result<()> {
    for queue in queues {
        if !QUEUES.contains(&queue.as_str()) {
            anyhow::bail!(
                "no queue named {queue:?}; the queues are: {}",
                QUEUES.join(", ")
            );
        }
    }
    Ok(())
}

/// Starts the workers this process runs: those of `queues`, or of every
/// queue when it is empty.
pub fn start_workers(
    runtime: &mut Runtime,
    pool: db::Pool,
    mailer: crate::email::Mailer,
    concurrency: usize,
    queues: &[String],
) {
    let wanted = |kind: &str| queues.is_empty() || queues.iter().any(|q| q == kind);
    let options = WorkerOptions {
        concurrency,
        ..WorkerOptions::default()
    };
    if wanted(FormSubmission::KIND) {
        let pool = pool.clone();
        runtime.spawn(options.clone(), move |job: FormSubmission| {
            let pool = pool.clone();
            async move { process_submission(&pool, job).await }
        });
    }
    if wanted(crate::email::EmailSend::KIND) {
        runtime.spawn(options, move |job: crate::email::EmailSend| {
            let (pool, mailer) = (pool.clone(), mailer.clone());
            async move { crate::email::send(&pool, &mailer, job).await }
        });
    }
}
