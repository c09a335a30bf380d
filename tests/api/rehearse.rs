//! `rally rehearse` against the real app: a small audience, all accepted,
//! all processed once.

use std::time::Duration;

use rally::rehearse::{Options, Outcome, Watch, run};

use crate::helpers::*;

#[tokio::test]
/// A full room from one address (127.0.0.1) gets through the default limits.
async fn rehearsal_of_a_thousand_people() {
    let app = spawn_app().await;
    let report = run(Options {
        url: app.url("/f/demo"),
        people: 1000,
        think: Duration::from_millis(10),
        arrival_concurrency: 100,
        timeout: Duration::from_secs(30),
        watch: Some(Watch::Database(app.database.clone())),
        progress: false,
    })
    .await
    .unwrap();
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
        people: 5,
        think: Duration::ZERO,
        arrival_concurrency: 5,
        timeout: Duration::from_secs(5),
        watch: None,
        progress: false,
    })
    .await
    .unwrap();
    assert_eq!(report.arrived, 0);
    assert_eq!(report.outcomes.get(&Outcome::Status(404)), Some(&5));
    assert!(report.to_string().contains("HTTP 404: 5"));
}

#[tokio::test]
async fn rehearsal_watches_a_deployed_instance_through_its_metrics() {
    let app = spawn_app_with(|s| s.metrics_token = Some(rally::config::Token("t0k".into()))).await;
    let report = run(Options {
        url: app.url("/f/demo"),
        people: 50,
        think: Duration::from_millis(10),
        arrival_concurrency: 50,
        timeout: Duration::from_secs(30),
        watch: Some(Watch::Metrics {
            url: app.url("/metrics"),
            token: Some("t0k".into()),
        }),
        progress: false,
    })
    .await
    .unwrap();
    assert_eq!(report.accepted(), 50, "{report}");
    assert_eq!(report.processed, Some(50), "{report}");
    assert!(report.drain.is_some());
    assert_eq!(report.duplicates, None, "only the database can tell");
}
