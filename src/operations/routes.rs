//! Failed work, behind two walls.
//!
//! - `/jobs`: an organization's owners and admins see **their own**
//!   organization's work that failed (jobs carry their organization: see
//!   `::jobs::Job::organization`), described in words ("A form submission
//!   from Ana Lima <ana@example.com> could not be saved: …"), with what
//!   Rally will still try and when; they retry what stopped, and see (and
//!   try again) the submissions an operator set aside.
//! - `/ops/jobs`: the deployment-wide dashboard (every queue, counts,
//!   errors, dead letters, retry and discard) for **operators** only
//!   ([`crate::organizations::operators`]); anyone else gets 404 and no link to it.
//!   Discarding a dead form submission asks first and keeps its answers
//!   (`kept_submissions`, shown to its organization on `/jobs`).
//!
//! Neither page shows another organization's jobs: the organization's
//! lists and actions filter by the job's organization in the queue itself
//! ([`Tenant::Organization`]), never after the fact in a template.

use ::jobs::{DeadLetter, Job, Tenant};
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{html_response, see_other},
};
use crate::{
    intake::jobs::FormSubmission,
    on_pool, on_tx,
    operations::views as pages,
    platform::{
        db,
        error::{AppError, AppResult},
        mail::EmailSend,
    },
};

/// Failed jobs listed per section.
const LIST: i64 = 50;

/// The user's own organization's queues. Only owners and admins get here:
/// `/jobs` routes are `SignedIn(ManageJobs)` in `crate::organizations::roles::ROUTES`, which
/// the route's guard enforces before the handler runs.
fn own_tenant(user: &CurrentUser) -> Tenant {
    Tenant::Organization(user.user.organization_id)
}

fn queue_failed(err: ::jobs::QueueError) -> AppError {
    AppError::Internal(err.into())
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("retried") => Some("It is back in line: Rally will try it again in a moment."),
        Some("discarded") => Some(
            "The dead letter was discarded. A form submission's answers were kept for its organization.",
        ),
        Some("gone") => Some("That was already dealt with."),
        _ => None,
    }
}

/// The reason a job failed, in the handler's words: without apalis's JSON
/// wrapping (`{"Err": …}`) or our `retryable: ` / `permanent: ` prefixes.
pub fn reason(error: Option<&str>) -> String {
    let raw = error.unwrap_or("").trim();
    let text = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("Err").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| raw.to_string());
    let text = text
        .strip_prefix("retryable: ")
        .or_else(|| text.strip_prefix("permanent: "))
        .unwrap_or(&text)
        .trim()
        .to_string();
    if text.is_empty() {
        "no reason was recorded".into()
    } else {
        text
    }
}

/// The answers of a form submission's payload, as a person reads them:
/// (name, email, phone, company, interest).
fn answers(payload: &serde_json::Value) -> pages::Answers {
    let answers = &payload["answers"];
    let field = |name: &str| {
        answers[name]
            .as_str()
            .map(str::to_string)
            .filter(|v| !v.is_empty())
    };
    pages::Answers {
        name: field("name").unwrap_or_default(),
        email: field("email").unwrap_or_default(),
        phone: field("phone"),
        company: field("company"),
        interest: field("interest"),
    }
}

