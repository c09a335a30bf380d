//! The webhook inbox and the job registry against a real database (SQLite
//! file by default, Postgres when `RALLY_TEST_POSTGRES` is set).

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use jobs::{
    InboundEvent, InboxError, Job, JobError, Queue, QueueConfig, Registry, Runtime, SqlQueue,
    Store, WorkerOptions,
    inbox::{self, Status},
};
use tokio_util::sync::CancellationToken;

async fn queue(dir: &std::path::Path) -> Queue {
    let store = support::store::store(dir).await;
    SqlQueue::migrate(&store).await.unwrap();
    Queue::Sql(SqlQueue::new(
        store,
        QueueConfig {
            poll_interval: Duration::from_millis(20),
            ..QueueConfig::default()
        },
    ))
}

async fn rows(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

/// Jobs of the inbox's kind waiting anywhere (the outbox or the job table).
async fn inbox_jobs(queue: &Queue) -> i64 {
    queue
        .stats()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.queue == InboundEvent::KIND)
        .map(|s| s.pending + s.running + s.done + s.retrying + s.dead)
        .sum()
}

fn headers() -> Vec<(String, String)> {
    vec![
        ("Stripe-Signature".to_string(), "t=1,v1=abc".to_string()),
        ("Content-Type".to_string(), "application/json".to_string()),
    ]
}

#[tokio::test]
async fn the_same_event_accepted_ten_times_at_once_is_one_row_and_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let mut accepting = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let queue = queue.clone();
        accepting.spawn(async move {
            inbox::accept(&queue, "stripe", "evt_1", &headers(), b"{\"id\":\"evt_1\"}").await
        });
    }
    let mut new = 0;
    while let Some(accepted) = accepting.join_next().await {
        if accepted.unwrap().unwrap() {
            new += 1;
        }
    }
    assert_eq!(new, 1, "exactly one delivery is new");
    assert_eq!(
        rows(queue.store(), "SELECT COUNT(*) FROM jobs_inbox").await,
        1
    );
    assert_eq!(inbox_jobs(&queue).await, 1);

    // The same id from another provider is another event.
    assert!(
        inbox::accept(&queue, "mailgun", "evt_1", &[], b"x")
            .await
            .unwrap()
    );
    assert_eq!(
        rows(queue.store(), "SELECT COUNT(*) FROM jobs_inbox").await,
        2
    );
    assert_eq!(inbox_jobs(&queue).await, 2);
}

#[tokio::test]
async fn a_bad_provider_or_event_id_is_refused_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    for (provider, event) in [
        ("", "evt"),
        ("stripe", ""),
        ("stripe", &"e".repeat(256)[..]),
        (&"p".repeat(65)[..], "evt"),
    ] {
        assert!(matches!(
            inbox::accept(&queue, provider, event, &[], b"{}").await,
            Err(InboxError::Invalid(_))
        ));
    }
    assert_eq!(
        rows(queue.store(), "SELECT COUNT(*) FROM jobs_inbox").await,
        0
    );
    assert_eq!(inbox_jobs(&queue).await, 0);
}

/// What the handler saw: (event id, body, headers) per run.
type Seen = Arc<std::sync::Mutex<Vec<(String, Vec<u8>, Vec<(String, String)>)>>>;

#[derive(Clone)]
struct Ctx {
    store: Store,
    runs: Arc<AtomicUsize>,
    seen: Seen,
}

/// Events of provider "flaky" fail once, "broken" always (permanently),
/// others succeed.
fn registry() -> Registry<Ctx> {
    Registry::new().register(
        WorkerOptions {
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_millis(200),
            ..WorkerOptions::default()
        },
        |ctx: Ctx, job: InboundEvent| async move {
            let store = ctx.store.clone();
            inbox::process(&store, job, |event| async move {
                ctx.runs.fetch_add(1, Ordering::SeqCst);
                ctx.seen.lock().unwrap().push((
                    event.event_id.clone(),
                    event.body.clone(),
                    event.headers.clone(),
                ));
                match event.provider.as_str() {
                    "flaky" if event.attempt == 1 => Err(JobError::retryable("provider API busy")),
                    "broken" => Err(JobError::permanent("unknown event type")),
                    _ => Ok(()),
                }
            })
            .await
        },
    )
}

