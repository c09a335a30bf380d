//! Rally on the SQS backend, against a real SQS-compatible server (moto):
//! intake through the outbox, `rally queues create`, SQS stopped in the
//! middle of a burst, and a worker killed mid-job.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rally::platform::{config::QueueBackend, db};

use crate::{
    crash::{Server, rally},
    helpers::spawn_app_with,
    moto::Moto,
};

/// Runs `rally queues create` with the server's environment; the names it printed.
fn create_queues(server: &Server) -> String {
    let out = rally(&server.database)
        .envs(server.env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["queues", "create"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A server process on SQS (moto), with these settings besides.
async fn sqs_server(moto: &Moto, extra: &[(&'static str, &str)]) -> Server {
    let mut server = Server::new().await;
    server.env = moto.env().to_vec();
    server.env.extend([
        ("RALLY_QUEUE_BACKEND", "sqs".to_string()),
        ("RALLY_SQS_QUEUE_PREFIX", prefix()),
        ("RALLY_SQS_WAIT_SECS", "1".to_string()),
    ]);
    server
        .env
        .extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    server
}

fn prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

async fn processed(db: &db::Db) -> i64 {
    db::scalar(&db.read, "SELECT COUNT(*) FROM timeline_entries")
        .await
        .unwrap()
}

/// Processed submissions by the form's key: each must appear once. (A
/// stored key is the form's key, `.`, and a hash of the answers; these
/// tests send one set of answers per form key.)
async fn processed_keys(db: &db::Db) -> HashMap<String, i64> {
    let rows = rally::on_pool!(&db.read, p => sqlx::query_as::<_, (String, i64)>(
        "SELECT submission_key, COUNT(*) FROM timeline_entries GROUP BY submission_key",
    )
    .fetch_all(p)
    .await
    .unwrap());
    let mut keys = HashMap::new();
    for (key, n) in rows {
        let form_key = key.split('.').next().unwrap_or_default().to_string();
        *keys.entry(form_key).or_insert(0) += n;
    }
    keys
}

#[tokio::test]
async fn intake_under_sqs_reaches_prospects() {
    let moto = Moto::start();
    let prefix = prefix();
    let config = jobs::SqsConfig {
        prefix: prefix.clone(),
        wait: Duration::from_secs(1),
        ..Default::default()
    };
    jobs::SqsQueue::new(moto.client(), config.clone())
        .create_queues(&rally::app::work::queues())
        .await
        .unwrap();
    let app = spawn_app_with(|s| {
        s.queue_backend = QueueBackend::Sqs;
        s.sqs = config;
        s.sqs_client = Some(moto.client());
    })
    .await;
    for n in 0..20 {
        let email = format!("sqs{n}@example.com");
        assert_eq!(app.submit(&[("name", "Q"), ("email", &email)]).await, 303);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.count("SELECT COUNT(*) FROM prospects").await < 20 {
        assert!(Instant::now() < deadline, "submissions not processed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The outbox empties: the submissions' rows, then the notification
    // emails their new leads queued (relayed a moment later).
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("SELECT COUNT(*) FROM jobs_outbox").await > 0 {
        assert!(Instant::now() < deadline, "the outbox did not empty");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs_outbox").await, 0);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let metrics = app.page("/metrics").await;
    assert!(
        metrics.contains("rally_queue_jobs{queue=\"rally.form_submission\",state=\"pending\"}"),
        "{metrics}"
    );
}

/// Stop the SQS server (SIGSTOP: its connections hang, as in an outage)
/// while people keep sending, then start it again. Intake answers
/// throughout, and every acknowledged submission is processed exactly once.
#[tokio::test]
async fn sqs_stopped_mid_burst_loses_nothing() {
    let moto = Arc::new(Moto::start());
    let server = sqs_server(&moto, &[]).await;
    // `rally queues create` makes the queues, and again changes nothing.
    for _ in 0..2 {
        let names = create_queues(&server);
        assert!(names.contains("-rally-form_submission-dlq"), "{names}");
    }
    let server = Arc::new(server);
    let mut child = server.start().await;
    let ts = server.render_time().await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..8 {
        let (server, ts, acknowledged, stop) = (
            server.clone(),
            ts.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        senders.spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let key = format!("00000000-0000-4000-5{sender:03}-{n:012}");
                let email = format!("q{sender}n{n}@example.com");
                let status = server.send(&ts, &key, "Outage", &email).await.unwrap();
                assert_eq!(status, 303, "intake must not fail while SQS is down");
                acknowledged.lock().unwrap().push(key);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    let count = |a: &Arc<Mutex<Vec<String>>>| a.lock().unwrap().len();
    while count(&acknowledged) < 60 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    moto.pause();
    let paused_at = count(&acknowledged);
    while count(&acknowledged) < paused_at + 120 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Still answering with SQS frozen: now bring it back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    moto.resume();
    while count(&acknowledged) < paused_at + 160 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let db = server.db().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while (processed(&db).await as usize) < acknowledged.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} processed",
            processed(&db).await,
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys = processed_keys(&db).await;
    assert!(
        keys.values().all(|n| *n == 1),
        "a submission was processed twice"
    );
    assert!(acknowledged.iter().all(|k| keys.contains_key(k)));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// kill -9 a `rally worker` on SQS while it holds messages: they come back
/// after their visibility timeout, and each takes effect once.
#[tokio::test]
async fn killed_sqs_worker_is_redelivered() {
    let moto = Moto::start();
    let server = sqs_server(&moto, &[("RALLY_SQS_VISIBILITY_SECS", "3")]).await;
    create_queues(&server);
    let env = server.env.clone();
    let mut web = server.start_with(&["--no-workers"]).await;
    let ts = server.render_time().await;
    const PEOPLE: usize = 80;
    for n in 0..PEOPLE {
        let key = format!("00000000-0000-4000-6666-{n:012}");
        let status = server
            .send(&ts, &key, "Killed", &format!("k{n}@example.com"))
            .await
            .unwrap();
        assert_eq!(status, 303);
    }
    let db = server.db().await;
    let worker = || {
        rally(&server.database)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["worker", "--concurrency", "4"])
            .spawn()
            .unwrap()
    };
    let mut first = worker();
    let deadline = Instant::now() + Duration::from_secs(60);
    while processed(&db).await < 10 {
        assert!(Instant::now() < deadline, "the worker never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = processed(&db).await;
    assert!((at_kill as usize) < PEOPLE, "killed too late ({at_kill})");

    let mut second = worker();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (processed(&db).await as usize) < PEOPLE {
        assert!(
            Instant::now() < deadline,
            "{} processed",
            processed(&db).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    web.kill().unwrap();
    web.wait().unwrap();
    let keys = processed_keys(&db).await;
    assert_eq!(keys.len(), PEOPLE);
    assert!(keys.values().all(|n| *n == 1));
}
