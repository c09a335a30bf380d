//! CSV import: a preview of exactly what will happen, nothing written
//! before the confirmation, merges that fill blanks and never erase.

use crate::{
    helpers::{ANA, TestApp, hidden, spawn_app},
    people::join,
};

/// The inputs of issue #12 (`shared/cases/trust/`), byte for byte.
mod case {
    pub const RESULT_COUNTS: &str = include_str!("../fixtures/import/import_result_counts.csv");
    pub const DUP_FIRST_NAMELESS: &str =
        include_str!("../fixtures/import/import_dup_first_nameless.csv");
    pub const SEMICOLON: &str = include_str!("../fixtures/import/import_semicolon.csv");
    pub const OUTLOOK_HEADERS: &str = include_str!("../fixtures/import/import_outlook_headers.csv");
    pub const PHONE_EXT: &str = include_str!("../fixtures/import/import_phone_ext.csv");
    pub const QUOTED_NEWLINE: &str = include_str!("../fixtures/import/import_quoted_newline.csv");
    pub const LONG_NAME_ROUNDTRIP: &str =
        include_str!("../fixtures/import/import_long_name_roundtrip.csv");
}

async fn upload(app: &TestApp, who: &reqwest::Client, name: &str, csv: &str) -> reqwest::Response {
    let csrf = app.csrf_as(who, "/prospects/import").await;
    let form = reqwest::multipart::Form::new().text("_csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
            .file_name(name.to_string())
            .mime_str("text/csv")
            .unwrap(),
    );
    who.post(app.url("/prospects/import"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

const LIST: &str = "Name,Email,Company,Phone,Tags\n\
Ana L.,ana@example.com,Other Co,,expo\n\
Bo Berg,bo@example.com,Berg AB,+46 70 123 45 67,\"expo, nordics\"\n\
Bo B,BO@example.com,,,\n\
Bad Row,not-an-email,,,\n\
,nameless@example.com,,,\n";

#[tokio::test]
async fn preview_then_confirm_merges_and_adds() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;

    let res = upload(&app, &app.client, "bad.csv", "name,phone\nAna,1\n").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("no email column"));

    let res = upload(&app, &app.client, "expo.csv", LIST).await;
    assert_eq!(res.status(), 303);
    let preview_url = res.headers()["location"].to_str().unwrap().to_string();
    let preview = app.page(&preview_url).await;
    assert!(
        preview.contains("<strong>1</strong> new prospect,")
            && preview.contains("<strong>2</strong> merged")
            && preview.contains("<strong>2</strong> left out"),
        "{preview}"
    );
    assert!(preview.contains("merge into Ana Lima"), "{preview}");
    assert!(preview.contains("same email as line 3"), "{preview}");
    assert!(preview.contains("a new prospect needs a name"), "{preview}");
    // Nothing is written by the preview.
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);

    let csrf = hidden(&preview, "_csrf");
    let confirm = format!("{preview_url}/confirm");
    for _ in 0..2 {
        // A second click changes nothing.
        let res = app
            .post_as(&app.client, &confirm, &[("_csrf", csrf.as_str())])
            .await;
        assert_eq!(res.status(), 303);
    }
    assert!(app.page(&preview_url).await.contains("Imported"));
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);
    // Ana keeps her name and company; the import's tag is added.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'ana@example.com' AND name = 'Ana Lima' AND company = 'Lima & Co'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospect_tags t JOIN prospects p ON p.id = t.prospect_id
             WHERE p.email = 'ana@example.com' AND t.tag = 'expo'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'bo@example.com' AND company = 'Berg AB' AND phone = '+46 70 123 45 67'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM timeline_entries WHERE kind = 'imported'")
            .await,
        3,
        "Ana, Bo and Bo's repeat"
    );
}

