//! Form submissions are processed in batches (`intake::batch`): a burst
//! through the form becomes prospects a batch at a time; within a batch
//! submissions of one person merge exactly as they would one after
//! another; a submission that fails is rolled back alone (its savepoint)
//! while the rest of its batch commits; a batch delivered again changes
//! nothing.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use jobs::{Job, JobError, Outcomes, QueueConfig, Runtime, SqlQueue};
use rally::{
    intake::{
        batch::process_submissions,
        jobs::{FormSubmission, process_submission},
        model::FormInput,
    },
    platform::db,
};
use tokio_util::sync::CancellationToken;

use crate::helpers::{fresh_database, spawn_app_without_workers};

/// A migrated database with the demo organization and form.
async fn demo_database(dir: &std::path::Path) -> (db::Pool, i64) {
    let database = fresh_database(dir).await;
    let db = db::connect(&database).await.unwrap();
    rally::app::migrate(&db.write).await.unwrap();
    rally::app::demo::seed_demo(&db.write, "unused-hash")
        .await
        .unwrap();
    let form_id = form_id(&db.write).await;
    (db.write, form_id)
}

/// The SQL queue on `pool` (a new lead's notice enqueues its email there).
fn queue_on(pool: &db::Pool) -> jobs::Queue {
    jobs::Queue::Sql(SqlQueue::new(pool.queue_store(), Default::default()))
}

async fn form_id(pool: &db::Pool) -> i64 {
    rally::on_pool!(pool, p => sqlx::query_scalar("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(p)
        .await
        .unwrap())
}

/// Submissions of 9 people, some several times with other details, some
/// at the same millisecond, out of order, one email written two ways.
fn submissions(form_id: i64) -> Vec<FormSubmission> {
    (0..45u32)
        .map(|i| {
            let person = i % 9;
            let email = if i % 5 == 0 {
                format!("Person{person}@EXAMPLE.com")
            } else {
                format!("person{person}@example.com")
            };
            FormSubmission {
                form_id,
                submission_key: format!("key-{i:03}"),
                answers: FormInput {
                    name: format!("Name {i}"),
                    email,
                    phone: if i % 3 == 0 {
                        format!("+1 555 010 {i:04}")
                    } else {
                        String::new()
                    },
                    company: if i % 4 == 1 {
                        format!("Company {i}")
                    } else {
                        String::new()
                    },
                    interest: format!("Interest {i}"),
                    consent: i % 2 == 0,
                }
                .parse()
                .unwrap(),
                // Ties and a few out of order.
                submitted_at: 1_700_000_000_000 + i64::from((i * 7) % 13),
                organization_id: None,
            }
        })
        .collect()
}

type Prospect = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<String>,
);
type Entry = (String, String, String, i64);

async fn state(pool: &db::Pool) -> (Vec<Prospect>, Vec<Entry>) {
    rally::on_pool!(pool, p => {
        let prospects = sqlx::query_as(
            "SELECT email, name, phone, company, created_at, updated_at, search_text
             FROM prospects ORDER BY email",
        )
        .fetch_all(p)
        .await
        .unwrap();
        let entries = sqlx::query_as(
            "SELECT t.submission_key, p.email, t.data, t.created_at
             FROM timeline_entries t JOIN prospects p ON p.id = t.prospect_id
             ORDER BY t.submission_key",
        )
        .fetch_all(p)
        .await
        .unwrap();
        (prospects, entries)
    })
}

fn all_ok(outcomes: &Outcomes) -> bool {
    outcomes.iter().all(Result::is_ok)
}

#[tokio::test]
async fn a_batch_merges_each_person_exactly_as_one_submission_after_another() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (batched, form_a) = demo_database(dir_a.path()).await;
    let (sequential, form_b) = demo_database(dir_b.path()).await;
    assert_eq!(form_a, form_b);
    let jobs = submissions(form_a);

    // All 45 in one batch...
    let outcomes = process_submissions(&batched, &queue_on(&batched), jobs.clone()).await;
    assert_eq!(outcomes.len(), 45);
    assert!(all_ok(&outcomes), "{outcomes:?}");
    // ...and one job after another, in the order they were submitted.
    let mut in_order = jobs.clone();
    in_order.sort_by_key(|j| j.submitted_at);
    for job in in_order {
        process_submission(&sequential, &queue_on(&sequential), job)
            .await
            .unwrap();
    }
    let (prospects, entries) = state(&batched).await;
    assert_eq!(prospects.len(), 9, "{prospects:#?}");
    assert_eq!(entries.len(), 45);
    assert_eq!((prospects, entries), state(&sequential).await);

    // Delivered again, whole or in part, with a key twice in one batch:
    // nothing changes.
    let before = state(&batched).await;
    let mut again = jobs[10..20].to_vec();
    again.push(jobs[12].clone());
    let outcomes = process_submissions(&batched, &queue_on(&batched), again).await;
    assert_eq!(outcomes.len(), 11);
    assert!(all_ok(&outcomes), "{outcomes:?}");
    assert_eq!(state(&batched).await, before);
}

