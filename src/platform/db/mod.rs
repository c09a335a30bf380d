//! The data layer: the pools, migrations and one function per query.
//! Plain SQL with `$n` placeholders, which SQLite and Postgres both accept;
//! each query is written once and compiled for both drivers by [`on_pool!`]
//! and [`on_tx!`]. Dialects differ only where they truly do (migrations,
//! how a write transaction starts).

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::platform::config::DatabaseUrl;

/// A pool of either dialect.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one query-building expression on whichever pool `$pool` is; the
/// expression is compiled once per driver, so both see the same SQL.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::platform::db::Pool::Sqlite($p) => $body,
            $crate::platform::db::Pool::Postgres($p) => $body,
        }
    };
}

/// The same over an open transaction: `$c` is the transaction, `&mut **$c`
/// its connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::platform::db::Tx::Sqlite($c) => $body,
            $crate::platform::db::Tx::Postgres($c) => $body,
        }
    };
}

/// Stores a rule type as text in both dialects: it is bound as its
/// `as_str()` and read back through its `FromStr` (stored text that does
/// not parse is a decode error naming it, never a panic). For the enums
/// parsed at the edge and stored as text (`Role`, `Stage`,
/// `OrganizationKind`, `Currency`).
///
/// `stored_as_text!(Enum, Unknown, "what")` also gives an enum with an
/// `ALL` list and `as_str` its `Display` (the stored text) and `FromStr`
/// (exactly one of `ALL`'s texts), refusing anything else with the error
/// type `Unknown` ("not a what: …", the text cut at 40 characters).
#[macro_export]
macro_rules! stored_as_text {
    ($ty:ident, $unknown:ident, $what:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("Text that is not a ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $unknown(pub String);

        impl ::std::fmt::Display for $unknown {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "not a {}: {:?}", $what, self.0)
            }
        }

        impl ::std::error::Error for $unknown {}

        impl ::std::str::FromStr for $ty {
            type Err = $unknown;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .into_iter()
                    .find(|it| it.as_str() == s)
                    .ok_or_else(|| $unknown(s.chars().take(40).collect()))
            }
        }

        $crate::stored_as_text!($ty);
    };
    ($ty:ty) => {
        impl<DB: ::sqlx::Database> ::sqlx::Type<DB> for $ty
        where
            String: ::sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as ::sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as ::sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: ::sqlx::Database> ::sqlx::Decode<'r, DB> for $ty
        where
            &'r str: ::sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&'r str as ::sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$ty>()?)
            }
        }

        impl<'q, DB: ::sqlx::Database> ::sqlx::Encode<'q, DB> for $ty
        where
            &'static str: ::sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as ::sqlx::Database>::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&'static str as ::sqlx::Encode<'q, DB>>::encode_by_ref(&self.as_str(), buf)
            }
        }
    };
}

/// An open write transaction of either dialect.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        on_tx!(self, tx => tx.commit().await)
    }

    /// Undoes everything of the transaction, before its connection goes
    /// back to the pool (a dropped one is rolled back only when the
    /// connection is next used).
    pub async fn rollback(self) -> sqlx::Result<()> {
        on_tx!(self, tx => tx.rollback().await)
    }

    /// The transaction's connection, for the job queue to enqueue on.
    pub fn queue_conn(&mut self) -> jobs::Conn<'_> {
        match self {
            Self::Sqlite(tx) => jobs::Conn::Sqlite(tx),
            Self::Postgres(tx) => jobs::Conn::Postgres(tx),
        }
    }
}

impl Pool {
    /// Starts a transaction that will write. SQLite's IMMEDIATE takes the
    /// write lock up front: a deferred transaction that reads first and
    /// writes later fails with SQLITE_BUSY, without waiting, whenever another
    /// writer got in between. Postgres locks rows as it goes.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// The job queue's storage: the same database.
    pub fn queue_store(&self) -> jobs::Store {
        match self {
            Self::Sqlite(pool) => pool.clone().into(),
            Self::Postgres(pool) => pool.clone().into(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Bound parameters one statement may carry on either database: SQLite's
/// limit (`SQLITE_MAX_VARIABLE_NUMBER`, 32,766 by default since 3.32);
/// Postgres takes up to 65,535. Multi-row statements are cut to fit.
pub const MAX_BINDS: usize = 32_766;

/// How many rows of `columns` parameters one statement takes, beside
/// `other` parameters of its own (at least one row).
pub fn rows_per_statement(columns: usize, other: usize) -> usize {
    (MAX_BINDS.saturating_sub(other) / columns.max(1)).max(1)
}

/// `($1, $2), ($3, $4)`: `rows` rows of `columns` placeholders numbered
/// from `$first`, for a multi-row `VALUES` (or `IN`) list; the same text
/// on both dialects.
pub fn values_list(rows: usize, columns: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 7);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + row * columns + column).to_string());
        }
        out.push(')');
    }
    out
}

