//! End to end in real headless Chromium (Debian's chromium + chromium-driver):
//! submit the demo form with JavaScript on and off, then find both prospects
//! on the Prospects page.

use std::{process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::*;

pub(crate) struct Driver {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn chromedriver() -> Driver {
    chromedriver_in(None).await
}

/// A chromedriver whose browsers live in time zone `zone` (`TZ`), or the
/// machine's.
pub(crate) async fn chromedriver_in(zone: Option<&str>) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let mut command = std::process::Command::new(&binary);
    if let Some(zone) = zone {
        command.env("TZ", zone);
    }
    let child = command
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary} (apt-get install chromium chromium-driver): {e}")
        });
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

async fn browser(driver: &Driver, javascript: bool, profile: &std::path::Path) -> Client {
    browser_with(driver, javascript, profile, false).await
}

/// A browser whose viewport is exactly a 390 × 844 phone (a desktop window
/// cannot be narrower than 500 px, so this emulates the phone's screen).
async fn phone(driver: &Driver, profile: &std::path::Path) -> Client {
    browser_with(driver, true, profile, true).await
}

pub(crate) async fn browser_with(
    driver: &Driver,
    javascript: bool,
    profile: &std::path::Path,
    phone: bool,
) -> Client {
    // Two TLS back-ends are linked in; rustls needs to be told which to use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=390,844",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Ok(binary) = std::env::var("CHROMIUM") {
        options["binary"] = binary.into();
    }
    if phone {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0 },
        });
    }
    if !javascript {
        options["prefs"] =
            serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("chromium session")
}

pub(crate) async fn type_into(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// What an input holds now (what the person typed, or what came back).
async fn value_of(client: &Client, id: &str) -> Option<String> {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.prop("value").await.unwrap()
}

pub(crate) async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
}

/// Signs the demo owner in through the sign-in page.
pub(crate) async fn sign_in(client: &Client, app: &TestApp) {
    client.goto(&app.url("/signin")).await.unwrap();
    type_into(client, "email", &app.demo.email).await;
    type_into(client, "password", &app.demo.password).await;
    click(client, Locator::Css("button[type=submit]")).await;
    // Signing in lands on the home page; the callers start from the list.
    wait_for_text(client, "h1", "Good day").await;
    client.goto(&app.url("/prospects")).await.unwrap();
    wait_for_text(client, "h1", "Prospects").await;
}

async fn fill_and_send(client: &Client, app: &TestApp, name: &str, email: &str) {
    client.goto(&app.url("/f/demo")).await.unwrap();
    type_into(client, "f-name", name).await;
    type_into(client, "f-email", email).await;
    click(client, Locator::Id("f-consent")).await;
    click(client, Locator::Css("button[type=submit]")).await;
}

pub(crate) async fn wait_for_text(client: &Client, css: &str, text: &str) {
    wait_for_text_within(client, css, text, Duration::from_secs(10)).await
}

