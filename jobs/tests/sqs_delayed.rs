//! Delayed jobs and schedules on SQS, against a real SQS-compatible server
//! (moto), the outbox and held jobs in a SQLite file (or a fresh Postgres
//! database when `RALLY_TEST_POSTGRES` names a server). SQS's longest delay
//! is configured down to 2 s so that "longer than SQS can hold" takes
//! seconds, not a quarter of an hour.

mod support;

#[path = "../../tests/support/moto.rs"]
#[allow(dead_code)] // the helpers the app tests use too
mod moto;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use jobs::{
    Conn, Job, Queue, Runtime, Schedule, SqsBackend, SqsConfig, SqsQueue, Store, WorkerOptions,
};
use moto::Moto;
use tokio_util::sync::CancellationToken;

use support::kinds::{Later, Tick};

struct Setup {
    queue: Queue,
    _moto: Moto,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    // The outbox and held jobs on Postgres when it is given (claimed with
    // SKIP LOCKED), else in a SQLite file.
    let store = support::store::store(dir.path()).await;
    jobs::SqlQueue::migrate(&store).await.unwrap();
    let config = SqsConfig {
        prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        wait: Duration::from_secs(1),
        max_delay: Duration::from_secs(2),
        ..SqsConfig::default()
    };
    let sqs = SqsQueue::new(moto.client(), config);
    sqs.create_queues(&[Later::KIND, Tick::KIND]).await.unwrap();
    let queue = Queue::Sqs(SqsBackend {
        sqs,
        store,
        kinds: vec![Later::KIND, Tick::KIND],
    });
    Setup {
        queue,
        _moto: moto,
        _dir: dir,
    }
}

type Runs = Arc<Mutex<Vec<(usize, Instant)>>>;

/// moto's long poll looks again for messages that have become visible
/// only once a second (`wait_for_messages(1)` in its receive loop; a new
/// message wakes it at once, a delayed one coming due does not), where SQS
/// answers a long poll as soon as a message is visible. Added to the upper
/// bound of each delayed job's run on this server.
const MOTO_RECHECK: Duration = Duration::from_secs(1);

/// A process: the relay (every process runs it on SQS) and a worker.
struct Process {
    runtime: Runtime,
    relay: tokio::task::JoinHandle<()>,
    token: CancellationToken,
}

impl Process {
    fn start(queue: &Queue, runs: &Runs) -> Self {
        let token = CancellationToken::new();
        let relay = tokio::spawn({
            let (queue, token) = (queue.clone(), token.clone());
            async move { queue.relay(token).await }
        });
        let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
        let runs = runs.clone();
        runtime.spawn(WorkerOptions::default(), move |job: Later| {
            let runs = runs.clone();
            async move {
                runs.lock().unwrap().push((job.n, Instant::now()));
                Ok(())
            }
        });
        Self {
            runtime,
            relay,
            token,
        }
    }

    async fn stop(self) {
        self.runtime.shutdown().await;
        self.token.cancel();
        self.relay.await.unwrap();
    }
}

async fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ran_within(runs: &Runs, enqueued: Instant, from: Duration, to: Duration) {
    let runs = runs.lock().unwrap();
    for (n, at) in runs.iter() {
        let after = *at - enqueued;
        assert!(
            after >= from && after <= to,
            "job {n} ran {after:?} after it was enqueued (expected {from:?}..={to:?})"
        );
    }
}

/// After the one job ran: a moment more for a second run to show, then
/// the process stops; the job ran once, `due` after it was enqueued (within
/// a second and moto's recheck).
async fn ran_once_when_due(process: Process, runs: &Runs, enqueued: Instant, due: Duration) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    process.stop().await;
    assert_eq!(runs.lock().unwrap().len(), 1);
    ran_within(
        runs,
        enqueued,
        due,
        due + Duration::from_secs(1) + MOTO_RECHECK,
    );
}

async fn held(queue: &Queue) -> i64 {
    jobs::delay::held(queue.store())
        .await
        .unwrap()
        .iter()
        .map(|h| h.1)
        .sum()
}

