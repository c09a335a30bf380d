//! A fresh database for a test: a SQLite file in `dir` by default; a new
//! Postgres database when `RALLY_TEST_POSTGRES` names a server
//! (`postgres://user@host:port`).

use std::time::Duration;

use jobs::Store;
use sqlx::{
    Connection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

pub async fn store(dir: &std::path::Path) -> Store {
    match std::env::var("RALLY_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let server = server.trim_end_matches('/');
            let name = format!("jobs_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            let _ = admin.close().await;
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(20)
                .connect(&format!("{server}/{name}"))
                .await
                .unwrap()
                .into()
        }
        _ => {
            let opts = SqliteConnectOptions::new()
                .filename(dir.join("q.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            SqlitePoolOptions::new()
                .max_connections(10)
                .connect_with(opts)
                .await
                .unwrap()
                .into()
        }
    }
}
