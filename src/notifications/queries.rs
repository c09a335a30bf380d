//! Notifications, preferences and the morning summary's record, in the
//! database. A person's notifications are read by (person, organization):
//! the in-app list shows the session's organization's only.

use std::collections::HashSet;

use crate::on_pool;
use crate::on_tx;
use crate::platform::db::{self, Pool, Tx};

/// What a person is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A lead was assigned to them.
    Assigned,
    /// A new lead arrived on a form of theirs.
    NewLead,
    /// The morning summary of tasks due.
    Summary,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Assigned, Kind::NewLead, Kind::Summary];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "assigned",
            Kind::NewLead => "new_lead",
            Kind::Summary => "summary",
        }
    }

    /// What the account page calls it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Assigned => "A lead is assigned to me",
            Kind::NewLead => "A new lead arrives on a form of mine",
            Kind::Summary => "A morning summary of my follow-ups due (08:00 in my time zone)",
        }
    }

    /// The form field and the `users` column that turns it on or off.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Assigned => "notify_assigned",
            Kind::NewLead => "notify_new_lead",
            Kind::Summary => "notify_summary",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub prospect_id: Option<i64>,
    pub text: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// One notification to store.
pub struct New<'a> {
    pub organization_id: i64,
    pub user_id: i64,
    pub kind: Kind,
    pub prospect_id: Option<i64>,
    pub text: &'a str,
    /// Unique per event: storing the same key again stores nothing.
    pub key: &'a str,
    pub at: i64,
}

/// Stores `n`; false when its key was stored already.
pub async fn insert(tx: &mut Tx, n: &New<'_>) -> sqlx::Result<bool> {
    Ok(!insert_all(tx, std::slice::from_ref(n)).await?.is_empty())
}

const COLUMNS: usize = 7;

/// Stores `all` with as few statements as the bound-parameter limit
/// allows; returns the keys stored now (not those stored already).
pub async fn insert_all(tx: &mut Tx, all: &[New<'_>]) -> sqlx::Result<HashSet<String>> {
    let mut stored = HashSet::with_capacity(all.len());
    for chunk in all.chunks(db::rows_per_statement(COLUMNS, 0)) {
        let sql = format!(
            "INSERT INTO notifications (organization_id, user_id, kind, prospect_id, text, key, created_at)
             VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key",
            db::values_list(chunk.len(), COLUMNS, 1)
        );
        let keys: Vec<String> = on_tx!(tx, c => {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == 1);
            for n in chunk {
                query = query
                    .bind(n.organization_id)
                    .bind(n.user_id)
                    .bind(n.kind.as_str())
                    .bind(n.prospect_id)
                    .bind(n.text)
                    .bind(n.key)
                    .bind(n.at);
            }
            query.fetch_all(&mut **c).await
        })?;
        stored.extend(keys);
    }
    Ok(stored)
}

/// The person's newest notifications in the organization.
pub async fn list(
    pool: &Pool,
    user_id: i64,
    organization_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Notification>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT id, kind, prospect_id, text, created_at, read_at FROM notifications
         WHERE user_id = $1 AND organization_id = $2
           -- a deleted prospect's (in the trash) are not shown; erased, they are gone
           AND (prospect_id IS NULL OR prospect_id NOT IN (SELECT id FROM prospects WHERE deleted_at IS NOT NULL))
         ORDER BY id DESC LIMIT $3",
    )
    .bind(user_id)
    .bind(organization_id)
    .bind(limit)
    .fetch_all(p)
    .await)
}

/// Marks every unread notification of the person in the organization read.
pub async fn mark_all_read(
    pool: &Pool,
    user_id: i64,
    organization_id: i64,
    at: i64,
) -> sqlx::Result<u64> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE notifications SET read_at = $3
         WHERE user_id = $1 AND organization_id = $2 AND read_at IS NULL",
    )
    .bind(user_id)
    .bind(organization_id)
    .bind(at)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
}

/// A person's settings: their own time zone (if set) and which kinds of
/// notification they want.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Preferences {
    pub time_zone: Option<String>,
    pub notify_assigned: bool,
    pub notify_new_lead: bool,
    pub notify_summary: bool,
}

