//! Notifications: a lead assigned, a new lead on a form, the morning
//! summary (driven by a test clock: the job's function is given the tick),
//! each in the app and by email, each kind turned off by its person.

use crate::{
    helpers::*,
    tasks::{quick_add, set_zone},
};

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// Unread notifications of the person with this email.
async fn unread(app: &TestApp, email: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM notifications n JOIN users u ON u.id = n.user_id
         WHERE u.email = '{email}' AND n.read_at IS NULL"
    ))
    .await
}

async fn emails_to(app: &TestApp, email: &str, subject_like: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM emails WHERE to_addr = '{email}' AND subject LIKE '{subject_like}'"
    ))
    .await
}

/// The owner assigns prospect `id` to user `to` through the edit form.
async fn assign(app: &TestApp, id: i64, name: &str, to: i64) {
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("name", name),
                ("stage", "new"),
                ("owner", &to.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn an_assigned_lead_is_told_in_the_app_and_by_email_unless_turned_off() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (rep, rep_id) = crate::people::join(&app, "rep@notify.test", "member").await;
    let first = quick_add(&app, &app.client, "Ada Assigned", "ada@example.com").await;
    assign(&app, first, "Ada Assigned", rep_id).await;
    assert_eq!(unread(&app, "rep@notify.test").await, 1);
    assert_eq!(
        emails_to(&app, "rep@notify.test", "Ada Assigned is yours").await,
        1
    );
    // In the app: the list, and the count in the header.
    let page = app.page_as(&rep, "/notifications").await;
    assert!(page.contains("assigned Ada Assigned to you"), "{page}");
    assert!(page.contains("aria-label=\"1 unread\""), "{page}");
    assert!(
        page.contains(&format!("href=\"/prospects/{first}\"")),
        "{page}"
    );
    // Saving the same owner again tells nobody again.
    assign(&app, first, "Ada Assigned", rep_id).await;
    assert_eq!(unread(&app, "rep@notify.test").await, 1);
    // Read.
    let csrf = app.csrf_as(&rep, "/account").await;
    let res = app
        .post_as(&rep, "/notifications/read", &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(unread(&app, "rep@notify.test").await, 0);
    assert!(!app.page_as(&rep, "/prospects").await.contains("unread\""));
    // Turned off: nothing in the app, no email.
    let res = app
        .post_as(
            &rep,
            "/account/preferences",
            &[
                ("_csrf", csrf.as_str()),
                ("time_zone", ""),
                ("notify_new_lead", "on"),
                ("notify_summary", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let second = quick_add(&app, &app.client, "Bo Second", "bo2@example.com").await;
    assign(&app, second, "Bo Second", rep_id).await;
    assert_eq!(
        app.count(&format!(
            "SELECT owner_user_id FROM prospects WHERE id = {second}"
        ))
        .await,
        rep_id
    );
    assert_eq!(unread(&app, "rep@notify.test").await, 0);
    assert_eq!(
        emails_to(&app, "rep@notify.test", "Bo Second is yours").await,
        0
    );
    // The account page shows the choice as saved.
    let account = app.page_as(&rep, "/account").await;
    assert!(
        account.contains("name=\"notify_assigned\" value=\"on\">"),
        "unchecked: {account}"
    );
    assert!(
        account.contains("name=\"notify_summary\" value=\"on\" checked"),
        "{account}"
    );
}

#[tokio::test]
async fn a_new_lead_tells_the_forms_owners_with_one_email_per_burst() {
    let app = spawn_app().await;
    app.sign_in().await;
    let owner = app.demo.email.clone();
    assert_eq!(app.submit(ANA).await, 303);
    assert_eq!(app.submit(BO).await, 303);
    app.drain().await;
    assert_eq!(unread(&app, &owner).await, 2);
    let page = app.page("/notifications").await;
    assert!(
        page.contains("New lead on Meet Demo Co: Ana Lima."),
        "{page}"
    );
    assert!(
        page.contains("New lead on Meet Demo Co: Bo Chen."),
        "{page}"
    );
    // Two leads within minutes: one email.
    assert_eq!(emails_to(&app, &owner, "New lead on Meet Demo Co").await, 1);
    // The same submission delivered again tells nobody again.
    let job = rally::intake::jobs::FormSubmission {
        form_id: app.count("SELECT id FROM forms WHERE slug = 'demo'").await,
        submission_key: "redelivered-key-1".into(),
        answers: rally::intake::model::FormInput {
            name: "Cy Again".into(),
            email: "cy@example.com".into(),
            ..Default::default()
        }
        .parse()
        .unwrap(),
        submitted_at: rally::platform::db::now_ms(),
        organization_id: None,
    };
    for _ in 0..2 {
        rally::intake::jobs::process_submission(&app.pool, &app.queue(), job.clone())
            .await
            .unwrap();
    }
    assert_eq!(unread(&app, &owner).await, 3);
    // Turned off.
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            "/account/preferences",
            &[("_csrf", csrf.as_str()), ("notify_assigned", "on")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.submit(&[("name", "Di Quiet"), ("email", "di@example.com")])
            .await,
        303
    );
    app.drain().await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'di@example.com'")
            .await,
        1
    );
    assert_eq!(unread(&app, &owner).await, 3);
}

/// A person with a zone and a follow-up overdue at `due`; their id.
async fn person_with_task(app: &TestApp, email: &str, zone: &str, due: i64) -> i64 {
    let now = rally::platform::db::now_ms();
    let org = app
        .count("SELECT id FROM organizations WHERE slug = 'demo'")
        .await;
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "INSERT INTO users (email, name, password_hash, created_at, time_zone) VALUES ($1, 'Zoned Rep', 'x', $3, $2)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at) SELECT id, $4, 'member', $3 FROM users WHERE email = $1",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, owner_user_id)
             SELECT $4, 'lead-' || $1, 'Lead of ' || $1, 'manual', $3, $3, id FROM users WHERE email = $1",
            "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
             SELECT $4, p.id, u.id, 'call', 'Call back', $5, $3 FROM prospects p, users u
             WHERE p.email = 'lead-' || $1 AND u.email = $1",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(email).bind(zone).bind(now).bind(org).bind(due)
                .execute(p).await.unwrap();
        }
    });
    app.count(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await
}

#[tokio::test]
async fn the_morning_summary_goes_once_per_person_per_day_however_many_workers() {
    let app = spawn_app().await;
    let tick = ms("2026-06-16T06:00:00Z"); // 08:00 in Paris (summer time)
    let id = person_with_task(&app, "paris@notify.test", "Europe/Paris", tick - 3_600_000).await;
    let queue = app.queue();
    // Two workers on the same tick, then the tick again, then the next
    // hour's (09:00 in Paris): one summary.
    let (a, b) = tokio::join!(
        rally::notifications::morning_summary(&app.pool, &queue, tick),
        rally::notifications::morning_summary(&app.pool, &queue, tick),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        rally::notifications::morning_summary(&app.pool, &queue, tick)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        rally::notifications::morning_summary(&app.pool, &queue, tick + 3_600_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM summary_sends WHERE user_id = {id}"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM summary_sends WHERE user_id = {id} AND local_date = '2026-06-16'"
        ))
        .await,
        1
    );
    assert_eq!(
        emails_to(&app, "paris@notify.test", "Your day: 1 follow-up due").await,
        1
    );
    let mail = app.mail("Your day").await;
    assert!(
        mail.html.contains("Lead of paris@notify.test"),
        "{}",
        mail.html
    );
    assert!(
        mail.html.contains("07:00 · Europe/Paris"),
        "times in the person's zone: {}",
        mail.html
    );
    assert!(mail.html.contains("(overdue)"), "{}", mail.html);
    assert_eq!(unread(&app, "paris@notify.test").await, 1);
    // The next day: the next summary.
    let next = tick + 24 * 3_600_000;
    assert_eq!(
        rally::notifications::morning_summary(&app.pool, &queue, next)
            .await
            .unwrap(),
        1
    );
    // The schedule is registered (the app's scheduler runs it every hour).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .count("SELECT COUNT(*) FROM jobs_schedules WHERE name = 'rally.morning_summary' AND cron = '0 * * * *'")
        .await
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "the schedule is registered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn eight_oclock_is_each_persons_own() {
    let app = spawn_app().await;
    // 2026-06-15 20:00 UTC: 08:00 on the 16th in Auckland, 13:00 in Los Angeles.
    let auckland_eight = ms("2026-06-15T20:00:00Z");
    // 2026-06-16 15:00 UTC: 08:00 in Los Angeles, 03:00 on the 17th in Auckland.
    let la_eight = ms("2026-06-16T15:00:00Z");
    let kiwi = person_with_task(
        &app,
        "kiwi@notify.test",
        "Pacific/Auckland",
        auckland_eight - 60_000,
    )
    .await;
    let la = person_with_task(
        &app,
        "la@notify.test",
        "America/Los_Angeles",
        auckland_eight - 60_000,
    )
    .await;
    let queue = app.queue();
    let sent = |tick| {
        let (pool, queue) = (app.pool.clone(), queue.clone());
        async move {
            rally::notifications::morning_summary(&pool, &queue, tick)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        sent(auckland_eight - 3_600_000).await,
        0,
        "07:00 in Auckland"
    );
    assert_eq!(sent(auckland_eight).await, 1);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM summary_sends WHERE user_id = {kiwi} AND local_date = '2026-06-16'")).await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM summary_sends WHERE user_id = {la}"
        ))
        .await,
        0
    );
    assert_eq!(sent(la_eight).await, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM summary_sends WHERE user_id = {la} AND local_date = '2026-06-16'"
        ))
        .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM summary_sends").await, 2);
    // Turned off: nothing the next morning.
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET notify_summary = FALSE WHERE email = 'kiwi@notify.test'")
        .execute(p).await.map(|_| ()).unwrap());
    assert_eq!(sent(auckland_eight + 24 * 3_600_000).await, 0);
    assert_eq!(emails_to(&app, "kiwi@notify.test", "Your day%").await, 1);
}

