//! Workers are woken when jobs arrive, not when they next poll: in this
//! process (enqueue, the outbox relay) and, on Postgres, from any process
//! (LISTEN/NOTIFY). Every test here polls only every 30 s and heart-beats
//! as rarely, and its watchdog would wait a minute, so a job taken within
//! a second was taken because something woke its worker. On a SQLite file
//! by default; on a fresh Postgres database when `RALLY_TEST_POSTGRES`
//! names a server.

mod support;

use std::time::{Duration, Instant};

use jobs::{Conn, Job, JobError, Queue, QueueConfig, Runtime, SqlQueue, Store, WorkerOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A job numbered `n`; each test has a kind of its own, so that no test's
/// enqueue wakes another's worker (signals are per process and kind).
trait Numbered: Job {
    fn n(&self) -> u32;
}

macro_rules! numbered {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        struct $name {
            n: u32,
        }

        impl Job for $name {
            const KIND: &'static str = $kind;
            fn idempotency_key(&self) -> Option<String> {
                Some(format!("wave-{}", self.n))
            }
        }

        impl Numbered for $name {
            fn n(&self) -> u32 {
                self.n
            }
        }
    };
}

numbered!(Near, "test.wave.near");
numbered!(Far, "test.wave.far");
numbered!(Drip, "test.wave.drip");
numbered!(Flock, "test.wave.flock");

const SLOW_POLL: Duration = Duration::from_secs(30);
/// Well under the poll interval, and generous for a loaded test machine.
const PROMPT: Duration = Duration::from_secs(2);

fn config() -> QueueConfig {
    QueueConfig {
        poll_interval: SLOW_POLL,
        heartbeat: SLOW_POLL,
        missed_heartbeats: 3,
    }
}

/// A queue polled every 30 s, and a runtime working it that reports each
/// job it handles (and when).
async fn setup<J: Numbered>() -> (
    SqlQueue,
    Runtime,
    mpsc::UnboundedReceiver<(u32, Instant)>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = support::store::store(dir.path()).await;
    SqlQueue::migrate(&store).await.unwrap();
    let queue = SqlQueue::new(store, config());
    let (handled, seen) = mpsc::unbounded_channel();
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    runtime.spawn(
        WorkerOptions {
            concurrency: 2,
            fetch_batch: 8,
            stall_after: Duration::from_secs(60),
            ..WorkerOptions::default()
        },
        move |job: J| {
            let handled = handled.clone();
            async move {
                let _ = handled.send((job.n(), Instant::now()));
                Ok::<(), JobError>(())
            }
        },
    );
    // Let the worker register and make its first (empty) fetch: from then
    // on only a wake-up (or the 30 s poll) makes it look again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    (queue, runtime, seen, dir)
}

/// A second pool on the same database, as another process would have.
async fn other_process(store: &Store) -> Store {
    match store {
        Store::Sqlite(pool) => sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap()
            .into(),
        // Two: a test's listener (`PgListener::connect_with`) keeps one.
        Store::Postgres(pool) => sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap()
            .into(),
    }
}

async fn taken(seen: &mut mpsc::UnboundedReceiver<(u32, Instant)>, n: u32) -> Instant {
    let (got, at) = tokio::time::timeout(PROMPT * 5, seen.recv())
        .await
        .unwrap_or_else(|_| panic!("job {n} was not taken within {:?}", PROMPT * 5))
        .unwrap();
    assert_eq!(got, n);
    at
}

