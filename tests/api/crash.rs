//! Kill -9 the process mid-run and restart it: every job takes effect
//! exactly once, and every submission that was acknowledged is processed.

use std::{process::Stdio, time::Duration};

use jobs::SqlQueue;
use rally::{db, domain::FormInput, jobs::FormSubmission};

const JOBS: usize = 1500;

fn start(db_path: &std::path::Path) -> std::process::Child {
    start_on(db_path, "127.0.0.1:0")
}

fn start_on(db_path: &std::path::Path, bind: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["serve", "--demo", "--bind", bind])
        .env("RALLY_FORM_MIN_FILL_MS", "0")
        .env("DATABASE_URL", format!("sqlite:{}", db_path.display()))
        .env(
            "RALLY_SECRET_KEY",
            "crash-test-secret-key-long-enough-for-hmac",
        )
        .env("RALLY_WORKER_CONCURRENCY", "2")
        .env("RALLY_JOB_HEARTBEAT_SECS", "1")
        .env("RALLY_JOB_POLL_MS", "10")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rally binary starts")
}

async fn processed(pool: &db::Pool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM timeline_entries")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn killed_worker_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("crash.db");
    let db = db::connect(&rally::config::DatabaseUrl::Sqlite(db_path.clone()))
        .await
        .unwrap();
    db::migrate(&db.write).await.unwrap();
    db::seed_demo(&db.write, "unused-hash").await.unwrap();
    let pool = db.write.clone();
    let form_id: i64 = sqlx::query_scalar("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(&pool)
        .await
        .unwrap();
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
        })
        .collect();
    let mut tx = pool.begin().await.unwrap();
    SqlQueue::enqueue_all_in(&mut tx, &jobs).await.unwrap();
    tx.commit().await.unwrap();

    let mut child = start(&db_path);
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

    let mut child = start(&db_path);
    let queue = SqlQueue::new(pool.clone(), Default::default());
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

    let (entries, keys): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT submission_key) FROM timeline_entries")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((entries, keys), (JOBS as i64, JOBS as i64));
    let prospects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prospects")
        .fetch_one(&pool)
        .await
        .unwrap();
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
struct Server {
    _dir: tempfile::TempDir,
    db_path: std::path::PathBuf,
    bind: String,
    base: String,
    client: reqwest::Client,
}

impl Server {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bind = format!("127.0.0.1:{}", free_port());
        Self {
            db_path: dir.path().join("rally.db"),
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

    async fn start(&self) -> std::process::Child {
        let child = start_on(&self.db_path, &self.bind);
        wait_until_up(&self.client, &self.base).await;
        child
    }

    /// A signed render time from the demo form, valid for any key.
    async fn render_time(&self) -> String {
        let html = self
            .client
            .get(format!("{}/f/demo", self.base))
            .send()
            .await
            .unwrap();
        crate::helpers::hidden(&html.text().await.unwrap(), "_ts")
    }

    /// POSTs the demo form with a key of ours; the answer's status.
    async fn send(&self, ts: &str, key: &str, name: &str, email: &str) -> reqwest::Result<u16> {
        let form = [("_key", key), ("_ts", ts), ("name", name), ("email", email)];
        let res = self
            .client
            .post(format!("{}/f/demo", self.base))
            .form(&form)
            .send()
            .await?;
        Ok(res.status().as_u16())
    }

    async fn db(&self) -> db::Db {
        db::connect(&rally::config::DatabaseUrl::Sqlite(self.db_path.clone()))
            .await
            .unwrap()
    }

    /// Restarts the server, waits until it has processed every job, stops it.
    async fn restart_and_drain(&self, db: &db::Db) {
        let mut child = self.start().await;
        let queue = SqlQueue::new(db.read.clone(), Default::default());
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
    let server = std::sync::Arc::new(Server::new());
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

    let processed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT submission_key, COUNT(*) FROM timeline_entries GROUP BY submission_key",
    )
    .fetch_all(&db.read)
    .await
    .unwrap();
    let processed: std::collections::HashMap<String, i64> = processed.into_iter().collect();
    assert!(
        processed.values().all(|n| *n == 1),
        "a submission was processed twice"
    );
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
    let prospects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prospects")
        .fetch_one(&db.read)
        .await
        .unwrap();
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
    let server = Server::new();
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
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM Jobs")
        .fetch_one(&db.read)
        .await
        .unwrap();
    assert!(
        stored as usize >= acknowledged.len(),
        "{stored} stored, {} acknowledged",
        acknowledged.len()
    );

    server.restart_and_drain(&db).await;
    for key in &acknowledged {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM timeline_entries WHERE submission_key = $1")
                .bind(key)
                .fetch_one(&db.read)
                .await
                .unwrap();
        assert_eq!(n, 1, "{key}");
    }
}
