//! The public form: every acceptance and rejection path.

use crate::helpers::*;

#[tokio::test]
async fn valid_submission_redirects_then_becomes_a_prospect() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, ANA, false).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/f/demo/thanks");
    let thanks = app.get("/f/demo/thanks").await;
    assert!(thanks.text().await.unwrap().contains("Thank you"));

    app.drain().await;
    let row: (String, String, Option<String>, Option<String>) = rally::on_pool!(&app.pool, p => sqlx::query_as("SELECT name, email, phone, company FROM prospects")
            .fetch_one(p)
            .await
            .unwrap());
    assert_eq!(
        row,
        (
            "Ana Lima".into(),
            "ana@example.com".into(),
            Some("+1 555 010 9999".into()),
            Some("Lima & Co".into())
        )
    );
    let data: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT data FROM timeline_entries")
        .fetch_one(p)
        .await
        .unwrap());
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["interest"], "The live demo");
    assert_eq!(data["consent"], true);
}

/// A body sent in pieces without a declared length (chunked, as a slow
/// phone may): read whole when small, cut off with 413 past the limit.
#[tokio::test]
async fn an_undeclared_body_is_read_in_pieces_and_cut_off_past_the_limit() {
    let app = spawn_app().await;
    let chunked = |pieces: Vec<Vec<u8>>| {
        let stream = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
        app.client
            .post(app.url("/f/demo"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
    };
    let tokens = app.form_tokens().await;
    let mut fields = vec![("_key", tokens.key.as_str()), ("_ts", tokens.ts.as_str())];
    fields.extend_from_slice(ANA);
    let body = serde_urlencoded::to_string(&fields).unwrap().into_bytes();
    let pieces = body.chunks(7).map(<[u8]>::to_vec).collect();
    let res = chunked(pieces).await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    app.drain().await;
    let name: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT name FROM prospects")
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(name, "Ana Lima");

    let big = (0..70).map(|_| vec![b'a'; 1024]).collect();
    assert_eq!(chunked(big).await.unwrap().status(), 413);
}

#[tokio::test]
async fn htmx_submission_gets_a_thank_you_fragment() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, ANA, true).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Thank you") && body.contains("id=\"intake-form\""),
        "{body}"
    );
    assert!(!body.contains("<html"), "a fragment, not a page: {body}");
}

#[tokio::test]
async fn invalid_submission_comes_back_with_values_and_messages() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let fields = [
        ("name", ""),
        ("email", "ana-at-example"),
        ("phone", "call me"),
        ("company", "Lima <Co>"),
    ];
    for htmx in [false, true] {
        let res = app.post_form(&tokens, &fields, htmx).await;
        assert_eq!(res.status(), 422);
        let body = res.text().await.unwrap();
        assert!(body.contains("Please enter your name."), "{body}");
        assert!(
            body.contains("doesn&#39;t look like an email")
                || body.contains("doesn't look like an email"),
            "{body}"
        );
        assert!(body.contains("Please enter a phone number"), "{body}");
        // What the person typed is still there, escaped.
        assert!(body.contains("value=\"ana-at-example\""), "{body}");
        assert!(body.contains("value=\"Lima &lt;Co&gt;\""), "{body}");
        assert!(
            body.contains(&format!("value=\"{}\"", tokens.key)),
            "same submission key kept"
        );
        assert_eq!(
            body.contains("<html"),
            !htmx,
            "page without htmx, fragment with it"
        );
        if htmx {
            assert!(
                body.starts_with("<form"),
                "htmx swaps the form itself: {body}"
            );
        }
    }
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 0);
}

#[tokio::test]
async fn repeated_submission_key_gives_one_prospect_and_one_entry() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    for _ in 0..3 {
        assert_eq!(app.post_form(&tokens, ANA, false).await.status(), 303);
    }
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
}

#[tokio::test]
async fn fifty_concurrent_posts_of_one_key_store_exactly_once() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let posts = (0..50).map(|_| app.post_form(&tokens, ANA, false));
    let responses = futures::future::join_all(posts).await;
    assert!(
        responses.iter().all(|r| r.status() == 303),
        "{:?}",
        responses.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
    assert_eq!(app.jobs_stored().await, 1);
}

#[tokio::test]
async fn new_answers_fill_blanks_and_never_erase() {
    let app = spawn_app().await;
    let first = app.form_tokens().await;
    app.post_form(
        &first,
        &[
            ("name", "Ana Lima"),
            ("email", "ana@example.com"),
            ("phone", "555 010 9999"),
        ],
        false,
    )
    .await;
    app.drain().await;
    let second = app.form_tokens().await;
    app.post_form(
        &second,
        &[
            ("name", "A. Lima"),
            ("email", "ANA@example.com"),
            ("company", "Lima & Co"),
        ],
        false,
    )
    .await;
    app.drain().await;
    let row: (String, Option<String>, Option<String>) = rally::on_pool!(&app.pool, p => sqlx::query_as("SELECT name, phone, company FROM prospects")
            .fetch_one(p)
            .await
            .unwrap());
    assert_eq!(
        row,
        (
            "Ana Lima".into(),
            Some("555 010 9999".into()),
            Some("Lima & Co".into())
        )
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 2);
}

