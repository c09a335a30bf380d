//! `/prospects`: the list with its filters, sort, total, keyset pages,
//! saved views, bulk selection and, for unassigned prospects, "Claim".

use maud::{Markup, html};
use poem::{Request, Response, handler, http::StatusCode, web::Data};

use super::{
    Stage,
    filters::{self, Filters, Owner, Page, Position, Problem, Sort, Viewer},
    saved_views::{self, SavedView},
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::on_pool;
use crate::organizations::queries as people;
use crate::organizations::roles::Action;
use crate::organizations::roles::Place;
use crate::platform::db;
use crate::platform::db::Pool;
use crate::platform::error::AppResult;
use crate::platform::text::display_email;
use crate::platform::ui::Nav;
use crate::platform::ui::datetime;
use crate::platform::ui::labelled_input;
use crate::platform::ui::layout;
use crate::platform::ui::plural;
use crate::platform::ui::problem;
use crate::platform::web::html_response;
use crate::platform::web::is_htmx;
use crate::prospects::queries::Prospect;
use crate::prospects::views::QuickAdd;

/// What the filter form offers: the organization's people, tags, forms,
/// events and (at an HQ) locations.
#[derive(Debug, Default)]
pub struct Choices {
    /// Empty for members (they filter by "me" and "unassigned" only).
    pub people: Vec<(i64, String)>,
    pub tags: Vec<String>,
    pub forms: Vec<(i64, String)>,
    pub events: Vec<(i64, String)>,
    /// Empty outside an HQ.
    pub locations: Vec<(i64, String)>,
    pub may_assign: bool,
    pub may_delete: bool,
    /// Admins and the owner: the trash.
    pub may_restore: bool,
}

impl Choices {
    pub async fn load(pool: &Pool, user: &CurrentUser) -> sqlx::Result<Choices> {
        let org = user.user.organization_id;
        let may_assign = user.user.may(Action::AssignProspects);
        let people = if may_assign {
            people::members(pool, org)
                .await?
                .into_iter()
                .map(|m| (m.user_id, m.name))
                .collect()
        } else {
            Vec::new()
        };
        let scope = db::Scope::of(&user.user);
        let tags: Vec<String> = on_pool!(pool, p => sqlx::query_scalar(
            "SELECT DISTINCT g.tag FROM prospect_tags g JOIN prospects p ON p.id = g.prospect_id
             WHERE p.organization_id IN (SELECT o.id FROM organizations o WHERE o.id = $1 OR o.parent_id = $1)
               AND ($2 IS NULL OR p.owner_user_id = $2) AND p.deleted_at IS NULL
             ORDER BY g.tag LIMIT 200",
        )
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)?;
        let forms = crate::forms::queries::forms_of(pool, org)
            .await?
            .into_iter()
            .map(|f| (f.id, f.title))
            .collect();
        let events = crate::events::queries::events_of(pool, org)
            .await?
            .into_iter()
            .map(|e| (e.id, e.name))
            .collect();
        let locations = if user.user.place() == Place::Hq {
            on_pool!(pool, p => sqlx::query_as(
                "SELECT id, name FROM organizations WHERE parent_id = $1 ORDER BY name",
            )
            .bind(org)
            .fetch_all(p)
            .await)?
        } else {
            Vec::new()
        };
        Ok(Choices {
            people,
            tags,
            forms,
            events,
            locations,
            may_assign,
            may_delete: user.user.may(Action::DeleteProspects),
            may_restore: user.user.may(Action::RestoreProspects),
        })
    }
}

/// The query string's pairs (already screened by `http::input`).
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default()
}

/// Filters that only some may use, checked against who asks: a location
/// only at an HQ.
pub fn check_for(user: &CurrentUser, filters: &Filters, problems: &mut Vec<Problem>) {
    if filters.location.is_some() && user.user.place() != Place::Hq {
        problems.push(("location", "Only a franchise HQ filters by location."));
    }
}

#[handler]
pub async fn index(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    let (filters, position, mut problems) = Filters::parse(&query_pairs(req));
    check_for(&user, &filters, &mut problems);
    let notice = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v);
    let extras = Extras {
        notice: notice.as_deref(),
        ..Extras::default()
    };
    render(
        req_htmx_results(req),
        &user,
        &state,
        &filters,
        &position,
        problems,
        &extras,
    )
    .await
}

