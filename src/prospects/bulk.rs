//! Bulk actions on the list: on the prospects ticked (`id`, repeated) or on
//! all that match the list's filters (`all=yes` with `filter`, the list's
//! query): assign, change stage, add or remove a tag, export as CSV, delete
//! (to the trash, after a confirmation page; recorded in the audit log). The selection is
//! always narrowed to what the person may see ([`Viewer`]); assigning needs
//! [`Action::AssignProspects`], deleting [`Action::DeleteProspects`].
//! Claiming an unassigned prospect is here too.

use maud::html;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};

use super::{
    Stage, TimelineEvent,
    filters::{self, Arg, Filters, Viewer},
    list,
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::bind_args;
use crate::on_pool;
use crate::on_tx;
use crate::organizations::queries as people;
use crate::organizations::roles::Action;
use crate::platform::db;
use crate::platform::db::Pool;
use crate::platform::db::Tx;
use crate::platform::error::AppError;
use crate::platform::error::AppResult;
use crate::platform::ui::layout;
use crate::platform::ui::plural;
use crate::platform::web::form_again;
use crate::platform::web::html_response;
use crate::platform::web::see_other;
use crate::prospects::queries as work;
use crate::prospects::queries::IN_SCOPE;
use crate::prospects::queries::PROSPECT_COLUMNS;
use crate::prospects::queries::Prospect;

/// Ids per statement (`IN ($1, …)`), well under either database's limit.
const CHUNK: usize = 500;

/// What a bulk request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Assign,
    Stage,
    Tag,
    Untag,
    Export,
    Delete,
}

impl Verb {
    fn parse(text: &str) -> Option<Verb> {
        Some(match text {
            "assign" => Verb::Assign,
            "stage" => Verb::Stage,
            "tag" => Verb::Tag,
            "untag" => Verb::Untag,
            "export" => Verb::Export,
            "delete" => Verb::Delete,
            _ => return None,
        })
    }
}

/// The form's fields (repeated `id`s kept in order).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request that cannot be done as sent: 422 with a page that says why
/// and leads back to the list as it was.
/// The bulk action refused: 422, the reason, and the way back to the list
/// with its filters (the same page, signed in, in the app's frame).
fn refuse(user: &CurrentUser, filter: &str, message: &str) -> Response {
    let sep = if filter.is_empty() { "" } else { "?" };
    let list = format!("/prospects{sep}{filter}");
    form_again(crate::platform::ui::layout(
        "Check the bulk action",
        Some(user.nav()),
        html! {
            section.card.narrow {
                h1 { "Check the bulk action" }
                p.alert role="alert" { (message) }
                p { a.button href=(list) { "Back to the list" }
                    @if !filter.is_empty() { " (your filters are kept)" } }
            }
        },
    ))
}

fn back(filter: &str, done: &str) -> Response {
    let sep = if filter.is_empty() { "" } else { "&" };
    see_other(&format!("/prospects?{filter}{sep}done={done}"))
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Of `ids`, those `viewer` may see, in order.
async fn visible_ids(pool: &Pool, viewer: Viewer, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    let mut seen = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut args = vec![
            Arg::Int(viewer.scope.organization_id),
            Arg::MaybeInt(viewer.scope.owner),
        ];
        args.extend(chunk.iter().map(|id| Arg::Int(*id)));
        let sql = format!(
            "SELECT p.id FROM prospects p WHERE {IN_SCOPE} AND p.id IN ({}) ORDER BY p.id",
            placeholders(3, chunk.len())
        );
        let found: Vec<i64> = on_pool!(pool, p => bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(p)
            .await)?;
        seen.extend(found);
    }
    Ok(seen)
}

/// The prospects `ids`, for export.
async fn rows(pool: &Pool, ids: &[i64]) -> sqlx::Result<Vec<Prospect>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let args: Vec<Arg> = chunk.iter().map(|id| Arg::Int(*id)).collect();
        let sql = format!(
            "SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE p.id IN ({}) ORDER BY p.id",
            placeholders(1, chunk.len())
        );
        let found: Vec<Prospect> = on_pool!(pool, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(p)
            .await)?;
        out.extend(found);
    }
    Ok(out)
}