#[tokio::test]
async fn on_sqs_a_job_due_in_2s_runs_between_2s_and_3s_plus_motos_recheck() {
    let s = setup().await;
    let runs: Runs = Default::default();
    let process = Process::start(&s.queue, &runs);
    let enqueued = Instant::now();
    s.queue
        .enqueue_in(&Later { n: 0 }, Duration::from_secs(2))
        .await
        .unwrap();
    // And one in the caller's transaction.
    let later = [Later { n: 1 }];
    let two = Duration::from_secs(2);
    match s.queue.store() {
        Store::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            s.queue
                .enqueue_all_in_after(Conn::Sqlite(&mut tx), &later, two)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            s.queue
                .enqueue_all_in_after(Conn::Postgres(&mut tx), &later, two)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    wait_for("both run", Duration::from_secs(8), || {
        runs.lock().unwrap().len() == 2
    })
    .await;
    process.stop().await;
    ran_within(
        &runs,
        enqueued,
        Duration::from_secs(2),
        Duration::from_secs(3) + MOTO_RECHECK,
    );
}

#[tokio::test]
async fn on_sqs_a_delay_longer_than_sqs_holds_is_honoured() {
    // SQS holds a message 2 s at most here; the job is due in 5 s.
    let s = setup().await;
    let runs: Runs = Default::default();
    let process = Process::start(&s.queue, &runs);
    let enqueued = Instant::now();
    s.queue
        .enqueue_in(&Later { n: 0 }, Duration::from_secs(5))
        .await
        .unwrap();
    // Held in the database until it is due within SQS's delay, and
    // counted as waiting meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(held(&s.queue).await, 1);
    let stats = s.queue.stats().await.unwrap();
    let later = stats.iter().find(|q| q.queue == Later::KIND).unwrap();
    assert_eq!(later.pending, 1, "{stats:?}");
    wait_for("the job runs", Duration::from_secs(10), || {
        !runs.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(held(&s.queue).await, 0);
    ran_once_when_due(process, &runs, enqueued, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn on_sqs_a_delayed_job_survives_a_restart() {
    let s = setup().await;
    let runs: Runs = Default::default();
    let enqueued = Instant::now();
    s.queue
        .enqueue_at(&Later { n: 0 }, SystemTime::now() + Duration::from_secs(4))
        .await
        .unwrap();
    // A process runs for a second and stops before the job is due.
    let process = Process::start(&s.queue, &runs);
    tokio::time::sleep(Duration::from_secs(1)).await;
    process.stop().await;
    assert!(runs.lock().unwrap().is_empty(), "ran before its time");
    // The next one runs it, once, at its time.
    let process = Process::start(&s.queue, &runs);
    wait_for("the job runs", Duration::from_secs(10), || {
        !runs.lock().unwrap().is_empty()
    })
    .await;
    ran_once_when_due(process, &runs, enqueued, Duration::from_secs(4)).await;
}

#[tokio::test]
async fn on_sqs_two_runtimes_and_one_schedule_give_one_run_per_tick() {
    let s = setup().await;
    let ticks: Arc<Mutex<Vec<i64>>> = Default::default();
    let token = CancellationToken::new();
    let relay = tokio::spawn({
        let (queue, token) = (s.queue.clone(), token.clone());
        async move { queue.relay(token).await }
    });
    let mut runtimes = Vec::new();
    for _ in 0..2 {
        let mut runtime = Runtime::new(s.queue.clone(), CancellationToken::new());
        let seen = ticks.clone();
        runtime.spawn(WorkerOptions::default(), move |job: Tick| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(job.at);
                Ok(())
            }
        });
        runtime.schedule(vec![
            Schedule::new("every-second", "* * * * * *", "UTC", |tick| Tick {
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
    token.cancel();
    relay.await.unwrap();
    let mut ticks = ticks.lock().unwrap().clone();
    ticks.sort();
    let mut distinct = ticks.clone();
    distinct.dedup();
    assert_eq!(distinct, ticks, "a tick ran twice");
    assert!(ticks.len() >= 3, "too few ticks: {ticks:?}");
}
