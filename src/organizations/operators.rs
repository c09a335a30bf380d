//! Operators: the people who run a deployment. They alone see every
//! organization's jobs (the deployment-wide dashboard at `/ops/jobs`: all
//! queues, counts, errors, dead letters, discard). An operator is a user
//! whose **confirmed** address is listed in `RALLY_OPERATORS` or stored by
//! `rally operators add EMAIL` (the `operators` table); a confirmed address
//! is required so that nobody becomes an operator by signing up first with
//! an operator's address.

use crate::{
    on_pool,
    platform::{
        config::Settings,
        db::{self, Pool},
        text::Email,
    },
};

/// Whether user `user_id` is an operator of this deployment.
pub async fn is_operator(pool: &Pool, settings: &Settings, user_id: i64) -> sqlx::Result<bool> {
    let found: Option<(String, bool)> = on_pool!(pool, p => sqlx::query_as(
        "SELECT u.email, EXISTS (SELECT 1 FROM operators o WHERE o.email = lower(u.email))
         FROM users u WHERE u.id = $1 AND u.email_verified_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(p)
    .await)?;
    Ok(match found {
        Some((email, stored)) => {
            stored
                || settings
                    .operators
                    .iter()
                    .any(|listed| Email::parse(listed).is_ok_and(|listed| listed.as_str() == email))
        }
        None => false,
    })
}

/// Stores `email` as an operator; adding one twice is harmless.
pub async fn add(pool: &Pool, email: &Email) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO operators (email, created_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING",
    )
    .bind(email.as_str())
    .bind(db::now_ms())
    .execute(p)
    .await
    .map(|_| ()))
}

/// Removes a stored operator. False when the address was not one.
pub async fn remove(pool: &Pool, email: &Email) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query("DELETE FROM operators WHERE email = $1")
        .bind(email.as_str())
        .execute(p)
        .await
        .map(|done| done.rows_affected() > 0))
}

/// The stored operators' addresses, sorted (not those of `RALLY_OPERATORS`).
pub async fn list(pool: &Pool) -> sqlx::Result<Vec<String>> {
    on_pool!(pool, p => sqlx::query_scalar("SELECT email FROM operators ORDER BY email")
        .fetch_all(p)
        .await)
}