/// Of `ids`, the prospects `assignee` does not own yet: (id, name,
/// organization), in the caller's transaction, before the assignment.
async fn not_yet_owned_by(
    tx: &mut Tx,
    assignee: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, String, i64)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut args = vec![Arg::Int(assignee)];
        args.extend(chunk.iter().map(|id| Arg::Int(*id)));
        let sql = format!(
            "SELECT id, name, organization_id FROM prospects
             WHERE id IN ({}) AND (owner_user_id IS NULL OR owner_user_id <> $1)",
            placeholders(2, chunk.len())
        );
        let found: Vec<(i64, String, i64)> = on_tx!(tx, c => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args)
            .fetch_all(&mut **c)
            .await)?;
        out.extend(found);
    }
    Ok(out)
}

/// Runs `sql` (with `$1` = `first` and the ids after it) for each chunk.
async fn each_chunk(tx: &mut Tx, sql: &str, first: Vec<Arg>, ids: &[i64]) -> sqlx::Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut args = first.clone();
        args.extend(chunk.iter().map(|id| Arg::Int(*id)));
        let sql = sql.replace("{ids}", &placeholders(first.len() + 1, chunk.len()));
        on_tx!(tx, c => bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

#[handler]
pub async fn bulk(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let fields = Fields(fields);
    let viewer = Viewer::of(&user.user);
    // The list's filters, re-read (a link Rally wrote; anything else refused).
    let filter_pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(fields.one("filter").unwrap_or_default()).unwrap_or_default();
    let (filters, _, mut problems) = Filters::parse(&filter_pairs);
    list::check_for(&user, &filters, &mut problems);
    let filter = if problems.is_empty() {
        filters.to_query()
    } else {
        String::new()
    };
    let Some(verb) = fields.one("action").and_then(Verb::parse) else {
        return Ok(refuse(
            &user,
            &filter,
            "Choose what to do with the selection.",
        ));
    };
    let all = fields.one("all") == Some("yes");
    let ids = if all {
        if !problems.is_empty() {
            return Ok(refuse(&user, "", "The list's filters could not be read."));
        }
        filters::matching_ids(&state.db.read, viewer, &filters).await?
    } else {
        let mut ids = Vec::new();
        for raw in fields.all("id") {
            match raw.parse::<i64>() {
                Ok(id) if id > 0 => ids.push(id),
                _ => {
                    return Ok(refuse(
                        &user,
                        &filter,
                        "A selected prospect is not one of yours.",
                    ));
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let visible = visible_ids(&state.db.read, viewer, &ids).await?;
        // Ticked, but none of them theirs to change (another team's, or
        // just deleted): told so, not a quiet "nothing selected". Some of
        // them theirs: those are acted on.
        if visible.is_empty() && !ids.is_empty() {
            return Ok(refuse(
                &user,
                &filter,
                "The selected prospects are not yours to change, or were just deleted. Nothing was changed.",
            ));
        }
        visible
    };
    if ids.is_empty() {
        return Ok(back(&filter, "none"));
    }
    let by = user.user.user_name.clone();
    match verb {
        Verb::Export => {
            let rows = rows(&state.db.read, &ids).await?;
            let extras =
                crate::prospects::queries::export_extras(&state.db.read, db::Scope::of(&user.user))
                    .await?;
            let mut out = Vec::new();
            crate::prospects::export::write_csv(
                &rows,
                &extras,
                crate::prospects::routes::export_viewer(&user),
                &mut out,
            )?;
            Ok(Response::builder()
                .content_type("text/csv; charset=utf-8")
                .header(
                    "content-disposition",
                    "attachment; filename=\"prospects-selection.csv\"",
                )
                .body(out))
        }
        Verb::Assign => {
            if !user.user.may(Action::AssignProspects) {
                return Err(AppError::Forbidden(
                    crate::organizations::roles::Refusal::RoleTooLow(
                        crate::organizations::roles::rule(Action::AssignProspects).least,
                    )
                    .message(),
                ));
            }
            let owner = match fields.one("owner").unwrap_or_default() {
                "" => None,
                raw => {
                    let members =
                        people::members(&state.db.read, user.user.organization_id).await?;
                    match raw.parse::<i64>() {
                        Ok(id) if members.iter().any(|m| m.user_id == id) => Some(id),
                        _ => {
                            return Ok(refuse(
                                &user,
                                &filter,
                                "Choose a member of your organization.",
                            ));
                        }
                    }
                }
            };
            let at = db::now_ms();
            let mut tx = state.db.write.begin_write().await?;
            // The assignee hears of the ones new to them (not of their own
            // assignments).
            let new_to_them = match owner {
                Some(assignee) if assignee != user.user.user_id => {
                    not_yet_owned_by(&mut tx, assignee, &ids).await?
                }
                _ => Vec::new(),
            };
            each_chunk(
                &mut tx,
                "UPDATE prospects SET owner_user_id = $1, updated_at = $2 WHERE id IN ({ids})",
                vec![Arg::MaybeInt(owner), Arg::Int(at)],
                &ids,
            )
            .await?;
            if let Some(assignee) = owner {
                match new_to_them.as_slice() {
                    [] => {}
                    [(id, name, organization_id)] => {
                        let assignment = crate::notifications::Assignment {
                            organization_id: *organization_id,
                            assignee,
                            prospect_id: *id,
                            prospect_name: name,
                            by: &user.user.user_name,
                            at,
                        };
                        crate::notifications::assigned(&mut tx, &state.queue, &assignment).await?;
                    }
                    many => {
                        let assignment = crate::notifications::BulkAssignment {
                            organization_id: user.user.organization_id,
                            assignee,
                            count: many.len(),
                            by: &user.user.user_name,
                            at,
                        };
                        crate::notifications::assigned_many(&mut tx, &state.queue, &assignment)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(back(&filter, "assigned"))
        }
        Verb::Stage => {
            let Some(stage) = fields.one("stage").and_then(|s| s.parse::<Stage>().ok()) else {
                return Ok(refuse(&user, &filter, "Choose one of the stages."));
            };
            let mut tx = state.db.write.begin_write().await?;
            for id in &ids {
                move_stage(&mut tx, *id, stage, &by).await?;
            }
            tx.commit().await?;
            Ok(back(&filter, "staged"))
        }
        Verb::Tag | Verb::Untag => {
            let tags = work::parse_tags(fields.one("tag").unwrap_or_default());
            let [tag] = tags.as_slice() else {
                return Ok(refuse(
                    &user,
                    &filter,
                    "Enter one tag (up to 40 characters).",
                ));
            };
            let mut tx = state.db.write.begin_write().await?;
            let sql = if verb == Verb::Tag {
                "INSERT INTO prospect_tags (prospect_id, tag) SELECT p.id, $1 FROM prospects p
                 WHERE p.id IN ({ids}) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM prospect_tags WHERE tag = $1 AND prospect_id IN ({ids})"
            };
            each_chunk(&mut tx, sql, vec![Arg::Text(tag.clone())], &ids).await?;
            // Tags are searched: each prospect's search text follows.
            for id in &ids {
                work::refresh_search(&mut tx, *id).await?;
            }
            tx.commit().await?;
            Ok(back(
                &filter,
                if verb == Verb::Tag {
                    "tagged"
                } else {
                    "untagged"
                },
            ))
        }
        Verb::Delete => {
            if !user.user.may(Action::DeleteProspects) {
                return Err(AppError::Forbidden(
                    crate::organizations::roles::Refusal::RoleTooLow(
                        crate::organizations::roles::rule(Action::DeleteProspects).least,
                    )
                    .message(),
                ));
            }
            let expected = fields.one("expect").and_then(|n| n.parse::<usize>().ok());
            if fields.one("confirm") != Some("yes") || expected != Some(ids.len()) {
                // First the confirmation (again, if the selection changed
                // since it was shown).
                let shown = rows(&state.db.read, &ids[..ids.len().min(20)]).await?;
                return Ok(html_response(
                    StatusCode::OK,
                    confirm_page(&user, &filter, all, &ids, &shown, expected.is_some()),
                ));
            }
            // To the trash: restorable for 30 days, then erased (see
            // `prospects::lifecycle`).
            let mut tx = state.db.write.begin_write().await?;
            crate::prospects::lifecycle::soft_delete(&mut tx, &ids, &by, db::now_ms()).await?;
            let listed: Vec<String> = ids.iter().take(50).map(|id| id.to_string()).collect();
            let more = if ids.len() > 50 { ", …" } else { "" };
            crate::organizations::queries::audit(
                &mut tx,
                user.user.organization_id,
                Some(user.user.user_id),
                "prospects_deleted",
                None,
                &format!(
                    "{} (ids {}{more})",
                    plural(ids.len() as i64, "prospect", "prospects"),
                    listed.join(", ")
                ),
            )
            .await?;
            tx.commit().await?;
            Ok(back(&filter, "deleted"))
        }
    }
}

/// Moves prospect `id` to `stage` (nothing if it is there already),
/// recording the move on its timeline. The caller has checked the scope.
pub async fn move_stage(tx: &mut Tx, id: i64, stage: Stage, by: &str) -> sqlx::Result<bool> {
    let before: Option<Stage> = on_tx!(tx, c => sqlx::query_scalar("SELECT stage FROM prospects WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **c)
        .await)?;
    let Some(before) = before else {
        return Ok(false);
    };
    if before == stage {
        return Ok(false);
    }
    on_tx!(tx, c => sqlx::query("UPDATE prospects SET stage = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(stage)
        .bind(db::now_ms())
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    let moved = TimelineEvent::Stage {
        from: before,
        to: stage,
        by: by.to_string(),
    };
    work::entry(tx, id, &moved).await?;
    Ok(true)
}

fn confirm_page(
    user: &CurrentUser,
    filter: &str,
    all: bool,
    ids: &[i64],
    shown: &[Prospect],
    changed: bool,
) -> maud::Markup {
    layout(
        "Delete prospects",
        Some(user.nav()),
        html! {
            section.card {
                h1 { "Delete " (plural(ids.len() as i64, "prospect", "prospects")) "?" }
                @if changed { p.alert role="alert" { "The selection changed since you looked: check it again." } }
                p { "They go to the trash, where an admin or the owner can restore them for "
                    (crate::prospects::lifecycle::TRASH_DAYS) " days; then they are erased with their timelines, notes, tasks and tags." }
                ul.picked {
                    @for p in shown { li.picked { (p.name) " · " (crate::platform::text::display_email(&p.email)) } }
                    @if ids.len() > shown.len() { li.picked { "and " (ids.len() - shown.len()) " more" } }
                }
                form method="post" action="/prospects/bulk" {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="action" value="delete";
                    input type="hidden" name="filter" value=(filter);
                    input type="hidden" name="confirm" value="yes";
                    input type="hidden" name="expect" value=(ids.len());
                    @if all {
                        input type="hidden" name="all" value="yes";
                    } @else {
                        @for id in ids { input type="hidden" name="id" value=(id); }
                    }
                    div.actions {
                        button.small.danger type="submit" { "Delete " (plural(ids.len() as i64, "prospect", "prospects")) }
                        a.button href={ "/prospects?" (filter) } { "Cancel" }
                    }
                }
            }
        },
    )
}

/// Claims an unassigned prospect of the organization (or, at an HQ, of a
/// location) for the person asking: only while nobody owns it, so two
/// people claiming at once cannot both get it.
#[handler]
pub async fn claim(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let org = db::Scope::organization(user.user.organization_id);
    let Some(prospect) = crate::prospects::queries::prospect(&state.db.read, org, id).await? else {
        return Err(AppError::NotFound);
    };
    if let Some(owner) = prospect.owner_user_id {
        // Owned: a member is told only of their own (others' prospects are
        // not theirs to know of).
        let sees = db::Scope::of(&user.user).owner.is_none_or(|me| me == owner);
        return if sees {
            Ok(taken("This prospect has an owner already."))
        } else {
            Err(AppError::NotFound)
        };
    }
    let mut tx = state.db.write.begin_write().await?;
    let claimed = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE prospects SET owner_user_id = $2, updated_at = $3 WHERE id = $1 AND owner_user_id IS NULL",
    )
    .bind(id)
    .bind(user.user.user_id)
    .bind(db::now_ms())
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()))?
        == 1;
    if claimed {
        let claimed = TimelineEvent::Claimed {
            by: user.user.user_name.clone(),
        };
        work::entry(&mut tx, id, &claimed).await?;
    }
    tx.commit().await?;
    if !claimed {
        return Ok(taken("Someone else claimed this prospect first."));
    }
    Ok(see_other(&format!("/prospects/{id}")))
}

/// 409: the prospect has an owner already.
fn taken(message: &str) -> Response {
    html_response(
        StatusCode::CONFLICT,
        crate::platform::ui::error_page("Already taken", message),
    )
}
