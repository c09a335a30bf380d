//! The home page's reads. Each takes the viewer's [`Scope`].

use crate::on_pool;
use crate::platform::db::Pool;
use crate::platform::db::Scope;
use crate::prospects::queries::IN_SCOPE;
use crate::prospects::queries::PROSPECT_COLUMNS;
use crate::prospects::queries::Prospect;

/// Prospects of the scope that arrived after `since`, newest first.
pub async fn new_since(
    pool: &Pool,
    scope: Scope,
    since: i64,
    limit: i64,
) -> sqlx::Result<Vec<Prospect>> {
    let sql = format!(
        "SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE} AND p.created_at > $3
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(since)
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// How many prospects of the scope arrived after `since`.
pub async fn count_new_since(pool: &Pool, scope: Scope, since: i64) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM prospects p WHERE {IN_SCOPE} AND p.created_at > $3"
    );
    on_pool!(pool, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(since)
        .fetch_one(p)
        .await)
}

/// Open prospects (neither customer nor lost) owned by `user_id` in the
/// organization's scope, most recently changed first.
pub async fn assigned_to(
    pool: &Pool,
    organization_id: i64,
    user_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Prospect>> {
    let sql = format!(
        "SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE}
           AND p.stage NOT IN ('customer', 'lost')
         ORDER BY p.updated_at DESC, p.id DESC LIMIT $3"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(Some(user_id))
        .bind(limit)
        .fetch_all(p)
        .await)
}

/// The hottest open prospects: a placeholder rule until lead scoring, the
/// most recent engagement (a form submission) in the last 30 days first.
/// Returns each prospect with its last engagement. Reads the newest
/// submissions in the scope (by the `(kind, created_at)` index, at most
/// 200) and keeps each prospect's newest, so it never groups a month of
/// submissions.
pub async fn hottest(
    pool: &Pool,
    scope: Scope,
    now: i64,
    limit: usize,
) -> sqlx::Result<Vec<(Prospect, i64)>> {
    let sql = format!(
        "SELECT t.prospect_id, t.created_at FROM timeline_entries t
         JOIN prospects p ON p.id = t.prospect_id
         WHERE t.kind = 'form_submission' AND t.created_at > $3
           AND {IN_SCOPE} AND p.stage NOT IN ('customer', 'lost')
         ORDER BY t.created_at DESC, t.id DESC LIMIT 200"
    );
    let newest: Vec<(i64, i64)> = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(now - 30 * 24 * 3600 * 1000)
        .fetch_all(p)
        .await)?;
    let mut seen = std::collections::HashSet::new();
    let mut hottest = Vec::new();
    for (id, at) in newest {
        if hottest.len() == limit {
            break;
        }
        if seen.insert(id)
            && let Some(prospect) = crate::prospects::queries::prospect(pool, scope, id).await?
        {
            hottest.push((prospect, at));
        }
    }
    Ok(hottest)
}

/// A period's counts: prospects new in it, and prospects moved to
/// contacted, customer (won) and lost in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub new: i64,
    pub contacted: i64,
    pub won: i64,
    pub lost: i64,
}

/// The scope's counts in two periods, `[from, mid)` and `[mid, to)` (last
/// week and this one), in one pass over each table.
pub async fn counts(
    pool: &Pool,
    scope: Scope,
    from: i64,
    mid: i64,
    to: i64,
) -> sqlx::Result<(Counts, Counts)> {
    let new_sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN p.created_at < $4 THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN p.created_at >= $4 THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM prospects p
         WHERE {IN_SCOPE} AND p.created_at >= $3 AND p.created_at < $5"
    );
    let (new_before, new_after): (i64, i64) = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(new_sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(from)
        .bind(mid)
        .bind(to)
        .fetch_one(p)
        .await)?;
    // Stage changes are timeline entries of kind `stage` whose JSON data
    // names the stage moved to (`"to":"contacted"`, as serde_json writes
    // it): one pass over both periods' moves counts the three stages.
    let moved = |stage: &str, before: bool| {
        format!(
            "CAST(COUNT(DISTINCT CASE WHEN t.data LIKE ${stage} AND t.created_at {} $4 THEN t.prospect_id END) AS BIGINT)",
            if before { "<" } else { ">=" }
        )
    };
    let moved_sql = format!(
        "SELECT {}, {}, {}, {}, {}, {}
         FROM timeline_entries t
         JOIN prospects p ON p.id = t.prospect_id
         WHERE {IN_SCOPE} AND t.kind = 'stage' AND t.created_at >= $3 AND t.created_at < $5",
        moved("6", true),
        moved("7", true),
        moved("8", true),
        moved("6", false),
        moved("7", false),
        moved("8", false),
    );
    let moved_to = |stage: &str| format!("%\"to\":\"{stage}\"%");
    type Moves = (i64, i64, i64, i64, i64, i64);
    let (c0, w0, l0, c1, w1, l1): Moves = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(moved_sql))
            .bind(scope.organization_id)
            .bind(scope.owner)
            .bind(from)
            .bind(mid)
            .bind(to)
            .bind(moved_to("contacted"))
            .bind(moved_to("customer"))
            .bind(moved_to("lost"))
            .fetch_one(p)
            .await)?;
    Ok((
        Counts {
            new: new_before,
            contacted: c0,
            won: w0,
            lost: l0,
        },
        Counts {
            new: new_after,
            contacted: c1,
            won: w1,
            lost: l1,
        },
    ))
}

/// Records a look at the home page at `now` and returns the time leads
/// count as new after: the look before the current visit (a visit being
/// looks less than 30 minutes apart), so reloading keeps the list.
pub async fn visit(pool: &Pool, user_id: i64, organization_id: i64, now: i64) -> sqlx::Result<i64> {
    const VISIT_MS: i64 = 30 * 60 * 1000;
    // A first visit counts the last week as new.
    let first = now - 7 * 24 * 3600 * 1000;
    on_pool!(pool, p => sqlx::query_scalar(
        "INSERT INTO home_visits (user_id, organization_id, seen_at, seen_before) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, organization_id) DO UPDATE SET
             seen_before = CASE WHEN $3 - home_visits.seen_at > $5 THEN home_visits.seen_at
                                ELSE home_visits.seen_before END,
             seen_at = $3
         RETURNING seen_before",
    )
    .bind(user_id)
    .bind(organization_id)
    .bind(now)
    .bind(first)
    .bind(VISIT_MS)
    .fetch_one(p)
    .await)
}

/// Whether `user_id` put away the first-run checklist of `organization_id`
/// (or it put itself away, all done).
pub async fn checklist_dismissed(
    pool: &Pool,
    user_id: i64,
    organization_id: i64,
) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM home_checklist_dismissals WHERE user_id = $1 AND organization_id = $2)",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_one(p)
    .await)
}

/// Puts the checklist away for `user_id` in `organization_id` (once).
pub async fn dismiss_checklist(
    pool: &Pool,
    user_id: i64,
    organization_id: i64,
    now: i64,
) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO home_checklist_dismissals (user_id, organization_id, dismissed_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, organization_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(organization_id)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}
