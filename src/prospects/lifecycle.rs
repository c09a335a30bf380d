//! A prospect's life after capture (#15 §2): deletion is soft (the prospect
//! goes to the trash, `prospects.deleted_at` in ms) and can be restored for
//! [`TRASH_DAYS`] days, then a daily schedule erases it for real; an owner
//! can erase at once (a person's right to be forgotten). Two prospects can
//! be merged (by hand, or when an email is corrected to another
//! prospect's address), and an email corrected.
//!
//! What an erase removes: the prospect row, its tags, every timeline entry
//! (submissions' answers, notes, stage moves), its tasks and notifications
//! (their foreign keys cascade), and the file content and stored outcome of
//! the organization's *applied* CSV imports that mention its address (an
//! import not yet applied is the uploader's pending work and is left). The
//! audit log keeps only that an erase happened and how many prospects, no
//! name, address or id. Held and kept submissions are not linked to a
//! prospect and follow their own retention.
//!
//! Idempotency survives a merge: timeline entries move with their
//! `submission_key`, so a redelivered submission of the merged-away person
//! is recognised as processed and neither recreates them nor adds an entry.

use ::jobs::{Job, JobError, Schedule};
use serde::{Deserialize, Serialize};

use crate::{
    on_pool, on_tx,
    platform::db::{Pool, Scope, Tx, now_ms},
    prospects::{
        TimelineEvent,
        queries::{self as work, IN_SCOPE_WITH_TRASH},
    },
};

/// Days a deleted prospect stays in the trash before it is erased.
pub const TRASH_DAYS: i64 = 30;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// When a prospect deleted at `deleted_at` (ms) is erased (ms).
pub fn erase_due(deleted_at: i64) -> i64 {
    deleted_at + TRASH_DAYS * DAY_MS
}

/// Whole days left (rounded up, at least 0) before a prospect deleted at
/// `deleted_at` is erased, at `now` (both ms).
pub fn days_left(deleted_at: i64, now: i64) -> i64 {
    let left = erase_due(deleted_at) - now;
    if left <= 0 {
        0
    } else {
        (left + DAY_MS - 1) / DAY_MS
    }
}

