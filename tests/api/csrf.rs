//! CSRF, by walking the router: every POST route of
//! `rally::app::routes::route_paths()` that needs a session is sent by the
//! organization's owner (also an operator, so the operators' routes are
//! reached) with objects of their own, **without** the session's CSRF
//! token, with a wrong one, with one a byte off, and as a multipart form
//! (the CSV import's encoding) without one: each answers 403 and nothing
//! in the database changes. The public POST routes are listed here by
//! name; a new one fails the walk until it is added (and thought about).

use std::collections::HashMap;

use rally::organizations::roles::{self, Access, Place, Role};

use crate::{
    helpers::{TestApp, spawn_app_with},
    roles::{Walker, fixtures, id_kind},
};

/// The POST routes anyone may call, signed in or not: they have no session
/// to protect (the public form, sign-in, sign-up, password reset, an email
/// change confirmed with its signed link), or (an invitation's acceptance) check the token themselves when a session
/// comes along (`rally::platform::web::csrf::check`).
const PUBLIC_POSTS: &[&str] = &[
    "/f/:slug",
    "/signin",
    "/signup",
    "/password/forgot",
    "/password/reset",
    "/invitations/accept",
    "/account/email/confirm",
];

/// What the walk could change, read as one list of numbers.
async fn fingerprint(app: &TestApp) -> Vec<(&'static str, i64)> {
    let queries = [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM organizations",
        "SELECT COUNT(*) FROM memberships",
        "SELECT CAST(COALESCE(SUM(CASE role WHEN 'owner' THEN 1000 WHEN 'admin' THEN 100 WHEN 'manager' THEN 10 ELSE 1 END), 0) AS BIGINT) FROM memberships",
        "SELECT COUNT(*) FROM sessions",
        "SELECT CAST(COALESCE(SUM(organization_id), 0) AS BIGINT) FROM sessions",
        "SELECT COUNT(*) FROM forms",
        "SELECT COUNT(*) FROM forms WHERE is_template",
        "SELECT COUNT(*) FROM events",
        "SELECT COUNT(*) FROM events WHERE ends_at IS NULL",
        "SELECT COUNT(*) FROM invitations",
        "SELECT COUNT(*) FROM invitations WHERE revoked_at IS NULL AND accepted_at IS NULL",
        "SELECT COUNT(*) FROM prospects",
        "SELECT COUNT(*) FROM prospects WHERE deleted_at IS NULL",
        "SELECT CAST(COALESCE(SUM(LENGTH(email)), 0) AS BIGINT) FROM prospects",
        "SELECT COALESCE(MAX(updated_at), 0) FROM prospects",
        "SELECT COUNT(*) FROM timeline_entries",
        "SELECT COUNT(*) FROM prospect_tags",
        "SELECT COUNT(*) FROM prospect_imports",
        "SELECT COUNT(*) FROM prospect_imports WHERE applied_at IS NOT NULL",
        "SELECT COUNT(*) FROM held_submissions",
        "SELECT COUNT(*) FROM kept_submissions",
        "SELECT COUNT(*) FROM emails",
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM tasks",
        "SELECT COUNT(*) FROM tasks WHERE done_at IS NULL",
        "SELECT CAST(COALESCE(SUM(due_at), 0) AS BIGINT) FROM tasks",
        "SELECT COUNT(*) FROM notifications WHERE read_at IS NULL",
        "SELECT COUNT(*) FROM users WHERE notify_assigned = TRUE AND notify_new_lead = TRUE AND notify_summary = TRUE",
        "SELECT COUNT(*) FROM users WHERE time_zone IS NOT NULL",
        "SELECT COUNT(*) FROM organizations WHERE time_zone <> 'UTC'",
        "SELECT COUNT(*) FROM saved_views",
        "SELECT COUNT(*) FROM prospects WHERE owner_user_id IS NULL",
        "SELECT CAST(COALESCE(SUM(LENGTH(stage)), 0) AS BIGINT) FROM prospects",
        "SELECT COUNT(*) FROM form_fields",
        "SELECT CAST(COALESCE(SUM(position), 0) AS BIGINT) FROM form_fields",
        "SELECT CAST(COALESCE(SUM(LENGTH(label)), 0) AS BIGINT) FROM form_fields",
        "SELECT COUNT(*) FROM organization_branding",
        "SELECT COUNT(*) FROM forms WHERE redirect_url <> ''",
        "SELECT COUNT(*) FROM home_checklist_dismissals",
    ];
    let mut out = Vec::new();
    for sql in queries {
        out.push((sql, app.count(sql).await));
    }
    out
}

