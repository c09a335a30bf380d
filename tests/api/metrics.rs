//! `/metrics` in Prometheus text format.

use crate::helpers::*;

fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with([' ', '{']))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_traffic_intake_and_queues() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    let tokens = app.form_tokens().await;
    assert_eq!(
        app.post_form(&tokens, &[("name", "")], false)
            .await
            .status(),
        422
    );
    let tokens = app.form_tokens().await;
    let honeypot = [
        ("name", "Bot"),
        ("email", "bot@example.com"),
        ("website", "x"),
    ];
    assert_eq!(app.post_form(&tokens, &honeypot, false).await.status(), 303);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    app.drain().await;

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    let v = |name: &str, labels: &[&str]| {
        value(&text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"))
    };
    assert_eq!(v("rally_submissions_accepted_total", &[]), 1.0);
    assert_eq!(
        v("rally_submissions_rejected_total", &["reason=\"invalid\""]),
        1.0
    );
    assert_eq!(
        v(
            "rally_submissions_rejected_total",
            &["reason=\"bot_honeypot\""]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rally_submissions_rejected_total",
            &["reason=\"rate_limit\""]
        ),
        0.0
    );
    assert_eq!(v("rally_submissions_processed_total", &[]), 1.0);
    let posts = ["route=\"/f/{slug}\"", "method=\"POST\""];
    assert_eq!(
        v(
            "rally_http_requests_total",
            &[posts[0], posts[1], "status=\"303\""]
        ),
        2.0
    );
    assert_eq!(
        v(
            "rally_http_requests_total",
            &[posts[0], posts[1], "status=\"422\""]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rally_http_requests_total",
            &["route=\"other\"", "status=\"404\""]
        ),
        1.0
    );
    assert_eq!(
        v("rally_http_request_duration_seconds_count", &[posts[0]]),
        6.0,
        "three form loads and three sends"
    );
    assert!(
        v(
            "rally_http_request_duration_seconds_bucket",
            &[posts[0], "le=\"+Inf\""]
        ) >= 6.0
    );
    let queue = "queue=\"rally.form_submission\"";
    assert_eq!(v("rally_queue_jobs", &[queue, "state=\"done\""]), 1.0);
    assert_eq!(v("rally_queue_jobs", &[queue, "state=\"pending\""]), 0.0);
    assert_eq!(v("rally_queue_oldest_pending_seconds", &[queue]), 0.0);
    assert_eq!(v("rally_intake_waiting", &[]), 0.0);
}

#[tokio::test]
async fn metrics_token_is_required_when_configured() {
    let app =
        spawn_app_with(|s| s.metrics_token = Some(rally::config::Token("s3cret".into()))).await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
/// Every queue of the job registry has its series from the first scrape,
/// before any job of its kind exists.
async fn every_registered_queue_is_in_the_metrics() {
    let app = spawn_app_without_workers(|_| {}).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for queue in rally::jobs::queues() {
        let label = format!("queue=\"{queue}\"");
        for state in ["pending", "running", "retrying", "done", "dead"] {
            let state = format!("state=\"{state}\"");
            assert_eq!(
                value(&text, "rally_queue_jobs", &[&label, &state]),
                Some(0.0),
                "{queue} {state}: {text}"
            );
        }
        assert_eq!(
            value(&text, "rally_queue_oldest_pending_seconds", &[&label]),
            Some(0.0)
        );
    }
}
