//! The intake's own table: rejected submissions, tallied per form.

use crate::{on_tx, platform::db::Tx};

pub async fn record_rejection(
    tx: &mut Tx,
    form_id: i64,
    reason: &str,
    at: i64,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query("INSERT INTO intake_rejections (form_id, reason, created_at) VALUES ($1, $2, $3)")
        .bind(form_id)
        .bind(reason)
        .bind(at)
        .execute(&mut **c)
        .await
        .map(|_| ()))
}
