//! `/prospects` filters, sort, total, keyset pages, search over phone and
//! tags, saved views, bulk actions (a selection and "all matching") and
//! claiming unassigned prospects, with the roles' limits. On SQLite and on
//! Postgres (`RALLY_TEST_POSTGRES`).

use crate::{
    helpers::{ANA, TestApp, spawn_app},
    people::join,
};

/// The results fragment (what search-as-you-type swaps) for `query`, as `who`.
pub(crate) async fn results_as(app: &TestApp, who: &reqwest::Client, query: &str) -> String {
    let res = who
        .get(app.url(&format!("/prospects?{query}")))
        .header("HX-Request", "true")
        .header("HX-Target", "prospect-results")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "/prospects?{query}");
    res.text().await.unwrap()
}

async fn results(app: &TestApp, query: &str) -> String {
    results_as(app, &app.client, query).await
}

/// The emails listed, in order.
fn emails(fragment: &str) -> Vec<String> {
    fragment
        .split("<span class=\"email\">")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_string())
        .collect()
}

/// A prospect added by hand by the demo owner, then edited (phone,
/// company, stage, tags) through the edit form: its search text is made
/// as any person's would be.
pub(crate) async fn add(
    app: &TestApp,
    name: &str,
    email: &str,
    phone: &str,
    company: &str,
    stage: &str,
    tags: &str,
) -> i64 {
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[("_csrf", csrf.as_str()), ("name", name), ("email", email)],
        )
        .await;
    assert_eq!(res.status(), 303, "quick add {email}");
    let id: i64 = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("name", name),
                ("phone", phone),
                ("company", company),
                ("stage", stage),
                ("tags", tags),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "edit {email}");
    id
}

pub(crate) async fn exec(app: &TestApp, sql: &str) {
    rally::on_pool!(&app.pool, p => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(p)
        .await
        .map(|_| ())
        .unwrap());
}

/// Milliseconds at the start of a UTC day.
fn day(y: i32, m: u8, d: u8) -> i64 {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000
}

