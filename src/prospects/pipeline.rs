//! `/pipeline`: the board, a column per stage with its count and its most
//! recently active prospects, each card a link to the prospect. A card moves
//! with its own small form (a select and "Move": a POST, then back to the
//! board) — with JavaScript, by dragging it onto a column (`assets/rally.js`
//! submits the same form; htmx swaps the board in place). Every move is on
//! the prospect's timeline. The board takes the list's filters (but stage).

use maud::{Markup, html};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;

use super::{
    Stage,
    filters::{self, Arg, Filters, Owner, Problem, Viewer},
    list::{self, query_pairs},
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::bind_args;
use crate::on_pool;
use crate::platform::db;
use crate::platform::db::Pool;
use crate::platform::error::AppError;
use crate::platform::error::AppResult;
use crate::platform::ui::Nav;
use crate::platform::ui::layout;
use crate::platform::web::html_response;
use crate::platform::web::see_other;
use crate::prospects::queries::PROSPECT_COLUMNS;
use crate::prospects::queries::Prospect;

/// Cards shown per column (the count says how many there are).
pub const CARDS_PER_COLUMN: i64 = 50;

/// A column: its stage, how many prospects are in it, the first cards.
pub struct Column {
    pub stage: Stage,
    pub count: i64,
    pub cards: Vec<Prospect>,
}

/// The board's columns for `filters` as `viewer` sees them.
pub async fn columns(pool: &Pool, viewer: Viewer, filters: &Filters) -> sqlx::Result<Vec<Column>> {
    let c = filters::condition(viewer, filters, false);
    let sql = format!(
        "SELECT p.stage, CAST(COUNT(*) AS BIGINT) FROM prospects p WHERE {} GROUP BY p.stage",
        c.sql
    );
    let counts: Vec<(String, i64)> = on_pool!(pool, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &c.args)
        .fetch_all(p)
        .await)?;
    let mut columns = Vec::new();
    for stage in Stage::ALL {
        let count = counts
            .iter()
            .find(|(s, _)| s == stage.as_str())
            .map_or(0, |(_, n)| *n);
        let cards = if count == 0 {
            Vec::new()
        } else {
            let mut args = c.args.clone();
            args.push(Arg::Text(stage.as_str().into()));
            let n = args.len();
            args.push(Arg::Int(CARDS_PER_COLUMN));
            let sql = format!(
                "SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {} AND p.stage = ${n}
                 ORDER BY p.last_activity_at DESC, p.id DESC LIMIT ${}",
                c.sql,
                n + 1
            );
            on_pool!(pool, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args)
                .fetch_all(p)
                .await)?
        };
        columns.push(Column {
            stage,
            count,
            cards,
        });
    }
    Ok(columns)
}

#[handler]
pub async fn board(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    // The board does not page: a list's page link's position is not read.
    let pairs: Vec<(String, String)> = query_pairs(req)
        .into_iter()
        .filter(|(k, _)| k != "cursor" && k != "page")
        .collect();
    let (filters, _, mut problems) = Filters::parse(&pairs);
    list::check_for(&user, &filters, &mut problems);
    render(&user, &state, &filters, problems, None).await
}

/// The board page; 422 with the board as it was when something sent could
/// not be read (a filter, or a move's stage).
async fn render(
    user: &CurrentUser,
    state: &AppState,
    filters: &Filters,
    problems: Vec<Problem>,
    move_problem: Option<&str>,
) -> AppResult<Response> {
    let viewer = Viewer::of(&user.user);
    let columns = if problems.is_empty() {
        columns(&state.db.read, viewer, filters).await?
    } else {
        Vec::new()
    };
    let status = if problems.is_empty() && move_problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let member = user.user.role == crate::organizations::roles::Role::Member;
    Ok(html_response(
        status,
        page(
            user.nav(),
            filters,
            &problems,
            move_problem,
            &columns,
            member,
        ),
    ))
}

/// Where the board was, as a link back to it.
fn board_link(filters: &Filters) -> String {
    let query = filters.to_query();
    if query.is_empty() {
        "/pipeline".into()
    } else {
        format!("/pipeline?{query}")
    }
}

