//! The trash (`/prospects/trash`, admins and the owner): deleted prospects
//! with the days left before they are erased, Restore (or, when a live
//! prospect has the address by then, merge into it), and the owner's
//! "Erase now" after a confirmation. See [`super::lifecycle`].

use maud::{Markup, html};
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;

use super::lifecycle::{self, Restored, Trashed};
use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    organizations::{queries::audit, roles::Action},
    platform::{
        db::{Scope, now_ms},
        error::{AppError, AppResult},
        text::display_email,
        ui::{datetime, layout, plural},
        web::{html_response, see_other},
    },
};

#[handler]
pub async fn index(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let rows = lifecycle::trash(&state.db.read, Scope::of(&user.user)).await?;
    Ok(html_response(
        StatusCode::OK,
        trash_page(&user, &rows, now_ms()),
    ))
}

/// The trashed prospect `id` (from the path) if the user's scope holds it.
async fn in_trash(state: &AppState, user: &CurrentUser, id: &str) -> AppResult<Trashed> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    lifecycle::trashed(&state.db.read, Scope::of(&user.user), id)
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
pub struct RestoreForm {
    /// `yes`: merge into the live prospect that has the address now.
    #[serde(default)]
    merge: String,
}

#[handler]
pub async fn restore(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<RestoreForm>,
) -> AppResult<Response> {
    let trashed = in_trash(&state, &user, &id).await?;
    let by = &user.user.user_name;
    let mut tx = state.db.write.begin_write().await?;
    match lifecycle::restore(&mut tx, trashed.id, by).await? {
        Restored::Done => {
            audit(
                &mut tx,
                user.user.organization_id,
                Some(user.user.user_id),
                "prospect_restored",
                None,
                &format!("prospect {} restored from the trash", trashed.id),
            )
            .await?;
            tx.commit().await?;
            Ok(see_other(&format!("/prospects/{}", trashed.id)))
        }
        Restored::Taken(live, live_name) => {
            // The live one is of the same organization; a member's scope
            // never reaches the trash, so the person may see it.
            if form.merge == "yes" {
                lifecycle::merge(&mut tx, live, trashed.id, by).await?;
                audit(
                    &mut tx,
                    user.user.organization_id,
                    Some(user.user.user_id),
                    "prospects_merged",
                    None,
                    &format!(
                        "prospect {} (from the trash) merged into prospect {live}",
                        trashed.id
                    ),
                )
                .await?;
                tx.commit().await?;
                return Ok(see_other(&format!("/prospects/{live}")));
            }
            drop(tx);
            Ok(html_response(
                StatusCode::OK,
                taken_page(&user, &trashed, live, &live_name),
            ))
        }
        Restored::Gone => Err(AppError::NotFound),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    confirm: String,
}

/// The owner's "Erase now": a confirmation first, then the prospect and
/// everything personal linked to it are erased; the audit log says only
/// that one prospect was erased.
#[handler]
pub async fn erase(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<EraseForm>,
) -> AppResult<Response> {
    let trashed = in_trash(&state, &user, &id).await?;
    if form.confirm != "yes" {
        return Ok(html_response(StatusCode::OK, erase_page(&user, &trashed)));
    }
    let mut tx = state.db.write.begin_write().await?;
    if lifecycle::erase(&mut tx, trashed.id).await?.is_some() {
        audit(
            &mut tx,
            user.user.organization_id,
            Some(user.user.user_id),
            "prospects_erased",
            None,
            "1 prospect erased at once from the trash",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(see_other("/prospects/trash"))
}

fn trash_page(user: &CurrentUser, rows: &[Trashed], now: i64) -> Markup {
    let zone = user.nav().zone;
    let may_erase = user.user.may(Action::EraseProspects);
    layout(
        "Trash",
        Some(user.nav()),
        html! {
            p { a href="/prospects" { "← All prospects" } }
            h1 { "Trash" }
            p { "Deleted prospects stay here for " (lifecycle::TRASH_DAYS) " days, then they are erased with their timeline, tasks and tags." }
            @if rows.is_empty() {
                p.empty { "The trash is empty." }
            } @else {
                ul.trash {
                    @for row in rows {
                        li.card {
                            strong.name { (row.name) }
                            " "
                            span.email { (display_email(&row.email)) }
                            span.meta {
                                "Deleted " (datetime(row.deleted_at, zone)) " · "
                                (plural(lifecycle::days_left(row.deleted_at, now), "day", "days")) " left"
                                @if row.organization_id != user.user.organization_id { " · " (row.location_name) }
                            }
                            div.actions {
                                form.inline method="post" action={ "/prospects/trash/" (row.id) "/restore" } {
                                    input type="hidden" name="_csrf" value=(user.csrf);
                                    button.small type="submit" { "Restore" }
                                }
                                @if may_erase {
                                    form.inline method="post" action={ "/prospects/trash/" (row.id) "/erase" } {
                                        input type="hidden" name="_csrf" value=(user.csrf);
                                        button.small.danger type="submit" { "Erase now" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn taken_page(user: &CurrentUser, trashed: &Trashed, live: i64, live_name: &str) -> Markup {
    layout(
        "Restore or merge",
        Some(user.nav()),
        html! {
            section.card {
                h1 { "Merge " (trashed.name) " into " (live_name) "?" }
                p {
                    a href={ "/prospects/" (live) } { (live_name) } " has the address "
                    strong { (display_email(&trashed.email)) } " now, so " (trashed.name) " cannot come back as a prospect of its own."
                }
                p { "Merging keeps " (live_name) "'s details, fills what is blank from " (trashed.name)
                    ", and moves the timeline, tasks and tags over." }
                form method="post" action={ "/prospects/trash/" (trashed.id) "/restore" } {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="merge" value="yes";
                    div.actions {
                        button.primary type="submit" { "Merge into " (live_name) }
                        a.button href="/prospects/trash" { "Cancel" }
                    }
                }
            }
        },
    )
}

fn erase_page(user: &CurrentUser, trashed: &Trashed) -> Markup {
    layout(
        "Erase for good",
        Some(user.nav()),
        html! {
            section.card {
                h1 { "Erase " (trashed.name) " for good?" }
                p { (display_email(&trashed.email)) " and everything about them (timeline, answers, notes, tasks, tags, notifications) will be erased now. This cannot be undone." }
                form method="post" action={ "/prospects/trash/" (trashed.id) "/erase" } {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="confirm" value="yes";
                    div.actions {
                        button.small.danger type="submit" { "Erase for good" }
                        a.button href="/prospects/trash" { "Cancel" }
                    }
                }
            }
        },
    )
}