#[tokio::test]
/// Enqueued in this process: on its own, or on the caller's transaction
/// (the intake writer's way), the job is taken at once.
async fn a_job_enqueued_in_this_process_wakes_its_worker() {
    let (queue, runtime, mut seen, _dir) = setup::<Near>().await;
    let started = Instant::now();
    queue.enqueue(&Near { n: 1 }).await.unwrap();
    let waited = taken(&mut seen, 1).await - started;
    assert!(waited < PROMPT, "taken after {waited:?}");

    // Through the queue's one handle, on a transaction: to the outbox on
    // SQLite (the relay is woken, moves it, and wakes the worker), to the
    // job table on Postgres (announced when the transaction commits).
    let handle = Queue::Sql(queue.clone());
    let committed = match queue.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            handle
                .enqueue_all_in(Conn::Sqlite(&mut tx), &[Near { n: 2 }])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            Instant::now()
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            handle
                .enqueue_all_in(Conn::Postgres(&mut tx), &[Near { n: 2 }])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            Instant::now()
        }
    };
    let waited = taken(&mut seen, 2)
        .await
        .saturating_duration_since(committed);
    assert!(waited < PROMPT, "taken {waited:?} after the commit");
    assert_eq!(restarts(Near::KIND), 0, "no watchdog restart");
    runtime.shutdown().await;
}

#[tokio::test]
/// Committed by another process, which cannot poke this one: on Postgres
/// its insert's notification wakes the worker; on SQLite the relay's
/// 20 ms look at the outbox finds the job and wakes the worker.
async fn a_job_committed_by_another_process_is_taken_promptly() {
    let (queue, runtime, mut seen, _dir) = setup::<Far>().await;
    let other = other_process(queue.store()).await;
    for n in 1..=3u32 {
        let payload = serde_json::to_string(&Far { n }).unwrap();
        let key = format!("wave-{n}");
        // Written with SQL, as another process's enqueue writes it: an
        // enqueue through this crate would also poke this process.
        let committed = match &other {
            Store::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO jobs_outbox (kind, body, dedup_key, created_at, job_id, max_attempts)
                     VALUES ($1, $2, $3, CAST(strftime('%s','now') AS INTEGER) * 1000, $4, 3)",
                )
                .bind(Far::KIND)
                .bind(payload)
                .bind(key)
                .bind(ulid())
                .execute(pool)
                .await
                .unwrap();
                Instant::now()
            }
            Store::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
                     VALUES ($1, $2, convert_to($3, 'UTF8'), 'Pending', 0, 3, now(), 0, $4)",
                )
                .bind(ulid())
                .bind(Far::KIND)
                .bind(payload)
                .bind(key)
                .execute(pool)
                .await
                .unwrap();
                Instant::now()
            }
        };
        let waited = taken(&mut seen, n)
            .await
            .saturating_duration_since(committed);
        assert!(
            waited < PROMPT,
            "job {n} taken {waited:?} after another process committed it"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(restarts(Far::KIND), 0, "no watchdog restart");
    runtime.shutdown().await;
}

