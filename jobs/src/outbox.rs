//! The transactional outbox: every job is enqueued by appending it here, in
//! the caller's transaction, and a relay forwards it to the queue backend.
//!
//! Why: a submission is acknowledged once it is durable, and the database
//! commit that makes it durable is the one the caller already makes (the
//! intake writer's group commit). Appending to this table is the cheapest
//! durable write there is: one row at the end of a table with no secondary
//! index. The queue's own tables are far dearer to write (apalis-sqlite's
//! `Jobs` keeps seven indexes, about seven times the cost per job here), and
//! SQS would make every acknowledgement wait for a network round trip and
//! turn an SQS outage into refused submissions.
//!
//! The relay runs where the work happens:
//! - **SQL queue**: in every process that runs workers. It moves rows into
//!   the job table with one `INSERT … SELECT` and a `DELETE` in one
//!   transaction, so a row moves exactly once; a repeated idempotency key is
//!   dropped there, as a direct enqueue would drop it.
//! - **SQS**: in every process. It sends rows in batches and deletes them
//!   only once SQS has accepted them. A crash between the two sends a row
//!   twice, which is why handlers are idempotent (and FIFO queues
//!   deduplicate by key).
//!
//! Jobs waiting here count as waiting in the queue's statistics and backlog.
//! Also here: the counters and recent failures that SQS does not keep, so
//! the dashboard can show them on every backend.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    Conn, EnqueueError, Store,
    queue::on_store,
    sqs::{Failure, OutcomeSink, Outgoing, SqsQueue},
};

