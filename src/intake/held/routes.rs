//! Held submissions: what the public form kept instead of throwing away
//! because it looked automated (too fast, honeypot filled; browser autofill
//! does both). Owners and admins of the form's organization list them,
//! release one (it becomes a prospect as any submission does, through the
//! FormSubmission job) or discard it after confirming.
//!
//! Every route here is `SignedIn(ReviewHeld)` in `crate::organizations::roles::ROUTES`:
//! the route's guard lets only owners and admins reach these handlers.

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{html_response, see_other},
};
use crate::{
    intake::{
        held::{queries as held, views as pages},
        jobs::FormSubmission,
    },
    platform::{
        db::Tx,
        error::{AppError, AppResult},
    },
};

/// At most this many held submissions on the page, newest first.
const LIST_LIMIT: i64 = 200;

/// Held days, for the page: `RALLY_HELD_RETENTION_DAYS`.
fn retention_days(state: &AppState) -> u64 {
    state.settings.held_retention.as_secs() / (24 * 3600)
}

/// 404, said kindly: what was asked for is no longer held (or never was
/// this organization's: the same answer).
fn gone(user: &CurrentUser) -> Response {
    html_response(StatusCode::NOT_FOUND, pages::gone(user.nav()))
}

fn parse_id(id: &str) -> AppResult<i64> {
    id.parse().map_err(|_| AppError::NotFound)
}

/// Release and discard: in a new write transaction, takes the held
/// submission with the path's `id` out of the user's organization. `None`
/// when it is not held (any more) there: the caller answers 404, the same
/// as for another organization's id. The transaction is the caller's to
/// finish.
async fn take(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> AppResult<Option<(Tx, i64, held::Taken)>> {
    let id = parse_id(id)?;
    let mut tx = state.db.write.begin_write().await?;
    let taken = held::take(&mut tx, user.user.organization_id, id).await?;
    Ok(taken.map(|taken| (tx, id, taken)))
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

/// `GET /held`: the organization's held submissions.
#[handler]
pub async fn index(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let org = user.user.organization_id;
    let (rows, total) = tokio::try_join!(
        held::list(&state.db.read, org, LIST_LIMIT),
        held::count(&state.db.read, org),
    )?;
    let notice = match notice.done.as_deref() {
        Some("released") => Some("Released: it becomes a prospect in a moment."),
        Some("discarded") => Some("The held submission was discarded."),
        _ => None,
    };
    Ok(html_response(
        StatusCode::OK,
        pages::index(user.nav(), &rows, total, retention_days(&state), notice),
    ))
}

/// `POST /held/{id}/release`: the submission leaves the held list and its
/// FormSubmission job is enqueued, in one transaction (never both lost,
/// never both kept). The job carries the submission's own key, so a
/// release of something already accepted (the same person sent it again)
/// adds nothing.
#[handler]
pub async fn release(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some((mut tx, id, taken)) = take(&state, &user, &id).await? else {
        return Ok(gone(&user));
    };
    let answers = serde_json::from_str(&taken.answers).map_err(|err| {
        AppError::Internal(anyhow::anyhow!("held submission {id} answers: {err}"))
    })?;
    let job = FormSubmission {
        form_id: taken.form_id,
        submission_key: taken.submission_key,
        answers,
        submitted_at: taken.submitted_at,
        organization_id: Some(user.user.organization_id),
    };
    state
        .queue
        .enqueue_all_in(tx.queue_conn(), std::slice::from_ref(&job))
        .await?;
    tx.commit().await?;
    tracing::info!(
        organization_id = user.user.organization_id,
        held_id = id,
        "held submission released"
    );
    Ok(see_other("/held?done=released"))
}

/// `GET /held/{id}/discard`: what would be discarded, and the button that
/// does it.
#[handler]
pub async fn confirm_discard(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let Some(held) = held::get(&state.db.read, user.user.organization_id, id).await? else {
        return Ok(gone(&user));
    };
    Ok(html_response(
        StatusCode::OK,
        pages::confirm_discard(user.nav(), &held, retention_days(&state)),
    ))
}

/// `POST /held/{id}/discard`: deletes the held submission for good.
#[handler]
pub async fn discard(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some((tx, id, _)) = take(&state, &user, &id).await? else {
        return Ok(gone(&user));
    };
    tx.commit().await?;
    tracing::info!(
        organization_id = user.user.organization_id,
        held_id = id,
        "held submission discarded"
    );
    Ok(see_other("/held?done=discarded"))
}
