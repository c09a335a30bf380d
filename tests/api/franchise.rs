//! Franchises: HQ adds locations, invites a location's manager, sees every
//! location's prospects with roll-ups; a location sees only its own, and
//! copies HQ's published form templates to customise them.

use crate::helpers::{client, spawn_app};

fn location_of(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn hq_locations_managers_rollups_and_templates() {
    let app = spawn_app().await;
    // An HQ owner signs up; the demo owner (a direct-sales company) reads
    // the development mailbox of their own organization only, so HQ uses it.
    let hq = client();
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
    for name in ["Downtown", "Uptown"] {
        let res = app
            .post_as(&hq, "/locations", &[("_csrf", &token), ("name", name)])
            .await;
        assert_eq!(location_of(&res), "/locations?done=added");
    }
    assert_eq!(
        app.post_as(&hq, "/locations", &[("_csrf", &token), ("name", " ")])
            .await
            .status(),
        422
    );
    // The same name in another case: refused, the typed name kept.
    let res = app
        .post_as(
            &hq,
            "/locations",
            &[("_csrf", &token), ("name", "DOWNTOWN")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("A location with this name exists") && page.contains("value=\"DOWNTOWN\"")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE kind = 'location'")
            .await,
        2
    );
    let downtown = app
        .count("SELECT id FROM organizations WHERE name = 'Downtown'")
        .await;

    // A manager for Downtown, invited from HQ.
    let res = app
        .post_as(
            &hq,
            "/people/invite",
            &[
                ("_csrf", &token),
                ("email", "max@franchise.test"),
                ("role", "manager"),
                ("location", &downtown.to_string()),
            ],
        )
        .await;
    assert_eq!(location_of(&res), "/people?done=invited");
    // The invitation, as its recipient receives it (the development
    // mailbox shows it to its recipient only).
    let mail = app.mail("To max@franchise.test").await;
    assert!(
        mail.subject
            .contains("Hana HQ invited you to Downtown on Rally"),
        "{}",
        mail.subject
    );
    let at = mail.html.find("/invitations/accept?token=").unwrap();
    let token_end = mail.html[at..].find('"').unwrap();
    let invite_token =
        mail.html[at + "/invitations/accept?token=".len()..at + token_end].to_string();
    let max = client();
    let res = app
        .post_as(
            &max,
            "/invitations/accept",
            &[
                ("token", &invite_token),
                ("name", "Max Manager"),
                ("password", "manager password 1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE u.email = 'max@franchise.test' AND m.organization_id = {downtown} AND m.role = 'manager'"
        ))
        .await,
        1
    );
    // Invites only into HQ's own locations.
    let res = app
        .post_as(
            &hq,
            "/people/invite",
            &[
                ("_csrf", &token),
                ("email", "x@franchise.test"),
                ("role", "member"),
                ("location", "999999"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);

    // Each adds a prospect: the location's is HQ's to see, not the reverse.
    let max_token = app.csrf_as(&max, "/prospects").await;
    let res = app
        .post_as(
            &max,
            "/prospects",
            &[
                ("_csrf", &max_token),
                ("name", "Dee Local"),
                ("email", "dee@local.test"),
            ],
        )
        .await;
    let dee = location_of(&res);
    let res = app
        .post_as(
            &hq,
            "/prospects",
            &[
                ("_csrf", &token),
                ("name", "Hal Head"),
                ("email", "hal@hq.test"),
            ],
        )
        .await;
    let hal = location_of(&res);
    let hq_list = hq
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(hq_list.contains("dee@local.test") && hq_list.contains("hal@hq.test"));
    let max_list = max
        .get(app.url("/prospects"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(max_list.contains("dee@local.test") && !max_list.contains("hal@hq.test"));
    assert_eq!(max.get(app.url(&hal)).send().await.unwrap().status(), 404);
    let detail = hq
        .get(app.url(&dee))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("Downtown"), "{detail}");

    // HQ moves the location's prospect along; the roll-up follows.
    let res = app
        .post_as(
            &hq,
            &format!("{dee}/edit"),
            &[("_csrf", &token), ("name", "Dee Local"), ("stage", "hot")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let rollup = hq
        .get(app.url("/locations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rollup.contains("Downtown") && rollup.contains("Uptown"),
        "{rollup}"
    );
    let row = &rollup[rollup.find("Downtown").unwrap()..];
    assert!(
        row.starts_with("Downtown</a></td><td>1</td><td>1</td><td>1</td><td>0</td>"),
        "{row}"
    );
    assert_eq!(
        max.get(app.url("/locations"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "not an HQ"
    );
    app.sign_in().await;
    assert_eq!(
        app.get("/locations").await.status(),
        404,
        "a direct-sales company has none"
    );

    // HQ publishes a form as a template; Downtown copies and customises it.
    let res = app
        .post_as(
            &hq,
            "/forms",
            &[
                ("_csrf", &token),
                ("title", "Spring Promo"),
                ("intro", "Win a year of coffee"),
            ],
        )
        .await;
    let template_edit = location_of(&res);
    let template_id: i64 = template_edit.split('/').nth(2).unwrap().parse().unwrap();
    let res = app
        .post_as(&hq, "/forms", &[("_csrf", &token), ("title", "HQ Only")])
        .await;
    let private_id: i64 = location_of(&res)
        .split('/')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let res = app
        .post_as(
            &hq,
            &format!("/forms/{template_id}/template"),
            &[("_csrf", &token), ("publish", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let forms = max
        .get(app.url("/forms"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        forms.contains("Templates from your HQ")
            && forms.contains("Spring Promo")
            && !forms.contains("HQ Only"),
        "{forms}"
    );
    assert_eq!(
        app.post_as(
            &max,
            &format!("/forms/templates/{private_id}/copy"),
            &[("_csrf", &max_token)]
        )
        .await
        .status(),
        404,
        "only published templates"
    );
    let res = app
        .post_as(
            &max,
            &format!("/forms/templates/{template_id}/copy"),
            &[("_csrf", &max_token)],
        )
        .await;
    let copy_edit = location_of(&res);
    let res = app
        .post_as(
            &max,
            &copy_edit,
            &[
                ("_csrf", &max_token),
                ("title", "Spring Promo Downtown"),
                ("intro", "Win a year of coffee downtown"),
                ("thank_you", ""),
            ],
        )
        .await;
    assert_eq!(location_of(&res), "/forms");
    let slug: String = rally::on_pool!(&app.pool, p => sqlx::query_scalar(
        "SELECT slug FROM forms WHERE title = 'Spring Promo Downtown' AND template_id IS NOT NULL",
    )
    .fetch_one(p)
    .await
    .unwrap());
    let public = client()
        .get(app.url(&format!("/f/{slug}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        public.contains("Spring Promo Downtown") && public.contains("downtown"),
        "{public}"
    );
    // The copy is Downtown's: HQ's editor does not open it.
    assert_eq!(
        hq.get(app.url(&copy_edit)).send().await.unwrap().status(),
        404
    );
}
