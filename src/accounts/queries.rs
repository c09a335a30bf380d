//! Users, sessions and one-time email tokens.

use std::time::Duration;

use crate::{
    on_pool, on_tx,
    organizations::queries::audit,
    platform::db::{Pool, Scope, Tx, now_ms},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// The signed-in user and the organization they are working in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    pub user_id: i64,
    pub user_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub role: crate::organizations::roles::Role,
    /// The organization's `kind` and its HQ, for [`SessionUser::place`].
    pub organization_kind: crate::organizations::kind::OrganizationKind,
    pub organization_parent_id: Option<i64>,
    /// The person's zone, else the organization's (an IANA name).
    pub time_zone: String,
    /// Notifications in this organization not read yet.
    pub unread_notifications: i64,
}

impl SessionUser {
    /// Where the session's organization stands in a franchise.
    pub fn place(&self) -> crate::organizations::roles::Place {
        crate::organizations::roles::Place::of(self.organization_kind, self.organization_parent_id)
    }

    /// Whether the user may take `action` here (the one table:
    /// [`crate::organizations::roles::rule`]).
    pub fn may(&self, action: crate::organizations::roles::Action) -> bool {
        crate::organizations::roles::allows(self.role, self.place(), action)
    }

    /// The zone times are shown in to this person.
    pub fn zone(&self) -> crate::platform::time_zones::Tz {
        crate::platform::time_zones::resolve(&self.time_zone)
    }
}

pub async fn user_by_email(pool: &Pool, email: &str) -> sqlx::Result<Option<User>> {
    on_pool!(pool, p => sqlx::query_as("SELECT id, email, name, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(p)
        .await)
}

pub async fn create_session(
    pool: &Pool,
    token_hash: &str,
    user_id: i64,
    ttl: Duration,
) -> sqlx::Result<()> {
    let now = now_ms();
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(p)
    .await
    .map(|_| ()))
}

pub async fn delete_session(pool: &Pool, token_hash: &str) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(p)
        .await
        .map(|_| ()))
}

pub async fn session_user(pool: &Pool, token_hash: &str) -> sqlx::Result<Option<SessionUser>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id AS user_id, u.name AS user_name, o.id AS organization_id,
                o.name AS organization_name, m.role, o.kind AS organization_kind,
                o.parent_id AS organization_parent_id,
                COALESCE(u.time_zone, o.time_zone) AS time_zone,
                CAST((SELECT COUNT(*) FROM notifications n
                      WHERE n.user_id = u.id AND n.organization_id = o.id AND n.read_at IS NULL
                        AND (n.prospect_id IS NULL OR n.prospect_id NOT IN
                             (SELECT q.id FROM prospects q WHERE q.deleted_at IS NOT NULL))) AS BIGINT)
                    AS unread_notifications
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN memberships m ON m.user_id = u.id
         JOIN organizations o ON o.id = m.organization_id
         WHERE s.token_hash = $1 AND s.expires_at > $2
         ORDER BY CASE WHEN m.organization_id = s.organization_id THEN 0 ELSE 1 END, m.created_at
         LIMIT 1",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(p)
    .await)
}

/// Every organization `user_id` belongs to: (id, name, role), oldest first.
pub async fn memberships_of(
    pool: &Pool,
    user_id: i64,
) -> sqlx::Result<Vec<(i64, String, crate::organizations::roles::Role)>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
         WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user_id)
    .fetch_all(p)
    .await)
}

/// Makes the session work in `organization_id`, if its user belongs there.
pub async fn switch_organization(
    pool: &Pool,
    token_hash: &str,
    organization_id: i64,
) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE sessions SET organization_id = $2
         WHERE token_hash = $1 AND EXISTS (
             SELECT 1 FROM memberships m WHERE m.user_id = sessions.user_id AND m.organization_id = $2)",
    )
    .bind(token_hash)
    .bind(organization_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A new user who owns a new organization of `kind`. The organization's
/// slug comes from its name, made unique with a number when needed.
/// Returns (user id, organization id).
pub async fn create_account(
    tx: &mut Tx,
    name: &str,
    email: &str,
    password_hash: &str,
    organization: &str,
    kind: crate::organizations::kind::OrganizationKind,
) -> Result<(i64, i64), SignUpError> {
    let now = now_ms();
    let user = create_user(tx, name, email, password_hash)
        .await?
        .ok_or(SignUpError::EmailTaken)?;
    let org =
        crate::organizations::locations::queries::insert_organization(tx, organization, kind, None)
            .await?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(user)
    .bind(org)
    .bind(now)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    audit(
        tx,
        org,
        Some(user),
        "organization_created",
        Some(user),
        kind.as_str(),
    )
    .await?;
    Ok((user, org))
}

/// A new user; `None` when the email is taken.
pub async fn create_user(
    tx: &mut Tx,
    name: &str,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<Option<i64>> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now_ms())
    .fetch_optional(&mut **c)
    .await)
}

/// Stores a one-time token (its hash) for `purpose`, valid for `ttl`.
pub async fn create_email_token(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    ttl: Duration,
) -> sqlx::Result<()> {
    let now = now_ms();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Uses up a valid, unused token of `purpose`: its user's id, or `None`
/// when the token is unknown, expired or already used.
pub async fn use_email_token(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms();
    on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE email_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(&mut **c)
    .await)
}

/// Whether a token of `purpose` is valid now, without using it.
pub async fn email_token_valid(pool: &Pool, token_hash: &str, purpose: &str) -> sqlx::Result<bool> {
    Ok(email_token_user(pool, token_hash, purpose).await?.is_some())
}

