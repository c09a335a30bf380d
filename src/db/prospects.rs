//! Working prospects: quick add, edits, stages, owners, notes and tags.
//! Every function takes the [`Scope`] of whoever acts, so a member can
//! touch only their own prospects and nobody another organization's.

use super::{Scope, Tx, now_ms, prospect};
use crate::{db::Pool, on_pool, on_tx};

pub const STAGES: &[&str] = &["new", "contacted", "engaged", "hot", "customer", "lost"];

/// The prospect already stored under that email (in the organization).
#[derive(Debug)]
pub struct Exists(pub i64);

/// Adds a prospect by hand, owned by `owner`. An email already in the
/// organization is not added again: its id comes back as [`Exists`].
pub async fn quick_add(
    tx: &mut Tx,
    organization_id: i64,
    owner: i64,
    name: &str,
    email: &str,
    phone: Option<&str>,
) -> sqlx::Result<Result<i64, Exists>> {
    let now = now_ms();
    let id: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO prospects (organization_id, email, name, phone, source, created_at, updated_at, owner_user_id)
         VALUES ($1, $2, $3, $4, 'quick_add', $5, $5, $6)
         ON CONFLICT (organization_id, email) DO NOTHING RETURNING id",
    )
    .bind(organization_id)
    .bind(email)
    .bind(name)
    .bind(phone)
    .bind(now)
    .bind(owner)
    .fetch_optional(&mut **c)
    .await)?;
    match id {
        Some(id) => {
            entry(tx, id, "added", serde_json::json!({ "by": owner })).await?;
            Ok(Ok(id))
        }
        None => {
            let existing: i64 = on_tx!(tx, c => sqlx::query_scalar(
                "SELECT id FROM prospects WHERE organization_id = $1 AND email = $2",
            )
            .bind(organization_id)
            .bind(email)
            .fetch_one(&mut **c)
            .await)?;
            Ok(Err(Exists(existing)))
        }
    }
}

/// Appends a timeline entry of `kind` with `data`.
async fn entry(
    tx: &mut Tx,
    prospect_id: i64,
    kind: &str,
    data: serde_json::Value,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO timeline_entries (prospect_id, kind, data, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(prospect_id)
    .bind(kind)
    .bind(data.to_string())
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// What an edit may change.
#[derive(Debug, Clone)]
pub struct Changes {
    pub name: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub stage: String,
    /// `Some` only when the editor may assign owners.
    pub owner: Option<Option<i64>>,
    pub tags: Vec<String>,
}

/// Applies `changes` to prospect `id` if `scope` may see it; a stage change
/// goes on the timeline. False when not found.
pub async fn update(
    pool: &Pool,
    tx: &mut Tx,
    scope: Scope,
    id: i64,
    changes: &Changes,
    by: &str,
) -> sqlx::Result<bool> {
    let Some(before) = prospect(pool, scope, id).await? else {
        return Ok(false);
    };
    let owner = changes.owner.unwrap_or(before.owner_user_id);
    // The prospect's own organization: HQ may edit a location's prospect.
    on_tx!(tx, c => sqlx::query(
        "UPDATE prospects SET name = $3, phone = $4, company = $5, stage = $6, owner_user_id = $7, updated_at = $8
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(before.organization_id)
    .bind(id)
    .bind(&changes.name)
    .bind(changes.phone.as_deref())
    .bind(changes.company.as_deref())
    .bind(&changes.stage)
    .bind(owner)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    if before.stage != changes.stage {
        entry(
            tx,
            id,
            "stage",
            serde_json::json!({ "from": before.stage, "to": changes.stage, "by": by }),
        )
        .await?;
    }
    on_tx!(tx, c => sqlx::query("DELETE FROM prospect_tags WHERE prospect_id = $1")
        .bind(id)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    add_tags(tx, id, &changes.tags).await?;
    Ok(true)
}

/// Adds tags to a prospect (those it has already stay once).
pub async fn add_tags(tx: &mut Tx, prospect_id: i64, tags: &[String]) -> sqlx::Result<()> {
    for tag in tags {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO prospect_tags (prospect_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(prospect_id)
        .bind(tag)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    }
    Ok(())
}

/// Adds a note by `author` to prospect `id` if `scope` may see it.
pub async fn add_note(
    pool: &Pool,
    tx: &mut Tx,
    scope: Scope,
    id: i64,
    author: &str,
    text: &str,
) -> sqlx::Result<bool> {
    if prospect(pool, scope, id).await?.is_none() {
        return Ok(false);
    }
    entry(
        tx,
        id,
        "note",
        serde_json::json!({ "note": text, "by": author }),
    )
    .await?;
    Ok(true)
}

/// The organization's prospect with this email: (id, name, owner).
pub async fn by_email(
    pool: &Pool,
    organization_id: i64,
    email: &str,
) -> sqlx::Result<Option<(i64, String, Option<i64>)>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT id, name, owner_user_id FROM prospects WHERE organization_id = $1 AND email = $2",
    )
    .bind(organization_id)
    .bind(email)
    .fetch_optional(p)
    .await)
}

/// A CSV import kept for its confirmation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Import {
    pub id: i64,
    pub filename: String,
    pub content: String,
    pub created_at: i64,
    pub applied_at: Option<i64>,
}

pub async fn create_import(
    pool: &Pool,
    organization_id: i64,
    user_id: i64,
    filename: &str,
    content: &str,
) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(
        "INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(filename)
    .bind(content)
    .bind(now_ms())
    .fetch_one(p)
    .await)
}

/// The import `id` if `user_id` of `organization_id` made it.
pub async fn import(
    pool: &Pool,
    organization_id: i64,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<Import>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT id, filename, content, created_at, applied_at FROM prospect_imports
         WHERE organization_id = $1 AND user_id = $2 AND id = $3",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// Marks an import applied; false if it already was (a second click).
pub async fn mark_import_applied(tx: &mut Tx, id: i64) -> sqlx::Result<bool> {
    on_tx!(tx, c => sqlx::query("UPDATE prospect_imports SET applied_at = $2 WHERE id = $1 AND applied_at IS NULL")
        .bind(id)
        .bind(now_ms())
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected() == 1))
}

pub async fn tags(pool: &Pool, prospect_id: i64) -> sqlx::Result<Vec<String>> {
    on_pool!(pool, p => sqlx::query_scalar("SELECT tag FROM prospect_tags WHERE prospect_id = $1 ORDER BY tag")
        .bind(prospect_id)
        .fetch_all(p)
        .await)
}

/// `" Hot lead, VIP,,hot lead "` → `["hot lead", "vip"]`: trimmed,
/// lower-cased, unique, at most 20 of at most 40 characters.
pub fn parse_tags(raw: &str) -> Vec<String> {
    let mut tags: Vec<String> = raw
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(40).collect())
        .collect();
    tags.sort();
    tags.dedup();
    tags.truncate(20);
    tags
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_normalised() {
        assert_eq!(
            super::parse_tags(" Hot lead, VIP,,hot lead "),
            vec!["hot lead".to_string(), "vip".to_string()]
        );
        assert!(super::parse_tags(" , ").is_empty());
    }
}
