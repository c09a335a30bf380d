//! Failed work behind its walls: an organization's owners and admins see
//! and retry their own organization's failed jobs at `/jobs`, in words;
//! the deployment-wide dashboard (`/ops/jobs`: every queue, counts,
//! discard) answers operators only, 404 to anyone else; discarding a dead
//! form submission asks first and keeps its answers for its organization.

use std::time::Duration;

use rally::intake::{jobs::FormSubmission, model::FormInput};

use crate::helpers::{TestApp, client, hidden, spawn_app, spawn_app_with};

/// A submission whose form does not exist: its handler fails permanently,
/// so it is dead at once. Tagged with `organization_id`.
pub(crate) fn doomed_job(key: &str, email: &str, organization_id: Option<i64>) -> FormSubmission {
    FormSubmission {
        form_id: 987_654,
        submission_key: key.into(),
        answers: FormInput {
            name: "Nobody".into(),
            email: email.into(),
            ..Default::default()
        }
        .parse()
        .unwrap(),
        submitted_at: rally::platform::db::now_ms(),
        organization_id,
    }
}

/// Stores a form submission of `organization_id` that failed with `error`,
/// as a worker leaves it: dead (`Killed`), or waiting an hour for its
/// next attempt (`Failed` with attempts left).
pub(crate) async fn insert_failed_job(
    app: &TestApp,
    id: &str,
    email: &str,
    organization_id: i64,
    error: &str,
    dead: bool,
) {
    let payload = serde_json::to_string(&doomed_job(
        &format!("failed-{id}"),
        email,
        Some(organization_id),
    ))
    .unwrap();
    let (status, prefix) = if dead {
        ("Killed", "permanent")
    } else {
        ("Failed", "retryable")
    };
    let result = serde_json::json!({ "Err": format!("{prefix}: {error}") }).to_string();
    match &app.pool {
        rally::platform::db::Pool::Sqlite(p) => {
            sqlx::query(
                "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority,
                    metadata, last_result, organization_id, done_at)
                 VALUES (CAST($1 AS BLOB), $2, 'rally.form_submission', $5, 2, 10,
                    CAST(strftime('%s', 'now') AS INTEGER) + 3600, 0, '{}', $3, $4,
                    CAST(strftime('%s', 'now') AS INTEGER))",
            )
            .bind(&payload)
            .bind(id)
            .bind(&result)
            .bind(organization_id)
            .bind(status)
            .execute(p)
            .await
            .unwrap();
        }
        rally::platform::db::Pool::Postgres(p) => {
            sqlx::query(
                "INSERT INTO apalis.jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority,
                    last_result, organization_id, done_at)
                 VALUES (convert_to($1, 'UTF8'), $2, 'rally.form_submission', $5, 2, 10,
                    now() + interval '1 hour', 0, CAST($3 AS jsonb), $4, now())",
            )
            .bind(&payload)
            .bind(id)
            .bind(&result)
            .bind(organization_id)
            .bind(status)
            .execute(p)
            .await
            .unwrap();
        }
    }
}

