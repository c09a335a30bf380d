//! Health probes, assets, export and headers.

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ready");
    app.pool.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503, "a closed database is not ready");
}

#[tokio::test]
async fn assets_are_vendored_and_cached() {
    let app = spawn_app().await;
    let page = app.get("/f/demo").await;
    assert_security_headers(&page);
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://"), "nothing from a CDN");
    for path in [
        rally::platform::ui::htmx_path(),
        rally::platform::ui::css_path(),
    ] {
        assert!(html.contains(path));
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(res.bytes().await.unwrap().len() > 1000);
    }
    // The favicon: an SVG of this origin (the CSP's `img-src 'self'`), linked
    // from every signed-in page's head.
    let icon = rally::platform::ui::favicon_path();
    app.sign_in().await;
    let html = app.page("/").await;
    assert!(
        html.contains(&format!(
            "<link rel=\"icon\" type=\"image/svg+xml\" href=\"{icon}\">"
        )),
        "{html}"
    );
    let res = app.get(icon).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().starts_with("<svg"));
    assert_eq!(app.get("/assets/nope.js").await.status(), 404);
    // Error pages carry the same security headers as every other page.
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing);
}

#[tokio::test]
async fn export_writes_csv() {
    let app = spawn_app().await;
    let tokens = app.form_tokens().await;
    app.post_form(&tokens, ANA, false).await;
    app.drain().await;
    let mut out = Vec::new();
    let n = rally::prospects::export::prospects(&app.pool, "demo", &mut out)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let csv = String::from_utf8(out).unwrap();
    // The export starts with a UTF-8 byte-order mark (for spreadsheets).
    let csv = csv.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,name,email,phone,company,source,created_at,submissions,stage,owner,owner_email,tags,notes,location,last_activity"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("1,Ana Lima,ana@example.com,+1 555 010 9999,Lima & Co,form:demo,"),
        "{row}"
    );
    // No owner, no tags, no notes, the organization's own (no location),
    // the last activity (the submission) in UTC with its offset.
    assert!(row.contains(",1,new,,,,0,,"), "{row}");
    assert!(row.ends_with("+00:00"), "{row}");
    assert!(
        rally::prospects::export::prospects(&app.pool, "nope", Vec::new())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn large_bodies_are_refused_before_they_are_read() {
    let app = spawn_app().await;
    let big = "x".repeat(70 * 1024);
    for path in ["/signin", "/signup", "/password/forgot"] {
        let res = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413, "{path}");
    }
}
