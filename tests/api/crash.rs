//! Kill -9 the worker process mid-run and restart it: every job takes effect
//! exactly once.

use std::{process::Stdio, time::Duration};

use jobs::SqlQueue;
use rally::{db, domain::FormInput, jobs::FormSubmission};

const JOBS: usize = 1500;

fn start(db_path: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["serve", "--bind", "127.0.0.1:0"])
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
