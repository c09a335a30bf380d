//! The rep's day in real headless Chromium, on a 390 × 844 phone and a
//! 1280 × 800 desktop: add a follow-up on a prospect, see it on the home
//! page, mark it done there; nothing scrolls sideways.

use fantoccini::{Client, ClientBuilder, Locator};

use crate::{
    e2e::{Driver, chromedriver, chromedriver_in, click, type_into, wait_for_text},
    helpers::*,
    tasks::quick_add,
};

async fn browser(driver: &Driver, profile: &std::path::Path, phone: bool) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let size = if phone { "390,844" } else { "1280,800" };
    let mut options = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", format!("--window-size={size}"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Ok(binary) = std::env::var("CHROMIUM") {
        options["binary"] = binary.into();
    }
    if phone {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0 },
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("chromium session")
}

async fn fits(client: &Client, what: &str) {
    let width = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        width[0].as_i64().unwrap() <= width[1].as_i64().unwrap(),
        "{what} scrolls sideways: {width}"
    );
}

async fn day_of_a_rep(phone: bool) {
    let app = spawn_app().await;
    app.sign_in().await;
    let name = if phone { "Pia Phone" } else { "Dee Desk" };
    let prospect = quick_add(&app, &app.client, name, "rep-day@example.com").await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path(), phone).await;
    client.goto(&app.url("/signin")).await.unwrap();
    type_into(&client, "email", &app.demo.email).await;
    type_into(&client, "password", &app.demo.password).await;
    click(&client, Locator::Css("button[type=submit]")).await;
    wait_for_text(&client, "h1", "Good day").await;
    let width = client
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    let width = width.as_i64().unwrap();
    if phone {
        assert_eq!(width, 390, "a phone's viewport");
    } else {
        // The window is 1280 wide; the page gets it less any scroll bar.
        assert!(
            (1200..=1280).contains(&width),
            "a desktop's viewport: {width}"
        );
    }

    // A follow-up due an hour ago (the demo organization's zone is UTC).
    client
        .goto(&app.url(&format!("/prospects/{prospect}")))
        .await
        .unwrap();
    wait_for_text(&client, "h1", name).await;
    click(&client, Locator::Css("#tasks details summary")).await;
    let due = chrono::Utc::now() - chrono::Duration::hours(1);
    client
        .execute(
            "document.getElementById('task-due').value = arguments[0];",
            vec![serde_json::json!(due.format("%Y-%m-%dT%H:%M").to_string())],
        )
        .await
        .unwrap();
    client
        .find(Locator::Css("#task-kind option[value=email]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    type_into(&client, "task-note", "Send the price list").await;
    fits(&client, "the prospect page with its form open").await;
    click(&client, Locator::Css("#add-task button[type=submit]")).await;
    wait_for_text(&client, "#tasks", "Send the price list").await;
    wait_for_text(&client, "#tasks", "overdue").await;
    fits(&client, "the prospect page with a task").await;

    // Home shows it; Done there takes it off.
    client.goto(&app.url("/")).await.unwrap();
    wait_for_text(&client, "#today", "Send the price list").await;
    wait_for_text(&client, "#today", name).await;
    fits(&client, "the home page").await;
    click(&client, Locator::Css("#today form[action$='/done'] button")).await;
    wait_for_text(&client, "#today", "No follow-up due today").await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM tasks WHERE done_at IS NOT NULL AND note = 'Send the price list'"
        )
        .await,
        1
    );
    fits(&client, "the home page after done").await;
    client.goto(&app.url("/notifications")).await.unwrap();
    wait_for_text(&client, "h1", "Notifications").await;
    fits(&client, "the notifications page").await;
    client.goto(&app.url("/account")).await.unwrap();
    wait_for_text(&client, "#preferences", "Your time zone").await;
    fits(&client, "the account page").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_rep_adds_a_follow_up_and_finishes_it_from_home_on_a_phone() {
    day_of_a_rep(true).await;
}

#[tokio::test]
async fn a_rep_adds_a_follow_up_and_finishes_it_from_home_on_a_desktop() {
    day_of_a_rep(false).await;
}

/// Sign-up takes the browser's time zone (`Intl`, through `rally.js`):
/// a browser in Tokyo makes a person and an organization in Asia/Tokyo,
/// and the account page and its times say so.
#[tokio::test]
async fn sign_up_takes_the_browsers_time_zone() {
    let app = spawn_app().await;
    let driver = chromedriver_in(Some("Asia/Tokyo")).await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path(), false).await;
    client.goto(&app.url("/signup")).await.unwrap();
    let zone = client
        .execute(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(zone, serde_json::json!("Asia/Tokyo"), "the browser's zone");
    type_into(&client, "name", "Toshi Tokyo").await;
    type_into(&client, "email", "toshi@tokyo.test").await;
    type_into(&client, "password", "a long enough password").await;
    type_into(&client, "organization", "Tokyo Team").await;
    click(
        &client,
        Locator::Css("input[name=kind][value=direct_sales]"),
    )
    .await;
    click(&client, Locator::Css("button[type=submit]")).await;
    wait_for_text(&client, "h1", "Your account").await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'toshi@tokyo.test' AND time_zone = 'Asia/Tokyo'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Tokyo Team' AND time_zone = 'Asia/Tokyo'")
            .await,
        1
    );
    client.goto(&app.url("/people")).await.unwrap();
    wait_for_text(&client, "main", "· Asia/Tokyo").await;
    client.close().await.unwrap();
}
