//! The account's settings on `/account`: changing the password (the
//! current one required, other sessions signed out), changing the email
//! address (a signed link mailed to the new address; the address changes
//! only when it is opened; the old address is told), and deleting the
//! account (the password typed again; refused while the person owns an
//! organization where others work; a solo organization goes with them).

use crate::helpers::{TestApp, client, hidden, spawn_app};

const PASSWORD: &str = "settings password 1";

/// Signs up `email` with a browser of its own (owner of a new `kind`
/// organization named `organization`); returns the browser and user id.
async fn sign_up(
    app: &TestApp,
    email: &str,
    organization: &str,
    kind: &str,
) -> (reqwest::Client, i64) {
    let who = client();
    let res = app
        .post_as(
            &who,
            "/signup",
            &[
                ("name", "Sam Settings"),
                ("email", email),
                ("password", PASSWORD),
                ("organization", organization),
                ("kind", kind),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{email} signs up");
    let id = app
        .count(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await;
    (who, id)
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, u16) {
    let who = client();
    let status = app
        .post_as(&who, "/signin", &[("email", email), ("password", password)])
        .await
        .status()
        .as_u16();
    (who, status)
}

/// POSTs `fields` to `path` as `who`, with their CSRF token; (status, body).
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
    let text = res.text().await.unwrap();
    (status, location.unwrap_or(text))
}

/// Whether `who` is signed in (the account page answers rather than
/// sending them to sign in).
async fn signed_in(app: &TestApp, who: &reqwest::Client) -> bool {
    who.get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
        == 200
}

async fn audited(app: &TestApp, action: &str, user: i64) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND subject_user_id = {user}"
    ))
    .await
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_other_sessions() {
    let app = spawn_app().await;
    let (me, id) = sign_up(&app, "pat@settings.test", "Pat Co", "business").await;
    let (elsewhere, status) = sign_in(&app, "pat@settings.test", PASSWORD).await;
    assert_eq!(status, 303);

    let refused = [
        (
            ["wrong password 99", "a new password 2", "a new password 2"],
            "That is not your current password.",
        ),
        ([PASSWORD, "short", "short"], "Use at least 10 characters."),
        (
            [PASSWORD, "a new password 2", "a new password 3"],
            "The two passwords are not the same.",
        ),
        (
            ["", "a new password 2", "a new password 2"],
            "Please enter your current password.",
        ),
        (
            [PASSWORD, PASSWORD, PASSWORD],
            "That is your current password: choose another one.",
        ),
    ];
    for ([current, new, confirm], message) in refused {
        let (status, page) = post(
            &app,
            &me,
            "/account/password",
            &[
                ("current_password", current),
                ("new_password", new),
                ("confirm_password", confirm),
            ],
        )
        .await;
        assert_eq!(status, 422, "{message}");
        assert!(page.contains(message), "{message} in {page}");
        // The form is back, on the account page.
        assert!(page.contains("action=\"/account/password\""));
    }
    assert!(signed_in(&app, &elsewhere).await, "nothing changed yet");
    assert_eq!(audited(&app, "password_changed", id).await, 0);

    let (status, location) = post(
        &app,
        &me,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "a new password 2"),
            ("confirm_password", "a new password 2"),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/account?done=password"));
    // This browser goes on with a new session; every other one is out.
    let page = app.page_as(&me, "/account?done=password").await;
    assert!(page.contains("Your password is changed."), "{page}");
    assert!(!signed_in(&app, &elsewhere).await);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {id}"
        ))
        .await,
        1
    );
    assert_eq!(sign_in(&app, "pat@settings.test", PASSWORD).await.1, 422);
    assert_eq!(
        sign_in(&app, "pat@settings.test", "a new password 2")
            .await
            .1,
        303
    );
    assert_eq!(audited(&app, "password_changed", id).await, 1);
}