impl Preferences {
    pub fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Assigned => self.notify_assigned,
            Kind::NewLead => self.notify_new_lead,
            Kind::Summary => self.notify_summary,
        }
    }
}

pub async fn preferences(pool: &Pool, user_id: i64) -> sqlx::Result<Option<Preferences>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT time_zone, notify_assigned, notify_new_lead, notify_summary FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(p)
    .await)
}

pub async fn save_preferences(pool: &Pool, user_id: i64, prefs: &Preferences) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE users SET time_zone = $2, notify_assigned = $3, notify_new_lead = $4, notify_summary = $5
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(prefs.time_zone.as_deref())
    .bind(prefs.notify_assigned)
    .bind(prefs.notify_new_lead)
    .bind(prefs.notify_summary)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Sets an organization's time zone.
pub async fn set_organization_zone(
    pool: &Pool,
    organization_id: i64,
    zone: &str,
) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query("UPDATE organizations SET time_zone = $2 WHERE id = $1")
        .bind(organization_id)
        .bind(zone)
        .execute(p)
        .await
        .map(|_| ()))
}

/// An organization's time zone.
pub async fn organization_zone(pool: &Pool, organization_id: i64) -> sqlx::Result<String> {
    on_pool!(pool, p => sqlx::query_scalar("SELECT time_zone FROM organizations WHERE id = $1")
        .bind(organization_id)
        .fetch_one(p)
        .await)
}

/// Someone to notify: id, email, name, and whether they want the kind.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub wants: bool,
}

/// Person `user_id`, if a member of organization `organization_id` (or of
/// its HQ), with whether they want `kind`.
pub async fn member(
    tx: &mut Tx,
    organization_id: i64,
    user_id: i64,
    kind: Kind,
) -> sqlx::Result<Option<Recipient>> {
    let sql = format!(
        "SELECT u.id, u.email, u.name, u.{} AS wants FROM users u
         WHERE u.id = $2 AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id
             AND (m.organization_id = $1
                  OR m.organization_id = (SELECT o.parent_id FROM organizations o WHERE o.id = $1)))",
        kind.field()
    );
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(&mut **c)
        .await)
}

/// Who owns a form's leads: forms have no owner of their own, so the
/// owners and admins of the form's organization.
pub async fn form_owners(
    tx: &mut Tx,
    organization_id: i64,
    kind: Kind,
) -> sqlx::Result<Vec<Recipient>> {
    let sql = format!(
        "SELECT u.id, u.email, u.name, u.{} AS wants FROM users u
         JOIN memberships m ON m.user_id = u.id
         WHERE m.organization_id = $1 AND m.role IN ('owner', 'admin') ORDER BY u.id",
        kind.field()
    );
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(&mut **c)
        .await)
}

/// Everyone who wants the morning summary, with their zone (their own,
/// else their first organization's).
pub async fn summary_readers(
    pool: &Pool,
) -> sqlx::Result<Vec<(i64, String, String, Option<String>)>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id, u.email, u.name, COALESCE(u.time_zone,
             (SELECT o.time_zone FROM memberships m JOIN organizations o ON o.id = m.organization_id
              WHERE m.user_id = u.id ORDER BY m.created_at LIMIT 1)) AS time_zone
         FROM users u WHERE u.notify_summary = TRUE ORDER BY u.id",
    )
    .fetch_all(p)
    .await)
}

/// Records the morning summary of `user_id` for `local_date`: false when
/// one was recorded already (another worker, a tick run twice).
pub async fn claim_summary(
    tx: &mut Tx,
    user_id: i64,
    local_date: &str,
    at: i64,
) -> sqlx::Result<bool> {
    let claimed: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO summary_sends (user_id, local_date, sent_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, local_date) DO NOTHING RETURNING user_id",
    )
    .bind(user_id)
    .bind(local_date)
    .bind(at)
    .fetch_optional(&mut **c)
    .await)?;
    Ok(claimed.is_some())
}

/// Points every notification about prospect `from` at prospect `to` (a
/// merge; both of one organization, checked by the caller).
pub async fn move_to_prospect(tx: &mut Tx, from: i64, to: i64) -> sqlx::Result<u64> {
    on_tx!(tx, c => sqlx::query("UPDATE notifications SET prospect_id = $2 WHERE prospect_id = $1")
        .bind(from)
        .bind(to)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()))
}
