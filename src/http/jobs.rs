//! The jobs dashboard: every queue's counts, recent failures, and dead
//! letters with retry and discard. Owners and admins only. The queues are
//! the deployment's, shared by every organization, so the page shows ids,
//! errors and counts, never a job's payload (it holds people's details).

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Query},
};
use serde::Deserialize;

use super::{AppState, CurrentUser, html_response, see_other};
use crate::{
    error::{AppError, AppResult},
    views::jobs as pages,
};

fn allowed(user: &CurrentUser) -> AppResult<()> {
    if user.user.may(crate::roles::Action::ManageJobs) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "The jobs dashboard is for owners and admins.",
        ))
    }
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

#[handler]
pub async fn index(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    allowed(&user)?;
    let queue = &state.monitor;
    let failed = |err: ::jobs::QueueError| AppError::Internal(err.into());
    let (stats, failures, dead) = tokio::try_join!(
        async { queue.stats().await.map_err(failed) },
        async { queue.recent_failures(20).await.map_err(failed) },
        async { queue.dead_letters(50).await.map_err(failed) },
    )?;
    let notice = match notice.done.as_deref() {
        Some("retried") => Some("The job is back in its queue."),
        Some("discarded") => Some("The dead letter was discarded."),
        Some("gone") => Some("That dead letter was already dealt with."),
        _ => None,
    };
    let backend = match &state.queue {
        ::jobs::Queue::Sql(_) => "SQL queue",
        ::jobs::Queue::Sqs(_) => "Amazon SQS",
    };
    Ok(html_response(
        StatusCode::OK,
        pages::dashboard(user.nav(), backend, &stats, &failures, &dead, notice),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DeadForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    id: String,
}

async fn settle(
    user: CurrentUser,
    state: &AppState,
    form: DeadForm,
    send_back: bool,
) -> AppResult<Response> {
    allowed(&user)?;
    user.check_csrf(&form.csrf)?;
    if form.id.is_empty() || form.id.len() > 200 || form.queue.len() > 200 {
        return Err(AppError::BadRequest(
            "Which dead letter? The form lacked its id.",
        ));
    }
    let done = if send_back {
        state.queue.retry_dead(&form.queue, &form.id).await
    } else {
        state.queue.discard_dead(&form.queue, &form.id).await
    }
    .map_err(|err| AppError::Internal(err.into()))?;
    tracing::info!(
        queue = form.queue,
        id = form.id,
        send_back,
        found = done,
        "dead letter settled"
    );
    Ok(see_other(match (done, send_back) {
        (false, _) => "/jobs?done=gone",
        (true, true) => "/jobs?done=retried",
        (true, false) => "/jobs?done=discarded",
    }))
}

#[handler]
pub async fn retry(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeadForm>,
) -> AppResult<Response> {
    settle(user, &state, form, true).await
}

#[handler]
pub async fn discard(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeadForm>,
) -> AppResult<Response> {
    settle(user, &state, form, false).await
}