/// One failed job in words.
async fn describe(state: &AppState, letter: DeadLetter) -> AppResult<pages::Failed> {
    let payload: serde_json::Value =
        serde_json::from_str(&letter.payload).unwrap_or(serde_json::Value::Null);
    let (what, max_attempts) = match letter.queue.as_str() {
        FormSubmission::KIND => {
            let a = answers(&payload);
            let what = if a.email.is_empty() {
                "A form submission could not be saved".to_string()
            } else if a.name.is_empty() {
                format!("A form submission from {} could not be saved", a.email)
            } else {
                format!(
                    "A form submission from {} <{}> could not be saved",
                    a.name, a.email
                )
            };
            (what, FormSubmission::MAX_ATTEMPTS)
        }
        EmailSend::KIND => {
            let key = payload["key"].as_str().unwrap_or_default().to_string();
            let found: Option<(String, String)> = on_pool!(&state.db.read, p => sqlx::query_as(
                "SELECT to_addr, subject FROM emails WHERE key = $1",
            )
            .bind(&key)
            .fetch_optional(p)
            .await)?;
            let what = match found {
                Some((to, subject)) => format!("The email “{subject}” to {to} could not be sent"),
                None => "An email could not be sent".to_string(),
            };
            (what, EmailSend::MAX_ATTEMPTS)
        }
        _ => ("A background task failed".to_string(), 0),
    };
    Ok(pages::Failed {
        what,
        reason: reason(letter.error.as_deref()),
        attempts: letter.attempts,
        max_attempts,
        due_at: letter.due_at,
        queue: letter.queue,
        id: letter.id,
    })
}

async fn describe_all(state: &AppState, letters: Vec<DeadLetter>) -> AppResult<Vec<pages::Failed>> {
    let mut described = Vec::with_capacity(letters.len());
    for letter in letters {
        described.push(describe(state, letter).await?);
    }
    Ok(described)
}

#[derive(sqlx::FromRow)]
struct KeptRow {
    id: i64,
    payload: String,
    error: Option<String>,
    kept_at: i64,
}

/// Submissions set aside by an operator, of `organization` (`None`: those
/// whose organization is unknown, for operators).
async fn kept(state: &AppState, organization: Option<i64>) -> AppResult<Vec<pages::Kept>> {
    let rows: Vec<KeptRow> = on_pool!(&state.db.read, p => sqlx::query_as(
        "SELECT id, payload, error, kept_at FROM kept_submissions
         WHERE organization_id = $1 OR (CAST($1 AS BIGINT) IS NULL AND organization_id IS NULL)
         ORDER BY id DESC LIMIT $2",
    )
    .bind(organization)
    .bind(LIST)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let payload = serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
            pages::Kept {
                id: row.id,
                kept_at: row.kept_at,
                answers: answers(&payload),
                reason: reason(row.error.as_deref()),
            }
        })
        .collect())
}

