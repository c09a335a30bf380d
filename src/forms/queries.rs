//! Forms: the queries, and the in-memory cache of public forms.

use std::time::Duration;

use crate::{on_pool, platform::db::Pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Form {
    pub id: i64,
    pub organization_id: i64,
    pub slug: String,
    pub title: String,
    pub intro: String,
    pub thank_you: String,
    /// Published by a franchise HQ for its locations to copy.
    pub is_template: bool,
    /// The HQ template this form was copied from.
    pub template_id: Option<i64>,
}

pub(crate) const FORM_COLUMNS: &str =
    "id, organization_id, slug, title, intro, thank_you, is_template, template_id";

pub async fn form_by_slug(pool: &Pool, slug: &str) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE slug = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(p)
        .await)
}

pub async fn form_by_id(pool: &Pool, id: i64) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE id = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Cached forms by slug, with when each was read.
type FormEntries = std::collections::HashMap<String, (std::sync::Arc<Form>, std::time::Instant)>;

/// Public forms by slug, kept in memory for a few seconds: under a burst
/// every submission needs its form, and asking the database each time would
/// put a read in front of every write. A changed form shows within the TTL.
/// Unknown slugs are not cached, so random addresses cannot grow it.
#[derive(Clone)]
pub struct FormCache {
    entries: std::sync::Arc<std::sync::RwLock<FormEntries>>,
    ttl: Duration,
}

impl FormCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Default::default(),
            ttl,
        }
    }

    pub async fn get(&self, pool: &Pool, slug: &str) -> sqlx::Result<Option<std::sync::Arc<Form>>> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(form, _)| form.clone());
        if cached.is_some() {
            return Ok(cached);
        }
        // Boxed: the query's future is large, and keeping it inline would
        // make every caller's future (the public form's submit handler, on
        // the hot path) that much larger to create and move.
        let form = Box::pin(form_by_slug(pool, slug))
            .await?
            .map(std::sync::Arc::new);
        if let Some(form) = &form {
            self.entries
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slug.to_string(), (form.clone(), std::time::Instant::now()));
        }
        Ok(form)
    }
}

pub async fn forms_of(pool: &Pool, organization_id: i64) -> sqlx::Result<Vec<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE organization_id = $1 ORDER BY title");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(p)
        .await)
}
