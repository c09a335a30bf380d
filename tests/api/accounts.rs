//! Accounts: sign-up with an organization, email verification through the
//! development mailbox, password reset, sign out everywhere, sign-in
//! throttling, and Mailgun against a wiremock stub that checks every request
//! it gets.

use std::time::Duration;

use crate::helpers::{client, hidden, spawn_app, spawn_app_with};

const NEW_PASSWORD: &str = "a new password 42";

fn sign_up_form<'a>(email: &'a str, password: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("name", "Nadia Owner"),
        ("email", email),
        ("password", password),
        ("organization", "Nadia's Franchise & Co"),
        ("kind", "franchise"),
    ]
}

#[tokio::test]
async fn sign_up_creates_an_owner_and_organization_then_verifies_the_email() {
    let app = spawn_app().await;
    assert_eq!(app.get("/signup").await.status(), 200);

    // Bad input: the form comes back with messages and what was typed
    // (never the password).
    let res = app
        .post_as(
            &app.client,
            "/signup",
            &[
                ("name", ""),
                ("email", "not-an-email"),
                ("password", "short"),
                ("organization", "Keep Me"),
                ("kind", "pyramid"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("value=\"not-an-email\"") && page.contains("value=\"Keep Me\""));
    assert!(page.contains("Use at least 10 characters."), "{page}");
    assert!(page.contains("Please choose what kind of organization it is."));
    assert!(!page.contains("value=\"short\""));

    let res = app
        .client
        .post(app.url("/signup"))
        .form(&sign_up_form("Nadia@Example.com", "correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account?welcome=1");
    let account = app.page("/account?welcome=1").await;
    assert!(account.contains("nadia@example.com") && account.contains("not confirmed yet"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE slug = 'nadia-s-franchise-co' AND kind = 'franchise'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE u.email = 'nadia@example.com' AND m.role = 'owner'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'organization_created'")
            .await,
        1
    );

    // The same email again: refused, kindly.
    let other = client();
    let res = other
        .post(app.url("/signup"))
        .form(&sign_up_form("nadia@example.com", "another password"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("An account already uses this email.")
    );

    let link = app.mail_link("Confirm your email address").await;
    assert!(link.contains("/verify?token="), "{link}");
    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Email confirmed"));
    assert!(app.page("/account").await.contains("confirmed"));
    // A used link is refused.
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 400);
    assert_eq!(app.get("/verify?token=forged").await.status(), 400);
}

#[tokio::test]
async fn password_reset_by_email_ends_other_sessions() {
    let app = spawn_app().await;
    app.sign_in().await;
    // Another device is signed in too.
    let elsewhere = client();
    let res = app
        .post_as(
            &elsewhere,
            "/signin",
            &[
                ("email", app.demo.email.as_str()),
                ("password", app.demo.password.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);

    // Known and unknown addresses get the same answer.
    let known = app
        .post_as(
            &client(),
            "/password/forgot",
            &[("email", app.demo.email.as_str())],
        )
        .await;
    let unknown = app
        .post_as(
            &client(),
            "/password/forgot",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        (known.status().as_u16(), unknown.status().as_u16()),
        (200, 200)
    );
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());

    let link = app.mail_link("Reset your Rally password").await;
    let stranger = client();
    assert_eq!(stranger.get(&link).send().await.unwrap().status(), 200);
    let token = link.split("token=").nth(1).unwrap().to_string();
    let res = app
        .post_as(
            &stranger,
            "/password/reset",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("confirm", "different"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .post_as(
            &stranger,
            "/password/reset",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        stranger
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "signed in with the new password"
    );
    // Every earlier session ended.
    assert_eq!(
        elsewhere
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(app.get("/prospects").await.status(), 303);
    // The old password no longer works; the new one does.
    assert_eq!(app.sign_in_request(&[]).await.status(), 422);
    let res = app
        .post_as(
            &client(),
            "/signin",
            &[
                ("email", app.demo.email.as_str()),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    // The link worked once.
    assert_eq!(stranger.get(&link).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session() {
    let app = spawn_app().await;
    app.sign_in().await;
    let other = client();
    app.post_as(
        &other,
        "/signin",
        &[
            ("email", app.demo.email.as_str()),
            ("password", app.demo.password.as_str()),
        ],
    )
    .await;
    assert_eq!(
        other
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let page = app.page("/account").await;
    let csrf = hidden(&page, "_csrf");
    let res = app
        .post_as(
            &app.client,
            "/signout/everywhere",
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/signin?signed_out=everywhere");
    assert_eq!(app.get("/prospects").await.status(), 303);
    assert_eq!(
        other
            .get(app.url("/prospects"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_with_a_clear_message() {
    let app = spawn_app_with(|s| {
        s.signin_per_account_per_min = 3;
        s.signin_per_ip_per_min = 100;
    })
    .await;
    let attempt = |email: &'static str| {
        let app = &app;
        async move {
            app.post_as(
                &client(),
                "/signin",
                &[("email", email), ("password", "wrong password")],
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("owner@demo.rally.test").await.status(), 422);
    }
    let res = attempt("owner@demo.rally.test").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(page.contains("Too many sign-in attempts"), "{page}");
    assert!(
        page.contains("value=\"owner@demo.rally.test\""),
        "the email is kept"
    );
    // The right password does not get past the throttle either.
    assert_eq!(app.sign_in_request(&[]).await.status(), 429);
    // Another account from the same address is unaffected.
    assert_eq!(attempt("someone@else.test").await.status(), 422);
}

/// The API key the Mailgun tests configure.
pub(crate) const MAILGUN_KEY: &str = "key-test-123";

/// Mailgun's messages API played by wiremock (on a port it binds itself):
/// `POST /v3/mg.rally.test/messages` answers with each status of `script`
/// in turn, then 200 with a message id. Any other request gets wiremock's
/// 404; [`mailgun_requests`] checks every request received.
pub(crate) async fn mailgun_stub(script: Vec<u16>) -> wiremock::MockServer {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{method, path},
    };
    let server = MockServer::start().await;
    let answer = |status: u16| {
        ResponseTemplate::new(status).set_body_raw(
            r#"{"id":"<stub-1@mg.rally.test>","message":"Queued. Thank you."}"#,
            "application/json",
        )
    };
    for status in script {
        Mock::given(method("POST"))
            .and(path("/v3/mg.rally.test/messages"))
            .respond_with(answer(status))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v3/mg.rally.test/messages"))
        .respond_with(answer(200))
        .mount(&server)
        .await;
    server
}

/// Every request the Mailgun stub received, each checked to be what
/// Mailgun's API takes: `POST /v3/{domain}/messages`, basic auth with the
/// API key, a urlencoded body; returned as each request's form fields.
pub(crate) async fn mailgun_requests(server: &wiremock::MockServer) -> Vec<Vec<(String, String)>> {
    use base64::Engine;
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("api:{MAILGUN_KEY}"))
    );
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|request| {
            assert_eq!(request.method.as_str(), "POST", "{request:?}");
            assert_eq!(
                request.url.path(),
                "/v3/mg.rally.test/messages",
                "{request:?}"
            );
            assert_eq!(
                request
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok()),
                Some(expected_auth.as_str()),
                "{request:?}"
            );
            assert!(
                request
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")),
                "{request:?}"
            );
            serde_urlencoded::from_bytes(&request.body).expect("a urlencoded form")
        })
        .collect()
}

#[tokio::test]
async fn mailgun_sends_once_per_key_and_retries_on_429() {
    let stub = mailgun_stub(vec![429]).await;
    let app = spawn_app_with(|s| {
        s.mail.mailgun_api_key = Some(rally::platform::config::Token(MAILGUN_KEY.into()));
        s.mail.mailgun_domain = Some("mg.rally.test".into());
        s.mail.mailgun_base_url = stub.uri();
        s.mail.from = "Rally <no-reply@mg.rally.test>".into();
    })
    .await;
    assert_eq!(app.get("/dev/mailbox").await.status(), 303, "sign in first");
    let res = app
        .post_as(
            &client(),
            "/password/forgot",
            &[("email", app.demo.email.as_str())],
        )
        .await;
    assert_eq!(res.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mailgun_requests(&stub).await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            mailgun_requests(&stub).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.drain().await;
    let got = mailgun_requests(&stub).await;
    assert_eq!(got.len(), 2, "429, then sent once: {got:?}");
    let field = |r: &Vec<(String, String)>, name: &str| {
        r.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    for request in &got {
        assert_eq!(field(request, "to"), app.demo.email);
        assert_eq!(field(request, "from"), "Rally <no-reply@mg.rally.test>");
        assert_eq!(field(request, "subject"), "Reset your Rally password");
        assert!(field(request, "text").contains("/password/reset?token="));
        assert!(field(request, "html").contains("<a href="));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM emails WHERE sent_at IS NOT NULL AND provider_id = '<stub-1@mg.rally.test>'")
            .await,
        1
    );
    // Running the job again for the same key sends nothing more.
    let key: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT key FROM emails")
        .fetch_one(p)
        .await
        .unwrap());
    rally::platform::mail::send(
        &app.pool,
        &rally::platform::mail::Mailer::from_settings(&rally::platform::config::MailSettings {
            mailgun_api_key: Some(rally::platform::config::Token(MAILGUN_KEY.into())),
            mailgun_domain: Some("mg.rally.test".into()),
            mailgun_base_url: stub.uri(),
            from: "x".into(),
        }),
        rally::platform::mail::EmailSend {
            key,
            organization_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(mailgun_requests(&stub).await.len(), 2);
    // With Mailgun configured there is no development mailbox.
    app.sign_in().await;
    assert_eq!(app.get("/dev/mailbox").await.status(), 404);
}

#[tokio::test]
async fn mailgun_refusals_other_than_429_and_5xx_are_permanent() {
    let stub = mailgun_stub(vec![400]).await;
    let app = spawn_app_with(|s| {
        s.mail.mailgun_api_key = Some(rally::platform::config::Token(MAILGUN_KEY.into()));
        s.mail.mailgun_domain = Some("mg.rally.test".into());
        s.mail.mailgun_base_url = stub.uri();
    })
    .await;
    app.post_as(
        &client(),
        "/password/forgot",
        &[("email", app.demo.email.as_str())],
    )
    .await;
    let queue = jobs::SqlQueue::new(app.pool.queue_store(), Default::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.dead_letters(10).await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = queue.dead_letters(10).await.unwrap();
    assert!(
        dead[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("Mailgun refused the message (400"),
        "{dead:?}"
    );
    // Dead now: a retry would have come before, so one request means none.
    let got = mailgun_requests(&stub).await;
    assert_eq!(got.len(), 1, "not retried: {got:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM emails WHERE sent_at IS NULL AND error LIKE '%400%'")
            .await,
        1
    );
}

/// The kind of organization is one of the three the form offers: a
/// location (made by its HQ) or another spelling comes back with its
/// message; the one chosen is stored as its text.
#[tokio::test]
async fn sign_up_takes_only_the_kinds_it_offers() {
    let app = spawn_app().await;
    let page = app.page("/signup").await;
    for offered in ["direct_sales", "business", "franchise"] {
        assert!(page.contains(&format!("value=\"{offered}\"")), "{page}");
    }
    assert!(!page.contains("value=\"location\""), "{page}");
    for kind in ["location", "Franchise", ""] {
        let mut form = sign_up_form("kinds@example.com", "correct horse battery");
        form.retain(|(field, _)| *field != "kind");
        form.push(("kind", kind));
        let res = app.post_as(&app.client, "/signup", &form).await;
        assert_eq!(res.status(), 422, "{kind:?}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains("Please choose what kind of organization it is."),
            "{kind:?}: {page}"
        );
    }
    let mut form = sign_up_form("kinds@example.com", "correct horse battery");
    form.retain(|(field, _)| *field != "kind");
    form.push(("kind", "business"));
    let res = app.post_as(&app.client, "/signup", &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM organizations WHERE name = 'Nadia''s Franchise & Co' AND kind = 'business'"
        )
        .await,
        1
    );
}
