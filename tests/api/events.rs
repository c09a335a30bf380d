//! Live events: start, projector page with QR code, server-sent updates,
//! end, summary.

use std::time::Duration;

use futures::StreamExt;

use crate::helpers::*;

async fn csrf(app: &TestApp) -> String {
    hidden(&app.page("/events").await, "_csrf")
}

#[tokio::test]
async fn an_event_from_start_to_summary() {
    let app = spawn_app().await;
    app.sign_in().await;
    let token = csrf(&app).await;
    let form_id: i64 = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(p)
        .await
        .unwrap());
    let form_id = form_id.to_string();

    // Without a name: the form again, with the message, nothing created.
    let res = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", token.as_str()),
                ("name", " "),
                ("form_id", form_id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Please give the event a name.")
    );
    let forged = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", "forged"),
                ("name", "Launch"),
                ("form_id", form_id.as_str()),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    let res = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", token.as_str()),
                ("name", "Launch night"),
                ("form_id", form_id.as_str()),
                ("show_names", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let live_path = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(live_path, "/events/1/live");

    let live = app.page(&live_path).await;
    assert!(
        live.contains("Launch night") && live.contains("<svg"),
        "{live}"
    );
    assert!(
        live.contains(&format!("{}/f/demo", app.base)),
        "the QR's address is shown: {live}"
    );
    assert!(live.contains("sse-connect=\"/events/1/stream\""));
    assert!(
        live.contains("http-equiv=\"refresh\""),
        "refreshes itself without JavaScript"
    );

    // The stream sends the current count first.
    let stream_res = app
        .client
        .get(app.url("/events/1/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream_res.status(), 200);
    assert!(
        stream_res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = stream_res.bytes_stream();
    let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(
        first.contains("event: count") && first.contains(">0<"),
        "{first}"
    );

    // Three submissions (two by one person) and a bot.
    for (name, email) in [
        ("Ana Lima", "ana@example.com"),
        ("Bo Chen", "bo@example.com"),
        ("Ana L.", "ANA@example.com"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    let tokens = app.form_tokens().await;
    app.post_form(
        &tokens,
        &[
            ("name", "Bot"),
            ("email", "bot@example.com"),
            ("website", "x"),
        ],
        false,
    )
    .await;
    app.drain().await;

    // The stream pushes the new count and the first names, without a reload.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.contains(">3<") && seen.contains("<li>Bo</li>")) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("stream updates")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: names") && seen.contains("<li>Ana</li>"),
        "{seen}"
    );
    assert!(!seen.contains("Lima"), "first names only: {seen}");
    drop(stream);

    let res = app
        .post_as(&app.client, "/events/1/end", &[("_csrf", token.as_str())])
        .await;
    assert_eq!(res.status(), 303);
    let summary = app.page("/events/1").await;
    let total = |label: &str| {
        let marker = format!("<dt>{label}</dt><dd>");
        let start = summary
            .find(&marker)
            .unwrap_or_else(|| panic!("{label} missing: {summary}"))
            + marker.len();
        summary[start..start + summary[start..].find('<').unwrap()].to_string()
    };
    assert_eq!(total("Submissions"), "3");
    assert_eq!(total("Prospects"), "2");
    assert_eq!(total("New"), "2");
    assert_eq!(total("Returning"), "0");
    assert_eq!(total("Duplicates merged"), "1");
    // The bot is held for review, not thrown away (it was "Bots rejected").
    assert_eq!(total("Held as possible bots"), "1");
    assert_eq!(total("Awaiting review"), "1");
    assert!(
        summary.contains("<svg class=\"chart\"") && summary.contains("3 in all"),
        "{summary}"
    );
    // Submissions after the end do not count.
    let tokens = app.form_tokens().await;
    app.post_form(
        &tokens,
        &[("name", "Late"), ("email", "late@example.com")],
        false,
    )
    .await;
    app.drain().await;
    assert!(
        app.page("/events/1")
            .await
            .contains("<dt>Submissions</dt><dd>3</dd>")
    );
    let list = app.page("/events").await;
    assert!(list.contains("Launch night") && list.contains("ended"));
    // Its projector and presenter mode show the result: no code to scan,
    // no live stream.
    for page in ["/events/1/live", "/events/1/present"] {
        let page = app.page(page).await;
        assert!(page.contains("This event has ended."), "{page}");
        assert!(
            !page.contains("<svg") && !page.contains("sse-connect"),
            "{page}"
        );
    }
    // A projector still open when the event ended hears it and its stream
    // ends.
    let stream = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.client.get(app.url("/events/1/stream")).send(),
    )
    .await
    .unwrap()
    .unwrap();
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), stream.text())
        .await
        .expect("the stream ends after `ended`")
        .unwrap();
    assert!(
        body.contains("event: ended") && body.contains("This event has ended."),
        "{body}"
    );
}

/// The projector shows the first name typed into each submission, never
/// the stored prospect's: typing a known attendee's email must not put
/// their name on the big screen.
#[tokio::test]
async fn the_projector_shows_the_typed_first_name_not_the_stored_one() {
    let app = spawn_app().await;
    // Known before the event.
    for (name, email) in [
        ("Élodie Martin", "elodie@example.com"),
        ("Dana Quill", "dana.quill@example.com"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    app.drain().await;
    app.sign_in().await;
    let token = csrf(&app).await;
    let form_id = app
        .count("SELECT id FROM forms WHERE slug = 'demo'")
        .await
        .to_string();
    let res = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", token.as_str()),
                ("name", "Open day"),
                ("form_id", form_id.as_str()),
                ("show_names", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let live_path = res.headers()["location"].to_str().unwrap().to_string();
    let stream_path = live_path.replace("/live", "/stream");
    let mut stream = app
        .client
        .get(app.url(&stream_path))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for (name, email) in [
        ("Prank Ster", "elodie@example.com"),
        ("Danielle Quill", "dana.quill@example.com"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    app.drain().await;

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("<li>Danielle</li>") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("stream updates: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("<li>Prank</li>"), "{seen}");
    assert!(
        !seen.contains("Élodie") && !seen.contains("<li>Dana</li>"),
        "{seen}"
    );
    drop(stream);
    let live = app.page(&live_path).await;
    assert!(
        live.contains("<li>Prank</li>") && live.contains("<li>Danielle</li>"),
        "{live}"
    );
    assert!(
        !live.contains("Élodie") && !live.contains("<li>Dana</li>"),
        "{live}"
    );
    // The stored prospects keep their names.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE name IN ('Élodie Martin', 'Dana Quill')")
            .await,
        2
    );
}

#[tokio::test]
async fn events_need_a_session_and_stay_in_their_organization() {
    let app = spawn_app().await;
    for path in ["/events", "/events/1", "/events/1/live", "/events/1/stream"] {
        assert_eq!(app.get(path).await.status(), 303, "{path}");
    }
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => sqlx::query("INSERT INTO organizations (slug, name, created_at) VALUES ('other', 'Other', $1)")
        .bind(now)
        .execute(p)
        .await
        .unwrap().rows_affected());
    rally::on_pool!(&app.pool, p => sqlx::query(
        "INSERT INTO forms (organization_id, slug, title, created_at) VALUES ((SELECT id FROM organizations WHERE slug = 'other'), 'other', 'Other form', $1)",
    )
    .bind(now)
    .execute(p)
    .await
    .unwrap().rows_affected());
    rally::on_pool!(&app.pool, p => sqlx::query(
        "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
         SELECT organization_id, id, 'Secret', $1, $1 FROM forms WHERE slug = 'other'",
    )
    .bind(now)
    .execute(p)
    .await
    .unwrap().rows_affected());
    app.sign_in().await;
    for path in ["/events/1", "/events/1/live", "/events/1/stream"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let list = app.page("/events").await;
    assert!(
        !list.contains("Secret") && !list.contains("Other form"),
        "{list}"
    );
}

/// Members see events but not the actions their role may not take; those
/// who may run events end one through a second, confirming button.
#[tokio::test]
async fn event_actions_are_shown_to_those_who_may_take_them() {
    let app = spawn_app().await;
    app.sign_in().await;
    let token = csrf(&app).await;
    let form_id = app.count("SELECT id FROM forms WHERE slug = 'demo'").await;
    let res = app
        .post_as(
            &app.client,
            "/events",
            &[
                ("_csrf", token.as_str()),
                ("name", "Launch night"),
                ("form_id", &form_id.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let event = app
        .count("SELECT id FROM events WHERE name = 'Launch night'")
        .await;
    let live = format!("/events/{event}/live");

    let owner_events = app.page("/events").await;
    assert!(owner_events.contains("Start an event"), "{owner_events}");
    let owner_live = app.page(&live).await;
    assert!(
        owner_live.contains("End the event…")
            && owner_live.contains("<details class=\"end-event\">")
            && owner_live.contains("Yes, end the event"),
        "asks first: {owner_live}"
    );
    assert!(
        owner_live.contains("0</span> submissions</span>"),
        "{owner_live}"
    );

    let (member, _) = crate::people::join(&app, "rep@events.test", "member").await;
    let member_events = app.page_as(&member, "/events").await;
    assert!(member_events.contains("Launch night"), "{member_events}");
    assert!(
        !member_events.contains("Start an event") && !member_events.contains("action=\"/events\""),
        "{member_events}"
    );
    let member_live = app.page_as(&member, &live).await;
    assert!(member_live.contains("Launch night"), "{member_live}");
    assert!(
        !member_live.contains("End the event") && !member_live.contains("/end\""),
        "{member_live}"
    );

    // One submission: "1 submission", on the projector and the summary's chart.
    assert_eq!(
        app.submit(&[("name", "Ana Lima"), ("email", "ana@example.com")])
            .await,
        303
    );
    app.drain().await;
    let owner_live = app.page(&live).await;
    assert!(
        owner_live.contains("1</span> submission</span>"),
        "{owner_live}"
    );
    let summary = app.page(&format!("/events/{event}")).await;
    assert!(summary.contains("<title>1 submission</title>"), "{summary}");
}
