//! `POST /prospects/{id}/tasks` (add), `POST /tasks/{id}/done`,
//! `POST /tasks/{id}/snooze`. Every form works without JavaScript: a 303
//! back to the page it came from, or the prospect page with the form and
//! its messages (422).

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;

use super::{
    NOTE_MAX, Snooze,
    queries::{self, NewTask},
    views::{TaskForm, section},
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::platform::db;
use crate::platform::db::Scope;
use crate::platform::error::AppError;
use crate::platform::error::AppResult;
use crate::platform::text::fields;
use crate::platform::web::form_again;
use crate::platform::web::html_response;
use crate::platform::web::see_other;
use crate::prospects::views as pages;

/// The prospect page with its tasks section (`form` as typed, or empty).
pub async fn prospect_page(
    state: &AppState,
    user: &CurrentUser,
    prospect: &crate::prospects::queries::Prospect,
    form: &TaskForm,
) -> AppResult<maud::Markup> {
    let scope = Scope::of(&user.user);
    let timeline = crate::prospects::queries::timeline(&state.db.read, prospect.id).await?;
    let tags = crate::prospects::queries::tags(&state.db.read, prospect.id).await?;
    let tasks = queries::of_prospect(&state.db.read, scope, prospect.id).await?;
    let tasks = section(
        &user.csrf,
        user.user.zone(),
        db::now_ms(),
        prospect.id,
        &tasks,
        form,
    );
    Ok(pages::prospect_page(
        user.nav(),
        prospect,
        &tags,
        &timeline,
        tasks,
        user.user
            .may(crate::organizations::roles::Action::DeleteProspects),
    ))
}

/// An id from the path; anything else is "not found".
fn id(raw: &str) -> AppResult<i64> {
    raw.parse().map_err(|_| AppError::NotFound)
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    note: String,
}

#[handler]
pub async fn create(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(prospect): Path<String>,
    Form(form): Form<AddForm>,
) -> AppResult<Response> {
    let scope = Scope::of(&user.user);
    let prospect = crate::prospects::queries::prospect(&state.db.read, scope, id(&prospect)?)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut problems = Vec::new();
    let kind = super::kind(&form.kind);
    if kind.is_none() {
        problems.push(("kind", "Choose call, email, meeting or other."));
    }
    let due = super::parse_due(&form.due, user.user.zone());
    if let Err(msg) = due {
        problems.push(("due", msg));
    }
    let note = if form.note.trim().is_empty() {
        Ok(String::new())
    } else if form.note.chars().count() > NOTE_MAX {
        Err("A note can have up to 1,000 characters.")
    } else {
        fields::note(&form.note).map_err(|e| e.message())
    };
    if let Err(msg) = &note {
        problems.push(("note", *msg));
    }
    let (Some(kind), Ok(due_at), Ok(note)) = (kind, due, note) else {
        let again = TaskForm {
            kind: form.kind.chars().take(20).collect(),
            due: form.due.chars().take(40).collect(),
            note: form.note.chars().take(NOTE_MAX).collect(),
            problems,
        };
        return Ok(form_again(
            prospect_page(&state, &user, &prospect, &again).await?,
        ));
    };
    let task = NewTask { kind, note, due_at };
    let mut tx = state.db.write.begin_write().await?;
    let created = queries::create(
        &mut tx,
        scope,
        prospect.id,
        user.user.user_id,
        &task,
        db::now_ms(),
    )
    .await?;
    tx.commit().await?;
    if created.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(see_other(&format!("/prospects/{}#tasks", prospect.id)))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    back: String,
    #[serde(default, rename = "for")]
    snooze: String,
}

/// Where a task's buttons send the person back to: the home page or the
/// task's prospect (never an address from elsewhere).
fn back(raw: &str, prospect_id: i64) -> String {
    if raw == "/" {
        "/".to_string()
    } else {
        format!("/prospects/{prospect_id}#tasks")
    }
}

#[handler]
pub async fn done(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(task): Path<String>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let task = id(&task)?;
    let mut tx = state.db.write.begin_write().await?;
    let prospect = queries::complete(&mut tx, Scope::of(&user.user), task, db::now_ms()).await?;
    tx.commit().await?;
    let prospect = prospect.ok_or(AppError::NotFound)?;
    Ok(see_other(&back(&form.back, prospect)))
}

#[handler]
pub async fn snooze(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(task): Path<String>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let task = id(&task)?;
    let scope = Scope::of(&user.user);
    let Some(snooze) = Snooze::parse(&form.snooze) else {
        // Not in the scope: not found, whatever was asked.
        queries::task(&state.db.read, scope, task)
            .await?
            .ok_or(AppError::NotFound)?;
        return Err(AppError::BadRequest(
            "Choose how long to snooze: 1 hour, tomorrow or next week.",
        ));
    };
    let until = snooze.until(db::now_ms(), user.user.zone());
    let mut tx = state.db.write.begin_write().await?;
    let prospect = queries::snooze(&mut tx, scope, task, until).await?;
    tx.commit().await?;
    match prospect {
        Some(prospect) => Ok(see_other(&back(&form.back, prospect))),
        None => match queries::task(&state.db.read, scope, task).await? {
            // Done already: nothing to put off.
            Some(finished) => Ok(html_response(
                StatusCode::CONFLICT,
                crate::platform::ui::error_page(
                    "Already done",
                    &format!(
                        "This follow-up on {} is done; there is nothing to snooze.",
                        finished.prospect_name
                    ),
                ),
            )),
            None => Err(AppError::NotFound),
        },
    }
}
