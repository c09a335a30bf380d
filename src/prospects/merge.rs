//! Merging by hand (`/prospects/:id/merge`, managers and above): search
//! for the other prospect by name or email, confirm with both side by
//! side, then the other is merged into this one (see
//! [`super::lifecycle::merge`]). Also the confirmation shown when an edit
//! corrects an email to another prospect's address.

use maud::{Markup, html};
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use super::{lifecycle, queries::Prospect};
use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    organizations::queries::audit,
    platform::{
        db::Scope,
        error::{AppError, AppResult},
        text::display_email,
        ui::{layout, plural},
        web::{form_again, html_response, see_other},
    },
};

#[derive(Debug, Default, Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    other: String,
}

/// The prospect `id` (from the path) if the user's scope may see it.
async fn visible(state: &AppState, user: &CurrentUser, id: &str) -> AppResult<Prospect> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    super::queries::prospect(&state.db.read, Scope::of(&user.user), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// What the `other` field names: `Ok(None)` when empty, `Err` when it is
/// not an id. An id outside the scope or another organization's is
/// "not found", like any prospect the person may not see.
async fn other_of(
    state: &AppState,
    user: &CurrentUser,
    this: &Prospect,
    raw: &str,
) -> AppResult<Result<Option<Prospect>, ()>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Ok(None));
    }
    let Ok(id) = raw.parse::<i64>() else {
        return Ok(Err(()));
    };
    let other = super::queries::prospect(&state.db.read, Scope::of(&user.user), id)
        .await?
        .filter(|o| o.id != this.id && o.organization_id == this.organization_id)
        .ok_or(AppError::NotFound)?;
    Ok(Ok(Some(other)))
}

