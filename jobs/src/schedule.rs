//! Periodic schedules: a job enqueued at each tick of a cron expression in a
//! time zone (parsed by `croner`, zones from `chrono-tz`'s copy of the IANA
//! database, daylight-saving changes included).
//!
//! - **One run per tick, however many processes**: each schedule is a row
//!   of `jobs_schedules` holding its next due tick (Unix ms). A scheduler
//!   (every [`crate::Runtime`] given schedules runs one) claims a due tick
//!   with a compare-and-set `UPDATE … WHERE name = $1 AND next_due = $tick`
//!   and enqueues the tick's job *in the same transaction*, with the
//!   idempotency key `schedule:{name}:{tick ms}`: only the process whose
//!   update changed the row enqueues, and a claim that rolls back enqueues
//!   nothing.
//! - **After downtime, a missed tick runs once**: the next due tick is
//!   always the first one after *now*, so however many ticks passed while
//!   no scheduler ran, the overdue one runs once (as the tick it was due
//!   at) and the schedule carries on from the present. A job that must
//!   cover a period should read its period from the tick it is given.
//! - **A changed expression or zone** (a new deployment) starts over from
//!   the next tick after now; an unchanged one keeps its due tick across
//!   restarts, so a restart neither skips nor repeats a tick.
//! - Operators see each schedule's last and next run: [`statuses`].
//!
//! The job is built from the tick by the schedule's function, so a job can
//! know which period it covers; it is enqueued through [`Queue`], so it
//! goes wherever the deployment's jobs go (SQL queue or SQS).

use std::{marker::PhantomData, sync::Arc, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::{Cron, parser::CronParser};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{Conn, EnqueueError, Job, Queue, Store, outbox::now_ms, queue::on_store};

/// How often a scheduler looks for due ticks: a tick runs at most this
/// late (plus the queue's own pickup).
pub const SCHEDULER_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule {name}: cron expression {cron:?} is not valid: {reason}")]
    Cron {
        name: String,
        cron: String,
        reason: String,
    },
    #[error(
        "schedule {name}: {zone:?} is not a time zone of the IANA database (e.g. \"Europe/Paris\")"
    )]
    Zone { name: String, zone: String },
    #[error("schedule {name}: cron expression {cron:?} has no tick to come")]
    NoTick { name: String, cron: String },
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// A job wrapped with its tick's idempotency key: stored exactly as the
/// job itself (`serde(transparent)`), so a handler of `J` works it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Ticked<J> {
    job: J,
    #[serde(skip)]
    key: String,
}

impl<J: Job> Job for Ticked<J> {
    const KIND: &'static str = J::KIND;
    const MAX_ATTEMPTS: usize = J::MAX_ATTEMPTS;
    const TIMEOUT: Duration = J::TIMEOUT;

    fn idempotency_key(&self) -> Option<String> {
        Some(self.key.clone())
    }

    fn organization(&self) -> Option<i64> {
        self.job.organization()
    }
}

/// Builds and enqueues a schedule's job for one tick.
trait Enqueuer: Send + Sync {
    fn kind(&self) -> &'static str;
    fn enqueue<'a>(
        &'a self,
        queue: &'a Queue,
        conn: Conn<'a>,
        key: String,
        tick: DateTime<Tz>,
    ) -> BoxFuture<'a, Result<(), EnqueueError>>;
}

struct Make<J, F>(F, PhantomData<fn() -> J>);

impl<J: Job, F: Fn(DateTime<Tz>) -> J + Send + Sync> Enqueuer for Make<J, F> {
    fn kind(&self) -> &'static str {
        J::KIND
    }

    fn enqueue<'a>(
        &'a self,
        queue: &'a Queue,
        conn: Conn<'a>,
        key: String,
        tick: DateTime<Tz>,
    ) -> BoxFuture<'a, Result<(), EnqueueError>> {
        let job = Ticked {
            job: (self.0)(tick),
            key,
        };
        Box::pin(async move { queue.enqueue_all_in(conn, std::slice::from_ref(&job)).await })
    }
}

/// A job to enqueue at every tick of a cron expression in a time zone.
#[derive(Clone)]
pub struct Schedule {
    name: String,
    expression: String,
    cron: Cron,
    zone: Tz,
    make: Arc<dyn Enqueuer>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cron", &self.expression)
            .field("zone", &self.zone)
            .finish()
    }
}

