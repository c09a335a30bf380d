//! The demo organization, owner and form, seeded on start-up with `--demo`.

use crate::{
    on_pool,
    platform::db::{Pool, now_ms},
};

/// Seeds the demo organization, owner and form; safe to run on every start.
/// Returns the owner's email.
pub async fn seed_demo(pool: &Pool, owner_password_hash: &str) -> sqlx::Result<String> {
    const OWNER: &str = "owner@demo.rally.test";
    let now = now_ms();
    on_pool!(pool, p => {
    let mut tx = p.begin().await?;
    sqlx::query(
        "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('demo', 'Demo Co', $2, $1)
         ON CONFLICT (slug) DO NOTHING",
    )
    .bind(now)
    .bind(crate::organizations::kind::OrganizationKind::DirectSales)
    .execute(&mut *tx)
    .await?;
    let org_id: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = 'demo'")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, 'Demo Owner', $2, $3)
         ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(OWNER)
    .bind(owner_password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(OWNER)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, 'owner', $3)
         ON CONFLICT (user_id, organization_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO forms (organization_id, slug, title, intro, created_at)
         VALUES ($1, 'demo', 'Meet Demo Co', 'Leave your details and we will send you the demo.', $2)
         ON CONFLICT (slug) DO NOTHING",
    )
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(OWNER.to_string())
    })
}