/// Rows the relay forwards to SQS per round.
const RELAY_BATCH: i64 = 100;
/// Rows moved into the SQL queue per transaction: large enough that a burst
/// moves in few transactions, small enough that intake never waits long
/// behind one (about 5 ms on SQLite).
const SQL_RELAY_BATCH: i64 = 512;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Stores messages for the relay on the caller's connection or transaction,
/// each with the id its job will have in the SQL queue (a ULID, as apalis
/// gives its own jobs).
pub(crate) async fn insert(
    mut conn: Conn<'_>,
    kind: &str,
    max_attempts: usize,
    messages: Vec<Outgoing>,
    due_ms: Option<i64>,
) -> Result<(), EnqueueError> {
    let now = now_ms();
    let max_attempts = max_attempts as i64;
    // Values are bound by value: sqlx copies a borrowed string into a new
    // one, which on the intake path was a copy of every job body.
    // 8 bound values per row; SQLite allows 32,766 per statement.
    let mut rest = messages.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<_> = rest
            .by_ref()
            .take(1000)
            .map(|message| (message, ulid::Ulid::generate().to_string()))
            .collect();
        macro_rules! insert_rows {
            ($db:ty, $c:expr) => {{
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO jobs_outbox (kind, body, dedup_key, created_at, job_id, max_attempts, organization_id, run_at) ",
                );
                insert.push_values(chunk, |mut row, (message, id)| {
                    row.push_bind(kind)
                        .push_bind(message.body)
                        .push_bind(message.dedup_key)
                        .push_bind(now)
                        .push_bind(id)
                        .push_bind(max_attempts)
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
    // Wakes this process's relay: on SQLite its look at the outbox waits
    // for the one write connection, so it reads the rows once committed.
    crate::wake::poke(crate::wake::RELAY);
    Ok(())
}

/// At least as many rows as wait in the outbox, read in two index lookups
/// (a `COUNT(*)` reads the whole table: about 35 ms per 300,000 rows on
/// SQLite, which the backlog check would pay twice a second through a
/// burst). Exact while rows leave from the front, as the SQL relay moves
/// them; a row the SQS relay could not send, or an id a rolled-back insert
/// took, makes it count a few too many, which only errs toward caution.
pub(crate) async fn waiting_bound(store: &Store) -> Result<i64, sqlx::Error> {
    let sql = format!("SELECT {WAITING_BOUND}");
    on_store!(store, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await)
}

/// The expression behind [`waiting_bound`], to combine with other counts
/// in one statement.
pub(crate) const WAITING_BOUND: &str =
    "COALESCE((SELECT MAX(id) FROM jobs_outbox) - (SELECT MIN(id) FROM jobs_outbox) + 1, 0)";

/// Rows waiting in the outbox, and the age in seconds of the oldest.
pub(crate) async fn waiting(store: &Store) -> Result<(i64, Option<i64>), sqlx::Error> {
    let sql = "SELECT COUNT(*), MIN(created_at) FROM jobs_outbox";
    let (n, oldest): (i64, Option<i64>) =
        on_store!(store, pool => sqlx::query_as(sql).fetch_one(pool).await?);
    Ok((n, oldest.map(|at| ((now_ms() - at) / 1000).max(0))))
}

/// Rows waiting in the outbox per kind: kind → (rows, age in seconds of
/// the oldest).
pub(crate) async fn waiting_by_kind(
    store: &Store,
) -> Result<HashMap<String, (i64, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64, i64)> =
        on_store!(store, pool => sqlx::query_as(WAITING_BY_KIND).fetch_all(pool).await?);
    let now = now_ms();
    Ok(rows
        .into_iter()
        .map(|(kind, n, oldest)| (kind, (n, ((now - oldest) / 1000).max(0))))
        .collect())
}

/// (id, kind, body, dedup_key, organization_id)
pub(crate) type Row = (i64, String, String, Option<String>, Option<i64>);

/// Forwards the outbox to SQS until `token` is cancelled. On Postgres, rows
/// are claimed with `FOR UPDATE SKIP LOCKED` in a transaction that deletes
/// them once sent, so several relays (one per web process) share the work
/// without sending a row twice. SQLite serves one process; its relay reads,
/// sends, then deletes, so it never holds the write lock during a send.
pub async fn relay(store: Store, sqs: SqsQueue, token: CancellationToken) {
    run_relay(token, || async {
        let sent = match &store {
            Store::Postgres(pool) => relay_postgres(pool, &sqs).await,
            Store::Sqlite(pool) => relay_sqlite(pool, &sqs).await,
        }?;
        // Delayed jobs now due within SQS's longest delay go too.
        Ok(sent + crate::delay::release(&store, &sqs).await?)
    })
    .await
}

/// Moves the outbox into the SQL queue's job table until `token` is
/// cancelled. Several relays may share one database: on Postgres each
/// claims its rows with `FOR UPDATE SKIP LOCKED`; on SQLite the write lock
/// serializes them, and a row another relay moved first is simply gone.
pub async fn relay_to_sql(store: Store, token: CancellationToken) {
    run_relay(token, || async {
        // Checked before any transaction: an idle relay (on Postgres, the
        // usual case, since jobs go to the job table directly there) never
        // takes SQLite's write lock nor opens a Postgres transaction.
        let sql = "SELECT id FROM jobs_outbox LIMIT 1";
        let any: Option<i64> =
            on_store!(&store, pool => sqlx::query_scalar(sql).fetch_optional(pool).await)
                .map_err(|e| e.to_string())?;
        if any.is_none() {
            return Ok(0);
        }
        match &store {
            Store::Postgres(pool) => move_postgres(pool).await,
            Store::Sqlite(pool) => move_sqlite(pool).await,
        }
        .map_err(|e| e.to_string())
    })
    .await
}

/// Runs relay rounds: at once again while there is work; when the outbox
/// is empty, as soon as a job is enqueued in this process (the relay's
/// signal, see `wake`) or every 20 ms for the other processes' jobs;
/// backing off (up to 5 s) while rounds fail.
async fn run_relay<F, Fut>(token: CancellationToken, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, String>>,
{
    let signal = crate::wake::signal(crate::wake::RELAY);
    let mut pause = Duration::from_millis(100);
    loop {
        let seen = signal.generation();
        let round = round().await;
        let ok = round.is_ok();
        let idle = match round {
            Ok(0) => {
                pause = Duration::from_millis(100);
                Some(Duration::from_millis(20))
            }
            Ok(_) => {
                pause = Duration::from_millis(100);
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "outbox relay failed; will retry");
                let wait = pause;
                pause = (pause * 2).min(Duration::from_secs(5));
                Some(wait)
            }
        };
        if token.is_cancelled() {
            return;
        }
        match idle {
            // An empty outbox: wait for a job or the next look.
            Some(wait) if ok => {
                let go_on = crate::wake::wait(&signal, seen, wait, &token).await;
                if !go_on {
                    return;
                }
            }
            Some(wait) => {
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            None => {}
        }
    }
}

/// Sends rows grouped by kind; returns the ids SQS accepted. A row whose
/// id is in `due_ms` is delayed until then (`DelaySeconds`, rounded up).
pub(crate) async fn send_rows(
    sqs: &SqsQueue,
    rows: &[Row],
    due_ms: &HashMap<i64, i64>,
) -> Result<Vec<i64>, String> {
    let mut by_kind: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in rows {
        by_kind.entry(row.1.as_str()).or_default().push(row);
    }
    let mut sent = Vec::with_capacity(rows.len());
    let mut first_error = None;
    for (kind, rows) in by_kind {
        let messages: Vec<Outgoing> = rows
            .iter()
            .map(|(_, _, body, key, organization)| Outgoing {
                body: body.clone(),
                dedup_key: key.clone(),
                organization: *organization,
            })
            .collect();
        let now = now_ms();
        let delays: Vec<i32> = rows
            .iter()
            .map(|row| {
                due_ms
                    .get(&row.0)
                    .map_or(0, |due| crate::delay::delay_secs(*due, now))
            })
            .collect();
        match sqs.send_batch_delayed(kind, &messages, &delays).await {
            Ok(accepted) => sent.extend(
                rows.iter()
                    .zip(accepted)
                    .filter(|(_, ok)| *ok)
                    .map(|(row, _)| row.0),
            ),
            Err(err) => first_error = first_error.or(Some(err.to_string())),
        }
    }
    match (sent.is_empty(), first_error) {
        (true, Some(err)) => Err(err),
        _ => Ok(sent),
    }
}

async fn relay_postgres(pool: &sqlx::PgPool, sqs: &SqsQueue) -> Result<usize, String> {
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, body, dedup_key, CAST(organization_id AS BIGINT) FROM jobs_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(RELAY_BATCH)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(0);
    }
    let sent = send_rows(sqs, &rows, &HashMap::new()).await?;
    sqlx::query("DELETE FROM jobs_outbox WHERE id = ANY($1)")
        .bind(&sent)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(sent.len())
}

async fn relay_sqlite(pool: &sqlx::SqlitePool, sqs: &SqsQueue) -> Result<usize, String> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, body, dedup_key, organization_id FROM jobs_outbox ORDER BY id LIMIT $1",
    )
    .bind(RELAY_BATCH)
    .fetch_all(pool)
    .await
    .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Ok(0);
    }
    let sent = send_rows(sqs, &rows, &HashMap::new()).await?;
    let mut delete = sqlx::QueryBuilder::new("DELETE FROM jobs_outbox WHERE id IN (");
    let mut ids = delete.separated(", ");
    for id in &sent {
        ids.push_bind(*id);
    }
    delete.push(")");
    if !sent.is_empty() {
        delete
            .build()
            .execute(pool)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(sent.len())
}

/// Job ids for the rows about to move: each row's own, or a new one for a
/// row written before the outbox carried them.
fn job_ids(rows: Vec<(i64, Option<String>)>) -> (Vec<i64>, Vec<String>, bool) {
    let mut filled = false;
    let (ids, job_ids) = rows
        .into_iter()
        .map(|(id, job_id)| {
            let job_id = job_id.unwrap_or_else(|| {
                filled = true;
                ulid::Ulid::generate().to_string()
            });
            (id, job_id)
        })
        .unzip();
    (ids, job_ids, filled)
}

/// Wakes this process's workers of the kinds just moved into the job table
/// (the insert's own notification reaches other processes on Postgres).
fn wake_moved(kinds: &[String]) {
    let mut done: Vec<&str> = Vec::new();
    for kind in kinds {
        if !done.contains(&kind.as_str()) {
            crate::wake::poke(kind);
            done.push(kind);
        }
    }
}

async fn move_sqlite(pool: &sqlx::SqlitePool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let rows: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, job_id FROM jobs_outbox ORDER BY id LIMIT $1")
            .bind(SQL_RELAY_BATCH)
            .fetch_all(&mut *tx)
            .await?;
    let Some(&(last, _)) = rows.last() else {
        return Ok(0);
    };
    let (ids, job_ids, filled) = job_ids(rows);
    if filled {
        for (id, job_id) in ids.iter().zip(&job_ids) {
            sqlx::query("UPDATE jobs_outbox SET job_id = $1 WHERE id = $2 AND job_id IS NULL")
                .bind(job_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    // `WHERE` before `ON CONFLICT` keeps SQLite from reading the upsert as
    // a join constraint. run_at is in seconds, as apalis-sqlite keeps it: a
    // delayed job's due time (ms) rounded up, as `delay::sqlite_run_at` does.
    sqlx::query(
        "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key, organization_id)
         SELECT CAST(body AS BLOB), job_id, kind, 'Pending', 0, COALESCE(max_attempts, 25),
                COALESCE((run_at + 999) / 1000, created_at / 1000), 0, '{}', dedup_key, organization_id
         FROM jobs_outbox WHERE id <= $1 ORDER BY id
         ON CONFLICT (job_type, idempotency_key) DO NOTHING",
    )
    .bind(last)
    .execute(&mut *tx)
    .await?;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM jobs_outbox WHERE id <= $1")
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
    let moved = sqlx::query("DELETE FROM jobs_outbox WHERE id <= $1")
        .bind(last)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    wake_moved(&kinds);
    Ok(moved as usize)
}

async fn move_postgres(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, job_id FROM jobs_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(SQL_RELAY_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (ids, job_ids, _) = job_ids(rows);
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key, organization_id)
         SELECT t.job_id, o.kind, convert_to(o.body, 'UTF8'), 'Pending', 0, COALESCE(o.max_attempts, 25),
                to_timestamp(COALESCE(o.run_at, o.created_at) / 1000.0), 0, o.dedup_key, o.organization_id
         FROM unnest($1::bigint[], $2::text[]) AS t(id, job_id) JOIN jobs_outbox o ON o.id = t.id
         ORDER BY o.id
         ON CONFLICT (job_type, idempotency_key) DO NOTHING",
    )
    .bind(&ids)
    .bind(&job_ids)
    .execute(&mut *tx)
    .await?;
    let kinds: Vec<String> =
        sqlx::query_scalar("DELETE FROM jobs_outbox WHERE id = ANY($1) RETURNING kind")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    wake_moved(&kinds);
    Ok(ids.len())
}

/// Rows waiting in the outbox per kind: (kind, rows, oldest `created_at` in ms).
pub(crate) const WAITING_BY_KIND: &str =
    "SELECT kind, COUNT(*), MIN(created_at) FROM jobs_outbox GROUP BY kind";

/// Outcome counters kept in the database: counted in memory, added to the
/// table every second (one write, not one per job); failures are written
/// as they happen (they are rare and the dashboard lists them).
pub(crate) struct DbOutcomes {
    store: Store,
    counts: Mutex<HashMap<&'static str, (i64, i64, i64)>>,
}

impl DbOutcomes {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            counts: Default::default(),
        }
    }

    /// Adds what was counted to the table; on error keeps it for next time.
    pub(crate) async fn flush(&self) {
        let counts: Vec<_> =
            std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        for (kind, (succeeded, failed, dead)) in counts {
            let sql = "INSERT INTO jobs_outcomes (kind, succeeded, failed, dead) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind) DO UPDATE SET succeeded = jobs_outcomes.succeeded + excluded.succeeded,
                     failed = jobs_outcomes.failed + excluded.failed, dead = jobs_outcomes.dead + excluded.dead";
            let result = on_store!(&self.store, pool => sqlx::query(sql)
                .bind(kind)
                .bind(succeeded)
                .bind(failed)
                .bind(dead)
                .execute(pool)
                .await
                .map(|_| ()));
            if let Err(err) = result {
                tracing::warn!(error = %err, "could not record job outcomes; keeping them");
                let mut kept = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                let entry = kept.entry(kind).or_default();
                entry.0 += succeeded;
                entry.1 += failed;
                entry.2 += dead;
            }
        }
    }

    /// Flushes every second until `token` is cancelled, then once more.
    pub(crate) async fn run(self: std::sync::Arc<Self>, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.flush().await;
        }
        self.flush().await;
    }
}

