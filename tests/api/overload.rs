//! Past the intake backlog, a submission gets 503 with Retry-After and the
//! form back with everything typed; sending again later is accepted once.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn full_backlog_answers_503_and_keeps_the_values() {
    let app = spawn_app_with(|s| s.intake_backlog = 2).await;
    let tokens: Vec<FormTokens> =
        futures::future::join_all((0..4).map(|_| app.form_tokens())).await;

    // Another connection holds the database's write lock: the intake writer
    // takes the first submission and waits on the lock, the next two wait in
    // the backlog, and the fourth finds no room.
    let mut lock = app.pool.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *lock)
        .await
        .unwrap();

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
        sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
        drop(lock);
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
