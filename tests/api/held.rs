//! Held submissions: what looked automated (too fast, honeypot filled) is
//! kept, listed for owners and admins, released into a prospect or
//! discarded after confirming, and purged after the retention period.

use std::time::Duration;

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
    assert_eq!(rally::db::held::purge(write, sent).await.unwrap(), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 1);
    assert_eq!(rally::db::held::purge(write, sent + 1).await.unwrap(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM intake_rejections").await, 1);
}
