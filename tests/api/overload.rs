//! Past the intake backlog, a submission gets 503 with Retry-After and the
//! form back with everything typed; sending again later is accepted once.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn full_backlog_answers_503_and_keeps_the_values() {
    // One writer, so the backlog's arithmetic below holds on Postgres too.
    let app = spawn_app_with(|s| {
        s.intake_backlog = 2;
        s.intake_writers = 1;
    })
    .await;
    let tokens: Vec<FormTokens> =
        futures::future::join_all((0..4).map(|_| app.form_tokens())).await;

    // Another connection holds the database's write lock: the intake writer
    // takes the first submission and waits on the lock, the next two wait in
    // the backlog, and the fourth finds no room.
    let lock = app.hold_write_lock().await;

    let email = |i: usize| format!("p{i}@example.com");
    let post = |i: usize, htmx: bool| {
        let fields = [
            ("name", "Pat".to_string()),
            ("email", email(i)),
            ("company", "Busy & Co".to_string()),
        ];
        let app = &app;
        let tokens = &tokens[i];
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(tokens, &fields, htmx).await
        }
    };
    let waiting = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        futures::future::join(post(1, false), post(2, false)).await
    };
    let busy = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        for htmx in [false, true] {
            let res = post(3, htmx).await;
            assert_eq!(res.status(), 503);
            assert_eq!(res.headers()["retry-after"], "2");
            let body = res.text().await.unwrap();
            assert!(body.contains("tap Send again"), "{body}");
            assert!(
                body.contains("value=\"p3@example.com\"")
                    && body.contains("value=\"Busy &amp; Co\""),
                "{body}"
            );
            assert!(
                body.contains(&format!("value=\"{}\"", tokens[3].key)),
                "same submission key"
            );
            assert_eq!(body.contains("<html"), !htmx);
        }
        lock.release().await;
    };
    let (first, (a, b), ()) = tokio::join!(post(0, false), waiting, busy);
    assert_eq!(
        [first.status(), a.status(), b.status()].map(|s| s.as_u16()),
        [303; 3]
    );
    // Tapping Send again once there is room stores it, once.
    assert_eq!(post(3, false).await.status(), 303);
    assert_eq!(post(3, false).await.status(), 303);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 4);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 4);
}

#[tokio::test]
async fn in_flight_limit_answers_503() {
    let app = spawn_app_with(|s| s.max_in_flight = 1).await;
    let (first, second) = (app.form_tokens().await, app.form_tokens().await);
    let lock = app.hold_write_lock().await;
    let held = app.post_form(&first, ANA, false);
    let turned_away = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let res = app.post_form(&second, ANA, true).await;
        assert_eq!(res.status(), 503);
        assert!(res.headers().contains_key("retry-after"));
        let body = res.text().await.unwrap();
        assert!(
            body.contains("data-retry-after=\"2\""),
            "htmx resends by itself: {body}"
        );
        assert!(body.contains("value=\"Ana Lima\""));
        lock.release().await;
    };
    let (held, ()) = tokio::join!(held, turned_away);
    assert_eq!(held.status(), 303);
    assert_eq!(app.post_form(&second, ANA, false).await.status(), 303);
}

#[tokio::test]
async fn job_backlog_limit_answers_503() {
    let app = spawn_app_without_workers(|s| s.max_queue_backlog = 2).await;
    for _ in 0..2 {
        let tokens = app.form_tokens().await;
        assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    }
    // The backlog is sampled twice a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, ANA, false).await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("tap Send again"));
    assert_eq!(app.jobs_stored().await, 2);
}
