//! Bad input on every route, on SQLite and on Postgres alike: a NUL byte
//! (or another control character) in any field, path segment or query
//! parameter, invalid UTF-8 and broken `%` escapes in form bodies and
//! queries, over-long fields and a chunked body with no declared length.
//! None may answer 500; each kind gets its precise 4xx where the edge
//! (`http::input`) or the field rules (`domain::fields`) refuse it; and a
//! public submission is never acknowledged and then lost.
//!
//! A control character in what a person types (a form field's value, the
//! search box) is cleaned, not refused (`domain::fields::clean`): those
//! cases must not answer 500, and the database never sees a NUL (Postgres
//! would refuse it). In a path, a field's name or a query parameter nobody
//! types, it is still refused.
//!
//! Routes come from `rally::app::routes::route_paths()`, so a route added later
//! is walked without editing this test; a route with a new kind of id
//! fails here until the walk has an object of that kind below.

use crate::helpers::{TestApp, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(|s| {
        // The walk signs in again before each route and sends many
        // requests from one address: throttles are not what is tested.
        s.signin_per_account_per_min = 100_000;
        s.signin_per_ip_per_min = 100_000;
        s.rate_ip_per_sec = 100_000;
        s.rate_ip_burst = 100_000;
    })
    .await
}

/// Field names any of Rally's forms take, so that every route sees each
/// of its own fields among them.
const FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "company",
    "interest",
    "consent",
    "website",
    "note",
    "stage",
    "owner",
    "tags",
    "role",
    "password",
    "organization",
    "kind",
    "title",
    "intro",
    "thank_you",
    "slug",
    "form_id",
    "starts_at",
    "show_names",
    "organization_id",
    "location_id",
    "user_id",
    "queue",
    "id",
    "token",
    "q",
    "page",
    "confirm",
    "location",
    "publish",
    "form",
    "done",
    "sent",
    "signed_out",
    "welcome",
    "send_back",
    "due",
    "for",
    "back",
    "time_zone",
    "organization_time_zone",
    "organization_currency",
    "notify_assigned",
    "notify_summary",
    "action",
    "all",
    "filter",
    "query",
    "shared",
    "expect",
    "sort",
    "cursor",
    "other",
    "merge",
    "op",
    "field",
    "label",
    "help",
    "required",
    "options",
    "accent",
    "remove_logo",
    "redirect_url",
    "current_password",
    "new_password",
    "confirm_password",
    "new_email",
];

/// A plausible value for each field (the walk then spoils one at a time).
fn plausible(field: &str, ids: &Ids) -> String {
    match field {
        "name" => "Walk Person".into(),
        "email" => "walk@example.com".into(),
        "phone" => "+1 555 0100".into(),
        "company" => "Walk Co".into(),
        "stage" => "contacted".into(),
        "tags" => "walk, bad input".into(),
        "role" => "member".into(),
        "password" => "a walk password 123".into(),
        // Not the demo owner's password: the settings refuse, nothing changes.
        "current_password" => "a walk password 123".into(),
        "new_password" | "confirm_password" => "another walk password 4".into(),
        "new_email" => "walk-new@example.com".into(),
        "organization" => "Walk Org".into(),
        "kind" => "business".into(),
        "slug" => "walk-form".into(),
        "form_id" => ids.form.to_string(),
        "organization_id" => ids.organization.to_string(),
        // Not the member: ownership must stay with the walking owner.
        "user_id" => "0".into(),
        "queue" => "rally.form_submission".into(),
        "id" => "1".into(),
        "website" | "owner" | "starts_at" => String::new(),
        "due" => "2026-06-15T09:30".into(),
        "for" => "hour".into(),
        "time_zone" => "Europe/Paris".into(),
        "organization_time_zone" => "Pacific/Auckland".into(),
        "organization_currency" => "EUR".into(),
        "notify_assigned" | "notify_summary" => "on".into(),
        // Bulk actions change a stage (never delete); filters as the list writes them.
        "action" => "stage".into(),
        "filter" | "query" => "stage=new&sort=name".into(),
        "back" => "/pipeline".into(),
        "all" | "shared" => "yes".into(),
        "sort" => "activity".into(),
        "cursor" => String::new(),
        // The form builder adds a field (its kind is "business" above:
        // refused, the page again); branding as the page sends it.
        "op" => "add".into(),
        "label" => "Walk question".into(),
        "options" => "One\nTwo".into(),
        "accent" => "#2f5bea".into(),
        "redirect_url" => "https://example.com/next".into(),
        "remove_logo" => String::new(),
        _ => "walk".into(),
    }
}