#[tokio::test]
async fn each_filter_and_sort_narrows_the_list_and_counts_it() {
    let app = spawn_app().await;
    app.sign_in().await;
    // Di comes through the demo form: unassigned, from the form.
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let ana = app
        .count("SELECT id FROM prospects WHERE email = 'ana@example.com'")
        .await;
    let bo = add(
        &app,
        "Bo Chen",
        "bo@example.com",
        "+44 20 7946 0000",
        "Chen Ltd",
        "hot",
        "vip, fair",
    )
    .await;
    let cy = add(
        &app,
        "Cy Dee",
        "cy@example.com",
        "",
        "Zeta Works",
        "contacted",
        "fair",
    )
    .await;
    let di = add(&app, "Di Eve", "di@example.com", "", "", "new", "").await;
    exec(
        &app,
        &format!("UPDATE prospects SET owner_user_id = NULL WHERE id = {di}"),
    )
    .await;
    // Known days: Bo arrived in January 2025, Cy was last active in March.
    exec(
        &app,
        &format!(
            "UPDATE prospects SET created_at = {} WHERE id = {bo}",
            day(2025, 1, 15) + 3_600_000
        ),
    )
    .await;
    exec(
        &app,
        &format!(
            "UPDATE prospects SET last_activity_at = {} WHERE id = {cy}",
            day(2025, 3, 31) + 86_399_000
        ),
    )
    .await;

    let all = results(&app, "").await;
    assert!(all.contains("4 prospects"), "{all}");
    let check = |query: &'static str, expected: &'static [&'static str]| {
        let app = &app;
        async move {
            let fragment = results(app, query).await;
            let mut found = emails(&fragment);
            found.sort();
            let mut expected: Vec<String> = expected.iter().map(|e| e.to_string()).collect();
            expected.sort();
            assert_eq!(found, expected, "?{query}: {fragment}");
            let total = match expected.len() {
                1 => "1 prospect matches".to_string(),
                n => format!("{n} prospects match"),
            };
            assert!(fragment.contains(&total), "?{query}: {total} in {fragment}");
        }
    };
    // Each filter alone, then combined: the query and whom it finds.
    let cases: &[(&str, &[&str])] = &[
        ("stage=hot", &["bo@example.com"]),
        ("stage=new", &["ana@example.com", "di@example.com"]),
        ("owner=unassigned", &["ana@example.com", "di@example.com"]),
        ("owner=me", &["bo@example.com", "cy@example.com"]),
        ("tag=fair", &["bo@example.com", "cy@example.com"]),
        ("tag=VIP", &["bo@example.com"]),
        // Days are whole UTC days, both ends included.
        (
            "created_from=2025-01-15&created_to=2025-01-15",
            &["bo@example.com"],
        ),
        ("created_to=2025-01-14", &[]),
        (
            "active_from=2025-03-31&active_to=2025-03-31",
            &["cy@example.com"],
        ),
        ("active_from=2025-04-01&active_to=2025-12-31", &[]),
        // Search: name, email, phone (as typed or digits only), company, tag.
        ("q=chen", &["bo@example.com"]),
        ("q=7946", &["bo@example.com"]),
        ("q=447946", &[]),
        ("q=4420794", &["bo@example.com"]),
        ("q=5550109999", &["ana@example.com"]),
        ("q=zeta", &["cy@example.com"]),
        ("q=VIP", &["bo@example.com"]),
        ("q=di%40example", &["di@example.com"]),
        // Combined.
        ("tag=fair&stage=contacted&q=dee", &["cy@example.com"]),
    ];
    for (query, expected) in cases {
        check(query, expected).await;
    }
    let owner = app
        .count("SELECT id FROM users WHERE email = 'owner@demo.rally.test'")
        .await;
    let fragment = results(&app, &format!("owner={owner}")).await;
    assert_eq!(emails(&fragment).len(), 2, "{fragment}");
    let form = app.count("SELECT id FROM forms WHERE slug = 'demo'").await;
    let fragment = results(&app, &format!("form={form}")).await;
    assert_eq!(emails(&fragment), ["ana@example.com"], "{fragment}");
    // An event on the demo form, open since before Ana's submission; and
    // one that ended before it.
    let submitted = app
        .count(&format!(
            "SELECT MIN(created_at) FROM timeline_entries WHERE prospect_id = {ana}"
        ))
        .await;
    exec(
        &app,
        &format!(
            "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
         SELECT organization_id, id, 'Launch', {}, {} FROM forms WHERE slug = 'demo'",
            submitted - 1000,
            submitted - 1000
        ),
    )
    .await;
    exec(
        &app,
        &format!(
            "INSERT INTO events (organization_id, form_id, name, starts_at, ends_at, created_at)
         SELECT organization_id, id, 'Earlier', {}, {}, {} FROM forms WHERE slug = 'demo'",
            submitted - 9000,
            submitted - 5000,
            submitted - 9000
        ),
    )
    .await;
    let launch = app
        .count("SELECT id FROM events WHERE name = 'Launch'")
        .await;
    let earlier = app
        .count("SELECT id FROM events WHERE name = 'Earlier'")
        .await;
    let fragment = results(&app, &format!("event={launch}")).await;
    assert_eq!(emails(&fragment), ["ana@example.com"], "{fragment}");
    let fragment = results(&app, &format!("event={earlier}")).await;
    assert!(emails(&fragment).is_empty(), "{fragment}");
    // A location is for an HQ only.
    assert_eq!(app.get("/prospects?location=1").await.status(), 422);

    // Sorts: newest (Bo, arrived in 2025, last), name, last activity.
    let newest = emails(&results(&app, "").await);
    assert_eq!(newest.last().unwrap(), "bo@example.com", "{newest:?}");
    let by_name = emails(&results(&app, "sort=name").await);
    assert_eq!(
        by_name,
        [
            "ana@example.com",
            "bo@example.com",
            "cy@example.com",
            "di@example.com"
        ]
    );
    for (id, at) in [(ana, 4), (bo, 1), (cy, 3), (di, 2)] {
        exec(
            &app,
            &format!(
                "UPDATE prospects SET last_activity_at = {} WHERE id = {id}",
                day(2026, 1, at)
            ),
        )
        .await;
    }
    let by_activity = emails(&results(&app, "sort=activity").await);
    assert_eq!(
        by_activity,
        [
            "ana@example.com",
            "cy@example.com",
            "di@example.com",
            "bo@example.com"
        ]
    );
    // A note is activity: it moves Bo first.
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{bo}/notes"),
            &[("_csrf", csrf.as_str()), ("note", "Called")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let by_activity = emails(&results(&app, "sort=activity").await);
    assert_eq!(by_activity[0], "bo@example.com");
    // The whole page keeps the filters in its form.
    let page = app.page("/prospects?stage=hot&sort=name").await;
    assert!(page.contains("<option value=\"hot\" selected>"), "{page}");
    assert!(page.contains("<option value=\"name\" selected>"), "{page}");
}

/// `rel` link's href in a fragment, unescaped.
fn link(fragment: &str, rel: &str) -> Option<String> {
    let marker = format!("rel=\"{rel}\" href=\"");
    let start = fragment.find(&marker)? + marker.len();
    let end = start + fragment[start..].find('"')?;
    Some(fragment[start..end].replace("&amp;", "&"))
}

async fn seed_people(app: &TestApp, prefix: &str, count: i64, first_ms: i64) {
    for i in 0..count {
        exec(app, &format!(
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, '{prefix}{i:02}@example.com', '{prefix} {i:02}', 'import', {at}, {at} FROM organizations WHERE slug = 'demo'",
            at = first_ms + i * 1000
        ))
        .await;
    }
}

#[tokio::test]
async fn keyset_pages_stay_stable_when_prospects_arrive_between_pages() {
    let app = spawn_app().await;
    app.sign_in().await;
    let t0 = day(2026, 6, 1);
    seed_people(&app, "person", 30, t0).await;
    for sort in ["", "sort=name", "sort=activity"] {
        let first = results(&app, sort).await;
        let page1 = emails(&first);
        assert_eq!(page1.len(), 25, "{sort}");
        assert!(link(&first, "prev").is_none());
        let next = link(&first, "next").expect("a next page");
        assert!(next.contains("cursor="), "{next}");
        // New prospects arrive: newer than all, and named to sort first.
        let label = if sort.is_empty() { "new" } else { &sort[5..] };
        seed_people(&app, &format!("aaa{label}"), 3, t0 + 100_000_000).await;
        let second = app
            .client
            .get(app.url(&next))
            .header("HX-Request", "true")
            .header("HX-Target", "prospect-results")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let page2 = emails(&second);
        // Exactly the rest of the first thirty: nothing twice, nothing lost.
        assert_eq!(page2.len(), 5, "{sort}: {page2:?}");
        assert!(
            page2
                .iter()
                .all(|e| !page1.contains(e) && e.starts_with("person")),
            "{sort}: {page2:?}"
        );
        assert!(link(&second, "next").is_none(), "{sort}");
        // Back: the page before the second is the first as it was.
        let prev = link(&second, "prev").expect("a previous page");
        let back = emails(&results(&app, prev.trim_start_matches("/prospects?")).await);
        assert_eq!(back, page1, "{sort}");
        exec(&app, "DELETE FROM prospects WHERE email LIKE 'aaa%'").await;
    }
    // The total counts every match, not a page.
    assert!(results(&app, "").await.contains("30 prospects"));
    // Older links' page numbers still work.
    let page2 = results(&app, "page=2").await;
    assert_eq!(emails(&page2).len(), 5);
}

#[tokio::test]
async fn bulk_actions_on_a_selection_and_on_all_matching() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (_rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let a = add(&app, "Bulk A", "bulk-a@example.com", "", "", "new", "").await;
    let b = add(&app, "Bulk B", "bulk-b@example.com", "", "", "new", "").await;
    let c = add(
        &app,
        "Bulk C",
        "bulk-c@example.com",
        "",
        "",
        "contacted",
        "",
    )
    .await;
    let other = add(&app, "Other One", "other@example.com", "", "", "new", "").await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let csrf = csrf.clone();
        async move {
            let mut body = vec![("_csrf", csrf)];
            body.extend(fields);
            app.client
                .post(app.url("/prospects/bulk"))
                .form(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Assign a selection to the rep.
    let res = post(vec![
        ("action", "assign".into()),
        ("owner", rep_id.to_string()),
        ("id", a.to_string()),
        ("id", b.to_string()),
        ("filter", "q=bulk".into()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/prospects?q=bulk&done=assigned");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE owner_user_id = {rep_id}"
        ))
        .await,
        2
    );
    // The rep hears once, of both, in the app and by email.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {rep_id} AND kind = 'assigned'
             AND text = 'Demo Owner assigned 2 prospects to you.'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM emails WHERE subject = '2 prospects are yours'")
            .await,
        1
    );
    // Again with one new to them (A is theirs already): that one, by name.
    let res = post(vec![
        ("action", "assign".into()),
        ("owner", rep_id.to_string()),
        ("id", a.to_string()),
        ("id", other.to_string()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {rep_id} AND kind = 'assigned'
             AND text = 'Demo Owner assigned Other One to you.'"
        ))
        .await,
        1
    );
    let res = post(vec![
        ("action", "assign".into()),
        ("owner", String::new()),
        ("id", other.to_string()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    // Stage for all matching "bulk": three move (C already contacted: two
    // entries), the other prospect stays.
    let res = post(vec![
        ("action", "stage".into()),
        ("stage", "contacted".into()),
        ("all", "yes".into()),
        ("filter", "q=bulk".into()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE stage = 'contacted'")
            .await,
        3
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM timeline_entries WHERE kind = 'stage' AND prospect_id IN ({a}, {b}, {c})")).await,
        3,
        "C's edit to contacted, then A's and B's moves"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {other} AND stage = 'new'"
        ))
        .await,
        1
    );
    // Tag all matching, then find them by the tag; untag a selection.
    let res = post(vec![
        ("action", "tag".into()),
        ("tag", " Fair 2026 ".into()),
        ("all", "yes".into()),
        ("filter", "stage=contacted".into()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(emails(&results(&app, "q=fair%202026").await).len(), 3);
    assert_eq!(emails(&results(&app, "tag=fair%202026").await).len(), 3);
    let res = post(vec![
        ("action", "untag".into()),
        ("tag", "fair 2026".into()),
        ("id", c.to_string()),
    ])
    .await;
    assert_eq!(res.status(), 303);
    let tagged = emails(&results(&app, "q=fair%202026").await);
    assert_eq!(tagged.len(), 2, "{tagged:?}");
    assert!(!tagged.contains(&"bulk-c@example.com".to_string()));
    // Export a selection: those rows only.
    let res = post(vec![
        ("action", "export".into()),
        ("id", a.to_string()),
        ("id", c.to_string()),
    ])
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.contains("bulk-a@example.com") && csv.contains("bulk-c@example.com"));
    assert!(!csv.contains("bulk-b@example.com") && !csv.contains("other@example.com"));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    // Nothing selected: back, nothing done.
    let res = post(vec![("action", "stage".into()), ("stage", "lost".into())]).await;
    assert_eq!(res.headers()["location"], "/prospects?done=none");
    // Delete all matching "bulk": a confirmation first, nothing deleted.
    let res = post(vec![
        ("action", "delete".into()),
        ("all", "yes".into()),
        ("filter", "q=bulk".into()),
    ])
    .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Delete 3 prospects?"), "{page}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email LIKE 'bulk-%'")
            .await,
        3
    );
    // A prospect arrives that matches: the confirmation of three is shown again.
    add(&app, "Bulk D", "bulk-d@example.com", "", "", "new", "").await;
    let confirm = |expect: &'static str| {
        vec![
            ("action", "delete".into()),
            ("all", "yes".into()),
            ("filter", "q=bulk".into()),
            ("confirm", "yes".into()),
            ("expect", expect.to_string()),
        ]
    };
    let res = post(confirm("3")).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("The selection changed"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email LIKE 'bulk-%'")
            .await,
        4
    );
    let res = post(confirm("4")).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/prospects?q=bulk&done=deleted");
    // To the trash: kept (restorable) but live no more, each with a
    // `deleted` entry on its timeline.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email LIKE 'bulk-%' AND deleted_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email LIKE 'bulk-%' AND deleted_at IS NOT NULL"
        )
        .await,
        4
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM timeline_entries WHERE prospect_id IN ({a}, {b}, {c}) AND kind = 'deleted'"
        ))
        .await,
        3
    );
    assert!(
        !app.page("/prospects?q=bulk")
            .await
            .contains("bulk-a@example.com")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'other@example.com'")
            .await,
        1
    );
    // In the audit log, which the owner reads.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'prospects_deleted'")
            .await,
        1
    );
    let audit = app.page("/people/audit").await;
    assert!(
        audit.contains("prospects deleted") && audit.contains("4 prospects"),
        "{audit}"
    );
}

