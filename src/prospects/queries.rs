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
    prospects::{
        Stage, TimelineEvent,
        upsert::{self, NewEntry, OnConflict, Outcome, Person},
    },
};

/// The prospect already stored under that email (in the organization).
#[derive(Debug)]
pub struct Exists(pub i64);

/// Adds a prospect by hand, owned by `owner`. An email already in the
/// organization is not added again (nor changed): its id comes back as
/// [`Exists`].
pub async fn quick_add(
    tx: &mut Tx,
    organization_id: i64,
    owner: i64,
    name: &str,
    email: &str,
    phone: Option<&str>,
) -> sqlx::Result<Result<i64, Exists>> {
    let person = Person {
        organization_id,
        email,
        phone_key: "",
        name,
        phone,
        company: None,
        source: "quick_add",
        owner: Some(owner),
        at: now_ms(),
        tags: &[],
    };
    let added = upsert::upsert(tx, &[person], OnConflict::Keep).await?;
    let Some(added) = added.into_iter().next() else {
        return Err(sqlx::Error::RowNotFound);
    };
    if added.outcome != Outcome::Inserted {
        return Ok(Err(Exists(added.id)));
    }
    entry(tx, added.id, &TimelineEvent::Added { by: owner }).await?;
    Ok(Ok(added.id))
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

/// Appends `event` to the prospect's timeline, now (see
/// [`upsert::insert_entries`]).
pub(crate) async fn entry(
    tx: &mut Tx,
    prospect_id: i64,
    event: &TimelineEvent,
) -> sqlx::Result<()> {
    upsert::insert_entries(
        tx,
        &[NewEntry {
            prospect_id,
            event: event.clone(),
            submission_key: None,
            form_id: None,
            created_at: now_ms(),
        }],
    )
    .await
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
        "SELECT id, name, owner_user_id FROM prospects WHERE organization_id = $1 AND email = $2 AND deleted_at IS NULL",
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
    /// The owner's email key (the export's `owner_email`).
    pub owner_email: Option<String>,
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
    (SELECT u.email FROM users u WHERE u.id = p.owner_user_id) AS owner_email,
    p.organization_id, (SELECT o.name FROM organizations o WHERE o.id = p.organization_id) AS location_name,
    p.last_activity_at";

// The scope's condition without the trash filter, for both constants below.
macro_rules! in_scope {
    () => {
        "p.organization_id IN (SELECT o.id FROM organizations o WHERE o.id = $1 OR o.parent_id = $1)
    AND ($2 IS NULL OR p.owner_user_id = $2)"
    };
}

/// The scope's condition on `p`, with the organization as `$1` and the
/// owner (or NULL) as `$2`. A franchise HQ's scope takes in its locations
/// (organizations whose parent it is); any other organization has none.
/// Live prospects only: a deleted one (in the trash, `deleted_at` set) is
/// in no list, count, board, search or export, and its page is not found;
/// the trash reads [`IN_SCOPE_WITH_TRASH`].
pub(crate) const IN_SCOPE: &str = concat!(in_scope!(), " AND p.deleted_at IS NULL");

/// [`IN_SCOPE`] with the trash: live and deleted prospects.
pub(crate) const IN_SCOPE_WITH_TRASH: &str = in_scope!();

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

/// What the CSV export shows beside a prospect's own columns: its tags
/// (in order) and how many notes it has, by prospect id. Prospects
/// without tags or notes are absent.
#[derive(Debug, Default, Clone)]
pub struct ExportExtras {
    pub tags: std::collections::HashMap<i64, Vec<String>>,
    pub notes: std::collections::HashMap<i64, i64>,
}

/// [`ExportExtras`] of every prospect the scope may see (two statements,
/// whatever the number of prospects).
pub async fn export_extras(pool: &Pool, scope: Scope) -> sqlx::Result<ExportExtras> {
    let tags_sql = format!(
        "SELECT g.prospect_id, g.tag FROM prospect_tags g JOIN prospects p ON p.id = g.prospect_id
         WHERE {IN_SCOPE} ORDER BY g.prospect_id, g.tag"
    );
    let notes_sql = format!(
        "SELECT t.prospect_id, CAST(COUNT(*) AS BIGINT) FROM timeline_entries t
         JOIN prospects p ON p.id = t.prospect_id
         WHERE t.kind = 'note' AND {IN_SCOPE} GROUP BY t.prospect_id"
    );
    let tag_rows: Vec<(i64, String)> = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(tags_sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)?;
    let note_rows: Vec<(i64, i64)> = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(notes_sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)?;
    let mut extras = ExportExtras::default();
    for (id, tag) in tag_rows {
        extras.tags.entry(id).or_default().push(tag);
    }
    extras.notes.extend(note_rows);
    Ok(extras)
}

/// A form submission to apply.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub form: &'a Form,
    /// Its idempotency key (`intake::writer::submission_key`).
    pub key: &'a str,
    pub answers: &'a Answers,
    /// When it was sent (Unix ms).
    pub submitted_at: i64,
}

/// A submission applied: the prospect it went to, and its name now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub prospect_id: i64,
    pub name: String,
}

