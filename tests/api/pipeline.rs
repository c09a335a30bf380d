//! `/pipeline`: columns by stage with counts, scoped as the list is; a card
//! moves with a plain POST (then back to the board) and each move is on the
//! prospect's timeline. On SQLite and on Postgres (`RALLY_TEST_POSTGRES`).

use crate::{
    helpers::{ANA, spawn_app},
    people::join,
    prospect_list::{add, exec},
};

/// The column of `stage` in a board page: from its section to the next.
fn column<'a>(page: &'a str, stage: &str) -> &'a str {
    let start = page
        .find(&format!("data-stage=\"{stage}\""))
        .unwrap_or_else(|| panic!("no {stage} column: {page}"));
    let rest = &page[start..];
    let end = rest[1..].find("<section").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

fn count_in(column: &str) -> i64 {
    let start = column.find("<span class=\"count\">").unwrap() + "<span class=\"count\">".len();
    column[start..start + column[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_board_shows_each_stage_with_its_count_and_moves_a_card() {
    let app = spawn_app().await;
    app.sign_in().await;
    let hot = add(&app, "Hana Hot", "hana@example.com", "", "", "hot", "").await;
    add(
        &app,
        "Cato Cust",
        "cato@example.com",
        "",
        "",
        "customer",
        "",
    )
    .await;
    add(&app, "Nell New", "nell@example.com", "", "", "new", "").await;
    let board = app.page("/pipeline").await;
    for stage in ["new", "contacted", "engaged", "hot", "customer", "lost"] {
        let expected = match stage {
            "new" | "hot" | "customer" => 1,
            _ => 0,
        };
        assert_eq!(count_in(column(&board, stage)), expected, "{stage}");
    }
    assert!(column(&board, "hot").contains(&format!("href=\"/prospects/{hot}\"")));
    // Each stage its own badge colour.
    assert!(
        board.contains("class=\"stage stage-hot\"") && board.contains("class=\"stage stage-lost\"")
    );

    // Moving without JavaScript: a POST, then back to the board as it was.
    let csrf = app.csrf_as(&app.client, "/pipeline").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{hot}/stage"),
            &[
                ("_csrf", csrf.as_str()),
                ("stage", "customer"),
                ("back", "/pipeline?owner=me"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/pipeline?owner=me");
    let board = app.page("/pipeline?owner=me").await;
    assert_eq!(count_in(column(&board, "hot")), 0);
    assert_eq!(count_in(column(&board, "customer")), 2);
    assert!(column(&board, "customer").contains("Hana Hot"));
    // On the timeline, once; moving to where it is records nothing.
    let detail = app.page(&format!("/prospects/{hot}")).await;
    assert!(
        detail.contains("Stage hot → <strong>customer</strong> by Demo Owner"),
        "{detail}"
    );
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{hot}/stage"),
            &[("_csrf", csrf.as_str()), ("stage", "customer")],
        )
        .await;
    assert_eq!(res.headers()["location"], "/pipeline");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id = {hot} AND kind = 'stage'"
        ))
        .await,
        2,
        "the edit to hot, then the one move"
    );
    // From the prospect's page, back to it; anywhere else is the board.
    for (back, location) in [
        (format!("/prospects/{hot}"), format!("/prospects/{hot}")),
        ("https://evil.example/".to_string(), "/pipeline".to_string()),
        ("//evil.example".to_string(), "/pipeline".to_string()),
        ("/pipeline?stage=nope".to_string(), "/pipeline".to_string()),
    ] {
        let res = app
            .post_as(
                &app.client,
                &format!("/prospects/{hot}/stage"),
                &[
                    ("_csrf", csrf.as_str()),
                    ("stage", "engaged"),
                    ("back", &back),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "{back}");
        assert_eq!(res.headers()["location"], location.as_str(), "{back}");
    }
    // The list's filters narrow the board too.
    let board = app.page("/pipeline?q=cato").await;
    assert_eq!(count_in(column(&board, "customer")), 1);
    assert_eq!(count_in(column(&board, "engaged")), 0);
}

#[tokio::test]
async fn a_member_sees_and_moves_only_their_own_cards() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let (rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let owners = add(&app, "Owners Lead", "owners@example.com", "", "", "hot", "").await;
    let mine = add(&app, "Reps Lead", "reps@example.com", "", "", "hot", "").await;
    exec(
        &app,
        &format!("UPDATE prospects SET owner_user_id = {rep_id} WHERE id = {mine}"),
    )
    .await;
    let board = app.page_as(&rep, "/pipeline").await;
    assert_eq!(count_in(column(&board, "hot")), 1);
    assert_eq!(
        count_in(column(&board, "new")),
        0,
        "Ana is nobody's: not on the member's board"
    );
    assert!(
        board.contains("Reps Lead")
            && !board.contains("Owners Lead")
            && !board.contains("Ana Lima")
    );
    // The unassigned ones, to claim from the list: shown, not movable.
    let unassigned = app.page_as(&rep, "/pipeline?owner=unassigned").await;
    assert!(unassigned.contains("Ana Lima") && !unassigned.contains("Reps Lead"));
    assert!(
        !unassigned.contains("/stage\""),
        "no move forms: {unassigned}"
    );
    let csrf = app.csrf_as(&rep, "/pipeline").await;
    let res = app
        .post_as(
            &rep,
            &format!("/prospects/{owners}/stage"),
            &[("_csrf", csrf.as_str()), ("stage", "lost")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = app
        .post_as(
            &rep,
            &format!("/prospects/{mine}/stage"),
            &[("_csrf", csrf.as_str()), ("stage", "lost")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE stage = 'lost'")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE stage = 'lost' AND id = {mine}"
        ))
        .await,
        1
    );
}