#[handler]
pub async fn page(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<MergeQuery>,
) -> AppResult<Response> {
    let this = visible(&state, &user, &id).await?;
    match other_of(&state, &user, &this, &query.other).await? {
        Ok(Some(other)) => Ok(html_response(
            StatusCode::OK,
            confirm_page(&user, &this, &other),
        )),
        Ok(None) => search(&state, &user, &this, &query.q, None, StatusCode::OK).await,
        Err(()) => {
            search(
                &state,
                &user,
                &this,
                &query.q,
                Some("Choose a prospect from the list."),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn search(
    state: &AppState,
    user: &CurrentUser,
    this: &Prospect,
    q: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> AppResult<Response> {
    let found = lifecycle::candidates(
        &state.db.read,
        Scope::of(&user.user),
        this.organization_id,
        this.id,
        q,
    )
    .await?;
    Ok(html_response(
        status,
        search_page(user, this, q, &found, problem),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    other: String,
    #[serde(default)]
    confirm: String,
}

#[handler]
pub async fn merge(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<MergeForm>,
) -> AppResult<Response> {
    let this = visible(&state, &user, &id).await?;
    let other = match other_of(&state, &user, &this, &form.other).await? {
        Ok(Some(other)) => other,
        Ok(None) | Err(()) => {
            let found = Vec::new();
            return Ok(form_again(search_page(
                &user,
                &this,
                "",
                &found,
                Some("Choose a prospect from the list."),
            )));
        }
    };
    if form.confirm != "yes" {
        return Ok(html_response(
            StatusCode::OK,
            confirm_page(&user, &this, &other),
        ));
    }
    let mut tx = state.db.write.begin_write().await?;
    if !lifecycle::merge(&mut tx, this.id, other.id, &user.user.user_name).await? {
        return Err(AppError::NotFound);
    }
    audit(
        &mut tx,
        user.user.organization_id,
        Some(user.user.user_id),
        "prospects_merged",
        None,
        &format!("prospect {} merged into prospect {}", other.id, this.id),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/prospects/{}", this.id)))
}

fn search_page(
    user: &CurrentUser,
    this: &Prospect,
    q: &str,
    found: &[Prospect],
    problem: Option<&str>,
) -> Markup {
    layout(
        &format!("Merge with {}", this.name),
        Some(user.nav()),
        html! {
            p { a href={ "/prospects/" (this.id) } { "← Back" } }
            section.card {
                h1 { "Merge another prospect into " (this.name) }
                p { "Find the duplicate by name, email, phone or company." }
                @if let Some(problem) = problem { p.error role="alert" { (problem) } }
                form.search method="get" action={ "/prospects/" (this.id) "/merge" } role="search" {
                    label.visually-hidden for="merge-q" { "Search prospects" }
                    input #merge-q type="search" name="q" value=(q) placeholder="Name or email";
                    button type="submit" { "Search" }
                }
                @if !q.trim().is_empty() {
                    @if found.is_empty() {
                        p.empty { "No other prospect matches “" (q) "”." }
                    } @else {
                        ul.prospects {
                            @for p in found {
                                li {
                                    a href={ "/prospects/" (this.id) "/merge?other=" (p.id) } {
                                        strong.name { (p.name) }
                                        " "
                                        span.email { (display_email(&p.email)) }
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

/// One prospect's facts, for the side-by-side confirmation.
pub fn facts(p: &Prospect) -> Markup {
    html! {
        dl.facts {
            dt { "Name" } dd { (p.name) }
            dt { "Email" } dd { @if p.email.is_empty() { "—" } @else { (display_email(&p.email)) } }
            dt { "Phone" } dd { (p.phone.as_deref().unwrap_or("—")) }
            dt { "Company" } dd { (p.company.as_deref().unwrap_or("—")) }
            dt { "Stage" } dd { (p.stage.badge()) }
            dt { "Owner" } dd { (p.owner_name.as_deref().unwrap_or("nobody yet")) }
            dt { "Submissions" } dd { (plural(p.submissions, "submission", "submissions")) }
        }
    }
}

fn confirm_page(user: &CurrentUser, this: &Prospect, other: &Prospect) -> Markup {
    layout(
        "Merge prospects",
        Some(user.nav()),
        html! {
            p { a href={ "/prospects/" (this.id) "/merge" } { "← Choose another" } }
            section.card {
                h1 { "Merge " (other.name) " into " (this.name) "?" }
                p { (this.name) " keeps its details and fills what is blank from " (other.name)
                    "; the timeline, tasks, tags and notifications move over. "
                    (other.name) " (" (display_email(&other.email)) ") is then removed: its data lives on in " (this.name) "." }
                div.merge-pair {
                    section { h2 { "Keeps" } (facts(this)) }
                    section { h2 { "Merged in" } (facts(other)) }
                }
                form method="post" action={ "/prospects/" (this.id) "/merge" } {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="other" value=(other.id);
                    input type="hidden" name="confirm" value="yes";
                    div.actions {
                        button.primary type="submit" { "Merge" }
                        a.button href={ "/prospects/" (this.id) } { "Cancel" }
                    }
                }
            }
        },
    )
}

/// An edit corrected the email to `other`'s address: merge `other` into
/// `this`? The edit's fields (`hidden`, as typed) go again with
/// `merge=yes`.
pub fn email_taken_page(
    user: &CurrentUser,
    this: &Prospect,
    other: &Prospect,
    hidden: &[(&str, String)],
) -> Markup {
    layout(
        "Merge prospects",
        Some(user.nav()),
        html! {
            p { a href={ "/prospects/" (this.id) "/edit" } { "← Back to the edit" } }
            section.card {
                h1 { "Merge " (other.name) " into " (this.name) "?" }
                p { (other.name) " already has " strong { (display_email(&other.email)) } ". "
                    "Saving this email merges them: " (this.name) " keeps what you entered and fills what is blank from "
                    (other.name) "; the timeline, tasks, tags and notifications move over, and " (other.name) " is removed." }
                div.merge-pair {
                    section { h2 { "Keeps" } (facts(this)) }
                    section { h2 { "Merged in" } (facts(other)) }
                }
                form method="post" action={ "/prospects/" (this.id) "/edit" } {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    @for (name, value) in hidden { input type="hidden" name=(name) value=(value); }
                    input type="hidden" name="merge" value="yes";
                    div.actions {
                        button.primary type="submit" { "Merge and save" }
                        a.button href={ "/prospects/" (this.id) "/edit" } { "Cancel" }
                    }
                }
            }
        },
    )
}
