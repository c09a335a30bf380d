//! Kill -9 the process mid-run and restart it: every job takes effect
//! exactly once, and every submission that was acknowledged is processed.

use std::{process::Stdio, time::Duration};

use jobs::SqlQueue;
use rally::{
    intake::{jobs::FormSubmission, model::FormInput},
    platform::{config::DatabaseUrl, db},
};

use crate::helpers::fresh_database;

const JOBS: usize = 1500;

fn start(database: &DatabaseUrl) -> std::process::Child {
    start_on(database, "127.0.0.1:0", &[], &[])
}

fn start_on(
    database: &DatabaseUrl,
    bind: &str,
    extra: &[&str],
    env: &[(&'static str, String)],
) -> std::process::Child {
    rally(database)
        .args(["serve", "--demo", "--bind", bind])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rally binary starts")
}

/// The `rally` binary with the settings these tests share.
pub(crate) fn rally(database: &DatabaseUrl) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rally"));
    command
        .env("RALLY_FORM_MIN_FILL_MS", "0")
        .env("DATABASE_URL", database.to_url())
        .env(
            "RALLY_SECRET_KEY",
            "crash-test-secret-key-long-enough-for-hmac",
        )
        .env("RALLY_WORKER_CONCURRENCY", "2")
        .env("RALLY_JOB_HEARTBEAT_SECS", "1")
        .env("RALLY_JOB_POLL_MS", "10")
        .env("RUST_LOG", "warn");
    command
}

async fn processed(pool: &db::Pool) -> i64 {
    db::scalar(pool, "SELECT COUNT(*) FROM timeline_entries")
        .await
        .unwrap()
}

#[tokio::test]
async fn killed_worker_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let db = db::connect(&database).await.unwrap();
    rally::app::migrate(&db.write).await.unwrap();
    rally::app::demo::seed_demo(&db.write, "unused-hash")
        .await
        .unwrap();
    let pool = db.write.clone();
    let form_id: i64 = rally::on_pool!(&pool, p => sqlx::query_scalar("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(p)
        .await
        .unwrap());
    let jobs: Vec<FormSubmission> = (0..JOBS)
        .map(|i| FormSubmission {
            form_id,
            submission_key: format!("00000000-0000-4000-8000-{i:012}"),
            answers: FormInput {
                name: format!("Person {i}"),
                email: format!("p{i}@example.com"),
                ..Default::default()
            }
            .parse()
            .unwrap(),
            submitted_at: db::now_ms(),
            organization_id: None,
        })
        .collect();
    let mut tx = pool.begin_write().await.unwrap();
    SqlQueue::enqueue_all_in(tx.queue_conn(), &jobs)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut child = start(&database);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while processed(&pool).await < 30 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL: no graceful anything
    child.wait().unwrap();
    let at_kill = processed(&pool).await;
    assert!(
        (at_kill as usize) < JOBS,
        "killed too late to test anything ({at_kill})"
    );

    let mut child = start(&database);
    let queue = SqlQueue::new(pool.queue_store(), Default::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while queue.unfinished().await.unwrap() > 0 || processed(&pool).await < JOBS as i64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not finished after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (entries, keys): (i64, i64) = rally::on_pool!(&pool, p => sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT submission_key) FROM timeline_entries")
            .fetch_one(p)
            .await
            .unwrap());
    assert_eq!((entries, keys), (JOBS as i64, JOBS as i64));
    let prospects: i64 = rally::on_pool!(&pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM prospects")
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(prospects, JOBS as i64);
    let dead = queue.dead_letters(10).await.unwrap();
    assert!(dead.is_empty(), "{dead:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not come up");
}

/// A `rally serve` process on a fixed local port with its own database.
pub(crate) struct Server {
    _dir: tempfile::TempDir,
    pub(crate) database: DatabaseUrl,
    /// More environment for the server process (set before starting it).
    pub(crate) env: Vec<(&'static str, String)>,
    bind: String,
    base: String,
    client: reqwest::Client,
}

impl Server {
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bind = format!("127.0.0.1:{}", free_port());
        Self {
            database: fresh_database(dir.path()).await,
            env: Vec::new(),
            _dir: dir,
            base: format!("http://{bind}"),
            bind,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    pub(crate) async fn start(&self) -> std::process::Child {
        self.start_with(&[]).await
    }

    /// Starts `rally serve --demo` with extra arguments; returns once ready.
    pub(crate) async fn start_with(&self, extra: &[&str]) -> std::process::Child {
        let child = start_on(&self.database, &self.bind, extra, &self.env);
        wait_until_up(&self.client, &self.base).await;
        child
    }

    /// A signed render time from the demo form, valid for any key.
    pub(crate) async fn render_time(&self) -> String {
        let html = self
            .client
            .get(format!("{}/f/demo", self.base))
            .send()
            .await
            .unwrap();
        crate::helpers::hidden(&html.text().await.unwrap(), "_ts")
    }

    /// POSTs the demo form with a key of ours; the answer's status.
    pub(crate) async fn send(
        &self,
        ts: &str,
        key: &str,
        name: &str,
        email: &str,
    ) -> reqwest::Result<u16> {
        let form = [("_key", key), ("_ts", ts), ("name", name), ("email", email)];
        let res = self
            .client
            .post(format!("{}/f/demo", self.base))
            .form(&form)
            .send()
            .await?;
        Ok(res.status().as_u16())
    }

    pub(crate) async fn db(&self) -> db::Db {
        db::connect(&self.database).await.unwrap()
    }

    /// Restarts the server, waits until it has processed every job, stops it.
    async fn restart_and_drain(&self, db: &db::Db) {
        let mut child = self.start().await;
        let queue = SqlQueue::new(db.read.queue_store(), Default::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while queue.unfinished().await.unwrap() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs not finished after restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Senders post a stream of submissions; the server is killed while they
/// are at it. Whatever got a success answer must be processed exactly once
/// after a restart; what was in flight may or may not be, never twice.
#[tokio::test]
async fn killed_server_mid_burst_loses_no_acknowledged_submission() {
    let server = std::sync::Arc::new(Server::new().await);
    let mut child = server.start().await;
    let ts = server.render_time().await;

    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..16 {
        let (server, ts, acknowledged, stop) = (
            server.clone(),
            ts.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        senders.spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let key = format!("00000000-0000-4000-{sender:04}-{n:012}");
                let email = format!("s{sender}n{n}@example.com");
                match server.send(&ts, &key, "Burst", &email).await {
                    Ok(303) => acknowledged.lock().unwrap().push(key),
                    Ok(status) => panic!("unexpected status {status}"),
                    // The server is gone: this one was never acknowledged.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
    }
    while acknowledged.lock().unwrap().len() < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Let the senders hit the dead server for a moment, then stop them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    while senders.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().unwrap().clone();

    let db = server.db().await;
    server.restart_and_drain(&db).await;

    let processed: Vec<(String, i64)> = rally::on_pool!(&db.read, p => sqlx::query_as(
        "SELECT submission_key, COUNT(*) FROM timeline_entries GROUP BY submission_key",
    )
    .fetch_all(p)
    .await
    .unwrap());
    assert!(
        processed.iter().all(|(_, n)| *n == 1),
        "a submission was processed twice"
    );
    // A stored key is the form's key, `.`, and a hash of the answers
    // (`rally::intake::writer::submission_key`); each sender sent one set of answers.
    let processed: std::collections::HashMap<String, i64> = processed
        .into_iter()
        .map(|(key, n)| (key.split('.').next().unwrap_or_default().to_string(), n))
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !processed.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged submissions lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let prospects: i64 = rally::on_pool!(&db.read, p => sqlx::query_scalar("SELECT COUNT(*) FROM prospects")
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(
        prospects as usize,
        processed.len(),
        "one prospect per distinct email"
    );
    assert!(acknowledged.len() >= 400);
}

/// SIGTERM mid-burst: the server stops accepting, answers what it took, and
/// exits cleanly; everything it acknowledged is stored and, after a restart,
/// processed.
#[tokio::test]
async fn sigterm_drains_gracefully() {
    let server = Server::new().await;
    let mut child = server.start().await;
    let ts = server.render_time().await;

    let sends = (0..300).map(|n| {
        let (server, ts) = (&server, &ts);
        async move {
            let key = format!("00000000-0000-4000-9999-{n:012}");
            let email = format!("t{n}@example.com");
            match server.send(ts, &key, "Term", &email).await {
                Ok(303) => Some(key),
                _ => None,
            }
        }
    });
    let burst = futures::future::join_all(sends);
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let (answers, ()) = tokio::join!(burst, terminate);
    let acknowledged: Vec<String> = answers.into_iter().flatten().collect();
    eprintln!(
        "acknowledged {} of 300 before the server stopped",
        acknowledged.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "the server stopped before the burst"
    );
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");

    let db = server.db().await;
    let stored: i64 = SqlQueue::new(db.read.queue_store(), Default::default())
        .stats()
        .await
        .unwrap()
        .iter()
        .map(|q| q.pending + q.running + q.done + q.retrying + q.dead)
        .sum();
    assert!(
        stored as usize >= acknowledged.len(),
        "{stored} stored, {} acknowledged",
        acknowledged.len()
    );

    server.restart_and_drain(&db).await;
    for key in &acknowledged {
        let n: i64 = rally::on_pool!(&db.read, p => sqlx::query_scalar("SELECT COUNT(*) FROM timeline_entries WHERE submission_key LIKE $1")
                // The form's key, then `.` and the answers' hash.
                .bind(format!("{key}.%"))
                .fetch_one(p)
                .await
                .unwrap());
        assert_eq!(n, 1, "{key}");
    }
}
