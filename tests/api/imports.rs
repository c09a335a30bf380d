//! CSV import: a preview of exactly what will happen, nothing written
//! before the confirmation, merges that fill blanks and never erase.

use crate::{
    helpers::{ANA, TestApp, hidden, spawn_app},
    people::join,
};

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
        preview.contains("<strong>1</strong> new prospects")
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
