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
                    values: Vec::new(),
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

/// One submission of `email` with these details.
fn one(
    form_id: i64,
    key: &str,
    email: &str,
    name: &str,
    phone: &str,
    company: &str,
    at: i64,
) -> FormSubmission {
    FormSubmission {
        form_id,
        submission_key: key.into(),
        answers: FormInput {
            name: name.into(),
            email: email.into(),
            phone: phone.into(),
            company: company.into(),
            ..Default::default()
        }
        .parse()
        .unwrap(),
        submitted_at: at,
        organization_id: None,
    }
}

async fn count(pool: &db::Pool, sql: &str) -> i64 {
    rally::on_pool!(pool, p => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(p)
        .await
        .unwrap())
}

#[tokio::test]
async fn the_same_person_three_times_in_one_claim_is_one_prospect_filled_in_order() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (batched, form_id) = demo_database(dir_a.path()).await;
    let (sequential, _) = demo_database(dir_b.path()).await;
    let t = 1_700_000_000_000;
    // Sent in this order (the claim hands them over shuffled): the first
    // brings the name, the second the phone, the third a company; the
    // later name, phone and company fill no blank.
    let jobs = vec![
        one(
            form_id,
            "k-3",
            "Tri@Example.com",
            "Tri Later",
            "+1 555 010 3333",
            "Tri Co",
            t + 2,
        ),
        one(
            form_id,
            "k-other",
            "other@example.com",
            "Other",
            "",
            "",
            t + 1,
        ),
        one(form_id, "k-1", "tri@example.com", "Tri Person", "", "", t),
        one(
            form_id,
            "k-2",
            "tri@example.com",
            "Tri Again",
            "+1 555 010 2222",
            "",
            t + 1,
        ),
    ];
    let processed = rally::intake::batch::process(&batched, &queue_on(&batched), &jobs).await;
    assert!(all_ok(&processed.outcomes), "{processed:?}");
    assert!(!processed.one_by_one, "applied together, not one by one");
    let mut in_order = jobs.clone();
    in_order.sort_by_key(|j| j.submitted_at);
    for job in in_order {
        process_submission(&sequential, &queue_on(&sequential), job)
            .await
            .unwrap();
    }
    let (prospects, entries) = state(&batched).await;
    assert_eq!(prospects.len(), 2, "{prospects:#?}");
    assert_eq!(entries.len(), 4);
    let tri = prospects.iter().find(|p| p.0 == "tri@example.com").unwrap();
    assert_eq!(tri.1, "Tri Person");
    assert_eq!(tri.2.as_deref(), Some("+1 555 010 2222"));
    assert_eq!(tri.3.as_deref(), Some("Tri Co"));
    assert_eq!(
        (tri.4, tri.5),
        (t, t + 2),
        "created by the first, updated by the last"
    );
    let searched = tri.6.as_deref().unwrap();
    assert!(
        searched.contains("tri person")
            && searched.contains("5550102222")
            && searched.contains("tri co"),
        "{searched}"
    );
    assert_eq!((prospects, entries), state(&sequential).await);
    // Each submission told the demo owner once.
    let notices = "SELECT COUNT(*) FROM notifications WHERE kind = 'new_lead'";
    assert_eq!(count(&batched, notices).await, 4);
    assert_eq!(
        count(&batched, notices).await,
        count(&sequential, notices).await
    );
}

#[tokio::test]
async fn a_claim_delivered_again_changes_nothing_and_tells_nobody_again() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, form_id) = demo_database(dir.path()).await;
    let jobs: Vec<FormSubmission> = (0..rally::intake::batch::SUBMISSION_BATCH as i64)
        .map(|i| {
            one(
                form_id,
                &format!("again-{i}"),
                &format!("again{}@example.com", i % 200),
                &format!("Again {i}"),
                "",
                "",
                1_700_000_000_000 + i,
            )
        })
        .collect();
    let first = rally::intake::batch::process(&pool, &queue_on(&pool), &jobs).await;
    assert!(all_ok(&first.outcomes) && !first.one_by_one, "{first:?}");
    let before = state(&pool).await;
    assert_eq!(before.0.len(), 200);
    assert_eq!(before.1.len(), jobs.len());
    let tallies = [
        "SELECT COUNT(*) FROM notifications",
        "SELECT COUNT(*) FROM emails",
        "SELECT COALESCE(MAX(updated_at), 0) FROM prospects",
    ];
    let mut counted = Vec::new();
    for sql in tallies {
        counted.push(count(&pool, sql).await);
    }
    assert_eq!(counted[0], jobs.len() as i64);
    assert_eq!(counted[1], 1, "one email for the burst");
    // A worker killed after the commit, before the acknowledgement: the
    // whole claim comes again, and then part of it with new ones.
    let again = rally::intake::batch::process(&pool, &queue_on(&pool), &jobs).await;
    assert!(all_ok(&again.outcomes) && !again.one_by_one, "{again:?}");
    assert_eq!(state(&pool).await, before);
    for (sql, was) in tallies.iter().zip(&counted) {
        assert_eq!(count(&pool, sql).await, *was, "{sql}");
    }
    let mut mixed = jobs[100..110].to_vec();
    mixed.push(one(
        form_id,
        "again-new",
        "again5@example.com",
        "Late",
        "+1 555 010 7777",
        "",
        1_800_000_000_000,
    ));
    let outcomes = process_submissions(&pool, &queue_on(&pool), mixed).await;
    assert!(all_ok(&outcomes), "{outcomes:?}");
    let (prospects, entries) = state(&pool).await;
    assert_eq!(entries.len(), jobs.len() + 1);
    let five = prospects
        .iter()
        .find(|p| p.0 == "again5@example.com")
        .unwrap();
    assert_eq!(
        (five.1.as_str(), five.2.as_deref()),
        ("Again 5", Some("+1 555 010 7777"))
    );
}