fn req_htmx_results(req: &Request) -> bool {
    is_htmx(req) && req.header("hx-target") == Some("prospect-results")
}

/// What the list page shows besides the list: the quick-add form as sent,
/// a notice after an action, the save-view form's message.
#[derive(Debug, Default)]
pub struct Extras<'a> {
    pub quick: QuickAdd,
    pub notice: Option<&'a str>,
    pub view_problem: Option<&'static str>,
}

/// The list page (or, for search-as-you-type, its results alone); 422 when
/// a filter, the quick-add form or the save-view form has problems.
pub async fn render(
    results_only: bool,
    user: &CurrentUser,
    state: &AppState,
    filters: &Filters,
    position: &Position,
    problems: Vec<Problem>,
    extras: &Extras<'_>,
) -> AppResult<Response> {
    let viewer = Viewer::of(&user.user);
    let page = if problems.is_empty() {
        Some(filters::page(&state.db.read, viewer, filters, position).await?)
    } else {
        None
    };
    let status =
        if problems.is_empty() && extras.quick.problems.is_empty() && extras.view_problem.is_none()
        {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
    let results = results(page.as_ref(), filters, user, &problems);
    if results_only {
        return Ok(html_response(status, results));
    }
    let choices = Choices::load(&state.db.read, user).await?;
    let views = saved_views::visible(&state.db.read, &user.user).await?;
    // Owners and admins see how many submissions wait for their review.
    let held = if user.user.may(Action::ReviewHeld) {
        crate::intake::held::queries::count(&state.db.read, user.user.organization_id).await?
    } else {
        0
    };
    let body = html! {
        (crate::intake::held::views::notice(held))
        (results)
    };
    Ok(html_response(
        status,
        page_markup(
            user.nav(),
            body,
            filters,
            &problems,
            &choices,
            &views,
            extras,
            page.as_ref().map(|p| p.total),
        ),
    ))
}

fn notice_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "assigned" => "Assigned.",
        "staged" => "Stage changed.",
        "tagged" => "Tag added.",
        "untagged" => "Tag removed.",
        "deleted" => "Moved to the trash.",
        "claimed" => "It is yours now.",
        "saved" => "View saved.",
        "view-deleted" => "View deleted.",
        "none" => "Nothing was selected.",
        _ => return None,
    })
}

/// The link to the list with `filters` at `cursor` (a page link).
fn page_link(filters: &Filters, cursor: &str) -> String {
    let mut query = filters.to_query();
    let position = match cursor.strip_prefix("page:") {
        Some(page) => format!("page={page}"),
        None => serde_urlencoded::to_string([("cursor", cursor)]).unwrap_or_default(),
    };
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&position);
    format!("/prospects?{query}")
}

/// The results with their pager: what search-as-you-type swaps.
fn results(
    page: Option<&Page>,
    filters: &Filters,
    user: &CurrentUser,
    problems: &[Problem],
) -> Markup {
    let unassigned_view = filters.owner == Some(Owner::Unassigned);
    let member = user.user.role == crate::organizations::roles::Role::Member;
    let zone = user.user.zone();
    // An HQ sees its locations' prospects too: each row says whose.
    let show_location = user.user.place() == Place::Hq;
    html! {
        div #prospect-results {
            @if !problems.is_empty() {
                p.alert role="alert" { "Some filters could not be read: see below." }
            }
            @if let Some(page) = page {
                p.total #total { (plural(page.total, "prospect", "prospects")) @if !filters.is_empty() { " match" @if page.total == 1 { "es" } } }
                @if page.rows.is_empty() {
                    p.empty {
                        @if filters.is_empty() && member {
                            "No prospect is yours yet. "
                            a href="/prospects?owner=unassigned" { "See the unassigned leads" }
                            " and claim one."
                        }
                        @else if filters.is_empty() { "No prospects yet. Share your form to start collecting them." }
                        @else if !filters.q.trim().is_empty() { "No prospect matches “" (filters.q) "”." }
                        @else { "No prospect matches these filters." }
                    }
                } @else {
                    ul.prospects {
                        @for p in &page.rows {
                            li {
                                input.pick type="checkbox" name="id" value=(p.id) form="bulk"
                                    aria-label={ "Select " (p.name) };
                                // A member opens their own prospects; an
                                // unassigned one is claimed first.
                                @if unassigned_view && member {
                                    div.row { (row(p, zone, show_location)) }
                                } @else {
                                    a href={ "/prospects/" (p.id) } { (row(p, zone, show_location)) }
                                }
                                @if p.owner_user_id.is_none() {
                                    (claim_button(p.id, &user.csrf))
                                }
                            }
                        }
                    }
                }
                nav.pager {
                    @if let Some(prev) = &page.prev { a rel="prev" href=(page_link(filters, prev)) { "← Previous" } }
                    @if let Some(next) = &page.next { a rel="next" href=(page_link(filters, next)) { "Next →" } }
                }
            }
        }
    }
}

