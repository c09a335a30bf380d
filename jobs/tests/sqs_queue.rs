//! The SQS backend against a real SQS-compatible server (moto): queue
//! creation, batch send through the outbox, delivery, retry with backoff,
//! dead-lettering, the redrive policy, visibility extension, FIFO
//! deduplication and the message size limit.

#[path = "../../tests/support/moto.rs"]
#[allow(dead_code)] // the helpers the app tests use too
mod moto;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use jobs::{
    Job, JobError, Queue, Runtime, SqsBackend, SqsConfig, SqsQueue, Store, WorkerOptions,
    sqs::Outgoing,
};
use moto::Moto;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task {
    n: u32,
    /// Fail this many times (retryable) before succeeding; u32::MAX = always.
    fail_times: u32,
    permanent: bool,
    sleep_ms: u64,
}

impl Job for Task {
    const KIND: &'static str = "test.task";
    const MAX_ATTEMPTS: usize = 3;
    const TIMEOUT: Duration = Duration::from_secs(10);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("task-{}", self.n))
    }
    /// Task n works for organization n + 1.
    fn organization(&self) -> Option<i64> {
        Some(i64::from(self.n) + 1)
    }
}

fn task(n: u32) -> Task {
    Task {
        n,
        fail_times: 0,
        permanent: false,
        sleep_ms: 0,
    }
}

struct Setup {
    queue: Queue,
    sqs: SqsQueue,
    _moto: Moto,
    _dir: tempfile::TempDir,
}

async fn setup(configure: impl FnOnce(&mut SqsConfig)) -> Setup {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("outbox.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let store = Store::from(pool);
    jobs::SqlQueue::migrate(&store).await.unwrap();
    let mut config = SqsConfig {
        prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        wait: Duration::from_secs(1),
        max_receives: 5,
        ..SqsConfig::default()
    };
    configure(&mut config);
    let sqs = SqsQueue::new(moto.client(), config);
    sqs.create_queues(&[Task::KIND]).await.unwrap();
    let queue = Queue::Sqs(SqsBackend {
        sqs: sqs.clone(),
        store,
        kinds: vec![Task::KIND],
    });
    Setup {
        queue,
        sqs,
        _moto: moto,
        _dir: dir,
    }
}

fn options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 4,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(2),
        ..WorkerOptions::default()
    }
}

/// When each job's attempts ran.
type Attempts = Arc<Mutex<Vec<Vec<Instant>>>>;

fn start(queue: &Queue, jobs: usize) -> (Runtime, Attempts) {
    let attempts: Attempts = Arc::new(Mutex::new(vec![Vec::new(); jobs]));
    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    let seen = attempts.clone();
    runtime.spawn(options(), move |job: Task| {
        let seen = seen.clone();
        async move {
            let before = {
                let mut seen = seen.lock().unwrap();
                seen[job.n as usize].push(Instant::now());
                seen[job.n as usize].len() as u32 - 1
            };
            tokio::time::sleep(Duration::from_millis(job.sleep_ms)).await;
            if before < job.fail_times {
                return Err(if job.permanent {
                    JobError::permanent(format!("bad task {}", job.n))
                } else {
                    JobError::retryable(format!("flaky task {}", job.n))
                });
            }
            Ok(())
        }
    });
    (runtime, attempts)
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn runs(attempts: &Attempts) -> Vec<usize> {
    attempts.lock().unwrap().iter().map(Vec::len).collect()
}

#[tokio::test]
async fn outbox_batches_reach_workers_once_each() {
    let s = setup(|_| {}).await;
    let jobs: Vec<Task> = (0..25).map(task).collect();
    // Enqueued like the application does: in its own transaction.
    let Store::Sqlite(pool) = s.queue.store() else {
        unreachable!()
    };
    let mut tx = pool.begin().await.unwrap();
    s.queue
        .enqueue_all_in(jobs::Conn::Sqlite(&mut tx), &jobs)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        s.queue.stats().await.unwrap()[0].pending,
        25,
        "in the outbox"
    );

    let token = CancellationToken::new();
    let relay = tokio::spawn({
        let (queue, token) = (s.queue.clone(), token.clone());
        async move { queue.relay(token).await }
    });
    let (runtime, attempts) = start(&s.queue, 25);
    wait_for("all 25 run", Duration::from_secs(60), async || {
        runs(&attempts).iter().all(|n| *n >= 1)
    })
    .await;
    wait_for("queue empty", Duration::from_secs(30), async || {
        s.queue.unfinished().await.unwrap() == 0
    })
    .await;
    runtime.shutdown().await;
    token.cancel();
    relay.await.unwrap();
    assert!(
        runs(&attempts).iter().all(|n| *n == 1),
        "{:?}",
        runs(&attempts)
    );
    let stats = s.queue.stats().await.unwrap();
    assert_eq!((stats[0].done, stats[0].dead), (25, 0), "{stats:?}");
}

