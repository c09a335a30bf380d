//! Form submissions in batches: the `FormSubmission` kind's handler (see
//! `jobs::batch`). One write transaction applies a whole batch, each
//! submission inside its own savepoint, so a submission that fails is
//! rolled back alone and retried (or dead-lettered) alone while the others
//! commit.
//!
//! Exactness is the single handler's: `prospects::queries::apply_submission` skips a
//! submission whose key is already on a timeline entry (unique
//! `submission_key`), so a batch delivered again after a crash, or a key
//! delivered twice in one batch, adds nothing. Within a batch the
//! submissions are applied one after another exactly as separate jobs
//! would be, in submission order for each email, so two submissions of one
//! person merge into one prospect the same way; they are sorted by
//! organization and email first so that two batches running at once (on
//! Postgres) take prospects' row locks in the same order.

use std::collections::HashMap;

use ::jobs::{JobError, Outcomes, batch::all_failed};

use crate::{forms::queries::Form, intake::jobs::FormSubmission, platform::db};

/// Form submissions applied per transaction, at most (one claim each).
pub const SUBMISSION_BATCH: usize = 128;

/// Applies `jobs` in one transaction; one outcome per job, in order.
pub async fn process_submissions(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    jobs: Vec<FormSubmission>,
) -> Outcomes {
    let n = jobs.len();
    let mut forms: HashMap<i64, Option<Form>> = HashMap::new();
    for job in &jobs {
        if let std::collections::hash_map::Entry::Vacant(slot) = forms.entry(job.form_id) {
            match crate::forms::queries::form_by_id(pool, job.form_id).await {
                Ok(form) => {
                    slot.insert(form);
                }
                Err(err) => return all_failed(n, &JobError::retryable(err)),
            }
        }
    }
    let mut outcomes: Vec<Option<Result<(), JobError>>> = (0..n).map(|_| None).collect();
    let mut order = Vec::with_capacity(n);
    for (i, job) in jobs.iter().enumerate() {
        match forms.get(&job.form_id) {
            Some(Some(form)) => order.push((form.organization_id, i)),
            _ => {
                outcomes[i] = Some(Err(JobError::permanent(format!(
                    "form {} no longer exists",
                    job.form_id
                ))))
            }
        }
    }
    order.sort_by(|&(a_org, a), &(b_org, b)| {
        let (x, y) = (&jobs[a], &jobs[b]);
        (a_org, x.answers.email.as_str(), x.submitted_at, a).cmp(&(
            b_org,
            y.answers.email.as_str(),
            y.submitted_at,
            b,
        ))
    });
    if !order.is_empty()
        && let Err(err) = apply_all(pool, queue, &jobs, &forms, &order, &mut outcomes).await
    {
        // The transaction is lost (its commit failed, or the database
        // rolled it back): nothing of it was written, so every job
        // applied in it is retried.
        let err = JobError::retryable(err);
        for &(_, i) in &order {
            outcomes[i] = Some(Err(match &err {
                JobError::Retryable(msg) => JobError::Retryable(msg.clone()),
                JobError::Permanent(msg) => JobError::Permanent(msg.clone()),
            }));
        }
    }
    outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect()
}

/// Applies the jobs `order` names, each in a savepoint, and commits. An
/// error here is the transaction's own: none of it is kept.
async fn apply_all(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    jobs: &[FormSubmission],
    forms: &HashMap<i64, Option<Form>>,
    order: &[(i64, usize)],
    outcomes: &mut [Option<Result<(), JobError>>],
) -> sqlx::Result<()> {
    let mut tx = pool.begin_write().await?;
    let mut skipped = 0;
    for &(_, i) in order {
        let job = &jobs[i];
        let Some(Some(form)) = forms.get(&job.form_id) else {
            continue;
        };
        savepoint(&mut tx, "SAVEPOINT submission").await?;
        // The prospect and its timeline entry, then (for a new entry) the
        // notice to the form's people: both in the savepoint, so a failure
        // of either leaves nothing of this submission.
        let applied = match crate::prospects::queries::apply_submission(
            &mut tx,
            form,
            &job.submission_key,
            &job.answers,
            job.submitted_at,
        )
        .await
        {
            Ok(true) => crate::notifications::lead_arrived(&mut tx, queue, form, job)
                .await
                .map(|()| true)
                .map_err(|e| e.to_string()),
            Ok(false) => Ok(false),
            Err(err) => Err(err.to_string()),
        };
        match applied {
            Ok(applied) => {
                savepoint(&mut tx, "RELEASE SAVEPOINT submission").await?;
                skipped += usize::from(!applied);
                outcomes[i] = Some(Ok(()));
            }
            Err(err) => {
                tracing::warn!(form_id = form.id, error = %err, "submission failed in its batch; the others go on");
                savepoint(&mut tx, "ROLLBACK TO SAVEPOINT submission").await?;
                savepoint(&mut tx, "RELEASE SAVEPOINT submission").await?;
                outcomes[i] = Some(Err(JobError::Retryable(err)));
            }
        }
    }
    tx.commit().await?;
    if skipped > 0 {
        tracing::info!(skipped, "submissions already processed; skipped");
    }
    Ok(())
}

async fn savepoint(tx: &mut db::Tx, sql: &'static str) -> sqlx::Result<()> {
    crate::on_tx!(tx, c => sqlx::query(sql).execute(&mut **c).await.map(|_| ()))
}
