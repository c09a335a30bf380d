//! `rally rehearse` against the real app: a small audience, all accepted,
//! all processed once.

use std::time::Duration;

use rally::intake::rehearse::{Options, Outcome, Watch, run};

use crate::helpers::*;

/// A rehearsal of `people` arriving `arrival` at a time on the demo form,
/// watched through the app's database: each test changes what it needs.
fn audience(app: &TestApp, people: usize, arrival: usize) -> Options {
    Options {
        url: app.url("/f/demo"),
        people,
        think: Duration::from_millis(10),
        arrival_concurrency: arrival,
        timeout: Duration::from_secs(30),
        watch: Some(Watch::Database(app.database.clone())),
        progress: false,
        fresh_connections: false,
        trickle: None,
    }
}

#[tokio::test]
/// A full room from one address (127.0.0.1) gets through the default limits.
async fn rehearsal_of_a_thousand_people() {
    let app = spawn_app().await;
    let report = run(audience(&app, 1000, 100)).await.unwrap();
    assert_eq!(report.arrived, 1000);
    assert_eq!(report.accepted(), 1000, "{report}");
    assert_eq!(report.latencies.len(), 1000);
    assert_eq!(report.processed, Some(1000), "{report}");
    assert!(report.drain.is_some(), "{report}");
    assert_eq!(report.duplicates, Some(0));
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1000);
    let text = report.to_string();
    assert!(
        text.contains("accepted:    1000") && text.contains("p99"),
        "{text}"
    );
}

#[tokio::test]
async fn rehearsal_reports_errors_by_kind() {
    let app = spawn_app().await;
    let report = run(Options {
        url: app.url("/f/no-such-form"),
        think: Duration::ZERO,
        timeout: Duration::from_secs(5),
        watch: None,
        ..audience(&app, 5, 5)
    })
    .await
    .unwrap();
    assert_eq!(report.arrived, 0);
    assert_eq!(report.outcomes.get(&Outcome::Status(404)), Some(&5));
    assert!(report.to_string().contains("HTTP 404: 5"));
}

#[tokio::test]
async fn rehearsal_watches_a_deployed_instance_through_its_metrics() {
    let app =
        spawn_app_with(|s| s.metrics_token = Some(rally::platform::config::Token("t0k".into())))
            .await;
    let report = run(Options {
        watch: Some(Watch::Metrics {
            url: app.url("/metrics"),
            token: Some("t0k".into()),
        }),
        ..audience(&app, 50, 50)
    })
    .await
    .unwrap();
    assert_eq!(report.accepted(), 50, "{report}");
    assert_eq!(report.processed, Some(50), "{report}");
    assert!(report.drain.is_some());
    assert_eq!(report.duplicates, None, "only the database can tell");
}

#[tokio::test]
/// Whatever else the instance writes to timelines during a rehearsal (a
/// note every few milliseconds here) is not counted as the rehearsal's
/// processed submissions: the report waits for exactly its own.
async fn rehearsal_counts_only_its_own_submissions() {
    let app = spawn_app().await;
    assert_eq!(
        app.submit(&[("name", "Other"), ("email", "other@example.com")])
            .await,
        303
    );
    app.drain().await;
    let prospect = app.count("SELECT MIN(id) FROM prospects").await;
    let db = rally::platform::db::connect(&app.database).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let notes = tokio::spawn({
        let (stop, pool) = (stop.clone(), db.write.clone());
        async move {
            let mut written = 0;
            while !stop.is_cancelled() {
                rally::on_pool!(&pool, p => sqlx::query(
                    "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
                     VALUES ($1, 'note', '{}', $2)",
                )
                .bind(prospect)
                .bind(rally::platform::db::now_ms())
                .execute(p)
                .await
                .map(|_| ())
                .unwrap());
                written += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            written
        }
    });
    let report = run(Options {
        think: Duration::from_millis(300),
        ..audience(&app, 20, 20)
    })
    .await
    .unwrap();
    stop.cancel();
    assert!(notes.await.unwrap() > 0);
    assert_eq!(report.accepted(), 20, "{report}");
    assert_eq!(report.processed, Some(20), "{report}");
    assert!(report.drain.is_some(), "{report}");
    assert_eq!(report.duplicates, Some(0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM timeline_entries WHERE kind = 'form_submission'")
            .await,
        21
    );
    db.close().await;
}

#[tokio::test]
/// Phones that filled the form for a minute reconnect to send: every Send
/// goes out on a connection of its own, whose connecting is timed apart.
async fn rehearsal_sends_on_fresh_connections() {
    let app = spawn_app().await;
    let report = run(Options {
        fresh_connections: true,
        ..audience(&app, 200, 50)
    })
    .await
    .unwrap();
    assert_eq!(report.accepted(), 200, "{report}");
    assert_eq!(
        report.connects.len(),
        200,
        "each Send made a connection: {report}"
    );
    assert!(report.connects.iter().all(|c| !c.is_zero()));
    assert!(
        report.connects.last() <= report.latencies.last(),
        "a Send's latency includes its connecting: {report}"
    );
    assert_eq!(report.processed, Some(200), "{report}");
    assert_eq!(report.duplicates, Some(0));
    assert!(report.to_string().contains("connect:     p50"), "{report}");

    // Reusing the form's connection, nothing is connected at Send.
    let report = run(Options {
        watch: None,
        ..audience(&app, 20, 20)
    })
    .await
    .unwrap();
    assert_eq!(report.accepted(), 20, "{report}");
    assert!(report.connects.is_empty(), "{report}");
}

#[tokio::test]
/// One submission at a time: each is timed from its answer until it is
/// processed. The app polls for jobs only every 60 s here, so processing
/// within seconds means the enqueue woke the relay and the worker (or, on
/// Postgres, the commit's notification did).
async fn rehearsal_trickle_times_each_submission_until_processed() {
    let app = spawn_app_with(|s| {
        s.job_poll_interval = Duration::from_secs(60);
        s.job_heartbeat = Duration::from_secs(60);
    })
    .await;
    let options = Options {
        trickle: Some(Duration::from_millis(200)),
        ..audience(&app, 5, 5)
    };
    let started = std::time::Instant::now();
    let report = run(options.clone()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "one every 200 ms"
    );
    assert_eq!(report.accepted(), 5, "{report}");
    assert_eq!(report.ack_to_processed.len(), 5, "{report}");
    let slowest = *report.ack_to_processed.last().unwrap();
    assert!(slowest < Duration::from_secs(5), "{report}");
    assert_eq!(report.processed, Some(5), "{report}");
    assert!(
        report.to_string().contains("ack → processed: p50"),
        "{report}"
    );

    // Without a way to see processing there is nothing to time.
    let blind = run(Options {
        watch: None,
        ..options
    })
    .await;
    assert!(blind.is_err());
}
