//! Rate limits: a room behind one address gets through, one client
//! hammering one form does not, and forwarded addresses count only from
//! trusted proxies.

use crate::helpers::*;

#[tokio::test]
async fn one_client_posting_a_hundred_times_a_second_is_throttled() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        let res = app.post_form(&tokens, ANA, false).await;
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let body = res.text().await.unwrap();
            assert!(
                body.contains("too many times") && body.contains("value=\"Ana Lima\""),
                "{body}"
            );
            statuses.push(429);
        } else {
            statuses.push(res.status().as_u16());
        }
    }
    let elapsed = started.elapsed();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 429),
        "{statuses:?}"
    );
    // 60 at once, then one a second.
    let allowed = 60 + elapsed.as_secs() as usize + 1;
    assert!(
        100 - throttled <= allowed,
        "{throttled} throttled in {elapsed:?}"
    );
    assert!(throttled >= 100 - allowed);
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 1);
}

async fn post_from(app: &TestApp, forwarded_for: &str) -> u16 {
    let tokens = app.form_tokens().await;
    app.client
        .post(app.url("/f/demo"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("_key", tokens.key.as_str()),
            ("_ts", tokens.ts.as_str()),
            ("name", "Ana"),
            ("email", "ana@example.com"),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_address_counts_only_from_a_trusted_proxy() {
    let trusted = spawn_app_with(|s| {
        s.rate_ip_burst = 2;
        s.rate_ip_per_sec = 1;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert_eq!(post_from(&trusted, "203.0.113.7").await, 303);
    assert_eq!(post_from(&trusted, "203.0.113.7").await, 303);
    assert_eq!(post_from(&trusted, "203.0.113.7").await, 429);
    // Someone else behind the same proxy is another client.
    assert_eq!(post_from(&trusted, "198.51.100.1, 203.0.113.9").await, 303);

    let untrusted = spawn_app_with(|s| {
        s.rate_ip_burst = 2;
        s.rate_ip_per_sec = 1;
    })
    .await;
    // The header is ignored: all three come from 127.0.0.1.
    assert_eq!(post_from(&untrusted, "203.0.113.1").await, 303);
    assert_eq!(post_from(&untrusted, "203.0.113.2").await, 303);
    assert_eq!(post_from(&untrusted, "203.0.113.3").await, 429);
}