#[tokio::test]
async fn a_poisoned_submission_in_a_full_claim_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, form_id) = demo_database(dir.path()).await;
    let n = rally::intake::batch::SUBMISSION_BATCH;
    let jobs: Vec<FormSubmission> = (0..n)
        .map(|i| {
            one(
                form_id,
                &format!("full-{i:04}"),
                &format!("full{}@example.com", i % 300),
                "Full",
                "",
                "",
                1_700_000_000_000 + i as i64,
            )
        })
        .collect();
    poison(&pool, "full-0123").await;
    let processed = rally::intake::batch::process(&pool, &queue_on(&pool), &jobs).await;
    assert!(processed.one_by_one, "the set-based attempt failed");
    for (i, outcome) in processed.outcomes.iter().enumerate() {
        if i == 123 {
            assert!(
                matches!(outcome, Err(JobError::Retryable(e)) if e.contains("poisoned submission")),
                "{outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "{i}: {outcome:?}");
        }
    }
    let (prospects, entries) = state(&pool).await;
    assert_eq!(entries.len(), n - 1);
    assert_eq!(prospects.len(), 300);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM notifications WHERE kind = 'new_lead'"
        )
        .await,
        n as i64 - 1
    );
}

#[tokio::test]
async fn an_import_and_a_submission_fill_blanks_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, form_id) = demo_database(dir.path()).await;
    let organization_id = count(
        &pool,
        "SELECT organization_id FROM forms WHERE slug = 'demo'",
    )
    .await;
    // Two people stored alike: a name and a company, no phone.
    let stored = [
        one(
            form_id,
            "s-1",
            "by-import@example.com",
            "Stored Name",
            "",
            "Stored Co",
            1,
        ),
        one(
            form_id,
            "s-2",
            "by-form@example.com",
            "Stored Name",
            "",
            "Stored Co",
            1,
        ),
    ];
    assert!(all_ok(
        &process_submissions(&pool, &queue_on(&pool), stored.to_vec()).await
    ));
    // The same new answers, one through an import, one through the form.
    let rows = rally::prospects::import::parse(
        "email,name,phone,company\nby-import@example.com,New Name,+1 555 010 4444,New Co\n",
    )
    .unwrap();
    let plan =
        rally::prospects::import::plan(&pool, db::Scope::organization(organization_id), rows)
            .await
            .unwrap();
    let mut tx = pool.begin_write().await.unwrap();
    rally::prospects::import::apply(&mut tx, organization_id, None, &plan, "import:alike.csv")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let by_form = one(
        form_id,
        "s-3",
        "by-form@example.com",
        "New Name",
        "+1 555 010 4444",
        "New Co",
        2,
    );
    assert!(all_ok(
        &process_submissions(&pool, &queue_on(&pool), vec![by_form]).await
    ));

    let details = |email: &'static str| {
        let pool = pool.clone();
        async move {
            rally::on_pool!(&pool, p => sqlx::query_as::<_, (String, Option<String>, Option<String>, String)>(
                "SELECT name, phone, company, search_text FROM prospects WHERE email = $1",
            )
            .bind(email)
            .fetch_one(p)
            .await
            .unwrap())
        }
    };
    let (imported, submitted) = (
        details("by-import@example.com").await,
        details("by-form@example.com").await,
    );
    // The rule, as the pure function gives it.
    use rally::prospects::upsert::{Details, fill_blanks};
    let rule = fill_blanks(
        Details {
            name: "Stored Name",
            phone: None,
            company: Some("Stored Co"),
        },
        Details {
            name: "New Name",
            phone: Some("+1 555 010 4444"),
            company: Some("New Co"),
        },
    );
    for got in [&imported, &submitted] {
        assert_eq!(
            (got.0.as_str(), got.1.as_deref(), got.2.as_deref()),
            (rule.name, rule.phone, rule.company)
        );
        assert!(
            got.3.contains("5550104444"),
            "search text follows the phone: {got:?}"
        );
    }
    assert_eq!(rule.phone, Some("+1 555 010 4444"));
    assert_eq!(rule.name, "Stored Name");
    assert_eq!(
        imported.3.replace("by-import", "by-form"),
        submitted.3,
        "the same search text but for the email"
    );
}