#[tokio::test]
async fn a_member_imports_their_own_list_and_leaves_others_alone() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let (rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let res = upload(
        &app,
        &rep,
        "mine.csv",
        "email,name\nana@example.com,Ana\nnew@example.com,Newbie\n",
    )
    .await;
    let preview_url = res.headers()["location"].to_str().unwrap().to_string();
    let preview = rep
        .get(app.url(&preview_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(preview.contains("already someone else"), "{preview}");
    // Another person's import is not found.
    assert_eq!(app.get(&preview_url).await.status(), 404);
    let csrf = hidden(&preview, "_csrf");
    app.post_as(
        &rep,
        &format!("{preview_url}/confirm"),
        &[("_csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE email = 'new@example.com' AND owner_user_id = {rep_id}"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'ana@example.com' AND owner_user_id IS NULL").await,
        1
    );
}

/// Uploads `csv` as the app's signed-in client: the preview's address and page.
async fn preview_of(app: &TestApp, name: &str, csv: &str) -> (String, String) {
    let res = upload(app, &app.client, name, csv).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let url = res.headers()["location"].to_str().unwrap().to_string();
    let page = app.page(&url).await;
    (url, page)
}

/// Confirms the preview `page` at `url`: the result page.
async fn confirm(app: &TestApp, url: &str, page: &str) -> String {
    let res = app
        .post_as(
            &app.client,
            &format!("{url}/confirm"),
            &[
                ("_csrf", hidden(page, "_csrf").as_str()),
                ("plan", hidden(page, "plan").as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    app.page(url).await
}

/// The preview's counts: (new, merged, left out).
fn promised(preview: &str) -> (i64, i64, i64) {
    let number = |after: &str| -> i64 {
        let end = preview
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {preview}"));
        let start = preview[..end].rfind("<strong>").unwrap() + "<strong>".len();
        preview[start..end]
            .trim_end_matches("</strong>")
            .parse()
            .unwrap()
    };
    (
        number("</strong> new prospect"),
        number("</strong> merged"),
        number("</strong> left out"),
    )
}

/// Uploads, previews and confirms `csv`; asserts that the prospects written
/// and the result page are what the preview promised. The preview and result.
async fn import_as_promised(app: &TestApp, name: &str, csv: &str) -> (String, String) {
    let (url, preview) = preview_of(app, name, csv).await;
    let (new, merged, left_out) = promised(&preview);
    let before = app.count("SELECT COUNT(*) FROM prospects").await;
    let entries = app
        .count("SELECT COUNT(*) FROM timeline_entries WHERE kind = 'imported'")
        .await;
    let result = confirm(app, &url, &preview).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects").await - before,
        new,
        "the new prospects promised: {preview}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM timeline_entries WHERE kind = 'imported'")
            .await
            - entries,
        new + merged,
        "every row promised, new or merged, is written: {preview}"
    );
    assert!(
        result.contains(&format!(
            ": {new} new, {merged} merged, {left_out} left out."
        )),
        "the result page shows what was applied ({new}, {merged}, {left_out}): {result}"
    );
    (preview, result)
}

#[tokio::test]
async fn the_result_page_shows_what_was_applied() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (url, preview) = preview_of(&app, "counts.csv", case::RESULT_COUNTS).await;
    assert_eq!(promised(&preview), (2, 0, 0), "{preview}");
    let result = confirm(&app, &url, &preview).await;
    // Both are stored now, so planning the file again would say "merged".
    assert!(
        result.contains(": 2 new, 0 merged, 0 left out."),
        "{result}"
    );
    assert_eq!(result.matches("<td>new</td>").count(), 2, "{result}");
    assert!(!result.contains("merge into"), "{result}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);
}

#[tokio::test]
async fn rows_with_one_email_are_planned_as_they_are_written() {
    let app = spawn_app().await;
    app.sign_in().await;
    // A nameless row, then the same email with a name: the named row
    // creates the person, the nameless one is combined with it.
    let (preview, _) = import_as_promised(&app, "dup.csv", case::DUP_FIRST_NAMELESS).await;
    assert_eq!(promised(&preview), (1, 1, 0), "{preview}");
    assert!(preview.contains("same email as line 3"), "{preview}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'dup.person@example.com' AND name = 'Dupe Person'")
            .await,
        1
    );
    // Values of later rows fill the blanks of the first; tags add up.
    let (preview, _) = import_as_promised(
        &app,
        "fill.csv",
        "email,name,company,phone,tags\n\
         fill@example.com,Fill First,,,a\n\
         FILL@example.com,Fill Second,Fill Co,,b\n\
         fill@example.com,,Other Co,+1 555 010 3333,\n\
         nameless@example.com,,,,\n\
         nameless@example.com,,Nobody Co,,\n",
    )
    .await;
    assert_eq!(promised(&preview), (1, 2, 2), "{preview}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'fill@example.com' AND name = 'Fill First' AND company = 'Fill Co' AND phone = '+1 555 010 3333'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospect_tags t JOIN prospects p ON p.id = t.prospect_id WHERE p.email = 'fill@example.com'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_preview_made_stale_writes_nothing_and_is_shown_again() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (url, preview) = preview_of(
        &app,
        "stale.csv",
        "email,name\nana@example.com,Ana From File\nnew@example.com,New Person\n",
    )
    .await;
    assert_eq!(promised(&preview), (2, 0, 0));
    // Ana signs up on the form between the preview and the confirmation.
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let res = app
        .post_as(
            &app.client,
            &format!("{url}/confirm"),
            &[
                ("_csrf", hidden(&preview, "_csrf").as_str()),
                ("plan", hidden(&preview, "plan").as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 409);
    let again = res.text().await.unwrap();
    assert!(again.contains("nothing was imported"), "{again}");
    assert_eq!(promised(&again), (1, 1, 0), "{again}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    // Confirmed as now previewed: written as previewed.
    let result = confirm(&app, &url, &again).await;
    assert!(result.contains("1 new, 1 merged, 0 left out"), "{result}");
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 2);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE email = 'ana@example.com' AND name = 'Ana Lima'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn semicolon_and_tab_separated_files_are_read() {
    let app = spawn_app().await;
    app.sign_in().await;
    // Semicolons, a byte-order mark and CRLF line ends (Excel in Europe).
    let (preview, _) = import_as_promised(&app, "semi.csv", case::SEMICOLON).await;
    assert_eq!(promised(&preview), (2, 0, 0), "{preview}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'semi.colon@example.com' AND name = 'Semi Colon' AND company = 'Müller GmbH' AND phone = '+49 30 1234567'")
            .await,
        1
    );
    let (preview, _) = import_as_promised(
        &app,
        "tabs.tsv",
        "Name\tEmail\tCompany\nTab One\ttab.one@example.com\tTabs, Inc.\n",
    )
    .await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'tab.one@example.com' AND company = 'Tabs, Inc.'")
            .await,
        1
    );
    // Excel's own "sep=" line.
    let (preview, _) = import_as_promised(
        &app,
        "sep.csv",
        "sep=;\r\nE-Mail;Name\r\nsep.line@example.com;Sep Line\r\n",
    )
    .await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
}

#[tokio::test]
async fn headers_of_outlook_and_google_exports_are_recognised() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (preview, _) = import_as_promised(&app, "outlook.csv", case::OUTLOOK_HEADERS).await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
    // The preview says how each column is read.
    assert!(
        preview.contains("“E-mail Address” as email")
            && preview.contains("“First Name” as first name")
            && preview.contains("“Mobile Phone” as phone"),
        "{preview}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'ola.outlook@example.com' AND name = 'Ola Outlook Nordmann' AND company = 'Fjord AS' AND phone = '+47 912 34 567'")
            .await,
        1
    );
    let google = "First Name,Middle Name,Last Name,Nickname,E-mail 1 - Label,E-mail 1 - Value,\
                  Phone 1 - Label,Phone 1 - Value,Organization Name,Labels\n\
                  Gil,,Google,,* Home,gil.google@example.com ::: gil@work.example,Mobile,\
                  +1 555 010 2222,Goo Inc,* myContacts ::: Expo\n";
    let (preview, _) = import_as_promised(&app, "contacts.csv", google).await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
    assert!(
        preview.contains("Not imported: “Nickname”, “E-mail 1 - Label”, “Phone 1 - Label”."),
        "{preview}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'gil.google@example.com' AND name = 'Gil Google' AND company = 'Goo Inc' AND phone = '+1 555 010 2222'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_file_without_an_email_column_is_refused_naming_the_headers_seen() {
    let app = spawn_app().await;
    app.sign_in().await;
    let res = upload(
        &app,
        &app.client,
        "es.csv",
        "Nombre;Correo\nAna;ana@example.com\n",
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("no email column") && page.contains("“Nombre”") && page.contains("“Correo”"),
        "{page}"
    );
}

#[tokio::test]
async fn a_file_with_nul_characters_is_refused_with_a_message() {
    let app = spawn_app().await;
    app.sign_in().await;
    let res = upload(
        &app,
        &app.client,
        "nul.csv",
        "email,name\nnul@example.com,Nul\0Name\n",
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("NUL"));
    assert_eq!(app.count("SELECT COUNT(*) FROM prospect_imports").await, 0);
}

#[tokio::test]
async fn a_phone_that_is_not_one_never_costs_the_person() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (preview, _) = import_as_promised(&app, "ext.csv", case::PHONE_EXT).await;
    assert_eq!(promised(&preview), (2, 0, 0), "{preview}");
    for (email, typed) in [
        ("ext.person@example.com", "+1 555-010-1234 ext. 12"),
        ("slash.person@example.com", "030/1234567"),
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM prospects WHERE email = '{email}'"
            ))
            .await,
            1,
            "{email} imported: {preview}"
        );
        // Kept as typed: an extension and a slash are a phone's.
        let kept = app
            .count(&format!(
                "SELECT COUNT(*) FROM prospects WHERE email = '{email}' AND phone = '{typed}'"
            ))
            .await;
        assert_eq!(kept, 1, "{email}: {preview}");
    }
    assert!(!preview.contains("not imported"), "{preview}");
    // A phone that no rule would take is dropped with a warning.
    let (preview, result) = import_as_promised(
        &app,
        "junk.csv",
        "name,email,phone\nJunk Phone,junk.phone@example.com,ask at the desk\n",
    )
    .await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
    // In plain words: the phone, not the row, is left out.
    assert!(
        preview.contains("phone not imported: “ask at the desk”"),
        "{preview}"
    );
    assert!(
        result.contains("phone not imported: “ask at the desk”"),
        "{result}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'junk.phone@example.com' AND phone IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn a_bad_row_is_reported_at_its_line_in_the_file_with_its_value() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (_, preview) = preview_of(&app, "newline.csv", case::QUOTED_NEWLINE).await;
    // Line 4 of the file: the quoted company of the row before spans two.
    assert!(
        preview.contains("<td>4</td><td>Bad Row</td><td>not-an-email</td>"),
        "{preview}"
    );
    assert!(preview.contains("email “not-an-email”"), "{preview}");
    assert!(
        preview.contains("<td>2</td><td>Nora Line</td>"),
        "{preview}"
    );
}

#[tokio::test]
async fn a_name_the_form_took_can_be_imported_again() {
    let app = spawn_app().await;
    app.sign_in().await;
    // The export of a prospect whose 147-character name came by the form.
    let (preview, _) = import_as_promised(&app, "export.csv", case::LONG_NAME_ROUNDTRIP).await;
    assert_eq!(promised(&preview), (1, 0, 0), "{preview}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'long.name@example.com' AND LENGTH(name) = 147")
            .await,
        1
    );
    // And the whole round trip: form → export → import merges, leaves none out.
    let name = format!("Maria {}Lopez", "Antonia ".repeat(17));
    assert_eq!(name.chars().count(), 147);
    let mut fields: Vec<(&str, &str)> = ANA.to_vec();
    fields[0] = ("name", name.as_str());
    fields[1] = ("email", "round.trip@example.com");
    assert_eq!(app.submit(&fields).await, 303);
    app.drain().await;
    let export = app.get("/prospects/export.csv").await;
    assert_eq!(export.status(), 200);
    let export = export.text().await.unwrap();
    assert!(export.contains("round.trip@example.com"), "{export}");
    let (preview, _) = import_as_promised(&app, "export.csv", &export).await;
    let (new, merged, left_out) = promised(&preview);
    assert_eq!((new, left_out), (0, 0), "{preview}");
    assert!(merged >= 2, "{preview}");
    assert!(preview.contains(&format!("merge into {name}")), "{preview}");
}

