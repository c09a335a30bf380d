//! Delayed jobs: a job enqueued to run at a time, or after a delay, runs no
//! earlier than that and survives restarts, because the wait is a row in a
//! database (or a message SQS holds), never a timer in a process.
//!
//! One mechanism for delays and retries: a job waiting for its time is a
//! row with a due time, not a worker sleeping on it.
//! - **SQL queue**: the job table's `run_at`, the column apalis fetches by
//!   (`run_at <= now`) and the one a failed attempt's retry is put off with
//!   ([`crate::SqlQueue::reschedule`]). On Postgres a delayed job goes
//!   straight into `apalis.jobs`; on SQLite through the outbox like every
//!   job, whose `run_at` (ms) the relay carries into the job table.
//!   apalis-sqlite keeps `run_at` in whole seconds: a time to come is
//!   rounded **up** ([`sqlite_run_at`]), so on SQLite a delayed job runs up
//!   to a second after its time, never before it.
//! - **SQS**: `DelaySeconds` holds a message for 15 minutes at most
//!   ([`crate::SqsConfig::max_delay`], configurable lower). A delayed job is
//!   therefore *held in the database*, in `jobs_delayed` (written in the
//!   caller's transaction, like the outbox), and the outbox relay sends it
//!   once it is due within `max_delay`, with the rest of the wait as its
//!   `DelaySeconds` (rounded up). Held rather than re-delayed on receipt:
//!   a message received only to be sent again would count receives against
//!   the redrive policy, FIFO queues take no per-message delay at all (they
//!   get their held jobs when due), and the held rows are visible to
//!   operators. A retry on SQS hides the received message for its backoff
//!   (`ChangeMessageVisibility`, up to 12 hours): also a wait SQS keeps, not
//!   a worker.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use crate::{
    Conn, EnqueueError, Job, Queue, Store,
    outbox::{self, Row},
    queue::on_store,
    sqs::{MAX_DELAY, Outgoing, SqsQueue},
};

/// Held jobs sent to SQS per relay round.
const RELEASE_BATCH: i64 = 100;

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `at` in Unix ms when it is still to come, `None` when it is due now.
pub(crate) fn future_ms(at: SystemTime) -> Option<i64> {
    let due = unix_ms(at);
    (due > outbox::now_ms()).then_some(due)
}

/// apalis-sqlite's `run_at` (whole seconds) for a job due at `due_ms`: a
/// time to come rounded up, so the job is never fetched early; a time
/// passed rounded down, so a job due now is not put off.
pub(crate) fn sqlite_run_at(due_ms: i64) -> i64 {
    if due_ms > outbox::now_ms() {
        due_ms.div_euclid(1000) + i64::from(due_ms.rem_euclid(1000) > 0)
    } else {
        due_ms.div_euclid(1000)
    }
}

/// apalis-postgres's `run_at` as `to_timestamp`'s argument (seconds).
pub(crate) fn postgres_run_at(due_ms: i64) -> f64 {
    due_ms as f64 / 1000.0
}

/// SQS `DelaySeconds` for a message due at `due_ms`, sent at `now_ms`:
/// the wait left, rounded up, within 0..=900.
pub(crate) fn delay_secs(due_ms: i64, now_ms: i64) -> i32 {
    let left = (due_ms - now_ms).max(0);
    ((left + 999) / 1000).min(MAX_DELAY.as_secs() as i64) as i32
}

/// The time `delay` from now, for [`Queue::enqueue_all_at_in`].
pub fn due_in(delay: Duration) -> SystemTime {
    SystemTime::now() + delay
}

impl Queue {
    /// Stores one job, in its own transaction, to run at `at` (never
    /// before; a time passed means now).
    pub async fn enqueue_at<J: Job>(&self, job: &J, at: SystemTime) -> Result<(), EnqueueError> {
        match self.store() {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                self.enqueue_all_at_in(Conn::Sqlite(&mut conn), std::slice::from_ref(job), at)
                    .await
            }
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                self.enqueue_all_at_in(Conn::Postgres(&mut conn), std::slice::from_ref(job), at)
                    .await
            }
        }
    }

    /// Stores one job, in its own transaction, to run `delay` from now.
    pub async fn enqueue_in<J: Job>(&self, job: &J, delay: Duration) -> Result<(), EnqueueError> {
        self.enqueue_at(job, due_in(delay)).await
    }

    /// Stores jobs on the caller's connection or transaction (durable when
    /// it commits) to run `delay` from now.
    pub async fn enqueue_all_in_after<J: Job>(
        &self,
        conn: Conn<'_>,
        jobs: &[J],
        delay: Duration,
    ) -> Result<(), EnqueueError> {
        self.enqueue_all_at_in(conn, jobs, due_in(delay)).await
    }
}

