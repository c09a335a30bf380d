//! The FormSubmission job: a valid public-form submission, and its handler.

use ::jobs::{Job, JobError};
use serde::{Deserialize, Serialize};

use crate::{intake::model::Answers, platform::db};

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
pub async fn process_submission(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    job: FormSubmission,
) -> Result<(), JobError> {
    let form = crate::forms::queries::form_by_id(pool, job.form_id)
        .await
        .map_err(JobError::retryable)?
        .ok_or_else(|| JobError::permanent(format!("form {} no longer exists", job.form_id)))?;
    let mut tx = pool.begin_write().await.map_err(JobError::retryable)?;
    let applied = crate::intake::batch::apply(&mut tx, queue, &[(&form, &job)])
        .await
        .map_err(JobError::retryable)?
        > 0;
    tx.commit().await.map_err(JobError::retryable)?;
    if !applied {
        tracing::info!(form_id = form.id, "submission already processed; skipped");
    }
    Ok(())
}