#[tokio::test]
async fn a_prospect_added_between_planning_and_writing_is_merged_into_and_said_so() {
    let app = spawn_app().await;
    let organization_id = app
        .count("SELECT organization_id FROM forms WHERE slug = 'demo'")
        .await;
    let rows = rally::prospects::import::parse(
        "email,name,company,tags\nana@example.com,Ana From File,File Co,expo\n",
    )
    .unwrap();
    let scope = rally::platform::db::Scope::organization(organization_id);
    let plan = rally::prospects::import::plan(&app.pool, scope, rows)
        .await
        .unwrap();
    assert_eq!(plan.new_count(), 1);
    // Ana submits the form after the plan was made, before it is written.
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let mut tx = app.pool.begin_write().await.unwrap();
    let outcome =
        rally::prospects::import::apply(&mut tx, organization_id, None, &plan, "import:race.csv")
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (
            outcome.new_count(),
            outcome.merge_count(),
            outcome.skip_count()
        ),
        (0, 1, 0),
        "{outcome:?}"
    );
    // Merged: her own values kept, the file's tag added, one prospect.
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM prospects WHERE name = 'Ana Lima' AND company = 'Lima & Co'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospect_tags WHERE tag = 'expo'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_long_file_still_shows_every_row_left_out() {
    let app = spawn_app().await;
    app.sign_in().await;
    let mut csv = String::from("name,email,phone\n");
    for i in 0..700 {
        csv.push_str(&format!("Person {i},person{i}@example.com,\n"));
    }
    csv.push_str("Late Bad,late-bad-email,\nLate Phone,late.phone@example.com,no phone\n");
    let (_, preview) = preview_of(&app, "long.csv", &csv).await;
    assert_eq!(promised(&preview), (701, 0, 1));
    assert!(
        preview.contains("<td>702</td><td>Late Bad</td><td>late-bad-email</td>"),
        "{preview}"
    );
    assert!(
        preview.contains("phone not imported: “no phone”"),
        "{preview}"
    );
    assert!(!preview.contains("person600@example.com"), "{preview}");
}

