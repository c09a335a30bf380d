//! Batched handlers on the SQL queue: one claim hands the handler many
//! jobs, each settled by its own outcome; a poisoned job is retried and
//! dead-lettered alone; a worker that dies mid-batch loses nothing and,
//! with an idempotent handler, repeats nothing; a graceful stop finishes
//! the batch in hand. On a SQLite file by default; on a fresh Postgres
//! database when `RALLY_TEST_POSTGRES` names a server.

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jobs::{Job, JobError, Outcomes, QueueConfig, Runtime, SqlQueue, Store, WorkerOptions};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    n: u32,
    /// Always fails: `Some(true)` permanently, `Some(false)` retryably.
    poison: Option<bool>,
}

impl Job for Item {
    const KIND: &'static str = "test.item";
    const MAX_ATTEMPTS: usize = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("item-{}", self.n))
    }
    fn organization(&self) -> Option<i64> {
        Some(7)
    }
}

fn item(n: u32) -> Item {
    Item { n, poison: None }
}

async fn queue(heartbeat: Duration) -> (SqlQueue, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = support::store::store(dir.path()).await;
    SqlQueue::migrate(&store).await.unwrap();
    let config = QueueConfig {
        poll_interval: Duration::from_millis(20),
        heartbeat,
        missed_heartbeats: 2,
    };
    (SqlQueue::new(store, config), dir)
}

fn options(batch: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency: 1,
        fetch_batch: batch,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        ..WorkerOptions::default()
    }
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats(queue: &SqlQueue) -> jobs::QueueStats {
    queue
        .stats()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.queue == Item::KIND)
        .unwrap_or_default()
}

/// A table the handlers write their effect to, once per job key.
async fn create_effects(store: &Store) {
    let sql = "CREATE TABLE effects (key TEXT PRIMARY KEY, batch BIGINT NOT NULL)";
    match store {
        Store::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap();
}

/// Writes the effect of every job in one transaction (idempotent per key),
/// as an application's batch handler does. Returns how many were new.
async fn apply_effects(store: &Store, batch: i64, jobs: &[Item]) -> u64 {
    let sql = "INSERT INTO effects (key, batch) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    let mut new = 0;
    match store {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            for job in jobs {
                new += sqlx::query(sql)
                    .bind(job.idempotency_key())
                    .bind(batch)
                    .execute(&mut *tx)
                    .await
                    .unwrap()
                    .rows_affected();
            }
            tx.commit().await.unwrap();
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            for job in jobs {
                new += sqlx::query(sql)
                    .bind(job.idempotency_key())
                    .bind(batch)
                    .execute(&mut *tx)
                    .await
                    .unwrap()
                    .rows_affected();
            }
            tx.commit().await.unwrap();
        }
    }
    new
}

async fn count_effects(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM effects";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap()
}

/// Each job's status and attempts, by `n`.
async fn rows(queue: &SqlQueue) -> Vec<(String, String, i64)> {
    let sql = match queue.store() {
        Store::Sqlite(_) => {
            "SELECT idempotency_key, status, CAST(attempts AS BIGINT) FROM Jobs ORDER BY idempotency_key"
        }
        Store::Postgres(_) => {
            "SELECT idempotency_key, status, CAST(attempts AS BIGINT) FROM apalis.jobs ORDER BY idempotency_key"
        }
    };
    match queue.store() {
        Store::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        Store::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
    }
    .unwrap()
}

