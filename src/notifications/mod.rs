//! Notifications: a person is told, in the app (`/notifications`, with the
//! unread count in the header) and by email (the `EmailSend` job, through
//! Mailgun or the development mailbox), when a lead is assigned to them,
//! when a new lead arrives on a form of theirs (forms have no owner: the
//! form's organization's owners and admins), and each morning at 08:00 in
//! their time zone with the follow-ups due that day. Each kind can be
//! turned off on the account page (then neither the entry nor the email).
//!
//! Every notification has a key, unique in `notifications` and `emails`, so
//! a job that runs again stores and sends nothing new. The morning summary
//! is an hourly schedule (`jobs::schedule`: one run per tick whichever
//! process claims it); its job finds the people whose local time is 08:00
//! and records one `summary_sends` row per (person, local date) in the
//! transaction that queues their summary, so a person gets one a day
//! however many workers run and however often a tick runs.

pub mod queries;
pub mod routes;
pub mod views;

use ::jobs::{Job, JobError, Queue, Schedule};
use chrono::Timelike;
use serde::{Deserialize, Serialize};

use crate::platform::db::Pool;
use crate::platform::db::Tx;
use crate::platform::mail as email;
use crate::platform::time_zones;
use crate::platform::time_zones::Tz;
use queries::{Kind, New};

/// How long new-lead emails to one person about one form are gathered into
/// one: a burst of a thousand submissions is one email, not a thousand
/// (each lead still has its entry in the app).
pub const NEW_LEAD_EMAIL_WINDOW_MS: i64 = 15 * 60 * 1000;

/// A lead given to someone.
pub struct Assignment<'a> {
    /// The prospect's organization.
    pub organization_id: i64,
    pub assignee: i64,
    pub prospect_id: i64,
    pub prospect_name: &'a str,
    /// Who assigned it (their name).
    pub by: &'a str,
    pub at: i64,
}

/// Tells the assignee that a prospect was assigned to them, unless they
/// turned it off. In the caller's transaction.
pub async fn assigned(tx: &mut Tx, queue: &Queue, a: &Assignment<'_>) -> anyhow::Result<()> {
    let text = format!("{} assigned {} to you.", a.by, a.prospect_name);
    let key = format!("assigned:{}:{}:{}", a.prospect_id, a.assignee, a.at);
    let notice = New {
        organization_id: a.organization_id,
        user_id: a.assignee,
        kind: Kind::Assigned,
        prospect_id: Some(a.prospect_id),
        text: &text,
        key: &key,
        at: a.at,
    };
    tell_assignee(tx, queue, &notice, &format!("{} is yours", a.prospect_name)).await
}

/// Several prospects given to someone at once (a bulk action).
pub struct BulkAssignment<'a> {
    /// The assigner's organization (the assignee is one of its people).
    pub organization_id: i64,
    pub assignee: i64,
    /// How many prospects changed hands (more than one).
    pub count: usize,
    /// Who assigned them (their name).
    pub by: &'a str,
    pub at: i64,
}

/// Tells the assignee, once, that `count` prospects were assigned to them
/// (a bulk assign is one notice and one email, not one per prospect),
/// unless they turned it off. In the caller's transaction.
pub async fn assigned_many(
    tx: &mut Tx,
    queue: &Queue,
    a: &BulkAssignment<'_>,
) -> anyhow::Result<()> {
    let what = crate::platform::ui::plural(a.count as i64, "prospect", "prospects");
    let text = format!("{} assigned {what} to you.", a.by);
    let key = format!("assigned-many:{}:{}:{}", a.assignee, a.at, a.count);
    let notice = New {
        organization_id: a.organization_id,
        user_id: a.assignee,
        kind: Kind::Assigned,
        prospect_id: None,
        text: &text,
        key: &key,
        at: a.at,
    };
    tell_assignee(tx, queue, &notice, &format!("{what} are yours")).await
}

/// Stores `notice` for its person and queues its email (`subject`, the
/// notice's text), unless they turned assignments off or it was stored
/// before (its key).
async fn tell_assignee(
    tx: &mut Tx,
    queue: &Queue,
    notice: &New<'_>,
    subject: &str,
) -> anyhow::Result<()> {
    let Some(person) =
        queries::member(tx, notice.organization_id, notice.user_id, Kind::Assigned).await?
    else {
        return Ok(());
    };
    if !person.wants {
        return Ok(());
    }
    if queries::insert(tx, notice).await? {
        let message = views::email(
            format!("notify-{}", notice.key),
            notice.organization_id,
            &person,
            subject,
            notice.text,
            &[],
        );
        email::queue(tx, queue, &message).await?;
    }
    Ok(())
}

/// A form submission applied: a lead arrived.
#[derive(Debug, Clone, Copy)]
pub struct Lead<'a> {
    pub form: &'a crate::forms::queries::Form,
    /// The submission's key: one notice per submission and person.
    pub submission_key: &'a str,
    pub prospect_id: i64,
    /// The prospect's name.
    pub name: &'a str,
    pub submitted_at: i64,
}