#[tokio::test]
async fn retries_back_off_then_dead_letter_with_the_error() {
    let s = setup(|_| {}).await;
    let jobs = [
        // Fails twice, succeeds on the third attempt.
        Task {
            fail_times: 2,
            ..task(0)
        },
        // Always fails: dead after MAX_ATTEMPTS (3).
        Task {
            fail_times: u32::MAX,
            ..task(1)
        },
        // Permanent: dead at once.
        Task {
            fail_times: u32::MAX,
            permanent: true,
            ..task(2)
        },
    ];
    for job in &jobs {
        s.sqs.send(job).await.unwrap();
    }
    // And a body no worker can decode: dead at once.
    s.sqs
        .send_batch(
            Task::KIND,
            &[Outgoing {
                body: "{not json".into(),
                dedup_key: None,
                organization: None,
            }],
        )
        .await
        .unwrap();
    let (runtime, attempts) = start(&s.queue, 3);
    wait_for("4 dead letters", Duration::from_secs(60), async || {
        s.queue.stats().await.unwrap()[0].dead == 3 && runs(&attempts)[0] == 3
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(runs(&attempts), vec![3, 3, 1]);
    // Backoff: attempts are at least the base delay (1 s, jittered to half)
    // apart, then twice that.
    let times = attempts.lock().unwrap()[0].clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(900),
        "{times:?}"
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(900),
        "{times:?}"
    );

    let dead = s.queue.dead_letters(10).await.unwrap();
    let errors: Vec<String> = dead.iter().filter_map(|d| d.error.clone()).collect();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(
        errors.iter().any(|e| e.contains("flaky task 1")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("bad task 2")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("undecodable")),
        "{errors:?}"
    );
    let failures = s.queue.recent_failures(10).await.unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.error.as_deref().unwrap_or("").contains("flaky task 0")),
        "{failures:?}"
    );

    // The dashboard's actions: discard one, retry another (it runs again).
    let undecodable = dead
        .iter()
        .find(|d| d.error.as_deref().unwrap_or("").contains("undecodable"))
        .unwrap();
    assert!(
        s.queue
            .discard_dead(&undecodable.queue, &undecodable.id)
            .await
            .unwrap()
    );
    let permanent = dead
        .iter()
        .find(|d| d.error.as_deref().unwrap_or("").contains("bad task 2"))
        .unwrap();
    assert!(
        s.queue
            .retry_dead(&permanent.queue, &permanent.id)
            .await
            .unwrap()
    );
    assert!(
        !s.queue
            .discard_dead(Task::KIND, "no-such-id")
            .await
            .unwrap()
    );
    let (runtime, again) = start(&s.queue, 3);
    wait_for(
        "the retried job runs",
        Duration::from_secs(30),
        async || runs(&again)[2] == 1,
    )
    .await;
    runtime.shutdown().await;
}

