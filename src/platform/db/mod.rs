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

use crate::platform::{config::DatabaseUrl, text::Answers};

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

/// An open write transaction of either dialect.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        on_tx!(self, tx => tx.commit().await)
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

/// Applies Rally's migrations and the job queue's.
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
    // Search text and email keys for rows stored before they existed.
    crate::prospects::queries::backfill(pool).await?;
    Ok(())
}

/// A fixed query returning one integer (a count, a probe).
pub async fn scalar(pool: &Pool, sql: &'static str) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(sql).fetch_one(p).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Organization {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// direct_sales | business | franchise | location
    pub kind: String,
    /// A franchise location's HQ.
    pub parent_id: Option<i64>,
}

/// The columns of [`Organization`].
const ORGANIZATION_COLUMNS: &str = "id, slug, name, kind, parent_id";

impl Organization {
    /// A franchise's head office: the organization that has locations.
    pub fn is_hq(&self) -> bool {
        self.kind == "franchise" && self.parent_id.is_none()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Form {
    pub id: i64,
    pub organization_id: i64,
    pub slug: String,
    pub title: String,
    pub intro: String,
    pub thank_you: String,
    /// Published by a franchise HQ for its locations to copy.
    pub is_template: bool,
    /// The HQ template this form was copied from.
    pub template_id: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// The signed-in user and the organization they are working in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    pub user_id: i64,
    pub user_name: String,
    pub organization_id: i64,
    pub organization_name: String,
    pub role: crate::organizations::roles::Role,
    /// The organization's `kind` and its HQ, for [`SessionUser::place`].
    pub organization_kind: String,
    pub organization_parent_id: Option<i64>,
}

impl SessionUser {
    /// Where the session's organization stands in a franchise.
    pub fn place(&self) -> crate::organizations::roles::Place {
        crate::organizations::roles::Place::of(&self.organization_kind, self.organization_parent_id)
    }

    /// Whether the user may take `action` here (the one table:
    /// [`crate::organizations::roles::rule`]).
    pub fn may(&self, action: crate::organizations::roles::Action) -> bool {
        crate::organizations::roles::allows(self.role, self.place(), action)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Prospect {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub submissions: i64,
    pub stage: String,
    pub owner_user_id: Option<i64>,
    pub owner_name: Option<String>,
    pub organization_id: i64,
    /// The organization's name: the location, when HQ looks at a franchise.
    pub location_name: String,
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

    /// What `user` may see: members their own prospects, everyone else
    /// the organization's.
    pub fn of(user: &SessionUser) -> Self {
        Self {
            organization_id: user.organization_id,
            owner: (user.role == crate::organizations::roles::Role::Member).then_some(user.user_id),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineEntry {
    pub id: i64,
    pub kind: String,
    pub data: String,
    pub created_at: i64,
    pub form_title: Option<String>,
}

pub(crate) const FORM_COLUMNS: &str =
    "id, organization_id, slug, title, intro, thank_you, is_template, template_id";

pub async fn form_by_slug(pool: &Pool, slug: &str) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE slug = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(p)
        .await)
}

pub async fn form_by_id(pool: &Pool, id: i64) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE id = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Cached forms by slug, with when each was read.
type FormEntries = std::collections::HashMap<String, (std::sync::Arc<Form>, std::time::Instant)>;

/// Public forms by slug, kept in memory for a few seconds: under a burst
/// every submission needs its form, and asking the database each time would
/// put a read in front of every write. A changed form shows within the TTL.
/// Unknown slugs are not cached, so random addresses cannot grow it.
#[derive(Clone)]
pub struct FormCache {
    entries: std::sync::Arc<std::sync::RwLock<FormEntries>>,
    ttl: Duration,
}

impl FormCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Default::default(),
            ttl,
        }
    }

    pub async fn get(&self, pool: &Pool, slug: &str) -> sqlx::Result<Option<std::sync::Arc<Form>>> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(form, _)| form.clone());
        if cached.is_some() {
            return Ok(cached);
        }
        // Boxed: the query's future is large, and keeping it inline would
        // make every caller's future (the public form's submit handler, on
        // the hot path) that much larger to create and move.
        let form = Box::pin(form_by_slug(pool, slug))
            .await?
            .map(std::sync::Arc::new);
        if let Some(form) = &form {
            self.entries
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slug.to_string(), (form.clone(), std::time::Instant::now()));
        }
        Ok(form)
    }
}

pub async fn organization_by_slug(pool: &Pool, slug: &str) -> sqlx::Result<Option<Organization>> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE slug = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(p)
        .await)
}

