//! A form keyed by phone (issue 15 §4): its owner chooses phone as the
//! dedupe key; the builder then keeps the phone field, required, and lets
//! the email go optional. A submission without an email is one person per
//! phone number, however it was typed; one with an email is keyed by the
//! email, as on every other form. The builder refuses a phone key without a
//! required phone field, with the form back and its message.

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

/// Saves the form's settings with this dedupe key (`email` or `phone`).
async fn key_by(app: &TestApp, form: i64, key: &str) -> reqwest::Response {
    let path = format!("/forms/{form}/edit");
    let csrf = app.csrf_as(&app.client, &path).await;
    app.post_as(
        &app.client,
        &path,
        &[
            ("_csrf", csrf.as_str()),
            ("title", "Open day sign-up"),
            ("intro", ""),
            ("thank_you", ""),
            ("redirect_url", ""),
            ("dedupe_key", key),
        ],
    )
    .await
}

async fn stored_key(app: &TestApp, form: i64) -> String {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT dedupe_key FROM forms WHERE id = $1")
        .bind(form)
        .fetch_one(p)
        .await
        .unwrap())
}

async fn field_id(app: &TestApp, form: i64, key: &str) -> String {
    let id: i64 = rally::on_pool!(&app.pool, p => sqlx::query_scalar(
        "SELECT id FROM form_fields WHERE form_id = $1 AND key = $2")
        .bind(form)
        .bind(key)
        .fetch_one(p)
        .await
        .unwrap());
    id.to_string()
}

async fn required(app: &TestApp, form: i64, key: &str) -> bool {
    app.count(&format!(
        "SELECT COUNT(*) FROM form_fields WHERE form_id = {form} AND key = '{key}' AND required"
    ))
    .await
        == 1
}

