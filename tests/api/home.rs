//! The home page: my day, new leads since I last looked, leads assigned to
//! me, the hottest prospects, and this week's counts against last week's
//! (the viewer's own, and a manager's team's).

use rally::{home::queries::Counts, platform::db::Scope};

use crate::{helpers::*, tasks::quick_add};

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// The count in `cell` of the row labelled `row` of the week's table.
fn cell(page: &str, row: &str, cell: &str) -> i64 {
    let start = page
        .find(&format!("data-row=\"{row}\""))
        .unwrap_or_else(|| panic!("no row {row}: {page}"));
    let rest = &page[start..];
    let at = rest.find(&format!("<td class=\"{cell}\">")).unwrap() + cell.len() + 13;
    rest[at..].split(' ').next().unwrap().parse().unwrap()
}

async fn edit_stage(app: &TestApp, id: i64, name: &str, stage: &str) {
    let csrf = app.csrf_as(&app.client, "/account").await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/edit"),
            &[("_csrf", csrf.as_str()), ("name", name), ("stage", stage)],
        )
        .await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn home_is_the_signed_in_start_and_prospects_keep_their_list() {
    let app = spawn_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/signin");
    app.sign_in().await;
    let home = app.page("/").await;
    for part in [
        "Today",
        "New leads since you last looked",
        "Assigned to you",
        "Hottest prospects",
        "This week",
    ] {
        assert!(home.contains(part), "{part}: {home}");
    }
    assert!(
        home.contains("most recent engagement"),
        "the placeholder rule is said: {home}"
    );
    assert!(home.contains("href=\"/notifications\""), "{home}");
    assert!(app.page("/prospects").await.contains("<h1>Prospects</h1>"));
}

