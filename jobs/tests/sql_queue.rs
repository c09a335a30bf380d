//! The SQL queue against a real database: delivery, retries, dead letters,
//! idempotent and transactional enqueue, concurrent workers. On a SQLite
//! file by default; on a fresh Postgres database when `RALLY_TEST_POSTGRES`
//! names a server (`postgres://user@host:port`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jobs::{Conn, Job, JobError, QueueConfig, Runtime, SqlQueue, Store, Tenant, WorkerOptions};
use serde::{Deserialize, Serialize};
use sqlx::{
    Connection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ping {
    n: u32,
    /// Fail this many times before succeeding; u32::MAX = always.
    fail_times: u32,
    permanent: bool,
}

impl Job for Ping {
    const KIND: &'static str = "test.ping";
    const MAX_ATTEMPTS: usize = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("ping-{}", self.n))
    }
    /// Ping n works for organization n + 1.
    fn organization(&self) -> Option<i64> {
        Some(i64::from(self.n) + 1)
    }
}

async fn store(dir: &std::path::Path) -> Store {
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
            sqlx::PgPool::connect(&format!("{server}/{name}"))
                .await
                .unwrap()
                .into()
        }
        _ => {
            let opts = SqliteConnectOptions::new()
                .filename(dir.join("q.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            SqlitePoolOptions::new()
                .connect_with(opts)
                .await
                .unwrap()
                .into()
        }
    }
}

async fn queue() -> (SqlQueue, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pool = store(dir.path()).await;
    SqlQueue::migrate(&pool).await.unwrap();
    let config = QueueConfig {
        poll_interval: Duration::from_millis(20),
        ..QueueConfig::default()
    };
    (SqlQueue::new(pool, config), dir)
}

fn options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 2,
        fetch_batch: 2,
        stall_after: Duration::from_secs(5),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
    }
}