/// The demo form keyed by phone: its fields stored (a custom field added),
/// the phone made required, the key set, the email made optional.
async fn phone_keyed_demo(app: &TestApp) -> i64 {
    let form = demo_form(app).await;
    let res = change(
        app,
        form,
        &[("op", "add"), ("kind", "text"), ("label", "Table number")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let phone = field_id(app, form, "phone").await;
    let res = change(
        app,
        form,
        &[
            ("op", "save"),
            ("field", &phone),
            ("label", "Mobile"),
            ("required", "yes"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = key_by(app, form, "phone").await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(stored_key(app, form).await, "phone");
    let email = field_id(app, form, "email").await;
    let res = change(
        app,
        form,
        &[
            ("op", "save"),
            ("field", &email),
            ("label", "Email (optional)"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(!required(app, form, "email").await);
    form
}

/// (prospect id, email, phone key, name, company) of the live prospects
/// that came from the demo form.
async fn from_the_form(app: &TestApp) -> Vec<(i64, String, String, String, Option<String>)> {
    rally::on_pool!(&app.pool, p => sqlx::query_as(
        "SELECT id, email, phone_key, name, company FROM prospects
         WHERE source = 'form:demo' AND deleted_at IS NULL ORDER BY id")
        .fetch_all(p)
        .await
        .unwrap())
}

async fn submissions_of(app: &TestApp, prospect: i64) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id = {prospect} AND kind = 'form_submission'"
    ))
    .await
}

#[tokio::test]
async fn a_phone_keyed_form_is_one_prospect_per_phone_and_email_still_wins() {
    let app = spawn_app().await;
    app.sign_in().await;
    let form = phone_keyed_demo(&app).await;
    let public = app.page("/f/demo").await;
    assert!(public.contains("Email (optional)") && public.contains("Mobile"));

    // The same person twice, the number typed two ways, no email.
    let status = app
        .submit(&[("name", "Ana"), ("phone", "+34 612 34 56 78")])
        .await;
    assert_eq!(status, 303);
    let status = app
        .submit(&[
            ("name", "Ana"),
            ("phone", "+34612345678"),
            ("company", "Acme"),
        ])
        .await;
    assert_eq!(status, 303);
    app.drain().await;
    let people = from_the_form(&app).await;
    assert_eq!(people.len(), 1, "{people:?}");
    let (ana, email, phone_key, name, company) = people[0].clone();
    assert_eq!((email.as_str(), phone_key.as_str()), ("", "+34612345678"));
    // New answers fill blanks, never erase (in whichever order two
    // workers applied them).
    assert_eq!((name.as_str(), company.as_deref()), ("Ana", Some("Acme")));
    assert_eq!(submissions_of(&app, ana).await, 2);

    // Neither email nor phone: the form comes back, nothing stored.
    let tokens = app.form_tokens().await;
    let res = app.post_form(&tokens, &[("name", "Nobody")], false).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Please fill this in.") && page.contains("value=\"Nobody\""));

    // With an email, the email is the key: a prospect of its own (not
    // Ana's, whose number it gives), found again by its email whatever the
    // phone.
    let status = app
        .submit(&[
            ("name", "Bo"),
            ("email", "bo@example.com"),
            ("phone", "+34 612 34 56 78"),
        ])
        .await;
    assert_eq!(status, 303);
    let status = app
        .submit(&[
            ("name", "Bo"),
            ("email", "BO@example.com"),
            ("phone", "+34 699 00 00 00"),
        ])
        .await;
    assert_eq!(status, 303);
    app.drain().await;
    let people = from_the_form(&app).await;
    assert_eq!(people.len(), 2, "{people:?}");
    let bo = people.iter().find(|p| p.1 == "bo@example.com").unwrap();
    assert_eq!(bo.2, "", "an email-keyed prospect has no phone key");
    assert_eq!(submissions_of(&app, bo.0).await, 2);
    assert_eq!(submissions_of(&app, ana).await, 2);

    // Ana's page shows her phone and no empty email link; her edit keeps
    // her without an email.
    let page = app.page(&format!("/prospects/{ana}")).await;
    assert!(page.contains("+34 612 34 56 78") && !page.contains("href=\"mailto:\""));
    let list = app.page("/prospects").await;
    assert!(list.contains("Ana"));

    // Back to email: the email field is required again.
    let res = key_by(&app, form, "email").await;
    assert_eq!(res.status(), 303);
    assert_eq!(stored_key(&app, form).await, "email");
    assert!(required(&app, form, "email").await);
    let status = app
        .submit(&[("name", "Cy"), ("phone", "+34 600 11 22 33")])
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_builder_refuses_a_phone_key_without_a_required_phone_field() {
    let app = spawn_app().await;
    app.sign_in().await;
    let form = demo_form(&app).await;
    // The standard phone field is optional: refused, the form back with
    // its message and what was typed.
    let res = key_by(&app, form, "phone").await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("needs a required Phone field"), "{page}");
    assert!(page.contains("value=\"Open day sign-up\""));
    assert_eq!(stored_key(&app, form).await, "email");
    // Without a phone field at all: refused too.
    let res = change(
        &app,
        form,
        &[("op", "add"), ("kind", "text"), ("label", "Table number")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let phone = field_id(&app, form, "phone").await;
    assert_eq!(
        change(&app, form, &[("op", "remove"), ("field", &phone)])
            .await
            .status(),
        303
    );
    let res = key_by(&app, form, "phone").await;
    assert_eq!(res.status(), 422);
    assert_eq!(stored_key(&app, form).await, "email");
    // Nonsense as a key: the form back too.
    let res = key_by(&app, form, "fax").await;
    assert_eq!(res.status(), 422);

    // Keyed by phone, the phone field stays, and stays required; the
    // email may go.
    let res = change(
        &app,
        form,
        &[("op", "add"), ("kind", "std:phone"), ("required", "yes")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(key_by(&app, form, "phone").await.status(), 303);
    let phone = field_id(&app, form, "phone").await;
    let res = change(&app, form, &[("op", "remove"), ("field", &phone)]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("dedupe key"));
    let res = change(
        &app,
        form,
        &[("op", "save"), ("field", &phone), ("label", "Phone")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        required(&app, form, "phone").await,
        "the key's field stays required"
    );
    let email = field_id(&app, form, "email").await;
    assert_eq!(
        change(&app, form, &[("op", "remove"), ("field", &email)])
            .await
            .status(),
        303
    );
    // A form without an email field cannot go back to email.
    let res = key_by(&app, form, "email").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("needs the Email field"));
    assert_eq!(stored_key(&app, form).await, "phone");
    // And a submission to it is keyed by phone.
    assert_eq!(
        app.submit(&[("name", "Di"), ("phone", "0034 611 000 111")])
            .await,
        303
    );
    assert_eq!(
        app.submit(&[("name", "Di"), ("phone", "+34 611 000 111")])
            .await,
        303
    );
    app.drain().await;
    let people = from_the_form(&app).await;
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0].2, "+34611000111");
}
