//! Live events and their summaries.

use crate::{
    on_pool,
    platform::db::{Pool, now_ms},
};

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
            use crate::prospects::TimelineEvent;
            let name = match TimelineEvent::from_row("form_submission", &data) {
                TimelineEvent::FormSubmission(answers) => answers.name.unwrap_or_default(),
                _ => String::new(),
            };
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
         JOIN prospects p ON p.id = t.prospect_id AND p.deleted_at IS NULL
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
