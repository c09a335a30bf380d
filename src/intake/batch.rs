//! Form submissions in batches: the `FormSubmission` kind's handler (see
//! `jobs::batch`). One write transaction applies a whole claim with a few
//! multi-row statements ([`apply`]: the prospects' upsert, the timeline
//! entries, the new-lead notices). Only if that fails is the claim applied
//! again one submission at a time, each in its own savepoint, so a
//! submission that fails is rolled back alone and retried (or
//! dead-lettered) alone while the others commit.
//!
//! Exactness is the single handler's: `prospects::queries::apply_submissions`
//! skips a submission whose key is already on a timeline entry (unique
//! `submission_key`), so a batch delivered again after a crash, or a key
//! delivered twice in one batch, adds nothing. Submissions are sorted by
//! organization, dedupe key (the email, or for a submission without one
//! the phone key) and submission time: for one person that is the
//! order separate jobs would run in, so several submissions of one person
//! merge into one prospect the same way (new answers fill blanks), and two
//! batches running at once (on Postgres) take prospects' row locks in the
//! same order.

use std::collections::HashMap;

use ::jobs::{JobError, Outcomes, batch::all_failed};

use crate::{
    forms::queries::Form,
    intake::jobs::FormSubmission,
    notifications::Lead,
    platform::db,
    prospects::queries::{Submission, apply_submissions},
};

/// Form submissions applied per transaction, at most (one claim each).
pub const SUBMISSION_BATCH: usize = 512;

/// Applies `jobs` in one transaction; one outcome per job, in order.
pub async fn process_submissions(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    jobs: Vec<FormSubmission>,
) -> Outcomes {
    process(pool, queue, &jobs).await.outcomes
}

/// What [`process`] did with a batch.
#[derive(Debug)]
pub struct Processed {
    /// One per job, in order.
    pub outcomes: Outcomes,
    /// The set-based attempt failed and the batch was applied one
    /// submission at a time.
    pub one_by_one: bool,
}

/// [`process_submissions`], saying how the batch was applied.
pub async fn process(pool: &db::Pool, queue: &::jobs::Queue, jobs: &[FormSubmission]) -> Processed {
    let n = jobs.len();
    let mut forms: HashMap<i64, Option<Form>> = HashMap::new();
    for job in jobs {
        if let std::collections::hash_map::Entry::Vacant(slot) = forms.entry(job.form_id) {
            match crate::forms::queries::form_by_id(pool, job.form_id).await {
                Ok(form) => {
                    slot.insert(form);
                }
                Err(err) => {
                    return Processed {
                        outcomes: all_failed(n, &JobError::retryable(err)),
                        one_by_one: false,
                    };
                }
            }
        }
    }
    let mut outcomes: Vec<Option<Result<(), JobError>>> = (0..n).map(|_| None).collect();
    let mut order = Vec::with_capacity(n);
    for (i, job) in jobs.iter().enumerate() {
        match forms.get(&job.form_id) {
            Some(Some(form)) => order.push((form, i)),
            _ => {
                outcomes[i] = Some(Err(JobError::permanent(format!(
                    "form {} no longer exists",
                    job.form_id
                ))))
            }
        }
    }
    // The phone keys of submissions keyed by phone (no email), made once:
    // none for the email-keyed (nearly all), which sort by email as before.
    let phone_keys: Vec<Option<String>> = jobs.iter().map(|j| j.answers.phone_key()).collect();
    order.sort_by(|&(a_form, a), &(b_form, b)| {
        let (x, y) = (&jobs[a], &jobs[b]);
        (
            a_form.organization_id,
            x.answers.email_key(),
            phone_keys[a].as_deref(),
            x.submitted_at,
            a,
        )
            .cmp(&(
                b_form.organization_id,
                y.answers.email_key(),
                phone_keys[b].as_deref(),
                y.submitted_at,
                b,
            ))
    });
    let mut one_by_one = false;
    if !order.is_empty() {
        match together(pool, queue, jobs, &order).await {
            Ok(()) => {
                for &(_, i) in &order {
                    outcomes[i] = Some(Ok(()));
                }
            }
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    size = order.len(),
                    "batch of submissions failed as a whole; applying them one by one"
                );
                one_by_one = true;
                if let Err(err) = each_alone(pool, queue, jobs, &order, &mut outcomes).await {
                    // The transaction is lost (its commit failed, or the
                    // database rolled it back): nothing of it was
                    // written, so every job applied in it is retried.
                    let err = JobError::retryable(err);
                    for &(_, i) in &order {
                        outcomes[i] = Some(Err(err.clone()));
                    }
                }
            }
        }
    }
    Processed {
        outcomes: outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect(),
        one_by_one,
    }
}

