//! The jobs dashboard: owners and admins see every queue's counts, recent
//! failures and dead letters, and can retry or discard a dead letter.

use std::time::Duration;

use rally::{domain::FormInput, jobs::FormSubmission};

use crate::helpers::{TestApp, hidden, spawn_app};

fn doomed_job() -> FormSubmission {
    FormSubmission {
        // No such form: the handler fails permanently, so it is dead at once.
        form_id: 987_654,
        submission_key: "00000000-0000-4000-8888-000000000001".into(),
        answers: FormInput {
            name: "Nobody".into(),
            email: "nobody@example.com".into(),
            ..Default::default()
        }
        .parse()
        .unwrap(),
        submitted_at: rally::db::now_ms(),
    }
}

/// POSTs a dead-letter action for dead letter `id`.
async fn settle(app: &TestApp, path: &str, csrf: &str, id: &str) -> reqwest::Response {
    app.post_as(
        &app.client,
        path,
        &[
            ("_csrf", csrf),
            ("queue", "rally.form_submission"),
            ("id", id),
        ],
    )
    .await
}

async fn wait_for_page(app: &TestApp, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = app.page("/jobs").await;
        if page.contains(text) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {text:?} in {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn owners_see_queues_and_settle_dead_letters() {
    let app = spawn_app().await;
    assert_eq!(app.get("/jobs").await.status(), 303, "sign in first");
    app.sign_in().await;
    assert_eq!(
        app.submit(&[("name", "Ok"), ("email", "ok@example.com")])
            .await,
        303
    );
    app.drain().await;
    let queue = jobs::SqlQueue::new(app.pool.queue_store(), Default::default());
    queue.enqueue(&doomed_job()).await.unwrap();

    let page = wait_for_page(&app, "form 987654 no longer exists").await;
    assert!(page.contains("rally.form_submission"), "{page}");
    assert!(!page.contains("nobody@example.com"), "payloads stay hidden");
    let csrf = hidden(&page, "_csrf");
    let id = hidden(&page, "id");

    // Without the session's CSRF token nothing happens.
    let res = settle(&app, "/jobs/dead/discard", "forged", &id).await;
    assert_eq!(res.status(), 403);

    // Retry: it runs again (and, its form still missing, dies again).
    let res = settle(&app, "/jobs/dead/retry", &csrf, &id).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/jobs?done=retried");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.dead_letters(10).await.unwrap().is_empty()
        || queue.dead_letters(10).await.unwrap()[0].attempts < 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retried job did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let res = settle(&app, "/jobs/dead/discard", &csrf, &id).await;
    assert_eq!(res.headers()["location"], "/jobs?done=discarded");
    let page = app.page("/jobs?done=discarded").await;
    assert!(page.contains("The dead letter was discarded."), "{page}");
    assert!(page.contains("No dead letter."), "{page}");
    // Gone already: said so, not an error.
    let res = settle(&app, "/jobs/dead/discard", &csrf, &id).await;
    assert_eq!(res.headers()["location"], "/jobs?done=gone");
}

#[tokio::test]
async fn members_may_not_see_the_jobs_dashboard() {
    let app = spawn_app().await;
    let hash = rally::security::hash_password("member-password-1".into())
        .await
        .unwrap();
    let now = rally::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        sqlx::query("INSERT INTO users (email, name, password_hash, created_at) VALUES ('rep@demo.rally.test', 'Rep', $1, $2)")
            .bind(&hash)
            .bind(now)
            .execute(p)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'member', $1 FROM users u, organizations o
             WHERE u.email = 'rep@demo.rally.test' AND o.slug = 'demo'",
        )
        .bind(now)
        .execute(p)
        .await
        .unwrap();
    });
    let res = app
        .post_as(
            &app.client,
            "/signin",
            &[
                ("email", "rep@demo.rally.test"),
                ("password", "member-password-1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = app.get("/jobs").await;
    assert_eq!(res.status(), 403);
    assert!(!app.page("/prospects").await.contains("href=\"/jobs\""));
}
