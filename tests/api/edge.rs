//! The web edge: one body limit for declared and chunked bodies alike,
//! cross-site POSTs refused (login CSRF included), and the caching and
//! transport headers.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// POSTs a chunked body (no Content-Length) of up to `total` bytes to
/// `path` over a raw connection, writing while it reads, and returns the
/// answer's status and head, and how long the answer took.
async fn chunked_post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    first: &[u8],
    total: usize,
) -> (u16, String, Duration) {
    let addr = app.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let first = first.to_vec();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        write
            .write_all(format!("{:x}\r\n", first.len()).as_bytes())
            .await?;
        write.write_all(&first).await?;
        write.write_all(b"\r\n").await?;
        let chunk = vec![b'a'; 16 * 1024];
        let mut sent = first.len();
        while sent < total {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        write.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(())
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read_head = async {
        loop {
            let n = read.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_head)
        .await
        .expect("an answer within 30 s");
    let elapsed = started.elapsed();
    writer.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text, elapsed)
}

/// The session cookie of the demo owner, for raw requests.
async fn session_cookie(app: &TestApp) -> String {
    let res = app.sign_in_request(&[]).await;
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn chunked_bodies_past_the_limit_get_413_on_every_kind_of_route() {
    let app = spawn_app().await;
    let cookie = session_cookie(&app).await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let with_session = [FORM, ("Cookie", cookie.as_str())];
    let signed_in_first = format!("_csrf={csrf}&name=Big&email=big%40example.com&note=");
    let big = 64 * 1024 * 1024;
    for (path, headers, first) in [
        ("/signin", &[FORM][..], "email=a%40b.c&password="),
        ("/signup", &[FORM][..], "name=A&email=a%40b.c&password="),
        ("/password/reset", &[FORM][..], "token=x&password="),
        ("/password/forgot", &[FORM][..], "email="),
        ("/invitations/accept", &[FORM][..], "token=x&name="),
        ("/prospects", &with_session[..], signed_in_first.as_str()),
    ] {
        let (status, head, elapsed) =
            chunked_post(&app, path, headers, first.as_bytes(), big).await;
        assert_eq!(status, 413, "{path}: {head}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{path} answered after {elapsed:?}: the body was read whole"
        );
    }
    // The import declares its larger limit: a chunked file past it too.
    let upload = [
        ("Content-Type", "multipart/form-data; boundary=XYZ"),
        ("Cookie", cookie.as_str()),
    ];
    let first = format!(
        "--XYZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\nemail,name\r\n"
    );
    let (status, head, _) = chunked_post(
        &app,
        "/prospects/import",
        &upload,
        first.as_bytes(),
        rally::app::routes::IMPORT_BODY_LIMIT + 1024 * 1024,
    )
    .await;
    assert_eq!(status, 413, "{head}");
    // Nothing was stored by any of them.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'big@example.com'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM prospect_imports").await, 0);

    // A small chunked body is read as any other.
    let (status, head, _) = chunked_post(
        &app,
        "/signin",
        &[FORM],
        format!(
            "email={}&password={}",
            app.demo.email.replace('@', "%40"),
            app.demo.password
        )
        .as_bytes(),
        0,
    )
    .await;
    assert_eq!(status, 303, "{head}");
    // And a declared length past the limit is refused before reading.
    let res = app
        .client
        .post(app.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; rally::platform::web::BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // The unread rest ends the connection, and the answer says so.
    assert_eq!(res.headers()["connection"], "close");
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_same_site_ones_pass() {
    let app = spawn_app().await;
    let own_origin = app.base.clone();
    let credentials = [
        ("email", app.demo.email.as_str()),
        ("password", app.demo.password.as_str()),
    ];
    let login = |headers: Vec<(&'static str, String)>| {
        let mut req = crate::helpers::client()
            .post(app.url("/signin"))
            .form(&credentials);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.send()
    };
    // Login CSRF: an attacker's page signing the visitor into the
    // attacker's account.
    for headers in [
        vec![("sec-fetch-site", "cross-site".to_string())],
        vec![("sec-fetch-site", "same-site".to_string())],
        vec![("origin", "https://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        vec![
            ("sec-fetch-site", "cross-site".to_string()),
            ("origin", own_origin.clone()),
        ],
    ] {
        let res = login(headers.clone()).await.unwrap();
        assert_eq!(res.status(), 403, "{headers:?}");
        assert!(res.headers().get("set-cookie").is_none(), "{headers:?}");
    }
    let res = crate::helpers::client()
        .post(app.url("/signup"))
        .header("origin", "https://evil.example")
        .form(&[
            ("name", "Eve"),
            ("email", "eve@evil.example"),
            ("password", "a long password 1"),
            ("organization", "Evil"),
            ("kind", "business"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'eve@evil.example'")
            .await,
        0
    );
    // The browser's own pages, and clients that are not browsers, pass.
    for headers in [
        vec![("sec-fetch-site", "same-origin".to_string())],
        vec![("origin", own_origin.clone())],
        vec![],
    ] {
        let res = login(headers.clone()).await.unwrap();
        assert_eq!(res.status(), 303, "{headers:?}");
    }

    // Signed-in POSTs too, even with the session's CSRF token.
    app.sign_in().await;
    let csrf = app.csrf_as(&app.client, "/prospects").await;
    let res = app
        .client
        .post(app.url("/prospects"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "Planted"),
            ("email", "planted@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE email = 'planted@example.com'")
            .await,
        0
    );

    // The public form stays open to any page that links or embeds it.
    let tokens = app.form_tokens().await;
    let res = app
        .client
        .post(app.url("/f/demo"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://partner.example")
        .form(&[
            ("_key", tokens.key.as_str()),
            ("_ts", tokens.ts.as_str()),
            ("name", "Ana Lima"),
            ("email", "ana@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn signed_in_pages_exports_and_the_mailbox_are_not_stored() {
    let app = spawn_app().await;
    app.sign_in().await;
    for path in [
        "/prospects",
        "/prospects/export.csv",
        "/dev/mailbox",
        "/account",
        "/people",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
        // Not production: no HSTS on a laptop's plain http.
        assert!(res.headers().get("strict-transport-security").is_none());
    }
    // Versioned assets keep their long cache.
    let page = app.page("/prospects").await;
    let at = page.find("/assets/").expect("an asset link");
    let end = at + page[at..].find('"').unwrap();
    let res = app.get(&page[at..end]).await;
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
}

#[tokio::test]
async fn production_answers_carry_hsts() {
    let app = spawn_app_with(|s| s.production = true).await;
    for path in ["/signin", "/f/demo", "/nowhere"] {
        let res = app.get(path).await;
        let hsts = res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(hsts.contains("max-age=31536000"), "{path}: {hsts}");
    }
}

/// With `RALLY_PUBLIC_URL` the one origin of Rally's pages is that URL:
/// the same host over another scheme (or port) is another site.
#[tokio::test]
async fn the_public_url_is_the_one_origin_scheme_and_port_included() {
    let app = spawn_app_with(|s| s.public_url = Some("https://rally.example".into())).await;
    let sign_in = |origin: &'static str| {
        crate::helpers::client()
            .post(app.url("/signin"))
            .header("origin", origin)
            .form(&[
                ("email", app.demo.email.as_str()),
                ("password", app.demo.password.as_str()),
            ])
            .send()
    };
    for other in [
        "http://rally.example",
        "https://rally.example:8443",
        "https://evil.rally.example",
    ] {
        let res = sign_in(other).await.unwrap();
        assert_eq!(res.status(), 403, "{other}");
        assert!(res.headers().get("set-cookie").is_none(), "{other}");
    }
    let res = sign_in("https://rally.example").await.unwrap();
    assert_eq!(res.status(), 303);
}