/// "Claim": take an unassigned prospect as one's own.
pub fn claim_button(id: i64, csrf: &str) -> Markup {
    html! {
        form.inline.claim method="post" action={ "/prospects/" (id) "/claim" } {
            input type="hidden" name="_csrf" value=(csrf);
            button.small.go type="submit" { "Claim" }
        }
    }
}

fn row(p: &Prospect, zone: crate::platform::time_zones::Tz, show_location: bool) -> Markup {
    html! {
        strong.name { (p.name) }
        @if p.email.is_empty() { span.email { (p.phone.as_deref().unwrap_or_default()) } } @else { span.email { (display_email(&p.email)) } }
        @if let Some(company) = &p.company { span.company { (company) } }
        @if show_location { span.location { (p.location_name) } }
        span.meta {
            (p.stage.badge()) " · "
            (datetime(p.created_at, zone)) " · " (plural(p.submissions, "submission", "submissions"))
            @if let Some(owner) = &p.owner_name { " · " (owner) }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn page_markup(
    nav: Nav<'_>,
    results: Markup,
    filters: &Filters,
    problems: &[Problem],
    choices: &Choices,
    views: &[SavedView],
    extras: &Extras<'_>,
    total: Option<i64>,
) -> Markup {
    let quick = &extras.quick;
    let notice = extras.notice;
    let csrf = nav.csrf.to_string();
    let query = filters.to_query();
    let opened = !filters.is_empty() || !problems.is_empty();
    layout(
        "Prospects",
        Some(nav),
        html! {
            h1 { "Prospects" }
            @if let Some(text) = notice.and_then(notice_text) { p.notice role="status" { (text) } }
            details.card.quick-add open[!quick.problems.is_empty()] {
                summary { "Add a prospect" }
                form #quick-add method="post" action="/prospects" {
                    input type="hidden" name="_csrf" value=(csrf);
                    (labelled_input("qa-name", "name", "Name", "text", &quick.name, (true, "off"), problem(&quick.problems, "name")))
                    (labelled_input("qa-email", "email", "Email", "email", &quick.email, (true, "off"), problem(&quick.problems, "email")))
                    @if let Some(id) = quick.existing { p { a href={ "/prospects/" (id) } { "Open that prospect" } } }
                    (labelled_input("qa-phone", "phone", "Phone (optional)", "tel", &quick.phone, (false, "off"), problem(&quick.problems, "phone")))
                    button.primary type="submit" { "Add" }
                }
            }
            p.actions {
                a href="/pipeline" { "Pipeline" } " · "
                a href="/prospects/export.csv" { "Download as CSV" } " · "
                a href="/prospects/export.csv?sep=semicolon" title="Separated by semicolons, for Excel where the decimal mark is a comma" { "CSV for Excel in Europe" } " · "
                a href="/prospects/import" { "Import a CSV file" }
                @if choices.may_restore { " · " a href="/prospects/trash" { "Trash" } }
            }
            @if !views.is_empty() {
                nav.views aria-label="Saved views" {
                    span.meta { "Views: " }
                    @for view in views {
                        span.view {
                            a href={ "/prospects?" (view.query) } { (view.name) }
                            @if view.shared { " " span.badge { "shared" } }
                        }
                    }
                }
            }
            form.search method="get" action="/prospects" role="search" {
                label.visually-hidden for="q" { "Search prospects" }
                input #q type="search" name="q" value=(filters.q) placeholder="Search name, email, phone, company or tag"
                    hx-get="/prospects" hx-trigger="input changed delay:250ms, search"
                    hx-target="#prospect-results" hx-swap="outerHTML" hx-push-url="true"
                    hx-include="#filters";
                button type="submit" { "Search" }
            }
            (filter_form(filters, problems, choices, opened))
            @if let Some(total) = total {
                (bulk_form(filters, choices, &csrf, &query, total))
            }
            details.save-view open[extras.view_problem.is_some()] {
                summary { "Save these filters as a view" }
                form method="post" action="/prospects/views" {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="query" value=(query);
                    div.field.invalid[extras.view_problem.is_some()] {
                        label for="view-name" { "Name" }
                        input #view-name type="text" name="name" required maxlength="80";
                        @if let Some(msg) = extras.view_problem { p.error { (msg) } }
                    }
                    div.check {
                        input #view-shared type="checkbox" name="shared" value="yes";
                        label for="view-shared" { "Share with the organization" }
                    }
                    button.small type="submit" { "Save view" }
                }
                @if views.iter().any(|v| v.mine) {
                    p.meta { "Your views:" }
                    @for view in views.iter().filter(|v| v.mine) {
                        form.inline method="post" action={ "/prospects/views/" (view.id) "/delete" } {
                            input type="hidden" name="_csrf" value=(csrf);
                            button.small type="submit" { "Delete “" (view.name) "”" }
                        }
                        " "
                    }
                }
            }
            (results)
        },
    )
}

fn select_problem(problems: &[Problem], field: &str) -> Markup {
    html! { @if let Some(msg) = problems.iter().find(|(f, _)| *f == field).map(|(_, m)| *m) { p.error { (msg) } } }
}

fn filter_form(filters: &Filters, problems: &[Problem], choices: &Choices, open: bool) -> Markup {
    let owner_value = match filters.owner {
        Some(Owner::Me) => "me".to_string(),
        Some(Owner::Unassigned) => "unassigned".to_string(),
        Some(Owner::User(id)) => id.to_string(),
        None => String::new(),
    };
    let day = |d: &Option<(String, i64)>| d.as_ref().map(|(t, _)| t.clone()).unwrap_or_default();
    html! {
        details.card.filters open[open] {
            summary { "Filters and sort" }
            form #filters method="get" action="/prospects" {
                input type="hidden" name="q" value=(filters.q);
                div.grid {
                    div.field.invalid[problem(problems, "stage").is_some()] {
                        label for="f-stage" { "Stage" }
                        select #f-stage name="stage" {
                            option value="" { "Any stage" }
                            @for stage in Stage::ALL {
                                option value=(stage.as_str()) selected[filters.stage == Some(stage)] { (stage.label()) }
                            }
                        }
                        (select_problem(problems, "stage"))
                    }
                    div.field.invalid[problem(problems, "owner").is_some()] {
                        label for="f-owner" { "Owner" }
                        select #f-owner name="owner" {
                            option value="" { "Anyone" }
                            option value="me" selected[owner_value == "me"] { "Me" }
                            option value="unassigned" selected[owner_value == "unassigned"] { "Unassigned" }
                            @for (id, name) in &choices.people {
                                option value=(id) selected[owner_value == id.to_string()] { (name) }
                            }
                        }
                        (select_problem(problems, "owner"))
                    }
                    div.field.invalid[problem(problems, "tag").is_some()] {
                        label for="f-tag" { "Tag" }
                        input #f-tag type="text" name="tag" list="f-tags" value=(filters.tag.clone().unwrap_or_default());
                        datalist #f-tags { @for tag in &choices.tags { option value=(tag) {} } }
                        (select_problem(problems, "tag"))
                    }
                    div.field.invalid[problem(problems, "form").is_some()] {
                        label for="f-form" { "Source form" }
                        select #f-form name="form" {
                            option value="" { "Any form" }
                            @for (id, title) in &choices.forms {
                                option value=(id) selected[filters.form == Some(*id)] { (title) }
                            }
                        }
                        (select_problem(problems, "form"))
                    }
                    div.field.invalid[problem(problems, "event").is_some()] {
                        label for="f-event" { "Event" }
                        select #f-event name="event" {
                            option value="" { "Any event" }
                            @for (id, name) in &choices.events {
                                option value=(id) selected[filters.event == Some(*id)] { (name) }
                            }
                        }
                        (select_problem(problems, "event"))
                    }
                    @if !choices.locations.is_empty() || filters.location.is_some() {
                        div.field.invalid[problem(problems, "location").is_some()] {
                            label for="f-location" { "Location" }
                            select #f-location name="location" {
                                option value="" { "Every location" }
                                @for (id, name) in &choices.locations {
                                    option value=(id) selected[filters.location == Some(*id)] { (name) }
                                }
                            }
                            (select_problem(problems, "location"))
                        }
                    }
                    div.field.invalid[problem(problems, "created").is_some()] {
                        label for="f-created-from" { "Added from" }
                        input #f-created-from type="date" name="created_from" value=(day(&filters.created.from));
                        label for="f-created-to" { "to" }
                        input #f-created-to type="date" name="created_to" value=(day(&filters.created.to));
                        (select_problem(problems, "created"))
                    }
                    div.field.invalid[problem(problems, "active").is_some()] {
                        label for="f-active-from" { "Last activity from" }
                        input #f-active-from type="date" name="active_from" value=(day(&filters.active.from));
                        label for="f-active-to" { "to" }
                        input #f-active-to type="date" name="active_to" value=(day(&filters.active.to));
                        (select_problem(problems, "active"))
                    }
                    div.field.invalid[problem(problems, "sort").is_some()] {
                        label for="f-sort" { "Sort" }
                        select #f-sort name="sort" {
                            @for sort in Sort::ALL {
                                option value=(sort.as_str()) selected[filters.sort == sort] { (sort.label()) }
                            }
                        }
                        (select_problem(problems, "sort"))
                    }
                }
                @if let Some(msg) = problem(problems, "cursor") { p.error { (msg) } }
                div.actions {
                    button.small.go type="submit" { "Apply" }
                    a.button href="/prospects" { "Clear" }
                }
            }
        }
    }
}

