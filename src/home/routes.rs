//! `GET /`: the home page.

use poem::{Response, handler, http::StatusCode, web::Data};

use super::{
    queries,
    views::{Home, Week, page},
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::organizations::roles::Place;
use crate::organizations::roles::Role;
use crate::platform::db;
use crate::platform::db::Scope;
use crate::platform::error::AppResult;
use crate::platform::time_zones;
use crate::platform::web::html_response;

#[handler]
pub async fn home(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let now = db::now_ms();
    let markup = render(&state, &user, now).await?;
    Ok(html_response(StatusCode::OK, markup))
}

/// The home page of `user` at `now`.
pub async fn render(state: &AppState, user: &CurrentUser, now: i64) -> AppResult<maud::Markup> {
    let pool = &state.db.read;
    let zone = user.user.zone();
    let scope = Scope::of(&user.user);
    let me = user.user.user_id;
    let tomorrow = time_zones::start_of_next_day(now, zone);
    let tasks = crate::tasks::queries::open_due(pool, scope, me, tomorrow, 50).await?;
    let since = queries::visit(&state.db.write, me, user.user.organization_id, now).await?;
    let new_leads = queries::new_since(pool, scope, since, 10).await?;
    let new_count = queries::count_new_since(pool, scope, since).await?;
    let assigned = queries::assigned_to(pool, user.user.organization_id, me, 10).await?;
    let hottest = queries::hottest(pool, scope, now, 5).await?;
    let week = time_zones::start_of_week(now, zone);
    let last_week = time_zones::start_of_previous_week(now, zone);
    let mine = Scope {
        organization_id: user.user.organization_id,
        owner: Some(me),
    };
    let mut scopes = vec![("You", mine)];
    if user.user.role > Role::Member {
        let label = if user.user.place() == Place::Hq {
            "All locations"
        } else {
            "Your team"
        };
        scopes.push((label, Scope::organization(user.user.organization_id)));
    }
    let mut weeks = Vec::new();
    for (label, scope) in scopes {
        let (last, this) = queries::counts(pool, scope, last_week, week, now + 1).await?;
        weeks.push(Week { label, this, last });
    }
    let checklist = checklist(state, user, now).await?;
    Ok(page(
        user.nav(),
        &Home {
            checklist: checklist.as_ref(),
            now,
            tasks: &tasks,
            new_leads: &new_leads,
            new_count,
            assigned: &assigned,
            hottest: &hottest,
            weeks: &weeks,
        },
    ))
}

/// The first-run checklist for owners and admins, each item ticked from
/// what the organization has done; `None` once put away, and put away by
/// itself when every item is done.
async fn checklist(
    state: &AppState,
    user: &CurrentUser,
    now: i64,
) -> AppResult<Option<crate::home::views::Checklist>> {
    let pool = &state.db.read;
    let (me, org) = (user.user.user_id, user.user.organization_id);
    if user.user.role < Role::Admin || queries::checklist_dismissed(pool, me, org).await? {
        return Ok(None);
    }
    let team = crate::organizations::queries::members(pool, org)
        .await?
        .len()
        > 1
        || !crate::organizations::queries::pending_invitations(pool, org)
            .await?
            .is_empty();
    let locations = if user.user.place() == Place::Hq {
        Some(
            !crate::organizations::locations::queries::locations(pool, org)
                .await?
                .is_empty(),
        )
    } else {
        None
    };
    let list = crate::home::views::Checklist {
        form: crate::forms::queries::forms_adjusted(pool, org).await?,
        team,
        locations,
        rehearsal: !crate::events::queries::events_of(pool, org)
            .await?
            .is_empty(),
    };
    if list.all_done() {
        queries::dismiss_checklist(&state.db.write, me, org, now).await?;
        return Ok(None);
    }
    Ok(Some(list))
}

/// `POST /home/checklist`: puts the first-run checklist away for the
/// person.
#[handler]
pub async fn dismiss_checklist(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    queries::dismiss_checklist(
        &state.db.write,
        user.user.user_id,
        user.user.organization_id,
        db::now_ms(),
    )
    .await?;
    Ok(crate::platform::web::see_other("/"))
}