/// The organization's own objects, one per kind of id in a path.
struct Ids {
    organization: i64,
    form: i64,
    prospect: i64,
    event: i64,
    member: i64,
    invitation: i64,
    import: i64,
    held: i64,
    kept: i64,
    task: i64,
    view: i64,
    trashed: i64,
}

impl Ids {
    fn for_path(&self, pattern: &str, param: &str) -> String {
        let id = match param {
            ":slug" => return "demo".into(),
            ":name" => {
                return rally::platform::ui::css_path()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .into();
            }
            _ if pattern.starts_with("/forms/") => self.form,
            _ if pattern.starts_with("/locations/") => self.organization,
            _ if pattern.starts_with("/prospects/import/") => self.import,
            _ if pattern.starts_with("/prospects/views/") => self.view,
            _ if pattern.starts_with("/prospects/trash/") => self.trashed,
            _ if pattern.starts_with("/prospects/") => self.prospect,
            _ if pattern.starts_with("/events/") => self.event,
            _ if pattern.starts_with("/people/invitations/") => self.invitation,
            _ if pattern.starts_with("/people/") => self.member,
            _ if pattern.starts_with("/held/") => self.held,
            _ if pattern.starts_with("/jobs/kept/") => self.kept,
            _ if pattern.starts_with("/tasks/") => self.task,
            _ => panic!("{pattern}: no object for {param}; add one to this test"),
        };
        id.to_string()
    }
}