/// `pattern` with the walker's objects in place of its parameters.
fn path_of(pattern: &str, ids: &HashMap<&str, i64>) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            s if s.starts_with(':') => ids[id_kind(pattern)].to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_signed_in_post_refuses_a_missing_or_wrong_csrf_token() {
    let app = spawn_app_with(|s| s.operators = vec!["owner@demo.rally.test".into()]).await;
    app.sign_in().await;
    // Operators have confirmed their address.
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE users SET email_verified_at = 1 WHERE email = 'owner@demo.rally.test'")
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    assert_eq!(app.get("/ops/jobs").await.status(), 200, "an operator");
    let csrf = app.csrf_as(&app.client, "/account").await;
    assert!(csrf.len() > 8, "{csrf}");
    let owner = Walker {
        label: "owner",
        email: app.demo.email.clone(),
        role: Role::Owner,
        place: Place::Standalone,
        user_id: app
            .count("SELECT id FROM users WHERE email = 'owner@demo.rally.test'")
            .await,
        organization_id: app
            .count("SELECT m.organization_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'owner@demo.rally.test'")
            .await,
        client: app.client.clone(),
    };
    let form = app.count("SELECT id FROM forms WHERE slug = 'demo'").await;
    let ids = fixtures(&app, &owner, form).await;

    // The public ones are exactly those the role table opens to anyone.
    let posts: Vec<&'static str> = rally::app::routes::route_paths()
        .into_iter()
        .filter(|(_, methods)| methods.contains(&"post"))
        .map(|(pattern, _)| pattern)
        .collect();
    assert!(posts.len() >= 25, "the router lists its POST routes");
    for pattern in &posts {
        let public = matches!(roles::access("post", pattern), Some(Access::Public));
        assert_eq!(
            public,
            PUBLIC_POSTS.contains(pattern),
            "POST {pattern}: public by the role table is {public}; list it in PUBLIC_POSTS (or not)"
        );
    }

    let before = fingerprint(&app).await;
    // A token of the right length, one character off.
    let mut off_by_one = csrf.clone().into_bytes();
    off_by_one[0] = if off_by_one[0] == b'a' { b'b' } else { b'a' };
    let off_by_one = String::from_utf8(off_by_one).unwrap();
    let email = "walked@walk.test".to_string();
    let me = owner.user_id.to_string();
    let org = owner.organization_id.to_string();
    let form_id = form.to_string();
    let fields = [
        ("name", "Walked"),
        ("title", "Walked form"),
        ("email", email.as_str()),
        ("role", "member"),
        ("stage", "contacted"),
        ("note", "walked"),
        ("user_id", me.as_str()),
        ("organization_id", org.as_str()),
        ("form_id", form_id.as_str()),
        ("publish", "yes"),
        ("queue", "rally.form_submission"),
        ("id", "1"),
        ("confirm", "yes"),
        ("merge", "yes"),
        ("kind", "call"),
        ("due", "2026-06-15T09:30"),
        ("for", "week"),
        ("time_zone", "Europe/Paris"),
        ("organization_time_zone", "Asia/Tokyo"),
    ];
    let mut walked = 0;
    for pattern in posts.iter().filter(|p| !PUBLIC_POSTS.contains(p)) {
        let path = path_of(pattern, &ids);
        let tokens: [(&str, Option<&str>); 4] = [
            ("no token", None),
            ("an empty token", Some("")),
            ("a wrong token", Some("not-the-token")),
            ("a token one character off", Some(off_by_one.as_str())),
        ];
        for (what, token) in tokens {
            let mut sent: Vec<(&str, &str)> = fields.to_vec();
            if let Some(token) = token {
                sent.push(("_csrf", token));
            }
            let res = app.post_as(&app.client, &path, &sent).await;
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            assert_eq!(status, 403, "POST {path} with {what}: {body}");
            assert!(
                body.contains("out of date"),
                "POST {path} with {what}: {body}"
            );
        }
        // A multipart form without the token (and, for the import, with
        // its file).
        let mut multipart = reqwest::multipart::Form::new();
        for (name, value) in fields {
            multipart = multipart.text(name.to_string(), value.to_string());
        }
        let multipart = multipart.part(
            "file",
            reqwest::multipart::Part::bytes(b"email,name\nforged@walk.test,Forged\n".to_vec())
                .file_name("forged.csv"),
        );
        let res = app
            .client
            .post(app.url(&path))
            .multipart(multipart)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            403,
            "POST {path} as multipart without a token"
        );
        // And a JSON body, which carries no form field at all.
        let res = app
            .client
            .post(app.url(&path))
            .json(&serde_json::json!({ "_csrf": csrf }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "POST {path} as JSON");
        walked += 1;
    }
    assert_eq!(walked, posts.len() - PUBLIC_POSTS.len());
    assert!(walked >= 25);

    // Nothing changed, and the session was not ended by the sign-outs.
    assert_eq!(fingerprint(&app).await, before);
    assert_eq!(app.get("/account").await.status(), 200);

    // The multipart upload with the token is still read by its handler.
    let with_token = reqwest::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"email,name\nreal@walk.test,Real\n".to_vec())
                .file_name("real.csv"),
        );
    let res = app
        .client
        .post(app.url("/prospects/import"))
        .multipart(with_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// Accepting an invitation is public, but a signed-in person joining acts
/// with their session: without its token, nothing is joined.
#[tokio::test]
async fn joining_with_a_session_needs_its_csrf_token() {
    let app = spawn_app_with(|_| {}).await;
    app.sign_in().await;
    let now = rally::platform::db::now_ms();
    let hash = rally::platform::security::sha256_hex("join-token");
    rally::on_pool!(&app.pool, p => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('other-team', 'Other team', 'direct_sales', {now})"
        )))
        .execute(p)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
             SELECT o.id, 'owner@demo.rally.test', 'member', '{hash}', u.id, {now}, {now} + 86400000
             FROM organizations o, users u WHERE o.slug = 'other-team' AND u.email = 'owner@demo.rally.test'"
        )))
        .execute(p)
        .await
        .unwrap();
    });
    let memberships = "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'owner@demo.rally.test'";
    assert_eq!(app.count(memberships).await, 1);
    for fields in [
        vec![("token", "join-token")],
        vec![("token", "join-token"), ("_csrf", "not-the-token")],
    ] {
        let res = app
            .post_as(&app.client, "/invitations/accept", &fields)
            .await;
        assert_eq!(res.status(), 403, "{fields:?}");
    }
    assert_eq!(app.count(memberships).await, 1);
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            "/invitations/accept",
            &[("token", "join-token"), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count(memberships).await, 2);
}