#[tokio::test]
async fn a_poisoned_job_fails_alone_and_the_rest_of_its_batch_is_done() {
    let (queue, _dir) = queue(Duration::from_secs(5)).await;
    let mut jobs: Vec<Item> = (0..8).map(item).collect();
    jobs[3].poison = Some(false);
    jobs[6].poison = Some(true);
    queue.enqueue_all(&jobs).await;

    let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let seen = batches.clone();
    runtime.spawn_batch(options(16), move |jobs: Vec<Item>| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(jobs.iter().map(|j| j.n).collect());
            jobs.iter()
                .map(|job| match job.poison {
                    None => Ok(()),
                    Some(false) => Err(JobError::retryable(format!("flaky item {}", job.n))),
                    Some(true) => Err(JobError::permanent(format!("bad item {}", job.n))),
                })
                .collect::<Outcomes>()
        }
    });
    wait_for("six done, two dead", async || {
        let s = stats(&queue).await;
        s.done == 6 && s.dead == 2
    })
    .await;
    runtime.shutdown().await;

    let mut batches = batches.lock().unwrap().clone();
    // One claim took the whole backlog.
    batches[0].sort();
    assert_eq!(batches[0], (0..8).collect::<Vec<_>>(), "{batches:?}");
    // After it, only the retried job came back, alone, until its attempts
    // ran out: every other job ran once.
    assert_eq!(batches[1..], [vec![3], vec![3]], "{batches:?}");
    let rows = rows(&queue).await;
    for (key, status, attempts) in &rows {
        let expected = match key.as_str() {
            "item-3" => ("Failed", 3),
            "item-6" => ("Killed", 1),
            _ => ("Done", 1),
        };
        assert_eq!((status.as_str(), *attempts), expected, "{key}: {rows:?}");
    }
    let s = stats(&queue).await;
    assert_eq!((s.running, s.pending, s.retrying), (0, 0, 0), "{s:?}");

    // Dead letters keep their error and organization, like any job's.
    let dead = queue.dead_letters(10).await.unwrap();
    let mut errors: Vec<_> = dead
        .iter()
        .map(|d| (d.error.clone().unwrap_or_default(), d.organization))
        .collect();
    errors.sort();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].0.contains("bad item 6"), "{errors:?}");
    assert!(errors[1].0.contains("flaky item 3"), "{errors:?}");
    assert!(errors.iter().all(|e| e.1 == Some(7)), "{errors:?}");

    // A dead letter retried by an operator runs again, in a batch of its own.
    assert!(queue.retry_dead(&dead[0].id).await.unwrap());
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    runtime.spawn_batch(options(16), move |jobs: Vec<Item>| {
        r.fetch_add(jobs.len(), Ordering::SeqCst);
        async move { jobs.iter().map(|_| Ok(())).collect::<Outcomes>() }
    });
    wait_for("the retried dead letter done", async || {
        stats(&queue).await.done == 7
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn batches_are_at_most_fetch_batch_and_each_job_runs_once() {
    let (queue, _dir) = queue(Duration::from_secs(5)).await;
    let jobs: Vec<Item> = (0..50).map(item).collect();
    queue.enqueue_all(&jobs).await;
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let (s, r) = (sizes.clone(), runs.clone());
    let mut opts = options(8);
    opts.concurrency = 3;
    runtime.spawn_batch(opts, move |jobs: Vec<Item>| {
        s.lock().unwrap().push(jobs.len());
        r.fetch_add(jobs.len(), Ordering::SeqCst);
        async move { jobs.iter().map(|_| Ok(())).collect::<Outcomes>() }
    });
    wait_for("all done", async || stats(&queue).await.done == 50).await;
    runtime.shutdown().await;
    let sizes = sizes.lock().unwrap().clone();
    assert!(sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
    assert!(sizes.len() < 50, "jobs ran in batches: {sizes:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 50);
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing() {
    // Heartbeat 1 s, two missed: a dead worker's claims return after ~2 s.
    let (queue, _dir) = queue(Duration::from_secs(1)).await;
    create_effects(queue.store()).await;
    let jobs: Vec<Item> = (0..30).map(item).collect();
    queue.enqueue_all(&jobs).await;

    // The first worker commits the effects of its first batch, then hangs
    // before its batch is acknowledged, and is killed (its tasks dropped,
    // as a process killed with SIGKILL: no stop, no acknowledgement).
    let committed = Arc::new(AtomicUsize::new(0));
    let mut doomed = Runtime::new(queue.clone(), CancellationToken::new());
    let (store, c) = (queue.store().clone(), committed.clone());
    doomed.spawn_batch(options(20), move |jobs: Vec<Item>| {
        let (store, c) = (store.clone(), c.clone());
        async move {
            apply_effects(&store, 1, &jobs).await;
            c.fetch_add(jobs.len(), Ordering::SeqCst);
            std::future::pending::<Outcomes>().await
        }
    });
    wait_for("the first batch committed", async || {
        committed.load(Ordering::SeqCst) > 0
    })
    .await;
    drop(doomed);
    assert_eq!(committed.load(Ordering::SeqCst), 20);
    assert_eq!(count_effects(queue.store()).await, 20);
    assert_eq!(stats(&queue).await.running, 20);

    // A new worker finds the dead one's claims once its heartbeat has
    // lapsed and runs them again: the effects are not repeated.
    let redone = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let (store, r, s) = (queue.store().clone(), redone.clone(), seen.clone());
    runtime.spawn_batch(options(20), move |jobs: Vec<Item>| {
        let (store, r, s) = (store.clone(), r.clone(), s.clone());
        async move {
            s.fetch_add(jobs.len(), Ordering::SeqCst);
            let new = apply_effects(&store, 2, &jobs).await;
            r.fetch_add(jobs.len() - new as usize, Ordering::SeqCst);
            jobs.iter().map(|_| Ok(())).collect::<Outcomes>()
        }
    });
    wait_for("all done", async || stats(&queue).await.done == 30).await;
    runtime.shutdown().await;

    assert_eq!(count_effects(queue.store()).await, 30);
    // Every job ran exactly once more or for the first time: 20 redelivered
    // (their effects already there), 10 new.
    assert_eq!(seen.load(Ordering::SeqCst), 30);
    assert_eq!(redone.load(Ordering::SeqCst), 20);
    // The lost run counts as an attempt, as apalis counts it.
    let rows = rows(&queue).await;
    let twice = rows.iter().filter(|r| r.2 == 2).count();
    assert_eq!(twice, 20, "{rows:?}");
    assert!(rows.iter().all(|r| r.1 == "Done"), "{rows:?}");
}

#[tokio::test]
async fn a_graceful_stop_finishes_the_batch_in_hand_and_claims_no_more() {
    let (queue, _dir) = queue(Duration::from_secs(5)).await;
    let jobs: Vec<Item> = (0..12).map(item).collect();
    queue.enqueue_all(&jobs).await;
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let (s, f) = (started.clone(), finished.clone());
    runtime.spawn_batch(options(4), move |jobs: Vec<Item>| {
        let (s, f) = (s.clone(), f.clone());
        async move {
            s.fetch_add(jobs.len(), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            f.fetch_add(jobs.len(), Ordering::SeqCst);
            jobs.iter().map(|_| Ok(())).collect::<Outcomes>()
        }
    });
    wait_for("a batch started", async || {
        started.load(Ordering::SeqCst) > 0
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(started.load(Ordering::SeqCst), 4);
    assert_eq!(finished.load(Ordering::SeqCst), 4);
    let s = stats(&queue).await;
    assert_eq!((s.done, s.running, s.pending), (4, 0, 8), "{s:?}");
}

trait EnqueueAll {
    async fn enqueue_all(&self, jobs: &[Item]);
}

impl EnqueueAll for SqlQueue {
    async fn enqueue_all(&self, jobs: &[Item]) {
        match self.store() {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                SqlQueue::enqueue_all_in(jobs::Conn::Sqlite(&mut conn), jobs)
                    .await
                    .unwrap()
            }
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                SqlQueue::enqueue_all_in(jobs::Conn::Postgres(&mut conn), jobs)
                    .await
                    .unwrap()
            }
        }
    }
}