/// Stage and owner columns: a new prospect starts at the row's stage and
/// belongs to the member the owner column names (by the email they sign in
/// with, any case); a stored one takes the stage only over `new` and the
/// owner only where it has none. An unknown stage or owner is a problem of
/// its row in the preview (422 nowhere, 500 never), and the rest imports.
#[tokio::test]
async fn stage_and_owner_columns_are_imported() {
    let app = spawn_app().await;
    app.sign_in().await;
    assert_eq!(app.submit(ANA).await, 303);
    app.drain().await;
    let (_rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let csv = "Email,Name,Stage,Owner\n\
               ana@example.com,,Hot,REP@example.com\n\
               cy@example.com,Cy New,customer,\n\
               di@example.com,Di Rep,contacted,rep@example.com\n\
               ed@example.com,Ed Bad,dreaming,\n\
               fa@example.com,Fa Who,,nobody@example.com\n\
               gu@example.com,Gu Typo,,not an email\n";
    let (url, preview) = preview_of(&app, "stages.csv", csv).await;
    assert_eq!(promised(&preview), (2, 1, 3), "{preview}");
    assert!(
        preview.contains("stage “dreaming”: not a stage"),
        "{preview}"
    );
    assert!(
        preview.contains("owner “nobody@example.com”: no member of this organization"),
        "{preview}"
    );
    assert!(
        preview.contains("owner “not an email”: not an email address"),
        "{preview}"
    );
    assert!(
        preview.contains("stage <span class=\"stage stage-customer\">Customer</span>"),
        "{preview}"
    );
    assert!(preview.contains("“Stage” as stage"), "{preview}");
    confirm(&app, &url, &preview).await;
    let row = |email: &'static str| {
        let app = &app;
        async move {
            let stage = app
                .count(&format!(
                    "SELECT CAST(CASE stage WHEN 'new' THEN 0 WHEN 'contacted' THEN 1 WHEN 'hot' THEN 3 \
                     WHEN 'customer' THEN 4 ELSE 9 END AS BIGINT) FROM prospects WHERE email = '{email}'"
                ))
                .await;
            let owner = app
                .count(&format!(
                    "SELECT COALESCE(owner_user_id, 0) FROM prospects WHERE email = '{email}'"
                ))
                .await;
            (stage, owner)
        }
    };
    assert_eq!(row("ana@example.com").await, (3, rep_id), "blanks filled");
    assert_eq!(row("cy@example.com").await, (4, 0));
    assert_eq!(row("di@example.com").await, (1, rep_id));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email IN ('ed@example.com', 'fa@example.com', 'gu@example.com')")
            .await,
        0
    );
    // Again, with another stage and owner: a stage past `new` and an owner
    // are kept (nothing erased).
    let (url, preview) = preview_of(
        &app,
        "again.csv",
        "email,stage,owner\nana@example.com,lost,owner@demo.rally.test\n",
    )
    .await;
    assert_eq!(promised(&preview), (0, 1, 0), "{preview}");
    confirm(&app, &url, &preview).await;
    assert_eq!(row("ana@example.com").await, (3, rep_id));
}