#[tokio::test]
async fn redelivered_job_takes_effect_once() {
    let app = spawn_app().await;
    let answers = rally::intake::model::FormInput {
        name: "Ana".into(),
        email: "ana@example.com".into(),
        ..Default::default()
    }
    .parse()
    .unwrap();
    let job = rally::intake::jobs::FormSubmission {
        form_id: 1,
        submission_key: "5d7c8a0e-0000-4000-8000-000000000001".into(),
        answers,
        submitted_at: rally::platform::db::now_ms(),
        organization_id: None,
    };
    for _ in 0..3 {
        rally::intake::jobs::process_submission(&app.pool, &app.queue(), job.clone())
            .await
            .unwrap();
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
}

/// A filled honeypot is thanked like anyone (a bot learns nothing) and
/// becomes no job and no prospect; the submission is held for review, not
/// thrown away (browser autofill fills it for people too).
#[tokio::test]
async fn honeypot_looks_accepted_and_is_held_not_stored_as_a_prospect() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let mut fields = ANA.to_vec();
    fields.retain(|(k, _)| *k != "website");
    fields.push(("website", "http://spam.example"));
    let res = app.post_form(&tokens, &fields, false).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/f/demo/thanks");
    app.drain().await;
    assert_eq!(app.jobs_stored().await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM intake_rejections WHERE reason = 'honeypot'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM held_submissions WHERE reason = 'honeypot' AND answers LIKE '%Ana Lima%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn too_fast_submission_looks_accepted_and_is_held() {
    let app = spawn_app_with(|s| s.form_min_fill = std::time::Duration::from_secs(60)).await;
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, ANA, true).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Thank you"));
    assert_eq!(app.jobs_stored().await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM intake_rejections WHERE reason = 'too_fast'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM held_submissions WHERE reason = 'too_fast'")
            .await,
        1
    );
}

/// A double tap of a too-fast (or autofilled) form is held once.
#[tokio::test]
async fn an_exact_repeat_is_held_once() {
    let app = spawn_app_with(|s| s.form_min_fill = std::time::Duration::from_secs(60)).await;
    let tokens = app.form_tokens().await;
    let posts = (0..5).map(|_| app.post_form(&tokens, ANA, false));
    for res in futures::future::join_all(posts).await {
        assert_eq!(res.status(), 303);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM intake_rejections").await, 1);
}

/// Looking automated does not hide a typo: the person gets their form
/// back with the message and their values, like anyone else.
#[tokio::test]
async fn an_autofilled_form_with_a_mistake_comes_back_with_the_message() {
    let app = spawn_app_with(|s| s.form_min_fill = std::time::Duration::from_secs(60)).await;
    let tokens = app.form_tokens().await;
    let res = app
        .post_form(
            &tokens,
            &[
                ("name", "Ana Lima"),
                ("email", "ana-at-example"),
                ("website", "ana.example"),
            ],
            false,
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("value=\"ana-at-example\""), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM held_submissions").await, 0);
}

/// Two people on one rendered form (the Back button, a shared kiosk
/// tablet, a cached page): same key, different answers, two submissions.
/// Exact repeats of either stay one.
#[tokio::test]
async fn same_key_with_different_answers_is_a_second_submission() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    for fields in [ANA, BO, ANA, BO] {
        let res = app.post_form(&tokens, fields, false).await;
        assert_eq!(res.status(), 303);
    }
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email = 'bo@example.com' AND name = 'Bo Chen'"
        )
        .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 2);
    assert_eq!(app.jobs_stored().await, 2);
}

/// The same under the intake writer's batching: many concurrent sends of
/// one key with two sets of answers store each set exactly once.
#[tokio::test]
async fn concurrent_sends_of_one_key_by_two_people_store_each_once() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let posts = (0..40).map(|i| app.post_form(&tokens, if i % 2 == 0 { ANA } else { BO }, false));
    let responses = futures::future::join_all(posts).await;
    assert!(responses.iter().all(|r| r.status() == 303));
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 2);
    assert_eq!(app.jobs_stored().await, 2);
}

/// A rendered form is never kept by a cache (it carries its own key).
#[tokio::test]
async fn the_form_page_is_sent_with_no_store() {
    let app = spawn_app().await;
    let res = app.get("/f/demo").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Nor is the form when it comes back with messages.
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, &[("name", "")], false).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