async fn own_objects(app: &TestApp) -> Ids {
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        for sql in [
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ('walk-member@example.com', 'Walk Member', 'x', $1)",
            "INSERT INTO memberships (user_id, organization_id, role, created_at)
             SELECT u.id, o.id, 'member', $1 FROM users u, organizations o WHERE u.email = 'walk-member@example.com' AND o.slug = 'demo'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, 'walked@example.com', 'Walked Prospect', 'import', $1, $1 FROM organizations WHERE slug = 'demo'",
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, deleted_at)
             SELECT id, 'walk-trashed@example.com', 'Walk Trashed', 'import', $1, $1, $1 FROM organizations WHERE slug = 'demo'",
            "INSERT INTO events (organization_id, form_id, name, starts_at, created_at)
             SELECT organization_id, id, 'Walk Night', $1, $1 FROM forms WHERE slug = 'demo'",
            "INSERT INTO prospect_imports (organization_id, user_id, filename, content, created_at)
             SELECT o.id, u.id, 'walk.csv', 'email,name\nwalk-import@example.com,Walk Import\n', $1
             FROM organizations o, users u WHERE o.slug = 'demo' AND u.email = 'owner@demo.rally.test'",
            "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
             SELECT o.id, 'walk-invited@example.com', 'member', 'walk-token-hash', u.id, $1, $1 + 86400000
             FROM organizations o, users u WHERE o.slug = 'demo' AND u.email = 'owner@demo.rally.test'",
            "INSERT INTO held_submissions (organization_id, form_id, submission_key, reason, answers, submitted_at)
             SELECT organization_id, id, 'walk-held-key', 'too_fast',
                    '{\"name\":\"Walk Held\",\"email\":\"walk-held@example.com\",\"phone\":null,\"company\":null,\"interest\":null,\"consent\":false}', $1
             FROM forms WHERE slug = 'demo'",
            "INSERT INTO kept_submissions (organization_id, submission_key, payload, error, kept_at)
             SELECT organization_id, 'walk-kept', '{\"form_id\":' || id || ',\"submission_key\":\"walk-kept\",\"answers\":{\"name\":\"Walk Kept\",\"email\":\"walk-kept@example.com\",\"consent\":false},\"submitted_at\":1}', 'set aside', $1
             FROM forms WHERE slug = 'demo'",
            "INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
             SELECT p.organization_id, p.id, u.id, 'call', 'walk task', $1, $1
             FROM prospects p, users u WHERE p.email = 'walked@example.com' AND u.email = 'owner@demo.rally.test'",
            "INSERT INTO saved_views (organization_id, user_id, name, query, shared, created_at)
             SELECT o.id, u.id, 'Walk view', 'stage=hot', FALSE, $1
             FROM organizations o, users u WHERE o.slug = 'demo' AND u.email = 'owner@demo.rally.test'",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(now).execute(p).await.unwrap();
        }
    });
    Ids {
        organization: app
            .count("SELECT id FROM organizations WHERE slug = 'demo'")
            .await,
        form: app.count("SELECT id FROM forms WHERE slug = 'demo'").await,
        prospect: app
            .count("SELECT id FROM prospects WHERE email = 'walked@example.com'")
            .await,
        trashed: app
            .count("SELECT id FROM prospects WHERE email = 'walk-trashed@example.com'")
            .await,
        event: app
            .count("SELECT id FROM events WHERE name = 'Walk Night'")
            .await,
        member: app
            .count("SELECT id FROM users WHERE email = 'walk-member@example.com'")
            .await,
        invitation: app
            .count("SELECT id FROM invitations WHERE email = 'walk-invited@example.com'")
            .await,
        import: app
            .count("SELECT id FROM prospect_imports WHERE filename = 'walk.csv'")
            .await,
        held: app
            .count("SELECT id FROM held_submissions WHERE submission_key = 'walk-held-key'")
            .await,
        kept: app
            .count("SELECT id FROM kept_submissions WHERE submission_key = 'walk-kept'")
            .await,
        task: app
            .count("SELECT id FROM tasks WHERE note = 'walk task'")
            .await,
        view: app
            .count("SELECT id FROM saved_views WHERE name = 'Walk view'")
            .await,
    }
}

/// `application/x-www-form-urlencoded` from pairs of raw bytes: each byte
/// outside the unreserved set is %-escaped, so a NUL travels as `%00`.
fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One request of the walk and what it must answer.
struct Case {
    what: String,
    body: reqwest::Body,
    /// The status it must answer, when the rule is exact; otherwise only
    /// "not 500".
    expect: Option<u16>,
}

fn case(what: impl Into<String>, body: impl Into<reqwest::Body>, expect: Option<u16>) -> Case {
    Case {
        what: what.into(),
        body: body.into(),
        expect,
    }
}

/// The public form's submission handles its own body (past the edge): its
/// fields get the field rules, so a NUL in a prospect's field is cleaned
/// (the submission taken, or the form back for what else is wrong), and
/// in a field it does not read, nothing.
const PUBLIC_SUBMIT: &str = "/f/:slug";