/// Milliseconds since the Unix epoch: the one time format in the schema.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The database as two pools. SQLite allows one writer at a time, and a
/// writer that finds the lock taken sleeps in growing steps (its busy
/// handler), which under a burst turns into second-long stalls. All writes
/// therefore share one connection, queueing fairly in the pool instead; reads
/// (WAL lets them run beside the writer) get their own connections. On
/// Postgres both are the same pool.
#[derive(Debug, Clone)]
pub struct Db {
    pub read: Pool,
    pub write: Pool,
}

impl Db {
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Opens the database. SQLite: created if missing, WAL mode, busy timeout.
/// Postgres: the database must exist; if it does not, the error names it.
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Db> {
    connect_sized(url, 8).await
}

/// [`connect`] with `connections` connections for readers (and, on Postgres,
/// writers).
pub async fn connect_sized(url: &DatabaseUrl, connections: u32) -> anyhow::Result<Db> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL in WAL mode: a commit survives a process crash; only
                // an OS crash or power loss can lose the last transactions.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let open_error =
                |e: sqlx::Error| anyhow::anyhow!("cannot open database {}: {e}", path.display());
            // The writer first: it creates the file and switches it to WAL.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                // A SQLite connection is a file handle; it does not go stale
                // the way a network connection can. The ping sqlx sends by
                // default is a round trip to the connection's thread before
                // every intake batch: without it a batch's commit took about
                // a quarter less time under sustained load.
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await
                .map_err(open_error)?;
            let read = SqlitePoolOptions::new()
                .max_connections(connections)
                .connect_with(options)
                .await
                .map_err(open_error)?;
            Ok(Db {
                read: Pool::Sqlite(read),
                write: Pool::Sqlite(write),
            })
        }
        DatabaseUrl::Postgres(raw) => {
            let options: sqlx::postgres::PgConnectOptions = raw
                .parse()
                .with_context(|| format!("DATABASE_URL {url:?} is not a valid Postgres URL"))?;
            let name = options.get_database().unwrap_or("(default)").to_string();
            let host = options.get_host().to_string();
            let pool = PgPoolOptions::new()
                .max_connections(connections.max(4))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|err| match err.as_database_error().and_then(|e| e.code()) {
                    Some(code) if code == "3D000" => anyhow::anyhow!(
                        "Postgres database {name:?} does not exist on {host}: create it (for example `createdb {name}`) or fix DATABASE_URL"
                    ),
                    _ => anyhow::anyhow!("cannot connect to Postgres database {name:?} on {host}: {err}"),
                })?;
            let pool = Pool::Postgres(pool);
            Ok(Db {
                read: pool.clone(),
                write: pool,
            })
        }
    }
}

/// Applies Rally's migrations and the job queue's. The app's
/// `app::migrate` runs this, then the features' backfills.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    match pool {
        Pool::Sqlite(p) => {
            let mut migrator = sqlx::migrate!("./migrations/sqlite");
            // The queue's migrations share sqlx's bookkeeping table.
            migrator.set_ignore_missing(true);
            migrator.run(p).await?;
        }
        Pool::Postgres(p) => {
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            migrator.set_ignore_missing(true);
            migrator.run(p).await?;
        }
    }
    jobs::SqlQueue::migrate(&pool.queue_store()).await?;
    Ok(())
}

/// A fixed query returning one integer (a count, a probe).
pub async fn scalar(pool: &Pool, sql: &'static str) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(sql).fetch_one(p).await)
}

/// Whose prospects a query may see: an organization's, or, for a member
/// (a rep or ambassador), only the ones they own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub organization_id: i64,
    pub owner: Option<i64>,
}

impl Scope {
    /// Everything of the organization (exports, admins).
    pub fn organization(organization_id: i64) -> Self {
        Self {
            organization_id,
            owner: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_lists_number_their_placeholders_row_by_row() {
        assert_eq!(super::values_list(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::values_list(1, 2, 5), "($5, $6)");
        assert_eq!(super::values_list(0, 2, 1), "");
    }

    #[test]
    fn statements_stay_within_the_bound_parameter_limit() {
        assert_eq!(super::rows_per_statement(10, 1), 3_276);
        assert!(super::rows_per_statement(10, 1) * 10 < super::MAX_BINDS);
        assert_eq!(super::rows_per_statement(1, 0), super::MAX_BINDS);
    }
}
