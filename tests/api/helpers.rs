//! `spawn_app()` and the small HTTP helpers the tests share.

use std::{path::Path, time::Duration};

use rally::{
    app::{App, DemoCredentials},
    platform::{
        config::{DatabaseUrl, SecretKey, Settings},
        db::Pool,
    },
};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    /// A read pool on the app's database.
    pub pool: Pool,
    pub database: DatabaseUrl,
    pub demo: DemoCredentials,
    /// A client that keeps cookies and does not follow redirects.
    pub client: reqwest::Client,
    token: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A fresh database for one test: a SQLite file in `dir` (migrated when
/// the app starts), or, when `RALLY_TEST_POSTGRES` names a server
/// (`postgres://user@host:port`), a new database on it, copied from a
/// template migrated once per test process (`bin/test` drops both kinds
/// when done).
pub async fn fresh_database(dir: &Path) -> DatabaseUrl {
    match std::env::var("RALLY_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let server = server.trim_end_matches('/');
            let template = postgres_template(server).await;
            let name = format!("rally_test_{}", uuid::Uuid::new_v4().simple());
            postgres_admin(
                server,
                &format!("CREATE DATABASE {name} TEMPLATE {template}"),
            )
            .await;
            DatabaseUrl::Postgres(format!("{server}/{name}"))
        }
        _ => DatabaseUrl::Sqlite(dir.join("rally.db")),
    }
}

/// Runs one statement on the server's `postgres` database.
async fn postgres_admin(server: &str, sql: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("RALLY_TEST_POSTGRES answers");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
}

/// A database with Rally's and the job queue's migrations applied, made
/// once per test process: copying it (`CREATE DATABASE … TEMPLATE`) is
/// much quicker than migrating a new database for every test. The app
/// still runs its migrations at start-up (they find nothing to do).
async fn postgres_template(server: &str) -> String {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("rally_test_template_{}", uuid::Uuid::new_v4().simple());
            postgres_admin(server, &format!("CREATE DATABASE {name}")).await;
            let db =
                rally::platform::db::connect(&DatabaseUrl::Postgres(format!("{server}/{name}")))
                    .await
                    .expect("the template database opens");
            rally::app::migrate(&db.write)
                .await
                .expect("the template database migrates");
            // A template must have no connections when it is copied.
            db.close().await;
            name
        })
        .await
        .clone()
}

pub fn test_settings(database: DatabaseUrl) -> Settings {
    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database = database;
    settings.secret_key =
        Some(SecretKey::new(b"test-secret-key-that-is-long-enough!!".to_vec()).unwrap());
    settings.form_min_fill = Duration::ZERO;
    settings.job_poll_interval = Duration::from_millis(20);
    settings.job_heartbeat = Duration::from_secs(1);
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(configure, true).await
}

/// The web alone: jobs wait in the queue.
pub async fn spawn_app_without_workers(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(configure, false).await
}