async fn wait_for(queue: &Queue, what: impl Fn(&[inbox::Entry]) -> bool) -> Vec<inbox::Entry> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = inbox::events(queue.store(), None, 100).await.unwrap();
        if what(&events) || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn inbound_events_are_processed_and_their_outcomes_shown() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let ctx = Ctx {
        store: queue.store().clone(),
        runs: Arc::default(),
        seen: Arc::default(),
    };
    assert!(
        inbox::accept(&queue, "stripe", "evt_ok", &headers(), b"\x00raw\xff")
            .await
            .unwrap()
    );
    assert!(
        inbox::accept(&queue, "flaky", "evt_flaky", &[], b"{}")
            .await
            .unwrap()
    );
    assert!(
        inbox::accept(&queue, "broken", "evt_bad", &[], b"{}")
            .await
            .unwrap()
    );

    let mut runtime = Runtime::new(queue.clone(), CancellationToken::new());
    registry()
        .start(&mut runtime, ctx.clone(), &[], None)
        .unwrap();
    let events = wait_for(&queue, |events| {
        events.len() == 3
            && events
                .iter()
                .all(|e| matches!(e.status, Status::Processed | Status::Dead))
    })
    .await;
    let by_id = |id: &str| events.iter().find(|e| e.event_id == id).unwrap().clone();
    assert_eq!(by_id("evt_ok").status, Status::Processed);
    assert_eq!(by_id("evt_ok").attempts, 1);
    assert_eq!(by_id("evt_flaky").status, Status::Processed);
    assert_eq!(by_id("evt_flaky").attempts, 2);
    assert_eq!(
        by_id("evt_flaky").error.as_deref(),
        Some("provider API busy")
    );
    assert_eq!(by_id("evt_bad").status, Status::Dead);
    assert_eq!(
        by_id("evt_bad").error.as_deref(),
        Some("unknown event type")
    );
    assert!(by_id("evt_ok").finished_at.is_some());

    // The handler saw the request byte for byte, headers in order.
    let seen = ctx.seen.lock().unwrap().clone();
    let ok = seen.iter().find(|(id, _, _)| id == "evt_ok").unwrap();
    assert_eq!(ok.1, b"\x00raw\xff".to_vec());
    assert_eq!(ok.2, headers());

    // Operators can list by status.
    let dead = inbox::events(queue.store(), Some(Status::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, "evt_bad");

    // A redelivery, even of a processed event, runs nothing again.
    let runs = ctx.runs.load(Ordering::SeqCst);
    assert!(
        !inbox::accept(&queue, "stripe", "evt_ok", &headers(), b"again")
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ctx.runs.load(Ordering::SeqCst), runs);
    runtime.shutdown().await;

    // Retention: finished events lose their request, keep their row; an
    // event still to run keeps its request however old.
    assert!(
        inbox::accept(&queue, "stripe", "evt_waiting", &[], b"{}")
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        inbox::purge(queue.store(), Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        inbox::purge(queue.store(), Duration::ZERO).await.unwrap(),
        3
    );
    let events = inbox::events(queue.store(), None, 10).await.unwrap();
    assert_eq!(events.len(), 4);
    for event in &events {
        assert_eq!(event.purged, event.event_id != "evt_waiting", "{event:?}");
    }
    assert!(
        !inbox::accept(&queue, "stripe", "evt_ok", &[], b"late")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_registry_lists_its_kinds_and_refuses_unknown_queues() {
    let registry = registry();
    assert_eq!(registry.kinds(), vec![InboundEvent::KIND]);
    registry.check(&[InboundEvent::KIND.to_string()]).unwrap();
    let err = registry.check(&["nope".to_string()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no queue named \"nope\"; the queues are: {}",
            InboundEvent::KIND
        )
    );
    assert_eq!(
        registry.options(InboundEvent::KIND).unwrap().backoff_base,
        Duration::from_millis(200)
    );
}