impl Schedule {
    /// A schedule named `name` (stable: it keys the schedule's row and its
    /// jobs' idempotency keys), ticking on `cron` (five fields, minute
    /// first, or six with seconds first; `L`, `#`, `W` and `@daily`-style
    /// aliases as `croner` reads them) in `zone` (an IANA name such as
    /// `"Europe/Paris"`, or `"UTC"`). At each tick `make(tick)` builds the
    /// job, the tick given in `zone`.
    ///
    /// Errors: [`ScheduleError::Cron`] for an expression croner refuses,
    /// [`ScheduleError::Zone`] for an unknown zone.
    pub fn new<J: Job>(
        name: impl Into<String>,
        cron: &str,
        zone: &str,
        make: impl Fn(DateTime<Tz>) -> J + Send + Sync + 'static,
    ) -> Result<Self, ScheduleError> {
        let name = name.into();
        let parsed = CronParser::new()
            .parse(cron)
            .map_err(|err| ScheduleError::Cron {
                name: name.clone(),
                cron: cron.to_string(),
                reason: err.to_string(),
            })?;
        let zone: Tz = zone.parse().map_err(|_| ScheduleError::Zone {
            name: name.clone(),
            zone: zone.to_string(),
        })?;
        Ok(Self {
            name,
            expression: cron.trim().to_string(),
            cron: parsed,
            zone,
            make: Arc::new(Make(make, PhantomData)),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first tick strictly after `after_ms` (Unix ms), in Unix ms.
    pub fn next_tick_after(&self, after_ms: i64) -> Result<i64, ScheduleError> {
        let after = self
            .zone
            .timestamp_millis_opt(after_ms)
            .single()
            .ok_or_else(|| self.no_tick())?;
        self.cron
            .find_next_occurrence(&after, false)
            .map(|tick| tick.timestamp_millis())
            .map_err(|_| self.no_tick())
    }

    fn no_tick(&self) -> ScheduleError {
        ScheduleError::NoTick {
            name: self.name.clone(),
            cron: self.expression.clone(),
        }
    }

    fn zone_name(&self) -> &'static str {
        self.zone.name()
    }
}

/// Records `schedules` in `jobs_schedules`: a new one, or one whose
/// expression or zone changed, becomes due at its first tick after now; an
/// unchanged one keeps its due tick. Safe to run from every process.
pub async fn register(store: &Store, schedules: &[Schedule]) -> Result<(), ScheduleError> {
    let now = now_ms();
    for schedule in schedules {
        let next = schedule.next_tick_after(now)?;
        let sql = "INSERT INTO jobs_schedules (name, kind, cron, zone, next_due) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, cron = excluded.cron,
                 zone = excluded.zone,
                 next_due = CASE WHEN jobs_schedules.cron = excluded.cron AND jobs_schedules.zone = excluded.zone
                                 THEN jobs_schedules.next_due ELSE excluded.next_due END";
        on_store!(store, pool => sqlx::query(sql)
            .bind(&schedule.name)
            .bind(schedule.make.kind())
            .bind(&schedule.expression)
            .bind(schedule.zone_name())
            .bind(next)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Enqueues the job of every schedule whose tick is due, each claimed by a
/// compare-and-set in the transaction that enqueues it (so of several
/// processes one enqueues it). Returns the ticks this call enqueued.
pub async fn run_due(queue: &Queue, schedules: &[Schedule]) -> Result<usize, ScheduleError> {
    let now = now_ms();
    let sql = "SELECT name, next_due FROM jobs_schedules WHERE next_due <= $1";
    let due: Vec<(String, i64)> =
        on_store!(queue.store(), pool => sqlx::query_as(sql).bind(now).fetch_all(pool).await)?;
    let mut enqueued = 0;
    for (name, tick) in due {
        let Some(schedule) = schedules.iter().find(|s| s.name == name) else {
            // Another deployment's schedule (or one since removed).
            continue;
        };
        if claim(queue, schedule, tick).await? {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// Claims `tick` of `schedule` and enqueues its job, in one transaction.
/// False when another process claimed it first.
async fn claim(queue: &Queue, schedule: &Schedule, tick: i64) -> Result<bool, ScheduleError> {
    let now = now_ms();
    let next = schedule.next_tick_after(now.max(tick))?;
    let key = format!("schedule:{}:{tick}", schedule.name);
    let at = schedule
        .zone
        .timestamp_millis_opt(tick)
        .single()
        .ok_or_else(|| schedule.no_tick())?;
    let update = "UPDATE jobs_schedules SET next_due = $3, last_tick = $2, last_run_at = $4
         WHERE name = $1 AND next_due = $2";
    macro_rules! claim_in {
        ($tx:expr, $conn:path) => {{
            let mut tx = $tx;
            let claimed = sqlx::query(update)
                .bind(&schedule.name)
                .bind(tick)
                .bind(next)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !claimed {
                tx.rollback().await?;
                return Ok(false);
            }
            schedule
                .make
                .enqueue(queue, $conn(&mut *tx), key, at)
                .await?;
            tx.commit().await?;
        }};
    }
    match queue.store() {
        // IMMEDIATE: take the write lock first, so two schedulers never
        // both read the row and then fail to upgrade.
        Store::Sqlite(pool) => claim_in!(pool.begin_with("BEGIN IMMEDIATE").await?, Conn::Sqlite),
        Store::Postgres(pool) => claim_in!(pool.begin().await?, Conn::Postgres),
    }
    tracing::info!(schedule = %schedule.name, tick, "scheduled job enqueued");
    Ok(true)
}

/// Registers `schedules`, then enqueues their ticks as they fall due until
/// `token` is cancelled. Errors are logged and retried (with a pause), so
/// a database outage delays ticks without losing them.
pub async fn run(queue: Queue, schedules: Vec<Schedule>, token: CancellationToken) {
    if schedules.is_empty() {
        return;
    }
    let mut registered = false;
    let mut pause = SCHEDULER_POLL;
    loop {
        let round = async {
            if !registered {
                register(queue.store(), &schedules).await?;
                registered = true;
            }
            run_due(&queue, &schedules).await
        };
        match round.await {
            Ok(_) => pause = SCHEDULER_POLL,
            Err(err) => {
                tracing::warn!(error = %err, "scheduler round failed; will retry");
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A schedule as operators see it (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleStatus {
    pub name: String,
    /// The job kind (queue) its ticks enqueue.
    pub kind: String,
    pub cron: String,
    /// IANA time zone the expression is read in.
    pub zone: String,
    /// The tick last enqueued, and when it was (`None` before the first).
    pub last_tick: Option<i64>,
    pub last_run_at: Option<i64>,
    /// The next tick to be enqueued.
    pub next_due: i64,
}

/// Every registered schedule with its last and next run, by name.
pub async fn statuses(store: &Store) -> Result<Vec<ScheduleStatus>, sqlx::Error> {
    let sql = "SELECT name, kind, cron, zone, CAST(last_tick AS BIGINT) AS last_tick,
            CAST(last_run_at AS BIGINT) AS last_run_at, CAST(next_due AS BIGINT) AS next_due
         FROM jobs_schedules ORDER BY name";
    on_store!(store, pool => sqlx::query_as(sql).fetch_all(pool).await)
}

/// Unix ms as a UTC time (for display); `None` when out of range.
pub fn utc(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Serialize, Deserialize)]
    struct Nothing;
    impl Job for Nothing {
        const KIND: &'static str = "test.nothing";
    }

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn ticks_are_read_in_the_schedules_zone() {
        let nine = Schedule::new("digest", "0 9 * * *", "America/New_York", |_| Nothing).unwrap();
        // Winter: 09:00 in New York is 14:00 UTC; summer: 13:00 UTC.
        assert_eq!(
            nine.next_tick_after(ms("2026-01-15T15:00:00Z")).unwrap(),
            ms("2026-01-16T14:00:00Z")
        );
        assert_eq!(
            nine.next_tick_after(ms("2026-07-15T12:00:00Z")).unwrap(),
            ms("2026-07-15T13:00:00Z")
        );
        // Strictly after: a tick is not its own next one.
        assert_eq!(
            nine.next_tick_after(ms("2026-07-15T13:00:00Z")).unwrap(),
            ms("2026-07-16T13:00:00Z")
        );
        let seconds = Schedule::new("s", "*/5 * * * * *", "UTC", |_| Nothing).unwrap();
        assert_eq!(
            seconds.next_tick_after(ms("2026-01-01T00:00:01Z")).unwrap(),
            ms("2026-01-01T00:00:05Z")
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_by_name() {
        let err = Schedule::new("digest", "61 * * * *", "UTC", |_| Nothing).unwrap_err();
        assert!(matches!(err, ScheduleError::Cron { .. }), "{err}");
        assert!(err.to_string().contains("digest"), "{err}");
        let err = Schedule::new("digest", "0 9 * * *", "Mars/Olympus", |_| Nothing).unwrap_err();
        assert!(matches!(err, ScheduleError::Zone { .. }), "{err}");
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn a_ticked_job_is_stored_as_the_job_itself() {
        #[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
        struct Digest {
            day: String,
        }
        impl Job for Digest {
            const KIND: &'static str = "test.digest";
        }
        let job = Ticked {
            job: Digest {
                day: "2026-01-01".into(),
            },
            key: "schedule:digest:1".into(),
        };
        let body = serde_json::to_string(&job).unwrap();
        assert_eq!(body, r#"{"day":"2026-01-01"}"#);
        assert_eq!(
            serde_json::from_str::<Digest>(&body).unwrap(),
            Digest {
                day: "2026-01-01".into()
            }
        );
        assert_eq!(job.idempotency_key().as_deref(), Some("schedule:digest:1"));
    }
}