/// Runs workers counting attempts per job until `done` holds or 10 s pass.
async fn run_until(
    queue: &SqlQueue,
    attempts: Arc<Vec<AtomicUsize>>,
    done: impl Fn(&[jobs::QueueStats]) -> bool,
) -> Vec<jobs::QueueStats> {
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    runtime.spawn(options(), move |job: Ping| {
        let attempts = attempts.clone();
        async move {
            let seen = attempts[job.n as usize].fetch_add(1, Ordering::SeqCst) as u32;
            if seen < job.fail_times {
                return Err(if job.permanent {
                    JobError::permanent(format!("bad ping {}", job.n))
                } else {
                    JobError::retryable(format!("flaky ping {}", job.n))
                });
            }
            Ok(())
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = queue.stats().await.unwrap();
        if done(&stats) || tokio::time::Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    runtime.shutdown().await;
    stats
}

fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

#[tokio::test]
async fn delivers_retries_and_dead_letters() {
    let (queue, _dir) = queue().await;
    let jobs = [
        Ping {
            n: 0,
            fail_times: 0,
            permanent: false,
        },
        Ping {
            n: 1,
            fail_times: 2,
            permanent: false,
        },
        Ping {
            n: 2,
            fail_times: u32::MAX,
            permanent: false,
        },
        Ping {
            n: 3,
            fail_times: u32::MAX,
            permanent: true,
        },
    ];
    for job in &jobs {
        queue.enqueue(job).await.unwrap();
    }
    let attempts = counters(4);
    let stats = run_until(&queue, attempts.clone(), |s| {
        s.first().is_some_and(|s| s.done == 2 && s.dead == 2)
    })
    .await;
    let s = &stats[0];
    assert_eq!(
        (s.queue.as_str(), s.done, s.dead, s.pending, s.running),
        ("test.ping", 2, 2, 0, 0)
    );
    let seen: Vec<_> = attempts.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    // Succeeds first time; succeeds on the third attempt; runs out of its 3
    // attempts; permanent failure runs once only.
    assert_eq!(seen, vec![1, 3, 3, 1]);

    let dead = queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    let errors: Vec<_> = dead
        .iter()
        .map(|d| d.error.clone().unwrap_or_default())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("flaky ping 2")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("bad ping 3")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn same_idempotency_key_is_stored_once() {
    let (queue, _dir) = queue().await;
    let job = Ping {
        n: 0,
        fail_times: 0,
        permanent: false,
    };
    for _ in 0..5 {
        queue.enqueue(&job).await.unwrap();
    }
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats[0].pending, 1);
    let attempts = counters(1);
    run_until(&queue, attempts.clone(), |s| s[0].done == 1).await;
    assert_eq!(attempts[0].load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn enqueue_follows_the_callers_transaction() {
    let (queue, _dir) = queue().await;
    let ping = |n| Ping {
        n,
        fail_times: 0,
        permanent: false,
    };
    enqueue_in_transaction(&queue, ping(0), false).await;
    assert!(
        queue.stats().await.unwrap().is_empty(),
        "rolled back job is visible"
    );

    enqueue_in_transaction(&queue, ping(1), true).await;
    assert_eq!(queue.stats().await.unwrap()[0].pending, 1);
    assert_eq!(queue.unfinished().await.unwrap(), 1);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slow {
    n: u32,
}

impl Job for Slow {
    const KIND: &'static str = "test.slow";
}

#[tokio::test]
async fn shutdown_finishes_or_releases_jobs_in_flight() {
    let (queue, _dir) = queue().await;
    for n in 0..6 {
        queue.enqueue(&Slow { n }).await.unwrap();
    }
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let (s, f) = (started.clone(), finished.clone());
    runtime.spawn(options(), move |_job: Slow| {
        let (s, f) = (s.clone(), f.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            f.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    while started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    runtime.shutdown().await;
    // Every job that started ran to its end; nothing is left marked running,
    // and what did not finish is waiting for the next worker.
    assert_eq!(
        started.load(Ordering::SeqCst),
        finished.load(Ordering::SeqCst)
    );
    let stats = queue.stats().await.unwrap();
    let s = &stats[0];
    assert_eq!(s.running, 0, "{s:?}");
    assert_eq!(s.done as usize, finished.load(Ordering::SeqCst), "{s:?}");
    assert_eq!((s.done + s.pending) as usize, 6, "{s:?}");
}

#[tokio::test]
async fn prune_deletes_old_finished_jobs_only() {
    let (queue, _dir) = queue().await;
    for n in 0..3 {
        queue
            .enqueue(&Ping {
                n,
                fail_times: if n == 2 { u32::MAX } else { 0 },
                permanent: n == 2,
            })
            .await
            .unwrap();
    }
    let attempts = counters(3);
    run_until(&queue, attempts, |s| s[0].done == 2 && s[0].dead == 1).await;
    // Nothing is old enough yet.
    assert_eq!(queue.prune(Duration::from_secs(3600)).await.unwrap(), 0);
    match queue.store() {
        Store::Sqlite(pool) => sqlx::query("UPDATE Jobs SET done_at = done_at - 7200")
            .execute(pool)
            .await
            .map(|_| ()),
        Store::Postgres(pool) => {
            sqlx::query("UPDATE apalis.jobs SET done_at = done_at - interval '2 hours'")
                .execute(pool)
                .await
                .map(|_| ())
        }
    }
    .unwrap();
    assert_eq!(queue.prune(Duration::from_secs(3600)).await.unwrap(), 2);
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats[0].done, stats[0].dead),
        (0, 1),
        "dead letters are kept"
    );
}

/// Enqueues `job` inside a transaction of the caller's, then commits or
/// rolls back.
async fn enqueue_in_transaction(queue: &SqlQueue, job: Ping, commit: bool) {
    let jobs = [job];
    match queue.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            SqlQueue::enqueue_all_in(Conn::Sqlite(&mut tx), &jobs)
                .await
                .unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            SqlQueue::enqueue_all_in(Conn::Postgres(&mut tx), &jobs)
                .await
                .unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shared {
    n: u32,
}

impl Job for Shared {
    const KIND: &'static str = "test.shared";
}

/// Two runtimes (as two worker processes would) on one queue: no job ever
/// runs in both at once, and each runs exactly once.
#[tokio::test]
async fn concurrent_workers_never_run_a_job_twice_at_once() {
    const JOBS: u32 = 300;
    let (queue, _dir) = queue().await;
    let jobs: Vec<Shared> = (0..JOBS).map(|n| Shared { n }).collect();
    for chunk in jobs.chunks(100) {
        match queue.store() {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                SqlQueue::enqueue_all_in(Conn::Sqlite(&mut conn), chunk)
                    .await
                    .unwrap()
            }
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                SqlQueue::enqueue_all_in(Conn::Postgres(&mut conn), chunk)
                    .await
                    .unwrap()
            }
        }
    }
    let running = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let runs = counters(JOBS as usize);
    let mut runtimes = Vec::new();
    for _ in 0..2 {
        let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
        let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
        runtime.spawn(
            WorkerOptions {
                concurrency: 4,
                fetch_batch: 8,
                ..options()
            },
            move |job: Shared| {
                let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
                async move {
                    if !running.lock().unwrap().insert(job.n) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    runs[job.n as usize].fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    running.lock().unwrap().remove(&job.n);
                    Ok(())
                }
            },
        );
        runtimes.push(runtime);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stats = queue.stats().await.unwrap();
        if stats.first().is_some_and(|s| s.done == JOBS as i64) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all done: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for runtime in runtimes {
        runtime.shutdown().await;
    }
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "a job ran twice at once"
    );
    let seen: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert!(seen.iter().all(|n| *n == 1), "runs per job: {seen:?}");
}

/// Enqueueing through [`jobs::Queue`] appends to the outbox on SQLite; the
/// runtime's relay moves the jobs to the job table, where a repeated key is
/// dropped, and each runs once with its own maximum of attempts.
#[tokio::test]
async fn outbox_jobs_reach_the_workers_once() {
    let (sql, _dir) = queue().await;
    let queue = jobs::Queue::from(sql.clone());
    // More than one relay batch, each key twice, in one transaction.
    let jobs: Vec<Ping> = (0..600)
        .map(|n| Ping {
            n,
            fail_times: 0,
            permanent: false,
        })
        .collect();
    let doubled: Vec<Ping> = jobs.iter().chain(&jobs).cloned().collect();
    match sql.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            queue
                .enqueue_all_in(Conn::Sqlite(&mut tx), &doubled)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            queue
                .enqueue_all_in(Conn::Postgres(&mut tx), &doubled)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let always_fails = Ping {
        n: 600,
        fail_times: u32::MAX,
        permanent: false,
    };
    queue.enqueue(&always_fails).await.unwrap();

    // Before any worker runs, everything waits and counts: on SQLite in the
    // outbox (repeats included, until the relay drops them); on Postgres
    // in the job table, which drops repeats at once.
    let waiting = match sql.store() {
        Store::Sqlite(_) => 1201,
        Store::Postgres(_) => 601,
    };
    let stats = sql.stats().await.unwrap();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].queue, "test.ping");
    assert_eq!(stats[0].pending, waiting);
    assert!(stats[0].oldest_pending_secs.is_some());
    assert_eq!(sql.unfinished().await.unwrap(), waiting);

    let attempts = counters(601);
    let stats = run_until(&sql, attempts.clone(), |s| {
        s.first().is_some_and(|q| q.done == 600 && q.dead == 1)
    })
    .await;
    assert_eq!(stats[0].done, 600, "{stats:?}");
    assert_eq!(stats[0].dead, 1, "{stats:?}");
    assert_eq!(stats[0].pending, 0, "{stats:?}");
    for (n, count) in attempts.iter().enumerate().take(600) {
        assert_eq!(count.load(Ordering::SeqCst), 1, "job {n}");
    }
    // Its three attempts came with it through the outbox.
    assert_eq!(attempts[600].load(Ordering::SeqCst), 3);
    assert_eq!(sql.unfinished().await.unwrap(), 0);
}

/// A job waiting for its next attempt holds no worker slot: four jobs that
/// always fail (retryably, with a long backoff) and one honest job, four
/// slots. Were a retry to wait in its slot (apalis's retry layer sleeps
/// there), the honest job would wait the whole backoff; it runs at once,
/// and the four wait in the queue, visible as failed-will-retry with their
/// error, their organization and when they are due.
#[tokio::test]
async fn a_job_waiting_to_retry_holds_no_worker_slot() {
    let (sql, _dir) = queue().await;
    // Through the outbox (SQLite) or straight to the job table (Postgres),
    // as the application enqueues.
    let queue = jobs::Queue::from(sql.clone());
    for n in 0..4 {
        queue
            .enqueue(&Ping {
                n,
                fail_times: u32::MAX,
                permanent: false,
            })
            .await
            .unwrap();
        // Job ids are ULIDs: a new millisecond orders them, so the failing
        // jobs are handed out first.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    queue
        .enqueue(&Ping {
            n: 4,
            fail_times: 0,
            permanent: false,
        })
        .await
        .unwrap();
    let attempts = counters(5);
    let honest_at = Arc::new(std::sync::Mutex::new(None));
    let started = tokio::time::Instant::now();
    let mut runtime = Runtime::new(sql.clone(), CancellationToken::new());
    {
        let (attempts, honest_at) = (attempts.clone(), honest_at.clone());
        runtime.spawn(
            WorkerOptions {
                concurrency: 4,
                fetch_batch: 4,
                stall_after: Duration::from_secs(5),
                backoff_base: Duration::from_secs(30),
                backoff_max: Duration::from_secs(60),
            },
            move |job: Ping| {
                let (attempts, honest_at) = (attempts.clone(), honest_at.clone());
                async move {
                    attempts[job.n as usize].fetch_add(1, Ordering::SeqCst);
                    if job.fail_times > 0 {
                        return Err(JobError::retryable(format!(
                            "flaky ping {} for someone@example.com",
                            job.n
                        )));
                    }
                    *honest_at.lock().unwrap() = Some(tokio::time::Instant::now());
                    Ok(())
                }
            },
        );
    }
    let deadline = started + Duration::from_secs(10);
    while honest_at.lock().unwrap().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let honest = honest_at.lock().unwrap().expect("the honest job ran");
    assert!(
        honest - started < Duration::from_secs(2),
        "the honest job waited {:?} behind retrying jobs",
        honest - started
    );
    // The failing jobs ran once each and wait for their due time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = sql.stats().await.unwrap();
        if (stats[0].retrying == 4 && stats[0].done == 1) || tokio::time::Instant::now() > deadline
        {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (stats[0].done, stats[0].retrying, stats[0].running),
        (1, 4, 0),
        "{stats:?}"
    );
    let seen: Vec<_> = attempts.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(seen, vec![1, 1, 1, 1, 1]);
    let failures = sql.recent_failures(10).await.unwrap();
    assert_eq!(failures.len(), 4, "{failures:?}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for failure in &failures {
        assert!(
            failure
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("flaky ping"),
            "{failure:?}"
        );
        let due = failure.due_at.expect("a retry has a due time");
        assert!(
            due > now_ms + 10_000,
            "next attempt due after the backoff: {failure:?}"
        );
    }
    // Each organization sees its own failure only.
    let first = sql
        .recent_failures_of(Tenant::Organization(1), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].organization, Some(1));
    assert!(first[0].payload.contains("\"n\":0"), "{first:?}");
    assert!(
        sql.recent_failures_of(Tenant::Organization(99), 10)
            .await
            .unwrap()
            .is_empty()
    );
    runtime.shutdown().await;
}

/// Dead letters carry their organization; an organization retries or
/// discards only its own.
#[tokio::test]
async fn dead_letters_are_reached_by_their_own_organization_only() {
    let (sql, _dir) = queue().await;
    let queue = jobs::Queue::from(sql.clone());
    for n in 0..2 {
        queue
            .enqueue(&Ping {
                n,
                fail_times: u32::MAX,
                permanent: true,
            })
            .await
            .unwrap();
    }
    run_until(&sql, counters(2), |s| {
        s.first().is_some_and(|q| q.dead == 2)
    })
    .await;
    let dead = sql.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    let of_one = queue
        .dead_letters_of(Tenant::Organization(1), 10)
        .await
        .unwrap();
    assert_eq!(of_one.len(), 1);
    assert_eq!(of_one[0].organization, Some(1));
    let other = dead.iter().find(|d| d.organization == Some(2)).unwrap();
    // Organization 1 cannot touch organization 2's dead letter.
    assert!(
        !queue
            .retry_dead_of(Tenant::Organization(1), "test.ping", &other.id)
            .await
            .unwrap()
    );
    assert!(
        !queue
            .discard_dead_of(Tenant::Organization(1), "test.ping", &other.id)
            .await
            .unwrap()
    );
    assert!(
        queue
            .dead_letter(Tenant::Organization(1), "test.ping", &other.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sql.dead_letters(10).await.unwrap().len(), 2);
    // Its own, it can.
    assert!(
        queue
            .retry_dead_of(Tenant::Organization(2), "test.ping", &other.id)
            .await
            .unwrap()
    );
    assert_eq!(sql.dead_letters(10).await.unwrap().len(), 1);
}
