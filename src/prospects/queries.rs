//! Working prospects: quick add, edits, stages, owners, notes and tags.
//! Every function takes the [`Scope`] of whoever acts, so a member can
//! touch only their own prospects and nobody another organization's.

use crate::{
    forms::queries::Form,
    intake::model::Answers,
    platform::db::{Scope, Tx, now_ms},
};
use crate::{
    on_pool, on_tx,
    platform::{
        db::Pool,
        text::{SEARCH_FOLD_VERSION, email_key, email_unicode, search_fold},
    },
    prospects::{Stage, TimelineEvent},
};

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
        "INSERT INTO prospects (organization_id, email, name, phone, source, created_at, updated_at, owner_user_id, search_text)
         VALUES ($1, $2, $3, $4, 'quick_add', $5, $5, $6, $7)
         ON CONFLICT (organization_id, email) DO NOTHING RETURNING id",
    )
    .bind(organization_id)
    .bind(email)
    .bind(name)
    .bind(phone)
    .bind(now)
    .bind(owner)
    .bind(search_text(name, email, None, phone, &[]))
    .fetch_optional(&mut **c)
    .await)?;
    match id {
        Some(id) => {
            entry(tx, id, &TimelineEvent::Added { by: owner }).await?;
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

/// What search compares for a prospect: its name, email (also with its
/// domain in Unicode, when the key holds punycode), company, phone and
/// tags, each through [`search_fold`], one per line (a search term never
/// holds a line break, so it cannot match across two fields). Stored in
/// `prospects.search_text` by every write of those columns: Unicode case
/// folding done in Rust, so SQLite (whose `lower()` and `LIKE` fold ASCII
/// only) and Postgres find the same rows.
pub fn search_text(
    name: &str,
    email: &str,
    company: Option<&str>,
    phone: Option<&str>,
    tags: &[String],
) -> String {
    let mut text = format!(
        "{}\n{}\n{}",
        search_fold(name),
        search_fold(email),
        search_fold(company.unwrap_or_default())
    );
    let unicode = email_unicode(email);
    if unicode != email {
        text.push('\n');
        text.push_str(&search_fold(&unicode));
    }
    if let Some(phone) = phone.filter(|p| !p.is_empty()) {
        text.push('\n');
        text.push_str(&search_fold(phone));
        // Digits alone too, so `5550109` finds `+1 555 010 9…`.
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && digits != phone {
            text.push('\n');
            text.push_str(&digits);
        }
    }
    for tag in tags {
        text.push('\n');
        text.push_str(&search_fold(tag));
    }
    text
}

/// Recomputes prospect `id`'s `search_text` from what is stored: for
/// writes that change name, email, company, phone or tags in SQL (an
/// import's merge, tags added or removed).
pub async fn refresh_search(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    let row: Option<(String, String, Option<String>, Option<String>)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT name, email, company, phone FROM prospects WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **c)
    .await)?;
    let Some((name, email, company, phone)) = row else {
        return Ok(());
    };
    let tags: Vec<String> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT tag FROM prospect_tags WHERE prospect_id = $1 ORDER BY tag",
    )
    .bind(id)
    .fetch_all(&mut **c)
    .await)?;
    on_tx!(tx, c => sqlx::query("UPDATE prospects SET search_text = $2 WHERE id = $1")
        .bind(id)
        .bind(search_text(&name, &email, company.as_deref(), phone.as_deref(), &tags))
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// A page of the scope's prospects, newest first, optionally filtered by a
/// search over name, email and company (a substring, compared through
/// [`search_fold`] on both sides; control characters in the term are
/// ignored). Fetches `limit` rows from `offset`. Rows not yet given their
/// `search_text` (written by an older version, until [`backfill`] has run)
/// are compared as before, through the database's `lower()`.
pub async fn search(
    pool: &Pool,
    scope: Scope,
    query: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Prospect>> {
    let term: String = query.chars().filter(|c| !c.is_control()).collect();
    let pattern = format!(
        "%{}%",
        search_fold(term.trim())
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let sql = format!(
        "SELECT {PROSPECT_COLUMNS} FROM prospects p
         WHERE {IN_SCOPE}
           AND ($3 = '%%' OR p.search_text LIKE $3 ESCAPE '\\'
                OR (p.search_text IS NULL AND (lower(p.name) LIKE $3 ESCAPE '\\' OR p.email LIKE $3 ESCAPE '\\'
                    OR lower(COALESCE(p.company, '')) LIKE $3 ESCAPE '\\')))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4 OFFSET $5"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)
}

/// Brings rows stored before this version up to today's keys, at start-up
/// (after the migrations): every prospect without a `search_text` gets
/// one, and its email is re-keyed by [`email_key`] (NFC, lower case, IDNA
/// ASCII domain) unless another prospect of its organization already has
/// that key (then it is left as it was, and logged, for a person to
/// merge). Users' emails are re-keyed the same way. Returns how many
/// prospects were updated.
pub async fn backfill(pool: &Pool) -> sqlx::Result<u64> {
    refold(pool).await?;
    let mut done = 0;
    loop {
        let rows: Vec<(i64, i64, String, String, Option<String>)> = on_pool!(pool, p => sqlx::query_as(
            "SELECT id, organization_id, name, email, company FROM prospects
             WHERE search_text IS NULL ORDER BY id LIMIT 500",
        )
        .fetch_all(p)
        .await)?;
        if rows.is_empty() {
            break;
        }
        let mut tx = pool.begin_write().await?;
        for (id, organization_id, _name, email, _company) in rows {
            let key = email_key(&email);
            if key != email {
                let moved = on_tx!(&mut tx, c => sqlx::query(
                    "UPDATE prospects SET email = $2 WHERE id = $1 AND NOT EXISTS (
                         SELECT 1 FROM prospects q WHERE q.organization_id = $3 AND q.email = $2)",
                )
                .bind(id)
                .bind(&key)
                .bind(organization_id)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()))?;
                if moved != 1 {
                    tracing::warn!(
                        prospect = id,
                        "prospect's email key is another prospect's: left for a person to merge"
                    );
                }
            }
            refresh_search(&mut tx, id).await?;
            done += 1;
        }
        tx.commit().await?;
    }
    let users: Vec<(i64, String)> = on_pool!(pool, p => sqlx::query_as("SELECT id, email FROM users")
        .fetch_all(p)
        .await)?;
    for (id, email) in users {
        let key = email_key(&email);
        if key != email {
            on_pool!(pool, p => sqlx::query(
                "UPDATE users SET email = $2 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.email = $2)",
            )
            .bind(id)
            .bind(&key)
            .execute(p)
            .await
            .map(|_| ()))?;
        }
    }
    Ok(done)
}

/// When the stored search texts were made by an older [`search_fold`]
/// (`search_fold_version` below [`SEARCH_FOLD_VERSION`]), clears them all
/// and records today's version, in one transaction: [`backfill`] then
/// makes them again (and search compares cleared rows as before until it
/// has).
async fn refold(pool: &Pool) -> sqlx::Result<()> {
    let version: Option<i64> = on_pool!(pool, p => sqlx::query_scalar(
        "SELECT MAX(version) FROM search_fold_version",
    )
    .fetch_one(p)
    .await)?;
    if version.unwrap_or(0) >= SEARCH_FOLD_VERSION {
        return Ok(());
    }
    let mut tx = pool.begin_write().await?;
    on_tx!(&mut tx, c => sqlx::query("UPDATE prospects SET search_text = NULL")
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    on_tx!(&mut tx, c => sqlx::query("DELETE FROM search_fold_version")
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    on_tx!(&mut tx, c => sqlx::query("INSERT INTO search_fold_version (version) VALUES ($1)")
        .bind(SEARCH_FOLD_VERSION)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    tracing::info!(
        version = SEARCH_FOLD_VERSION,
        "search fold changed: prospects' search text made again"
    );
    Ok(())
}

/// Appends `event` to the prospect's timeline, now.
pub(crate) async fn entry(
    tx: &mut Tx,
    prospect_id: i64,
    event: &TimelineEvent,
) -> sqlx::Result<()> {
    let (kind, data) = event.to_row();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO timeline_entries (prospect_id, kind, data, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(prospect_id)
    .bind(&kind)
    .bind(&data)
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
    pub stage: Stage,
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
        "UPDATE prospects SET name = $3, phone = $4, company = $5, stage = $6, owner_user_id = $7, updated_at = $8,
             search_text = $9
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(before.organization_id)
    .bind(id)
    .bind(&changes.name)
    .bind(changes.phone.as_deref())
    .bind(changes.company.as_deref())
    .bind(changes.stage)
    .bind(owner)
    .bind(now_ms())
    .bind(search_text(
        &changes.name,
        &before.email,
        changes.company.as_deref(),
        changes.phone.as_deref(),
        &changes.tags,
    ))
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    if before.stage != changes.stage {
        let moved = TimelineEvent::Stage {
            from: before.stage,
            to: changes.stage,
            by: by.to_string(),
        };
        entry(tx, id, &moved).await?;
    }
    on_tx!(tx, c => sqlx::query("DELETE FROM prospect_tags WHERE prospect_id = $1")
        .bind(id)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    add_tags(tx, id, &changes.tags).await?;
    Ok(true)
}

/// Adds tags to a prospect (those it has already stay once), and makes its
/// search text again (tags are searched).
pub async fn add_tags(tx: &mut Tx, prospect_id: i64, tags: &[String]) -> sqlx::Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
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
    refresh_search(tx, prospect_id).await
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
    let note = TimelineEvent::Note {
        note: text.to_string(),
        by: author.to_string(),
    };
    entry(tx, id, &note).await?;
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
        .map(|t| {
            t.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(40).collect())
        .collect();
    tags.sort();
    tags.dedup();
    tags.truncate(20);
    tags
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Prospect {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub submissions: i64,
    pub stage: crate::prospects::Stage,
    pub owner_user_id: Option<i64>,
    pub owner_name: Option<String>,
    pub organization_id: i64,
    /// The organization's name: the location, when HQ looks at a franchise.
    pub location_name: String,
    /// The newest timeline entry's time (or the prospect's creation).
    pub last_activity_at: i64,
}

/// A timeline entry as shown: its event, when, and (for a form
/// submission) the form's title.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub id: i64,
    pub event: TimelineEvent,
    pub created_at: i64,
    pub form_title: Option<String>,
}

pub(crate) const PROSPECT_COLUMNS: &str = "p.id, p.name, p.email, p.phone, p.company, p.source, p.created_at, p.updated_at,
    (SELECT COUNT(*) FROM timeline_entries t WHERE t.prospect_id = p.id AND t.kind = 'form_submission') AS submissions,
    p.stage, p.owner_user_id, (SELECT u.name FROM users u WHERE u.id = p.owner_user_id) AS owner_name,
    p.organization_id, (SELECT o.name FROM organizations o WHERE o.id = p.organization_id) AS location_name,
    p.last_activity_at";

/// The scope's condition on `p`, with the organization as `$1` and the
/// owner (or NULL) as `$2`. A franchise HQ's scope takes in its locations
/// (organizations whose parent it is); any other organization has none.
pub(crate) const IN_SCOPE: &str =
    "p.organization_id IN (SELECT o.id FROM organizations o WHERE o.id = $1 OR o.parent_id = $1)
    AND ($2 IS NULL OR p.owner_user_id = $2)";

/// A page of an organization's prospects, newest first, optionally filtered
/// by a search over name, email and company. Fetches one extra row so the
/// caller knows whether a next page exists.
pub async fn search_prospects(
    pool: &Pool,
    scope: Scope,
    query: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Prospect>> {
    // One search, with Unicode case folding: see `prospects::search`.
    crate::prospects::queries::search(pool, scope, query, limit, offset).await
}

/// One prospect, if the scope may see it.
pub async fn prospect(pool: &Pool, scope: Scope, id: i64) -> sqlx::Result<Option<Prospect>> {
    let sql = format!("SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE} AND p.id = $3");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// The prospect's timeline, newest first.
pub async fn timeline(pool: &Pool, prospect_id: i64) -> sqlx::Result<Vec<TimelineEntry>> {
    let rows: Vec<(i64, String, String, i64, Option<String>)> = on_pool!(pool, p => sqlx::query_as(
        "SELECT t.id, t.kind, t.data, t.created_at, f.title AS form_title
         FROM timeline_entries t LEFT JOIN forms f ON f.id = t.form_id
         WHERE t.prospect_id = $1 ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(prospect_id)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, data, created_at, form_title)| TimelineEntry {
            id,
            event: TimelineEvent::from_row(&kind, &data),
            created_at,
            form_title,
        })
        .collect())
}

/// Every prospect the scope may see, oldest first, for export.
pub async fn all_prospects(pool: &Pool, scope: Scope) -> sqlx::Result<Vec<Prospect>> {
    let sql = format!("SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE} ORDER BY p.id");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)
}

/// Upserts the prospect for a submission and appends its timeline entry, in
/// one transaction. Returns false when this submission key was already
/// processed (a redelivered job), in which case nothing changes.
pub async fn apply_submission(
    tx: &mut Tx,
    form: &Form,
    submission_key: &str,
    answers: &Answers,
    submitted_at: i64,
) -> sqlx::Result<bool> {
    on_tx!(tx, c => {
    let seen: Option<i64> =
        sqlx::query_scalar("SELECT id FROM timeline_entries WHERE submission_key = $1")
            .bind(submission_key)
            .fetch_optional(&mut **c)
            .await?;
    if seen.is_some() {
        return Ok(false);
    }
    // New values fill blanks and never erase: COALESCE keeps what is stored
    // when the new answer is empty, and the name only replaces an empty one.
    let phone = answers.phone.as_ref().map(|p| p.as_str());
    let searched = crate::prospects::queries::search_text(&answers.name, answers.email.as_str(), answers.company.as_deref(), phone, &[]);
    let (prospect_id, name, company, phone, stored_search): (i64, String, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "INSERT INTO prospects (organization_id, email, name, phone, company, source, created_at, updated_at, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
         ON CONFLICT (organization_id, email) DO UPDATE SET
             name = CASE WHEN prospects.name = '' THEN excluded.name ELSE prospects.name END,
             phone = COALESCE(prospects.phone, excluded.phone),
             company = COALESCE(prospects.company, excluded.company),
             updated_at = excluded.updated_at
         RETURNING id, name, company, phone, search_text",
    )
    .bind(form.organization_id)
    .bind(answers.email.as_str())
    .bind(&answers.name)
    .bind(answers.phone.as_ref().map(|p| p.as_str()))
    .bind(answers.company.as_deref())
    .bind(format!("form:{}", form.slug))
    // A prospect is as new as the submission that brought them, not as the
    // moment a worker got to it: "newest first" follows the audience.
    .bind(submitted_at)
    .bind(&searched)
    .fetch_one(&mut **c)
    .await?;
    // A prospect already stored keeps its own name, company and phone (and
    // its tags): its search text follows what is stored, not this submission.
    let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM prospect_tags WHERE prospect_id = $1 ORDER BY tag")
        .bind(prospect_id)
        .fetch_all(&mut **c)
        .await?;
    let searched = crate::prospects::queries::search_text(&name, answers.email.as_str(), company.as_deref(), phone.as_deref(), &tags);
    if stored_search.as_deref() != Some(searched.as_str()) {
        sqlx::query("UPDATE prospects SET search_text = $2 WHERE id = $1")
            .bind(prospect_id)
            .bind(&searched)
            .execute(&mut **c)
            .await?;
    }
    let (kind, data) = TimelineEvent::FormSubmission(answers.into()).to_row();
    sqlx::query(
        "INSERT INTO timeline_entries (prospect_id, kind, submission_key, form_id, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(prospect_id)
    .bind(&kind)
    .bind(submission_key)
    .bind(form.id)
    .bind(&data)
    .bind(submitted_at)
    .execute(&mut **c)
    .await?;
    Ok(true)
    })
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
