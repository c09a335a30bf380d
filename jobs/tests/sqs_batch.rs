//! Batched handlers on SQS (against moto's server): one receive of up to
//! ten hands the handler many jobs; the done ones are deleted together,
//! a poisoned one is retried then dead-lettered alone; a worker that dies
//! mid-batch has its messages delivered again, and an idempotent handler
//! repeats nothing.

#[path = "../../tests/support/moto.rs"]
#[allow(dead_code)] // the helpers the app tests use too
mod moto;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jobs::{
    Job, JobError, Outcomes, Queue, Runtime, SqsBackend, SqsConfig, SqsQueue, Store, WorkerOptions,
    sqs::Outgoing,
};
use moto::Moto;
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
    // Visibility: this plus 10 s, capped by the config's (3 s below).
    const TIMEOUT: Duration = Duration::from_secs(2);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("item-{}", self.n))
    }
}

struct Setup {
    queue: Queue,
    sqs: SqsQueue,
    _moto: Moto,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
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
    let config = SqsConfig {
        prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        wait: Duration::from_secs(1),
        visibility: Duration::from_secs(3),
        max_receives: 5,
        ..SqsConfig::default()
    };
    let sqs = SqsQueue::new(moto.client(), config);
    sqs.create_queues(&[Item::KIND]).await.unwrap();
    let queue = Queue::Sqs(SqsBackend {
        sqs: sqs.clone(),
        store,
        kinds: vec![Item::KIND],
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
        concurrency: 1,
        fetch_batch: 10,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(1),
        ..WorkerOptions::default()
    }
}

async fn send(sqs: &SqsQueue, items: &[Item]) {
    let messages: Vec<_> = items
        .iter()
        .map(|item| Outgoing {
            body: serde_json::to_string(item).unwrap(),
            dedup_key: item.idempotency_key(),
            organization: None,
        })
        .collect();
    let sent = sqs.send_batch(Item::KIND, &messages).await.unwrap();
    assert!(sent.iter().all(|ok| *ok));
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn item(n: u32) -> Item {
    Item { n, poison: None }
}

#[tokio::test]
async fn a_poisoned_message_fails_alone_and_the_rest_of_its_batch_is_deleted() {
    let s = setup().await;
    let mut items: Vec<Item> = (0..8).map(item).collect();
    items[3].poison = Some(false);
    items[6].poison = Some(true);
    send(&s.sqs, &items).await;

    let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
    let mut runtime = Runtime::new(s.queue.clone(), CancellationToken::new());
    let seen = batches.clone();
    runtime.spawn_batch(options(), move |jobs: Vec<Item>| {
        seen.lock()
            .unwrap()
            .push(jobs.iter().map(|j| j.n).collect());
        async move {
            jobs.iter()
                .map(|job| match job.poison {
                    None => Ok(()),
                    Some(false) => Err(JobError::retryable(format!("flaky item {}", job.n))),
                    Some(true) => Err(JobError::permanent(format!("bad item {}", job.n))),
                })
                .collect::<Outcomes>()
        }
    });
    wait_for("two dead letters", Duration::from_secs(60), async || {
        s.sqs.dead_letters(Item::KIND, 10).await.unwrap().len() == 2
    })
    .await;
    wait_for("nothing left", Duration::from_secs(30), async || {
        s.queue.unfinished().await.unwrap() == 0
    })
    .await;
    runtime.shutdown().await;

    let batches = batches.lock().unwrap().clone();
    let runs = |n: u32| batches.iter().flatten().filter(|&&m| m == n).count();
    // Every good job ran once (its batch's failures did not bring it
    // back); the retryable one ran out of its three attempts; the
    // permanent one ran once.
    for n in 0..8 {
        let expected = match n {
            3 => 3,
            _ => 1,
        };
        assert_eq!(runs(n), expected, "item {n}: {batches:?}");
    }
    assert!(
        batches.iter().any(|b| b.len() > 1),
        "jobs ran in batches: {batches:?}"
    );
    let mut dead: Vec<_> = s
        .sqs
        .dead_letters(Item::KIND, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.error.unwrap_or_default())
        .collect();
    dead.sort();
    assert!(dead[0].contains("bad item 6"), "{dead:?}");
    assert!(dead[1].contains("flaky item 3"), "{dead:?}");
    let stats = s.queue.stats().await.unwrap();
    assert_eq!((stats[0].done, stats[0].dead), (6, 2), "{stats:?}");
}

#[tokio::test]
async fn a_worker_killed_mid_batch_has_its_messages_redelivered_without_duplicates() {
    let s = setup().await;
    let items: Vec<Item> = (0..10).map(item).collect();
    send(&s.sqs, &items).await;

    // The effects, idempotent per key, as an application's table is.
    let effects: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let applied: Arc<Mutex<Vec<u32>>> = Arc::default();
    let mut doomed = Runtime::new(s.queue.clone(), CancellationToken::new());
    let (e, a) = (effects.clone(), applied.clone());
    doomed.spawn_batch(options(), move |jobs: Vec<Item>| {
        for job in &jobs {
            e.lock().unwrap().insert(job.n);
            a.lock().unwrap().push(job.n);
        }
        // Killed before it could answer.
        std::future::pending::<Outcomes>()
    });
    wait_for("a batch applied", Duration::from_secs(30), async || {
        !applied.lock().unwrap().is_empty()
    })
    .await;
    drop(doomed);
    let first = applied.lock().unwrap().len();

    let repeated: Arc<Mutex<Vec<u32>>> = Arc::default();
    let mut runtime = Runtime::new(s.queue.clone(), CancellationToken::new());
    let (e, r) = (effects.clone(), repeated.clone());
    runtime.spawn_batch(options(), move |jobs: Vec<Item>| {
        for job in &jobs {
            if !e.lock().unwrap().insert(job.n) {
                r.lock().unwrap().push(job.n);
            }
        }
        async move { jobs.iter().map(|_| Ok(())).collect::<Outcomes>() }
    });
    wait_for("all applied", Duration::from_secs(60), async || {
        effects.lock().unwrap().len() == 10 && repeated.lock().unwrap().len() == first
    })
    .await;
    wait_for("nothing left", Duration::from_secs(30), async || {
        s.queue.unfinished().await.unwrap() == 0
    })
    .await;
    runtime.shutdown().await;
    // The killed batch came back whole once its visibility lapsed; the
    // effects stayed one per job.
    let mut repeated = repeated.lock().unwrap().clone();
    repeated.sort();
    let mut first_batch = applied.lock().unwrap().clone();
    first_batch.sort();
    assert_eq!(repeated, first_batch);
    assert_eq!(effects.lock().unwrap().len(), 10);
}
