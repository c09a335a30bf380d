//! Tenant isolation, by walking the router: a signed-in owner of
//! organization A asks for every route with the ids of organization B's
//! objects, and gets 404 or 403 — and B's data stays as it was and never
//! shows on A's pages. Every GET page without an id (lists, dashboards,
//! the mailbox, exports, event pages, failed jobs, search) is opened too,
//! with search and paging queries, after B was given data in every such
//! place: prospects, an event, an import, an invitation, mail, dead and
//! retrying jobs with B's address in their errors, a set-aside submission.
//! Routes come from `rally::app::routes::route_paths()`, so a route added later
//! is walked without editing this test; a route with a new kind of id
//! fails here until B has an object of that kind below.

use crate::{
    helpers::{hidden, spawn_app},
    jobs_dashboard::insert_failed_job,
};

/// B's secrets: none may appear on any page A can open.
const B_SECRETS: &[&str] = &[
    "secret-b@org-b.test",
    "Bea Hidden",
    "B Launch Night",
    "bea@org-b.test",
    "B Secret Subject",
    "b-owner-reset-token",
    "kept-b@org-b.test",
    "B Secret Task",
    "B Secret Notification",
    "b-secret-tag",
    "trash-b@org-b.test",
    "Bea Trashed",
    "B Secret Question",
    "Bea Backroom",
    "inv-loc-b@org-b.test",
];

/// Queries every page without an id is opened with (search, paging, the
/// notices, a dead letter's id).
const QUERIES: &[&str] = &[
    "",
    "?q=Bea",
    "?q=secret-b",
    "?q=Hidden&page=2",
    "?page=2",
    "?done=retried",
    "?queue=rally.form_submission&id=b-dead-1",
    "?owner=unassigned",
    "?owner=unassigned&q=secret-b",
    "?sort=name&q=Bea",
    "?sort=activity",
];

/// Routes that are public by design (a form anyone may fill in, static
/// assets): no organization owns access to them.
const PUBLIC: &[&str] = &["/f/:slug", "/f/:slug/thanks", "/assets/:name"];

