//! Web and workers as separate processes: `rally serve --no-workers` takes
//! submissions, `rally worker` processes them, SIGTERM stops it in time.

use std::time::{Duration, Instant};

use rally::platform::db;

use crate::crash::{Server, rally};

async fn processed(db: &db::Db) -> i64 {
    db::scalar(&db.read, "SELECT COUNT(*) FROM timeline_entries")
        .await
        .unwrap()
}

#[tokio::test]
async fn web_only_and_worker_processes_share_the_queue() {
    let server = Server::new().await;
    let mut web = server.start_with(&["--no-workers"]).await;
    let ts = server.render_time().await;
    for n in 0..40 {
        let key = format!("00000000-0000-4000-7777-{n:012}");
        let status = server
            .send(&ts, &key, "Split", &format!("split{n}@example.com"))
            .await
            .unwrap();
        assert_eq!(status, 303);
    }
    let db = server.db().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processed(&db).await, 0, "the web process runs no jobs");
    let queue = jobs::SqlQueue::new(db.read.queue_store(), Default::default());
    assert_eq!(queue.unfinished().await.unwrap(), 40);

    let mut worker = rally(&server.database)
        .args([
            "worker",
            "--queues",
            "rally.form_submission",
            "--concurrency",
            "2",
        ])
        .env("RALLY_SHUTDOWN_TIMEOUT_SECS", "5")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while processed(&db).await < 40 {
        assert!(
            Instant::now() < deadline,
            "the worker did not process the jobs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stopping = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "stopped within its shutdown timeout: {:?}",
        stopping.elapsed()
    );
    // Nothing of the worker's queue is left half-done (the notification
    // emails the new leads queued wait for a worker of their own queue).
    let left = crate::helpers::unfinished(&queue, Some("rally.form_submission")).await;
    assert_eq!(left, 0);
    web.kill().unwrap();
    web.wait().unwrap();
}

#[tokio::test]
async fn worker_refuses_an_unknown_queue_by_name() {
    let server = Server::new().await;
    let out = rally(&server.database)
        .args(["worker", "--queues", "rally.form_submission,emails"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no queue named \"emails\"") && err.contains("rally.form_submission"),
        "{err}"
    );
}

#[tokio::test]
/// The loops the app starts (prune, purge, backlog sampler, limiter
/// clean-ups; the SQS relay on SQS) are tracked, and shutdown returns only
/// once every one of them has ended: none outlives the database it uses.
async fn shutdown_waits_for_every_background_loop() {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::helpers::test_settings(crate::helpers::fresh_database(dir.path()).await);
    let app = rally::app::App::build(settings, false, true).await.unwrap();
    let background = app.background();
    assert!(background.len() >= 5, "loops tracked: {}", background.len());
    let token = app.shutdown_token();
    let run = tokio::spawn(app.run());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!background.is_empty());
    token.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("shutdown finishes")
        .unwrap()
        .unwrap();
    assert!(background.is_closed());
    assert!(background.is_empty(), "still running: {}", background.len());
}
