//! Sign-in, sessions, CSRF, and the Prospects pages.

use crate::helpers::*;

async fn add_prospects(app: &TestApp, n: usize) {
    for i in 0..n {
        let tokens = app.form_tokens().await;
        let email = format!("person{i:02}@example.com");
        let name = format!("Person {i:02}");
        let company = if i % 2 == 0 { "Even Corp" } else { "Odd Ltd" };
        let res = app
            .post_form(
                &tokens,
                &[("name", &name), ("email", &email), ("company", company)],
                false,
            )
            .await;
        assert_eq!(res.status(), 303);
    }
    app.drain().await;
}

#[tokio::test]
async fn prospects_need_a_session() {
    let app = spawn_app().await;
    for path in ["/prospects", "/prospects/1", "/"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location == "/signin" || location == "/prospects",
            "{path} -> {location}"
        );
    }
}

#[tokio::test]
async fn wrong_password_is_refused_with_the_email_kept() {
    let app = spawn_app().await;
    let res = app
        .post_as(
            &app.client,
            "/signin",
            &[("email", app.demo.email.as_str()), ("password", "wrong")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("do not match"));
    assert!(body.contains(&format!("value=\"{}\"", app.demo.email)));
    assert_eq!(app.get("/prospects").await.status(), 303);
}

#[tokio::test]
async fn session_cookie_is_httponly_and_samesite() {
    let app = spawn_app().await;
    let res = app.sign_in_request(&[]).await;
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_lowercase();
    assert!(cookie.contains("httponly"), "{cookie}");
    assert!(cookie.contains("samesite=lax"), "{cookie}");
    assert!(!cookie.contains("secure"), "plain http here: {cookie}");
    let https = app.sign_in_request(&[("x-forwarded-proto", "https")]).await;
    let cookie = https.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(cookie.contains("secure"), "{cookie}");
}

#[tokio::test]
async fn prospects_list_search_pages_and_detail() {
    let app = spawn_app().await;
    add_prospects(&app, 30).await;
    app.sign_in().await;

    let page1 = app.page("/prospects").await;
    // Newest first, 25 to a page. (Submissions in the same millisecond may
    // swap places, so only clearly separated ones are compared.)
    let on = |page: &str, i: usize| page.contains(&format!("Person {i:02}<"));
    assert_eq!(page1.matches("<li>").count(), 25, "{page1}");
    assert!(
        (27..30).all(|i| on(&page1, i)) && (0..3).all(|i| !on(&page1, i)),
        "{page1}"
    );
    assert!(page1.find("Person 29").unwrap() < page1.find("Person 20").unwrap());
    assert!(page1.contains("rel=\"next\""));
    let page2 = app.page("/prospects?page=2").await;
    assert_eq!(page2.matches("<li>").count(), 5, "{page2}");
    assert!((0..3).all(|i| on(&page2, i)) && (27..30).all(|i| !on(&page2, i)));
    assert!(!page2.contains("rel=\"next\"") && page2.contains("rel=\"prev\""));
    let junk = app.get("/prospects?page=abc").await;
    assert_eq!(junk.status(), 200);

    // Plain search (no JavaScript): a whole page.
    let found = app.page("/prospects?q=odd").await;
    assert!(found.contains("<html") && found.contains("Person 01") && !found.contains("Person 02"));
    // Search-as-you-type: only the results fragment.
    let fragment = app
        .client
        .get(app.url("/prospects?q=person07"))
        .header("HX-Request", "true")
        .header("HX-Target", "prospect-results")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        fragment.starts_with("<div id=\"prospect-results\""),
        "{fragment}"
    );
    assert!(fragment.contains("Person 07") && !fragment.contains("Person 08"));
    let none = app.page("/prospects?q=%25").await;
    assert!(
        none.contains("No prospect matches"),
        "a % is searched literally"
    );

    let id: i64 = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT id FROM prospects WHERE email = 'person03@example.com'")
            .fetch_one(p)
            .await
            .unwrap());
    let detail = app.get(&format!("/prospects/{id}")).await;
    assert_eq!(detail.status(), 200);
    let detail = detail.text().await.unwrap();
    assert!(detail.contains("person03@example.com") && detail.contains("Timeline"));
    assert!(
        detail.contains("Submitted <strong>Meet Demo Co</strong>"),
        "{detail}"
    );
    assert_eq!(app.get("/prospects/99999").await.status(), 404);
    assert_eq!(app.get("/prospects/abc").await.status(), 404);
}

#[tokio::test]
async fn another_organizations_prospect_is_not_found() {
    let app = spawn_app().await;
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => sqlx::query(
        "INSERT INTO organizations (slug, name, created_at) VALUES ('other', 'Other Inc', $1)",
    )
    .bind(now)
    .execute(p)
    .await
    .unwrap().rows_affected());
    let id: i64 = rally::on_pool!(&app.pool, p => sqlx::query_scalar(
        "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
         VALUES ((SELECT id FROM organizations WHERE slug = 'other'), 'secret@other.com', 'Hidden', 'import', $1, $1)
         RETURNING id",
    )
    .bind(now)
    .fetch_one(p)
    .await
    .unwrap());
    app.sign_in().await;
    let res = app.get(&format!("/prospects/{id}")).await;
    assert_eq!(res.status(), 404);
    let list = app.page("/prospects?q=secret").await;
    assert!(!list.contains("secret@other.com"));
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_ends_the_session() {
    let app = spawn_app().await;
    app.sign_in().await;
    let page = app.page("/prospects").await;
    let csrf = hidden(&page, "_csrf");
    let forged = app
        .post_as(&app.client, "/signout", &[("_csrf", "forged")])
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get("/prospects").await.status(), 200);
    let missing = app.client.post(app.url("/signout")).send().await.unwrap();
    assert!(missing.status().is_client_error());

    let res = app
        .post_as(&app.client, "/signout", &[("_csrf", csrf.as_str())])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(app.get("/prospects").await.status(), 303);
}