#[tokio::test]
async fn organization_a_cannot_reach_organization_b_on_any_route() {
    let app = spawn_app().await;
    app.sign_in().await;
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('org-b', 'Org B', 'business', $1)",
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('bea@org-b.test', 'Bea Boss', 'x', $1)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'member', $1 FROM users u, organizations o WHERE u.email = 'bea@org-b.test' AND o.slug = 'org-b'",
            "INSERT INTO forms (organization_id, slug, title, is_template, created_at)
             SELECT id, 'org-b-form', 'B Secret Form', TRUE, $1 FROM organizations WHERE slug = 'org-b'",
            "INSERT INTO organizations (slug, name, kind, parent_id, created_at)
             SELECT 'org-b-location', 'B Backroom Location', 'location', id, $1 FROM organizations WHERE slug = 'org-b'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'secret-b@org-b.test', 'Bea Hidden', 'import', $1, $1 FROM organizations WHERE slug = 'org-b'",
            "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
             SELECT id, 'note', '{\"note\":\"b only\",\"by\":\"Bea\"}', $1 FROM prospects WHERE email = 'secret-b@org-b.test'",
            // A prospect in B's trash.
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, deleted_at)
             SELECT id, 'trash-b@org-b.test', 'Bea Trashed', 'import', $1, $1, $1 FROM organizations WHERE slug = 'org-b'",
            "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
             SELECT organization_id, id, 'B Launch Night', $1, $1 FROM forms WHERE slug = 'org-b-form'",
            "INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
             SELECT o.id, u.id, 'b.csv', 'email,name\nsecret-b@org-b.test,Bea Hidden\n', $1
             FROM organizations o, users u WHERE o.slug = 'org-b' AND u.email = 'bea@org-b.test'",
            "INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
             SELECT organization_id, id, 'b-held-key', 'too_fast',
                    '{\"name\":\"Bea Hidden\",\"email\":\"secret-b@org-b.test\",\"phone\":null,\"company\":null,\"interest\":null,\"consent\":false}', $1
             FROM forms WHERE slug = 'org-b-form'",
            "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
             SELECT o.id, 'new@org-b.test', 'member', 'b-token-hash', u.id, $1, $1 + 86400000
             FROM organizations o, users u WHERE o.slug = 'org-b' AND u.email = 'bea@org-b.test'",
            // Mail of B's, to B's person.
            "INSERT INTO emails (key, organization_id, to_addr, subject, html, text, created_at)
             SELECT 'b-mail', id, 'bea@org-b.test', 'B Secret Subject', '<p>for Bea</p>', 'for Bea', $1
             FROM organizations WHERE slug = 'org-b'",
            // A person in both organizations (B's owner, a member of A's)
            // whose reset link was tagged with A, their first membership.
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('two@both.test', 'Tu Both', 'x', $1)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'member', $1 FROM users u, organizations o WHERE u.email = 'two@both.test' AND o.slug = 'demo'",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'owner', $1 FROM users u, organizations o WHERE u.email = 'two@both.test' AND o.slug = 'org-b'",
            "INSERT INTO emails (key, organization_id, to_addr, subject, html, text, created_at)
             SELECT 'b-reset', id, 'two@both.test', 'Reset your Rally password',
                    '<a href=\"http://x/password/reset?token=b-owner-reset-token\">reset</a>',
                    'http://x/password/reset?token=b-owner-reset-token', $1
             FROM organizations WHERE slug = 'demo'",
            // A submission of B's that an operator set aside.
            "INSERT INTO kept_submissions (organization_id, submission_key, payload, error, kept_at)
             SELECT id, 'b-kept', '{\"form_id\":1,\"submission_key\":\"b-kept\",\"answers\":{\"name\":\"Bea Hidden\",\"email\":\"kept-b@org-b.test\",\"consent\":false},\"submitted_at\":1}', 'form gone', $1
             FROM organizations WHERE slug = 'org-b'",
            // A follow-up of B's, and a notification of B's person's (also
            // one in B for the person in both organizations).
            "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
             SELECT p.organization_id, p.id, u.id, 'call', 'B Secret Task', $1 - 3600000, $1
             FROM prospects p, users u WHERE p.email = 'secret-b@org-b.test' AND u.email = 'bea@org-b.test'",
            "INSERT INTO notifications (organization_id, user_id, kind, prospect_id, text, key, created_at)
             SELECT p.organization_id, u.id, 'assigned', p.id, 'B Secret Notification', 'b-note-1', $1
             FROM prospects p, users u WHERE p.email = 'secret-b@org-b.test' AND u.email = 'bea@org-b.test'",
            "INSERT INTO notifications (organization_id, user_id, kind, prospect_id, text, key, created_at)
             SELECT p.organization_id, u.id, 'new_lead', p.id, 'B Secret Notification', 'b-note-2', $1
             FROM prospects p, users u WHERE p.email = 'secret-b@org-b.test' AND u.email = 'two@both.test'",
            // B's saved view, shared in B.
            "INSERT INTO saved_views (organization_id, user_id, name, query, shared, created_at)
             SELECT o.id, u.id, 'Bea Hidden view', 'q=secret-b', TRUE, $1
             FROM organizations o, users u WHERE o.slug = 'org-b' AND u.email = 'bea@org-b.test'",
            "INSERT INTO prospect_tags (prospect_id, tag)
             SELECT id, 'b-secret-tag' FROM prospects WHERE email = 'secret-b@org-b.test'",
            // A person at B's location, and an invitation waiting there.
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('loc-b@org-b.test', 'Bea Backroom', 'x', $1)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'manager', $1 FROM users u, organizations o WHERE u.email = 'loc-b@org-b.test' AND o.slug = 'org-b-location'",
            "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
             SELECT o.id, 'inv-loc-b@org-b.test', 'member', 'b-loc-token-hash', u.id, $1, $1 + 86400000
             FROM organizations o, users u WHERE o.slug = 'org-b-location' AND u.email = 'bea@org-b.test'",
            // A question of B's own on B's form, and B's branding.
            "INSERT INTO form_fields (organization_id, form_id, position, kind, label, created_at)
             SELECT organization_id, id, 1, 'text', 'B Secret Question', $1 FROM forms WHERE slug = 'org-b-form'",
            "INSERT INTO organization_branding (organization_id, accent, updated_at)
             SELECT id, '#123456', $1 FROM organizations WHERE slug = 'org-b'",
            // A failure an SQS worker recorded for B.
            "INSERT INTO jobs_failures (kind, attempt, dead, error, at, organization_id, body)
             SELECT 'rally.email_send', 1, FALSE, 'Mailgun answered 500 for secret-b@org-b.test', $1, id, '{}'
             FROM organizations WHERE slug = 'org-b'",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(now).execute(p).await.unwrap();
        }
    });
    // B's failed work, with B's person's address in the errors.
    let org_b = app
        .count("SELECT id FROM organizations WHERE slug = 'org-b'")
        .await;
    insert_failed_job(
        &app,
        "b-dead-1",
        "secret-b@org-b.test",
        org_b,
        "Mailgun refused secret-b@org-b.test",
        true,
    )
    .await;
    insert_failed_job(
        &app,
        "b-retrying-1",
        "secret-b@org-b.test",
        org_b,
        "busy for secret-b@org-b.test",
        false,
    )
    .await;
    let id_of = |sql: &'static str| app.count(sql);
    let prospect = id_of("SELECT id FROM prospects WHERE email = 'secret-b@org-b.test'").await;
    let event = id_of("SELECT id FROM events WHERE name = 'B Launch Night'").await;
    let person = id_of("SELECT id FROM users WHERE email = 'bea@org-b.test'").await;
    let invitation = id_of("SELECT id FROM invitations WHERE email = 'new@org-b.test'").await;
    let import = id_of("SELECT id FROM prospect_imports WHERE filename = 'b.csv'").await;
    let form = id_of("SELECT id FROM forms WHERE slug = 'org-b-form'").await;
    let location = id_of("SELECT id FROM organizations WHERE slug = 'org-b-location'").await;
    let held = id_of("SELECT id FROM held_submissions WHERE submission_key = 'b-held-key'").await;
    let kept = id_of("SELECT id FROM kept_submissions WHERE submission_key = 'b-kept'").await;
    let task = id_of("SELECT id FROM tasks WHERE note = 'B Secret Task'").await;
    let view = id_of("SELECT id FROM saved_views WHERE name = 'Bea Hidden view'").await;
    let trashed = id_of("SELECT id FROM prospects WHERE email = 'trash-b@org-b.test'").await;
    // B's object for each kind of id in a path, by the path's start.
    let b_id = |path: &str| -> String {
        let id = if path.starts_with("/jobs/kept/") {
            kept
        } else if path.starts_with("/forms/") {
            form
        } else if path.starts_with("/held/") {
            held
        } else if path.starts_with("/locations/") {
            location
        } else if path.starts_with("/prospects/import/") {
            import
        } else if path.starts_with("/prospects/views/") {
            view
        } else if path.starts_with("/prospects/trash/") {
            trashed
        } else if path.starts_with("/prospects/") {
            prospect
        } else if path.starts_with("/events/") {
            event
        } else if path.starts_with("/people/invitations/") {
            invitation
        } else if path.starts_with("/people/") {
            person
        } else if path.starts_with("/tasks/") {
            task
        } else {
            panic!("{path}: no object of organization B for this kind of id; add one to this test")
        };
        id.to_string()
    };

    let page = app.page("/prospects").await;
    let csrf = hidden(&page, "_csrf");
    // Plausible fields for any form: what a real request would carry.
    let fields = [
        ("_csrf", csrf.as_str()),
        ("name", "Taken Over"),
        ("email", "taken@example.com"),
        ("role", "member"),
        ("stage", "lost"),
        ("note", "A was here"),
        ("user_id", "1"),
        ("queue", "rally.form_submission"),
        ("id", "b-dead-1"),
        ("confirm", "yes"),
        ("kind", "call"),
        ("due", "2026-06-15T09:30"),
        ("for", "week"),
    ];
    let routes = rally::app::routes::route_paths();
    assert!(routes.len() > 30, "the router lists its routes");
    let mut walked = 0;
    let mut pages = 0;
    for (pattern, methods) in &routes {
        if PUBLIC.contains(pattern) {
            continue;
        }
        if !pattern.contains(':') {
            // A page without ids: it must not show B's data, whatever it
            // is asked to search or list.
            if methods.contains(&"get") && !pattern.ends_with("/stream") {
                for query in QUERIES {
                    let res = app.get(&format!("{pattern}{query}")).await;
                    let status = res.status().as_u16();
                    assert!(status < 500, "GET {pattern}{query} answered {status}");
                    let body = res.text().await.unwrap_or_default();
                    for secret in B_SECRETS {
                        assert!(!body.contains(secret), "{pattern}{query} shows {secret:?}");
                    }
                    pages += 1;
                }
            }
            continue;
        }
        let path: String = pattern
            .split('/')
            .map(|segment| {
                if segment.starts_with(':') {
                    b_id(pattern)
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            let res = match *method {
                "get" => app.get(&path).await,
                "post" => app.post_as(&app.client, &path, &fields).await,
                other => panic!("{pattern}: method {other} not walked; add it here"),
            };
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            assert!(
                status == 404 || status == 403,
                "{method} {path} ({pattern}) answered {status}"
            );
            for secret in B_SECRETS {
                assert!(!body.contains(secret), "{method} {path} shows {secret:?}");
            }
            walked += 1;
        }
    }
    assert!(walked >= 10, "walked only {walked} routes with ids");
    assert!(pages >= 15 * QUERIES.len(), "opened only {pages} pages");
    // The failed-work actions, which take a job's id in their form: B's
    // dead letter is not A's to retry, nor (A being no operator) to discard.
    for path in ["/jobs/retry", "/ops/jobs/retry", "/ops/jobs/discard"] {
        let res = app.post_as(&app.client, path, &fields).await;
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        assert!(
            status == 404 || location.as_deref() == Some("/jobs?done=gone"),
            "POST {path} answered {status} {location:?}"
        );
    }
    // B's location's people, named with B's location: not A's to manage.
    let backroom = id_of("SELECT id FROM users WHERE email = 'loc-b@org-b.test'").await;
    let backroom_invitation =
        id_of("SELECT id FROM invitations WHERE email = 'inv-loc-b@org-b.test'").await;
    let location_field = location.to_string();
    for path in [
        format!("/people/{backroom}/role"),
        format!("/people/{backroom}/remove"),
        format!("/people/invitations/{backroom_invitation}/revoke"),
    ] {
        let mut with_location = fields.to_vec();
        with_location.push(("location", location_field.as_str()));
        let res = app.post_as(&app.client, &path, &with_location).await;
        assert_eq!(res.status(), 404, "POST {path} with B's location");
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
                   WHERE u.email = 'loc-b@org-b.test' AND m.role = 'manager'"
        )
        .await,
        1
    );
    let queue = jobs::SqlQueue::new(app.pool.queue_store(), Default::default());
    let dead = queue.dead_letters(10).await.unwrap();
    assert!(
        dead.iter()
            .any(|d| d.id == "b-dead-1" && d.organization == Some(org_b)),
        "B's dead letter stays: {dead:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM kept_submissions WHERE submission_key = 'b-kept'")
            .await,
        1
    );
    // The bulk actions take prospects' ids in their form: B's prospect,
    // named by id or caught by "all matching", is never touched, exported
    // or deleted.
    let prospect_id = prospect.to_string();
    for action in ["assign", "stage", "tag", "untag", "export", "delete"] {
        for all in ["", "yes"] {
            let res = app
                .post_as(
                    &app.client,
                    "/prospects/bulk",
                    &[
                        ("_csrf", csrf.as_str()),
                        ("action", action),
                        ("id", prospect_id.as_str()),
                        ("all", all),
                        ("filter", "q=secret-b"),
                        ("stage", "lost"),
                        ("tag", "b-secret-tag"),
                        ("owner", ""),
                        ("confirm", "yes"),
                        ("expect", "1"),
                    ],
                )
                .await;
            let status = res.status().as_u16();
            assert!(status < 500, "bulk {action} answered {status}");
            let body = res.text().await.unwrap_or_default();
            for secret in B_SECRETS {
                assert!(!body.contains(secret), "bulk {action} shows {secret:?}");
            }
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospect_tags WHERE tag = 'b-secret-tag'")
            .await,
        1
    );
    // Merging names the other prospect in its form (and its page in the
    // query): B's prospect, live or trashed, is not found from A's own.
    let mine =
        crate::prospect_list::add(&app, "A Mine", "a-mine@example.com", "", "", "new", "").await;
    for other in [prospect, trashed] {
        let other = other.to_string();
        let res = app
            .post_as(
                &app.client,
                &format!("/prospects/{mine}/merge"),
                &[
                    ("_csrf", csrf.as_str()),
                    ("other", other.as_str()),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(res.status(), 404, "merge B's {other} into A's");
        let res = app
            .get(&format!("/prospects/{mine}/merge?other={other}"))
            .await;
        assert_eq!(res.status(), 404);
        let body = res.text().await.unwrap_or_default();
        for secret in B_SECRETS {
            assert!(!body.contains(secret), "merge page shows {secret:?}");
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email IN ('secret-b@org-b.test', 'trash-b@org-b.test')")
            .await,
        2
    );
    // Filters naming B's things (its location, its person) find nothing.
    for query in [
        "?tag=b-secret-tag".to_string(),
        format!("?location={location}"),
        format!("?owner={person}"),
        format!("?event={event}"),
        format!("?form={form}"),
    ] {
        for page in ["/prospects", "/pipeline"] {
            let body = app.page(&format!("{page}{query}")).await;
            // The filter form shows what was asked (the tag as typed).
            for secret in B_SECRETS.iter().filter(|s| !query.contains(**s)) {
                assert!(!body.contains(secret), "{page}{query} shows {secret:?}");
            }
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM saved_views WHERE name = 'Bea Hidden view'")
            .await,
        1
    );
    // The one route that takes an organization's id in its form: switching
    // the session to B is refused, and A still works in A.
    let b = app
        .count("SELECT id FROM organizations WHERE slug = 'org-b'")
        .await;
    let res = app
        .post_as(
            &app.client,
            "/account/organization",
            &[
                ("_csrf", csrf.as_str()),
                ("organization_id", &b.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(
        app.page("/prospects")
            .await
            .contains("<span class=\"org\">Demo Co<")
    );
    // And nothing of B's changed.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'secret-b@org-b.test' AND name = 'Bea Hidden' AND stage = 'new' AND deleted_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'trash-b@org-b.test' AND deleted_at IS NOT NULL")
            .await,
        1,
        "B's trashed prospect is neither restored nor erased"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM timeline_entries WHERE data LIKE '%A was here%'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'bea@org-b.test' AND m.role = 'member'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM invitations WHERE email = 'new@org-b.test' AND revoked_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events WHERE name = 'B Launch Night' AND ends_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM held_submissions WHERE submission_key = 'b-held-key'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tasks WHERE note = 'B Secret Task' AND done_at IS NULL AND due_at < created_at")
            .await,
        1,
        "B's follow-up is neither done nor snoozed"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notifications WHERE text = 'B Secret Notification' AND read_at IS NULL")
            .await,
        2
    );
}
