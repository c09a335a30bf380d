//! Held submissions: public-form submissions that looked automated (sent
//! too fast after the form was rendered, or with the honeypot filled in)
//! and wait for an owner or admin to release or discard them. Every query
//! takes the organization, so one organization never reaches another's.

use crate::intake::model::Answers;
use crate::platform::db::{Pool, Tx};
use crate::{on_pool, on_tx};

/// Why a submission was held: the `reason` column and the metrics' label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldReason {
    /// Sent sooner than `RALLY_FORM_MIN_FILL_MS` after the form was rendered.
    TooFast,
    /// The hidden `website` field was filled in.
    Honeypot,
}

impl HeldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooFast => "too_fast",
            Self::Honeypot => "honeypot",
        }
    }

    /// What an owner reads beside the submission.
    pub fn describe(reason: &str) -> &'static str {
        match reason {
            "too_fast" => "Sent very quickly after the form opened",
            "honeypot" => "Filled in the hidden field (often browser autofill)",
            _ => "Looked automated",
        }
    }
}

/// A submission to hold: what intake hands its writer.
#[derive(Debug)]
pub struct NewHeld {
    pub organization_id: i64,
    pub form_id: i64,
    /// The rendered form's key plus a hash of the answers
    /// ([`crate::intake::writer::submission_key`]).
    pub submission_key: String,
    pub reason: HeldReason,
    pub answers: Answers,
    /// ms since the Unix epoch.
    pub submitted_at: i64,
}

/// A held submission as the owners' page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Held {
    pub id: i64,
    pub form_id: i64,
    pub form_title: String,
    pub submission_key: String,
    pub reason: String,
    /// JSON of [`Answers`].
    pub answers: String,
    pub submitted_at: i64,
}

impl Held {
    /// The stored answers; `None` if they no longer parse (never expected:
    /// they were parsed and serialised by intake).
    pub fn parsed_answers(&self) -> Option<Answers> {
        serde_json::from_str(&self.answers).ok()
    }
}

/// Holds a submission on intake's transaction, and tallies its reason in
/// `intake_rejections` (the count event summaries read, which outlives the
/// purge). An exact repeat (same submission key) is held, and tallied, once.
pub async fn insert(tx: &mut Tx, held: &NewHeld) -> sqlx::Result<()> {
    let answers =
        serde_json::to_string(&held.answers).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    let inserted: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (submission_key) DO NOTHING RETURNING id",
    )
    .bind(held.organization_id)
    .bind(held.form_id)
    .bind(&held.submission_key)
    .bind(held.reason.as_str())
    .bind(answers)
    .bind(held.submitted_at)
    .fetch_optional(&mut **c)
    .await)?;
    if inserted.is_some() {
        crate::intake::queries::record_rejection(
            tx,
            held.form_id,
            held.reason.as_str(),
            held.submitted_at,
        )
        .await?;
    }
    Ok(())
}

const HELD_COLUMNS: &str =
    "h.id, h.form_id, f.title AS form_title, h.submission_key, h.reason, h.answers, h.submitted_at";

/// The organization's held submissions, newest first, at most `limit`.
pub async fn list(pool: &Pool, organization_id: i64, limit: i64) -> sqlx::Result<Vec<Held>> {
    let sql = format!(
        "SELECT {HELD_COLUMNS} FROM held_submissions h JOIN forms f ON f.id = h.form_id
         WHERE h.organization_id = $1 ORDER BY h.submitted_at DESC, h.id DESC LIMIT $2"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// How many submissions the organization has waiting for review.
pub async fn count(pool: &Pool, organization_id: i64) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM held_submissions WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_one(p)
    .await)
}

/// One held submission of the organization, if it is still held.
pub async fn get(pool: &Pool, organization_id: i64, id: i64) -> sqlx::Result<Option<Held>> {
    let sql = format!(
        "SELECT {HELD_COLUMNS} FROM held_submissions h JOIN forms f ON f.id = h.form_id
         WHERE h.organization_id = $1 AND h.id = $2"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// What release needs of a held submission to make its job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Taken {
    pub form_id: i64,
    pub submission_key: String,
    /// JSON of [`Answers`].
    pub answers: String,
    pub submitted_at: i64,
}

/// Removes a held submission of the organization on `tx` and returns it:
/// release enqueues its job on the same transaction, discard just commits.
/// `None` when it is not (or no longer) held there.
pub async fn take(tx: &mut Tx, organization_id: i64, id: i64) -> sqlx::Result<Option<Taken>> {
    on_tx!(tx, c => sqlx::query_as(
        "DELETE FROM held_submissions WHERE organization_id = $1 AND id = $2
         RETURNING form_id, submission_key, answers, submitted_at",
    )
    .bind(organization_id)
    .bind(id)
    .fetch_optional(&mut **c)
    .await)
}

/// Held submissions of `form_id` sent in `[from, to)` (ms) and still
/// waiting for review: the event summary's count.
pub async fn waiting_in_window(pool: &Pool, form_id: i64, from: i64, to: i64) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM held_submissions WHERE form_id = $1 AND submitted_at >= $2 AND submitted_at < $3",
    )
    .bind(form_id)
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await)
}

/// Deletes held submissions sent before `before` (ms): the retention
/// period's purge. Returns how many went.
pub async fn purge(pool: &Pool, before: i64) -> sqlx::Result<u64> {
    on_pool!(pool, p => sqlx::query("DELETE FROM held_submissions WHERE submitted_at < $1")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}