impl OutcomeSink for DbOutcomes {
    fn succeeded(&self, kind: &'static str) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind)
            .or_default()
            .0 += 1;
    }

    fn failed(&self, failure: Failure<'_>) {
        let Failure {
            kind,
            attempt,
            dead,
            error,
            organization,
            body,
        } = failure;
        {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let entry = counts.entry(kind).or_default();
            entry.1 += 1;
            if dead {
                entry.2 += 1;
            }
        }
        let (store, error, body) = (
            self.store.clone(),
            error.chars().take(2000).collect::<String>(),
            body.to_string(),
        );
        tokio::spawn(async move {
            let sql =
                "INSERT INTO jobs_failures (kind, attempt, dead, error, at, organization_id, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)";
            let result = on_store!(&store, pool => sqlx::query(sql)
                .bind(kind)
                .bind(attempt as i64)
                .bind(dead)
                .bind(&error)
                .bind(now_ms())
                .bind(organization)
                .bind(&body)
                .execute(pool)
                .await
                .map(|_| ()));
            if let Err(err) = result {
                tracing::warn!(error = %err, "could not record a job failure");
            }
        });
    }
}

/// Totals per kind: (succeeded, failed attempts, dead).
pub(crate) async fn outcomes(
    store: &Store,
) -> Result<HashMap<String, (i64, i64, i64)>, sqlx::Error> {
    let sql = "SELECT kind, succeeded, failed, dead FROM jobs_outcomes";
    let rows: Vec<(String, i64, i64, i64)> =
        on_store!(store, pool => sqlx::query_as(sql).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(k, s, f, d)| (k, (s, f, d)))
        .collect())
}

