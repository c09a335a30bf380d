//! The form builder (`POST /forms/{id}/fields`) and the public form it
//! shapes: fields added, saved, moved and removed; problems shown again
//! with what was typed (422); the email kept as the dedupe key; another
//! organization's field out of reach through a form of one's own; each
//! kind's answer checked on the server; the answers kept with the labels
//! they were given under.

use crate::helpers::*;

async fn demo_form(app: &TestApp) -> i64 {
    app.count("SELECT id FROM forms WHERE slug = 'demo'").await
}

/// Sends one builder change as the signed-in owner; the response.
async fn change(app: &TestApp, form: i64, fields: &[(&str, &str)]) -> reqwest::Response {
    let path = format!("/forms/{form}/edit");
    let csrf = app.csrf_as(&app.client, &path).await;
    let mut body = vec![("_csrf", csrf.as_str())];
    body.extend_from_slice(fields);
    app.post_as(&app.client, &format!("/forms/{form}/fields"), &body)
        .await
}

async fn field_id(app: &TestApp, form: i64, label: &str) -> i64 {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar(
        "SELECT id FROM form_fields WHERE form_id = $1 AND label = $2")
        .bind(form)
        .bind(label)
        .fetch_one(p)
        .await
        .unwrap())
}

async fn labels(app: &TestApp, form: i64) -> Vec<String> {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar::<_, String>(
        "SELECT label FROM form_fields WHERE form_id = $1 ORDER BY position, id")
        .bind(form)
        .fetch_all(p)
        .await
        .unwrap())
}

