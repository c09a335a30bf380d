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
        spawn_app_with(|s| s.metrics_token = Some(rally::platform::config::Token("s3cret".into())))
            .await;
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
    for queue in rally::app::work::queues() {
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

#[tokio::test]
/// The stall watchdog is the workers' last resort: its restarts are counted
/// per queue, every registered queue has the series (from the first
/// scrape), and a quiet process shows none.
async fn watchdog_restarts_are_counted_per_queue() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("# TYPE rally_job_worker_restarts_total counter"),
        "{text}"
    );
    for queue in rally::app::work::queues() {
        let label = format!("queue=\"{queue}\"");
        let n = value(&text, "rally_job_worker_restarts_total", &[&label])
            .unwrap_or_else(|| panic!("{queue} missing:\n{text}"));
        let counted = jobs::worker_restarts()
            .into_iter()
            .find(|(kind, _)| *kind == queue)
            .map_or(0, |(_, n)| n);
        assert_eq!(n, counted as f64, "{queue}");
    }
}

/// Request labels come from the route table: each request is counted under
/// the pattern of the route that matches it (whatever it answered), and a
/// path no route matches under "other", so labels stay as few as routes.
#[tokio::test]
async fn requests_are_labelled_by_their_route_pattern() {
    let app = spawn_app().await;
    app.sign_in().await;
    for path in [
        "/prospects/999999/edit",
        "/prospects/import",
        "/people",
        "/forms",
        "/events/999999",
        "/no/such/page",
        "/wp-admin/setup.php",
    ] {
        app.get(path).await;
    }
    let res = app
        .post_as(&app.client, "/jobs/kept/7/retry", &[("_csrf", "forged")])
        .await;
    assert_eq!(res.status(), 403);

    let text = app.get("/metrics").await.text().await.unwrap();
    let count = |labels: &[&str]| {
        value(&text, "rally_http_requests_total", labels)
            .unwrap_or_else(|| panic!("{labels:?} missing:\n{text}"))
    };
    assert_eq!(
        count(&["route=\"/prospects/{id}/edit\"", "status=\"404\""]),
        1.0
    );
    assert_eq!(
        count(&["route=\"/prospects/import\"", "status=\"200\""]),
        1.0
    );
    assert_eq!(count(&["route=\"/people\"", "status=\"200\""]), 1.0);
    assert_eq!(count(&["route=\"/forms\"", "status=\"200\""]), 1.0);
    assert_eq!(count(&["route=\"/events/{id}\"", "status=\"404\""]), 1.0);
    assert_eq!(
        count(&[
            "route=\"/jobs/kept/{id}/retry\"",
            "method=\"POST\"",
            "status=\"403\""
        ]),
        1.0
    );
    assert_eq!(count(&["route=\"other\"", "status=\"404\""]), 2.0);
    // Every label is a route of the table, or "other".
    let known: Vec<String> = rally::app::routes::route_paths()
        .into_iter()
        .map(|(pattern, _)| {
            pattern
                .split('/')
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .chain(["other".to_string()])
        .collect();
    for line in text
        .lines()
        .filter(|l| l.starts_with("rally_http_requests_total{"))
    {
        let route = line
            .split("route=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(known.iter().any(|k| k == route), "{route}: {line}");
    }
}