/// Applies `submissions` in the transaction: each one's prospect is
/// upserted ([`upsert::upsert`], new answers fill blanks; keyed by the
/// email, or without one by the phone key) and gets a
/// timeline entry with the submission's key. A submission whose key is
/// already on an entry (a redelivered job), or earlier in the slice, is
/// not applied (`None`): nothing of it changes anything. Give them in the
/// order they should apply (one person's by submission time): a prospect
/// is as new as the first submission that brought them ("newest first"
/// follows the audience, not the worker). A few statements whatever the
/// slice's length; any error leaves the transaction to be rolled back.
pub async fn apply_submissions(
    tx: &mut Tx,
    submissions: &[Submission<'_>],
) -> sqlx::Result<Vec<Option<Applied>>> {
    let seen = seen_keys(tx, submissions.iter().map(|s| s.key)).await?;
    let mut taken = std::collections::HashSet::with_capacity(submissions.len());
    let fresh: Vec<usize> = (0..submissions.len())
        .filter(|&i| !seen.contains(submissions[i].key) && taken.insert(submissions[i].key))
        .collect();
    let mut applied: Vec<Option<Applied>> = vec![None; submissions.len()];
    if fresh.is_empty() {
        return Ok(applied);
    }
    let sources: Vec<String> = fresh
        .iter()
        .map(|&i| format!("form:{}", submissions[i].form.slug))
        .collect();
    // A submission without an email is keyed by its phone (email wins).
    let phone_keys: Vec<Option<String>> = fresh
        .iter()
        .map(|&i| submissions[i].answers.phone_key())
        .collect();
    if let Some(i) = fresh
        .iter()
        .zip(&phone_keys)
        .find(|&(&i, key)| submissions[i].answers.email.is_none() && key.is_none())
        .map(|(&i, _)| i)
    {
        // `parse_for` never lets one through; a payload made otherwise is
        // refused rather than stored as nobody.
        return Err(sqlx::Error::Protocol(format!(
            "submission {} has neither an email nor a phone",
            submissions[i].key
        )));
    }
    let people: Vec<Person> = fresh
        .iter()
        .zip(&sources)
        .zip(&phone_keys)
        .map(|((&i, source), phone_key)| {
            let s = &submissions[i];
            Person {
                organization_id: s.form.organization_id,
                email: s.answers.email_key(),
                phone_key: phone_key.as_deref().unwrap_or_default(),
                name: &s.answers.name,
                phone: s.answers.phone.as_ref().map(|p| p.as_str()),
                company: s.answers.company.as_deref(),
                source,
                owner: None,
                at: s.submitted_at,
                tags: &[],
            }
        })
        .collect();
    let prospects = upsert::upsert(tx, &people, OnConflict::FillBlanks).await?;
    let entries: Vec<NewEntry> = fresh
        .iter()
        .zip(&prospects)
        .map(|(&i, prospect)| {
            let s = &submissions[i];
            NewEntry {
                prospect_id: prospect.id,
                event: TimelineEvent::FormSubmission(s.answers.into()),
                submission_key: Some(s.key),
                form_id: Some(s.form.id),
                created_at: s.submitted_at,
            }
        })
        .collect();
    upsert::insert_entries(tx, &entries).await?;
    for (&i, prospect) in fresh.iter().zip(prospects) {
        applied[i] = Some(Applied {
            prospect_id: prospect.id,
            name: prospect.name,
        });
    }
    Ok(applied)
}

/// The submission keys among `keys` already on a timeline entry.
async fn seen_keys<'a>(
    tx: &mut Tx,
    keys: impl Iterator<Item = &'a str>,
) -> sqlx::Result<std::collections::HashSet<String>> {
    let keys: Vec<&str> = keys.collect();
    let mut seen = std::collections::HashSet::new();
    for chunk in keys.chunks(crate::platform::db::rows_per_statement(1, 0)) {
        let sql = format!(
            "SELECT submission_key FROM timeline_entries WHERE submission_key IN {}",
            crate::platform::db::values_list(1, chunk.len(), 1)
        );
        let found: Vec<String> = on_tx!(tx, c => {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == 1);
            for key in chunk {
                query = query.bind(*key);
            }
            query.fetch_all(&mut **c).await
        })?;
        seen.extend(found);
    }
    Ok(seen)
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