#[tokio::test]
async fn a_new_email_address_is_used_once_its_link_is_opened() {
    let app = spawn_app().await;
    let (me, id) = sign_up(&app, "lee@settings.test", "Lee Co", "direct_sales").await;
    sign_up(&app, "taken@settings.test", "Taken Co", "direct_sales").await;

    let refused = [
        (
            "Taken@Settings.test",
            PASSWORD,
            "Another account already uses this address.",
        ),
        (
            "not an address",
            PASSWORD,
            "doesn't look like an email address",
        ),
        (
            "lee@settings.test",
            PASSWORD,
            "That is already your address.",
        ),
        (
            "new@settings.test",
            "wrong password 9",
            "That is not your current password.",
        ),
        (
            "new@settings.test",
            "",
            "Please enter your current password.",
        ),
    ];
    for (address, password, message) in refused {
        let (status, page) = post(
            &app,
            &me,
            "/account/email",
            &[("new_email", address), ("password", password)],
        )
        .await;
        assert_eq!(status, 422, "{message}");
        assert!(page.contains(message), "{message} in {page}");
        // What was typed comes back.
        assert!(page.contains(&format!("value=\"{address}\"")), "{page}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM emails WHERE subject LIKE 'Confirm your new email%'")
            .await,
        0
    );

    // Normalised as at sign-up.
    let (status, location) = post(
        &app,
        &me,
        "/account/email",
        &[
            ("new_email", "  Lee.New@Settings.TEST "),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/account?sent_to="), "{location}");
    let page = app.page_as(&me, &location).await;
    assert!(
        page.contains("We sent a link to lee.new@settings.test"),
        "{page}"
    );
    // Nothing changes before the link is opened.
    let email_of = || {
        let sql =
            format!("SELECT COUNT(*) FROM users WHERE id = {id} AND email = 'lee@settings.test'");
        let app = &app;
        async move { app.count(&sql).await }
    };
    assert_eq!(email_of().await, 1);
    let mail = app.mail("To lee.new@settings.test").await;
    assert!(mail.subject.contains("Confirm your new email address"));
    // The development mailbox shows the person the link they asked for.
    let mailbox = app.page_as(&me, "/dev/mailbox").await;
    assert!(
        mailbox.contains("Confirm your new email address"),
        "{mailbox}"
    );

    let link = app.mail_link("To lee.new@settings.test").await;
    assert!(link.contains("/account/email/confirm?token="), "{link}");
    let token = link.split("token=").nth(1).unwrap().to_string();
    // Opening the link shows the change; a button makes it.
    let opened = client().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let page = opened.text().await.unwrap();
    assert!(page.contains("lee.new@settings.test") && page.contains("Use the new address"));
    assert_eq!(email_of().await, 1);
    // A forged address in the token is refused.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[2] = base64_url("spy@settings.test");
    let forged = parts.join(".");
    let res = app
        .post_as(&client(), "/account/email/confirm", &[("token", &forged)])
        .await;
    assert_eq!(res.status(), 400);

    let res = app
        .post_as(&client(), "/account/email/confirm", &[("token", &token)])
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Email address changed"));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {id} AND email = 'lee.new@settings.test' AND email_verified_at IS NOT NULL"
        ))
        .await,
        1
    );
    // The old address is told.
    let notice = app.mail("To lee@settings.test").await;
    assert!(
        notice
            .subject
            .contains("Your Rally email address was changed")
            && notice.html.contains("lee.new@settings.test"),
        "{}",
        notice.subject
    );
    assert_eq!(audited(&app, "email_changed", id).await, 1);
    // One link, one change.
    for _ in 0..2 {
        let res = app
            .post_as(&client(), "/account/email/confirm", &[("token", &token)])
            .await;
        assert_eq!(res.status(), 400);
        assert_eq!(client().get(&link).send().await.unwrap().status(), 400);
    }
    assert_eq!(sign_in(&app, "lee@settings.test", PASSWORD).await.1, 422);
    assert_eq!(
        sign_in(&app, "lee.new@settings.test", PASSWORD).await.1,
        303
    );
    // The old address is free again.
    sign_up(&app, "lee@settings.test", "Lee Again", "business").await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn an_address_taken_before_the_link_is_opened_is_refused_clearly() {
    let app = spawn_app().await;
    let (me, id) = sign_up(&app, "kim@settings.test", "Kim Co", "business").await;
    let (status, _) = post(
        &app,
        &me,
        "/account/email",
        &[
            ("new_email", "kim.new@settings.test"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let link = app.mail_link("To kim.new@settings.test").await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    // Someone signs up with the address meanwhile.
    sign_up(&app, "kim.new@settings.test", "Other Co", "business").await;
    let res = app
        .post_as(&client(), "/account/email/confirm", &[("token", &token)])
        .await;
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Another account started using this address")
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {id} AND email = 'kim@settings.test'"
        ))
        .await,
        1
    );

    // A password change withdraws a link still out.
    let (status, _) = post(
        &app,
        &me,
        "/account/email",
        &[
            ("new_email", "kim.third@settings.test"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let link = app.mail_link("To kim.third@settings.test").await;
    let (status, _) = post(
        &app,
        &me,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "kim's new password"),
            ("confirm_password", "kim's new password"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(client().get(&link).send().await.unwrap().status(), 400);
}

/// Every (table, column) whose foreign key names `organizations`.
async fn organization_references(app: &TestApp) -> Vec<(String, String)> {
    match &app.pool {
        rally::platform::db::Pool::Sqlite(p) => sqlx::query_as(
            "SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
             WHERE m.type = 'table' AND f.\"table\" = 'organizations'",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        rally::platform::db::Pool::Postgres(p) => sqlx::query_as(
            "SELECT CAST(kcu.table_name AS TEXT), CAST(kcu.column_name AS TEXT)
             FROM information_schema.referential_constraints rc
             JOIN information_schema.key_column_usage kcu
               ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
             JOIN information_schema.key_column_usage pk
               ON pk.constraint_name = rc.unique_constraint_name AND pk.constraint_schema = rc.unique_constraint_schema
             WHERE pk.table_name = 'organizations'",
        )
        .fetch_all(p)
        .await
        .unwrap(),
    }
}

#[tokio::test]
async fn deleting_a_solo_account_leaves_no_row_of_its_organization() {
    let app = spawn_app().await;
    let (owner, owner_id) = sign_up(&app, "olga@settings.test", "Olga Co", "business").await;
    let (member, member_id) = sign_up(&app, "milo@settings.test", "Milo Co", "business").await;
    let olga_org = app
        .count("SELECT id FROM organizations WHERE name = 'Olga Co'")
        .await;
    let milo_org = app
        .count("SELECT id FROM organizations WHERE name = 'Milo Co'")
        .await;
    let now = rally::platform::db::now_ms();
    // Milo also works in Olga's organization, owning a prospect there.
    rally::on_pool!(&app.pool, p => {
        for sql in [
            format!("INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ({member_id}, {olga_org}, 'member', {now})"),
            format!("INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, owner_user_id)
                     VALUES ({olga_org}, 'kept@settings.test', 'Kept', 'manual', {now}, {now}, {member_id})"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
        }
    });

    // Olga owns an organization where Milo works: she hands it over first.
    let page = app.page_as(&owner, "/account").await;
    assert!(page.contains("Hand it to one of them first"), "{page}");
    assert!(
        !page.contains("action=\"/account/delete\""),
        "no delete button yet"
    );
    let (status, page) = post(&app, &owner, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(status, 422);
    assert!(page.contains("cannot be deleted yet"), "{page}");
    assert!(signed_in(&app, &owner).await);

    // Milo's page says what happens to each organization.
    let page = app.page_as(&member, "/account").await;
    assert!(page.contains("it is deleted with your account"), "{page}");
    assert!(page.contains("you leave it"), "{page}");
    let (status, page) = post(
        &app,
        &member,
        "/account/delete",
        &[("password", "wrong password 9")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("That is not your current password."));
    let (status, page) = post(&app, &member, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Account deleted"));
    assert!(!signed_in(&app, &member).await);
    assert_eq!(sign_in(&app, "milo@settings.test", PASSWORD).await.1, 422);
    // Personal data is gone; Olga's organization keeps its prospect, unassigned.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {member_id} AND name = 'Deleted person' AND email LIKE 'deleted-%@deleted.invalid'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'kept@settings.test' AND owner_user_id IS NULL")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE organization_id = {olga_org} AND action = 'account_deleted'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM organizations WHERE id = {milo_org}"
        ))
        .await,
        0
    );
    // The address is free for a new account.
    sign_up(&app, "milo@settings.test", "Milo Again", "business").await;

    // Olga is now alone: her organization, full of work, goes with her.
    let form_slug: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar(
        "SELECT slug FROM forms WHERE organization_id = $1",
    )
    .bind(olga_org)
    .fetch_one(p)
    .await
    .unwrap());
    let visitor = client();
    let form = app.page_as(&visitor, &format!("/f/{form_slug}")).await;
    let res = app
        .post_as(
            &visitor,
            &format!("/f/{form_slug}"),
            &[
                ("_key", hidden(&form, "_key").as_str()),
                ("_ts", hidden(&form, "_ts").as_str()),
                ("name", "Lead Person"),
                ("email", "lead@settings.test"),
                ("consent", "yes"),
                ("website", ""),
            ],
        )
        .await;
    assert!(
        res.status().is_success() || res.status() == 303,
        "{}",
        res.status()
    );
    app.drain().await;
    rally::on_pool!(&app.pool, p => {
        for sql in [
            format!("INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
                     SELECT {olga_org}, id, 'Olga event', {now}, {now} FROM forms WHERE slug = '{form_slug}'"),
            format!("INSERT INTO prospect_tags (prospect_id, tag) SELECT id, 'vip' FROM prospects WHERE organization_id = {olga_org}"),
            format!("INSERT INTO tasks (organization_id, prospect_id, user_id, kind, due_at, created_at)
                     SELECT {olga_org}, id, {owner_id}, 'call', {now}, {now} FROM prospects WHERE email = 'lead@settings.test'"),
            format!("INSERT INTO saved_views (organization_id, user_id, name, query, shared, created_at)
                     VALUES ({olga_org}, {owner_id}, 'Mine', 'stage=new', TRUE, {now})"),
            format!("INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
                     VALUES ({olga_org}, {owner_id}, 'a.csv', 'email\n', {now})"),
            format!("INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
                     VALUES ({olga_org}, 'x@settings.test', 'member', 'olga-token', {owner_id}, {now}, {now} + 1000000)"),
            format!("INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
                     SELECT {olga_org}, id, 'olga-held', 'too_fast', '{{}}', {now} FROM forms WHERE slug = '{form_slug}'"),
            format!("INSERT INTO kept_submissions (organization_id, submission_key, payload, error, kept_at)
                     VALUES ({olga_org}, 'olga-kept', '{{}}', 'x', {now})"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.unwrap();
        }
    });
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries t JOIN prospects q ON q.id = t.prospect_id WHERE q.organization_id = {olga_org}"
        ))
        .await
            > 0
    );
    let page = app.page_as(&owner, "/account").await;
    assert!(
        page.contains("it is deleted with your account: its 2 prospects"),
        "{page}"
    );
    let (status, page) = post(&app, &owner, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(status, 200, "{page}");
    let references = organization_references(&app).await;
    assert!(references.len() >= 10, "{references:?}");
    for (table, column) in references {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {olga_org}"
            ))
            .await,
            0,
            "{table}.{column} kept a row of the deleted organization"
        );
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {owner_id} AND name = 'Deleted person'"
        ))
        .await,
        1
    );
    // Nothing of anyone else's went: the demo organization is whole.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE slug = 'demo'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_hq_with_locations_is_handed_over_before_its_owner_leaves() {
    let app = spawn_app().await;
    let (hq, _) = sign_up(&app, "hana@settings.test", "Settings HQ", "franchise").await;
    let (status, _) = post(&app, &hq, "/locations", &[("name", "North")]).await;
    assert_eq!(status, 303);
    let page = app.page_as(&hq, "/account").await;
    assert!(
        page.contains("it is a franchise HQ with locations"),
        "{page}"
    );
    let (status, page) = post(&app, &hq, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(status, 422, "{page}");
    assert!(signed_in(&app, &hq).await);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name IN ('Settings HQ', 'North')")
            .await,
        2
    );
}
