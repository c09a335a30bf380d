//! Account forms under abuse: cheap checks before any password hash,
//! sign-up and reset throttled, a fast 503 when hashing is saturated, and
//! a completed reset ending every older reset link.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, client, spawn_app, spawn_app_with};

/// Password hashes (and checks) the app has computed for requests, from
/// `/metrics`.
async fn hashes_computed(app: &TestApp) -> u64 {
    let text = app.page("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("rally_password_hashes_total{outcome=\"computed\"} "))
        .unwrap_or_else(|| panic!("no hash count in {text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn reset(
    app: &TestApp,
    who: &reqwest::Client,
    token: &str,
    password: &str,
) -> reqwest::Response {
    app.post_as(
        who,
        "/password/reset",
        &[
            ("token", token),
            ("password", password),
            ("confirm", password),
        ],
    )
    .await
}

#[tokio::test]
async fn bogus_resets_and_taken_sign_ups_cost_no_hash_and_resets_are_throttled() {
    let app = spawn_app_with(|s| s.signin_per_ip_per_min = 6).await;
    let before = hashes_computed(&app).await;
    let mut statuses = Vec::new();
    for i in 0..10 {
        let res = reset(
            &app,
            &client(),
            &format!("forged-token-{i}"),
            "a fine new password",
        )
        .await;
        let status = res.status().as_u16();
        if status == 429 {
            assert!(res.headers().contains_key("retry-after"));
            // The form comes back, with the link's token, to try again.
            let page = res.text().await.unwrap();
            assert!(
                page.contains("Too many attempts") && page.contains(&format!("forged-token-{i}")),
                "{page}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..6], &[400; 6], "{statuses:?}");
    assert_eq!(&statuses[6..], &[429; 4], "{statuses:?}");
    // A sign-up for an address that has an account is answered before
    // hashing too.
    let res = client()
        .post(app.url("/signup"))
        .form(&[
            ("name", "Again"),
            ("email", app.demo.email.as_str()),
            ("password", "another long password"),
            ("organization", "Again Co"),
            ("kind", "business"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("already uses this email")
    );
    assert_eq!(hashes_computed(&app).await, before, "a hash was computed");
}

async fn sign_up(app: &TestApp, email: &str) -> reqwest::Response {
    client()
        .post(app.url("/signup"))
        .form(&[
            ("name", "Sam Signup"),
            ("email", email),
            ("password", "a long enough password"),
            ("organization", "Sam's Team"),
            ("kind", "direct_sales"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_is_throttled_per_address_and_per_email() {
    let app = spawn_app_with(|s| s.signup_per_ip_per_min = 2).await;
    assert_eq!(sign_up(&app, "one@signup.test").await.status(), 303);
    assert_eq!(sign_up(&app, "two@signup.test").await.status(), 303);
    let res = sign_up(&app, "three@signup.test").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Too many sign-ups") && page.contains("value=\"three@signup.test\""),
        "{page}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'three@signup.test'")
            .await,
        0
    );

    let app = spawn_app_with(|s| s.signin_per_account_per_min = 2).await;
    assert_eq!(sign_up(&app, "same@signup.test").await.status(), 303);
    assert_eq!(sign_up(&app, "same@signup.test").await.status(), 422);
    assert_eq!(sign_up(&app, "same@signup.test").await.status(), 429);
    // Someone else from the same place is not held up.
    assert_eq!(sign_up(&app, "other@signup.test").await.status(), 303);
}

#[tokio::test]
async fn a_full_hashing_queue_answers_at_once_with_503_and_the_form() {
    let app = spawn_app_with(|s| {
        s.password_queue = 1;
        s.signin_per_ip_per_min = 1000;
        s.signin_per_account_per_min = 1000;
    })
    .await;
    let email = app.demo.email.clone();
    let attempts = (0..16).map(|_| {
        let app = &app;
        let email = email.clone();
        async move {
            let started = Instant::now();
            let res = client()
                .post(app.url("/signin"))
                .form(&[("email", email.as_str()), ("password", "not the password")])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry = res.headers().get("retry-after").cloned();
            (status, retry, res.text().await.unwrap(), started.elapsed())
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(
        answers.iter().all(|a| a.0 == 422 || a.0 == 503),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(!busy.is_empty(), "none was turned away");
    for (_, retry, page, elapsed) in busy {
        assert!(retry.is_some(), "no Retry-After");
        assert!(page.contains("busy checking passwords"), "{page}");
        assert!(page.contains(&format!("value=\"{email}\"")), "{page}");
        assert!(
            *elapsed < Duration::from_secs(3),
            "a busy answer took {elapsed:?}"
        );
    }
    // Once the wave has passed, signing in works.
    app.sign_in().await;
}

/// Every reset link's token in the mailbox (the app's client signed in as
/// the recipient), once `n` are there.
async fn reset_tokens(app: &TestApp, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = app.page("/dev/mailbox").await;
        let tokens: Vec<String> = page
            .match_indices("/password/reset?token=")
            .map(|(at, m)| {
                let rest = &page[at + m.len()..];
                rest[..rest
                    .find(|c: char| c == '"' || c == '<' || c.is_whitespace())
                    .unwrap()]
                    .to_string()
            })
            .fold(Vec::new(), |mut seen, t| {
                if !seen.contains(&t) {
                    seen.push(t);
                }
                seen
            });
        if tokens.len() >= n {
            return tokens;
        }
        assert!(Instant::now() < deadline, "{n} reset links not in {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_completed_reset_ends_every_older_reset_link() {
    let app = spawn_app().await;
    app.sign_in().await;
    for _ in 0..2 {
        let res = app
            .post_as(
                &client(),
                "/password/forgot",
                &[("email", app.demo.email.as_str())],
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let tokens = reset_tokens(&app, 2).await;
    let (used, other) = (&tokens[0], &tokens[1]);
    let res = reset(&app, &client(), used, "the newest password").await;
    assert_eq!(res.status(), 303);
    // The other link no longer opens, nor changes the password.
    let res = app.get(&format!("/password/reset?token={other}")).await;
    assert_eq!(res.status(), 400);
    let res = reset(&app, &client(), other, "an older link's password").await;
    assert_eq!(res.status(), 400);
    let res = client()
        .post(app.url("/signin"))
        .form(&[
            ("email", app.demo.email.as_str()),
            ("password", "the newest password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}