async fn wait_for_text_within(client: &Client, css: &str, text: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && el.text().await.unwrap_or_default().contains(text)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{text:?} never appeared in {css}: {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn demo_form_with_and_without_javascript_then_prospects_page() {
    let app = spawn_app().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();

    // JavaScript on: htmx swaps the thank-you in place, no navigation.
    let js = browser(&driver, true, &profiles.path().join("js")).await;
    fill_and_send(&js, &app, "Jo Script", "jo@example.com").await;
    wait_for_text(&js, "#intake-form", "Thank you").await;
    assert_eq!(js.current_url().await.unwrap().path(), "/f/demo");
    // An invalid submission is swapped in too (a 422 that htmx must not drop).
    js.goto(&app.url("/f/demo")).await.unwrap();
    type_into(&js, "f-email", "not-an-email").await;
    click(&js, Locator::Css("button[type=submit]")).await;
    wait_for_text(&js, "#intake-form", "Please enter your name.").await;
    let kept = value_of(&js, "f-email").await;
    assert_eq!(kept.as_deref(), Some("not-an-email"));

    // JavaScript off: a plain POST and a redirect to the thank-you page.
    let plain = browser(&driver, false, &profiles.path().join("plain")).await;
    fill_and_send(&plain, &app, "Nora Noscript", "nora@example.com").await;
    wait_for_text(&plain, "#intake-form", "Thank you").await;
    assert_eq!(plain.current_url().await.unwrap().path(), "/f/demo/thanks");
    plain.close().await.unwrap();

    // Both are on the Prospects page (within a second normally; the bound is
    // generous for a loaded CI machine).
    sign_in(&js, &app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let source = js.source().await.unwrap();
        if source.contains("Jo Script") && source.contains("Nora Noscript") {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let jobs = jobs::SqlQueue::new(app.pool.queue_store(), Default::default())
                .stats()
                .await;
            panic!("prospects missing; jobs {jobs:?}; page {source}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        js.refresh().await.unwrap();
    }
    // Search-as-you-type narrows the list in place.
    type_into(&js, "q", "nora").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        // htmx replaces the element while we look: a stale one is just "not yet".
        let results = match js.find(Locator::Id("prospect-results")).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if results.contains("Nora Noscript") && !results.contains("Jo Script") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "search did not narrow: {results}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    js.close().await.unwrap();
}

/// With JavaScript, a busy server's 503 is not the end: the page shows that
/// it is sending and resends by itself until the submission is taken.
#[tokio::test]
async fn busy_server_is_retried_by_the_page_itself() {
    // One writer, so the backlog's arithmetic below holds on Postgres too.
    let app = spawn_app_with(|s| {
        s.intake_backlog = 1;
        s.intake_writers = 1;
    })
    .await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let browser = browser(&driver, true, profiles.path()).await;

    // Hold the database's write lock: one submission waits in the intake
    // writer, one in its backlog, and the browser's finds no room.
    let lock = app.hold_write_lock().await;
    let (a, b) = (app.form_tokens().await, app.form_tokens().await);
    let waiting = async {
        let first = app.post_form(&a, &[("name", "A"), ("email", "a@example.com")], false);
        let second = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.post_form(&b, &[("name", "B"), ("email", "b@example.com")], false)
                .await
        };
        let (first, second) = futures::future::join(first, second).await;
        (first.status(), second.status())
    };
    let in_browser = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        fill_and_send(&browser, &app, "Busy Bee", "bee@example.com").await;
        wait_for_text(&browser, "#intake-form button", "Sending").await;
        let kept = value_of(&browser, "f-email").await;
        assert_eq!(kept.as_deref(), Some("bee@example.com"));
        lock.release().await;
        wait_for_text_within(
            &browser,
            "#intake-form",
            "Thank you",
            Duration::from_secs(15),
        )
        .await;
    };
    let ((first, second), ()) = tokio::join!(waiting, in_browser);
    assert_eq!((first.as_u16(), second.as_u16()), (303, 303));
    app.drain().await;
    let bee: i64 = app.count("SELECT COUNT(*) FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id WHERE p.email = 'bee@example.com'").await;
    assert_eq!(bee, 1, "resent until taken, stored once");
    browser.close().await.unwrap();
}

/// The projector page updates itself over server-sent events: the counter
/// and first names change without a reload.
#[tokio::test]
async fn projector_updates_live() {
    let app = spawn_app().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let browser = browser(&driver, true, profiles.path()).await;
    sign_in(&browser, &app).await;

    browser.goto(&app.url("/events")).await.unwrap();
    type_into(&browser, "event-name", "Demo day").await;
    click(&browser, Locator::Id("event-names")).await;
    click(&browser, Locator::Css("section.card button[type=submit]")).await;
    wait_for_text(&browser, "h1", "Demo day").await;
    assert!(
        browser.find(Locator::Css(".qr svg")).await.is_ok(),
        "QR code shown"
    );
    wait_for_text(&browser, ".count", "0").await;
    // A reload would lose this.
    browser
        .execute("window.rallyMarker = 42; return 1;", vec![])
        .await
        .unwrap();

    for (name, email) in [
        ("Ana Lima", "ana@example.com"),
        ("Bo Chen", "bo@example.com"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    wait_for_text_within(&browser, ".count", "2", Duration::from_secs(20)).await;
    wait_for_text(&browser, ".names", "Bo").await;
    let names = browser
        .find(Locator::Css(".names"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(names.contains("Ana") && !names.contains("Lima"), "{names}");
    let marker = browser
        .execute("return window.rallyMarker;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker,
        serde_json::json!(42),
        "updated in place, not reloaded"
    );
    browser.close().await.unwrap();
}

/// Sign up → invite a member → accept from the development mailbox →
/// quick-add a prospect, on a phone-sized window (390 × 844).
#[tokio::test]
async fn sign_up_invite_accept_and_quick_add_on_a_phone() {
    let app = spawn_app().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let owner = browser(&driver, true, &profiles.path().join("owner")).await;

    owner.goto(&app.url("/signup")).await.unwrap();
    type_into(&owner, "name", "Olga Owner").await;
    type_into(&owner, "email", "olga@phone.test").await;
    type_into(&owner, "password", "a long enough password").await;
    type_into(&owner, "organization", "Olga's Outlets").await;
    click(&owner, Locator::Css("input[name=kind][value=direct_sales]")).await;
    click(&owner, Locator::Css("button[type=submit]")).await;
    wait_for_text(&owner, "h1", "Your account").await;

    owner.goto(&app.url("/people")).await.unwrap();
    type_into(&owner, "invite-email", "rita@phone.test").await;
    click(
        &owner,
        Locator::Css("form[action='/people/invite'] button[type=submit]"),
    )
    .await;
    wait_for_text(&owner, "p.notice", "Invitation sent.").await;

    // The invitation, as Rita receives it: the development mailbox shows a
    // message to its recipient only (she reads it there once she joined).
    let mail = app.mail("To rita@phone.test").await;
    assert!(
        mail.subject.contains("invited you to Olga's Outlets"),
        "{}",
        mail.subject
    );
    let link = app.mail_link("To rita@phone.test").await;
    assert!(link.contains("/invitations/accept"), "{link}");

    // Rita, on her phone, accepts and joins.
    let rita = browser(&driver, true, &profiles.path().join("rita")).await;
    rita.goto(&link).await.unwrap();
    wait_for_text(&rita, "h1", "Join Olga's Outlets").await;
    type_into(&rita, "name", "Rita Rep").await;
    type_into(&rita, "password", "ritas password 123").await;
    click(&rita, Locator::Css("button[type=submit]")).await;
    wait_for_text(&rita, "h1", "Good day").await;
    rita.goto(&app.url("/dev/mailbox")).await.unwrap();
    wait_for_text(&rita, "main", "invited you to Olga's Outlets").await;
    rita.goto(&app.url("/prospects")).await.unwrap();
    wait_for_text(&rita, "h1", "Prospects").await;

    // Quick add: open the form, three fields, send.
    click(&rita, Locator::Css("details.quick-add summary")).await;
    type_into(&rita, "qa-name", "Pat Phone").await;
    type_into(&rita, "qa-email", "pat@phone.test").await;
    type_into(&rita, "qa-phone", "+1 555 010 2233").await;
    // Nothing sticks out sideways on a phone.
    let fits = rita
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        serde_json::Value::Bool(true),
        "the page is wider than the phone"
    );
    click(&rita, Locator::Css("#quick-add button[type=submit]")).await;
    wait_for_text(&rita, "h1", "Pat Phone").await;
    wait_for_text(&rita, "main", "Rita Rep").await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects p JOIN users u ON u.id = p.owner_user_id
             WHERE p.email = 'pat@phone.test' AND u.email = 'rita@phone.test'"
        )
        .await,
        1
    );
    rita.close().await.unwrap();
    owner.close().await.unwrap();
}

/// Every signed-in page fits a 390-px phone: nothing scrolls sideways, not
/// the header's navigation, not a 150-character name without spaces. The
/// owner of a franchise HQ (so `/locations` is a page too), also an
/// operator, with data on every page: prospects in each stage, at HQ and
/// at a location, tags, notes, tasks, notifications, a saved view, a form,
/// an event, an import, a held submission, a dead job. Every GET route of
/// the table is opened (a new page cannot be missed); a signed-in route
/// must show a signed-in page (the header, or presenter mode's projector),
/// not an error.
#[tokio::test]
async fn every_signed_in_page_fits_a_phone() {
    let app = spawn_app_with(|s| s.operators = vec!["owner@demo.rally.test".into()]).await;
    let long = "Wolfeschlegelsteinhausenbergerdorff".repeat(5);
    let long_email = format!("{}@{}.test", "a".repeat(60), "b".repeat(60));
    let now = rally::platform::db::now_ms();
    let held_answers = serde_json::json!({
        "name": long, "email": long_email, "phone": "+1 555 010 2233",
        "company": long, "interest": long, "consent": true,
    })
    .to_string();
    let statements = [
        "UPDATE organizations SET kind = 'franchise' WHERE slug = 'demo'",
        "UPDATE users SET email_verified_at = $1
         WHERE id IN (SELECT user_id FROM memberships WHERE role = 'owner'
                      AND organization_id = (SELECT id FROM organizations WHERE slug = 'demo'))",
        "INSERT INTO prospects (organization_id, email, name, company, source, created_at, updated_at)
         SELECT id, $2, $3, $3, 'import', $1, $1 FROM organizations WHERE slug = 'demo'",
        // One in the trash too, for `/prospects/trash`.
        "INSERT INTO prospects (organization_id, email, name, company, source, created_at, updated_at, deleted_at)
         SELECT id, 'trash' || $2, $3, $3, 'import', $1, $1, $1 FROM organizations WHERE slug = 'demo'",
        "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
         SELECT id, 'note', '{\"note\":\"x\",\"by\":\"y\"}', $1 FROM prospects WHERE email = $2",
        "INSERT INTO prospect_tags (prospect_id, tag) SELECT id, $3 FROM prospects WHERE email = $2",
        "INSERT INTO forms (organization_id, slug, title, is_template, created_at)
         SELECT id, 'long-form', $3, FALSE, $1 FROM organizations WHERE slug = 'demo'",
        "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
         SELECT organization_id, id, $3, $1, $1 FROM forms WHERE slug = 'long-form'",
        "INSERT INTO organizations (slug, name, kind, parent_id, created_at)
         SELECT 'long-location', $3, 'location', id, $1 FROM organizations WHERE slug = 'demo'",
        // A location's prospect, named by its location in HQ's lists.
        "INSERT INTO prospects (organization_id, email, name, company, source, created_at, updated_at)
         SELECT id, 'loc' || $2, $3, $3, 'import', $1, $1 FROM organizations WHERE slug = 'long-location'",
        "INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
         SELECT o.id, m.user_id, 'long.csv', 'email,name,stage,owner\n' || $2 || ',' || $3 || ',hot,\n', $1
         FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE o.slug = 'demo' AND m.role = 'owner'",
        "INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
         SELECT organization_id, id, 'long-held', 'too_fast', $4, $1 FROM forms WHERE slug = 'long-form'",
        // Follow-ups: one overdue, one due later today (home, the prospect).
        "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
         SELECT p.organization_id, p.id, m.user_id, 'call', $3, $1 - 86400000, $1
         FROM prospects p JOIN memberships m ON m.organization_id = p.organization_id AND m.role = 'owner'
         WHERE p.email = $2",
        "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
         SELECT p.organization_id, p.id, m.user_id, 'meeting', $3, $1 + 600000, $1
         FROM prospects p JOIN memberships m ON m.organization_id = p.organization_id AND m.role = 'owner'
         WHERE p.email = $2",
        "INSERT INTO notifications (organization_id, user_id, kind, prospect_id, text, key, created_at)
         SELECT p.organization_id, m.user_id, 'assigned', p.id, $3, 'walk-notice', $1
         FROM prospects p JOIN memberships m ON m.organization_id = p.organization_id AND m.role = 'owner'
         WHERE p.email = $2",
        "INSERT INTO saved_views (organization_id, user_id, name, query, created_at)
         SELECT o.id, m.user_id, $3, 'q=wolfe', $1
         FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE o.slug = 'demo' AND m.role = 'owner'",
        "INSERT INTO audit_log (organization_id, actor_user_id, action, detail, created_at)
         SELECT o.id, m.user_id, 'invite', $3, $1
         FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE o.slug = 'demo' AND m.role = 'owner'",
    ];
    rally::on_pool!(&app.pool, p => {
        for sql in statements {
            // Each statement binds up to the last parameter it names, no more.
            let last = (1..=4).filter(|n| sql.contains(&format!("${n}"))).max().unwrap_or(0);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
            if last >= 1 { query = query.bind(now); }
            if last >= 2 { query = query.bind(&long_email); }
            if last >= 3 { query = query.bind(&long); }
            if last >= 4 { query = query.bind(&held_answers); }
            query.execute(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        // One prospect in each stage, for every badge.
        for stage in rally::prospects::Stage::ALL {
            sqlx::query(
                "INSERT INTO prospects (organization_id, email, name, source, stage, created_at, updated_at)
                 SELECT id, $2, $3, 'import', $3, $1, $1 FROM organizations WHERE slug = 'demo'",
            )
            .bind(now)
            .bind(format!("{}@stage.test", stage.as_str()))
            .bind(stage.as_str())
            .execute(p)
            .await
            .unwrap();
        }
    });
    let id_of = |sql: &'static str| app.count(sql);
    let demo = id_of("SELECT id FROM organizations WHERE slug = 'demo'").await;
    // A dead job, for the operators' pages.
    crate::jobs_dashboard::insert_failed_job(&app, "walk-dead", &long_email, demo, &long, true)
        .await;
    let prospect =
        id_of("SELECT id FROM prospects WHERE name LIKE 'Wolfe%' AND deleted_at IS NULL AND email NOT LIKE 'loc%'").await;
    let other = id_of("SELECT id FROM prospects WHERE email = 'hot@stage.test'").await;
    let form = id_of("SELECT id FROM forms WHERE slug = 'long-form'").await;
    let event = id_of("SELECT id FROM events WHERE name LIKE 'Wolfe%'").await;
    let location = id_of("SELECT id FROM organizations WHERE slug = 'long-location'").await;
    let import = id_of("SELECT id FROM prospect_imports WHERE filename = 'long.csv'").await;
    let held = id_of("SELECT id FROM held_submissions WHERE submission_key = 'long-held'").await;
    let id_for = |path: &str| -> i64 {
        [
            ("/forms/", form),
            ("/held/", held),
            ("/locations/", location),
            ("/prospects/import/", import),
            ("/prospects/", prospect),
            ("/events/", event),
        ]
        .iter()
        .find(|(start, _)| path.starts_with(start))
        .unwrap_or_else(|| panic!("{path}: no object for this kind of id; add one to this test"))
        .1
    };
    // Pages whose useful form needs a query: opened with one as well (the
    // bare address may be an error page, as long as it fits).
    let queries: &[(&str, String)] = &[
        (
            "/ops/jobs/discard",
            "?queue=rally.form_submission&id=walk-dead".into(),
        ),
        ("/prospects/:id/merge", format!("?other={other}")),
        ("/prospects", "?q=wolfe".into()),
    ];

    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let browser = phone(&driver, profiles.path()).await;
    sign_in(&browser, &app).await;
    // Not pages: public ones, streams, files and probes.
    let skip = [
        "/f/:slug",
        "/f/:slug/thanks",
        "/assets/:name",
        "/events/:id/stream",
        "/prospects/export.csv",
        "/metrics",
        "/healthz",
        "/readyz",
    ];
    let mut too_wide = Vec::new();
    let mut not_shown = Vec::new();
    let mut opened = 0;
    for (pattern, methods) in rally::app::routes::route_paths() {
        if !methods.contains(&"get") || skip.contains(&pattern) {
            continue;
        }
        let path: String = pattern
            .split('/')
            .map(|segment| {
                if segment.starts_with(':') {
                    id_for(pattern).to_string()
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let signed_in = matches!(
            rally::organizations::roles::access("get", pattern),
            Some(
                rally::organizations::roles::Access::SignedIn(_)
                    | rally::organizations::roles::Access::Operator
            )
        );
        let with_query: Vec<String> = queries
            .iter()
            .filter(|(p, _)| *p == pattern)
            .map(|(_, q)| format!("{path}{q}"))
            .collect();
        let bare_may_fail = !with_query.is_empty();
        for path in std::iter::once(path.clone()).chain(with_query) {
            let signed_in = signed_in && (!bare_may_fail || path.contains('?'));
            browser.goto(&app.url(&path)).await.unwrap();
            let seen = browser
                .execute(
                    "return [document.documentElement.scrollWidth, location.pathname + location.search,
                             window.innerWidth, !!document.querySelector('header.topbar, .presenter'), document.title];",
                    vec![],
                )
                .await
                .unwrap();
            opened += 1;
            if seen[0].as_i64().unwrap() > 390 {
                too_wide.push(format!("{path} → {}: {}px", seen[1], seen[0]));
            }
            if signed_in && seen[3] != serde_json::json!(true) {
                not_shown.push(format!("{path} → {}: {}", seen[1], seen[4]));
            }
        }
    }
    assert!(opened >= 30, "opened only {opened} pages");
    let viewport = browser
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(viewport, serde_json::json!(390), "a phone's viewport");
    assert!(
        not_shown.is_empty() && too_wide.is_empty(),
        "not shown as a signed-in page: {not_shown:#?}; wider than a phone: {too_wide:#?}"
    );
    browser.close().await.unwrap();
}

/// Back to the public form (a kiosk, a shared phone) shows it empty: the
/// browser's form restoration would otherwise hand the next person the
/// previous person's answers. The hidden tokens stay as the server sent them.
#[tokio::test]
async fn back_to_the_public_form_shows_it_empty() {
    let app = spawn_app().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let js = browser(&driver, true, profiles.path()).await;
    js.goto(&app.url("/f/demo")).await.unwrap();
    type_into(&js, "f-name", "Previous Person").await;
    type_into(&js, "f-email", "previous@example.com").await;
    type_into(&js, "f-phone", "+1 555 010 9999").await;
    type_into(&js, "f-interest", "Private things").await;
    click(&js, Locator::Id("f-consent")).await;
    // Away without sending (a thank-you page is any page), then Back.
    js.goto(&app.url("/f/demo/thanks")).await.unwrap();
    wait_for_text(&js, "#intake-form", "Thank you").await;
    js.back().await.unwrap();
    wait_for_text(&js, "h1", "Meet Demo Co").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = js
        .execute(
            "var f = document.getElementById('intake-form');
             return [f['name'].value, f['email'].value, f['phone'].value, f['interest'].value,
                     f['consent'].checked, f['_key'].value, f['_key'].getAttribute('value'),
                     performance.getEntriesByType('navigation')[0].type];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(state[7], serde_json::json!("back_forward"), "{state}");
    assert_eq!(
        state.as_array().unwrap()[..5],
        serde_json::json!(["", "", "", "", false])
            .as_array()
            .unwrap()[..],
        "the previous person's answers are gone: {state}"
    );
    assert!(
        !state[5].as_str().unwrap().is_empty(),
        "a submission key: {state}"
    );
    assert_eq!(state[5], state[6], "the key the server rendered: {state}");
    js.close().await.unwrap();
}

/// Presenter mode in real Chromium, on a 1280 × 800 projector and a phone:
/// no app navigation, the QR code more than half the screen high and all
/// of it on screen, the address in large type, the warning that the address
/// points to this computer, the full-screen button shown (JavaScript on),
/// the counter live without a reload, and the way back to the live page.
#[tokio::test]
async fn presenter_mode_fills_the_screen_and_counts_live() {
    let app = spawn_app().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let desk = browser_with(&driver, true, &profiles.path().join("desk"), false).await;
    desk.set_window_size(1280, 800).await.unwrap();
    sign_in(&desk, &app).await;
    desk.goto(&app.url("/events")).await.unwrap();
    type_into(&desk, "event-name", "Launch night").await;
    click(&desk, Locator::Css("section.card button[type=submit]")).await;
    wait_for_text(&desk, "h1", "Launch night").await;
    click(&desk, Locator::LinkText("Presenter mode")).await;
    wait_for_text(&desk, ".presenter h1", "Launch night").await;
    let event = desk.current_url().await.unwrap().path().to_string();
    assert!(event.ends_with("/present"), "{event}");
    let seen = desk
        .execute(
            "var qr = document.querySelector('.presenter .qr svg').getBoundingClientRect();
             var url = document.querySelector('.presenter .form-url');
             return [qr.height, qr.top, qr.bottom, qr.left, qr.right, window.innerHeight, window.innerWidth,
                     !!document.querySelector('header.topbar, nav'),
                     parseFloat(getComputedStyle(url).fontSize), url.textContent,
                     !!document.querySelector('.projector-warning'),
                     document.querySelector('button[data-fullscreen]').hidden,
                     document.documentElement.scrollWidth];",
            vec![],
        )
        .await
        .unwrap();
    let num = |i: usize| seen[i].as_f64().unwrap();
    let (height, width) = (num(5), num(6));
    assert!(
        num(0) > height / 2.0,
        "the QR code most of the screen high: {seen}"
    );
    assert!(
        num(1) >= 0.0 && num(3) >= 0.0 && num(4) <= width,
        "the QR code on screen: {seen}"
    );
    assert_eq!(
        seen[7],
        serde_json::json!(false),
        "no app navigation: {seen}"
    );
    assert!(num(8) >= 24.0, "the address in large type: {seen}");
    assert!(seen[9].as_str().unwrap().contains("/f/"), "{seen}");
    assert_eq!(
        seen[10],
        serde_json::json!(true),
        "127.0.0.1 is this computer: {seen}"
    );
    assert_eq!(
        seen[11],
        serde_json::json!(false),
        "full screen offered: {seen}"
    );
    assert!(num(12) <= width, "nothing sideways: {seen}");

    // A submission on the event's form: counted without a reload.
    desk.execute("window.rallyMarker = 7; return 1;", vec![])
        .await
        .unwrap();
    wait_for_text(&desk, ".presenter .counter", "submissions").await;
    wait_for_text(&desk, ".presenter .count", "0").await;
    assert_eq!(
        app.submit(&[("name", "Ana Lima"), ("email", "ana@example.com")])
            .await,
        303
    );
    wait_for_text_within(&desk, ".presenter .count", "1", Duration::from_secs(20)).await;
    let counter = desk
        .find(Locator::Css(".presenter .counter"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        counter.trim_end().ends_with("submission"),
        "one, not plural: {counter:?}"
    );
    let marker = desk
        .execute("return window.rallyMarker;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker,
        serde_json::json!(7),
        "updated in place, not reloaded"
    );

    // On a phone it fits too.
    let phone = phone(&driver, &profiles.path().join("phone")).await;
    sign_in(&phone, &app).await;
    phone.goto(&app.url(&event)).await.unwrap();
    wait_for_text(&phone, ".presenter h1", "Launch night").await;
    let fits = phone
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, serde_json::json!([390, 390]), "{fits}");
    phone.close().await.unwrap();

    click(&desk, Locator::LinkText("Leave presenter mode")).await;
    wait_for_text(&desk, "h1", "Launch night").await;
    assert!(desk.current_url().await.unwrap().path().ends_with("/live"));
    assert!(desk.find(Locator::Css("header.topbar")).await.is_ok());
    desk.close().await.unwrap();
}
