//! Franchises: an HQ organization and its locations (organizations whose
//! `parent_id` is the HQ), per-location roll-ups, and forms: each
//! organization's own, and HQ's templates that locations copy.

use crate::{
    forms::queries::{FORM_COLUMNS, Form},
    organizations::kind::OrganizationKind,
    organizations::queries::{audit, slugify},
    platform::db::{Pool, Tx, now_ms},
};
use crate::{on_pool, on_tx};

/// Inserts an organization under a slug made unique from `name`.
pub(crate) async fn insert_organization(
    tx: &mut Tx,
    name: &str,
    kind: OrganizationKind,
    parent_id: Option<i64>,
) -> sqlx::Result<i64> {
    let now = now_ms();
    for slug in slug_candidates(name) {
        let id: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO organizations (slug, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (slug) DO NOTHING RETURNING id",
        )
        .bind(&slug)
        .bind(name)
        .bind(kind)
        .bind(parent_id)
        .bind(now)
        .fetch_optional(&mut **c)
        .await)?;
        if let Some(id) = id {
            return Ok(id);
        }
    }
    unreachable!("slug candidates never run out")
}

/// `name`'s slug, then the same with -2, -3, …: the first one free is used.
fn slug_candidates(name: &str) -> impl Iterator<Item = String> {
    let base = slugify(name);
    std::iter::once(base.clone()).chain((2..).map(move |n| format!("{base}-{n}")))
}

/// A new location of franchise `hq`.
pub async fn create_location(tx: &mut Tx, hq: i64, name: &str, actor: i64) -> sqlx::Result<i64> {
    let id = insert_organization(tx, name, OrganizationKind::Location, Some(hq)).await?;
    audit(tx, hq, Some(actor), "location_created", None, name).await?;
    Ok(id)
}

/// One location's numbers, for HQ.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rollup {
    pub id: i64,
    pub name: String,
    pub members: i64,
    pub prospects: i64,
    pub hot: i64,
    pub customers: i64,
    /// Form submissions in the last 30 days.
    pub recent_submissions: i64,
}

/// The locations of `hq` with their numbers, by name: all of them, or
/// only location `only` (none if it is not one of `hq`'s).
pub async fn rollups(pool: &Pool, hq: i64, only: Option<i64>) -> sqlx::Result<Vec<Rollup>> {
    let since = now_ms() - 30 * 24 * 3600 * 1000;
    on_pool!(pool, p => sqlx::query_as(
        "SELECT o.id, o.name,
            (SELECT COUNT(*) FROM memberships m WHERE m.organization_id = o.id) AS members,
            (SELECT COUNT(*) FROM prospects p WHERE p.organization_id = o.id AND p.deleted_at IS NULL) AS prospects,
            (SELECT COUNT(*) FROM prospects p WHERE p.organization_id = o.id AND p.deleted_at IS NULL AND p.stage = 'hot') AS hot,
            (SELECT COUNT(*) FROM prospects p WHERE p.organization_id = o.id AND p.deleted_at IS NULL AND p.stage = 'customer') AS customers,
            (SELECT COUNT(*) FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id AND p.deleted_at IS NULL
             WHERE p.organization_id = o.id AND t.kind = 'form_submission' AND t.created_at >= $2) AS recent_submissions
         FROM organizations o WHERE o.parent_id = $1 AND ($3 IS NULL OR o.id = $3) ORDER BY o.name",
    )
    .bind(hq)
    .bind(since)
    .bind(only)
    .fetch_all(p)
    .await)
}

/// A form submission at a location, for HQ's page of that location.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecentSubmission {
    pub prospect_id: i64,
    pub prospect_name: String,
    pub prospect_email: String,
    /// The form's title, if the form still exists.
    pub form_title: Option<String>,
    /// When it was submitted (ms).
    pub created_at: i64,
}

/// The newest `limit` form submissions of location `location` of HQ `hq`
/// (none when it is not one of `hq`'s), newest first; prospects in the
/// trash left out.
pub async fn recent_submissions(
    pool: &Pool,
    hq: i64,
    location: i64,
    limit: i64,
) -> sqlx::Result<Vec<RecentSubmission>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT p.id AS prospect_id, p.name AS prospect_name, p.email AS prospect_email,
                f.title AS form_title, t.created_at
         FROM timeline_entries t
         JOIN prospects p ON p.id = t.prospect_id AND p.deleted_at IS NULL
         JOIN organizations o ON o.id = p.organization_id AND o.parent_id = $1
         LEFT JOIN forms f ON f.id = t.form_id
         WHERE p.organization_id = $2 AND t.kind = 'form_submission'
         ORDER BY t.created_at DESC, t.id DESC LIMIT $3",
    )
    .bind(hq)
    .bind(location)
    .bind(limit)
    .fetch_all(p)
    .await)
}

/// The locations of `hq`: (id, name), by name.
pub async fn locations(pool: &Pool, hq: i64) -> sqlx::Result<Vec<(i64, String)>> {
    on_pool!(pool, p => sqlx::query_as("SELECT id, name FROM organizations WHERE parent_id = $1 ORDER BY name")
        .bind(hq)
        .fetch_all(p)
        .await)
}

/// A new form of `organization_id`, under a slug made unique from the title.
pub async fn create_form(
    tx: &mut Tx,
    organization_id: i64,
    title: &str,
    intro: &str,
    thank_you: &str,
    template_id: Option<i64>,
) -> sqlx::Result<i64> {
    for slug in slug_candidates(title) {
        let id: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO forms (organization_id, slug, title, intro, thank_you, template_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (slug) DO NOTHING RETURNING id",
        )
        .bind(organization_id)
        .bind(&slug)
        .bind(title)
        .bind(intro)
        .bind(thank_you)
        .bind(template_id)
        .bind(now_ms())
        .fetch_optional(&mut **c)
        .await)?;
        if let Some(id) = id {
            return Ok(id);
        }
    }
    unreachable!("slug candidates never run out")
}

/// Form `id` of `organization_id`.
pub async fn form(pool: &Pool, organization_id: i64, id: i64) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE organization_id = $1 AND id = $2");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(p)
        .await)
}

pub async fn update_form(
    pool: &Pool,
    organization_id: i64,
    id: i64,
    title: &str,
    intro: &str,
    thank_you: &str,
) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE forms SET title = $3, intro = $4, thank_you = $5 WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .bind(title)
    .bind(intro)
    .bind(thank_you)
    .execute(p)
    .await
    .map(|r| r.rows_affected() == 1))
}

pub async fn set_template(
    pool: &Pool,
    organization_id: i64,
    id: i64,
    template: bool,
) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query("UPDATE forms SET is_template = $3 WHERE organization_id = $1 AND id = $2")
        .bind(organization_id)
        .bind(id)
        .bind(template)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// The templates HQ `hq` publishes.
pub async fn templates(pool: &Pool, hq: i64) -> sqlx::Result<Vec<Form>> {
    let sql = format!(
        "SELECT {FORM_COLUMNS} FROM forms WHERE organization_id = $1 AND is_template ORDER BY title"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(hq)
        .fetch_all(p)
        .await)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_numbered_after_the_first() {
        let got: Vec<String> = super::slug_candidates("Bean There!").take(3).collect();
        assert_eq!(got, ["bean-there", "bean-there-2", "bean-there-3"]);
    }
}