async fn post_cases(app: &TestApp, pattern: &str, csrf: &str, ids: &Ids) -> Vec<Case> {
    let public = pattern == PUBLIC_SUBMIT;
    let mut base: Vec<(String, String)> = vec![("_csrf".into(), csrf.into())];
    if public {
        let tokens = app.form_tokens().await;
        base.push(("_key".into(), tokens.key));
        base.push(("_ts".into(), tokens.ts));
    }
    base.extend(FIELDS.iter().map(|f| (f.to_string(), plausible(f, ids))));
    let mut cases = Vec::new();
    // A NUL, then another control character, in each field in turn.
    for (i, (field, value)) in base.iter().enumerate() {
        for bad in ['\0', '\u{1b}'] {
            let mut pairs = base.clone();
            pairs[i].1 = format!("{value}{bad}x");
            // Cleaned where a person types (any value of a signed-in
            // form, the public form's fields): only "not 500".
            let expect = match (public, field.as_str()) {
                (true, "_key") => Some(400),
                _ => None,
            };
            cases.push(case(
                format!("{} in {field}", bad.escape_unicode()),
                encode(&pairs),
                expect,
            ));
        }
    }
    // A NUL in a field's name.
    let mut pairs = base.clone();
    pairs.push(("na\0me".into(), "x".into()));
    cases.push(case(
        "NUL in a field name",
        encode(&pairs),
        (!public).then_some(422),
    ));
    // Invalid UTF-8, escaped and raw; a broken escape.
    let valid = encode(&base);
    cases.push(case(
        "escaped invalid UTF-8",
        format!("{valid}&name=%FF%FE"),
        Some(400),
    ));
    let mut raw = valid.clone().into_bytes();
    raw.extend_from_slice(b"&company=\xff\xfe\xc3");
    cases.push(case("raw invalid UTF-8", raw, Some(400)));
    cases.push(case(
        "broken escape",
        format!("{valid}&name=%zz"),
        Some(400),
    ));
    // Over-long values, one field at a time (the body stays under the limit).
    for field in [
        "name",
        "email",
        "phone",
        "company",
        "interest",
        "note",
        "tags",
        "password",
        "current_password",
        "new_password",
        "new_email",
        "organization",
        "title",
        "intro",
        "token",
        "due",
        "time_zone",
        "organization_time_zone",
        "organization_currency",
    ] {
        let mut pairs = base.clone();
        for (f, v) in pairs.iter_mut() {
            if f == field {
                *v = "é".repeat(10_000);
            }
        }
        cases.push(case(format!("over-long {field}"), encode(&pairs), None));
    }
    // A chunked body past the limit: h2's body limit answers 413; here, not
    // a 500.
    let chunk = bytes::Bytes::from(format!("{valid}&note={}", "x".repeat(64 * 1024)));
    let stream =
        futures::stream::iter((0..16).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    cases.push(case(
        "chunked 1 MiB body",
        reqwest::Body::wrap_stream(stream),
        None,
    ));
    cases
}

fn get_cases(path: &str) -> Vec<(String, String, Option<u16>)> {
    let mut cases = Vec::new();
    // A NUL or another control character in each segment of the path: it
    // can name nothing.
    let segments: Vec<&str> = path.split('/').collect();
    for i in 1..segments.len() {
        for bad in ["%00", "%1B", "%C2%85"] {
            let mut spoiled = segments.clone();
            let segment = format!("{}{bad}x", segments[i]);
            spoiled[i] = &segment;
            cases.push((
                format!("{bad} in segment {i}"),
                spoiled.join("/"),
                Some(404),
            ));
        }
    }
    let with = |query: &str| {
        if path.contains('?') {
            format!("{path}&{query}")
        } else {
            format!("{path}?{query}")
        }
    };
    // A NUL or another control character in each query parameter any
    // page reads: cleaned in what people type (the search box), refused in
    // the others.
    for name in FIELDS {
        for bad in ["%00", "%1B"] {
            let typed = rally::platform::web::input::TYPED_QUERY.contains(name);
            cases.push((
                format!("{bad} in the query's {name}"),
                with(&format!("{name}=a{bad}b")),
                (!typed).then_some(422),
            ));
        }
    }
    cases.push((
        "invalid UTF-8 in the query".into(),
        with("q=%FF%FE"),
        Some(400),
    ));
    cases.push((
        "broken escape in the query".into(),
        with("q=%zz"),
        Some(400),
    ));
    cases.push((
        "over-long query".into(),
        with(&format!(
            "q={}&page=99999999999999999999999",
            "%C3%A9".repeat(3000)
        )),
        None,
    ));
    cases
}

#[tokio::test]
async fn no_route_answers_bad_input_with_a_500() {
    let app = app().await;
    let ids = own_objects(&app).await;
    let routes = rally::app::routes::route_paths();
    assert!(routes.len() > 30, "the router lists its routes");
    let mut failures = Vec::new();
    let mut sent = 0;
    for (pattern, methods) in &routes {
        // Signed in as the owner before each route: a route walked before
        // (sign out, sign up) may have ended or changed the session.
        app.sign_in().await;
        let csrf = app.csrf_as(&app.client, "/prospects").await;
        let path: String = pattern
            .split('/')
            .map(|segment| {
                if segment.starts_with(':') {
                    ids.for_path(pattern, segment)
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            match *method {
                "get" => {
                    for (what, url, expect) in get_cases(&path) {
                        let res = app.client.get(app.url(&url)).send().await.unwrap();
                        sent += 1;
                        check(
                            &mut failures,
                            "GET",
                            &url,
                            &what,
                            res.status().as_u16(),
                            expect,
                        );
                    }
                }
                "post" => {
                    for case in post_cases(&app, pattern, &csrf, &ids).await {
                        let res = app
                            .client
                            .post(app.url(&path))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(case.body)
                            .send()
                            .await;
                        sent += 1;
                        let status = match res {
                            Ok(res) => res.status().as_u16(),
                            // A server may answer 413 and close before the
                            // whole chunked body is sent.
                            Err(err) if case.what.starts_with("chunked") => {
                                eprintln!("POST {path} {}: {err}", case.what);
                                continue;
                            }
                            Err(err) => panic!("POST {path} {}: {err}", case.what),
                        };
                        check(
                            &mut failures,
                            "POST",
                            &path,
                            &case.what,
                            status,
                            case.expect,
                        );
                    }
                    // A NUL in the path and in the query of a POST too (the
                    // search box's is cleaned).
                    for (what, url) in [
                        ("NUL in the path", format!("{path}%00")),
                        ("NUL in the query", format!("{path}?page=%00")),
                        ("NUL in the query's q", format!("{path}?q=%00")),
                    ] {
                        let res = app
                            .post_as(&app.client, &url, &[("_csrf", csrf.as_str())])
                            .await;
                        sent += 1;
                        let expect = if what.contains("path") { 404 } else { 422 };
                        // The public submission reads neither.
                        let expect = (what.contains("path")
                            || (pattern != &PUBLIC_SUBMIT && !what.ends_with("q")))
                        .then_some(expect);
                        check(
                            &mut failures,
                            "POST",
                            &url,
                            what,
                            res.status().as_u16(),
                            expect,
                        );
                    }
                }
                other => panic!("{pattern}: method {other} not walked; add it here"),
            }
        }
    }
    // A CSV file holding a NUL byte is refused, not stored; a NUL in its
    // file name is no 500 either.
    for (what, content, filename, expect) in [
        (
            "NUL in a CSV file",
            &b"email,name\nnul@example.com,Nul\0Person\n"[..],
            "nul.csv",
            Some(422),
        ),
        (
            "NUL in a file name",
            &b"email,name\nnamed@example.com,Named Person\n"[..],
            "nul\0.csv",
            None,
        ),
    ] {
        let csrf = app.csrf_as(&app.client, "/prospects/import").await;
        let form = reqwest::multipart::Form::new().text("_csrf", csrf).part(
            "file",
            reqwest::multipart::Part::bytes(content.to_vec())
                .file_name(filename)
                .mime_str("text/csv")
                .unwrap(),
        );
        let res = app
            .client
            .post(app.url("/prospects/import"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        sent += 1;
        check(
            &mut failures,
            "POST",
            "/prospects/import",
            what,
            res.status().as_u16(),
            expect,
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospect_imports WHERE content LIKE '%Nul%'")
            .await,
        0,
        "a file with a NUL is not kept"
    );

    assert!(sent > 1000, "walked only {sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing acknowledged was lost: every job that was queued ran.
    app.drain().await;
    let stats = jobs::SqlQueue::new(app.pool.queue_store(), Default::default())
        .stats()
        .await
        .unwrap();
    assert!(
        stats.iter().all(|q| q.dead == 0 && q.retrying == 0),
        "{stats:?}"
    );
}

fn check(
    failures: &mut Vec<String>,
    method: &str,
    url: &str,
    what: &str,
    status: u16,
    expect: Option<u16>,
) {
    let url: String = url.chars().take(120).collect();
    match expect {
        _ if status >= 500 => failures.push(format!("{method} {url} ({what}): {status}")),
        Some(want) if want != status => {
            failures.push(format!("{method} {url} ({what}): {status}, want {want}"))
        }
        _ => {}
    }
}

/// The faults found on Postgres, one by one, with what each must answer
/// now (and the same on SQLite). A control character in typed text is
/// cleaned (`domain::fields::clean`), so no NUL reaches a query.
#[tokio::test]
async fn nul_bytes_get_a_precise_answer_on_every_database() {
    let app = app().await;
    assert_eq!(app.get("/f/a%00b").await.status(), 404);
    // Sign-in with a NUL: cleaned, then looked up like any other attempt
    // (here a wrong password), no 500.
    let res = app
        .post_as(
            &app.client,
            "/signin",
            &[("email", "owner@demo.rally.test\0"), ("password", "x\0y")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("do not match an account"), "{page}");
    // Sign-up with a NUL in the name: the name stored without it.
    let res = app
        .post_as(
            &app.client,
            "/signup",
            &[
                ("name", "Nul\0Person"),
                ("email", "nul@example.com"),
                ("password", "a long enough password"),
                ("organization", "Nul Org"),
                ("kind", "business"),
            ],
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM users WHERE email = 'nul@example.com' AND name = 'NulPerson'"
        )
        .await,
        1
    );

    app.sign_in().await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    // Quick add and search.
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Nul\0Person"),
                ("email", "nul@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email = 'nul@example.com' AND name = 'NulPerson'"
        )
        .await,
        1
    );
    let res = app.get("/prospects?q=Nul%00Pers").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("NulPerson"));
    // Invalid UTF-8 in a signed-in form: 400 with a message.
    let res = app
        .client
        .post(app.url("/prospects"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={csrf}&name=%FF&email=a%40example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not valid UTF-8"));
    // However the media type is spelt.
    let res = app
        .client
        .post(app.url("/prospects"))
        .header(
            "content-type",
            "Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
        )
        .body(format!(
            "_csrf={csrf}&name=Nul%00Two&email=nul2%40example.com"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email = 'nul2@example.com' AND name = 'NulTwo'"
        )
        .await,
        1
    );

    // Four public submissions with a NUL in a field, then an honest one:
    // all are taken and stored, cleaned, and nothing is left retrying.
    for i in 1..=4 {
        let email = format!("nulform{i}@example.com");
        let tokens = app.form_tokens().await;
        let res = app
            .post_form(
                &tokens,
                &[("name", "Nul\0Person"), ("email", &email), ("website", "")],
                false,
            )
            .await;
        assert_eq!(res.status(), 303, "submission {i}");
    }
    for (field, value, email) in [
        ("company", "Co\u{7}", "some1@example.com"),
        ("interest", "a\0b", "some2@example.com"),
        ("phone", "+1\u{0}555 0100", "some3@example.com"),
    ] {
        let tokens = app.form_tokens().await;
        let mut fields = vec![("name", "Some One"), ("email", email)];
        fields.push((field, value));
        let res = app.post_form(&tokens, &fields, false).await;
        assert_eq!(res.status(), 303, "{field}");
    }
    assert_eq!(
        app.submit(&[
            ("name", "Honest Attendee"),
            ("email", "honest@example.com"),
            ("interest", "two\nlines")
        ])
        .await,
        303
    );
    app.drain().await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email LIKE 'nulform_@example.com' AND name = 'NulPerson'")
            .await,
        4
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email = 'some1@example.com' AND company = 'Co'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'some3@example.com' AND phone = '+1555 0100'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email IN ('some2@example.com', 'honest@example.com')")
            .await,
        2
    );
    let stats = jobs::SqlQueue::new(app.pool.queue_store(), Default::default())
        .stats()
        .await
        .unwrap();
    assert!(
        stats.iter().all(|q| q.dead == 0 && q.retrying == 0),
        "{stats:?}"
    );
    // A tab or line break in a one-line field becomes a space.
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", " Tab\tand\r\nBreak "),
                ("email", "tab@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE name = 'Tab and Break'")
            .await,
        1
    );
}

/// The list's and the board's query values that are not values: each is
/// 422 with the filter form back (naming what was wrong), never a 500;
/// on both databases (`RALLY_TEST_POSTGRES`).
#[tokio::test]
async fn bad_filter_values_are_422_with_the_form_back() {
    let app = app().await;
    app.sign_in().await;
    for page in ["/prospects", "/pipeline"] {
        for query in [
            "stage=nope",
            "stage=HOT",
            "cursor=garbage",
            "cursor=nt1.-5",
            "cursor=nt99999999999999999999999.1",
            "cursor=ns%E2%98%83.1",
            "owner=99999999999999999999999",
            "owner=-3",
            "form=1e9",
            "event=%2B%2B",
            "location=18446744073709551616",
            "created_from=2026-13-45",
            "created_to=0000-01-01",
            "active_from=99999-01-01",
            "active_to=2026-02-30",
            "sort=sideways",
            "tag=a,b,c",
        ] {
            let res = app.get(&format!("{page}?{query}")).await;
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            // The cursor only pages the list; the board ignores it.
            if page == "/pipeline" && query.starts_with("cursor") {
                assert_eq!(status, 200, "{page}?{query}");
                continue;
            }
            assert_eq!(status, 422, "{page}?{query}: {body}");
            assert!(
                body.contains("<form"),
                "{page}?{query}: the form comes back"
            );
        }
    }
    // A stage that is not one, moving a card: 422 with the board back.
    let csrf = app.csrf_as(&app.client, "/pipeline").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Card"),
                ("email", "card@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let prospect = app
        .count("SELECT id FROM prospects WHERE email = 'card@example.com'")
        .await;
    for stage in ["nope", "", "Lost"] {
        let res = app
            .post_as(
                &app.client,
                &format!("/prospects/{prospect}/stage"),
                &[
                    ("_csrf", csrf.as_str()),
                    ("stage", stage),
                    ("back", "/pipeline"),
                ],
            )
            .await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_eq!(status, 422, "{stage:?}");
        assert!(body.contains("id=\"board\"") && body.contains("Choose one of the stages"));
    }
    // A bulk action with bad values: 422, nothing changed.
    let before = app.count("SELECT COUNT(*) FROM timeline_entries").await;
    for fields in [
        vec![("action", "explode")],
        vec![("action", "stage"), ("stage", "nope"), ("all", "yes")],
        vec![
            ("action", "stage"),
            ("stage", "hot"),
            ("id", "99999999999999999999"),
        ],
        vec![
            ("action", "stage"),
            ("stage", "hot"),
            ("all", "yes"),
            ("filter", "stage=nope"),
        ],
        vec![("action", "tag"), ("tag", ""), ("all", "yes")],
        vec![("action", "assign"), ("owner", "abc"), ("all", "yes")],
    ] {
        let mut body = vec![("_csrf", csrf.as_str())];
        body.extend(fields.iter().copied());
        let res = app.post_as(&app.client, "/prospects/bulk", &body).await;
        assert_eq!(res.status(), 422, "{fields:?}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM timeline_entries").await,
        before
    );
}