async fn spawn(configure: impl FnOnce(&mut Settings), workers: bool) -> TestApp {
    // Warnings and errors (a worker restarting, a failed commit) show in the
    // output of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(fresh_database(dir.path()).await);
    configure(&mut settings);
    let database = settings.database.clone();
    let app = App::build(settings, true, workers)
        .await
        .expect("app builds");
    let base = format!("http://{}", app.addr);
    let pool = app.state.db.read.clone();
    let demo = app.demo.clone().unwrap();
    let token = app.shutdown_token();
    tokio::spawn(app.run());
    TestApp {
        base,
        pool,
        database,
        demo,
        client: client(),
        token,
        _dir: dir,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Asserts the security headers every answer carries (pages, error pages
/// and form submissions alike; `http::Frame` adds them).
pub fn assert_security_headers(res: &reqwest::Response) {
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-frame-options"], "DENY");
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    rally::intake::rehearse::hidden(html, name).unwrap_or_else(|| panic!("no {name} in {html}"))
}

/// A stored email message.
pub struct Mail {
    pub subject: String,
    pub html: String,
}

pub struct FormTokens {
    pub key: String,
    pub ts: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a web form to `path` as `who` (a browser of its own).
    pub async fn post_as(
        &self,
        who: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        who.post(self.url(path)).form(fields).send().await.unwrap()
    }

    /// The session's CSRF token on the page at `path`, as `who` sees it.
    pub async fn csrf_as(&self, who: &reqwest::Client, path: &str) -> String {
        let page = who
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        hidden(&page, "_csrf")
    }

    /// The body of a GET as `who` (a browser of its own), whatever its status.
    pub async fn page_as(&self, who: &reqwest::Client, path: &str) -> String {
        who.get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The body of a GET, whatever its status.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn form_tokens(&self) -> FormTokens {
        let html = self
            .client
            .get(self.url("/f/demo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        FormTokens {
            key: hidden(&html, "_key"),
            ts: hidden(&html, "_ts"),
        }
    }

    /// POSTs the demo form with the given tokens and fields.
    pub async fn post_form(
        &self,
        tokens: &FormTokens,
        fields: &[(&str, &str)],
        htmx: bool,
    ) -> reqwest::Response {
        let mut body: Vec<(&str, &str)> = vec![("_key", &tokens.key), ("_ts", &tokens.ts)];
        body.extend_from_slice(fields);
        let mut req = self.client.post(self.url("/f/demo")).form(&body);
        if htmx {
            req = req.header("HX-Request", "true");
        }
        req.send().await.unwrap()
    }

    /// Opens the demo form and sends it with these fields; the answer's status.
    pub async fn submit(&self, fields: &[(&str, &str)]) -> u16 {
        let tokens = self.form_tokens().await;
        self.post_form(&tokens, fields, false)
            .await
            .status()
            .as_u16()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        rally::on_pool!(&self.pool, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(p)
            .await
            .unwrap())
    }

    /// The first link of the newest stored message that contains `marker`
    /// in its subject or as "To someone@…", read from the database: the
    /// development mailbox shows a message to its recipient alone, and
    /// tests play whoever the message is for.
    pub async fn mail_link(&self, marker: &str) -> String {
        let mail = self.mail(marker).await;
        let start = mail.html.find("<a href=\"").expect("a link") + "<a href=\"".len();
        let end = start + mail.html[start..].find('"').unwrap();
        mail.html[start..end].replace("&amp;", "&")
    }

    /// The newest stored message whose subject contains `marker`, or whose
    /// recipient is `marker` written "To someone@…" (waits up to 20 s).
    pub async fn mail(&self, marker: &str) -> Mail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let stored: Vec<(String, String, String)> = rally::on_pool!(&self.pool, p => sqlx::query_as(
                "SELECT to_addr, subject, html FROM emails ORDER BY id DESC",
            )
            .fetch_all(p)
            .await
            .unwrap());
            if let Some((_, subject, html)) = stored
                .into_iter()
                .find(|(to, subject, _)| subject.contains(marker) || format!("To {to}") == marker)
            {
                return Mail { subject, html };
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message for {marker:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The app's job queue (the SQL queue on its database).
    pub fn queue(&self) -> jobs::Queue {
        jobs::Queue::Sql(jobs::SqlQueue::new(
            self.pool.queue_store(),
            Default::default(),
        ))
    }

    /// Form submission jobs stored in the queue, in any state (a lead also
    /// queues its notification email, which is not counted here).
    pub async fn jobs_stored(&self) -> i64 {
        let queue = jobs::SqlQueue::new(self.pool.queue_store(), Default::default());
        job_counts(
            &queue,
            <rally::intake::jobs::FormSubmission as jobs::Job>::KIND,
        )
        .await
        .stored
    }

    /// Takes the database's write lock (as a long write would) until the
    /// returned guard is released: intake commits wait behind it.
    pub async fn hold_write_lock(&self) -> WriteLock {
        hold_write_lock(&self.pool).await
    }

    /// Waits until no job is waiting, running or retrying (at most 30 s:
    /// a worker stalled under load is restarted by its watchdog within ~10 s).
    pub async fn drain(&self) {
        self.drain_of(None).await
    }

    /// Like [`TestApp::drain`], for one kind only when `kind` is given (a
    /// test that runs only that kind's workers: a lead's notification email
    /// waits meanwhile).
    pub async fn drain_of(&self, kind: Option<&str>) {
        let queue = jobs::SqlQueue::new(self.pool.queue_store(), Default::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while unfinished(&queue, kind).await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not drain: {:?}",
                kind.unwrap_or("the queue"),
                queue.stats().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn sign_in(&self) {
        let res = self.sign_in_request(&[]).await;
        assert_eq!(res.status(), 303, "sign-in failed");
    }

    /// POSTs the demo owner's credentials, with extra headers.
    pub async fn sign_in_request(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.client.post(self.url("/signin"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.form(&[
            ("email", self.demo.email.as_str()),
            ("password", self.demo.password.as_str()),
        ])
        .send()
        .await
        .unwrap()
    }
}

pub const ANA: &[(&str, &str)] = &[
    ("name", "Ana Lima"),
    ("email", "Ana@Example.com"),
    ("phone", "+1 555 010 9999"),
    ("company", "Lima & Co"),
    ("interest", "The live demo"),
    ("consent", "yes"),
    ("website", ""),
];

/// A second person, for tests where two people use one rendered form.
pub const BO: &[(&str, &str)] = &[
    ("name", "Bo Chen"),
    ("email", "bo@example.com"),
    ("website", ""),
];

/// An open transaction holding the write lock; see [`TestApp::hold_write_lock`].
pub struct WriteLock(rally::platform::db::Tx);

pub async fn hold_write_lock(pool: &Pool) -> WriteLock {
    let mut tx = pool.begin_write().await.unwrap();
    // SQLite's BEGIN IMMEDIATE already holds the one write lock; on Postgres
    // lock the tables intake writes to.
    if let rally::platform::db::Tx::Postgres(tx) = &mut tx {
        sqlx::query("LOCK TABLE apalis.jobs, jobs_outbox, intake_rejections, held_submissions IN EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await
            .unwrap();
    }
    WriteLock(tx)
}

impl WriteLock {
    pub async fn release(self) {
        rally::on_tx!(self.0, tx => tx.rollback().await.unwrap());
    }
}

/// One kind's jobs in a SQL queue: `unfinished` (waiting, running or
/// retrying) and `stored` (in any state, done and dead included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub unfinished: i64,
    pub stored: i64,
}

/// The counts of `kind`'s jobs in `queue`.
pub async fn job_counts(queue: &jobs::SqlQueue, kind: &str) -> JobCounts {
    let stats = queue.stats().await.unwrap();
    let of_kind = || stats.iter().filter(|q| q.queue == kind);
    JobCounts {
        unfinished: of_kind().map(|q| q.pending + q.running + q.retrying).sum(),
        stored: of_kind()
            .map(|q| q.pending + q.running + q.done + q.retrying + q.dead)
            .sum(),
    }
}

/// Jobs not finished in `queue`: of `kind`, or of every kind (the outbox's
/// waiting rows included, delayed jobs not yet due left out) when `None`.
pub async fn unfinished(queue: &jobs::SqlQueue, kind: Option<&str>) -> i64 {
    match kind {
        Some(kind) => job_counts(queue, kind).await.unfinished,
        None => queue.unfinished().await.unwrap(),
    }
}
