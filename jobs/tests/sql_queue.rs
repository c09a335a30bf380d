//! The SQL queue against a real SQLite file: delivery, retries, dead letters,
//! idempotent enqueue and transactional enqueue.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jobs::{Job, JobError, QueueConfig, Runtime, SqlQueue, WorkerOptions};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
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
}

async fn queue() -> (SqlQueue, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("q.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
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
    let mut tx = queue.pool().begin().await.unwrap();
    SqlQueue::enqueue_in(
        &mut tx,
        &Ping {
            n: 0,
            fail_times: 0,
            permanent: false,
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        queue.stats().await.unwrap().is_empty(),
        "rolled back job is visible"
    );

    let mut tx = queue.pool().begin().await.unwrap();
    SqlQueue::enqueue_in(
        &mut tx,
        &Ping {
            n: 1,
            fail_times: 0,
            permanent: false,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
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
    sqlx::query("UPDATE Jobs SET done_at = done_at - 7200")
        .execute(queue.pool())
        .await
        .unwrap();
    assert_eq!(queue.prune(Duration::from_secs(3600)).await.unwrap(), 2);
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats[0].done, stats[0].dead),
        (0, 1),
        "dead letters are kept"
    );
}