/// Applies the submissions of `items` (each with its form) in `tx`: the
/// prospects and timeline entries, then the notices of the new entries.
/// Returns how many were applied (the rest were already). The single
/// handler, the set-based batch and each savepoint of the fallback all
/// come through here.
pub async fn apply(
    tx: &mut db::Tx,
    queue: &::jobs::Queue,
    items: &[(&Form, &FormSubmission)],
) -> anyhow::Result<usize> {
    let submissions: Vec<Submission> = items
        .iter()
        .map(|&(form, job)| Submission {
            form,
            key: &job.submission_key,
            answers: &job.answers,
            submitted_at: job.submitted_at,
        })
        .collect();
    let applied = apply_submissions(tx, &submissions).await?;
    let leads: Vec<Lead> = items
        .iter()
        .zip(&applied)
        .filter_map(|(&(form, job), applied)| {
            applied.as_ref().map(|a| Lead {
                form,
                submission_key: &job.submission_key,
                prospect_id: a.prospect_id,
                name: &a.name,
                submitted_at: job.submitted_at,
            })
        })
        .collect();
    crate::notifications::leads_arrived(tx, queue, &leads).await?;
    Ok(leads.len())
}

/// The happy path: every submission of `order` in one transaction, with a
/// few multi-row statements. An error leaves nothing of it.
async fn together(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    jobs: &[FormSubmission],
    order: &[(&Form, usize)],
) -> anyhow::Result<()> {
    let items: Vec<(&Form, &FormSubmission)> =
        order.iter().map(|&(form, i)| (form, &jobs[i])).collect();
    let mut tx = pool.begin_write().await?;
    match apply(&mut tx, queue, &items).await {
        Ok(applied) => {
            tx.commit().await?;
            skipped(items.len() - applied);
            Ok(())
        }
        Err(err) => {
            tx.rollback().await?;
            Err(err)
        }
    }
}

/// The fallback: the jobs `order` names one by one, each in a savepoint,
/// then one commit. An error here is the transaction's own: none of it is
/// kept.
async fn each_alone(
    pool: &db::Pool,
    queue: &::jobs::Queue,
    jobs: &[FormSubmission],
    order: &[(&Form, usize)],
    outcomes: &mut [Option<Result<(), JobError>>],
) -> sqlx::Result<()> {
    let mut tx = pool.begin_write().await?;
    let mut applied = 0;
    for &(form, i) in order {
        savepoint(&mut tx, "SAVEPOINT submission").await?;
        // The prospect, its timeline entry and the notice: all in the
        // savepoint, so a failure of any leaves nothing of this submission.
        match apply(&mut tx, queue, &[(form, &jobs[i])]).await {
            Ok(n) => {
                savepoint(&mut tx, "RELEASE SAVEPOINT submission").await?;
                applied += n;
                outcomes[i] = Some(Ok(()));
            }
            Err(err) => {
                tracing::warn!(form_id = form.id, error = %err, "submission failed in its batch; the others go on");
                savepoint(&mut tx, "ROLLBACK TO SAVEPOINT submission").await?;
                savepoint(&mut tx, "RELEASE SAVEPOINT submission").await?;
                outcomes[i] = Some(Err(JobError::retryable(err)));
            }
        }
    }
    tx.commit().await?;
    skipped(order.len() - applied);
    Ok(())
}

fn skipped(n: usize) {
    if n > 0 {
        tracing::info!(skipped = n, "submissions already processed; skipped");
    }
}

async fn savepoint(tx: &mut db::Tx, sql: &'static str) -> sqlx::Result<()> {
    crate::on_tx!(tx, c => sqlx::query(sql).execute(&mut **c).await.map(|_| ()))
}
