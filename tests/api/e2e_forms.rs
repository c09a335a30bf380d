//! The form builder in real headless Chromium (the set-up of `e2e.rs`), on
//! a 390 × 844 phone: a form made, a choice and a consent field added and
//! moved with the builder's buttons, the public form sent once without the
//! required consent (the page comes back with the message and what was
//! typed) and then in full, and the answers shown on the prospect's page
//! with the labels they were given under.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::{
    e2e::{browser_with, chromedriver, click, sign_in, type_into, wait_for_text},
    helpers::{TestApp, spawn_app},
};

/// The page is no wider than the window (nothing scrolls sideways).
async fn fits(browser: &Client, what: &str) {
    let width = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        width[0].as_i64().unwrap() <= width[1].as_i64().unwrap(),
        "{what}: {width} (scrollWidth, innerWidth)"
    );
}

async fn labels_in_order(app: &TestApp, form: i64) -> Vec<String> {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar::<_, String>(
        "SELECT label FROM form_fields WHERE form_id = $1 ORDER BY position, id")
        .bind(form)
        .fetch_all(p)
        .await
        .unwrap())
}

async fn wait_for_count(app: &TestApp, sql: &'static str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.count(sql).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql} never reached {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_custom_form_built_on_a_phone_is_sent_and_its_answers_shown() {
    let app = spawn_app().await;
    app.sign_in().await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let browser = browser_with(&driver, true, profiles.path(), true).await;
    sign_in(&browser, &app).await;

    // A new form.
    browser.goto(&app.url("/forms")).await.unwrap();
    type_into(&browser, "form-title", "Open day").await;
    click(&browser, Locator::Css("section.card button.primary")).await;
    wait_for_text(&browser, "h1", "Edit form").await;
    let form = app
        .count("SELECT id FROM forms WHERE title = 'Open day'")
        .await;
    fits(&browser, "the builder").await;

    // A choice, then a consent, both required.
    click(&browser, Locator::Css("#new-kind option[value=\"choice\"]")).await;
    type_into(&browser, "new-label", "Which day suits you?").await;
    type_into(&browser, "new-options", "Saturday\nSunday").await;
    click(&browser, Locator::Id("new-required")).await;
    click(&browser, Locator::Css("#fields button.primary")).await;
    wait_for_text(&browser, "#fields", "Saturday").await;
    click(
        &browser,
        Locator::Css("#new-kind option[value=\"consent\"]"),
    )
    .await;
    type_into(&browser, "new-label", "Send me the open day newsletter.").await;
    click(&browser, Locator::Id("new-required")).await;
    click(&browser, Locator::Css("#fields button.primary")).await;
    wait_for_text(&browser, "#fields", "Send me the open day newsletter.").await;
    let choice = app
        .count("SELECT id FROM form_fields WHERE kind = 'choice'")
        .await;
    // The choice moves up above the standard consent.
    click(
        &browser,
        Locator::Css(&format!(
            "input[name=field][value=\"{choice}\"] ~ div.actions button[value=up]"
        )),
    )
    .await;
    wait_for_text(&browser, "h1", "Edit form").await;
    assert_eq!(
        labels_in_order(&app, form).await,
        [
            "Name",
            "Email",
            "Phone",
            "Company",
            "What are you interested in?",
            "Which day suits you?",
            "Yes, you may contact me about this.",
            "Send me the open day newsletter.",
        ]
    );
    fits(&browser, "the builder with its fields").await;

    // The public form: without the required consent it comes back.
    let slug: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar("SELECT slug FROM forms WHERE id = $1")
        .bind(form)
        .fetch_one(p)
        .await
        .unwrap());
    browser.goto(&app.url(&format!("/f/{slug}"))).await.unwrap();
    wait_for_text(&browser, "form", "Which day suits you?").await;
    fits(&browser, "the public form").await;
    type_into(&browser, "f-name", "Olive Day").await;
    type_into(&browser, "f-email", "olive@open.test").await;
    click(&browser, Locator::Id(&format!("f-f{choice}-1"))).await;
    click(&browser, Locator::Css("button[type=submit]")).await;
    wait_for_text(&browser, "form", "Please tick this box to continue.").await;
    let kept = browser
        .find(Locator::Id("f-name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Olive Day"), "the name typed is kept");
    let sunday = browser
        .find(Locator::Id(&format!("f-f{choice}-1")))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(sunday.as_deref(), Some("true"), "the choice made is kept");
    let consent = app
        .count("SELECT id FROM form_fields WHERE kind = 'consent' AND key IS NULL")
        .await;
    click(&browser, Locator::Id(&format!("f-f{consent}"))).await;
    click(&browser, Locator::Css("button[type=submit]")).await;
    wait_for_text(&browser, "main", "Thank you").await;

    // The answers, labelled, on the prospect.
    wait_for_count(
        &app,
        "SELECT COUNT(*) FROM prospects WHERE email = 'olive@open.test'",
        1,
    )
    .await;
    let prospect = app
        .count("SELECT id FROM prospects WHERE email = 'olive@open.test'")
        .await;
    browser
        .goto(&app.url(&format!("/prospects/{prospect}")))
        .await
        .unwrap();
    wait_for_text(&browser, "dl.answers", "Which day suits you?").await;
    let answers = browser
        .find(Locator::Css("dl.answers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "Which day suits you?",
        "Sunday",
        "Send me the open day newsletter.",
        "Olive Day",
    ] {
        assert!(answers.contains(shown), "{shown:?} in {answers:?}");
    }
    fits(&browser, "the prospect").await;

    // A later change of the label leaves the answer as it was given.
    rally::on_pool!(&app.pool, p => sqlx::query("UPDATE form_fields SET label = 'Pick a day' WHERE id = $1")
        .bind(choice)
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
    let page = app.page(&format!("/prospects/{prospect}")).await;
    assert!(page.contains("Which day suits you?") && !page.contains("Pick a day"));
    browser.close().await.unwrap();
}