/// Moves prospects `ids` to the trash (those not there already), each with
/// a `deleted` timeline entry naming `by`. The caller has checked the
/// scope. Returns how many were moved.
pub async fn soft_delete(tx: &mut Tx, ids: &[i64], by: &str, now: i64) -> sqlx::Result<u64> {
    let mut moved = 0;
    for id in ids {
        let done = on_tx!(tx, c => sqlx::query(
            "UPDATE prospects SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))?;
        if done == 1 {
            work::entry(tx, *id, &TimelineEvent::Deleted { by: by.to_string() }).await?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// A prospect in the trash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Trashed {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub email: String,
    /// When it was deleted (ms).
    pub deleted_at: i64,
    /// Its organization's name (a location's, for an HQ).
    pub location_name: String,
}

const TRASHED_COLUMNS: &str = "p.id, p.organization_id, p.name, p.email, p.deleted_at,
    (SELECT o.name FROM organizations o WHERE o.id = p.organization_id) AS location_name";

/// The scope's trash, the most recently deleted first (at most 500).
pub async fn trash(pool: &Pool, scope: Scope) -> sqlx::Result<Vec<Trashed>> {
    let sql = format!(
        "SELECT {TRASHED_COLUMNS} FROM prospects p
         WHERE {IN_SCOPE_WITH_TRASH} AND p.deleted_at IS NOT NULL
         ORDER BY p.deleted_at DESC, p.id DESC LIMIT 500"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)
}

/// Prospect `id` if it is in the scope's trash.
pub async fn trashed(pool: &Pool, scope: Scope, id: i64) -> sqlx::Result<Option<Trashed>> {
    let sql = format!(
        "SELECT {TRASHED_COLUMNS} FROM prospects p
         WHERE {IN_SCOPE_WITH_TRASH} AND p.deleted_at IS NOT NULL AND p.id = $3"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// The live prospect of `organization_id` with email key `email` (not
/// `""`), other than `except`: (id, name).
pub async fn live_with_email(
    tx: &mut Tx,
    organization_id: i64,
    email: &str,
    except: i64,
) -> sqlx::Result<Option<(i64, String)>> {
    live_with_key(tx, organization_id, email, "", except).await
}

/// The live prospect of `organization_id` with the key `email` and
/// `phone_key` (one of the two is `""`: see `prospects::upsert`), other
/// than `except`: (id, name).
pub async fn live_with_key(
    tx: &mut Tx,
    organization_id: i64,
    email: &str,
    phone_key: &str,
    except: i64,
) -> sqlx::Result<Option<(i64, String)>> {
    on_tx!(tx, c => sqlx::query_as(
        "SELECT id, name FROM prospects
         WHERE organization_id = $1 AND email = $2 AND phone_key = $3 AND deleted_at IS NULL AND id <> $4",
    )
    .bind(organization_id)
    .bind(email)
    .bind(phone_key)
    .bind(except)
    .fetch_optional(&mut **c)
    .await)
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// Back among the live prospects.
    Done,
    /// A live prospect has its address now: (id, name). Nothing changed;
    /// the trashed one can be merged into it instead.
    Taken(i64, String),
    /// Not in the trash (restored or erased meanwhile).
    Gone,
}

/// Brings trashed prospect `id` back (a `restored` timeline entry naming
/// `by`), unless a live prospect of its organization has its address now.
pub async fn restore(tx: &mut Tx, id: i64, by: &str) -> sqlx::Result<Restored> {
    let row: Option<(i64, String, String)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT organization_id, email, phone_key FROM prospects WHERE id = $1 AND deleted_at IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(&mut **c)
    .await)?;
    let Some((organization_id, email, phone_key)) = row else {
        return Ok(Restored::Gone);
    };
    if let Some((live, name)) = live_with_key(tx, organization_id, &email, &phone_key, id).await? {
        return Ok(Restored::Taken(live, name));
    }
    on_tx!(tx, c => sqlx::query("UPDATE prospects SET deleted_at = NULL, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    work::entry(tx, id, &TimelineEvent::Restored { by: by.to_string() }).await?;
    Ok(Restored::Done)
}

/// Erases prospect `id` for good, whether live or in the trash: see the
/// module's documentation for what goes with it. Returns its organization
/// id, or `None` if it was not there.
pub async fn erase(tx: &mut Tx, id: i64) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64, String)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT organization_id, email FROM prospects WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **c)
    .await)?;
    let Some((organization_id, email)) = row else {
        return Ok(None);
    };
    // Applied imports' files and outcomes that mention the address (the
    // key is lower case; `lower` folds ASCII on SQLite, which is what an
    // address's local part usually is). A prospect without an email (keyed
    // by phone) came from no import: an empty pattern would match them all.
    if !email.is_empty() {
        let pattern = format!(
            "%{}%",
            email
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        on_tx!(tx, c => sqlx::query(
        "UPDATE prospect_imports SET content = '', outcome = NULL
         WHERE organization_id = $1 AND applied_at IS NOT NULL
           AND (lower(content) LIKE $2 ESCAPE '\\' OR lower(COALESCE(outcome, '')) LIKE $2 ESCAPE '\\')",
    )
    .bind(organization_id)
    .bind(&pattern)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    }
    for sql in [
        "DELETE FROM prospect_tags WHERE prospect_id = $1",
        "DELETE FROM timeline_entries WHERE prospect_id = $1",
        // Tasks and notifications go by their foreign keys' cascade.
        "DELETE FROM prospects WHERE id = $1",
    ] {
        on_tx!(tx, c => sqlx::query(sql)
            .bind(id)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
    }
    Ok(Some(organization_id))
}

/// Erases every prospect deleted [`TRASH_DAYS`] or more before `now` (ms;
/// the schedule's tick, or a test's clock), 200 at a time, each batch in
/// one transaction with one audit entry per organization ("N prospects
/// erased", nothing personal). Returns how many were erased.
pub async fn erase_expired(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    let cutoff = now - TRASH_DAYS * DAY_MS;
    let mut erased = 0;
    loop {
        let due: Vec<i64> = on_pool!(pool, p => sqlx::query_scalar(
            "SELECT id FROM prospects WHERE deleted_at IS NOT NULL AND deleted_at <= $1 ORDER BY id LIMIT 200",
        )
        .bind(cutoff)
        .fetch_all(p)
        .await)?;
        if due.is_empty() {
            return Ok(erased);
        }
        let mut tx = pool.begin_write().await?;
        let mut per_organization = std::collections::BTreeMap::<i64, i64>::new();
        for id in due {
            if let Some(organization_id) = erase(&mut tx, id).await? {
                *per_organization.entry(organization_id).or_default() += 1;
                erased += 1;
            }
        }
        for (organization_id, count) in per_organization {
            crate::organizations::queries::audit(
                &mut tx,
                organization_id,
                None,
                "prospects_erased",
                None,
                &format!(
                    "{} erased after {TRASH_DAYS} days in the trash",
                    crate::platform::ui::plural(count, "prospect", "prospects")
                ),
            )
            .await?;
        }
        tx.commit().await?;
    }
}

/// A prospect's values that a merge compares.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Merging {
    organization_id: i64,
    email: String,
    name: String,
}

/// Merges prospect `other` into `survivor` (same organization, both
/// existing, `other` live or in the trash): the survivor keeps its values
/// and fills its blanks from the other's (name if empty, phone, company,
/// owner; the same "fill blanks, never erase" rule as a repeated
/// submission or an import), takes the earlier creation and the later
/// activity; timeline entries (with their submission keys), tasks,
/// notifications and tags move to it; the other is deleted for good (its
/// data lives on in the survivor) and the survivor's timeline says
/// `merged` with the other's address and name. False (nothing changed)
/// when either is missing or they are not of one organization.
pub async fn merge(tx: &mut Tx, survivor: i64, other: i64, by: &str) -> sqlx::Result<bool> {
    if survivor == other {
        return Ok(false);
    }
    let load = "SELECT organization_id, email, name FROM prospects WHERE id = $1";
    let kept: Option<Merging> = on_tx!(tx, c => sqlx::query_as(load)
        .bind(survivor)
        .fetch_optional(&mut **c)
        .await)?;
    let gone: Option<Merging> = on_tx!(tx, c => sqlx::query_as(load)
        .bind(other)
        .fetch_optional(&mut **c)
        .await)?;
    let (Some(kept), Some(gone)) = (kept, gone) else {
        return Ok(false);
    };
    if kept.organization_id != gone.organization_id {
        return Ok(false);
    }
    on_tx!(tx, c => sqlx::query(
        "UPDATE prospects SET
             name = CASE WHEN prospects.name = '' THEN o.name ELSE prospects.name END,
             phone = COALESCE(prospects.phone, o.phone),
             company = COALESCE(prospects.company, o.company),
             owner_user_id = COALESCE(prospects.owner_user_id, o.owner_user_id),
             created_at = CASE WHEN o.created_at < prospects.created_at THEN o.created_at ELSE prospects.created_at END,
             last_activity_at = CASE WHEN o.last_activity_at > prospects.last_activity_at
                                     THEN o.last_activity_at ELSE prospects.last_activity_at END,
             updated_at = $3
         FROM (SELECT name, phone, company, owner_user_id, created_at, last_activity_at FROM prospects WHERE id = $2) AS o
         WHERE prospects.id = $1",
    )
    .bind(survivor)
    .bind(other)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("UPDATE timeline_entries SET prospect_id = $1 WHERE prospect_id = $2")
        .bind(survivor)
        .bind(other)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    crate::tasks::queries::move_to_prospect(tx, other, survivor).await?;
    crate::notifications::queries::move_to_prospect(tx, other, survivor).await?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO prospect_tags (prospect_id, tag) SELECT $1, tag FROM prospect_tags WHERE prospect_id = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(survivor)
    .bind(other)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    for sql in [
        "DELETE FROM prospect_tags WHERE prospect_id = $1",
        "DELETE FROM prospects WHERE id = $1",
    ] {
        on_tx!(tx, c => sqlx::query(sql)
            .bind(other)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
    }
    // A survivor without an email (keyed by phone) takes the other's, and
    // is keyed by it from now on (now that the other is gone, no live
    // prospect has it).
    if kept.email.is_empty() && !gone.email.is_empty() {
        on_tx!(tx, c => sqlx::query(
            "UPDATE prospects SET email = $2, phone_key = '' WHERE id = $1 AND email = ''",
        )
        .bind(survivor)
        .bind(&gone.email)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    }
    work::entry(
        tx,
        survivor,
        &TimelineEvent::Merged {
            email: gone.email.clone(),
            name: gone.name.clone(),
            by: by.to_string(),
        },
    )
    .await?;
    work::refresh_search(tx, survivor).await?;
    Ok(true)
}

/// Gives prospect `id` the email key `email` (the caller has made sure no
/// other live prospect of its organization has it; a prospect keyed by
/// phone is keyed by it from now on), with an
/// `email_corrected` timeline entry (from, to, by). False if unchanged.
pub async fn correct_email(tx: &mut Tx, id: i64, email: &str, by: &str) -> sqlx::Result<bool> {
    let before: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT email FROM prospects WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **c)
        .await)?;
    let Some(before) = before.filter(|b| b != email) else {
        return Ok(false);
    };
    // An email key makes the prospect email-keyed: its phone key goes.
    on_tx!(tx, c => sqlx::query("UPDATE prospects SET email = $2, phone_key = '', updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(email)
        .bind(now_ms())
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    work::entry(
        tx,
        id,
        &TimelineEvent::EmailCorrected {
            from: before,
            to: email.to_string(),
            by: by.to_string(),
        },
    )
    .await?;
    work::refresh_search(tx, id).await?;
    Ok(true)
}

/// Live prospects of `organization_id` within `scope` that could be merged
/// into `id`: a search over name, email, company, phone and tags (at most
/// 20), without `id` itself.
pub async fn candidates(
    pool: &Pool,
    scope: Scope,
    organization_id: i64,
    id: i64,
    query: &str,
) -> sqlx::Result<Vec<work::Prospect>> {
    if query.trim().is_empty() {
        return Ok(Vec::new());
    }
    let found = work::search(pool, scope, query, 40, 0).await?;
    Ok(found
        .into_iter()
        .filter(|p| p.id != id && p.organization_id == organization_id)
        .take(20)
        .collect())
}

/// The daily erase of the trash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrashErase {
    /// The schedule's tick (ms).
    pub tick: i64,
}

impl Job for TrashErase {
    const KIND: &'static str = "rally.trash_erase";
    const MAX_ATTEMPTS: usize = 5;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
}

/// The name of the trash's schedule.
pub const ERASE_SCHEDULE: &str = "rally.trash_erase";

/// The prospects' periodic schedules: the trash's erase, daily at 03:15 UTC.
pub fn schedules() -> Vec<Schedule> {
    vec![
        Schedule::new(ERASE_SCHEDULE, "15 3 * * *", "UTC", |tick| TrashErase {
            tick: tick.timestamp_millis(),
        })
        .expect("the trash's schedule is valid"),
    ]
}

/// The job's handler: erases what is due at the tick (a re-run finds
/// nothing more to erase).
pub async fn run_erase(pool: &Pool, job: TrashErase) -> Result<(), JobError> {
    let erased = erase_expired(pool, job.tick)
        .await
        .map_err(|e| JobError::retryable(e.to_string()))?;
    if erased > 0 {
        tracing::info!(erased, "trash: prospects erased");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_round_up_and_stop_at_zero() {
        let deleted = 1_000_000;
        assert_eq!(days_left(deleted, deleted), 30);
        assert_eq!(days_left(deleted, deleted + 1), 30);
        assert_eq!(days_left(deleted, deleted + DAY_MS), 29);
        assert_eq!(days_left(deleted, erase_due(deleted) - 1), 1);
        assert_eq!(days_left(deleted, erase_due(deleted)), 0);
        assert_eq!(days_left(deleted, erase_due(deleted) + DAY_MS), 0);
    }
}