pub async fn organization(pool: &Pool, id: i64) -> sqlx::Result<Option<Organization>> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

pub async fn record_rejection(
    tx: &mut Tx,
    form_id: i64,
    reason: &str,
    at: i64,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query("INSERT INTO intake_rejections (form_id, reason, created_at) VALUES ($1, $2, $3)")
        .bind(form_id)
        .bind(reason)
        .bind(at)
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// Upserts the prospect for a submission and appends its timeline entry, in
/// one transaction. Returns false when this submission key was already
/// processed (a redelivered job), in which case nothing changes.
pub async fn apply_submission(
    tx: &mut Tx,
    form: &Form,
    submission_key: &str,
    answers: &Answers,
    submitted_at: i64,
) -> sqlx::Result<bool> {
    on_tx!(tx, c => {
    let seen: Option<i64> =
        sqlx::query_scalar("SELECT id FROM timeline_entries WHERE submission_key = $1")
            .bind(submission_key)
            .fetch_optional(&mut **c)
            .await?;
    if seen.is_some() {
        return Ok(false);
    }
    // New values fill blanks and never erase: COALESCE keeps what is stored
    // when the new answer is empty, and the name only replaces an empty one.
    let searched = crate::prospects::queries::search_text(&answers.name, answers.email.as_str(), answers.company.as_deref());
    let (prospect_id, name, company, stored_search): (i64, String, Option<String>, Option<String>) = sqlx::query_as(
        "INSERT INTO prospects (organization_id, email, name, phone, company, source, created_at, updated_at, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
         ON CONFLICT (organization_id, email) DO UPDATE SET
             name = CASE WHEN prospects.name = '' THEN excluded.name ELSE prospects.name END,
             phone = COALESCE(prospects.phone, excluded.phone),
             company = COALESCE(prospects.company, excluded.company),
             updated_at = excluded.updated_at
         RETURNING id, name, company, search_text",
    )
    .bind(form.organization_id)
    .bind(answers.email.as_str())
    .bind(&answers.name)
    .bind(answers.phone.as_ref().map(|p| p.as_str()))
    .bind(answers.company.as_deref())
    .bind(format!("form:{}", form.slug))
    // A prospect is as new as the submission that brought them, not as the
    // moment a worker got to it: "newest first" follows the audience.
    .bind(submitted_at)
    .bind(&searched)
    .fetch_one(&mut **c)
    .await?;
    // A prospect already stored keeps its own name and company: its search
    // text follows what is stored, not this submission.
    let searched = crate::prospects::queries::search_text(&name, answers.email.as_str(), company.as_deref());
    if stored_search.as_deref() != Some(searched.as_str()) {
        sqlx::query("UPDATE prospects SET search_text = $2 WHERE id = $1")
            .bind(prospect_id)
            .bind(&searched)
            .execute(&mut **c)
            .await?;
    }
    let data = serde_json::json!({
        "name": answers.name,
        "email": answers.email.as_str(),
        "phone": answers.phone.as_ref().map(|p| p.as_str()),
        "company": answers.company,
        "interest": answers.interest,
        "consent": answers.consent,
    });
    sqlx::query(
        "INSERT INTO timeline_entries (prospect_id, kind, submission_key, form_id, data, created_at)
         VALUES ($1, 'form_submission', $2, $3, $4, $5)",
    )
    .bind(prospect_id)
    .bind(submission_key)
    .bind(form.id)
    .bind(data.to_string())
    .bind(submitted_at)
    .execute(&mut **c)
    .await?;
    Ok(true)
    })
}

pub async fn user_by_email(pool: &Pool, email: &str) -> sqlx::Result<Option<User>> {
    on_pool!(pool, p => sqlx::query_as("SELECT id, email, name, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(p)
        .await)
}

pub async fn create_session(
    pool: &Pool,
    token_hash: &str,
    user_id: i64,
    ttl: Duration,
) -> sqlx::Result<()> {
    let now = now_ms();
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(p)
    .await
    .map(|_| ()))
}

pub async fn delete_session(pool: &Pool, token_hash: &str) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(p)
        .await
        .map(|_| ()))
}

pub async fn session_user(pool: &Pool, token_hash: &str) -> sqlx::Result<Option<SessionUser>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id AS user_id, u.name AS user_name, o.id AS organization_id,
                o.name AS organization_name, m.role, o.kind AS organization_kind,
                o.parent_id AS organization_parent_id
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN memberships m ON m.user_id = u.id
         JOIN organizations o ON o.id = m.organization_id
         WHERE s.token_hash = $1 AND s.expires_at > $2
         ORDER BY CASE WHEN m.organization_id = s.organization_id THEN 0 ELSE 1 END, m.created_at
         LIMIT 1",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(p)
    .await)
}

