//! Follow-up tasks: added on a prospect, listed there and on the home page
//! (overdue ones marked), done, snoozed; bad input gets the form back; a
//! member follows up only on prospects they may see.

use crate::helpers::*;

/// Quick-adds a prospect as `who`; its id.
pub(crate) async fn quick_add(
    app: &TestApp,
    who: &reqwest::Client,
    name: &str,
    email: &str,
) -> i64 {
    let csrf = app.csrf_as(who, "/prospects").await;
    let res = app
        .post_as(
            who,
            "/prospects",
            &[("_csrf", csrf.as_str()), ("name", name), ("email", email)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    location.rsplit('/').next().unwrap().parse().unwrap()
}

/// Sets `who`'s own time zone on the account page (notifications left on).
pub(crate) async fn set_zone(
    app: &TestApp,
    who: &reqwest::Client,
    zone: &str,
) -> reqwest::Response {
    let csrf = app.csrf_as(who, "/account").await;
    app.post_as(
        who,
        "/account/preferences",
        &[
            ("_csrf", csrf.as_str()),
            ("time_zone", zone),
            ("notify_assigned", "on"),
            ("notify_new_lead", "on"),
            ("notify_summary", "on"),
        ],
    )
    .await
}

pub(crate) async fn add_task(
    app: &TestApp,
    who: &reqwest::Client,
    prospect: i64,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = app.csrf_as(who, "/account").await;
    let mut body = vec![("_csrf", csrf.as_str())];
    body.extend_from_slice(fields);
    app.post_as(who, &format!("/prospects/{prospect}/tasks"), &body)
        .await
}

/// `ms` as a `datetime-local` value in `zone`.
fn local(ms: i64, zone: &str) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap();
    use chrono::TimeZone;
    zone.timestamp_millis_opt(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test]
async fn a_task_is_added_shown_overdue_snoozed_and_done() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert_eq!(
        set_zone(&app, &app.client, "Europe/Paris").await.status(),
        303
    );
    let prospect = quick_add(&app, &app.client, "Tia Task", "tia@example.com").await;
    let now = rally::platform::db::now_ms();
    let hour = 3_600_000;
    // One overdue (two hours ago), one for the day after tomorrow.
    let res = add_task(
        &app,
        &app.client,
        prospect,
        &[
            ("kind", "call"),
            ("due", &local(now - 2 * hour, "Europe/Paris")),
            ("note", "Ask about the demo"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/prospects/{prospect}#tasks")
    );
    let res = add_task(
        &app,
        &app.client,
        prospect,
        &[
            ("kind", "meeting"),
            ("due", &local(now + 50 * hour, "Europe/Paris")),
            ("note", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let overdue = app.count("SELECT id FROM tasks WHERE kind = 'call'").await;
    let later = app
        .count("SELECT id FROM tasks WHERE kind = 'meeting'")
        .await;
    // Stored in UTC from the Paris time typed (to the minute).
    let due = app
        .count(&format!("SELECT due_at FROM tasks WHERE id = {overdue}"))
        .await;
    assert!((due - (now - 2 * hour)).abs() < 60_000, "{due} vs {now}");

    let page = app.page(&format!("/prospects/{prospect}")).await;
    assert!(page.contains("Ask about the demo"), "{page}");
    assert!(page.contains(&format!("id=\"task-{overdue}\"")), "{page}");
    assert!(
        page.contains("class=\"task overdue\""),
        "overdue highlighted: {page}"
    );
    assert!(
        page.contains("· Europe/Paris"),
        "times name the zone: {page}"
    );
    assert_eq!(
        page.matches("class=\"badge warn\">overdue").count(),
        1,
        "{page}"
    );

    // The home page lists today's and overdue ones, not the later one.
    let home = app.page("/").await;
    assert!(home.contains(&format!("id=\"task-{overdue}\"")), "{home}");
    assert!(!home.contains(&format!("id=\"task-{later}\"")), "{home}");
    assert!(home.contains("Tia Task"), "{home}");

    // Snooze an hour: due an hour from now, no longer overdue.
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{overdue}/snooze"),
            &[("_csrf", csrf.as_str()), ("for", "hour"), ("back", "/")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");
    let due = app
        .count(&format!("SELECT due_at FROM tasks WHERE id = {overdue}"))
        .await;
    assert!(
        due > now + hour - 5_000 && due < now + hour + 60_000,
        "{due}"
    );
    let page = app.page(&format!("/prospects/{prospect}")).await;
    assert!(!page.contains("class=\"task overdue\""), "{page}");

    // Done: off the home page, shown done on the prospect's.
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{overdue}/done"),
            &[("_csrf", csrf.as_str()), ("back", "https://evil.test/")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/prospects/{prospect}#tasks")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM tasks WHERE id = {overdue} AND done_at IS NOT NULL"
        ))
        .await,
        1
    );
    let home = app.page("/").await;
    assert!(!home.contains(&format!("id=\"task-{overdue}\"")), "{home}");
    let page = app.page(&format!("/prospects/{prospect}")).await;
    assert!(page.contains("class=\"task done\""), "{page}");
    // Done twice is still done; a done task has nothing to snooze.
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{overdue}/done"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{overdue}/snooze"),
            &[("_csrf", csrf.as_str()), ("for", "week")],
        )
        .await;
    assert_eq!(res.status(), 409);
    // Snooze until next week: a Monday, 09:00 in Paris.
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{later}/snooze"),
            &[("_csrf", csrf.as_str()), ("for", "week")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let due = app
        .count(&format!("SELECT due_at FROM tasks WHERE id = {later}"))
        .await;
    let paris = local(due, "Europe/Paris");
    assert!(paris.ends_with("T09:00"), "{paris}");
    let date = chrono::NaiveDate::parse_from_str(&paris[..10], "%Y-%m-%d").unwrap();
    use chrono::Datelike;
    assert_eq!(date.weekday(), chrono::Weekday::Mon);
    assert!(due > now && due <= now + 8 * 24 * hour);
}

#[tokio::test]
async fn bad_task_input_gets_the_form_back_with_messages() {
    let app = spawn_app().await;
    app.sign_in().await;
    let prospect = quick_add(&app, &app.client, "Bad Input", "bad@example.com").await;
    let huge = "x".repeat(5_000);
    for (fields, message) in [
        (
            vec![("kind", "call"), ("due", "")],
            "Choose when it is due.",
        ),
        (
            vec![("kind", "call"), ("due", "2026-02-30T09:00")],
            "That is not a date and time",
        ),
        (
            vec![("kind", "call"), ("due", "tomorrow-ish")],
            "That is not a date and time",
        ),
        (
            vec![("kind", "call"), ("due", "99999-01-01T09:00")],
            "That is not a date and time",
        ),
        (
            vec![("kind", "call"), ("due", "1901-01-01T09:00")],
            "between the years 2000 and 2100",
        ),
        (
            vec![("kind", "fax"), ("due", "2026-06-15T09:30")],
            "Choose call, email, meeting or other.",
        ),
        (
            vec![
                ("kind", "call"),
                ("due", "2026-06-15T09:30"),
                ("note", huge.as_str()),
            ],
            "up to 1,000 characters",
        ),
        (
            vec![("kind", "call"), ("due", &"9".repeat(10_000))],
            "That is not a date and time",
        ),
    ] {
        let res = add_task(&app, &app.client, prospect, &fields).await;
        assert_eq!(res.status(), 422, "{fields:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{fields:?}: {body}");
        assert!(body.contains("id=\"add-task\""), "the form is back");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM tasks").await, 0);
    // A NUL in the note is cleaned, not stored, on either database.
    let res = add_task(
        &app,
        &app.client,
        prospect,
        &[
            ("kind", "email"),
            ("due", "2026-06-15T09:30"),
            ("note", "send\0 the deck"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tasks WHERE note = 'send the deck'")
            .await,
        1
    );
    // A snooze nobody offers; ids that are not ids.
    let task = app.count("SELECT id FROM tasks").await;
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/tasks/{task}/snooze"),
            &[("_csrf", csrf.as_str()), ("for", "year")],
        )
        .await;
    assert_eq!(res.status(), 400);
    for path in [
        "/tasks/abc/done",
        "/tasks/99999999999999999999/done",
        "/prospects/abc/tasks",
    ] {
        let res = app
            .post_as(&app.client, path, &[("_csrf", csrf.as_str())])
            .await;
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_member_follows_up_only_on_prospects_they_may_see() {
    let app = spawn_app().await;
    app.sign_in().await;
    let owners = quick_add(&app, &app.client, "Owner's Lead", "owners@example.com").await;
    let res = add_task(
        &app,
        &app.client,
        owners,
        &[("kind", "call"), ("due", "2026-06-15T09:30")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let owners_task = app.count("SELECT id FROM tasks").await;
    let (rep, _) = crate::people::join(&app, "rep@tasks.test", "member").await;
    // Not theirs: not found, and nothing changes.
    let res = add_task(
        &app,
        &rep,
        owners,
        &[("kind", "call"), ("due", "2026-06-15T09:30")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let csrf = app.csrf_as(&rep, "/account").await;
    for action in ["done", "snooze"] {
        let res = app
            .post_as(
                &rep,
                &format!("/tasks/{owners_task}/{action}"),
                &[("_csrf", csrf.as_str()), ("for", "hour")],
            )
            .await;
        assert_eq!(res.status(), 404, "{action}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tasks WHERE done_at IS NULL AND due_at > 0")
            .await,
        1
    );
    // Their own: yes.
    let mine = quick_add(&app, &rep, "Rep's Lead", "reps@example.com").await;
    let res = add_task(
        &app,
        &rep,
        mine,
        &[("kind", "email"), ("due", "2026-06-15T09:30")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM tasks").await, 2);
}