/// A failure that will be retried, as `jobs_failures` keeps it.
#[derive(sqlx::FromRow)]
pub(crate) struct FailureRow {
    pub id: i64,
    pub kind: String,
    pub attempt: i64,
    pub error: String,
    pub organization_id: Option<i64>,
    pub body: Option<String>,
}

/// Failures of `organization` (all when `None`) that will be retried,
/// newest first.
pub(crate) async fn recent_failures(
    store: &Store,
    organization: Option<i64>,
    limit: i64,
) -> Result<Vec<FailureRow>, sqlx::Error> {
    let sql =
        "SELECT id, kind, attempt, error, CAST(organization_id AS BIGINT) AS organization_id, body
         FROM jobs_failures WHERE NOT dead AND (CAST($2 AS BIGINT) IS NULL OR organization_id = $2)
         ORDER BY id DESC LIMIT $1";
    on_store!(store, pool => sqlx::query_as(sql).bind(limit).bind(organization).fetch_all(pool).await)
}

/// Deletes failure records older than `older_than`.
pub(crate) async fn prune_failures(
    store: &Store,
    older_than: Duration,
) -> Result<u64, sqlx::Error> {
    let cutoff = now_ms() - older_than.as_millis() as i64;
    let sql = "DELETE FROM jobs_failures WHERE at < $1";
    on_store!(store, pool => sqlx::query(sql)
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}
