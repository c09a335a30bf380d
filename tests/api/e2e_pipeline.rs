//! The pipeline and the prospect list in real headless Chromium (the set-up
//! of `e2e.rs`), on a 390 × 844 phone and a 1280 × 800 desk: a card moved
//! without JavaScript (its select and "Move") and with it (dragged onto a
//! column), the list filtered through its form, two prospects assigned in
//! bulk; and no new page wider than the window.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::{
    e2e::{browser_with, chromedriver, click, sign_in, wait_for_text},
    helpers::{TestApp, spawn_app},
    people::join,
    prospect_list::add,
};

/// The page is no wider than the window (nothing scrolls sideways).
async fn fits(browser: &Client, what: &str) {
    let width = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth, location.pathname];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        width[0].as_i64().unwrap() <= width[1].as_i64().unwrap(),
        "{what}: {width} (scrollWidth, innerWidth, path)"
    );
}

async fn stage_of(app: &TestApp, id: i64) -> String {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar::<_, String>("SELECT stage FROM prospects WHERE id = $1")
        .bind(id)
        .fetch_one(p)
        .await
        .unwrap())
}

async fn wait_for_stage(app: &TestApp, id: i64, stage: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stage_of(app, id).await != stage {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never reached {stage}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Picks `value` in the select `css` (works with JavaScript off: a click
/// on the option).
async fn choose(browser: &Client, css: &str, value: &str) {
    click(
        browser,
        Locator::Css(&format!("{css} option[value=\"{value}\"]")),
    )
    .await;
}

#[tokio::test]
async fn pipeline_moves_filters_and_bulk_assign_on_a_phone_and_a_desk() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (_rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let driver = chromedriver().await;
    let profiles = tempfile::tempdir().unwrap();
    let mut round = 0;
    // JavaScript off is tried at the desk's size: Chromium's phone
    // emulation with JavaScript off hangs the WebDriver session here.
    for (width, height, javascript) in [
        (1280u32, 800u32, false),
        (1280, 800, true),
        (390, 844, true),
    ] {
        {
            round += 1;
            let what = format!(
                "{width}×{height}, JavaScript {}",
                if javascript { "on" } else { "off" }
            );
            let a = add(
                &app,
                &format!("Mover {round}"),
                &format!("mover{round}@example.com"),
                "",
                "",
                "new",
                "",
            )
            .await;
            let b = add(
                &app,
                &format!("Picked {round}"),
                &format!("picked{round}@example.com"),
                "",
                "",
                "hot",
                "",
            )
            .await;
            let c = add(
                &app,
                &format!("Chosen {round}"),
                &format!("chosen{round}@example.com"),
                "",
                "",
                "hot",
                "",
            )
            .await;
            let phone = width == 390;
            let browser = browser_with(
                &driver,
                javascript,
                &profiles.path().join(format!("p{round}")),
                phone,
            )
            .await;
            if !phone {
                browser.set_window_size(width, height).await.unwrap();
            }
            sign_in(&browser, &app).await;
            let inner = browser
                .execute("return window.innerWidth;", vec![])
                .await
                .unwrap();
            assert_eq!(
                inner.as_u64().unwrap() as u32,
                width,
                "{what}: the window's width"
            );

            // The board.
            browser.goto(&app.url("/pipeline")).await.unwrap();
            wait_for_text(&browser, "h1", "Pipeline").await;
            fits(&browser, &format!("/pipeline, {what}")).await;
            if javascript {
                // Dragged onto the Engaged column: the card's form is sent
                // and htmx swaps the board in place (no navigation).
                browser
                    .execute(
                        "var card = document.querySelector('.card-item[data-id=\"' + arguments[0] + '\"]');
                         var column = document.querySelector('.column[data-stage=\"engaged\"]');
                         var data = new DataTransfer();
                         card.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: data }));
                         column.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
                         column.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
                         card.dispatchEvent(new DragEvent('dragend', { bubbles: true, dataTransfer: data }));
                         window.rallyMarker = 'still here';",
                        vec![serde_json::json!(a.to_string())],
                    )
                    .await
                    .unwrap();
                wait_for_stage(&app, a, "engaged").await;
                wait_for_text(
                    &browser,
                    ".column[data-stage=\"engaged\"]",
                    &format!("Mover {round}"),
                )
                .await;
                let marker = browser
                    .execute("return window.rallyMarker || null;", vec![])
                    .await
                    .unwrap();
                assert_eq!(
                    marker,
                    serde_json::json!("still here"),
                    "{what}: swapped in place"
                );
            } else {
                choose(&browser, &format!("#stage-{a}"), "engaged").await;
                click(
                    &browser,
                    Locator::Css(&format!("#move-{a} button[type=submit]")),
                )
                .await;
                wait_for_stage(&app, a, "engaged").await;
                wait_for_text(
                    &browser,
                    ".column[data-stage=\"engaged\"]",
                    &format!("Mover {round}"),
                )
                .await;
                assert_eq!(browser.current_url().await.unwrap().path(), "/pipeline");
            }
            fits(&browser, &format!("/pipeline after a move, {what}")).await;
            let detail = app.page(&format!("/prospects/{a}")).await;
            assert!(
                detail.contains("Stage new → <strong>engaged</strong>"),
                "{what}"
            );

            // Filter through the form: hot ones only.
            browser.goto(&app.url("/prospects")).await.unwrap();
            wait_for_text(&browser, "h1", "Prospects").await;
            fits(&browser, &format!("/prospects, {what}")).await;
            click(&browser, Locator::Css("details.filters summary")).await;
            choose(&browser, "#f-stage", "hot").await;
            click(&browser, Locator::Css("#filters button[type=submit]")).await;
            wait_for_text(&browser, "#total", "match").await;
            let listed = browser
                .find(Locator::Id("prospect-results"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                listed.contains(&format!("Picked {round}"))
                    && !listed.contains(&format!("Mover {round}")),
                "{what}: {listed}"
            );
            fits(&browser, &format!("/prospects?stage=hot, {what}")).await;

            // Bulk-assign the two ticked to the rep.
            for id in [b, c] {
                click(
                    &browser,
                    Locator::Css(&format!("input.pick[value=\"{id}\"]")),
                )
                .await;
            }
            choose(&browser, "#bulk-action", "assign").await;
            choose(&browser, "#bulk-owner", &rep_id.to_string()).await;
            click(&browser, Locator::Css("#bulk button[type=submit]")).await;
            wait_for_text(&browser, "p.notice", "Assigned").await;
            assert_eq!(
                app.count(&format!("SELECT COUNT(*) FROM prospects WHERE owner_user_id = {rep_id} AND id IN ({b}, {c})")).await,
                2,
                "{what}"
            );
            assert_eq!(
                app.count(&format!(
                    "SELECT COUNT(*) FROM prospects WHERE owner_user_id = {rep_id}"
                ))
                .await,
                2 * (round as i64),
                "{what}: only the two ticked"
            );
            fits(&browser, &format!("/prospects after bulk, {what}")).await;
            // The delete confirmation fits too.
            browser.goto(&app.url("/prospects")).await.unwrap();
            click(
                &browser,
                Locator::Css(&format!("input.pick[value=\"{a}\"]")),
            )
            .await;
            choose(&browser, "#bulk-action", "delete").await;
            click(&browser, Locator::Css("#bulk button[type=submit]")).await;
            wait_for_text(&browser, "h1", "Delete 1 prospect?").await;
            fits(&browser, &format!("delete confirmation, {what}")).await;
            browser.close().await.unwrap();
        }
    }
}