#[tokio::test]
async fn members_act_only_on_their_own_and_claim_unassigned_prospects() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let (other_rep, _) = join(&app, "rep2@example.com", "member").await;
    let owners = add(&app, "Owners Lead", "owners@example.com", "", "", "new", "").await;
    let mine = add(&app, "Reps Lead", "reps@example.com", "", "", "new", "").await;
    exec(
        &app,
        &format!("UPDATE prospects SET owner_user_id = {rep_id} WHERE id = {mine}"),
    )
    .await;
    let free = add(&app, "Free Lead", "free@example.com", "", "", "new", "").await;
    exec(
        &app,
        &format!("UPDATE prospects SET owner_user_id = NULL WHERE id = {free}"),
    )
    .await;
    let csrf = app.csrf_as(&rep, "/prospects").await;

    // The member's list: their own; "unassigned": the free one, with Claim,
    // not the owner's.
    assert_eq!(
        emails(&results_as(&app, &rep, "").await),
        ["reps@example.com"]
    );
    let unassigned = results_as(&app, &rep, "owner=unassigned").await;
    assert_eq!(emails(&unassigned), ["free@example.com"]);
    assert!(
        unassigned.contains(&format!("action=\"/prospects/{free}/claim\"")),
        "{unassigned}"
    );
    // Another person's prospects are not theirs to list.
    let owner_id = app
        .count("SELECT id FROM users WHERE email = 'owner@demo.rally.test'")
        .await;
    assert!(emails(&results_as(&app, &rep, &format!("owner={owner_id}")).await).is_empty());

    // Bulk: no assigning, no deleting; a stage change reaches only their own,
    // for a selection naming others' prospects and for "all matching".
    for action in ["assign", "delete"] {
        let res = app
            .post_as(
                &rep,
                "/prospects/bulk",
                &[
                    ("_csrf", csrf.as_str()),
                    ("action", action),
                    ("owner", ""),
                    ("id", &mine.to_string()),
                    ("confirm", "yes"),
                    ("expect", "1"),
                ],
            )
            .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    let ids = [owners, mine, free].map(|id| id.to_string());
    let mine_hot = format!("SELECT COUNT(*) FROM prospects WHERE stage = 'hot' AND id = {mine}");
    // Each action: its fields, then what it changed (a query and its count).
    type Fields<'a> = &'a [(&'a str, &'a str)];
    type Changed<'a> = &'a [(&'a str, i64)];
    let actions: [(Fields, Changed); 3] = [
        // Ticked ids, two of them not theirs: only their own moves.
        (
            &[
                ("action", "stage"),
                ("stage", "hot"),
                ("id", &ids[0]),
                ("id", &ids[1]),
                ("id", &ids[2]),
            ],
            &[
                ("SELECT COUNT(*) FROM prospects WHERE stage = 'hot'", 1),
                (&mine_hot, 1),
            ],
        ),
        (
            &[
                ("action", "tag"),
                ("tag", "mine"),
                ("all", "yes"),
                ("filter", ""),
            ],
            &[("SELECT COUNT(*) FROM prospect_tags WHERE tag = 'mine'", 1)],
        ),
        // "All matching" the unassigned view is still only their own: nothing.
        (
            &[
                ("action", "stage"),
                ("stage", "lost"),
                ("all", "yes"),
                ("filter", "owner=unassigned"),
            ],
            &[("SELECT COUNT(*) FROM prospects WHERE stage = 'lost'", 0)],
        ),
    ];
    for (fields, changed) in actions {
        let mut form = vec![("_csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let res = app.post_as(&rep, "/prospects/bulk", &form).await;
        assert_eq!(res.status(), 303, "{fields:?}");
        for (sql, count) in changed {
            assert_eq!(app.count(sql).await, *count, "{fields:?}: {sql}");
        }
    }
    // A member's export of the owner's prospect by id: nothing of it.
    let res = app
        .post_as(
            &rep,
            "/prospects/bulk",
            &[
                ("_csrf", csrf.as_str()),
                ("action", "export"),
                ("id", &ids[0]),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("not yours to change"), "{page}");
    assert!(
        !page.contains("owner@demo") && !page.contains("Owner&#39;s"),
        "{page}"
    );

    // Claiming: the free lead becomes the rep's; a second claim is refused.
    assert_eq!(
        rep.get(app.url(&format!("/prospects/{free}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let res = app
        .post_as(
            &rep,
            &format!("/prospects/{free}/claim"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/prospects/{free}").as_str()
    );
    assert_eq!(
        rep.get(app.url(&format!("/prospects/{free}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let detail = app.page_as(&rep, &format!("/prospects/{free}")).await;
    assert!(detail.contains("Claimed by New Person"), "{detail}");
    let other_csrf = app.csrf_as(&other_rep, "/prospects").await;
    let res = app
        .post_as(
            &other_rep,
            &format!("/prospects/{free}/claim"),
            &[("_csrf", other_csrf.as_str())],
        )
        .await;
    assert_eq!(
        res.status(),
        404,
        "now the rep's: not the other rep's to know of"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT owner_user_id FROM prospects WHERE id = {free}"
        ))
        .await,
        rep_id
    );
    // An owned prospect cannot be claimed: 409 for one's own, 404 for another's.
    let res = app
        .post_as(
            &rep,
            &format!("/prospects/{free}/claim"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 409);
    let res = app
        .post_as(
            &rep,
            &format!("/prospects/{owners}/claim"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE id = {owners} AND owner_user_id = {owner_id}"
        ))
        .await,
        1
    );
    // The owner's page of an unassigned prospect offers Claim too.
    let free2 = add(&app, "Free Two", "free2@example.com", "", "", "new", "").await;
    exec(
        &app,
        &format!("UPDATE prospects SET owner_user_id = NULL WHERE id = {free2}"),
    )
    .await;
    let page = app.page(&format!("/prospects/{free2}")).await;
    assert!(page.contains(&format!("action=\"/prospects/{free2}/claim\"")));
}

#[tokio::test]
async fn saved_views_are_personal_or_shared() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (rep, _) = join(&app, "rep@example.com", "member").await;
    add(&app, "Hot One", "hot@example.com", "", "", "hot", "vip").await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    for (name, query, shared) in [
        ("My hot", "stage=hot&sort=name", ""),
        ("Team VIPs", "tag=vip", "yes"),
    ] {
        let res = app
            .post_as(
                &app.client,
                "/prospects/views",
                &[
                    ("_csrf", csrf.as_str()),
                    ("name", name),
                    ("query", query),
                    ("shared", shared),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
    }
    let page = app.page("/prospects").await;
    assert!(
        page.contains("href=\"/prospects?stage=hot&amp;sort=name\">My hot<"),
        "{page}"
    );
    assert!(page.contains("Team VIPs"));
    // The member sees the shared view only.
    let theirs = app.page_as(&rep, "/prospects").await;
    assert!(
        theirs.contains("Team VIPs") && !theirs.contains("My hot"),
        "{theirs}"
    );
    // Bad name or filters: 422 with the list back.
    for (name, query) in [
        ("", "stage=hot"),
        ("x", "stage=nope"),
        (&*"n".repeat(81), ""),
    ] {
        let res = app
            .post_as(
                &app.client,
                "/prospects/views",
                &[("_csrf", csrf.as_str()), ("name", name), ("query", query)],
            )
            .await;
        assert_eq!(res.status(), 422, "{name:?} {query:?}");
        assert!(res.text().await.unwrap().contains("view-name"));
    }
    // Saving again under the same name updates the view, not a second one.
    let res = app
        .post_as(
            &app.client,
            "/prospects/views",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "My hot"),
                ("query", "stage=hot&sort=activity"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM saved_views WHERE name = 'My hot'")
            .await,
        1
    );
    assert!(
        app.page("/prospects")
            .await
            .contains("href=\"/prospects?stage=hot&amp;sort=activity\">My hot<")
    );
    // Deleting: one's own; the member cannot delete the owner's shared view.
    let mine = app
        .count("SELECT id FROM saved_views WHERE name = 'My hot'")
        .await;
    let shared = app
        .count("SELECT id FROM saved_views WHERE name = 'Team VIPs'")
        .await;
    let rep_csrf = app.csrf_as(&rep, "/prospects").await;
    for id in [mine, shared] {
        let res = app
            .post_as(
                &rep,
                &format!("/prospects/views/{id}/delete"),
                &[("_csrf", rep_csrf.as_str())],
            )
            .await;
        assert_eq!(res.status(), 404);
    }
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/views/{mine}/delete"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM saved_views").await, 1);
}