/// `/jobs`: the organization's own failed work.
#[handler]
pub async fn index(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(done): Query<Notice>,
) -> AppResult<Response> {
    let tenant = own_tenant(&user);
    let queue = &state.monitor;
    let (retrying, dead) = tokio::try_join!(
        async {
            queue
                .recent_failures_of(tenant, LIST)
                .await
                .map_err(queue_failed)
        },
        async {
            queue
                .dead_letters_of(tenant, LIST)
                .await
                .map_err(queue_failed)
        },
    )?;
    let retrying = describe_all(&state, retrying).await?;
    let dead = describe_all(&state, dead).await?;
    let kept = kept(&state, Some(user.user.organization_id)).await?;
    let is_operator = crate::organizations::operators::is_operator(
        &state.db.read,
        &state.settings,
        user.user.user_id,
    )
    .await?;
    Ok(html_response(
        StatusCode::OK,
        pages::organization(
            user.nav(),
            &retrying,
            &dead,
            &kept,
            is_operator,
            notice(done.done.as_deref()),
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DeadForm {
    #[serde(default)]
    queue: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    confirm: String,
}

impl DeadForm {
    fn check(&self) -> AppResult<()> {
        if self.id.is_empty() || self.id.len() > 200 || self.queue.len() > 200 {
            return Err(AppError::BadRequest(
                "Which failed job? The form lacked its id.",
            ));
        }
        Ok(())
    }
}

/// `POST /jobs/retry`: one of the organization's own dead letters runs
/// again. Another organization's id is "already dealt with", like a
/// missing one: nothing tells it apart.
#[handler]
pub async fn retry(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeadForm>,
) -> AppResult<Response> {
    let tenant = own_tenant(&user);
    form.check()?;
    let done = state
        .queue
        .retry_dead_of(tenant, &form.queue, &form.id)
        .await
        .map_err(queue_failed)?;
    tracing::info!(
        queue = form.queue,
        id = form.id,
        found = done,
        "dead letter retried by its organization"
    );
    Ok(see_other(if done {
        "/jobs?done=retried"
    } else {
        "/jobs?done=gone"
    }))
}

/// `POST /jobs/kept/:id/retry`: a submission an operator set aside goes
/// back to the queue (same submission key: processing stays idempotent).
#[handler]
pub async fn retry_kept(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    // An owner or admin: the route's guard checked ManageJobs.
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let mut tx = state.db.write.begin_write().await?;
    let payload: Option<String> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "DELETE FROM kept_submissions WHERE id = $1 AND organization_id = $2 RETURNING payload",
    )
    .bind(id)
    .bind(user.user.organization_id)
    .fetch_optional(&mut **c)
    .await)?;
    let Some(payload) = payload else {
        return Err(AppError::NotFound);
    };
    let mut job: FormSubmission = serde_json::from_str(&payload)
        .map_err(|err| AppError::Internal(anyhow::anyhow!("kept submission {id}: {err}")))?;
    job.organization_id = Some(user.user.organization_id);
    state.queue.enqueue_all_in(tx.queue_conn(), &[job]).await?;
    tx.commit().await?;
    tracing::info!(id, "kept submission sent back to its queue");
    Ok(see_other("/jobs?done=retried"))
}

/// `/ops/jobs`: every queue, for operators.
#[handler]
pub async fn operations(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(done): Query<Notice>,
) -> AppResult<Response> {
    let queue = &state.monitor;
    let (stats, failures, dead, schedules) = tokio::try_join!(
        async { queue.stats().await.map_err(queue_failed) },
        async { queue.recent_failures(LIST).await.map_err(queue_failed) },
        async { queue.dead_letters(LIST).await.map_err(queue_failed) },
        async {
            ::jobs::schedule::statuses(queue.store())
                .await
                .map_err(|err| queue_failed(err.into()))
        },
    )?;
    let unclaimed = kept(&state, None).await?;
    // Inbound webhook events, newest first: received, processed, failed
    // (will be tried again) and dead.
    let inbound = ::jobs::inbox::events(queue.store(), None, LIST)
        .await
        .map_err(|err| queue_failed(err.into()))?;
    let backend = match &state.queue {
        ::jobs::Queue::Sql(_) => "SQL queue",
        ::jobs::Queue::Sqs(_) => "Amazon SQS",
    };
    Ok(html_response(
        StatusCode::OK,
        pages::operations(
            user.nav(),
            pages::Operations {
                backend,
                stats: &stats,
                failures: &failures,
                dead: &dead,
                schedules: &schedules,
                unclaimed_kept: unclaimed.len(),
                inbound: &inbound,
                notice: notice(done.done.as_deref()),
            },
        ),
    ))
}

/// `POST /ops/jobs/retry`: any dead letter runs again.
#[handler]
pub async fn operations_retry(
    // An operator: the route's guard checked the list and the CSRF token.
    _user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeadForm>,
) -> AppResult<Response> {
    form.check()?;
    let found = state
        .queue
        .retry_dead(&form.queue, &form.id)
        .await
        .map_err(queue_failed)?;
    Ok(operator_done(&form, found, "retried"))
}

/// After an operator's retry or discard of a dead letter: logs it and goes
/// back to the page, saying `done` (`retried`, `discarded`) when the dead
/// letter was there, else that it was gone.
fn operator_done(form: &DeadForm, found: bool, done: &'static str) -> Response {
    tracing::info!(
        queue = form.queue,
        id = form.id,
        found,
        "dead letter {done} by an operator"
    );
    see_other(&if found {
        format!("/ops/jobs?done={done}")
    } else {
        "/ops/jobs?done=gone".to_owned()
    })
}

#[derive(Debug, Deserialize)]
pub struct DeadQuery {
    #[serde(default)]
    queue: String,
    #[serde(default)]
    id: String,
}

/// `GET /ops/jobs/discard?queue=…&id=…`: what discarding would do, and the
/// button that does it.
#[handler]
pub async fn operations_discard_page(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(which): Query<DeadQuery>,
) -> AppResult<Response> {
    if which.id.is_empty() || which.id.len() > 200 || which.queue.len() > 200 {
        return Err(AppError::BadRequest(
            "Which dead letter? The address lacked its id.",
        ));
    }
    let Some(letter) = state
        .monitor
        .dead_letter(Tenant::All, &which.queue, &which.id)
        .await
        .map_err(queue_failed)?
    else {
        return Ok(see_other("/ops/jobs?done=gone"));
    };
    let keeps_answers = letter.queue == FormSubmission::KIND;
    let failed = describe(&state, letter).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::confirm_discard(user.nav(), &failed, keeps_answers),
    ))
}