/// The user of a token of `purpose` that is valid now, without using it.
pub async fn email_token_user(
    pool: &Pool,
    token_hash: &str,
    purpose: &str,
) -> sqlx::Result<Option<i64>> {
    on_pool!(pool, p => sqlx::query_scalar::<_, i64>(
        "SELECT user_id FROM email_tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now_ms())
    .fetch_optional(p)
    .await)
}

pub async fn mark_email_verified(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Sets a new password and ends every session of the user and every
/// password-reset link still out for them (a link sent before the change
/// must not change it again).
pub async fn set_password(tx: &mut Tx, user_id: i64, password_hash: &str) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE email_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = 'reset' AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// Ends every session of a user ("sign out everywhere").
pub async fn delete_sessions_of(pool: &Pool, user_id: i64) -> sqlx::Result<u64> {
    on_pool!(pool, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// A user's account details and first organization, for emails.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub email_verified_at: Option<i64>,
    pub organization_id: Option<i64>,
}

pub async fn account(pool: &Pool, user_id: i64) -> sqlx::Result<Option<Account>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.email_verified_at,
                (SELECT m.organization_id FROM memberships m WHERE m.user_id = u.id
                 ORDER BY m.created_at LIMIT 1) AS organization_id
         FROM users u WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(p)
    .await)
}

impl Scope {
    /// What `user` may see: members their own prospects, everyone else
    /// the organization's.
    pub fn of(user: &SessionUser) -> Self {
        Self {
            organization_id: user.organization_id,
            owner: (user.role == crate::organizations::roles::Role::Member).then_some(user.user_id),
        }
    }
}

/// User `id` with their password hash (the account settings check the
/// current password against it).
pub async fn user_by_id(pool: &Pool, user_id: i64) -> sqlx::Result<Option<User>> {
    on_pool!(pool, p => sqlx::query_as("SELECT id, email, name, password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(p)
        .await)
}

/// Why an email change was not applied.
#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    /// Another account uses the new address.
    #[error("another account uses this email")]
    Taken,
    /// The account's address is no longer the one the link was made for
    /// (changed meanwhile, or the account is gone).
    #[error("the account's email changed since the link was made")]
    Stale,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Moves user `user_id` from `old_email` to `new_email` (both email keys),
/// marks the new address confirmed (the link that led here was mailed to
/// it) and withdraws every one-time link still out for the account
/// (verification and password reset, which went to the old address).
pub async fn change_email(
    tx: &mut Tx,
    user_id: i64,
    old_email: &str,
    new_email: &str,
) -> Result<(), EmailChangeError> {
    let now = now_ms();
    let taken: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM users WHERE email = $1 AND id <> $2",
    )
    .bind(new_email)
    .bind(user_id)
    .fetch_optional(&mut **c)
    .await)?;
    if taken.is_some() {
        return Err(EmailChangeError::Taken);
    }
    let updated = on_tx!(tx, c => sqlx::query(
        "UPDATE users SET email = $3, email_verified_at = $4 WHERE id = $1 AND email = $2",
    )
    .bind(user_id)
    .bind(old_email)
    .bind(new_email)
    .bind(now)
    .execute(&mut **c)
    .await
    .map(|r| r.rows_affected()));
    match updated {
        Ok(1) => {}
        Ok(_) => return Err(EmailChangeError::Stale),
        // Taken by an account made since the check above.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(EmailChangeError::Taken);
        }
        Err(e) => return Err(e.into()),
    }
    on_tx!(tx, c => sqlx::query(
        "UPDATE email_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Erases user `user_id`'s personal data and ends their account: every
/// session, one-time link, membership, notification and personal saved
/// view goes; prospects they owned become unassigned; the row stays,
/// stripped to "Deleted person" with an address no one can type
/// (`deleted-{id}@deleted.invalid`) and `unusable_hash` (a hash of a
/// random secret), so audit lines, tasks and imports keep an author. The
/// address is free for a new account at once. Organizations are the
/// caller's business (see `accounts::settings::delete_account`).
pub async fn erase_user(tx: &mut Tx, user_id: i64, unusable_hash: &str) -> sqlx::Result<()> {
    let email: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **c)
        .await)?;
    let Some(email) = email else {
        return Ok(());
    };
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM email_tokens WHERE user_id = $1",
        "DELETE FROM notifications WHERE user_id = $1",
        "DELETE FROM summary_sends WHERE user_id = $1",
        "DELETE FROM home_visits WHERE user_id = $1",
        "DELETE FROM home_checklist_dismissals WHERE user_id = $1",
        "DELETE FROM saved_views WHERE user_id = $1 AND NOT shared",
        "UPDATE prospects SET owner_user_id = NULL WHERE owner_user_id = $1",
        "DELETE FROM memberships WHERE user_id = $1",
    ] {
        on_tx!(tx, c => sqlx::query(sql).bind(user_id).execute(&mut **c).await.map(|_| ()))?;
    }
    // Messages kept for the address (the development mailbox's) go too,
    // and the email-change confirmations the person asked for.
    on_tx!(tx, c => sqlx::query("DELETE FROM emails WHERE lower(to_addr) = lower($1) OR key LIKE $2")
        .bind(&email)
        .bind(format!("{}%", crate::platform::mail::email_change_key_prefix(user_id)))
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE users SET email = $2, name = 'Deleted person', password_hash = $3,
                email_verified_at = NULL, time_zone = NULL
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(format!("deleted-{user_id}@deleted.invalid"))
    .bind(unusable_hash)
    .execute(&mut **c)
    .await
    .map(|_| ()))
}