/// A member imports for themselves: their own email as the owner is
/// theirs, anyone else's is a problem of its row; rows without an owner
/// are theirs as before.
#[tokio::test]
async fn a_member_cannot_import_prospects_for_others() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (rep, rep_id) = join(&app, "rep@example.com", "member").await;
    let csv = "email,name,owner\n\
               mine@example.com,Mine,rep@example.com\n\
               theirs@example.com,Theirs,owner@demo.rally.test\n\
               plain@example.com,Plain,\n";
    let res = upload(&app, &rep, "mine.csv", csv).await;
    assert_eq!(res.status(), 303);
    let url = res.headers()["location"].to_str().unwrap().to_string();
    let preview = app.page_as(&rep, &url).await;
    assert_eq!(promised(&preview), (2, 0, 1), "{preview}");
    assert!(
        preview
            .contains("owner “owner@demo.rally.test”: you may import prospects for yourself only"),
        "{preview}"
    );
    let res = app
        .post_as(
            &rep,
            &format!("{url}/confirm"),
            &[
                ("_csrf", hidden(&preview, "_csrf").as_str()),
                ("plan", hidden(&preview, "plan").as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM prospects WHERE owner_user_id = {rep_id}
             AND email IN ('mine@example.com', 'plain@example.com')"
        ))
        .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'theirs@example.com'")
            .await,
        0
    );
}