fn bulk_form(filters: &Filters, choices: &Choices, csrf: &str, query: &str, total: i64) -> Markup {
    html! {
        form #bulk.card.bulk method="post" action="/prospects/bulk" {
            input type="hidden" name="_csrf" value=(csrf);
            input type="hidden" name="filter" value=(query);
            p.meta { "Act on the selected prospects, or:" }
            div.check {
                input #bulk-all type="checkbox" name="all" value="yes";
                label for="bulk-all" { "All " (plural(total, "prospect", "prospects")) " matching" @if filters.is_empty() { " (everything you see)" } }
            }
            div.grid {
                div.field {
                    label for="bulk-action" { "Action" }
                    select #bulk-action name="action" {
                        @if choices.may_assign { option value="assign" { "Assign to…" } }
                        option value="stage" { "Change stage to…" }
                        option value="tag" { "Add tag…" }
                        option value="untag" { "Remove tag…" }
                        option value="export" { "Export as CSV" }
                        @if choices.may_delete { option value="delete" { "Delete…" } }
                    }
                }
                @if choices.may_assign {
                    div.field {
                        label for="bulk-owner" { "Owner" }
                        select #bulk-owner name="owner" {
                            option value="" { "Nobody" }
                            @for (id, name) in &choices.people { option value=(id) { (name) } }
                        }
                    }
                }
                div.field {
                    label for="bulk-stage" { "Stage" }
                    select #bulk-stage name="stage" {
                        @for stage in Stage::ALL { option value=(stage.as_str()) { (stage.label()) } }
                    }
                }
                div.field {
                    label for="bulk-tag" { "Tag" }
                    input #bulk-tag type="text" name="tag" maxlength="40";
                }
            }
            button.small.go type="submit" { "Apply to selection" }
        }
    }
}
