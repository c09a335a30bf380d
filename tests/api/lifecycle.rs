//! A prospect's lifecycle (#15 §2): deletion is soft (the trash, hidden
//! everywhere, restorable for 30 days, then erased by the daily schedule,
//! or at once by the owner), an email can be corrected (merging when the
//! address is another prospect's), and prospects can be merged by hand;
//! a redelivered submission of a merged-away person changes nothing.

use crate::{
    helpers::{ANA, TestApp, spawn_app},
    prospect_list::add,
};

const DAY: i64 = 24 * 3600 * 1000;

async fn post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = app.csrf_as(&app.client, "/account").await;
    let mut form = vec![("_csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_as(&app.client, path, &form).await
}

async fn delete(app: &TestApp, id: i64) {
    let id = id.to_string();
    let res = post(
        app,
        "/prospects/bulk",
        &[
            ("action", "delete"),
            ("id", &id),
            ("confirm", "yes"),
            ("expect", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "delete {id}");
}

async fn text(app: &TestApp, sql: &str) -> Option<String> {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_optional(p)
        .await
        .unwrap())
}

async fn add_task(app: &TestApp, id: i64, note: &str) {
    let res = post(
        app,
        &format!("/prospects/{id}/tasks"),
        &[
            ("kind", "call"),
            ("due", "2020-01-01T09:00"),
            ("note", note),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "task on {id}");
}

#[tokio::test]
async fn deleted_prospects_vanish_everywhere_until_restored() {
    let app = spawn_app().await;
    app.sign_in().await;
    let gone = add(
        &app,
        "Gone Person",
        "gone@example.com",
        "",
        "",
        "hot",
        "vip",
    )
    .await;
    let kept = add(&app, "Kept Person", "kept@example.com", "", "", "hot", "").await;
    add_task(&app, gone, "Call the gone one").await;
    for page in ["/prospects", "/pipeline", "/"] {
        assert!(app.page(page).await.contains("Gone Person"), "{page}");
    }
    delete(&app, gone).await;

    assert_eq!(app.get(&format!("/prospects/{gone}")).await.status(), 404);
    assert_eq!(
        app.get(&format!("/prospects/{gone}/edit")).await.status(),
        404
    );
    for page in [
        "/prospects",
        "/prospects?q=gone",
        "/prospects?tag=vip",
        "/prospects?stage=hot",
        "/pipeline",
        "/",
        "/prospects/export.csv",
    ] {
        let body = app.page(page).await;
        assert!(
            !body.contains("Gone Person") && !body.contains("gone@example.com"),
            "{page} shows the deleted prospect"
        );
        assert!(
            body.contains("Kept Person") || page.contains("gone") || page.contains("vip"),
            "{page}"
        );
    }
    assert!(
        !app.page("/").await.contains("Call the gone one"),
        "the home page lists a deleted prospect's task"
    );
    // The trash lists it with the days left.
    let trash = app.page("/prospects/trash").await;
    assert!(
        trash.contains("Gone Person") && trash.contains("30 days left"),
        "{trash}"
    );
    assert!(!trash.contains("Kept Person"));

    // Restored: back everywhere, with its tag, task and a timeline entry.
    let res = post(&app, &format!("/prospects/trash/{gone}/restore"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/prospects/{gone}"));
    let page = app.page(&format!("/prospects/{gone}")).await;
    assert!(
        page.contains("Restored from the trash") && page.contains("Deleted by"),
        "{page}"
    );
    assert!(app.page("/prospects?tag=vip").await.contains("Gone Person"));
    assert!(app.page("/").await.contains("Call the gone one"));
    assert!(!app.page("/prospects/trash").await.contains("Gone Person"));
    // Restoring again: not in the trash.
    let res = post(&app, &format!("/prospects/trash/{gone}/restore"), &[]).await;
    assert_eq!(res.status(), 404);
    let _ = kept;
}

#[tokio::test]
async fn a_deleted_person_can_come_back_and_restore_offers_a_merge() {
    let app = spawn_app().await;
    app.sign_in().await;
    let old = add(
        &app,
        "Old Name",
        "back@example.com",
        "+1 555 010 1111",
        "",
        "new",
        "old-tag",
    )
    .await;
    delete(&app, old).await;
    // The address is free among live prospects: the person comes back as
    // a new prospect, through quick add and through the form alike.
    let new = add(&app, "Back Again", "back@example.com", "", "", "new", "").await;
    assert_ne!(new, old);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'back@example.com'")
            .await,
        2
    );
    // Restoring the old one now offers to merge it into the live one.
    let res = post(&app, &format!("/prospects/trash/{old}/restore"), &[]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Merge Old Name into Back Again?"), "{page}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {old} AND deleted_at IS NOT NULL"
        ))
        .await,
        1,
        "nothing changed before the confirmation"
    );
    let res = post(
        &app,
        &format!("/prospects/trash/{old}/restore"),
        &[("merge", "yes")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/prospects/{new}"));
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {old}"))
            .await,
        0
    );
    // The live one kept its values and filled its blanks (the phone),
    // took the tag and the old timeline.
    let page = app.page(&format!("/prospects/{new}")).await;
    assert!(
        page.contains("Back Again") && page.contains("+1 555 010 1111") && page.contains("old-tag"),
        "{page}"
    );
    assert!(page.contains("Merged"), "{page}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id = {new} AND kind = 'deleted'"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn the_trash_is_erased_after_30_days() {
    let app = spawn_app().await;
    app.sign_in().await;
    let gone = add(
        &app,
        "Erased Person",
        "erased@example.com",
        "",
        "",
        "new",
        "tagged",
    )
    .await;
    let kept = add(&app, "Kept Person", "kept@example.com", "", "", "new", "").await;
    add_task(&app, gone, "A task").await;
    let res = post(
        &app,
        &format!("/prospects/{gone}/notes"),
        &[("note", "A note")],
    )
    .await;
    assert_eq!(res.status(), 303);
    delete(&app, gone).await;
    let deleted_at = app
        .count(&format!(
            "SELECT deleted_at FROM prospects WHERE id = {gone}"
        ))
        .await;

    // Not yet: a day short.
    let erased = rally::prospects::lifecycle::erase_expired(&app.pool, deleted_at + 29 * DAY)
        .await
        .unwrap();
    assert_eq!(erased, 0);
    assert!(app.page("/prospects/trash").await.contains("Erased Person"));
    // Thirty days on, the daily run erases it and all that was its.
    let erased = rally::prospects::lifecycle::erase_expired(&app.pool, deleted_at + 30 * DAY)
        .await
        .unwrap();
    assert_eq!(erased, 1);
    for table in [
        "prospects WHERE id",
        "timeline_entries WHERE prospect_id",
        "prospect_tags WHERE prospect_id",
        "tasks WHERE prospect_id",
    ] {
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM {table} = {gone}"))
                .await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {kept}"))
            .await,
        1
    );
    // The audit log says that an erase happened, and nothing personal.
    let detail = text(
        &app,
        "SELECT detail FROM audit_log WHERE action = 'prospects_erased'",
    )
    .await
    .expect("an audit entry");
    assert!(detail.starts_with("1 prospect erased"), "{detail}");
    let log = app.page("/people/audit").await;
    assert!(!log.contains("erased@example.com") && !log.contains("Erased Person"));
    // A second run finds nothing.
    let erased = rally::prospects::lifecycle::erase_expired(&app.pool, deleted_at + 31 * DAY)
        .await
        .unwrap();
    assert_eq!(erased, 0);
}

#[tokio::test]
async fn the_owner_erases_at_once_after_confirming() {
    let app = spawn_app().await;
    app.sign_in().await;
    let gone = add(&app, "Forget Me", "forget@example.com", "", "", "new", "").await;
    delete(&app, gone).await;
    let res = post(&app, &format!("/prospects/trash/{gone}/erase"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Erase Forget Me for good?")
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {gone}"))
            .await,
        1
    );
    let res = post(
        &app,
        &format!("/prospects/trash/{gone}/erase"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {gone} OR email = 'forget@example.com'"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id = {gone}"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'prospects_erased'")
            .await,
        1
    );
    // A live prospect is not erased from here (delete it first).
    let live = add(&app, "Live One", "live@example.com", "", "", "new", "").await;
    let res = post(
        &app,
        &format!("/prospects/trash/{live}/erase"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_corrected_email_moves_the_key_and_merges_on_collision() {
    let app = spawn_app().await;
    app.sign_in().await;
    let typo = add(
        &app,
        "Ann Typo",
        "ann@exmaple.com",
        "+1 555 010 2222",
        "",
        "contacted",
        "",
    )
    .await;
    let real = add(
        &app,
        "Ann Real",
        "ann@example.com",
        "",
        "Real Co",
        "new",
        "real-tag",
    )
    .await;
    let edit = |email: &'static str, merge: &'static str| {
        let app = &app;
        async move {
            post(
                app,
                &format!("/prospects/{typo}/edit"),
                &[
                    ("name", "Ann Typo"),
                    ("email", email),
                    ("phone", "+1 555 010 2222"),
                    ("company", ""),
                    ("stage", "contacted"),
                    ("tags", ""),
                    ("merge", merge),
                ],
            )
            .await
        }
    };
    // Bad input: the form again with what was typed.
    let res = edit("ann@", "").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("value=\"ann@\""));
    // A free address: the key follows, on the timeline.
    let res = edit("Ann.Moved@Example.com", "").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        text(
            &app,
            &format!("SELECT email FROM prospects WHERE id = {typo}")
        )
        .await
        .unwrap(),
        "ann.moved@example.com"
    );
    let page = app.page(&format!("/prospects/{typo}")).await;
    assert!(page.contains("Email corrected from"), "{page}");
    // Another prospect's address: a confirmation naming both, nothing changed.
    let res = edit("ANN@example.com", "").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Merge Ann Real into Ann Typo?"), "{page}");
    assert!(page.contains("name=\"merge\" value=\"yes\""), "{page}");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {real}"))
            .await,
        1
    );
    // Confirmed: merged into the one edited, which takes the address.
    let res = edit("ANN@example.com", "yes").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/prospects/{typo}"));
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM prospects WHERE id = {real}"))
            .await,
        0
    );
    assert_eq!(
        text(
            &app,
            &format!("SELECT email FROM prospects WHERE id = {typo}")
        )
        .await
        .unwrap(),
        "ann@example.com"
    );
    let page = app.page(&format!("/prospects/{typo}")).await;
    assert!(
        page.contains("Real Co") && page.contains("real-tag") && page.contains("Merged"),
        "{page}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'prospects_merged'")
            .await,
        1
    );
}

#[tokio::test]
async fn merging_by_hand_moves_everything_and_a_redelivery_stays_merged() {
    let app = spawn_app().await;
    app.sign_in().await;
    // Ana through the form, and again by hand under another address.
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let from_form = app
        .count("SELECT id FROM prospects WHERE email = 'ana@example.com'")
        .await;
    let key = text(
        &app,
        &format!("SELECT submission_key FROM timeline_entries WHERE prospect_id = {from_form} AND kind = 'form_submission'"),
    )
    .await
    .expect("a submission key");
    let survivor = add(
        &app,
        "Ana L.",
        "ana.lima@example.com",
        "",
        "",
        "engaged",
        "by-hand",
    )
    .await;
    add_task(&app, from_form, "Follow Ana up").await;
    let res = post(
        &app,
        &format!("/prospects/{from_form}/notes"),
        &[("note", "Met at the fair")],
    )
    .await;
    assert_eq!(res.status(), 303);

    // Search, then the confirmation with both side by side.
    let page = app
        .page(&format!("/prospects/{survivor}/merge?q=ana"))
        .await;
    assert!(
        page.contains(&format!("/prospects/{survivor}/merge?other={from_form}")),
        "{page}"
    );
    assert!(!page.contains(&format!("other={survivor}")), "not itself");
    let page = app
        .page(&format!("/prospects/{survivor}/merge?other={from_form}"))
        .await;
    assert!(page.contains("Merge Ana Lima into Ana L.?"), "{page}");
    // A bad id is the form again.
    let res = post(
        &app,
        &format!("/prospects/{survivor}/merge"),
        &[("other", "ana")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let other = from_form.to_string();
    let res = post(
        &app,
        &format!("/prospects/{survivor}/merge"),
        &[("other", &other)],
    )
    .await;
    assert_eq!(res.status(), 200, "a confirmation first");
    let res = post(
        &app,
        &format!("/prospects/{survivor}/merge"),
        &[("other", &other), ("confirm", "yes")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {from_form}"
        ))
        .await,
        0,
        "deleted for good, not to the trash"
    );
    let page = app.page(&format!("/prospects/{survivor}")).await;
    for expected in [
        "Ana L.",          // its own name kept
        "+1 555 010 9999", // the blank phone filled
        "Lima &amp; Co",   // and the company
        "Met at the fair", // the note moved
        "Follow Ana up",   // the task moved
        "The live demo",   // the submission's answers moved
        "ana@example.com", // named in the merge entry
        "by-hand",
    ] {
        assert!(page.contains(expected), "{expected}: {page}");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id = {survivor} AND kind = 'merged'"
        ))
        .await,
        1
    );

    // The form's job delivered again: recognised by its key, nothing new.
    let form_id = app.count("SELECT id FROM forms WHERE slug = 'demo'").await;
    let input = rally::intake::model::FormInput {
        name: "Ana Lima".into(),
        email: "Ana@Example.com".into(),
        phone: "+1 555 010 9999".into(),
        company: "Lima & Co".into(),
        interest: "The live demo".into(),
        consent: true,
        values: Vec::new(),
    };
    let job = rally::intake::jobs::FormSubmission {
        form_id,
        submission_key: key.clone(),
        answers: input.parse().unwrap(),
        submitted_at: rally::platform::db::now_ms(),
        organization_id: None,
    };
    rally::intake::jobs::process_submission(&app.pool, &app.queue(), job)
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'ana@example.com'")
            .await,
        0,
        "the merged-away person is not created again"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE submission_key = '{key}'"
        ))
        .await,
        1
    );
}
