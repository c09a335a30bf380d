//! Held submissions: what looked automated (too fast, honeypot filled) is
//! kept, listed for owners and admins, released into a prospect or
//! discarded after confirming, and purged after the retention period.

use std::time::Duration;

use rally::platform::db;

use crate::helpers::*;

/// Every submission counts as too fast: each is held.
async fn spawn_holding_app() -> TestApp {
    spawn_app_with(|s| s.form_min_fill = Duration::from_secs(60)).await
}

async fn held_id(app: &TestApp, email: &str) -> i64 {
    app.count(&format!(
        "SELECT id FROM held_submissions WHERE answers LIKE '%{email}%'"
    ))
    .await
}

#[tokio::test]
async fn held_submissions_are_listed_released_and_discarded() {
    let app = spawn_holding_app().await;
    // Sent within a second of rendering (as autofill does), and one with
    // the honeypot filled too: both thanked, neither thrown away.
    let tokens = app.form_tokens().await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    let tokens = app.form_tokens().await;
    let bo = [
        ("name", "Bo Chen"),
        ("email", "bo@example.com"),
        ("website", "bo.example"),
    ];
    assert_eq!(app.post_form(&tokens, &bo, false).await.status(), 303);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 0);

    app.sign_in().await;
    let page = app.page("/held").await;
    assert!(
        page.contains("Ana Lima") && page.contains("ana@example.com"),
        "{page}"
    );
    assert!(
        page.contains("Bo Chen") && page.contains("hidden field"),
        "{page}"
    );
    assert!(page.contains("Sent very quickly"), "{page}");
    let prospects = app.page("/prospects").await;
    assert!(
        prospects.contains("2 submissions held for review"),
        "{prospects}"
    );
    assert!(
        prospects.contains("href=\"/held\""),
        "in the nav: {prospects}"
    );

    // Release: Ana becomes a prospect as any submission does.
    let csrf = hidden(&page, "_csrf");
    let ana = held_id(&app, "ana@example.com").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/held/{ana}/release"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/held?done=released");
    app.drain().await;
    let row: (String, String) = rally::on_pool!(&app.pool, p => sqlx::query_as("SELECT name, email FROM prospects")
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(row, ("Ana Lima".into(), "ana@example.com".into()));
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
    assert!(!app.page("/held").await.contains("Ana Lima"));
    // Releasing it again finds nothing, and adds nothing.
    let res = app
        .post_as(
            &app.client,
            &format!("/held/{ana}/release"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 404);

    // Discard asks first; a forged form does nothing.
    let bo = held_id(&app, "bo@example.com").await;
    let confirm = app.page(&format!("/held/{bo}/discard")).await;
    assert!(
        confirm.contains("Discard this submission?") && confirm.contains("Bo Chen"),
        "{confirm}"
    );
    let forged = app
        .post_as(
            &app.client,
            &format!("/held/{bo}/discard"),
            &[("_csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status(), 403);
    let res = app
        .post_as(
            &app.client,
            &format!("/held/{bo}/discard"),
            &[("_csrf", hidden(&confirm, "_csrf").as_str())],
        )
        .await;
    assert_eq!(res.headers()["location"], "/held?done=discarded");
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 0);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert!(
        !app.page("/prospects").await.contains("held for review"),
        "nothing left to review"
    );
    // The metrics kept counting the reasons.
    let metrics = app.page("/metrics").await;
    assert!(
        metrics.contains("rally_submissions_rejected_total{reason=\"bot_too_fast\"} 1")
            && metrics.contains("rally_submissions_rejected_total{reason=\"bot_honeypot\"} 1"),
        "{metrics}"
    );
}

/// A held submission that was also sent again later (not too fast) is one
/// prospect and one timeline entry, however often it is released.
#[tokio::test]
async fn releasing_what_was_also_accepted_adds_nothing() {
    let app = spawn_app_with(|s| s.form_min_fill = Duration::from_millis(800)).await;
    let tokens = app.form_tokens().await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 1);
    app.sign_in().await;
    let csrf = hidden(&app.page("/held").await, "_csrf");
    let id = app.count("SELECT id FROM held_submissions").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/held/{id}/release"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
}

/// Owners and admins decide; a manager or member gets 403.
#[tokio::test]
async fn only_owners_and_admins_see_held_submissions() {
    let app = spawn_holding_app().await;
    let tokens = app.form_tokens().await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    app.sign_in().await;
    let id = app.count("SELECT id FROM held_submissions").await;
    let (manager, _) = crate::people::join(&app, "manager@example.com", "manager").await;
    let res = manager.get(app.url("/held")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let csrf = app.csrf_as(&manager, "/prospects").await;
    let res = app
        .post_as(
            &manager,
            &format!("/held/{id}/release"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 403);
    let prospects = manager
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!prospects.contains("held for review"), "{prospects}");
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 1);
}

/// The hourly purge deletes what is older than the retention period and
/// keeps the rest; the event summary's tally outlives it.
#[tokio::test]
async fn the_purge_removes_held_submissions_past_retention() {
    let app = spawn_holding_app().await;
    let tokens = app.form_tokens().await;
    assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    let sent = app.count("SELECT submitted_at FROM held_submissions").await;
    // (On SQLite the tests' pool is a reader, which may write too.)
    let write = &app.pool;
    assert_eq!(
        rally::intake::held::queries::purge(write, sent)
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 1);
    assert_eq!(
        rally::intake::held::queries::purge(write, sent + 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM intake_rejections").await, 1);
}

/// Held submissions go through the intake writer's commit like any other:
/// a server killed mid-burst loses none that it thanked.
#[tokio::test]
async fn held_submissions_thanked_before_a_kill_are_kept() {
    let mut server = crate::crash::Server::new().await;
    // Every submission is "too fast".
    server
        .env
        .push(("RALLY_FORM_MIN_FILL_MS", "600000".to_string()));
    let server = std::sync::Arc::new(server);
    let mut child = server.start().await;
    let ts = server.render_time().await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
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
                let key = format!("00000000-0000-4000-{sender:04}-{n:012}");
                let email = format!("h{sender}n{n}@example.com");
                match server.send(&ts, &key, "Quick", &email).await {
                    Ok(303) => acknowledged.lock().unwrap().push(key),
                    Ok(status) => panic!("unexpected status {status}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
    }
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    while senders.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().unwrap().clone();

    let db = server.db().await;
    let keys: Vec<String> = rally::on_pool!(&db.read, p => sqlx::query_scalar(
        "SELECT submission_key FROM held_submissions",
    )
    .fetch_all(p)
    .await
    .unwrap());
    // A stored key is the form's key, `.`, and the answers' hash.
    let held: std::collections::HashSet<&str> =
        keys.iter().filter_map(|k| k.split('.').next()).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !held.contains(k.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} thanked, then lost: {lost:?}",
        lost.len()
    );
    assert_eq!(
        db::scalar(&db.read, "SELECT COUNT(*) FROM prospects")
            .await
            .unwrap(),
        0
    );
}

/// The list and the confirmation show every answer (phone, company,
/// interest, consent) and how long held submissions are kept; exact
/// repeats are marked; a submission already discarded is said to be so.
#[tokio::test]
async fn held_page_shows_full_answers_retention_and_repeats() {
    let app = spawn_app_with(|s| {
        s.form_min_fill = Duration::from_secs(60);
        s.held_retention = Duration::from_secs(14 * 24 * 3600);
    })
    .await;
    for _ in 0..2 {
        let tokens = app.form_tokens().await;
        assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    }
    let tokens = app.form_tokens().await;
    let bo = [("name", "Bo Chen"), ("email", "bo@example.com")];
    assert_eq!(app.post_form(&tokens, &bo, false).await.status(), 303);
    app.sign_in().await;

    let page = app.page("/held").await;
    for shown in [
        "+1 555 010 9999",
        "Lima &amp; Co",
        "The live demo",
        "Yes, may be contacted",
        "Held submissions are deleted after 14 days.",
        "3 submissions held",
        "Sent 2 times with the same answers",
    ] {
        assert!(page.contains(shown), "{shown:?} missing: {page}");
    }
    assert_eq!(
        page.matches("Sent 2 times").count(),
        2,
        "both of Ana's marked, not Bo's: {page}"
    );

    let bo = held_id(&app, "bo@example.com").await;
    let confirm = app.page(&format!("/held/{bo}/discard")).await;
    assert!(
        confirm.contains("Bo Chen") && confirm.contains("Consent"),
        "{confirm}"
    );
    let ana: i64 = app
        .count("SELECT MIN(id) FROM held_submissions WHERE answers LIKE '%ana@example.com%'")
        .await;
    let confirm = app.page(&format!("/held/{ana}/discard")).await;
    assert!(
        confirm.contains("+1 555 010 9999") && confirm.contains("The live demo"),
        "{confirm}"
    );
    let res = app
        .post_as(
            &app.client,
            &format!("/held/{ana}/discard"),
            &[("_csrf", hidden(&confirm, "_csrf").as_str())],
        )
        .await;
    assert_eq!(res.headers()["location"], "/held?done=discarded");
    assert!(app.page("/held").await.contains("2 submissions held"));

    // The same discard link again: 404, said kindly.
    let again = app.get(&format!("/held/{ana}/discard")).await;
    assert_eq!(again.status(), 404);
    let again = again.text().await.unwrap();
    assert!(again.contains("already released or discarded"), "{again}");
}
