//! Versioned migrations for the crate's own tables (`jobs_outbox`,
//! `jobs_outcomes`, `jobs_failures`, `jobs_inbox`, and what the crate adds
//! to apalis's job table), from `jobs/migrations/{sqlite,postgres}`.
//!
//! They are recorded in their own table, [`MIGRATIONS_TABLE`], so that their
//! version numbers never meet the application's or apalis's (both of which
//! use sqlx's `_sqlx_migrations`). A database whose tables were made by the
//! crate before its migrations were versioned (`CREATE TABLE IF NOT EXISTS`
//! at start-up) is *adopted*: brought to the baseline's shape by the code
//! that used to run at start-up, then the baseline is marked applied
//! without running; later migrations then run as on any database.

use sqlx::migrate::{MigrateError, Migrator};

use crate::Store;

/// Where the crate records which of its migrations have run.
pub const MIGRATIONS_TABLE: &str = "jobs_schema_migrations";

/// The migration that describes the tables as they stood unversioned.
const BASELINE: i64 = 1;

fn migrator(store: &Store) -> Migrator {
    let mut migrator = match store {
        Store::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
        Store::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Runs the crate's pending migrations (after apalis's own, which make the
/// job table some of them alter). Adopts an unversioned database first.
pub(crate) async fn run(store: &Store) -> Result<(), MigrateError> {
    let migrator = migrator(store);
    match store {
        Store::Sqlite(pool) => {
            let (outbox, versioned): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(name = 'jobs_outbox'), 0), COALESCE(SUM(name = $1), 0)
                 FROM sqlite_master WHERE type = 'table'",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_one(pool)
            .await?;
            if outbox > 0 && versioned == 0 {
                adopt_sqlite(pool).await?;
                migrator.skip(pool, Some(BASELINE)).await?;
            }
            migrator.run(pool).await
        }
        Store::Postgres(pool) => {
            let (outbox, versioned): (bool, bool) = sqlx::query_as(
                "SELECT to_regclass('jobs_outbox') IS NOT NULL, to_regclass($1) IS NOT NULL",
            )
            .bind(MIGRATIONS_TABLE)
            .fetch_one(pool)
            .await?;
            if outbox && !versioned {
                adopt_postgres(pool).await?;
                migrator.skip(pool, Some(BASELINE)).await?;
            }
            migrator.run(pool).await
        }
    }
}

/// Brings tables made by any earlier unversioned start-up to the baseline
/// (the start-up code as it last stood; SQLite has no `ADD COLUMN IF NOT
/// EXISTS`, hence the look-ups).
async fn adopt_sqlite(pool: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS jobs_outcomes (
            kind TEXT PRIMARY KEY, succeeded INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE IF NOT EXISTS jobs_failures (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, attempt INTEGER NOT NULL,
            dead BOOLEAN NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);
         CREATE TRIGGER IF NOT EXISTS jobs_release_lock_when_done
            AFTER UPDATE OF status ON Jobs
            WHEN NEW.status = 'Done' AND NEW.lock_by IS NOT NULL
            BEGIN UPDATE Jobs SET lock_by = NULL WHERE id = NEW.id; END;",
    )
    .execute(pool)
    .await?;
    for (table, column, ty) in [
        ("jobs_outbox", "job_id", "TEXT"),
        ("jobs_outbox", "max_attempts", "INTEGER"),
        ("jobs_outbox", "organization_id", "INTEGER"),
        ("jobs_failures", "organization_id", "INTEGER"),
        ("jobs_failures", "body", "TEXT"),
        ("Jobs", "organization_id", "INTEGER"),
    ] {
        let has: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info($1) WHERE name = $2")
                .bind(table)
                .bind(column)
                .fetch_one(pool)
                .await?;
        if has == 0 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD COLUMN {column} {ty}"
            )))
            .execute(pool)
            .await?;
        }
    }
    sqlx::raw_sql(
        "CREATE INDEX IF NOT EXISTS jobs_organization_failed
            ON Jobs (organization_id, status) WHERE status IN ('Failed', 'Killed');",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// [`adopt_sqlite`] for Postgres.
async fn adopt_postgres(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "ALTER TABLE jobs_outbox ADD COLUMN IF NOT EXISTS job_id TEXT,
            ADD COLUMN IF NOT EXISTS max_attempts BIGINT,
            ADD COLUMN IF NOT EXISTS organization_id BIGINT;
         CREATE TABLE IF NOT EXISTS jobs_outcomes (
            kind TEXT PRIMARY KEY, succeeded BIGINT NOT NULL DEFAULT 0,
            failed BIGINT NOT NULL DEFAULT 0, dead BIGINT NOT NULL DEFAULT 0);
         CREATE TABLE IF NOT EXISTS jobs_failures (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, kind TEXT NOT NULL,
            attempt BIGINT NOT NULL, dead BOOLEAN NOT NULL, error TEXT NOT NULL,
            at BIGINT NOT NULL);
         ALTER TABLE jobs_failures ADD COLUMN IF NOT EXISTS organization_id BIGINT,
            ADD COLUMN IF NOT EXISTS body TEXT;
         ALTER TABLE apalis.jobs ADD COLUMN IF NOT EXISTS organization_id BIGINT;
         CREATE INDEX IF NOT EXISTS jobs_organization_failed
            ON apalis.jobs (organization_id, status) WHERE status IN ('Failed', 'Killed');",
    )
    .execute(pool)
    .await?;
    Ok(())
}