/// Every organization `user_id` belongs to: (id, name, role), oldest first.
pub async fn memberships_of(
    pool: &Pool,
    user_id: i64,
) -> sqlx::Result<Vec<(i64, String, crate::organizations::roles::Role)>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
         WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user_id)
    .fetch_all(p)
    .await)
}

/// Makes the session work in `organization_id`, if its user belongs there.
pub async fn switch_organization(
    pool: &Pool,
    token_hash: &str,
    organization_id: i64,
) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE sessions SET organization_id = $2
         WHERE token_hash = $1 AND EXISTS (
             SELECT 1 FROM memberships m WHERE m.user_id = sessions.user_id AND m.organization_id = $2)",
    )
    .bind(token_hash)
    .bind(organization_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected() == 1))
}

pub(crate) const PROSPECT_COLUMNS: &str = "p.id, p.name, p.email, p.phone, p.company, p.source, p.created_at, p.updated_at,
    (SELECT COUNT(*) FROM timeline_entries t WHERE t.prospect_id = p.id AND t.kind = 'form_submission') AS submissions,
    p.stage, p.owner_user_id, (SELECT u.name FROM users u WHERE u.id = p.owner_user_id) AS owner_name,
    p.organization_id, (SELECT o.name FROM organizations o WHERE o.id = p.organization_id) AS location_name";

/// The scope's condition on `p`, with the organization as `$1` and the
/// owner (or NULL) as `$2`. A franchise HQ's scope takes in its locations
/// (organizations whose parent it is); any other organization has none.
pub(crate) const IN_SCOPE: &str =
    "p.organization_id IN (SELECT o.id FROM organizations o WHERE o.id = $1 OR o.parent_id = $1)
    AND ($2 IS NULL OR p.owner_user_id = $2)";

/// A page of an organization's prospects, newest first, optionally filtered
/// by a search over name, email and company. Fetches one extra row so the
/// caller knows whether a next page exists.
pub async fn search_prospects(
    pool: &Pool,
    scope: Scope,
    query: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Prospect>> {
    // One search, with Unicode case folding: see `prospects::search`.
    crate::prospects::queries::search(pool, scope, query, limit, offset).await
}

/// One prospect, if the scope may see it.
pub async fn prospect(pool: &Pool, scope: Scope, id: i64) -> sqlx::Result<Option<Prospect>> {
    let sql = format!("SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE} AND p.id = $3");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .bind(id)
        .fetch_optional(p)
        .await)
}

pub async fn timeline(pool: &Pool, prospect_id: i64) -> sqlx::Result<Vec<TimelineEntry>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT t.id, t.kind, t.data, t.created_at, f.title AS form_title
         FROM timeline_entries t LEFT JOIN forms f ON f.id = t.form_id
         WHERE t.prospect_id = $1 ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(prospect_id)
    .fetch_all(p)
    .await)
}

/// Every prospect the scope may see, oldest first, for export.
pub async fn all_prospects(pool: &Pool, scope: Scope) -> sqlx::Result<Vec<Prospect>> {
    let sql = format!("SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {IN_SCOPE} ORDER BY p.id");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.organization_id)
        .bind(scope.owner)
        .fetch_all(p)
        .await)
}

