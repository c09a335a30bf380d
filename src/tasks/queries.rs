//! Tasks in the database. Every query takes the actor's [`Scope`]: a task
//! is reached through its prospect, which must be in the scope (a member's
//! own prospects; the organization's, and a franchise HQ's locations', for
//! everyone else).

use crate::on_pool;
use crate::on_tx;
use crate::platform::db::Pool;
use crate::platform::db::Scope;
use crate::platform::db::Tx;
use crate::prospects::queries::IN_SCOPE;

/// A follow-up, with its prospect's and person's names.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub organization_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    pub user_id: i64,
    pub user_name: String,
    /// call | email | meeting | other
    pub kind: String,
    pub note: String,
    pub due_at: i64,
    pub done_at: Option<i64>,
    pub created_at: i64,
}

impl Task {
    /// Open and due before `now`.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.done_at.is_none() && self.due_at < now
    }
}

const COLUMNS: &str = "t.id, t.organization_id, t.prospect_id, p.name AS prospect_name, t.user_id,
    u.name AS user_name, t.kind, t.note, t.due_at, t.done_at, t.created_at";

const FROM: &str = "tasks t JOIN prospects p ON p.id = t.prospect_id AND p.deleted_at IS NULL JOIN users u ON u.id = t.user_id";

/// What a new task holds.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: &'static str,
    pub note: String,
    pub due_at: i64,
}

/// Adds a task for `user_id` on prospect `prospect_id` if `scope` may see
/// it: its id, or `None` when the prospect is not in the scope.
pub async fn create(
    tx: &mut Tx,
    scope: Scope,
    prospect_id: i64,
    user_id: i64,
    task: &NewTask,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let sql = format!(
        "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
         SELECT p.organization_id, p.id, $4, $5, $6, $7, $8 FROM prospects p
         WHERE {IN_SCOPE} AND p.id = $3
         RETURNING id"
    );
    on_tx!(tx, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(prospect_id)
        .bind(user_id)
        .bind(task.kind)
        .bind(&task.note)
        .bind(task.due_at)
        .bind(now)
        .fetch_optional(&mut **c)
        .await)
}

/// The tasks on a prospect in the scope: open ones first, soonest due
/// first, then the last 20 done.
pub async fn of_prospect(pool: &Pool, scope: Scope, prospect_id: i64) -> sqlx::Result<Vec<Task>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE {IN_SCOPE} AND p.id = $3
         ORDER BY CASE WHEN t.done_at IS NULL THEN 0 ELSE 1 END, t.due_at, t.id
         LIMIT 100"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(prospect_id)
        .fetch_all(p)
        .await)
}

/// `user_id`'s open tasks in the scope due before `before`, the most
/// overdue first (at most `limit`).
pub async fn open_due(
    pool: &Pool,
    scope: Scope,
    user_id: i64,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<Task>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE {IN_SCOPE} AND t.user_id = $3 AND t.done_at IS NULL AND t.due_at < $4
         ORDER BY t.due_at, t.id LIMIT $5"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(user_id)
        .bind(before)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// Every open task of `user_id` due before `before`, in any organization
/// (the morning summary goes to the person, whatever they work in).
pub async fn open_due_for_person(
    pool: &Pool,
    user_id: i64,
    before: i64,
) -> sqlx::Result<Vec<Task>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM}
         WHERE t.user_id = $1 AND t.done_at IS NULL AND t.due_at < $2
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = t.user_id
                       AND (m.organization_id = t.organization_id
                            OR m.organization_id = (SELECT o.parent_id FROM organizations o WHERE o.id = t.organization_id)))
         ORDER BY t.due_at, t.id LIMIT 100"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(before)
        .fetch_all(p)
        .await)
}

/// Marks task `id` done if its prospect is in the scope (done stays done:
/// a second click changes nothing). The prospect's id, or `None` when the
/// task is not in the scope.
pub async fn complete(tx: &mut Tx, scope: Scope, id: i64, now: i64) -> sqlx::Result<Option<i64>> {
    let sql = format!(
        "UPDATE tasks SET done_at = COALESCE(done_at, $4)
         WHERE id = $3 AND prospect_id IN (SELECT p.id FROM prospects p WHERE {IN_SCOPE})
         RETURNING prospect_id"
    );
    on_tx!(tx, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .bind(now)
        .fetch_optional(&mut **c)
        .await)
}

/// Moves open task `id` to `due_at` if its prospect is in the scope: the
/// prospect's id, or `None` when the task is not in the scope or is done.
pub async fn snooze(tx: &mut Tx, scope: Scope, id: i64, due_at: i64) -> sqlx::Result<Option<i64>> {
    let sql = format!(
        "UPDATE tasks SET due_at = $4
         WHERE id = $3 AND done_at IS NULL
           AND prospect_id IN (SELECT p.id FROM prospects p WHERE {IN_SCOPE})
         RETURNING prospect_id"
    );
    on_tx!(tx, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .bind(due_at)
        .fetch_optional(&mut **c)
        .await)
}

/// Task `id` if its prospect is in the scope.
pub async fn task(pool: &Pool, scope: Scope, id: i64) -> sqlx::Result<Option<Task>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE {IN_SCOPE} AND t.id = $3");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Moves every task of prospect `from` to prospect `to` (a merge; both of
/// one organization, checked by the caller).
pub async fn move_to_prospect(tx: &mut Tx, from: i64, to: i64) -> sqlx::Result<u64> {
    on_tx!(tx, c => sqlx::query("UPDATE tasks SET prospect_id = $2 WHERE prospect_id = $1")
        .bind(from)
        .bind(to)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
}