/// Holds jobs for SQS in `jobs_delayed` until the relay sends them (on the
/// caller's connection or transaction).
pub(crate) async fn hold(
    mut conn: Conn<'_>,
    kind: &str,
    messages: Vec<Outgoing>,
    due_ms: i64,
) -> Result<(), EnqueueError> {
    // 5 bound values per row; SQLite allows 32,766 per statement.
    let mut rest = messages.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<_> = rest.by_ref().take(1000).collect();
        macro_rules! insert_rows {
            ($db:ty, $c:expr) => {{
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO jobs_delayed (kind, body, dedup_key, organization_id, run_at) ",
                );
                insert.push_values(chunk, |mut row, message| {
                    row.push_bind(kind)
                        .push_bind(message.body)
                        .push_bind(message.dedup_key)
                        .push_bind(message.organization)
                        .push_bind(due_ms);
                });
                insert.build().execute(&mut **$c).await?;
            }};
        }
        match &mut conn {
            Conn::Sqlite(c) => insert_rows!(sqlx::Sqlite, c),
            Conn::Postgres(c) => insert_rows!(sqlx::Postgres, c),
        }
    }
    Ok(())
}

/// Sends held jobs due within SQS's delay (`max_delay`; on FIFO queues,
/// which take no per-message delay, only jobs due now) and deletes them
/// once SQS has accepted them. Part of every round of the SQS relay. On
/// Postgres the rows are claimed with `FOR UPDATE SKIP LOCKED`, so relays
/// in several processes never send one twice.
pub(crate) async fn release(store: &Store, sqs: &SqsQueue) -> Result<usize, String> {
    let horizon = if sqs.config().fifo {
        Duration::ZERO
    } else {
        sqs.config().max_delay.min(MAX_DELAY)
    };
    let cut = outbox::now_ms() + horizon.as_millis() as i64;
    let select = "SELECT id, kind, body, dedup_key, CAST(organization_id AS BIGINT), run_at
         FROM jobs_delayed WHERE run_at <= $1 ORDER BY run_at, id LIMIT $2";
    type Held = (i64, String, String, Option<String>, Option<i64>, i64);
    let split = |held: Vec<Held>| -> (Vec<Row>, HashMap<i64, i64>) {
        let due = held.iter().map(|h| (h.0, h.5)).collect();
        let rows = held
            .into_iter()
            .map(|(id, kind, body, key, organization, _)| (id, kind, body, key, organization))
            .collect();
        (rows, due)
    };
    match store {
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
            let held: Vec<Held> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{select} FOR UPDATE SKIP LOCKED"
            )))
            .bind(cut)
            .bind(RELEASE_BATCH)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            if held.is_empty() {
                return Ok(0);
            }
            let (rows, due) = split(held);
            let sent = outbox::send_rows(sqs, &rows, &due).await?;
            sqlx::query("DELETE FROM jobs_delayed WHERE id = ANY($1)")
                .bind(&sent)
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok(sent.len())
        }
        Store::Sqlite(pool) => {
            // One process relays a SQLite database: read, send, delete, so
            // the write lock is never held across a send.
            let held: Vec<Held> = sqlx::query_as(select)
                .bind(cut)
                .bind(RELEASE_BATCH)
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?;
            if held.is_empty() {
                return Ok(0);
            }
            let (rows, due) = split(held);
            let sent = outbox::send_rows(sqs, &rows, &due).await?;
            for id in &sent {
                sqlx::query("DELETE FROM jobs_delayed WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(sent.len())
        }
    }
}

/// Jobs held for SQS per kind: (kind, jobs, earliest due time in Unix ms).
pub async fn held(store: &Store) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let sql = "SELECT kind, COUNT(*), MIN(run_at) FROM jobs_delayed GROUP BY kind ORDER BY kind";
    on_store!(store, pool => sqlx::query_as(sql).fetch_all(pool).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_due_times_round_up_only_when_still_to_come() {
        let now = outbox::now_ms();
        let later = (now / 1000 + 10) * 1000 + 1;
        assert_eq!(sqlite_run_at(later), now / 1000 + 11);
        assert_eq!(sqlite_run_at(later - 1), now / 1000 + 10);
        // A job due now is not put off to the next second.
        assert_eq!(sqlite_run_at(now), now / 1000);
    }

    #[test]
    fn sqs_delays_round_up_and_stop_at_15_minutes() {
        assert_eq!(delay_secs(10_001, 8_000), 3);
        assert_eq!(delay_secs(10_000, 8_000), 2);
        assert_eq!(delay_secs(5_000, 8_000), 0);
        assert_eq!(delay_secs(10_000_000, 0), 900);
    }
}