/// Seeds the demo organization, owner and form; safe to run on every start.
/// Returns the owner's email.
pub async fn seed_demo(pool: &Pool, owner_password_hash: &str) -> sqlx::Result<String> {
    const OWNER: &str = "owner@demo.rally.test";
    let now = now_ms();
    on_pool!(pool, p => {
    let mut tx = p.begin().await?;
    sqlx::query(
        "INSERT INTO organizations (slug, name, kind, created_at) VALUES ('demo', 'Demo Co', 'direct_sales', $1)
         ON CONFLICT (slug) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let org_id: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = 'demo'")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, 'Demo Owner', $2, $3)
         ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(OWNER)
    .bind(owner_password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(OWNER)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, 'owner', $3)
         ON CONFLICT (user_id, organization_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO forms (organization_id, slug, title, intro, created_at)
         VALUES ($1, 'demo', 'Meet Demo Co', 'Leave your details and we will send you the demo.', $2)
         ON CONFLICT (slug) DO NOTHING",
    )
    .bind(org_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(OWNER.to_string())
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub organization_id: i64,
    pub form_id: i64,
    pub form_slug: String,
    pub name: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub show_names: bool,
}

const EVENT_COLUMNS: &str = "e.id, e.organization_id, e.form_id, f.slug AS form_slug, e.name, e.starts_at, e.ends_at, e.show_names";

pub async fn forms_of(pool: &Pool, organization_id: i64) -> sqlx::Result<Vec<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE organization_id = $1 ORDER BY title");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(p)
        .await)
}

pub async fn create_event(
    pool: &Pool,
    organization_id: i64,
    form_id: i64,
    name: &str,
    starts_at: i64,
    show_names: bool,
) -> sqlx::Result<i64> {
    on_pool!(pool, p => sqlx::query_scalar(
        "INSERT INTO events (organization_id, form_id, name, starts_at, show_names, created_at)
         SELECT $1, id, $3, $4, $5, $6 FROM forms WHERE id = $2 AND organization_id = $1
         RETURNING id",
    )
    .bind(organization_id)
    .bind(form_id)
    .bind(name)
    .bind(starts_at)
    .bind(show_names)
    .bind(now_ms())
    .fetch_one(p)
    .await)
}

pub async fn events_of(pool: &Pool, organization_id: i64) -> sqlx::Result<Vec<Event>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN forms f ON f.id = e.form_id
         WHERE e.organization_id = $1 ORDER BY e.starts_at DESC, e.id DESC"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(p)
        .await)
}

pub async fn event(pool: &Pool, organization_id: i64, id: i64) -> sqlx::Result<Option<Event>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e JOIN forms f ON f.id = e.form_id
         WHERE e.organization_id = $1 AND e.id = $2"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(p)
        .await)
}

pub async fn end_event(pool: &Pool, organization_id: i64, id: i64, at: i64) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE events SET ends_at = $3 WHERE organization_id = $1 AND id = $2 AND ends_at IS NULL",
    )
    .bind(organization_id)
    .bind(id)
    .bind(at)
    .execute(p)
    .await
    .map(|_| ()))
}

/// The event's window as bind values: submissions from `starts_at` until
/// `ends_at`, or until far in the future while the event is open.
fn window(event: &Event) -> (i64, i64) {
    (event.starts_at, event.ends_at.unwrap_or(i64::MAX))
}

/// Submissions processed for the event so far.
pub async fn event_count(pool: &Pool, event: &Event) -> sqlx::Result<i64> {
    let (from, to) = window(event);
    on_pool!(pool, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM timeline_entries
         WHERE form_id = $1 AND kind = 'form_submission' AND created_at >= $2 AND created_at < $3",
    )
    .bind(event.form_id)
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await)
}

/// The names typed into the newest submissions after timeline entry
/// `after`, oldest first: each submission's own answer, never the stored
/// prospect's name (typing a known attendee's email must not put that
/// attendee's name on a projector).
pub async fn event_names_after(
    pool: &Pool,
    event: &Event,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    /// The one answer the projector needs out of an entry's JSON.
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(default)]
        name: String,
    }
    let (from, to) = window(event);
    let rows: Vec<(i64, String)> = on_pool!(pool, p => sqlx::query_as(
        "SELECT t.id, t.data FROM timeline_entries t
         WHERE t.form_id = $1 AND t.kind = 'form_submission' AND t.created_at >= $2 AND t.created_at < $3
           AND t.id > $4
         ORDER BY t.id DESC LIMIT $5",
    )
    .bind(event.form_id)
    .bind(from)
    .bind(to)
    .bind(after)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .rev()
        .map(|(id, data)| {
            let name = serde_json::from_str::<Typed>(&data)
                .map(|typed| typed.name)
                .unwrap_or_default();
            (id, name)
        })
        .collect())
}

/// What happened during an event, for its summary page.
#[derive(Debug, Clone, Default)]
pub struct EventSummary {
    pub submissions: i64,
    pub prospects: i64,
    /// Prospects first seen during the event.
    pub new_prospects: i64,
    /// Submissions held as possibly automated (too fast, honeypot),
    /// whatever became of them since: tallied in `intake_rejections`.
    pub bots: i64,
    /// Of those, the ones still waiting for an owner's review.
    pub held_waiting: i64,
    /// When each submission was made, ms, oldest first.
    pub times: Vec<i64>,
}

impl EventSummary {
    /// Submissions merged into a prospect who had already submitted.
    pub fn duplicates_merged(&self) -> i64 {
        self.submissions - self.prospects
    }

    pub fn returning_prospects(&self) -> i64 {
        self.prospects - self.new_prospects
    }
}

