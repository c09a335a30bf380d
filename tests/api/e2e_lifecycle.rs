//! Merging and the trash in real headless Chromium on a 390 × 844 phone
//! (plain forms, which work the same with JavaScript on or off; a WebDriver
//! script cannot run in a page with JavaScript off, and the width check
//! needs one): a duplicate found and merged from the
//! prospect page, the prospect deleted from its page, then restored from
//! the trash; nothing scrolls sideways.

use fantoccini::{Client, Locator};

use crate::{
    e2e::{browser_with, chromedriver, click, sign_in, type_into, wait_for_text},
    helpers::spawn_app,
    prospect_list::add,
};

async fn fits(client: &Client, what: &str) {
    let width = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width[1].as_i64(), Some(390), "a phone's viewport");
    assert!(
        width[0].as_i64().unwrap() <= 390,
        "{what} scrolls sideways: {width}"
    );
}

#[tokio::test]
async fn merge_then_delete_and_restore_on_a_phone() {
    let app = spawn_app().await;
    app.sign_in().await;
    let keep = add(&app, "Dana Keep", "dana@example.com", "", "", "new", "").await;
    let dup = add(
        &app,
        "Dana Duplicate",
        "dana.dup@example.com",
        "+1 555 010 4444",
        "",
        "new",
        "",
    )
    .await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser_with(&driver, true, profile.path(), true).await;
    sign_in(&client, &app).await;

    // From the prospect page: find the duplicate, confirm, merge.
    client
        .goto(&app.url(&format!("/prospects/{keep}")))
        .await
        .unwrap();
    click(&client, Locator::LinkText("Merge a duplicate")).await;
    wait_for_text(&client, "h1", "Merge another prospect into Dana Keep").await;
    type_into(&client, "merge-q", "dup").await;
    click(&client, Locator::Css("form.search button[type=submit]")).await;
    wait_for_text(&client, "ul.prospects", "Dana Duplicate").await;
    fits(&client, "the merge search").await;
    click(&client, Locator::Css("ul.prospects a")).await;
    wait_for_text(&client, "h1", "Merge Dana Duplicate into Dana Keep?").await;
    fits(&client, "the merge confirmation").await;
    click(&client, Locator::Css("form button.primary")).await;
    wait_for_text(&client, "h1", "Dana Keep").await;
    wait_for_text(&client, "dl.facts", "+1 555 010 4444").await;
    wait_for_text(&client, "ol.timeline", "dana.dup@example.com").await;
    fits(&client, "the merged prospect").await;
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {dup}"))
            .await,
        0
    );

    // Delete it from its page (a confirmation), then restore it.
    click(
        &client,
        Locator::Css("form[action='/prospects/bulk'] button"),
    )
    .await;
    wait_for_text(&client, "h1", "Delete 1 prospect?").await;
    fits(&client, "the delete confirmation").await;
    click(&client, Locator::Css("form button.danger")).await;
    wait_for_text(&client, "p.notice", "Moved to the trash").await;
    client.goto(&app.url("/prospects/trash")).await.unwrap();
    wait_for_text(&client, "ul.trash", "Dana Keep").await;
    wait_for_text(&client, "ul.trash", "30 days left").await;
    fits(&client, "the trash").await;
    click(
        &client,
        Locator::Css(&format!(
            "form[action='/prospects/trash/{keep}/restore'] button"
        )),
    )
    .await;
    wait_for_text(&client, "h1", "Dana Keep").await;
    wait_for_text(&client, "ol.timeline", "Restored from the trash").await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {keep} AND deleted_at IS NULL"
        ))
        .await,
        1
    );
    client.close().await.unwrap();
}