#[tokio::test]
async fn home_shows_new_leads_assigned_leads_hot_ones_and_the_weeks_counts() {
    let app = spawn_app().await;
    app.sign_in().await;
    // A first look: nothing yet.
    let home = app.page("/").await;
    assert!(home.contains("Nothing new."), "{home}");
    assert_eq!(cell(&home, "You", "new"), 0);
    // Two leads by the form, one added by hand (the owner's).
    assert_eq!(app.submit(ANA).await, 303);
    assert_eq!(app.submit(BO).await, 303);
    app.drain().await;
    let mine = quick_add(&app, &app.client, "Cat Mine", "cat@example.com").await;
    edit_stage(&app, mine, "Cat Mine", "contacted").await;
    edit_stage(&app, mine, "Cat Mine", "customer").await;
    let ana = app
        .count("SELECT id FROM prospects WHERE name = 'Ana Lima'")
        .await;
    edit_stage(&app, ana, "Ana Lima", "lost").await;
    // Within the same visit (looks less than 30 minutes apart) the new
    // leads stay listed.
    let home = app.page("/").await;
    for name in ["Ana Lima", "Bo Chen", "Cat Mine"] {
        assert!(home.contains(name), "{name}: {home}");
    }
    // Assigned to me: my open prospects (Cat is won: not open).
    let assigned =
        &home[home.find("id=\"assigned\"").unwrap()..home.find("id=\"hottest\"").unwrap()];
    assert!(
        assigned.contains("No open lead is assigned to you."),
        "{assigned}"
    );
    // Hottest: by last engagement (a form sent), open ones only (Ana is lost).
    let hottest = &home[home.find("id=\"hottest\"").unwrap()..home.find("id=\"week\"").unwrap()];
    assert!(
        hottest.contains("Bo Chen") && !hottest.contains("Ana Lima"),
        "{hottest}"
    );
    // The week's counts: the owner's own (Cat), and the team's (all three).
    assert_eq!(cell(&home, "You", "new"), 1);
    assert_eq!(cell(&home, "You", "won"), 1);
    assert_eq!(cell(&home, "Your team", "new"), 3);
    assert_eq!(cell(&home, "Your team", "contacted"), 1);
    assert_eq!(cell(&home, "Your team", "won"), 1);
    assert_eq!(cell(&home, "Your team", "lost"), 1);
    assert!(home.contains("+3"), "the change from last week: {home}");
    // A member sees their own row only, and their own leads.
    let (rep, rep_id) = crate::people::join(&app, "rep@home.test", "member").await;
    let csrf = app.csrf_as(&app.client, "/account").await;
    let bo = app
        .count("SELECT id FROM prospects WHERE name = 'Bo Chen'")
        .await;
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{bo}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Bo Chen"),
                ("stage", "new"),
                ("owner", &rep_id.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let rep_home = app.page_as(&rep, "/").await;
    assert!(!rep_home.contains("data-row=\"Your team\""), "{rep_home}");
    assert!(
        !rep_home.contains("Cat Mine") && !rep_home.contains("Ana Lima"),
        "{rep_home}"
    );
    let assigned = &rep_home
        [rep_home.find("id=\"assigned\"").unwrap()..rep_home.find("id=\"hottest\"").unwrap()];
    assert!(assigned.contains("Bo Chen"), "{assigned}");
}

#[tokio::test]
async fn weeks_are_counted_from_monday_in_the_viewers_zone() {
    let app = spawn_app().await;
    let org = app
        .count("SELECT id FROM organizations WHERE slug = 'demo'")
        .await;
    // Monday 2026-06-15 00:30 in Auckland is Sunday 12:30 UTC.
    let monday_auckland = ms("2026-06-14T12:30:00Z");
    let stage = |to: &str| format!("{{\"by\":\"x\",\"from\":\"new\",\"to\":\"{to}\"}}");
    rally::on_pool!(&app.pool, p => {
        for (email, at) in [("w1@example.com", monday_auckland), ("w0@example.com", monday_auckland - 7 * 86_400_000), ("w0b@example.com", monday_auckland - 86_400_000)] {
            sqlx::query("INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at) VALUES ($1, $2, 'W', 'manual', $3, $3)")
                .bind(org).bind(email).bind(at).execute(p).await.unwrap();
        }
        for (email, to, at) in [("w1@example.com", "contacted", monday_auckland + 1000), ("w0@example.com", "lost", ms("2026-06-14T12:00:00Z") - 1000)] {
            sqlx::query("INSERT INTO timeline_entries (prospect_id, kind, data, created_at) SELECT id, 'stage', $2, $3 FROM prospects WHERE email = $1")
                .bind(email).bind(stage(to)).bind(at).execute(p).await.unwrap();
        }
    });
    let zone = rally::platform::time_zones::Tz::Pacific__Auckland;
    let now = monday_auckland + 3_600_000;
    let week = rally::platform::time_zones::start_of_week(now, zone);
    assert_eq!(week, ms("2026-06-14T12:00:00Z"));
    let last = rally::platform::time_zones::start_of_previous_week(now, zone);
    let scope = Scope::organization(org);
    let (last_week, this_week) = rally::home::queries::counts(&app.pool, scope, last, week, now)
        .await
        .unwrap();
    assert_eq!(
        this_week,
        Counts {
            new: 1,
            contacted: 1,
            won: 0,
            lost: 0
        }
    );
    assert_eq!(
        last_week,
        Counts {
            new: 2,
            contacted: 0,
            won: 0,
            lost: 1
        }
    );
    // In Los Angeles the same instant is still Sunday: all in one week.
    let la = rally::platform::time_zones::Tz::America__Los_Angeles;
    let week = rally::platform::time_zones::start_of_week(now, la);
    let (before, counts) = rally::home::queries::counts(&app.pool, scope, week, week, now)
        .await
        .unwrap();
    assert_eq!(before, Counts::default());
    assert_eq!(counts.new, 2, "{counts:?}");
}

#[tokio::test]
async fn a_franchise_hq_sees_its_locations_week_and_a_location_only_its_own() {
    let app = spawn_app().await;
    let now = rally::platform::db::now_ms();
    let hash = rally::platform::security::hash_password(crate::roles::PASSWORD.into())
        .await
        .unwrap();
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('home-hq', 'Home HQ', 'franchise', $1)",
            "INSERT INTO organizations (slug, name, kind, parent_id, created_at)
             SELECT 'home-north', 'North', 'location', id, $1 FROM organizations WHERE slug = 'home-hq'",
            "INSERT INTO organizations (slug, name, kind, parent_id, created_at)
             SELECT 'home-south', 'South', 'location', id, $1 FROM organizations WHERE slug = 'home-hq'",
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('hq@home.test', 'Hana HQ', $2, $1)",
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('north@home.test', 'Nils North', $2, $1)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'owner', $1 FROM users u, organizations o WHERE u.email = 'hq@home.test' AND o.slug = 'home-hq'",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'manager', $1 FROM users u, organizations o WHERE u.email = 'north@home.test' AND o.slug = 'home-north'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'n1@home.test', 'North One', 'manual', $1, $1 FROM organizations WHERE slug = 'home-north'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'n2@home.test', 'North Two', 'manual', $1, $1 FROM organizations WHERE slug = 'home-north'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 's1@home.test', 'South One', 'manual', $1, $1 FROM organizations WHERE slug = 'home-south'",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(now).bind(&hash).execute(p).await.unwrap();
        }
    });
    let sign_in = |email: &'static str| {
        let app = &app;
        async move {
            let browser = client();
            let res = app
                .post_as(
                    &browser,
                    "/signin",
                    &[("email", email), ("password", crate::roles::PASSWORD)],
                )
                .await;
            assert_eq!(res.status(), 303);
            browser
        }
    };
    let hq = sign_in("hq@home.test").await;
    let page = app.page_as(&hq, "/").await;
    assert_eq!(cell(&page, "All locations", "new"), 3, "{page}");
    assert_eq!(cell(&page, "You", "new"), 0);
    assert!(
        page.contains("South One") && page.contains("North Two"),
        "{page}"
    );
    let north = sign_in("north@home.test").await;
    let page = app.page_as(&north, "/").await;
    assert_eq!(cell(&page, "Your team", "new"), 2, "{page}");
    assert!(!page.contains("South One"), "{page}");
    // The demo organization's owner sees none of it.
    app.sign_in().await;
    let page = app.page("/").await;
    assert!(
        !page.contains("North One") && !page.contains("South One"),
        "{page}"
    );
    assert_eq!(cell(&page, "Your team", "new"), 0);
}