#[tokio::test]
async fn redrive_policy_dead_letters_after_max_receives() {
    let s = setup(|c| c.max_receives = 2).await;
    s.sqs.send(&task(0)).await.unwrap();
    // Two workers take the message and die without settling it.
    let client = s._moto.client();
    let url = client
        .get_queue_url()
        .queue_name(s.sqs.queue_name(Task::KIND))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while received < 2 && Instant::now() < deadline {
        let out = client
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(1)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received += out.messages().len();
    }
    assert_eq!(received, 2);
    wait_for("redriven to the DLQ", Duration::from_secs(30), async || {
        // A receive past max receives is what moves it.
        let _ = client
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(1)
            .send()
            .await;
        s.sqs.counts(Task::KIND).await.unwrap().dead == 1
    })
    .await;
}

#[tokio::test]
async fn a_long_job_keeps_its_message_hidden() {
    // Visibility 2 s, the job takes 5 s: without the heartbeat another
    // worker would receive it mid-run.
    let s = setup(|c| c.visibility = Duration::from_secs(2)).await;
    s.sqs
        .send(&Task {
            sleep_ms: 5000,
            ..task(0)
        })
        .await
        .unwrap();
    let (first, a) = start(&s.queue, 1);
    let (second, b) = start(&s.queue, 1);
    wait_for("the job finishes", Duration::from_secs(30), async || {
        s.queue.stats().await.unwrap()[0].done == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.shutdown().await;
    second.shutdown().await;
    assert_eq!(runs(&a)[0] + runs(&b)[0], 1, "ran once, on one worker");
}

#[tokio::test]
async fn fifo_queues_deduplicate_by_key() {
    let s = setup(|c| c.fifo = true).await;
    assert!(s.sqs.queue_name(Task::KIND).ends_with(".fifo"));
    for _ in 0..3 {
        s.sqs.send(&task(0)).await.unwrap();
    }
    s.sqs.send(&task(1)).await.unwrap();
    let (runtime, attempts) = start(&s.queue, 2);
    wait_for("both run", Duration::from_secs(30), async || {
        runs(&attempts) == vec![1, 1]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    runtime.shutdown().await;
    assert_eq!(runs(&attempts), vec![1, 1]);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Big {
    blob: String,
}

impl Job for Big {
    const KIND: &'static str = "test.task";
}

#[tokio::test]
async fn oversized_messages_are_refused_with_a_clear_error() {
    let s = setup(|_| {}).await;
    let big = Big {
        blob: "x".repeat(300 * 1024),
    };
    let err = s.queue.enqueue(&big).await.unwrap_err().to_string();
    assert!(err.contains("over SQS's message size limit"), "{err}");
    assert_eq!(s.queue.stats().await.unwrap()[0].pending, 0);
}

#[tokio::test]
async fn creating_queues_again_is_harmless() {
    let s = setup(|_| {}).await;
    let names = s.sqs.create_queues(&[Task::KIND]).await.unwrap();
    assert_eq!(
        names,
        vec![
            s.sqs.queue_name(Task::KIND),
            s.sqs.dead_letter_name(Task::KIND)
        ]
    );
    s.sqs.send(&task(7)).await.unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let mut runtime = Runtime::new(s.queue.clone(), CancellationToken::new());
    let c = counter.clone();
    runtime.spawn(options(), move |_job: Task| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    wait_for("delivered", Duration::from_secs(30), async || {
        counter.load(Ordering::SeqCst) == 1
    })
    .await;
    runtime.shutdown().await;
}

/// On SQS a failed attempt hides its message for the backoff and frees its
/// slot: four always-failing jobs (long backoff) do not keep an honest one
/// waiting with four slots. Failures carry their organization and payload.
#[tokio::test]
async fn a_job_waiting_to_retry_holds_no_worker_slot() {
    let s = setup(|_| {}).await;
    for n in 0..4 {
        s.sqs
            .send(&Task {
                fail_times: u32::MAX,
                ..task(n)
            })
            .await
            .unwrap();
    }
    s.sqs.send(&task(4)).await.unwrap();
    let ran = Arc::new(Mutex::new(None::<Instant>));
    let started = Instant::now();
    let mut runtime = Runtime::new(s.queue.clone(), CancellationToken::new());
    {
        let ran = ran.clone();
        runtime.spawn(
            WorkerOptions {
                concurrency: 4,
                backoff_base: Duration::from_secs(60),
                backoff_max: Duration::from_secs(120),
                ..WorkerOptions::default()
            },
            move |job: Task| {
                let ran = ran.clone();
                async move {
                    if job.fail_times > 0 {
                        return Err(JobError::retryable(format!("flaky task {}", job.n)));
                    }
                    *ran.lock().unwrap() = Some(Instant::now());
                    Ok(())
                }
            },
        );
    }
    wait_for("the honest job", Duration::from_secs(10), async || {
        ran.lock().unwrap().is_some()
    })
    .await;
    let honest = ran.lock().unwrap().unwrap() - started;
    assert!(honest < Duration::from_secs(3), "waited {honest:?}");
    wait_for("4 failures recorded", Duration::from_secs(10), async || {
        s.queue.recent_failures(10).await.unwrap().len() == 4
    })
    .await;
    let own = s
        .queue
        .recent_failures_of(jobs::Tenant::Organization(2), 10)
        .await
        .unwrap();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0].organization, Some(2));
    assert!(own[0].payload.contains("\"n\":1"), "{own:?}");
    runtime.shutdown().await;
}

/// A second kind, for counts per kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Note {
    n: u32,
}

impl Job for Note {
    const KIND: &'static str = "test.note";
}

#[tokio::test]
async fn jobs_waiting_in_the_outbox_count_under_their_own_kind() {
    let setup = setup(|_| {}).await;
    setup.sqs.create_queues(&[Note::KIND]).await.unwrap();
    let Queue::Sqs(backend) = &setup.queue else {
        unreachable!()
    };
    // Task first: the kind the outbox used to be counted under.
    let queue = Queue::Sqs(SqsBackend {
        kinds: vec![Task::KIND, Note::KIND],
        ..backend.clone()
    });
    // No relay runs: the jobs stay in the outbox.
    for n in 0..3 {
        queue.enqueue(&Note { n }).await.unwrap();
    }
    queue.enqueue(&task(1)).await.unwrap();
    let stats = queue.stats().await.unwrap();
    let pending = |kind: &str| stats.iter().find(|s| s.queue == kind).unwrap().pending;
    assert_eq!(pending(Note::KIND), 3, "{stats:?}");
    assert_eq!(pending(Task::KIND), 1, "{stats:?}");
    let oldest = |kind: &str| {
        stats
            .iter()
            .find(|s| s.queue == kind)
            .unwrap()
            .oldest_pending_secs
    };
    assert!(oldest(Note::KIND).is_some(), "{stats:?}");
}

#[tokio::test]
async fn an_inbound_event_accepted_ten_times_at_once_is_one_row_and_one_message() {
    let setup = setup(|_| {}).await;
    setup
        .sqs
        .create_queues(&[jobs::InboundEvent::KIND])
        .await
        .unwrap();
    let mut accepting = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let queue = setup.queue.clone();
        accepting.spawn(async move {
            jobs::inbox::accept(&queue, "wistia", "evt_sqs", &[], b"{}").await
        });
    }
    let mut new = 0;
    while let Some(accepted) = accepting.join_next().await {
        new += usize::from(accepted.unwrap().unwrap());
    }
    assert_eq!(new, 1);
    let Store::Sqlite(pool) = setup.queue.store() else {
        unreachable!()
    };
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs_inbox")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
    // The processing job waits in the outbox for the relay, as any job.
    let waiting: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs_outbox WHERE kind = 'jobs.inbound_event'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(waiting, 1);
    // Relayed, it is one message in its SQS queue.
    let token = CancellationToken::new();
    let relay = tokio::spawn({
        let (queue, token) = (setup.queue.clone(), token.clone());
        async move { queue.relay(token).await }
    });
    wait_for("the relay", Duration::from_secs(10), async || {
        let counts = setup.sqs.counts(jobs::InboundEvent::KIND).await.unwrap();
        counts.visible + counts.in_flight == 1
    })
    .await;
    token.cancel();
    relay.await.unwrap();
}