/// The idempotency key: the rendered form's key plus a hash of the
/// normalised answers; trimming and the email's case do not change it,
/// any answer does.
#[test]
fn submission_keys_follow_the_normalised_answers() {
    let parse = |name: &str, email: &str, phone: &str| {
        rally::intake::model::FormInput {
            name: name.into(),
            email: email.into(),
            phone: phone.into(),
            ..Default::default()
        }
        .parse()
        .unwrap()
    };
    let key = "0b9f1c1e-8a43-4c1e-9d0c-3d1f5c0a9b7e";
    let a = rally::intake::writer::submission_key(key, &parse("Ana Lima", "ana@example.com", ""));
    assert!(
        a.starts_with(&format!("{key}.")) && a.len() == key.len() + 33,
        "{a}"
    );
    assert_eq!(
        a,
        rally::intake::writer::submission_key(key, &parse(" Ana Lima ", "ANA@example.com", " "))
    );
    for other in [
        parse("Bo Chen", "ana@example.com", ""),
        parse("Ana Lima", "bo@example.com", ""),
        parse("Ana Lima", "ana@example.com", "555 010 9999"),
    ] {
        assert_ne!(a, rally::intake::writer::submission_key(key, &other));
    }
    assert_ne!(
        a,
        rally::intake::writer::submission_key(
            "0b9f1c1e-8a43-4c1e-9d0c-3d1f5c0a9b7f",
            &parse("Ana Lima", "ana@example.com", "")
        )
    );
}

#[tokio::test]
async fn tampered_render_time_keeps_the_values_and_asks_again() {
    let app = spawn_app().await;
    let mut tokens = app.form_tokens().await;
    tokens.ts = tokens.ts.replacen('1', "2", 1);
    let res = app.post_form(&tokens, ANA, false).await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("expired"), "{body}");
    assert!(body.contains("value=\"Ana@Example.com\""), "{body}");
    // The fresh form it gives back is accepted.
    let fresh = FormTokens {
        key: hidden(&body, "_key"),
        ts: hidden(&body, "_ts"),
    };
    assert_eq!(app.post_form(&fresh, ANA, false).await.status(), 303);
}

#[tokio::test]
async fn bad_requests_get_precise_errors_never_500() {
    let app = spawn_app().await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/f/demo"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let form = "application/x-www-form-urlencoded";
    let big = format!("_key=x&name={}", "a".repeat(70 * 1024));
    let cases: [(&[u8], &str, u16); 6] = [
        // Over 64 KiB.
        (big.as_bytes(), form, 413),
        // Malformed encodings.
        (b"name=%zz&_key=1", form, 400),
        (b"name=\xff\xfe", form, 400),
        (b"{\"name\":1}", "application/json", 400),
        // Missing or bad hidden fields.
        (b"name=Ana&email=a%40b.co", form, 400),
        (b"_key=short&_ts=1.x&name=Ana", form, 400),
    ];
    for (body, content_type, status) in cases {
        let res = post(body.to_vec(), content_type).await.unwrap();
        assert_eq!(res.status(), status, "{}", String::from_utf8_lossy(body));
    }
    let tokens = app.form_tokens().await;
    let no_ts = format!("_key={}&name=Ana", tokens.key);
    let res = post(no_ts.into_bytes(), form).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("reload the page"));
    // Unknown form, for both methods.
    let res = app.get("/f/nope").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Not found"));
    let res = app.post_as(&app.client, "/f/nope", &[("a", "b")]).await;
    assert_eq!(res.status(), 404);
    // A submission is answered past the router (http::Frame), with the
    // same security headers as every other answer.
    assert_security_headers(&res);
    // What is not a submission still gets the router's answer.
    let res = app
        .post_as(&app.client, "/f/demo/thanks", &[("a", "b")])
        .await;
    assert_eq!(res.status(), 405);
    assert_eq!(app.jobs_stored().await, 0);
}

/// After a submission the next person gets a fresh form from a link, both
/// on the thank-you page (no JavaScript) and in the htmx thank-you fragment.
#[tokio::test]
async fn thank_you_offers_a_fresh_form_for_the_next_person() {
    let app = spawn_app().await;
    let fresh = r#"<a href="/f/demo">Send another response</a>"#;
    let page = app.page("/f/demo/thanks").await;
    assert!(page.contains(fresh), "{page}");
    let tokens = app.form_tokens().await;
    let res = app
        .post_form(
            &tokens,
            &[("name", "Kiosk Kim"), ("email", "kim@example.com")],
            true,
        )
        .await;
    assert_eq!(res.status(), 200);
    let fragment = res.text().await.unwrap();
    assert!(
        fragment.contains("Thank you") && fragment.contains(fresh),
        "{fragment}"
    );
}
