//! Working prospects: quick add, edits with stage, owner and tags, notes,
//! CSV export, and what a member (rep) may see.

use crate::{
    helpers::{ANA, TestApp, spawn_app},
    people::join,
};

async fn quick_add(
    app: &TestApp,
    who: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = app.csrf_as(who, "/prospects").await;
    let mut form = vec![("_csrf", token.as_str())];
    form.extend_from_slice(fields);
    app.post_as(who, "/prospects", &form).await
}

fn id_from(res: &reqwest::Response) -> i64 {
    res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn quick_add_then_edit_stage_tags_and_notes() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert!(app.page("/prospects").await.contains("id=\"quick-add\""));

    let res = quick_add(
        &app,
        &app.client,
        &[("name", "Lee"), ("email", "lee@"), ("phone", "")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("value=\"lee@\"") && page.contains("value=\"Lee\""),
        "{page}"
    );

    let res = quick_add(
        &app,
        &app.client,
        &[
            ("name", "Lee Park"),
            ("email", "Lee@Example.com"),
            ("phone", "+1 555 000 1234"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let id = id_from(&res);
    let detail = app.page(&format!("/prospects/{id}")).await;
    assert!(
        detail.contains("lee@example.com") && detail.contains("Added by hand"),
        "{detail}"
    );
    assert!(detail.contains("Demo Owner"), "owned by whoever added it");

    // The same email again: not added twice, and a way to the first.
    let res = quick_add(
        &app,
        &app.client,
        &[("name", "Lee"), ("email", "lee@example.com")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("already a prospect") && page.contains(&format!("/prospects/{id}")));

    let token = app.csrf_as(&app.client, "/prospects").await;
    let edit = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("_csrf", token.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        app.client
            .post(app.url(&format!("/prospects/{id}/edit")))
            .form(&form)
            .send()
    };
    let res = edit(vec![("name", "Lee Park"), ("stage", "dreaming")])
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = edit(vec![
        ("name", "Lee Park"),
        ("phone", "+1 555 000 1234"),
        ("company", "Park & Sons"),
        ("stage", "hot"),
        ("owner", ""),
        ("tags", "VIP, hot lead,vip"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/notes"),
            &[
                ("_csrf", token.as_str()),
                ("note", "Call back Tuesday <b>after</b> 3"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let detail = app.page(&format!("/prospects/{id}")).await;
    assert!(detail.contains("Park &amp; Sons"), "{detail}");
    assert!(
        detail.contains("Stage new → <strong>hot</strong> by Demo Owner"),
        "{detail}"
    );
    assert!(
        detail.contains(">hot lead<") && detail.contains(">vip<"),
        "{detail}"
    );
    assert!(
        detail.contains("Call back Tuesday &lt;b&gt;after&lt;/b&gt; 3"),
        "{detail}"
    );
    assert!(detail.contains("nobody yet"), "unassigned");
    // Without the session's token nothing changes.
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/notes"),
            &[("_csrf", "forged"), ("note", "x")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let csv = app.page("/prospects/export.csv").await;
    // After the UTF-8 byte-order mark (for spreadsheets).
    let csv = csv.strip_prefix('\u{feff}').expect("a byte-order mark");
    assert!(
        csv.starts_with("id,name,email,phone,company,source,created_at,submissions,stage,owner")
    );
    // For Excel where the decimal mark is a comma: the same, by semicolons.
    let semi = app.page("/prospects/export.csv?sep=semicolon").await;
    let semi = semi.strip_prefix('\u{feff}').expect("a byte-order mark");
    assert!(
        semi.starts_with("id;name;email;phone;company;source;created_at;submissions;stage;owner"),
        "{semi}"
    );
    assert_eq!(semi.lines().count(), csv.lines().count());
    assert!(
        csv.contains("lee@example.com") && csv.contains(",hot,"),
        "{csv}"
    );
}

#[tokio::test]
async fn a_member_sees_and_works_only_their_own_prospects() {
    let app = spawn_app().await;
    app.sign_in().await;
    // A form submission (nobody's) and the member's own quick add.
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let (rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let res = quick_add(
        &app,
        &rep,
        &[("name", "Mine"), ("email", "mine@example.com")],
    )
    .await;
    let mine = id_from(&res);
    let ana = app
        .count("SELECT id FROM prospects WHERE email = 'ana@example.com'")
        .await;

    let list = rep
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("mine@example.com") && !list.contains("ana@example.com"),
        "{list}"
    );
    assert_eq!(
        rep.get(app.url(&format!("/prospects/{ana}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        rep.get(app.url(&format!("/prospects/{ana}/edit")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let edit = rep
        .get(app.url(&format!("/prospects/{mine}/edit")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!edit.contains("name=\"owner\""), "members do not assign");
    let csv = rep
        .get(app.url("/prospects/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("mine@example.com") && !csv.contains("ana@example.com"));
    // A quick add of someone the member cannot see: refused without a link.
    let res = quick_add(&app, &rep, &[("name", "Ana"), ("email", "ana@example.com")]).await;
    assert_eq!(res.status(), 422);
    assert!(
        !res.text()
            .await
            .unwrap()
            .contains(&format!("/prospects/{ana}\""))
    );

    // The owner assigns Ana to the rep, who then sees her.
    let token = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{ana}/edit"),
            &[
                ("_csrf", token.as_str()),
                ("name", "Ana Lima"),
                ("stage", "contacted"),
                ("owner", &rep_id.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        rep.get(app.url(&format!("/prospects/{ana}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // An owner outside the organization is refused.
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{ana}/edit"),
            &[
                ("_csrf", token.as_str()),
                ("name", "Ana Lima"),
                ("stage", "contacted"),
                ("owner", "999999"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
}

/// The timeline shows every kind of entry from its stored row: an import's
/// line, an older submission's answers (keys in another order, one the
/// form no longer asks), and a kind this build does not know (shown by
/// name, never a 500).
#[tokio::test]
async fn the_timeline_reads_every_stored_kind_and_survives_unknown_ones() {
    let app = spawn_app().await;
    app.sign_in().await;
    let res = quick_add(
        &app,
        &app.client,
        &[("name", "Tim Line"), ("email", "tim@example.com")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let id = id_from(&res);
    for (kind, data) in [
        ("imported", r#"{"line":7,"source":"fair.csv"}"#),
        (
            "form_submission",
            r#"{"company":null,"consent":true,"email":"tim@example.com","name":"Tim","shoe_size":"44"}"#,
        ),
        ("reward_paid", r#"{"amount_minor":500,"currency":"EUR"}"#),
        ("note", "not json"),
    ] {
        crate::prospect_list::exec(
            &app,
            &format!(
                "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
                 VALUES ({id}, '{kind}', '{data}', 1)"
            ),
        )
        .await;
    }
    let res = app.get(&format!("/prospects/{id}")).await;
    assert_eq!(res.status(), 200);
    let detail = res.text().await.unwrap();
    for shown in [
        "Added by hand",
        "Imported from <strong>fair.csv</strong>, line 7",
        "<dt>Name</dt><dd>Tim</dd>",
        "<dt>May contact</dt><dd>yes</dd>",
        "<dt>shoe_size</dt><dd>44</dd>",
        "<p>reward_paid</p>",
        "<p>note</p>",
    ] {
        assert!(detail.contains(shown), "{shown} in {detail}");
    }
}

/// The export's columns beyond a prospect's own: tags, the number of
/// notes, the location (HQ's export names each location's prospect's
/// organization; its own prospects have none), the last activity in the
/// viewer's time zone; a cell that starts like a formula is still guarded.
#[tokio::test]
async fn export_has_tags_notes_location_and_last_activity_in_the_viewers_zone() {
    let app = spawn_app().await;
    let hq = crate::helpers::client();
    let res = app
        .post_as(
            &hq,
            "/signup",
            &[
                ("name", "Hana HQ"),
                ("email", "hana@franchise.test"),
                ("password", "franchise password 1"),
                ("organization", "Bean There Coffee"),
                ("kind", "franchise"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let token = app.csrf_as(&hq, "/locations").await;
    let res = app
        .post_as(
            &hq,
            "/locations",
            &[("_csrf", &token), ("name", "Downtown")],
        )
        .await;
    assert_eq!(res.status(), 303);
    // 2026-11-30 12:00 UTC is 13:00 in Paris.
    let at: i64 = 1_796_040_000_000;
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "UPDATE users SET time_zone = 'Europe/Paris' WHERE email = 'hana@franchise.test'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'eve@example.com', '=HYPERLINK(1)', 'import', $1, $1 FROM organizations WHERE name = 'Downtown'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'hq@example.com', 'Hal Home', 'import', $1, $1 FROM organizations WHERE name = 'Bean There Coffee'",
            "INSERT INTO prospect_tags (prospect_id, tag) SELECT id, 'vip' FROM prospects WHERE email = 'eve@example.com'",
            "INSERT INTO prospect_tags (prospect_id, tag) SELECT id, '@expo' FROM prospects WHERE email = 'eve@example.com'",
            "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
             SELECT id, 'note', '{\"note\":\"x\",\"by\":\"y\"}', $1 - 60000 FROM prospects WHERE email = 'eve@example.com'",
            "INSERT INTO timeline_entries (prospect_id, kind, data, created_at)
             SELECT id, 'note', '{\"note\":\"x\",\"by\":\"y\"}', $1 FROM prospects WHERE email = 'eve@example.com'",
        ] {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            if sql.contains("$1") {
                query = query.bind(at);
            }
            query.execute(p).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    });
    let csv = hq
        .get(app.url("/prospects/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csv = csv.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers, rally::prospects::export::COLUMNS);
    let rows: Vec<std::collections::HashMap<String, String>> = reader
        .records()
        .map(|r| {
            headers
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();
    let eve = rows
        .iter()
        .find(|r| r["email"] == "eve@example.com")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(eve["name"], "'=HYPERLINK(1)", "guarded: {csv}");
    assert_eq!(eve["tags"], "'@expo, vip", "guarded: {csv}");
    assert_eq!(eve["notes"], "2");
    assert_eq!(eve["location"], "Downtown");
    assert_eq!(eve["last_activity"], "2026-11-30T13:00:00+01:00");
    let hal = rows
        .iter()
        .find(|r| r["email"] == "hq@example.com")
        .unwrap();
    assert_eq!(
        (
            hal["tags"].as_str(),
            hal["notes"].as_str(),
            hal["location"].as_str()
        ),
        ("", "0", ""),
        "HQ's own: {csv}"
    );
    assert_eq!(hal["last_activity"], "2026-11-30T13:00:00+01:00");
}
