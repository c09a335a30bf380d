//! Saved views: a named set of the list's filters, a person's own or
//! shared with their organization. A view keeps the filters' query string
//! as Rally writes it ([`Filters::to_query`]), so opening one is a link.

use poem::{
    Response, handler,
    web::{Data, Form, Path},
};
use serde::Deserialize;

use super::{
    filters::{Filters, Position},
    list::{self, Extras},
};
use crate::accounts::auth::CurrentUser;
use crate::accounts::queries::SessionUser;
use crate::app::AppState;
use crate::on_pool;
use crate::organizations::roles::Action;
use crate::platform::db::Pool;
use crate::platform::db::now_ms;
use crate::platform::error::AppError;
use crate::platform::error::AppResult;
use crate::platform::text::fields;
use crate::platform::web::see_other;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub shared: bool,
    /// Made by the viewer.
    pub mine: bool,
}

/// The views `user` may open: their own and those shared in their
/// organization, by name.
pub async fn visible(pool: &Pool, user: &SessionUser) -> sqlx::Result<Vec<SavedView>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT id, name, query, shared, user_id = $2 AS mine FROM saved_views
         WHERE organization_id = $1 AND (user_id = $2 OR shared)
         ORDER BY name, id",
    )
    .bind(user.organization_id)
    .bind(user.user_id)
    .fetch_all(p)
    .await)
}

#[derive(Debug, Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    shared: Option<String>,
}

/// Saves the filters in `query` under `name`.
#[handler]
pub async fn save(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<SaveForm>,
) -> AppResult<Response> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&form.query).unwrap_or_default();
    let (filters, _, mut problems) = Filters::parse(&pairs);
    list::check_for(&user, &filters, &mut problems);
    let name = fields::name(&form.name)
        .ok()
        .filter(|n| n.chars().count() <= 80);
    let Some(name) = name.filter(|_| problems.is_empty()) else {
        let extras = Extras {
            view_problem: Some(if problems.is_empty() {
                "Give the view a name of up to 80 characters."
            } else {
                "These filters cannot be saved: some could not be read."
            }),
            ..Extras::default()
        };
        return list::render(
            false,
            &user,
            &state,
            &filters,
            &Position::First,
            problems,
            &extras,
        )
        .await;
    };
    let shared = form.shared.as_deref() == Some("yes");
    // Saving under the name of one of their own views updates that view:
    // one "Hot leads", not two that differ by when they were saved.
    let updated = on_pool!(&state.db.write, p => sqlx::query(
        "UPDATE saved_views SET query = $4, shared = $5
         WHERE organization_id = $1 AND user_id = $2 AND name = $3",
    )
    .bind(user.user.organization_id)
    .bind(user.user.user_id)
    .bind(&name)
    .bind(filters.to_query())
    .bind(shared)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    if updated == 0 {
        on_pool!(&state.db.write, p => sqlx::query(
            "INSERT INTO saved_views (organization_id, user_id, name, query, shared, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.user.organization_id)
        .bind(user.user.user_id)
        .bind(&name)
        .bind(filters.to_query())
        .bind(shared)
        .bind(now_ms())
        .execute(p)
        .await
        .map(|_| ()))?;
    }
    let query = filters.to_query();
    let sep = if query.is_empty() { "" } else { "&" };
    Ok(see_other(&format!("/prospects?{query}{sep}done=saved")))
}

/// Deletes a view: its maker's, or a shared one by a manager or above.
#[handler]
pub async fn delete(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let manager = user.user.may(Action::AssignProspects);
    let deleted = on_pool!(&state.db.write, p => sqlx::query(
        "DELETE FROM saved_views WHERE id = $1 AND organization_id = $2 AND (user_id = $3 OR (shared AND $4))",
    )
    .bind(id)
    .bind(user.user.organization_id)
    .bind(user.user.user_id)
    .bind(manager)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    if deleted == 0 {
        return Err(AppError::NotFound);
    }
    Ok(see_other("/prospects?done=view-deleted"))
}
