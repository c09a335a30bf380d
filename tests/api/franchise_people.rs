//! A franchise HQ and its locations' people: "Locations" in HQ's
//! navigation only; HQ's people page lists each location's people and
//! pending invitations, and HQ's owner and admins change their roles,
//! remove them and withdraw invitations (the role rules hold: only people
//! ranked below the actor); the prospect list and the CSV say each
//! prospect's location; a location's page lists its recent submissions.

use crate::helpers::{TestApp, client, spawn_app};

const PASSWORD: &str = "franchise people 1";

async fn exec(app: &TestApp, sql: String) {
    rally::on_pool!(&app.pool, p => {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
    });
}

async fn sign_up(app: &TestApp, email: &str, organization: &str, kind: &str) -> reqwest::Client {
    let who = client();
    let res = app
        .post_as(
            &who,
            "/signup",
            &[
                ("name", "Hana HQ"),
                ("email", email),
                ("password", PASSWORD),
                ("organization", organization),
                ("kind", kind),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    who
}

/// A person with `role` in organization `org`, signed in; their user id.
async fn person(
    app: &TestApp,
    hash: &str,
    email: &str,
    role: &str,
    org: i64,
) -> (reqwest::Client, i64) {
    let now = rally::platform::db::now_ms();
    exec(
        app,
        format!("INSERT INTO users (email, name, password_hash, created_at) VALUES ('{email}', 'Person {role}', '{hash}', {now})"),
    )
    .await;
    let id = app
        .count(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await;
    exec(
        app,
        format!("INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ({id}, {org}, '{role}', {now})"),
    )
    .await;
    let who = client();
    let res = app
        .post_as(&who, "/signin", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 303);
    (who, id)
}

async fn post(
    app: &TestApp,
    who: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let csrf = app.csrf_as(who, "/account").await;
    let mut body = vec![("_csrf", csrf.as_str())];
    body.extend_from_slice(fields);
    let res = app.post_as(who, path, &body).await;
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, location.unwrap_or(res.text().await.unwrap()))
}

#[tokio::test]
async fn hq_manages_its_locations_people_and_sees_where_prospects_are() {
    let app = spawn_app().await;
    let hash = rally::platform::security::hash_password(PASSWORD.into())
        .await
        .unwrap();
    let hq = sign_up(&app, "hana@people.test", "People HQ", "franchise").await;
    let other_hq = sign_up(&app, "otto@people.test", "Other HQ", "franchise").await;
    let team = sign_up(&app, "dora@people.test", "Direct Team", "direct_sales").await;
    for (who, name) in [(&hq, "Downtown"), (&hq, "Uptown"), (&other_hq, "Elsewhere")] {
        let (status, _) = post(&app, who, "/locations", &[("name", name)]).await;
        assert_eq!(status, 303);
    }
    let id_of = |name: &str| {
        let sql = format!("SELECT id FROM organizations WHERE name = '{name}'");
        let app = &app;
        async move { app.count(&sql).await }
    };
    let (hq_id, downtown, elsewhere) = (
        id_of("People HQ").await,
        id_of("Downtown").await,
        id_of("Elsewhere").await,
    );

    // "Locations" in the navigation: HQ only.
    assert!(
        app.page_as(&hq, "/prospects")
            .await
            .contains("href=\"/locations\"")
    );
    assert!(
        !app.page_as(&team, "/prospects")
            .await
            .contains("href=\"/locations\"")
    );

    // Downtown's people: a manager and a member, and an invitation waiting.
    let (_, max) = person(&app, &hash, "max@people.test", "manager", downtown).await;
    let (_, mia) = person(&app, &hash, "mia@people.test", "member", downtown).await;
    let (location_admin, _) = person(&app, &hash, "ada@people.test", "admin", downtown).await;
    let (hq_admin, _) = person(&app, &hash, "hal@people.test", "admin", hq_id).await;
    let (hq_manager, _) = person(&app, &hash, "han@people.test", "manager", hq_id).await;
    let (status, _) = post(
        &app,
        &hq,
        "/people/invite",
        &[
            ("email", "wait@people.test"),
            ("role", "member"),
            ("location", &downtown.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let invitation = app
        .count("SELECT id FROM invitations WHERE email = 'wait@people.test'")
        .await;

    let page = app.page_as(&hq_admin, "/people").await;
    assert!(
        page.contains(&format!("id=\"location-{downtown}\"")),
        "{page}"
    );
    for shown in [
        "max@people.test",
        "mia@people.test",
        "wait@people.test",
        "Uptown",
    ] {
        assert!(page.contains(shown), "{shown} on HQ's people page");
    }
    assert!(!page.contains("Elsewhere"), "another HQ's location");
    assert!(page.contains(&format!("action=\"/people/{max}/role\"")));
    // HQ's managers see the locations' people but do not manage them.
    let page = app.page_as(&hq_manager, "/people").await;
    assert!(page.contains("max@people.test"));
    assert!(!page.contains(&format!("action=\"/people/{max}/role\"")));

    let downtown_field = downtown.to_string();
    let at_downtown = |extra: &[(&'static str, &'static str)]| {
        let mut fields: Vec<(&str, &str)> = vec![("location", downtown_field.as_str())];
        fields.extend_from_slice(extra);
        fields
    };
    let role_of = |user: i64| {
        let sql = format!(
            "SELECT CAST(CASE role WHEN 'member' THEN 1 WHEN 'manager' THEN 2 WHEN 'admin' THEN 3 ELSE 4 END AS BIGINT)
             FROM memberships WHERE user_id = {user} AND organization_id = {downtown}"
        );
        let app = &app;
        async move { app.count(&sql).await }
    };

    // Refused: without the location (not HQ's own member), another HQ's
    // location, an HQ manager, a location admin's rank, a location's own admin.
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/{max}/role"),
        &[("role", "member")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/{max}/role"),
        &[("role", "member"), ("location", &elsewhere.to_string())],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &other_hq,
        &format!("/people/{max}/role"),
        &[("role", "member"), ("location", &downtown_field)],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &hq_manager,
        &format!("/people/{mia}/remove"),
        &at_downtown(&[]),
    )
    .await;
    assert_eq!(status, 404);
    let ada = app
        .count("SELECT id FROM users WHERE email = 'ada@people.test'")
        .await;
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/{ada}/remove"),
        &at_downtown(&[]),
    )
    .await;
    assert_eq!(
        status, 403,
        "an HQ admin does not outrank a location's admin"
    );
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/{max}/role"),
        &at_downtown(&[("role", "admin")]),
    )
    .await;
    assert_eq!(status, 400, "no one grants their own rank");
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/{max}/role"),
        &[("role", "member"), ("location", "not a number")],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(role_of(max).await, 2);
    // A location's admin keeps managing their own people as before.
    assert!(
        app.page_as(&location_admin, "/people")
            .await
            .contains("mia@people.test")
    );

    // Allowed: change a role, withdraw an invitation, remove someone.
    let (status, location) = post(
        &app,
        &hq_admin,
        &format!("/people/{max}/role"),
        &at_downtown(&[("role", "member")]),
    )
    .await;
    assert_eq!(
        (status, location),
        (303, format!("/people?done=role#location-{downtown}"))
    );
    assert_eq!(role_of(max).await, 1);
    let (status, _) = post(
        &app,
        &hq_admin,
        &format!("/people/invitations/{invitation}/revoke"),
        &at_downtown(&[]),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM invitations WHERE id = {invitation} AND revoked_at IS NOT NULL"
        ))
        .await,
        1
    );
    let (status, _) = post(
        &app,
        &hq,
        &format!("/people/{ada}/remove"),
        &at_downtown(&[]),
    )
    .await;
    assert_eq!(status, 303, "HQ's owner outranks a location's admin");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships WHERE organization_id = {downtown}"
        ))
        .await,
        2
    );
    // Each change is in the location's audit log.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE organization_id = {downtown}
             AND action IN ('role_changed', 'invitation_revoked', 'member_removed')"
        ))
        .await,
        3
    );

    // Prospects: the list and the CSV say where each one is.
    let now = rally::platform::db::now_ms();
    exec(&app, format!("INSERT INTO forms (organization_id, slug, title, created_at) VALUES ({downtown}, 'downtown-form', 'Downtown sign-up', {now})")).await;
    exec(&app, format!("INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
                        VALUES ({downtown}, 'dee@people.test', 'Dee Downtown', 'form', {now}, {now}),
                               ({hq_id}, 'hugo@people.test', 'Hugo HQ', 'manual', {now}, {now})")).await;
    exec(&app, format!("INSERT INTO timeline_entries (prospect_id, kind, form_id, data, created_at)
                        SELECT p.id, 'form_submission', f.id, '{{}}', {now} FROM prospects p, forms f
                        WHERE p.email = 'dee@people.test' AND f.slug = 'downtown-form'")).await;
    let list = app.page_as(&hq, "/prospects").await;
    let dee = &list[list.find("Dee Downtown").unwrap()..];
    let dee = &dee[..dee.find("</li>").unwrap()];
    assert!(dee.contains("class=\"location\">Downtown<"), "{dee}");
    let csv = app.page_as(&hq, "/prospects/export.csv").await;
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = header
        .iter()
        .position(|h| h == "location")
        .expect("a location column");
    let location_of = |email: &str| {
        csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes())
            .records()
            .map(|r| r.unwrap())
            .find(|r| r.iter().any(|c| c == email))
            .map(|r| r[at].to_string())
    };
    assert_eq!(
        location_of("dee@people.test").as_deref(),
        Some("Downtown"),
        "{csv}"
    );
    // HQ's own prospects: no other location to name.
    assert_eq!(
        location_of("hugo@people.test").as_deref(),
        Some(""),
        "{csv}"
    );
    // A direct-sales team's CSV has the same columns, the location empty.
    let team_csv = app.page_as(&team, "/prospects/export.csv").await;
    assert_eq!(team_csv.lines().next(), csv.lines().next(), "{team_csv}");

    // A location's page lists its recent submissions.
    let page = app.page_as(&hq, &format!("/locations/{downtown}")).await;
    assert!(page.contains("Recent submissions"), "{page}");
    assert!(
        page.contains("Dee Downtown") && page.contains("Downtown sign-up"),
        "{page}"
    );
    assert!(!page.contains("Hugo HQ"));
    // Another HQ finds nothing there.
    assert_eq!(
        other_hq
            .get(app.url(&format!("/locations/{downtown}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