fn page(
    nav: Nav<'_>,
    filters: &Filters,
    problems: &[Problem],
    move_problem: Option<&str>,
    columns: &[Column],
    member: bool,
) -> Markup {
    let csrf = nav.csrf.to_string();
    let back = board_link(filters);
    let owner = match filters.owner {
        Some(Owner::Me) => "me",
        Some(Owner::Unassigned) => "unassigned",
        _ => "",
    };
    // A member's unassigned cards are claimed from the list, not opened.
    let openable = !(member && filters.owner == Some(Owner::Unassigned));
    layout(
        "Pipeline",
        Some(nav),
        html! {
            h1 { "Pipeline" }
            form.search.board-filters method="get" action="/pipeline" {
                label.visually-hidden for="b-q" { "Search" }
                input #b-q type="search" name="q" value=(filters.q) placeholder="Search";
                label.visually-hidden for="b-owner" { "Owner" }
                select #b-owner name="owner" {
                    option value="" { "Anyone" }
                    option value="me" selected[owner == "me"] { "Mine" }
                    option value="unassigned" selected[owner == "unassigned"] { "Unassigned" }
                }
                button type="submit" { "Show" }
            }
            @for (_, msg) in problems { p.alert role="alert" { (msg) } }
            div #board.board data-csrf=(csrf) {
                @if let Some(msg) = move_problem { p.alert.board-alert role="alert" { (msg) } }
                @for column in columns {
                    section.column data-stage=(column.stage.as_str()) aria-label=(column.stage.label()) {
                        h2 {
                            (column.stage.badge())
                            " " span.count { (column.count) }
                        }
                        ol.cards {
                            @for card in &column.cards {
                                li.card-item draggable="true" data-id=(card.id) {
                                    @if openable {
                                        a.card-name href={ "/prospects/" (card.id) } { (card.name) }
                                    } @else {
                                        span.card-name { (card.name) }
                                    }
                                    @if let Some(company) = &card.company { span.meta { (company) } }
                                    span.meta { (card.owner_name.as_deref().unwrap_or("Unassigned")) }
                                    @if openable {
                                        form.move id={ "move-" (card.id) } method="post" action={ "/prospects/" (card.id) "/stage" }
                                            hx-post={ "/prospects/" (card.id) "/stage" } hx-target="#board" hx-select="#board" hx-swap="outerHTML" {
                                            input type="hidden" name="_csrf" value=(csrf);
                                            input type="hidden" name="back" value=(back);
                                            label.visually-hidden for={ "stage-" (card.id) } { "Stage of " (card.name) }
                                            select id={ "stage-" (card.id) } name="stage" {
                                                @for stage in Stage::ALL {
                                                    option value=(stage.as_str()) selected[stage == card.stage] { (stage.label()) }
                                                }
                                            }
                                            button.small type="submit" { "Move" }
                                        }
                                    }
                                }
                            }
                        }
                        @if column.count > column.cards.len() as i64 {
                            p.meta {
                                a href={ "/prospects?" (more_query(filters, column.stage)) } {
                                    (column.count - column.cards.len() as i64) " more in the list"
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn more_query(filters: &Filters, stage: Stage) -> String {
    Filters {
        stage: Some(stage),
        sort: filters::Sort::Activity,
        ..filters.clone()
    }
    .to_query()
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    stage: String,
    #[serde(default)]
    back: String,
}

/// Where to go after a move: the board (with its filters) or the
/// prospect's page, whichever sent it; nowhere else.
fn back_to(raw: &str, id: i64) -> Option<(String, Option<Filters>)> {
    if raw.is_empty() || raw == "/pipeline" {
        return Some(("/pipeline".into(), Some(Filters::default())));
    }
    if raw == format!("/prospects/{id}") {
        return Some((raw.to_string(), None));
    }
    let query = raw.strip_prefix("/pipeline?")?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let (filters, _, problems) = Filters::parse(&pairs);
    problems
        .is_empty()
        .then(|| (board_link(&filters), Some(filters)))
}

/// Moves a prospect to another stage (recorded on its timeline), then back
/// to where the move was made.
#[handler]
pub async fn move_card(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let Some(prospect) =
        crate::prospects::queries::prospect(&state.db.read, db::Scope::of(&user.user), id).await?
    else {
        return Err(AppError::NotFound);
    };
    let (back, filters) =
        back_to(&form.back, prospect.id).unwrap_or(("/pipeline".into(), Some(Filters::default())));
    let Ok(stage) = form.stage.parse::<Stage>() else {
        // The board back, with the message, as it was.
        let filters = filters.unwrap_or_default();
        return render(
            &user,
            &state,
            &filters,
            Vec::new(),
            Some("Choose one of the stages to move the card to."),
        )
        .await;
    };
    let mut tx = state.db.write.begin_write().await?;
    super::bulk::move_stage(&mut tx, prospect.id, stage, &user.user.user_name).await?;
    tx.commit().await?;
    Ok(see_other(&back))
}

/// The prospect page's stage form: the same move as the board's, back to
/// the prospect.
pub fn move_form(prospect: &Prospect, csrf: &str) -> Markup {
    html! {
        form.move.inline-move method="post" action={ "/prospects/" (prospect.id) "/stage" } {
            input type="hidden" name="_csrf" value=(csrf);
            input type="hidden" name="back" value={ "/prospects/" (prospect.id) };
            label for="move-stage" { "Move to stage" }
            select #move-stage name="stage" {
                @for stage in Stage::ALL {
                    option value=(stage.as_str()) selected[stage == prospect.stage] { (stage.label()) }
                }
            }
            button.small type="submit" { "Move" }
        }
    }
}
