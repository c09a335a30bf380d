//! The signed-in user's prospects: searchable list and detail with timeline.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use super::{AppState, CurrentUser, html_response, is_htmx};
use crate::{
    db,
    error::{AppError, AppResult},
    views::pages,
};

const PAGE_SIZE: i64 = 25;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

#[handler]
pub async fn index(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    // A page number that is not a number is treated as the first page.
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let search: String = query.q.chars().take(200).collect();
    let mut rows = db::search_prospects(
        &state.db.read,
        user.user.organization_id,
        &search,
        PAGE_SIZE + 1,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let results = pages::prospect_results(&rows, &search, page, has_next);
    // Search-as-you-type swaps only the results; anything else gets the page.
    if is_htmx(req) && req.header("hx-target") == Some("prospect-results") {
        return Ok(html_response(StatusCode::OK, results));
    }
    Ok(html_response(
        StatusCode::OK,
        pages::prospects_page(user.nav(), results, &search),
    ))
}

#[handler]
pub async fn show(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let prospect = db::prospect(&state.db.read, user.user.organization_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let timeline = db::timeline(&state.db.read, prospect.id).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::prospect_page(user.nav(), &prospect, &timeline),
    ))
}