#[tokio::test]
async fn fields_are_added_saved_moved_and_removed() {
    let app = spawn_app().await;
    app.sign_in().await;
    let form = demo_form(&app).await;
    // A choice without options comes back with what was typed.
    let res = change(
        &app,
        form,
        &[
            ("op", "add"),
            ("kind", "choice"),
            ("label", "Shirt size"),
            ("options", " \n "),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("A choice needs options"), "{page}");
    assert!(page.contains("value=\"Shirt size\""));
    let res = change(
        &app,
        form,
        &[
            ("op", "add"),
            ("kind", "choice"),
            ("label", "Shirt size"),
            ("options", "S\nM\nL"),
            ("required", "yes"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let size = field_id(&app, form, "Shirt size").await;
    // The standard set was stored on the first change, the choice after it.
    assert_eq!(labels(&app, form).await.len(), 7);
    // Saved, then moved up twice.
    let size_text = size.to_string();
    let res = change(
        &app,
        form,
        &[
            ("op", "save"),
            ("field", &size_text),
            ("label", "Your shirt size"),
            ("help", "Unisex sizes"),
            ("options", "S\nM\nL\nXL"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    for _ in 0..2 {
        let res = change(&app, form, &[("op", "up"), ("field", &size_text)]).await;
        assert_eq!(res.status(), 303);
    }
    assert_eq!(
        labels(&app, form).await,
        [
            "Name",
            "Email",
            "Phone",
            "Company",
            "Your shirt size",
            "What are you interested in?",
            "Yes, you may contact me about this."
        ]
    );
    // The email stays, and stays required.
    let email = field_id(&app, form, "Email").await.to_string();
    let res = change(&app, form, &[("op", "remove"), ("field", &email)]).await;
    assert_eq!(res.status(), 422);
    let res = change(
        &app,
        form,
        &[("op", "save"), ("field", &email), ("label", "Your email")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM form_fields WHERE key = 'email' AND required")
            .await,
        1
    );
    // A standard field once only; removed, it can come back.
    let res = change(&app, form, &[("op", "add"), ("kind", "std:phone")]).await;
    assert_eq!(res.status(), 422);
    let phone = field_id(&app, form, "Phone").await.to_string();
    assert_eq!(
        change(&app, form, &[("op", "remove"), ("field", &phone)])
            .await
            .status(),
        303
    );
    assert_eq!(
        change(&app, form, &[("op", "add"), ("kind", "std:phone")])
            .await
            .status(),
        303
    );
    // Nonsense: a field that is not there, an unknown change.
    assert_eq!(
        change(&app, form, &[("op", "up"), ("field", "999999")])
            .await
            .status(),
        404
    );
    assert_eq!(
        change(&app, form, &[("op", "explode"), ("field", &email)])
            .await
            .status(),
        400
    );
    // The public form shows the new field with its help, at once.
    let public = app.page("/f/demo").await;
    assert!(public.contains("Your shirt size") && public.contains("Unisex sizes"));
    assert!(public.contains("Your email"));
}

/// Organization B's field cannot be reached through a form of A's: the id
/// in the body must be one of the form's own.
#[tokio::test]
async fn another_organizations_field_is_out_of_reach() {
    let app = spawn_app().await;
    app.sign_in().await;
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('org-b', 'Org B', 'business', $1)",
            "INSERT INTO forms (organization_id, slug, title, created_at)
             SELECT id, 'org-b-form', 'B Form', $1 FROM organizations WHERE slug = 'org-b'",
            "INSERT INTO form_fields (organization_id, form_id, position, kind, label, created_at)
             SELECT organization_id, id, 1, 'text', 'B Secret Question', $1 FROM forms WHERE slug = 'org-b-form'",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(now).execute(p).await.unwrap();
        }
    });
    let form = demo_form(&app).await;
    let theirs = app
        .count("SELECT id FROM form_fields WHERE label = 'B Secret Question'")
        .await
        .to_string();
    for op in ["save", "up", "down", "remove"] {
        let res = change(
            &app,
            form,
            &[("op", op), ("field", &theirs), ("label", "Taken over")],
        )
        .await;
        assert_eq!(res.status(), 404, "{op}");
        assert!(!res.text().await.unwrap().contains("B Secret Question"));
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM form_fields WHERE label = 'B Secret Question' AND position = 1"
        )
        .await,
        1
    );
    // B's form itself: not found.
    let b_form = app
        .count("SELECT id FROM forms WHERE slug = 'org-b-form'")
        .await;
    let csrf = app.csrf_as(&app.client, "/forms").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/forms/{b_form}/fields"),
            &[
                ("_csrf", &csrf),
                ("op", "add"),
                ("kind", "text"),
                ("label", "Planted"),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM form_fields WHERE label = 'Planted'")
            .await,
        0
    );
}

#[tokio::test]
async fn each_kind_is_checked_on_the_server_and_kept_with_its_label() {
    let app = spawn_app().await;
    app.sign_in().await;
    let form = demo_form(&app).await;
    for (kind, label, options, required) in [
        ("number", "Guests", "", false),
        ("date", "Visit day", "", false),
        ("choice", "Size", "S\nM", true),
        ("multiple", "Topics", "Price\nDelivery\nSupport", false),
        ("checkbox", "First visit", "", false),
        ("consent", "Send me the newsletter.", "", true),
        ("email", "Work email", "", false),
    ] {
        let mut body = vec![
            ("op", "add"),
            ("kind", kind),
            ("label", label),
            ("options", options),
        ];
        if required {
            body.push(("required", "yes"));
        }
        assert_eq!(change(&app, form, &body).await.status(), 303, "{kind}");
    }
    let name = |label: &'static str| {
        let app = &app;
        async move { format!("f{}", field_id(app, form, label).await) }
    };
    let (guests, day, size, topics, first, news, work) = (
        name("Guests").await,
        name("Visit day").await,
        name("Size").await,
        name("Topics").await,
        name("First visit").await,
        name("Send me the newsletter.").await,
        name("Work email").await,
    );
    // Every bad answer is named, and what was typed comes back.
    let tokens = app.form_tokens().await;
    let res = app
        .post_form(
            &tokens,
            &[
                ("name", "Ana Lima"),
                ("email", "ana@example.com"),
                (&guests, "a dozen"),
                (&day, "2026-02-30"),
                (&size, "XXL"),
                (&topics, "Price"),
                (&topics, "Gossip"),
                (&work, "not an address"),
            ],
            false,
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for message in [
        "Please enter a number",
        "Please enter a date",
        "Please choose one of the options.",
        "Please choose among the options.",
        "Please tick this box to continue.",
    ] {
        assert!(page.contains(message), "{message}");
    }
    assert!(page.contains("value=\"a dozen\"") && page.contains("value=\"Ana Lima\""));
    assert_eq!(app.jobs_stored().await, 0);
    // All good: stored with the labels of the time.
    let res = app
        .post_form(
            &tokens,
            &[
                ("name", "Ana Lima"),
                ("email", "ana@example.com"),
                (&guests, " 3,5 "),
                (&day, "2026-06-15"),
                (&size, "M"),
                (&topics, "Support"),
                (&topics, "Price"),
                (&first, "yes"),
                (&news, "yes"),
            ],
            false,
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    app.drain().await;
    let data: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT data FROM timeline_entries")
        .fetch_one(p)
        .await
        .unwrap());
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let shown: Vec<(String, String)> = data["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["label"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("Name", "Ana Lima"),
        ("Email", "ana@example.com"),
        ("Yes, you may contact me about this.", "no"),
        ("Guests", "3,5"),
        ("Visit day", "2026-06-15"),
        ("Size", "M"),
        ("Topics", "Price; Support"),
        ("First visit", "yes"),
        ("Send me the newsletter.", "yes"),
    ];
    assert_eq!(shown, want.map(|(l, v)| (l.to_string(), v.to_string())));
    assert_eq!(data["email"], "ana@example.com");
    let prospect = app.count("SELECT id FROM prospects").await;
    let page = app.page(&format!("/prospects/{prospect}")).await;
    assert!(page.contains("Topics") && page.contains("Price; Support"));
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn upload_logo(app: &TestApp, bytes: &[u8], mime: &str) -> reqwest::Response {
    let csrf = app.csrf_as(&app.client, "/forms/branding").await;
    let form = reqwest::multipart::Form::new().text("_csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name("logo")
            .mime_str(mime)
            .unwrap(),
    );
    app.client
        .post(app.url("/forms/branding/logo"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn branding_shows_on_public_forms_and_the_projector_and_a_redirect_follows_the_thanks() {
    let app = spawn_app().await;
    app.sign_in().await;
    // A colour that is not one comes back as typed.
    let csrf = app.csrf_as(&app.client, "/forms/branding").await;
    let res = app
        .post_as(
            &app.client,
            "/forms/branding",
            &[("_csrf", &csrf), ("accent", "#12}body{")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("value=\"#12}body{\""));
    let res = app
        .post_as(
            &app.client,
            "/forms/branding",
            &[("_csrf", &csrf), ("accent", "#0A7")],
        )
        .await;
    assert_eq!(res.status(), 200);
    // Logos: an image, not a script or a large file.
    assert_eq!(
        upload_logo(&app, b"<svg onload=x>", "image/svg+xml")
            .await
            .status(),
        422
    );
    assert_eq!(
        upload_logo(&app, &vec![0xff; 30 * 1024], "image/jpeg")
            .await
            .status(),
        422
    );
    // A photo straight off a phone (3 MB, over the forms' 64 KB): the page
    // again with the reason, not a bare "too large".
    let res = upload_logo(&app, &vec![0xff; 3 * 1024 * 1024], "image/jpeg").await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("That logo is over 24 KB"), "{page}");
    assert_eq!(upload_logo(&app, PNG, "image/png").await.status(), 200);
    let public = app.page("/f/demo").await;
    assert!(
        public.contains("href=\"/assets/accent-00aa77.css\""),
        "{public}"
    );
    assert!(public.contains("src=\"data:image/png;base64,iVBORw0KGgo"));
    let css = app.get("/assets/accent-00aa77.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains("--brand:#00aa77"));
    assert_eq!(app.get("/assets/accent-00AA77.css").await.status(), 404);

    // A redirect: refused unless http(s), then the thank-you page goes on.
    let form = demo_form(&app).await;
    let edit = format!("/forms/{form}/edit");
    let csrf = app.csrf_as(&app.client, &edit).await;
    for (url, status) in [
        ("javascript:alert(1)", 422),
        ("https://example.com/next?a=1", 303),
    ] {
        let res = app
            .post_as(
                &app.client,
                &edit,
                &[("_csrf", &csrf), ("title", "Demo"), ("redirect_url", url)],
            )
            .await;
        assert_eq!(res.status(), status, "{url}");
    }
    let thanks = app.page("/f/demo/thanks").await;
    assert!(
        thanks.contains("content=\"2;url=https://example.com/next?a=1\""),
        "{thanks}"
    );

    // The projector and presenter mode wear it too; the test server's
    // address is this machine's, which phones could not open.
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => sqlx::query(
        "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
         SELECT organization_id, id, 'Launch', $1, $1 FROM forms WHERE slug = 'demo'")
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    let event = app
        .count("SELECT id FROM events WHERE name = 'Launch'")
        .await;
    let present = app.page(&format!("/events/{event}/present")).await;
    assert!(present.contains("presenter") && present.contains("<svg"));
    assert!(present.contains("accent-00aa77.css") && present.contains("data:image/png"));
    assert!(
        present.contains("points to this computer (localhost)"),
        "{present}"
    );
    assert!(!present.contains("class=\"topbar\""), "no app navigation");
    assert!(present.contains("Yes, end the event"));
    let live = app.page(&format!("/events/{event}/live")).await;
    assert!(live.contains("Presenter mode") && live.contains("data:image/png"));
}

#[tokio::test]
async fn a_new_organization_gets_a_starter_form_and_a_checklist_that_ticks_and_hides() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/signup"))
        .form(&[
            ("name", "Sam Starter"),
            ("email", "sam@starter.test"),
            ("password", "correct horse battery"),
            ("organization", "Starter Co"),
            ("kind", "business"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let form = app
        .count("SELECT f.id FROM forms f JOIN organizations o ON o.id = f.organization_id WHERE o.name = 'Starter Co'")
        .await;
    assert_eq!(
        labels(&app, form).await,
        [
            "Name",
            "Email",
            "Phone",
            "Yes, you may contact me about this."
        ]
    );
    let home = app.page("/").await;
    assert!(home.contains("Getting started") && home.contains("Adjust your form"));
    assert!(!home.contains("Add your locations"), "not a franchise HQ");
    assert!(home.contains("<a href=\"/forms\">Adjust your form</a>"));
    // A question of their own ticks the first item.
    let csrf = app
        .csrf_as(&app.client, &format!("/forms/{form}/edit"))
        .await;
    let res = app
        .post_as(
            &app.client,
            &format!("/forms/{form}/fields"),
            &[
                ("_csrf", &csrf),
                ("op", "add"),
                ("kind", "text"),
                ("label", "Budget"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let home = app.page("/").await;
    assert!(home.contains("<s>Adjust your form</s>"), "{home}");
    // Hidden by hand, it stays hidden.
    let csrf = app.csrf_as(&app.client, "/").await;
    let res = app
        .post_as(&app.client, "/home/checklist", &[("_csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert!(!app.page("/").await.contains("Getting started"));
}
