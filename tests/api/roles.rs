//! Roles, by walking the router: every POST route of
//! `rally::app::routes::route_paths()` is sent by each role (member, manager,
//! admin and owner of a direct-sales team; a franchise HQ's owner; a
//! franchise location's admin, manager and member), each with objects of
//! their own organization, and the outcome is compared with the role table
//! (`rally::organizations::roles`): allowed → neither 403 nor 404 (nor a 5xx); refused →
//! 403 when the role ranks too low, 404 when the organization has nothing
//! of the kind. A POST route without an entry in the table fails here.

use std::collections::HashMap;

use rally::organizations::roles::{self, Access, Place, Refusal, Role};

use crate::helpers::{TestApp, client, hidden, spawn_app_with};

pub(crate) const PASSWORD: &str = "walker password 1";

pub(crate) struct Walker {
    pub(crate) label: &'static str,
    pub(crate) email: String,
    pub(crate) role: Role,
    pub(crate) place: Place,
    pub(crate) user_id: i64,
    pub(crate) organization_id: i64,
    pub(crate) client: reqwest::Client,
}

async fn exec(app: &TestApp, sql: String) {
    rally::on_pool!(&app.pool, p => {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
    });
}

async fn sign_in(app: &TestApp, walker: &Walker) {
    let res = app
        .post_as(
            &walker.client,
            "/signin",
            &[("email", walker.email.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303, "{} signs in", walker.label);
}

/// A user with `role` in `organization_id`, signed in with a browser of
/// their own.
async fn walker(
    app: &TestApp,
    hash: &str,
    label: &'static str,
    role: Role,
    place: Place,
    organization_id: i64,
) -> Walker {
    let email = format!("{label}@walk.test");
    let now = rally::platform::db::now_ms();
    exec(
        app,
        format!(
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('{email}', 'Walker {label}', '{hash}', {now})"
        ),
    )
    .await;
    let user_id = app
        .count(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await;
    exec(
        app,
        format!(
            "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ({user_id}, {organization_id}, '{role}', {now})"
        ),
    )
    .await;
    let walker = Walker {
        label,
        email,
        role,
        place,
        user_id,
        organization_id,
        client: client(),
    };
    sign_in(app, &walker).await;
    walker
}

/// The walker's own objects, by the kind of id in a path.
pub(crate) async fn fixtures(
    app: &TestApp,
    w: &Walker,
    hq_template: i64,
) -> HashMap<&'static str, i64> {
    let (org, label, me) = (w.organization_id, w.label, w.user_id);
    let now = rally::platform::db::now_ms();
    for sql in [
        format!("INSERT INTO users (email, name, password_hash, created_at) VALUES ('{label}-role@walk.test', 'Target', 'x', {now})"),
        format!("INSERT INTO users (email, name, password_hash, created_at) VALUES ('{label}-remove@walk.test', 'Target', 'x', {now})"),
        format!("INSERT INTO memberships (user_id, organization_id, role, created_at)
                 SELECT id, {org}, 'member', {now} FROM users WHERE email IN ('{label}-role@walk.test', '{label}-remove@walk.test')"),
        format!("INSERT INTO forms (organization_id, slug, title, created_at) VALUES ({org}, '{label}-form', 'Form of {label}', {now})"),
        format!("INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
                 SELECT {org}, id, 'Event of {label}', {now}, {now} FROM forms WHERE slug = '{label}-form'"),
        format!("INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, owner_user_id)
                 VALUES ({org}, '{label}-prospect@walk.test', 'Prospect', 'manual', {now}, {now}, {me})"),
        format!("INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, owner_user_id, deleted_at)
                 VALUES ({org}, '{label}-trashed@walk.test', 'Trashed', 'manual', {now}, {now}, {me}, {now}),
                        ({org}, '{label}-erased@walk.test', 'Trashed', 'manual', {now}, {now}, {me}, {now})"),
        format!("INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
                 VALUES ({org}, {me}, '{label}.csv', 'email,name\n{label}-imported@walk.test,Imported\n', {now})"),
        format!("INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
                 VALUES ({org}, '{label}-invited@walk.test', 'member', '{label}-token', {me}, {now}, {now} + 86400000)"),
        format!("INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
                 SELECT {org}, id, '{label}-held-key', 'too_fast',
                 '{{\"name\":\"Held {label}\",\"email\":\"{label}-held@walk.test\",\"phone\":null,\"company\":null,\"interest\":null,\"consent\":false}}', {now}
                 FROM forms WHERE slug = '{label}-form'"),
        format!("INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
                 SELECT {org}, id, '{label}-held-discard', 'honeypot',
                 '{{\"name\":\"Held {label}\",\"email\":\"{label}-held2@walk.test\",\"phone\":null,\"company\":null,\"interest\":null,\"consent\":false}}', {now}
                 FROM forms WHERE slug = '{label}-form'"),
        format!("INSERT INTO kept_submissions (organization_id, submission_key, payload, error, kept_at)
                 SELECT {org}, '{label}-kept', '{{\"form_id\":' || id || ',\"submission_key\":\"{label}-kept\",\"answers\":{{\"name\":\"Kept {label}\",\"email\":\"{label}-kept@walk.test\",\"consent\":false}},\"submitted_at\":1}}', 'set aside', {now}
                 FROM forms WHERE slug = '{label}-form'"),
        format!("INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
                 SELECT {org}, id, {me}, 'call', 'walk', {now}, {now} FROM prospects WHERE email = '{label}-prospect@walk.test'"),
        format!("INSERT INTO saved_views (organization_id, user_id, name, query, shared, created_at)
                 VALUES ({org}, {me}, 'View of {label}', 'stage=hot', FALSE, {now})"),
    ] {
        exec(app, sql).await;
    }
    let id = |sql: String| async move { app.count(&sql).await };
    HashMap::from([
        (
            "role",
            id(format!(
                "SELECT id FROM users WHERE email = '{label}-role@walk.test'"
            ))
            .await,
        ),
        (
            "remove",
            id(format!(
                "SELECT id FROM users WHERE email = '{label}-remove@walk.test'"
            ))
            .await,
        ),
        (
            "form",
            id(format!("SELECT id FROM forms WHERE slug = '{label}-form'")).await,
        ),
        (
            "event",
            id(format!(
                "SELECT id FROM events WHERE name = 'Event of {label}'"
            ))
            .await,
        ),
        (
            "prospect",
            id(format!(
                "SELECT id FROM prospects WHERE email = '{label}-prospect@walk.test'"
            ))
            .await,
        ),
        (
            "import",
            id(format!(
                "SELECT id FROM prospect_imports WHERE filename = '{label}.csv'"
            ))
            .await,
        ),
        (
            "invitation",
            id(format!(
                "SELECT id FROM invitations WHERE email = '{label}-invited@walk.test'"
            ))
            .await,
        ),
        (
            "held",
            id(format!(
                "SELECT id FROM held_submissions WHERE submission_key = '{label}-held-key'"
            ))
            .await,
        ),
        (
            "held-discard",
            id(format!(
                "SELECT id FROM held_submissions WHERE submission_key = '{label}-held-discard'"
            ))
            .await,
        ),
        (
            "kept",
            id(format!(
                "SELECT id FROM kept_submissions WHERE submission_key = '{label}-kept'"
            ))
            .await,
        ),
        (
            "view",
            id(format!(
                "SELECT id FROM saved_views WHERE name = 'View of {label}'"
            ))
            .await,
        ),
        (
            "trashed",
            id(format!(
                "SELECT id FROM prospects WHERE email = '{label}-trashed@walk.test'"
            ))
            .await,
        ),
        (
            "trashed-erase",
            id(format!(
                "SELECT id FROM prospects WHERE email = '{label}-erased@walk.test'"
            ))
            .await,
        ),
        ("template", hq_template),
        (
            "task",
            id(format!(
                "SELECT t.id FROM tasks t JOIN prospects p ON p.id = t.prospect_id WHERE p.email = '{label}-prospect@walk.test'"
            ))
            .await,
        ),
    ])
}

/// The fixture for the id in `pattern`.
pub(crate) fn id_kind(pattern: &str) -> &'static str {
    match pattern {
        p if p.starts_with("/forms/templates/") => "template",
        p if p.starts_with("/forms/") => "form",
        p if p.starts_with("/people/invitations/") => "invitation",
        p if p.ends_with("/role") && p.starts_with("/people/") => "role",
        p if p.ends_with("/remove") && p.starts_with("/people/") => "remove",
        p if p.starts_with("/prospects/import/") => "import",
        p if p.starts_with("/prospects/views/") => "view",
        // Restore takes its prospect out of the trash: erase needs another.
        p if p.starts_with("/prospects/trash/") && p.ends_with("/erase") => "trashed-erase",
        p if p.starts_with("/prospects/trash/") => "trashed",
        p if p.starts_with("/prospects/") => "prospect",
        p if p.starts_with("/events/") => "event",
        // Release takes its held submission away: discard needs another.
        p if p.starts_with("/held/") && p.ends_with("/release") => "held",
        p if p.starts_with("/held/") => "held-discard",
        p if p.starts_with("/jobs/kept/") => "kept",
        p if p.starts_with("/tasks/") => "task",
        p => panic!("{p}: no object of the walker's own for this kind of id; add one to this test"),
    }
}

/// What the table says of `pattern` for `w`: `Ok(())` allowed, else why not.
fn expected(w: &Walker, pattern: &str) -> Result<(), Refusal> {
    match roles::access("post", pattern) {
        None => panic!(
            "POST {pattern} has no entry in rally::organizations::roles::ROUTES: say who may call it"
        ),
        Some(Access::Public) => Ok(()),
        Some(Access::SignedIn(action)) => roles::check(w.role, w.place, action),
        // No walker is an operator: the operators' pages are not there.
        Some(Access::Operator) => Err(Refusal::NotHere),
    }
}

async fn post(app: &TestApp, w: &Walker, path: &str, ids: &HashMap<&str, i64>) -> (u16, String) {
    let csrf = hidden(&app.page_as(&w.client, "/account").await, "_csrf");
    let email = format!("{}-new@walk.test", w.label);
    let me = w.user_id.to_string();
    let org = w.organization_id.to_string();
    let form = ids["form"].to_string();
    // Plausible fields for any form, chosen so that an allowed request
    // does its work (or is refused for its content) without undoing the
    // walk: a transfer names the walker, a role change keeps the role.
    let fields = [
        ("_csrf", csrf.as_str()),
        ("name", "Walked"),
        ("title", "Walked form"),
        ("email", email.as_str()),
        ("role", "member"),
        ("stage", "contacted"),
        ("note", "walked"),
        ("user_id", me.as_str()),
        ("organization_id", org.as_str()),
        ("form_id", form.as_str()),
        ("publish", "no"),
        ("queue", "rally.form_submission"),
        ("id", "1"),
        ("token", "not-a-token"),
        ("password", "x"),
        ("kind", "call"),
        ("due", "2026-06-15T09:30"),
        ("for", "hour"),
    ];
    let res = app.post_as(&w.client, path, &fields).await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_post_route_answers_each_role_as_the_table_says() {
    let app = spawn_app_with(|s| {
        s.signin_per_ip_per_min = 100_000;
        s.signin_per_account_per_min = 100_000;
        s.signup_per_ip_per_min = 100_000;
    })
    .await;
    let hash = rally::platform::security::hash_password(PASSWORD.into())
        .await
        .unwrap();
    let now = rally::platform::db::now_ms();
    let demo = app
        .count("SELECT organization_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'owner@demo.rally.test'")
        .await;
    for sql in [
        format!("INSERT INTO organizations (slug, name, kind, created_at) VALUES ('walk-hq', 'Walk HQ', 'franchise', {now})"),
        format!("INSERT INTO organizations (slug, name, kind, parent_id, created_at)
                 SELECT 'walk-location', 'Walk Location', 'location', id, {now} FROM organizations WHERE slug = 'walk-hq'"),
        format!("INSERT INTO forms (organization_id, slug, title, is_template, created_at)
                 SELECT id, 'walk-template', 'HQ Template', TRUE, {now} FROM organizations WHERE slug = 'walk-hq'"),
    ] {
        exec(&app, sql).await;
    }
    let hq = app
        .count("SELECT id FROM organizations WHERE slug = 'walk-hq'")
        .await;
    let location = app
        .count("SELECT id FROM organizations WHERE slug = 'walk-location'")
        .await;
    let template = app
        .count("SELECT id FROM forms WHERE slug = 'walk-template'")
        .await;
    use Place::*;
    use Role::*;
    let team: [(&'static str, Role, Place, i64); 8] = [
        ("owner", Owner, Standalone, demo),
        ("admin", Admin, Standalone, demo),
        ("manager", Manager, Standalone, demo),
        ("member", Member, Standalone, demo),
        ("hq-owner", Owner, Hq, hq),
        ("location-admin", Admin, Location, location),
        ("location-manager", Manager, Location, location),
        ("location-member", Member, Location, location),
    ];
    let mut walkers = Vec::new();
    for (label, role, place, org) in team {
        walkers.push(walker(&app, &hash, label, role, place, org).await);
    }

    let mut posts: Vec<&'static str> = rally::app::routes::route_paths()
        .into_iter()
        .filter(|(_, methods)| methods.contains(&"post"))
        .map(|(pattern, _)| pattern)
        .collect();
    assert!(posts.len() >= 25, "the router lists its POST routes");
    // Signing out comes last: it ends the walker's session.
    posts.sort_by_key(|p| p.starts_with("/signout"));
    posts.retain(|p| *p != "/signout/everywhere");
    posts.push("/signout/everywhere");

    let mut walked = 0;
    for w in &walkers {
        let ids = fixtures(&app, w, template).await;
        for pattern in &posts {
            if *pattern == "/signout/everywhere" {
                sign_in(&app, w).await;
            }
            let path: String = pattern
                .split('/')
                .map(|segment| match segment {
                    // The public form: the walker's organization's form.
                    ":slug" => format!("{}-form", w.label),
                    s if s.starts_with(':') => ids[id_kind(pattern)].to_string(),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let (status, body) = post(&app, w, &path, &ids).await;
            let who = format!("{} ({} at {:?})", w.label, w.role, w.place);
            assert!(status < 500, "{who}: POST {path} answered {status}: {body}");
            match expected(w, pattern) {
                Ok(()) => assert!(
                    status != 403 && status != 404,
                    "{who} may POST {path} by the table, got {status}: {body}"
                ),
                Err(Refusal::RoleTooLow(_)) => assert_eq!(
                    status, 403,
                    "{who} may not POST {path} by the table: {body}"
                ),
                Err(Refusal::NotHere) => assert_eq!(
                    status, 404,
                    "{who}: POST {path} is not for this kind of organization: {body}"
                ),
            }
            walked += 1;
        }
    }
    assert_eq!(walked, posts.len() * walkers.len());

    // What was refused left no trace: members' events are still live and
    // the invitations they could not withdraw still wait.
    for label in ["member", "location-member"] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM events WHERE name = 'Event of {label}' AND ends_at IS NULL"
            ))
            .await,
            1,
            "{label} ended an event"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM invitations WHERE email = '{label}-invited@walk.test' AND revoked_at IS NULL"
            ))
            .await,
            1,
            "{label} withdrew an invitation"
        );
    }
    // And what was allowed happened: managers end events.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM events WHERE name = 'Event of manager' AND ends_at IS NOT NULL"
        )
        .await,
        1
    );
}

/// The faults found: a member ended the owner's live event and started
/// events; a manager withdrew an invitation the owner made for an admin.
#[tokio::test]
async fn members_do_not_run_events_and_managers_withdraw_only_invitations_below_them() {
    let app = spawn_app_with(|s| {
        s.signin_per_ip_per_min = 100_000;
    })
    .await;
    app.sign_in().await;
    let owner_csrf = app.csrf_as(&app.client, "/events").await;
    let form_id = app.count("SELECT id FROM forms WHERE slug = 'demo'").await;
    let res = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", owner_csrf.as_str()),
                ("name", "Owner's launch"),
                ("form_id", &form_id.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let event = app
        .count("SELECT id FROM events WHERE name = 'Owner''s launch'")
        .await;
    let (member, _) = crate::people::join(&app, "rep@walk.test", "member").await;
    let csrf = app.csrf_as(&member, "/account").await;
    let res = app
        .post_as(
            &member,
            &format!("/events/{event}/end"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .post_as(
            &member,
            "/events",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Rogue event"),
                ("form_id", &form_id.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM events WHERE ends_at IS NULL")
            .await,
        1
    );

    let (manager, _) = crate::people::join(&app, "lead@walk.test", "manager").await;
    let res = app
        .post_as(
            &app.client,
            "/people/invite",
            &[
                ("_csrf", owner_csrf.as_str()),
                ("email", "future-admin@walk.test"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let invitation = app
        .count("SELECT id FROM invitations WHERE email = 'future-admin@walk.test'")
        .await;
    let csrf = app.csrf_as(&manager, "/people").await;
    let res = app
        .post_as(
            &manager,
            &format!("/people/invitations/{invitation}/revoke"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invitations WHERE email = 'future-admin@walk.test' AND revoked_at IS NULL")
            .await,
        1
    );
    // The manager's page offers no "Withdraw" for it; the owner's does.
    let page = app.page_as(&manager, "/people").await;
    assert!(
        !page.contains(&format!("/people/invitations/{invitation}/revoke")),
        "{page}"
    );
    assert!(
        app.page("/people")
            .await
            .contains(&format!("/people/invitations/{invitation}/revoke"))
    );
}