pub async fn event_summary(pool: &Pool, event: &Event) -> sqlx::Result<EventSummary> {
    let (from, to) = window(event);
    let rows: Vec<(i64, i64, i64)> = on_pool!(pool, p => sqlx::query_as(
        "SELECT t.created_at, t.prospect_id, p.created_at FROM timeline_entries t
         JOIN prospects p ON p.id = t.prospect_id
         WHERE t.form_id = $1 AND t.kind = 'form_submission' AND t.created_at >= $2 AND t.created_at < $3
         ORDER BY t.created_at",
    )
    .bind(event.form_id)
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    let bots: i64 = on_pool!(pool, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM intake_rejections WHERE form_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(event.form_id)
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await)?;
    let held_waiting =
        crate::intake::held::queries::waiting_in_window(pool, event.form_id, from, to).await?;
    let mut prospects = std::collections::HashMap::new();
    for (_, prospect, first_seen) in &rows {
        prospects.insert(*prospect, *first_seen);
    }
    Ok(EventSummary {
        submissions: rows.len() as i64,
        prospects: prospects.len() as i64,
        new_prospects: prospects.values().filter(|seen| **seen >= from).count() as i64,
        bots,
        held_waiting,
        times: rows.iter().map(|(at, _, _)| *at).collect(),
    })
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A new user who owns a new organization of `kind`. The organization's
/// slug comes from its name, made unique with a number when needed.
/// Returns (user id, organization id).
pub async fn create_account(
    tx: &mut Tx,
    name: &str,
    email: &str,
    password_hash: &str,
    organization: &str,
    kind: &str,
) -> Result<(i64, i64), SignUpError> {
    let now = now_ms();
    let user = create_user(tx, name, email, password_hash)
        .await?
        .ok_or(SignUpError::EmailTaken)?;
    let org =
        crate::organizations::locations::queries::insert_organization(tx, organization, kind, None)
            .await?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(user)
    .bind(org)
    .bind(now)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    audit(
        tx,
        org,
        Some(user),
        "organization_created",
        Some(user),
        kind,
    )
    .await?;
    Ok((user, org))
}

/// A new user; `None` when the email is taken.
pub async fn create_user(
    tx: &mut Tx,
    name: &str,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<Option<i64>> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now_ms())
    .fetch_optional(&mut **c)
    .await)
}

/// `"Lima & Co. Sales"` → `"lima-co-sales"`; never empty.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "org".into() } else { slug }
}

/// Records a change to an organization's people or roles.
pub async fn audit(
    tx: &mut Tx,
    organization_id: i64,
    actor: Option<i64>,
    action: &str,
    subject: Option<i64>,
    detail: &str,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO audit_log (organization_id, actor_user_id, action, subject_user_id, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(organization_id)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Stores a one-time token (its hash) for `purpose`, valid for `ttl`.
pub async fn create_email_token(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    ttl: Duration,
) -> sqlx::Result<()> {
    let now = now_ms();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Uses up a valid, unused token of `purpose`: its user's id, or `None`
/// when the token is unknown, expired or already used.
pub async fn use_email_token(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms();
    on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE email_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(&mut **c)
    .await)
}

/// Whether a token of `purpose` is valid now, without using it.
pub async fn email_token_valid(pool: &Pool, token_hash: &str, purpose: &str) -> sqlx::Result<bool> {
    Ok(email_token_user(pool, token_hash, purpose).await?.is_some())
}

/// The user of a token of `purpose` that is valid now, without using it.
pub async fn email_token_user(
    pool: &Pool,
    token_hash: &str,
    purpose: &str,
) -> sqlx::Result<Option<i64>> {
    on_pool!(pool, p => sqlx::query_scalar::<_, i64>(
        "SELECT user_id FROM email_tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now_ms())
    .fetch_optional(p)
    .await)
}

pub async fn mark_email_verified(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Sets a new password and ends every session of the user and every
/// password-reset link still out for them (a link sent before the change
/// must not change it again).
pub async fn set_password(tx: &mut Tx, user_id: i64, password_hash: &str) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE email_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = 'reset' AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(password_hash)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// Ends every session of a user ("sign out everywhere").
pub async fn delete_sessions_of(pool: &Pool, user_id: i64) -> sqlx::Result<u64> {
    on_pool!(pool, p => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}

/// A user's account details and first organization, for emails.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub email_verified_at: Option<i64>,
    pub organization_id: Option<i64>,
}

pub async fn account(pool: &Pool, user_id: i64) -> sqlx::Result<Option<Account>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.email_verified_at,
                (SELECT m.organization_id FROM memberships m WHERE m.user_id = u.id
                 ORDER BY m.created_at LIMIT 1) AS organization_id
         FROM users u WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(p)
    .await)
}