#[tokio::test]
/// A trickle: one job every 100 ms, each committed on a transaction as
/// intake does, each taken promptly after its commit, none left to the
/// poll or the watchdog.
async fn a_trickle_is_taken_as_it_comes() {
    let (queue, runtime, mut seen, _dir) = setup::<Drip>().await;
    let handle = Queue::Sql(queue.clone());
    let mut waits = Vec::new();
    for n in 1..=20u32 {
        let committed = match queue.store() {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await.unwrap();
                handle
                    .enqueue_all_in(Conn::Sqlite(&mut tx), &[Drip { n }])
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                Instant::now()
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                handle
                    .enqueue_all_in(Conn::Postgres(&mut tx), &[Drip { n }])
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                Instant::now()
            }
        };
        waits.push(
            taken(&mut seen, n)
                .await
                .saturating_duration_since(committed),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    waits.sort();
    let worst = *waits.last().unwrap();
    assert!(
        worst < PROMPT,
        "slowest of the trickle: {worst:?} ({waits:?})"
    );
    assert_eq!(restarts(Drip::KIND), 0, "no watchdog restart");
    runtime.shutdown().await;
}

#[tokio::test]
/// Many jobs in one statement from another process (intake's way: one
/// `unnest()` insert per batch): every one is taken promptly, from one
/// wake-up. On Postgres the insert is announced once for its kind, not
/// once per row, and jobs not yet due are not announced at all.
async fn jobs_inserted_in_one_statement_wake_once_and_are_all_taken() {
    const N: u32 = 200;
    let (queue, runtime, mut seen, _dir) = setup::<Flock>().await;
    let other = other_process(queue.store()).await;
    let payloads: Vec<String> = (1..=N)
        .map(|n| serde_json::to_string(&Flock { n }).unwrap())
        .collect();
    let keys: Vec<String> = (1..=N).map(|n| format!("wave-{n}")).collect();
    let ids: Vec<String> = (1..=N).map(|_| ulid()).collect();
    let mut notes = None;
    let committed = match &other {
        Store::Sqlite(pool) => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO jobs_outbox (kind, body, dedup_key, created_at, job_id, max_attempts) ",
            );
            insert.push_values(
                payloads.iter().zip(&keys).zip(&ids),
                |mut row, ((payload, key), id)| {
                    row.push_bind(Flock::KIND)
                        .push_bind(payload)
                        .push_bind(key)
                        .push("CAST(strftime('%s','now') AS INTEGER) * 1000")
                        .push_bind(id)
                        .push("3");
                },
            );
            insert.build().execute(pool).await.unwrap();
            Instant::now()
        }
        Store::Postgres(pool) => {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool)
                .await
                .unwrap();
            listener.listen("apalis::job::insert").await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            // Not due for an hour: stored, not announced.
            sqlx::query(
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
                 SELECT id, $1, convert_to(job, 'UTF8'), 'Pending', 0, 3, now() + interval '1 hour', 0, 'later-' || key
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(id, job, key)",
            )
            .bind(Flock::KIND)
            .bind(ids[..3].iter().map(|_| ulid()).collect::<Vec<_>>())
            .bind(&payloads[..3])
            .bind(&keys[..3])
            .execute(&mut *tx)
            .await
            .unwrap();
            let inserted = sqlx::query(
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)
                 SELECT id, $1, convert_to(job, 'UTF8'), 'Pending', 0, 3, now(), 0, key
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(id, job, key)",
            )
            .bind(Flock::KIND)
            .bind(&ids)
            .bind(&payloads)
            .bind(&keys)
            .execute(&mut *tx)
            .await
            .unwrap();
            assert_eq!(inserted.rows_affected(), u64::from(N));
            tx.commit().await.unwrap();
            notes = Some(listener);
            Instant::now()
        }
    };
    let mut taken_at = Vec::new();
    for _ in 0..N {
        let (n, at) = tokio::time::timeout(PROMPT * 5, seen.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {N} jobs taken", taken_at.len()))
            .unwrap();
        taken_at.push((n, at));
    }
    let mut numbers: Vec<u32> = taken_at.iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=N).collect::<Vec<_>>(), "each job taken once");
    let first = taken_at
        .iter()
        .map(|(_, at)| at.saturating_duration_since(committed))
        .min()
        .unwrap();
    assert!(first < PROMPT, "first job taken {first:?} after the commit");
    if let Some(mut listener) = notes {
        let mut payloads = Vec::new();
        while let Ok(note) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await
        {
            let payload: serde_json::Value = serde_json::from_str(note.unwrap().payload()).unwrap();
            payloads.push(payload["job_type"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(
            payloads,
            vec![Flock::KIND.to_string()],
            "one notification for the statement's {N} due jobs, none for the later ones"
        );
    }
    assert_eq!(restarts(Flock::KIND), 0, "no watchdog restart");
    runtime.shutdown().await;
}

fn restarts(of: &str) -> u64 {
    jobs::worker_restarts()
        .into_iter()
        .filter(|(kind, _)| *kind == of)
        .map(|(_, n)| n)
        .sum()
}

fn ulid() -> String {
    ulid::Ulid::generate().to_string()
}
