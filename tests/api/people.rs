//! People: invitations by email and their acceptance, roles by rank,
//! removal, ownership transfer and the owner's audit log.

use crate::helpers::{TestApp, client, hidden, spawn_app};

const PASSWORD: &str = "joining password 1";

/// `who` (a signed-in client) invites `email` as `role`.
async fn invite(
    app: &TestApp,
    who: &reqwest::Client,
    email: &str,
    role: &str,
) -> reqwest::Response {
    let csrf = app.csrf_as(who, "/people").await;
    app.post_as(
        who,
        "/people/invite",
        &[("_csrf", csrf.as_str()), ("email", email), ("role", role)],
    )
    .await
}

/// The owner invites `email` as `role`; a new browser accepts with a new
/// account. Returns that browser, signed in, and the new user's id.
pub(crate) async fn join(app: &TestApp, email: &str, role: &str) -> (reqwest::Client, i64) {
    assert_eq!(invite(app, &app.client, email, role).await.status(), 303);
    let link = app.mail_link(&format!("To {email}")).await;
    let browser = client();
    let page = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Create my account and join"), "{page}");
    let token = link.split("token=").nth(1).unwrap();
    let res = app
        .post_as(
            &browser,
            "/invitations/accept",
            &[
                ("token", token),
                ("name", "New Person"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let id = app
        .count(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await;
    (browser, id)
}

#[tokio::test]
async fn an_invited_person_creates_an_account_and_joins_with_the_role() {
    let app = spawn_app().await;
    app.sign_in().await;
    let res = invite(&app, &app.client, "rep@example.com", "member").await;
    assert_eq!(res.headers()["location"], "/people?done=invited");
    let people = app.page("/people").await;
    assert!(people.contains("rep@example.com · member"), "{people}");
    let link = app.mail_link("To rep@example.com").await;
    // The invitation is for its recipient's eyes: not in the owner's
    // mailbox (the recipient sees it there once they have an account).
    assert_eq!(
        app.mail("To rep@example.com").await.subject,
        "Demo Owner invited you to Demo Co on Rally"
    );
    assert!(
        !app.page("/dev/mailbox")
            .await
            .contains("Demo Owner invited you to Demo Co on Rally")
    );

    let browser = client();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let res = app
        .post_as(
            &browser,
            "/invitations/accept",
            &[
                ("token", token.as_str()),
                ("name", "Rep"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .post_as(
            &browser,
            "/invitations/accept",
            &[
                ("token", token.as_str()),
                ("name", "Rep"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        browser
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mailbox = browser
        .get(app.url("/dev/mailbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        mailbox.contains("Demo Owner invited you to Demo Co on Rally"),
        "{mailbox}"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE u.email = 'rep@example.com' AND m.role = 'member' AND u.email_verified_at IS NOT NULL"
        )
        .await,
        1
    );
    // Used once; a forged token is refused the same way.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 400);
    assert_eq!(
        app.get("/invitations/accept?token=nope").await.status(),
        400
    );
    // Members invite no one and read no audit log.
    assert_eq!(
        invite(&app, &browser, "x@example.com", "member")
            .await
            .status(),
        403
    );
    assert_eq!(
        browser
            .get(app.url("/people/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let audit = app.page("/people/audit").await;
    assert!(
        audit.contains("member invited") && audit.contains("member joined"),
        "{audit}"
    );
}

#[tokio::test]
async fn roles_rank_who_may_change_whom() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (admin, admin_id) = join(&app, "admin@example.com", "admin").await;
    // An admin may not make another admin, nor touch the owner.
    let res = invite(&app, &admin, "peer@example.com", "admin").await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("only into roles below your own")
    );
    let owner_id = app
        .count("SELECT id FROM users WHERE email = 'owner@demo.rally.test'")
        .await;
    let csrf = app.csrf_as(&admin, "/people").await;
    let res = app
        .post_as(
            &admin,
            &format!("/people/{owner_id}/remove"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 403);

    // The admin brings in a manager, demotes them, then removes them.
    assert_eq!(
        invite(&app, &admin, "manager@example.com", "manager")
            .await
            .status(),
        303
    );
    let (manager, manager_id) = {
        let link = app.mail_link("To manager@example.com").await;
        let browser = client();
        let token = link.split("token=").nth(1).unwrap().to_string();
        app.post_as(
            &browser,
            "/invitations/accept",
            &[
                ("token", token.as_str()),
                ("name", "Manny"),
                ("password", PASSWORD),
            ],
        )
        .await;
        let id = app
            .count("SELECT id FROM users WHERE email = 'manager@example.com'")
            .await;
        (browser, id)
    };
    let res = app
        .post_as(
            &admin,
            &format!("/people/{manager_id}/role"),
            &[("_csrf", csrf.as_str()), ("role", "member")],
        )
        .await;
    assert_eq!(res.headers()["location"], "/people?done=role");
    let res = app
        .post_as(
            &admin,
            &format!("/people/{manager_id}/role"),
            &[("_csrf", csrf.as_str()), ("role", "owner")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .post_as(
            &admin,
            &format!("/people/{manager_id}/remove"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.headers()["location"], "/people?done=removed");
    assert_eq!(
        manager
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "a removed person is out"
    );
    // Without the CSRF token nothing happens.
    let res = app
        .post_as(
            &admin,
            &format!("/people/{admin_id}/remove"),
            &[("_csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let audit = app.page("/people/audit").await;
    for action in ["role changed", "member removed"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

#[tokio::test]
async fn the_owner_transfers_ownership_and_becomes_an_admin() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (heir, heir_id) = join(&app, "heir@example.com", "admin").await;
    let csrf = app.csrf_as(&app.client, "/people").await;
    // Not without the confirmation.
    let res = app
        .post_as(
            &app.client,
            "/people/transfer",
            &[("_csrf", csrf.as_str()), ("user_id", &heir_id.to_string())],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("confirms the transfer"));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships WHERE role = 'owner' AND user_id = {heir_id}"
        ))
        .await,
        0
    );
    let res = app
        .post_as(
            &app.client,
            "/people/transfer",
            &[
                ("_csrf", csrf.as_str()),
                ("user_id", &heir_id.to_string()),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/people?done=transferred");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships WHERE role = 'owner'")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships WHERE role = 'owner' AND user_id = {heir_id}"
        ))
        .await,
        1
    );
    assert_eq!(
        app.get("/people/audit").await.status(),
        403,
        "no longer the owner"
    );
    let audit = heir
        .get(app.url("/people/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("ownership transferred"), "{audit}");
}

#[tokio::test]
async fn people_of_another_organization_are_not_found() {
    let app = spawn_app().await;
    app.sign_in().await;
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        sqlx::query("INSERT INTO organizations (slug, name, created_at) VALUES ('other', 'Other', $1)")
            .bind(now).execute(p).await.unwrap();
        sqlx::query("INSERT INTO users (email, name, password_hash, created_at) VALUES ('stranger@other.test', 'Stranger', 'x', $1)")
            .bind(now).execute(p).await.unwrap();
        sqlx::query(
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'member', $1 FROM users u, organizations o
             WHERE u.email = 'stranger@other.test' AND o.slug = 'other'",
        )
        .bind(now).execute(p).await.unwrap();
    });
    let stranger = app
        .count("SELECT id FROM users WHERE email = 'stranger@other.test'")
        .await;
    let csrf = app.csrf_as(&app.client, "/people").await;
    for action in ["remove", "role"] {
        let res = app
            .post_as(
                &app.client,
                &format!("/people/{stranger}/{action}"),
                &[("_csrf", csrf.as_str()), ("role", "member")],
            )
            .await;
        assert_eq!(res.status(), 404, "{action}");
    }
    assert!(!app.page("/people").await.contains("stranger@other.test"));
}

#[tokio::test]
async fn someone_signed_in_joins_a_second_organization_with_their_session_token() {
    let app = spawn_app().await;
    app.sign_in().await;
    let sam = client();
    let res = app
        .post_as(
            &sam,
            "/signup",
            &[
                ("name", "Sam Second"),
                ("email", "sam@example.com"),
                ("password", "sams password 12"),
                ("organization", "Sam Sales"),
                ("kind", "direct_sales"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        invite(&app, &app.client, "sam@example.com", "member")
            .await
            .status(),
        303
    );
    let link = app.mail_link("To sam@example.com").await;
    let page = sam.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">Join<"), "{page}");
    let token = link.split("token=").nth(1).unwrap();
    // Without the session's token (a forged cross-site post) nothing happens.
    let res = app
        .post_as(&sam, "/invitations/accept", &[("token", token)])
        .await;
    assert_eq!(res.status(), 403);
    let csrf = hidden(&page, "_csrf");
    let res = app
        .post_as(
            &sam,
            "/invitations/accept",
            &[("token", token), ("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
             JOIN organizations o ON o.id = m.organization_id
             WHERE u.email = 'sam@example.com' AND o.slug IN ('demo', 'sam-sales')"
        )
        .await,
        2
    );
    // Joining moves the session to the new organization; the account page
    // switches between the two.
    let org_name = |page: &str| {
        let start =
            page.find("<span class=\"org\">").expect("top bar") + "<span class=\"org\">".len();
        page[start..start + page[start..].find('<').unwrap()].to_string()
    };
    let page = sam
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(org_name(&page), "Demo Co");
    let account = sam
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(account.contains("Work in Sam Sales"), "{account}");
    let csrf = hidden(&account, "_csrf");
    let sam_sales = app
        .count("SELECT id FROM organizations WHERE slug = 'sam-sales'")
        .await;
    let res = app
        .post_as(
            &sam,
            "/account/organization",
            &[
                ("_csrf", csrf.as_str()),
                ("organization_id", &sam_sales.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = sam
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(org_name(&page), "Sam Sales");
    // Not an organization of Sam's: not found, and nothing changes.
    let res = app
        .post_as(
            &sam,
            "/account/organization",
            &[("_csrf", csrf.as_str()), ("organization_id", "999999")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let page = sam
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(org_name(&page), "Sam Sales");
}
