//! Delayed jobs and periodic schedules on the SQL queue, against a real
//! database: a SQLite file by default, a fresh Postgres database when
//! `RALLY_TEST_POSTGRES` names a server (`postgres://user@host:port`).
//! Each "process" is a runtime on its own pool to the same database.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use jobs::{
    Conn, Job, Queue, QueueConfig, Runtime, Schedule, SqlQueue, Store, WorkerOptions, schedule,
};
use sqlx::{
    Connection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use tokio_util::sync::CancellationToken;

use support::kinds::{Later, Tick};

/// Two pools on one fresh database, as two processes would hold.
async fn stores(dir: &std::path::Path) -> (Store, Store) {
    match std::env::var("RALLY_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let server = server.trim_end_matches('/');
            let name = format!("jobs_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            let _ = admin.close().await;
            let url = format!("{server}/{name}");
            let a = sqlx::PgPool::connect(&url).await.unwrap();
            let b = sqlx::PgPool::connect(&url).await.unwrap();
            (a.into(), b.into())
        }
        _ => {
            let opts = SqliteConnectOptions::new()
                .filename(dir.join("q.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            let a = SqlitePoolOptions::new()
                .connect_with(opts.clone())
                .await
                .unwrap();
            let b = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            (a.into(), b.into())
        }
    }
}

async fn queues() -> (Queue, Queue, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = stores(dir.path()).await;
    SqlQueue::migrate(&a).await.unwrap();
    let config = QueueConfig {
        poll_interval: Duration::from_millis(20),
        ..QueueConfig::default()
    };
    (
        Queue::Sql(SqlQueue::new(a, config.clone())),
        Queue::Sql(SqlQueue::new(b, config)),
        dir,
    )
}

fn options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 2,
        fetch_batch: 2,
        ..WorkerOptions::default()
    }
}

/// When each `Later` job ran, by its number.
type Runs = Arc<Mutex<Vec<(usize, Instant)>>>;

fn start(queue: &Queue, runs: &Runs) -> Runtime {
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let runs = runs.clone();
    runtime.spawn(options(), move |job: Later| {
        let runs = runs.clone();
        async move {
            runs.lock().unwrap().push((job.n, Instant::now()));
            Ok(())
        }
    });
    runtime
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the wall clock is 100 to 500 ms into a second. apalis-sqlite
/// keeps due times in whole seconds, rounded up (never early), so a job due
/// at x.000–x.030 s would be picked up just after (x+1).000 s: starting
/// inside a second keeps the 1-second tolerance of the test about our
/// code, not the clock's phase. (Postgres keeps microseconds.)
async fn into_a_second() {
    loop {
        let ms = jobs::chrono::Utc::now().timestamp_subsec_millis();
        if (100..500).contains(&ms) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_job_due_in_2s_runs_no_earlier_than_2s_and_no_later_than_3s() {
    let (queue, _, _dir) = queues().await;
    let runs: Runs = Default::default();
    let runtime = start(&queue, &runs);
    into_a_second().await;
    let enqueued = Instant::now();
    // One on its own, one inside the caller's transaction.
    queue
        .enqueue_in(&Later { n: 0 }, Duration::from_secs(2))
        .await
        .unwrap();
    match queue.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            queue
                .enqueue_all_in_after(
                    Conn::Sqlite(&mut tx),
                    &[Later { n: 1 }],
                    Duration::from_secs(2),
                )
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            queue
                .enqueue_all_in_after(
                    Conn::Postgres(&mut tx),
                    &[Later { n: 1 }],
                    Duration::from_secs(2),
                )
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    wait_for("both delayed jobs run", Duration::from_secs(6), || {
        runs.lock().unwrap().len() == 2
    })
    .await;
    runtime.shutdown().await;
    for (n, at) in runs.lock().unwrap().iter() {
        let after = *at - enqueued;
        assert!(
            after >= Duration::from_secs(2) && after <= Duration::from_secs(3),
            "job {n} ran {after:?} after it was enqueued"
        );
    }
}

/// A job due in an hour is waiting (operators see it) but no backlog:
/// intake refuses submissions on a backlog, and jobs that cannot run yet
/// must not make it do so.
#[tokio::test]
async fn a_job_not_yet_due_is_no_backlog() {
    let (queue, _, _dir) = queues().await;
    let runs: Runs = Default::default();
    let runtime = start(&queue, &runs);
    queue
        .enqueue_in(&Later { n: 0 }, Duration::from_secs(3600))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // (On SQLite it waits in the outbox, counted, until the relay moves it.)
    while queue.unfinished().await.unwrap() != 0 {
        assert!(Instant::now() < deadline, "a delayed job counts as backlog");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats[0].pending, 1, "{stats:?}");
    runtime.shutdown().await;
    assert!(runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_delayed_job_survives_a_runtime_restart() {
    let (first, second, _dir) = queues().await;
    let runs: Runs = Default::default();
    let enqueued = Instant::now();
    first
        .enqueue_at(&Later { n: 0 }, SystemTime::now() + Duration::from_secs(3))
        .await
        .unwrap();
    // A process works the queue for a second, then stops: not due yet.
    let runtime = start(&first, &runs);
    tokio::time::sleep(Duration::from_secs(1)).await;
    runtime.shutdown().await;
    assert!(runs.lock().unwrap().is_empty(), "ran before its time");
    // Another process, started later, runs it once, at its time.
    let runtime = start(&second, &runs);
    wait_for("the delayed job runs", Duration::from_secs(6), || {
        !runs.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    runtime.shutdown().await;
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].1 - enqueued >= Duration::from_secs(3), "{runs:?}");
}

#[tokio::test]
async fn two_runtimes_and_one_schedule_give_one_run_per_tick() {
    let (first, second, _dir) = queues().await;
    let ticks: Arc<Mutex<Vec<(i64, SystemTime)>>> = Default::default();
    let mut runtimes = Vec::new();
    for queue in [&first, &second] {
        let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
        let seen = ticks.clone();
        runtime.spawn(options(), move |job: Tick| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((job.at, SystemTime::now()));
                Ok(())
            }
        });
        // Every second, in a zone with an offset: ticks are still whole
        // seconds of UTC.
        runtime.schedule(vec![
            Schedule::new("every-second", "* * * * * *", "Asia/Kolkata", |tick| Tick {
                at: tick.timestamp_millis(),
            })
            .unwrap(),
        ]);
        runtimes.push(runtime);
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for runtime in runtimes {
        runtime.shutdown().await;
    }
    let mut ticks = ticks.lock().unwrap().clone();
    ticks.sort();
    let mut distinct: Vec<i64> = ticks.iter().map(|(at, _)| *at).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    assert!(ticks.len() >= 3, "too few ticks in 4.5 s: {ticks:?}");
    for (at, ran) in &ticks {
        assert_eq!(at % 1000, 0, "{ticks:?}");
        assert!(
            unix_ms(*ran) >= *at,
            "tick {at} ran before its time: {ticks:?}"
        );
    }
    // What operators see: the last tick run and the next one due.
    let status = schedule::statuses(first.store()).await.unwrap();
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0].name, "every-second");
    assert_eq!(status[0].kind, Tick::KIND);
    assert_eq!(status[0].zone, "Asia/Kolkata");
    let last = status[0].last_tick.expect("a tick ran");
    assert!(last >= *distinct.last().unwrap(), "{status:?} {ticks:?}");
    assert!(status[0].next_due > last, "{status:?}");
    assert!(status[0].last_run_at.unwrap() >= last, "{status:?}");
}

#[tokio::test]
async fn after_downtime_a_missed_tick_runs_once() {
    let (queue, other, _dir) = queues().await;
    let hourly = || {
        vec![
            Schedule::new("hourly", "0 * * * *", "Europe/Paris", |tick| Tick {
                at: tick.timestamp_millis(),
            })
            .unwrap(),
        ]
    };
    schedule::register(queue.store(), &hourly()).await.unwrap();
    let next = schedule::statuses(queue.store()).await.unwrap()[0].next_due;
    // The deployment was down for three hours: its due tick is long past.
    let missed = next - 3 * 3600 * 1000;
    match queue.store() {
        Store::Sqlite(pool) => sqlx::query("UPDATE jobs_schedules SET next_due = $1")
            .bind(missed)
            .execute(pool)
            .await
            .map(|_| ()),
        Store::Postgres(pool) => sqlx::query("UPDATE jobs_schedules SET next_due = $1")
            .bind(missed)
            .execute(pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
    after_restart(queue, other, hourly, missed, next).await;
}

async fn after_restart(
    queue: Queue,
    other: Queue,
    hourly: impl Fn() -> Vec<Schedule>,
    missed: i64,
    next: i64,
) {
    // Starting again does not move the overdue tick (an unchanged schedule
    // keeps it), and of two processes looking, one runs it, once.
    schedule::register(other.store(), &hourly()).await.unwrap();
    let (mine, theirs) = (hourly(), hourly());
    let (a, b) = tokio::join!(
        schedule::run_due(&queue, &mine),
        schedule::run_due(&other, &theirs)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(schedule::run_due(&queue, &hourly()).await.unwrap(), 0);
    let status = &schedule::statuses(queue.store()).await.unwrap()[0];
    assert_eq!(status.last_tick, Some(missed));
    assert_eq!(status.next_due, next, "carries on from the present");
    let stats = queue.stats().await.unwrap();
    let ticks: i64 = stats
        .iter()
        .filter(|s| s.queue == Tick::KIND)
        .map(|s| s.pending)
        .sum();
    assert_eq!(ticks, 1, "{stats:?}");
    // The job is the missed tick's.
    let runs: Arc<Mutex<Vec<i64>>> = Default::default();
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let seen = runs.clone();
    runtime.spawn(options(), move |job: Tick| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(job.at);
            Ok(())
        }
    });
    wait_for("the missed tick runs", Duration::from_secs(5), || {
        !runs.lock().unwrap().is_empty()
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(*runs.lock().unwrap(), vec![missed]);
}

/// An idle worker is woken every poll interval, whatever its last fetch
/// found: a job that falls due (or arrives) while it idles is taken at
/// once, not at its next heartbeat (apalis 1.0's interval timer was never
/// re-armed: on Postgres this took 3 s, see `jobs/src/poll.rs`).
#[tokio::test]
async fn an_idle_worker_takes_a_new_job_at_once() {
    let (queue, _, _dir) = queues().await;
    let runs: Runs = Default::default();
    let runtime = start(&queue, &runs);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let enqueued = Instant::now();
    queue.enqueue(&Later { n: 0 }).await.unwrap();
    wait_for("the job runs", Duration::from_secs(8), || {
        runs.lock().unwrap().len() == 1
    })
    .await;
    runtime.shutdown().await;
    let after = runs.lock().unwrap()[0].1 - enqueued;
    assert!(
        after < Duration::from_millis(1000),
        "ran {after:?} after it was enqueued"
    );
}