/// Makes the timeline insert of submission `key` fail, as a database
/// refusing one row would.
async fn poison(pool: &db::Pool, key: &str) {
    match pool {
        db::Pool::Sqlite(p) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TRIGGER poison BEFORE INSERT ON timeline_entries
                 WHEN NEW.submission_key = '{key}'
                 BEGIN SELECT RAISE(ABORT, 'poisoned submission'); END"
            )))
            .execute(p)
            .await
            .unwrap();
        }
        db::Pool::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE FUNCTION poison() RETURNS trigger AS $$
                 BEGIN
                   IF NEW.submission_key = '{key}' THEN RAISE EXCEPTION 'poisoned submission'; END IF;
                   RETURN NEW;
                 END $$ LANGUAGE plpgsql"
            )))
            .execute(p)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON timeline_entries
                 FOR EACH ROW EXECUTE FUNCTION poison()",
            )
            .execute(p)
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_failing_submission_is_rolled_back_alone_and_the_rest_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, form_id) = demo_database(dir.path()).await;
    let mut jobs: Vec<FormSubmission> = submissions(form_id).into_iter().take(9).collect();
    // Someone new, whose submission will fail after their prospect row was
    // written: the savepoint must take the row back too.
    let mut lone = jobs[0].clone();
    lone.submission_key = "key-poison".into();
    lone.answers = FormInput {
        name: "Poisoned".into(),
        email: "poisoned@example.com".into(),
        ..Default::default()
    }
    .parse()
    .unwrap();
    jobs.insert(4, lone);
    // A form deleted since: dead at once, alone.
    let mut orphan = jobs[1].clone();
    orphan.submission_key = "key-orphan".into();
    orphan.form_id = 999_999;
    jobs.push(orphan);
    poison(&pool, "key-poison").await;

    let outcomes = process_submissions(&pool, &queue_on(&pool), jobs).await;
    assert_eq!(outcomes.len(), 11);
    for (i, outcome) in outcomes.iter().enumerate() {
        match i {
            4 => assert!(
                matches!(outcome, Err(JobError::Retryable(e)) if e.contains("poisoned submission")),
                "{outcome:?}"
            ),
            10 => assert!(
                matches!(outcome, Err(JobError::Permanent(e)) if e.contains("no longer exists")),
                "{outcome:?}"
            ),
            _ => assert!(outcome.is_ok(), "{i}: {outcome:?}"),
        }
    }
    let (prospects, entries) = state(&pool).await;
    assert_eq!(entries.len(), 9);
    assert_eq!(prospects.len(), 9);
    assert!(prospects.iter().all(|p| p.0 != "poisoned@example.com"));
}

#[tokio::test]
async fn a_burst_through_the_form_is_processed_in_batches() {
    let app = spawn_app_without_workers(|_| {}).await;
    // 12 people send the form 4 times each: each round all at once, the
    // later rounds with a phone number.
    for round in 0..4u32 {
        let sends = (0..12u32).map(|person| {
            let app = &app;
            async move {
                let (name, email) = (format!("Person {person}"), format!("p{person}@example.com"));
                let phone = if round >= 2 {
                    format!("+1 555 020 {round}{person:03}")
                } else {
                    String::new()
                };
                let fields = [
                    ("name", name.as_str()),
                    ("email", email.as_str()),
                    ("phone", phone.as_str()),
                    ("website", ""),
                ];
                app.submit(&fields).await
            }
        });
        let statuses = futures::future::join_all(sends).await;
        assert!(
            statuses.iter().all(|s| *s == 303 || *s == 200),
            "{statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 0);

    // The registered handler, with a count of the batches it is handed.
    let options = rally::app::work::registry()
        .options(FormSubmission::KIND)
        .unwrap()
        .clone();
    assert!(options.fetch_batch >= 48, "{options:?}");
    let db = db::connect(&app.database).await.unwrap();
    let queue = SqlQueue::new(
        db.write.queue_store(),
        QueueConfig {
            poll_interval: Duration::from_millis(20),
            ..QueueConfig::default()
        },
    );
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let mut runtime = Runtime::new(queue, CancellationToken::new());
    let (pool, seen) = (db.write.clone(), sizes.clone());
    runtime.spawn_batch(options, move |jobs: Vec<FormSubmission>| {
        seen.lock().unwrap().push(jobs.len());
        let pool = pool.clone();
        async move { process_submissions(&pool, &queue_on(&pool), jobs).await }
    });
    app.drain_of(Some(FormSubmission::KIND)).await;
    runtime.shutdown().await;

    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 48, "{sizes:?}");
    assert!(
        sizes.len() < 48 && sizes.iter().any(|&n| n > 1),
        "{sizes:?}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 48);
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 12);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM prospects WHERE phone IS NOT NULL")
            .await,
        12
    );
    let (prospects, _) = state(&db.write).await;
    for p in &prospects {
        let person: u32 = p.0[1..p.0.find('@').unwrap()].parse().unwrap();
        assert_eq!(p.1, format!("Person {person}"));
        // The first phone given (round 2's) stays: a later one fills no blank.
        assert_eq!(
            p.2.as_deref(),
            Some(format!("+1 555 020 2{person:03}").as_str()),
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn app_workers_turn_a_burst_into_prospects() {
    // The same burst with the app's own workers: the registry's batch
    // handler is the one that runs.
    let app = crate::helpers::spawn_app().await;
    let sends = (0..30u32).map(|i| {
        let app = &app;
        async move {
            let email = format!("q{}@example.com", i % 10);
            app.submit(&[("name", "Q"), ("email", email.as_str()), ("website", "")])
                .await
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 200),
        "{statuses:?}"
    );
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM timeline_entries").await, 30);
    assert_eq!(app.count("SELECT COUNT(*) FROM prospects").await, 10);
    let workers = match app.pool {
        db::Pool::Sqlite(_) => "Workers",
        db::Pool::Postgres(_) => "apalis.workers",
    };
    let batch_workers = app
        .count(&format!(
            "SELECT COUNT(*) FROM {workers} WHERE worker_type = 'rally.form_submission' AND storage_name = 'JobsBatch'"
        ))
        .await;
    assert!(batch_workers >= 1);
}