#[tokio::test]
async fn time_zones_are_chosen_on_the_account_page_and_bad_ones_refused() {
    let app = spawn_app().await;
    app.sign_in().await;
    for zone in [
        "Mars/Olympus",
        "Europe/Paris\u{0}",
        &"A".repeat(5_000),
        "europe/paris ",
    ] {
        let res = set_zone(&app, &app.client, zone).await;
        if zone == "Europe/Paris\u{0}" {
            // The NUL is cleaned at the edge: the zone is then a good one.
            assert_eq!(res.status(), 303, "{zone:?}");
            continue;
        }
        assert_eq!(res.status(), 422, "{zone:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains("Choose a time zone from the list"), "{body}");
    }
    assert_eq!(
        set_zone(&app, &app.client, "Pacific/Auckland")
            .await
            .status(),
        303
    );
    assert!(
        app.page("/account")
            .await
            .contains("<option value=\"Pacific/Auckland\" selected>")
    );
    let page = app.page("/notifications").await;
    assert!(page.contains("Notifications"), "{page}");
    // An owner sets the organization's; a member may not.
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            "/account/preferences",
            &[
                ("_csrf", csrf.as_str()),
                ("organization_time_zone", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM organizations WHERE slug = 'demo' AND time_zone = 'Asia/Tokyo'"
        )
        .await,
        1
    );
    let (rep, _) = crate::people::join(&app, "rep@zone.test", "member").await;
    // The rep has no zone of their own: the organization's.
    let home = app.page_as(&rep, "/").await;
    assert!(
        home.contains("Weeks start on Monday in Asia/Tokyo"),
        "{home}"
    );
    let csrf = app.csrf_as(&rep, "/account").await;
    let res = app
        .post_as(
            &rep,
            "/account/preferences",
            &[("_csrf", csrf.as_str()), ("organization_time_zone", "UTC")],
        )
        .await;
    assert_eq!(res.status(), 403);
    // Sign-up takes the browser's zone from its hidden field.
    let browser = client();
    let res = app
        .post_as(
            &browser,
            "/signup",
            &[
                ("name", "Zed Zone"),
                ("email", "zed@zone.test"),
                ("password", "a long enough password"),
                ("organization", "Zed Co"),
                ("kind", "business"),
                ("time_zone", "America/Los_Angeles"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'zed@zone.test' AND time_zone = 'America/Los_Angeles'").await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Zed Co' AND time_zone = 'America/Los_Angeles'").await,
        1
    );
    // A zone the browser made up: UTC, and the account is made all the same.
    let res = app
        .post_as(
            &client(),
            "/signup",
            &[
                ("name", "Odd Zone"),
                ("email", "odd@zone.test"),
                ("password", "a long enough password"),
                ("organization", "Odd Co"),
                ("kind", "business"),
                ("time_zone", "Not/AZone"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Odd Co' AND time_zone = 'UTC'")
            .await,
        1
    );
}

/// The organization's currency is set beside its time zone by those who
/// manage it: a code as typed (any case), a bad one shown again with its
/// message, never by a member.
#[tokio::test]
async fn the_organization_currency_is_set_on_the_account_page() {
    let app = spawn_app().await;
    app.sign_in().await;
    let stored =
        || app.count("SELECT COUNT(*) FROM organizations WHERE slug = 'demo' AND currency = 'EUR'");
    let page = app.page("/account").await;
    assert!(
        page.contains("name=\"organization_currency\"") && page.contains("value=\"USD\""),
        "{page}"
    );
    let post = |who: &reqwest::Client, currency: &'static str| {
        let (app, who) = (&app, who.clone());
        async move {
            let csrf = app.csrf_as(&who, "/account").await;
            app.post_as(
                &who,
                "/account/preferences",
                &[
                    ("_csrf", csrf.as_str()),
                    ("organization_currency", currency),
                ],
            )
            .await
        }
    };
    for bad in ["euro", "XAU", "", "EU"] {
        let res = post(&app.client, bad).await;
        assert_eq!(res.status(), 422, "{bad:?}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("Enter a three-letter ISO 4217 currency code")
                && body.contains(&format!("value=\"{bad}\"")),
            "{bad:?}: {body}"
        );
    }
    assert_eq!(stored().await, 0);
    assert_eq!(post(&app.client, " eur ").await.status(), 303);
    assert_eq!(stored().await, 1);
    assert!(app.page("/account").await.contains("value=\"EUR\""));
    let (rep, _) = crate::people::join(&app, "rep@currency.test", "member").await;
    assert!(
        !app.page_as(&rep, "/account")
            .await
            .contains("organization_currency")
    );
    assert_eq!(post(&rep, "JPY").await.status(), 403);
    assert_eq!(stored().await, 1);
}