/// `POST /ops/jobs/discard` with `confirm=yes`: deletes a dead letter; a
/// form submission's answers are first kept for its organization. Without
/// the confirmation, back to the question.
#[handler]
pub async fn operations_discard(
    // An operator: the route's guard checked the list and the CSRF token.
    _user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeadForm>,
) -> AppResult<Response> {
    form.check()?;
    if form.confirm != "yes" {
        let query = serde_urlencoded::to_string([("queue", &form.queue), ("id", &form.id)])
            .map_err(|err| AppError::Internal(err.into()))?;
        return Ok(see_other(&format!("/ops/jobs/discard?{query}")));
    }
    let Some(letter) = state
        .queue
        .dead_letter(Tenant::All, &form.queue, &form.id)
        .await
        .map_err(queue_failed)?
    else {
        return Ok(see_other("/ops/jobs?done=gone"));
    };
    if letter.queue == FormSubmission::KIND {
        keep_submission(&state, &letter).await?;
    }
    let found = state
        .queue
        .discard_dead(&form.queue, &form.id)
        .await
        .map_err(queue_failed)?;
    Ok(operator_done(&form, found, "discarded"))
}

/// Keeps a dead form submission's payload for its organization (the job's
/// tag, else its form's), before the dead letter goes. Kept once per
/// submission key.
async fn keep_submission(state: &AppState, letter: &DeadLetter) -> AppResult<()> {
    let job: Option<FormSubmission> = serde_json::from_str(&letter.payload).ok();
    let mut organization = letter
        .organization
        .or_else(|| job.as_ref().and_then(|j| j.organization_id));
    if organization.is_none()
        && let Some(job) = &job
    {
        organization = crate::forms::queries::form_by_id(&state.db.read, job.form_id)
            .await?
            .map(|form| form.organization_id);
    }
    let key = job
        .as_ref()
        .map(|j| j.submission_key.clone())
        .unwrap_or_else(|| format!("dead letter {}", letter.id));
    on_pool!(&state.db.write, p => sqlx::query(
        "INSERT INTO kept_submissions (organization_id, submission_key, payload, error, kept_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_key) DO NOTHING",
    )
    .bind(organization)
    .bind(&key)
    .bind(&letter.payload)
    .bind(letter.error.as_deref())
    .bind(db::now_ms())
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn reasons_read_as_the_handler_wrote_them() {
        assert_eq!(
            reason(Some(r#"{"Err":"permanent: form 9 no longer exists"}"#)),
            "form 9 no longer exists"
        );
        assert_eq!(
            reason(Some("retryable: Mailgun answered 503")),
            "Mailgun answered 503"
        );
        assert_eq!(reason(Some("  ")), "no reason was recorded");
        assert_eq!(reason(None), "no reason was recorded");
    }
}