/// Tells each form's owners and admins who want it that leads arrived, in
/// the transaction that applied the submissions: one notification per lead
/// and person (stored once per submission key, so a redelivery tells
/// nobody again), and one email per person, form and
/// [`NEW_LEAD_EMAIL_WINDOW_MS`], made from the first lead of the window.
/// A few statements for any number of leads.
pub async fn leads_arrived(tx: &mut Tx, queue: &Queue, leads: &[Lead<'_>]) -> anyhow::Result<()> {
    let mut owners: std::collections::HashMap<i64, Vec<queries::Recipient>> = Default::default();
    for lead in leads {
        let organization_id = lead.form.organization_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry(organization_id) {
            let people = queries::form_owners(tx, organization_id, Kind::NewLead).await?;
            slot.insert(people.into_iter().filter(|p| p.wants).collect());
        }
    }
    // (lead, person, text, key) for every notice.
    let mut notices = Vec::new();
    for lead in leads {
        let text = format!("New lead on {}: {}.", lead.form.title, lead.name);
        for person in &owners[&lead.form.organization_id] {
            let key = format!("new_lead:{}:{}", lead.submission_key, person.id);
            notices.push((lead, person, text.clone(), key));
        }
    }
    let new: Vec<New> = notices
        .iter()
        .map(|(lead, person, text, key)| New {
            organization_id: lead.form.organization_id,
            user_id: person.id,
            kind: Kind::NewLead,
            prospect_id: Some(lead.prospect_id),
            text,
            key,
            at: lead.submitted_at,
        })
        .collect();
    let stored = queries::insert_all(tx, &new).await?;
    let mut emailed = std::collections::HashSet::new();
    for (lead, person, text, key) in &notices {
        if !stored.contains(key) {
            continue;
        }
        let window = lead.submitted_at.div_euclid(NEW_LEAD_EMAIL_WINDOW_MS);
        let email_key = format!("new-lead-{}-{}-{window}", person.id, lead.form.id);
        if !emailed.insert(email_key.clone()) {
            continue;
        }
        let message = views::email(
            email_key,
            lead.form.organization_id,
            person,
            &format!("New lead on {}", lead.form.title),
            text,
            &["More leads may have arrived since: Rally lists each one under Notifications."],
        );
        email::queue(tx, queue, &message).await?;
    }
    Ok(())
}

/// The hourly job: the tick it was enqueued for (Unix ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MorningSummary {
    pub tick: i64,
}

impl Job for MorningSummary {
    const KIND: &'static str = "rally.morning_summary";
    const MAX_ATTEMPTS: usize = 5;
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
}

/// The name of the morning summary's schedule.
pub const SUMMARY_SCHEDULE: &str = "rally.morning_summary";

/// Rally's periodic schedules: the morning summary, at the top of every
/// hour (UTC; each person's 08:00 falls on one of them, or on one of them
/// at half past for zones a half-hour off).
pub fn schedules() -> Vec<Schedule> {
    vec![
        Schedule::new(SUMMARY_SCHEDULE, "0 * * * *", "UTC", |tick| {
            MorningSummary {
                tick: tick.timestamp_millis(),
            }
        })
        .expect("the morning summary's schedule is valid"),
    ]
}

/// The job's handler.
pub async fn run_summary(pool: &Pool, queue: &Queue, job: MorningSummary) -> Result<(), JobError> {
    morning_summary(pool, queue, job.tick)
        .await
        .map(|_| ())
        .map_err(|e| JobError::retryable(e.to_string()))
}

/// Sends the morning summary to everyone whose local hour at `now` is
/// 08 and who has not had today's: returns how many were queued. `now` is
/// the tick (tests pass their own clock).
pub async fn morning_summary(pool: &Pool, queue: &Queue, now: i64) -> anyhow::Result<usize> {
    let mut sent = 0;
    for (user_id, address, name, zone) in queries::summary_readers(pool).await? {
        let zone: Tz = time_zones::resolve(zone.as_deref().unwrap_or("UTC"));
        let local = time_zones::local(now, zone);
        if local.hour() != 8 {
            continue;
        }
        let date = local.date_naive().to_string();
        let until = time_zones::start_of_next_day(now, zone);
        let tasks = crate::tasks::queries::open_due_for_person(pool, user_id, until).await?;
        let mut tx = pool.begin_write().await?;
        if !queries::claim_summary(&mut tx, user_id, &date, now).await? {
            tx.commit().await?;
            continue;
        }
        if !tasks.is_empty() {
            let person = queries::Recipient {
                id: user_id,
                email: address,
                name,
                wants: true,
            };
            let mut organizations: Vec<i64> = tasks.iter().map(|t| t.organization_id).collect();
            organizations.sort_unstable();
            organizations.dedup();
            let text = format!(
                "Today: {} due.",
                crate::platform::ui::plural(tasks.len() as i64, "follow-up", "follow-ups")
            );
            for organization_id in &organizations {
                queries::insert(
                    &mut tx,
                    &New {
                        organization_id: *organization_id,
                        user_id,
                        kind: Kind::Summary,
                        prospect_id: None,
                        text: &text,
                        key: &format!("summary:{user_id}:{date}:{organization_id}"),
                        at: now,
                    },
                )
                .await?;
            }
            let message = views::summary_email(
                format!("summary-{user_id}-{date}"),
                organizations[0],
                &person,
                &tasks,
                zone,
                now,
            );
            email::queue(&mut tx, queue, &message).await?;
            sent += 1;
        }
        tx.commit().await?;
    }
    Ok(sent)
}
