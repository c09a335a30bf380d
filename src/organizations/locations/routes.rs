//! Franchise HQ: its locations with roll-ups, and adding a location.
//! Only an HQ (a franchise organization without a parent) has locations;
//! HQ's owner and admins add them, its managers and above see roll-ups.

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    organizations::{
        locations::{queries as franchise, views as pages},
        queries as people,
    },
    platform::error::{AppError, AppResult},
};

/// How many of a location's newest submissions its page lists.
const RECENT_SUBMISSIONS: i64 = 20;

/// The user's organization, if it is a franchise HQ (who may see or add
/// locations is in `crate::organizations::roles`).
async fn hq(
    state: &AppState,
    user: &CurrentUser,
) -> AppResult<crate::organizations::queries::Organization> {
    let org =
        crate::organizations::queries::organization(&state.db.read, user.user.organization_id)
            .await?
            .ok_or(AppError::NotFound)?;
    if !org.is_hq() {
        return Err(AppError::NotFound);
    }
    Ok(org)
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

#[handler]
pub async fn index(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(q): Query<Notice>,
) -> AppResult<Response> {
    let hq = hq(&state, &user).await?;
    let rollups = franchise::rollups(&state.db.read, hq.id, None).await?;
    let notice = q.done.as_deref().map(|_| "Location added.");
    Ok(html_response(
        StatusCode::OK,
        pages::locations(user.nav(), &hq, &rollups, None, notice),
    ))
}

#[derive(Debug, Deserialize)]
pub struct LocationForm {
    #[serde(default)]
    name: String,
}

#[handler]
pub async fn create(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<LocationForm>,
) -> AppResult<Response> {
    let hq = hq(&state, &user).await?;
    let name = form.name.trim();
    let rollups = franchise::rollups(&state.db.read, hq.id, None).await?;
    // The same name in another case or with other accents is the same
    // place to the people choosing it from a list.
    let folded = crate::platform::text::search_fold(name);
    let same = |other: &str| crate::platform::text::search_fold(other) == folded;
    let problem = if name.is_empty() || name.chars().count() > 120 {
        Some("Please name the location (up to 120 characters).")
    } else if rollups.iter().any(|r| same(&r.name)) {
        Some("A location with this name exists: give this one another name.")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Ok(form_again(pages::locations(
            user.nav(),
            &hq,
            &rollups,
            Some((problem, &form.name)),
            None,
        )));
    }
    let mut tx = state.db.write.begin_write().await?;
    franchise::create_location(&mut tx, hq.id, name, user.user.user_id).await?;
    tx.commit().await?;
    Ok(see_other("/locations?done=added"))
}

#[handler]
pub async fn show(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let hq = hq(&state, &user).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let rollup = franchise::rollups(&state.db.read, hq.id, Some(id))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let members = people::members(&state.db.read, rollup.id).await?;
    let submissions =
        franchise::recent_submissions(&state.db.read, hq.id, rollup.id, RECENT_SUBMISSIONS).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::location(user.nav(), &rollup, &members, &submissions),
    ))
}