async fn wait_for_page(app: &TestApp, who: &reqwest::Client, path: &str, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = who
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
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

async fn queue(app: &TestApp) -> jobs::SqlQueue {
    jobs::SqlQueue::new(app.pool.queue_store(), Default::default())
}

/// Signs up a second organization in a browser of its own; returns it
/// signed in as that organization's owner.
pub(crate) async fn sign_up_other(
    app: &TestApp,
    email: &str,
    organization: &str,
) -> reqwest::Client {
    let browser = client();
    let res = app
        .post_as(
            &browser,
            "/signup",
            &[
                ("name", "Other Owner"),
                ("email", email),
                ("password", "another long password"),
                ("organization", organization),
                ("kind", "business"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "sign-up");
    browser
}

async fn demo_org(app: &TestApp) -> i64 {
    app.count("SELECT id FROM organizations WHERE slug = 'demo'")
        .await
}

#[tokio::test]
async fn organizations_see_and_retry_only_their_own_failed_work() {
    let app = spawn_app().await;
    app.sign_in().await;
    let demo = demo_org(&app).await;
    let queue = queue(&app).await;
    // Demo's dead submission (its form is gone), and one waiting to retry.
    queue
        .enqueue(&doomed_job(
            "00000000-0000-4000-8888-000000000001",
            "ana@example.com",
            Some(demo),
        ))
        .await
        .unwrap();
    insert_failed_job(
        &app,
        "retry-1",
        "bo@example.com",
        demo,
        "the database was busy",
        false,
    )
    .await;

    let page = wait_for_page(&app, &app.client, "/jobs", "form 987654 no longer exists").await;
    // In words a customer reads, with what Rally will do next.
    assert!(
        page.contains("A form submission from Nobody &lt;ana@example.com&gt; could not be saved"),
        "{page}"
    );
    assert!(page.contains("Rally stopped after 1 try."), "{page}");
    assert!(
        page.contains("A form submission from Nobody &lt;bo@example.com&gt; could not be saved"),
        "{page}"
    );
    assert!(page.contains("the database was busy"), "{page}");
    assert!(page.contains("Rally will try again at"), "{page}");
    assert!(
        !page.contains("href=\"/ops/jobs\""),
        "no operators' link: {page}"
    );
    let csrf = hidden(&page, "_csrf");
    let id = hidden(&page, "id");

    // Another organization sees none of it, and cannot retry it by id.
    let other = sign_up_other(&app, "pat@other.test", "Other Org").await;
    let theirs = other.get(app.url("/jobs")).send().await.unwrap();
    assert_eq!(theirs.status(), 200);
    let theirs = theirs.text().await.unwrap();
    for secret in [
        "ana@example.com",
        "bo@example.com",
        "987654",
        "database was busy",
    ] {
        assert!(!theirs.contains(secret), "{secret} leaks: {theirs}");
    }
    let other_csrf = hidden(&theirs, "_csrf");
    let res = app
        .post_as(
            &other,
            "/jobs/retry",
            &[
                ("_csrf", other_csrf.as_str()),
                ("queue", "rally.form_submission"),
                ("id", id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/jobs?done=gone");
    assert_eq!(
        queue.dead_letters(10).await.unwrap()[0].attempts,
        1,
        "untouched"
    );
    // Neither owner is an operator: the deployment's dashboard is not there.
    for who in [&app.client, &other] {
        let res = who.get(app.url("/ops/jobs")).send().await.unwrap();
        assert_eq!(res.status(), 404);
        let res = app
            .post_as(
                who,
                "/ops/jobs/discard",
                &[
                    ("_csrf", csrf.as_str()),
                    ("queue", "rally.form_submission"),
                    ("id", &id),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(res.status(), 404);
    }
    assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1);

    // Without the session's CSRF token nothing happens.
    let res = app
        .post_as(
            &app.client,
            "/jobs/retry",
            &[
                ("_csrf", "forged"),
                ("queue", "rally.form_submission"),
                ("id", &id),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    // Its own organization retries it: it runs again (and, its form still
    // missing, dies again). Only the retrying job is unfinished before.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.unfinished().await.unwrap() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "emails did not go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = app
        .post_as(
            &app.client,
            "/jobs/retry",
            &[
                ("_csrf", csrf.as_str()),
                ("queue", "rally.form_submission"),
                ("id", &id),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/jobs?done=retried");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.unfinished().await.unwrap() != 1 || queue.dead_letters(10).await.unwrap().len() != 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retried job did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn operators_see_every_queue_and_discard_keeping_the_answers() {
    let app = spawn_app_with(|s| s.operators = vec!["Owner@Demo.Rally.Test".into()]).await;
    app.sign_in().await;
    let queue = queue(&app).await;
    assert_eq!(
        app.submit(&[("name", "Ok"), ("email", "ok@example.com")])
            .await,
        303
    );
    app.drain().await;
    // A job of no organization (enqueued before jobs carried theirs).
    queue
        .enqueue(&doomed_job(
            "00000000-0000-4000-8888-000000000002",
            "nobody@example.com",
            None,
        ))
        .await
        .unwrap();
    // Listed, but the address is not confirmed yet: not an operator.
    assert_eq!(app.get("/ops/jobs").await.status(), 404);
    let demo_owner = app.demo.email.clone();
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = $1")
        .bind(&demo_owner)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());

    // And one of Demo's, waiting to retry: counted, with its last error
    // and when it is due.
    let demo = demo_org(&app).await;
    insert_failed_job(
        &app,
        "retry-ops",
        "bo@example.com",
        demo,
        "the database was busy",
        false,
    )
    .await;
    // The counts and the lists are separate reads: wait until the dead
    // job is counted as dead (not still in flight), not only listed.
    let page = wait_for_page(
        &app,
        &app.client,
        "/ops/jobs",
        "<td>0</td><td>0</td><td>1</td><td>1</td><td>1</td>",
    )
    .await;
    assert!(page.contains("form 987654 no longer exists"), "{page}");
    assert!(page.contains("rally.form_submission"), "{page}");
    assert!(page.contains("Waiting to retry"), "{page}");
    assert!(page.contains("· attempt 2 · due "), "{page}");
    assert!(page.contains("the database was busy"), "{page}");
    assert!(
        page.contains("<td>0</td><td>0</td><td>1</td><td>1</td><td>1</td>"),
        "1 done, 1 retrying, 1 dead: {page}"
    );
    assert!(!page.contains("nobody@example.com"), "payloads stay hidden");
    // Not the organization's: its /jobs does not list it, but links here.
    let own = app.page("/jobs").await;
    assert!(!own.contains("987654"), "{own}");
    assert!(own.contains("href=\"/ops/jobs\""), "{own}");
    let csrf = hidden(&page, "_csrf");
    let id = hidden(&page, "id");
    let settle = |path: &'static str, csrf: String, confirm: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            app.post_as(
                &app.client,
                path,
                &[
                    ("_csrf", csrf.as_str()),
                    ("queue", "rally.form_submission"),
                    ("id", id.as_str()),
                    ("confirm", confirm),
                ],
            )
            .await
        }
    };
    assert_eq!(
        settle("/ops/jobs/discard", "forged".into(), "yes")
            .await
            .status(),
        403
    );

    // Retry: it runs again (and, its form still missing, dies again).
    let res = settle("/ops/jobs/retry", csrf.clone(), "").await;
    assert_eq!(res.headers()["location"], "/ops/jobs?done=retried");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.dead_letters(10).await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retried job did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Discard asks first, and says the answers are kept.
    let res = settle("/ops/jobs/discard", csrf.clone(), "").await;
    assert_eq!(res.status(), 303);
    let confirm = res.headers()["location"].to_str().unwrap().to_string();
    assert!(confirm.starts_with("/ops/jobs/discard?"), "{confirm}");
    let question = app.page(&confirm).await;
    assert!(question.contains("Discard this dead letter?"), "{question}");
    assert!(question.contains("its answers are kept"), "{question}");
    assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1, "not yet");

    let res = settle("/ops/jobs/discard", csrf.clone(), "yes").await;
    assert_eq!(res.headers()["location"], "/ops/jobs?done=discarded");
    let page = app.page("/ops/jobs?done=discarded").await;
    assert!(page.contains("The dead letter was discarded."), "{page}");
    assert!(page.contains("No dead letter."), "{page}");
    // The answers are kept, not lost.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM kept_submissions WHERE payload LIKE '%nobody@example.com%'"
        )
        .await,
        1
    );
    // Gone already: said so, not an error.
    let res = settle("/ops/jobs/discard", csrf, "yes").await;
    assert_eq!(res.headers()["location"], "/ops/jobs?done=gone");
}

/// An organization's dead submission that an operator discards stays
/// with the organization: its owners see the answers on /jobs and try
/// them again (they go back to the queue under the same key).
#[tokio::test]
async fn a_discarded_submission_is_kept_for_its_organization() {
    let app = spawn_app_with(|s| s.operators = vec!["ops@rally.test".into()]).await;
    app.sign_in().await;
    let demo = demo_org(&app).await;
    let queue = queue(&app).await;
    queue
        .enqueue(&doomed_job(
            "00000000-0000-4000-8888-000000000003",
            "kept@example.com",
            Some(demo),
        ))
        .await
        .unwrap();
    let ops = sign_up_other(&app, "ops@rally.test", "Operations").await;
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = 'ops@rally.test'")
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    let page = wait_for_page(&app, &ops, "/ops/jobs", "form 987654 no longer exists").await;
    let csrf = hidden(&page, "_csrf");
    let id = hidden(&page, "id");
    let res = app
        .post_as(
            &ops,
            "/ops/jobs/discard",
            &[
                ("_csrf", csrf.as_str()),
                ("queue", "rally.form_submission"),
                ("id", id.as_str()),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/ops/jobs?done=discarded");
    assert!(queue.dead_letters(10).await.unwrap().is_empty());

    // The operator's own organization sees nothing of Demo's.
    let theirs = ops
        .get(app.url("/jobs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!theirs.contains("kept@example.com"), "{theirs}");
    // Demo's owner sees the answers, and tries again.
    let own = app.page("/jobs").await;
    assert!(own.contains("Submissions set aside"), "{own}");
    assert!(own.contains("kept@example.com"), "{own}");
    let csrf = hidden(&own, "_csrf");
    let kept = app
        .count("SELECT id FROM kept_submissions WHERE payload LIKE '%kept@example.com%'")
        .await;
    // Not another organization's to try.
    let other_csrf = hidden(&theirs, "_csrf");
    let res = app
        .post_as(
            &ops,
            &format!("/jobs/kept/{kept}/retry"),
            &[("_csrf", other_csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = app
        .post_as(
            &app.client,
            &format!("/jobs/kept/{kept}/retry"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.headers()["location"], "/jobs?done=retried");
    assert_eq!(app.count("SELECT COUNT(*) FROM kept_submissions").await, 0);
    // Back in the queue, tagged with Demo; its form still missing, it is
    // dead again, and Demo's owners see it.
    let page = wait_for_page(&app, &app.client, "/jobs", "kept@example.com").await;
    assert!(page.contains("Stopped"), "{page}");
    assert_eq!(
        queue.dead_letters(10).await.unwrap()[0].organization,
        Some(demo)
    );
}

#[tokio::test]
async fn members_may_not_see_the_jobs_dashboard() {
    let app = spawn_app().await;
    let hash = rally::platform::security::hash_password("member-password-1".into())
        .await
        .unwrap();
    let now = rally::platform::db::now_ms();
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
    assert_eq!(app.get("/ops/jobs").await.status(), 404);
    assert!(!app.page("/prospects").await.contains("href=\"/jobs\""));
}

/// `rally operators add EMAIL` makes the account with that (confirmed)
/// address an operator; `remove` undoes it; a bad address is refused.
#[tokio::test]
async fn the_operators_command_adds_and_removes_operators() {
    let app = spawn_app().await;
    app.sign_in().await;
    let demo_owner = app.demo.email.clone();
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = $1")
        .bind(&demo_owner)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    assert_eq!(app.get("/ops/jobs").await.status(), 404);
    let url = match &app.database {
        rally::platform::config::DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        rally::platform::config::DatabaseUrl::Postgres(url) => url.clone(),
    };
    let rally = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_rally"))
                .env("DATABASE_URL", url)
                .env(
                    "RALLY_SECRET_KEY",
                    "cli-test-secret-key-long-enough-for-hmac",
                )
                .env("RUST_LOG", "error")
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };
    let out = rally(&["operators", "add", "not-an-address"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-an-address"), "{err}");

    let out = rally(&["operators", "add", "Owner@Demo.Rally.Test"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rally(&["operators", "list"]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "owner@demo.rally.test\n"
    );
    let page = app.get("/ops/jobs").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Jobs of every organization")
    );

    let out = rally(&["operators", "remove", "owner@demo.rally.test"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.get("/ops/jobs").await.status(), 404);
}

/// The case: an organization invites an address the mail provider
/// refuses, and the email job dies. Its owners see it on /jobs, in words;
/// another organization's owner sees nothing of it.
#[tokio::test]
async fn an_invitation_the_provider_refuses_is_its_own_organizations_to_see() {
    let stub = crate::accounts::mailgun_stub(vec![400]).await;
    let app = spawn_app_with(|s| {
        s.mail.mailgun_api_key = Some(rally::platform::config::Token(
            crate::accounts::MAILGUN_KEY.into(),
        ));
        s.mail.mailgun_domain = Some("mg.rally.test".into());
        s.mail.mailgun_base_url = stub.uri();
    })
    .await;
    app.sign_in().await;
    let csrf = app.csrf_as(&app.client, "/people").await;
    let res = app
        .post_as(
            &app.client,
            "/people/invite",
            &[
                ("_csrf", csrf.as_str()),
                ("email", "refused@example.com"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = wait_for_page(&app, &app.client, "/jobs", "could not be sent").await;
    assert!(
        page.contains("invited you to Demo Co on Rally” to refused@example.com could not be sent"),
        "{page}"
    );
    assert!(page.contains("Mailgun refused the message"), "{page}");
    let sent = crate::accounts::mailgun_requests(&stub).await;
    assert!(
        sent.iter()
            .any(|fields| fields.contains(&("to".into(), "refused@example.com".into()))),
        "{sent:?}"
    );

    // Another organization (its own verification email goes out fine).
    let other = sign_up_other(&app, "pat@other.test", "Other Org").await;
    let theirs = other
        .get(app.url("/jobs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in ["refused@example.com", "Mailgun refused", "Demo Co"] {
        assert!(!theirs.contains(secret), "{secret} leaks: {theirs}");
    }
}

/// On SQS the organization travels with the message (an attribute, kept
/// in the dead-letter queue): an organization sees and retries its own
/// dead letters, and another's id is "already dealt with".
#[tokio::test]
async fn under_sqs_an_organization_reaches_only_its_own_dead_letters() {
    let moto = crate::moto::Moto::start();
    let config = jobs::SqsConfig {
        prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        wait: Duration::from_secs(1),
        ..Default::default()
    };
    let sqs = jobs::SqsQueue::new(moto.client(), config.clone());
    sqs.create_queues(&rally::app::work::queues())
        .await
        .unwrap();
    let app = spawn_app_with(|s| {
        s.queue_backend = rally::platform::config::QueueBackend::Sqs;
        s.sqs = config;
        s.sqs_client = Some(moto.client());
    })
    .await;
    app.sign_in().await;
    let demo = demo_org(&app).await;
    // Enqueued as the app does: the outbox, then the relay sends it.
    let queue = jobs::Queue::Sqs(jobs::SqsBackend {
        sqs,
        store: app.pool.queue_store(),
        kinds: rally::app::work::queues(),
    });
    queue
        .enqueue(&doomed_job(
            "00000000-0000-4000-8888-000000000005",
            "sqs-ana@example.com",
            Some(demo),
        ))
        .await
        .unwrap();
    let page = wait_for_page(&app, &app.client, "/jobs", "sqs-ana@example.com").await;
    assert!(page.contains("form 987654 no longer exists"), "{page}");
    let csrf = hidden(&page, "_csrf");
    let id = hidden(&page, "id");

    let other = sign_up_other(&app, "pat@other.test", "Other Org").await;
    let theirs = other
        .get(app.url("/jobs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!theirs.contains("sqs-ana@example.com"), "{theirs}");
    let other_csrf = hidden(&theirs, "_csrf");
    let res = app
        .post_as(
            &other,
            "/jobs/retry",
            &[
                ("_csrf", other_csrf.as_str()),
                ("queue", "rally.form_submission"),
                ("id", id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/jobs?done=gone");
    // Its own organization retries it: back to the queue, dead again.
    let res = app
        .post_as(
            &app.client,
            "/jobs/retry",
            &[
                ("_csrf", csrf.as_str()),
                ("queue", "rally.form_submission"),
                ("id", id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/jobs?done=retried");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let dead = queue
            .dead_letters_of(jobs::Tenant::Organization(demo), 10)
            .await
            .unwrap();
        if dead.len() == 1 && dead[0].id != id {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{dead:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
/// Inbound webhook events show on the operators' dashboard with where
/// they stand; a redelivery adds nothing.
async fn operators_see_inbound_webhook_events() {
    let app = spawn_app_with(|s| s.operators = vec!["Owner@Demo.Rally.Test".into()]).await;
    app.sign_in().await;
    let demo_owner = app.demo.email.clone();
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = $1")
        .bind(&demo_owner)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    let page = app.page("/ops/jobs").await;
    assert!(!page.contains("Inbound webhook events"), "{page}");
    let queue = jobs::Queue::Sql(queue(&app).await);
    for _ in 0..2 {
        jobs::inbox::accept(&queue, "stripe", "evt_dash_1", &[], b"{}")
            .await
            .unwrap();
    }
    let page = app.page("/ops/jobs").await;
    assert!(page.contains("Inbound webhook events"), "{page}");
    assert_eq!(page.matches("evt_dash_1").count(), 1, "{page}");
    assert!(
        page.contains("<code>stripe</code> · <code>evt_dash_1</code> · <strong>received</strong>"),
        "{page}"
    );
}

/// A periodic job, for the operators' view of schedules.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Digest {
    day: String,
}

impl jobs::Job for Digest {
    const KIND: &'static str = "test.digest";
}

/// Operators see each periodic schedule with its expression, its zone,
/// its last run ("not yet" before the first) and its next run.
#[tokio::test]
async fn operators_see_each_schedule_with_its_last_and_next_run() {
    let app = spawn_app_with(|s| s.operators = vec!["Owner@Demo.Rally.Test".into()]).await;
    app.sign_in().await;
    let demo_owner = app.demo.email.clone();
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = $1")
        .bind(&demo_owner)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    // The app's own schedule (the morning summary, #15) is listed once
    // the app's scheduler has registered it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let page = app.page("/ops/jobs").await;
        if page.contains("rally.morning_summary") || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(page.contains("<code>0 * * * *</code> (UTC)"), "{page}");
    assert!(!page.contains("nightly-digest"), "{page}");
    let queue = jobs::Queue::Sql(queue(&app).await);
    let nightly = || {
        vec![
            jobs::Schedule::new("nightly-digest", "30 2 * * *", "Europe/Paris", |tick| {
                Digest {
                    day: tick.date_naive().to_string(),
                }
            })
            .unwrap(),
        ]
    };
    jobs::schedule::register(queue.store(), &nightly())
        .await
        .unwrap();
    let next = jobs::schedule::statuses(queue.store()).await.unwrap()[0].next_due;
    let page = app.page("/ops/jobs").await;
    for text in [
        "nightly-digest",
        "test.digest",
        "30 2 * * *",
        "Europe/Paris",
        "not yet",
        &rally::platform::ui::datetime(next, rally::platform::ui::UTC),
    ] {
        assert!(page.contains(text), "{text} missing: {page}");
    }
    // A night passes: the tick runs, and shows as the last run.
    let last = next - 24 * 3600 * 1000;
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE jobs_schedules SET next_due = $1 WHERE name = 'nightly-digest'")
        .bind(last)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    assert_eq!(
        jobs::schedule::run_due(&queue, &nightly()).await.unwrap(),
        1
    );
    let page = app.page("/ops/jobs").await;
    let digest = &page[page.find("nightly-digest").unwrap()..];
    let digest = &digest[..digest.find("</tr>").unwrap()];
    assert!(!digest.contains("not yet"), "{page}");
    assert!(
        page.contains(&rally::platform::ui::datetime(
            last,
            rally::platform::ui::UTC
        )),
        "{page}"
    );
    assert!(
        page.contains(&rally::platform::ui::datetime(
            next,
            rally::platform::ui::UTC
        )),
        "{page}"
    );
}
