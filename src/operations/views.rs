//! Failed work: an organization's own page (`/jobs`) and the operators'
//! deployment-wide dashboard (`/ops/jobs`).

use maud::{Markup, html};

use crate::platform::ui::{Nav, datetime, layout, plural};
use jobs::{DeadLetter, QueueStats, ScheduleStatus};

/// A form submission's answers, as a person reads them.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub interest: Option<String>,
}

/// One failed job, in words.
#[derive(Debug, Clone)]
pub struct Failed {
    pub queue: String,
    pub id: String,
    /// "A form submission from Ana Lima <ana@example.com> could not be saved".
    pub what: String,
    pub reason: String,
    pub attempts: i64,
    /// The job kind's attempts (0 when unknown).
    pub max_attempts: usize,
    /// When a retrying job is due again (Unix ms).
    pub due_at: Option<i64>,
}

/// A submission an operator set aside, with its answers.
#[derive(Debug, Clone)]
pub struct Kept {
    pub id: i64,
    pub kept_at: i64,
    pub answers: Answers,
    pub reason: String,
}

fn answers(a: &Answers) -> Markup {
    html! {
        dl.answers {
            dt { "Name" } dd { (a.name) }
            dt { "Email" } dd { (crate::platform::text::display_email(&a.email)) }
            @if let Some(phone) = &a.phone { dt { "Phone" } dd { (phone) } }
            @if let Some(company) = &a.company { dt { "Company" } dd { (company) } }
            @if let Some(interest) = &a.interest { dt { "Interest" } dd { (interest) } }
        }
    }
}

/// `/jobs`: the organization's own failed work.
pub fn organization(
    nav: Nav<'_>,
    retrying: &[Failed],
    dead: &[Failed],
    kept: &[Kept],
    is_operator: bool,
    notice: Option<&str>,
) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    layout(
        "Jobs",
        Some(nav),
        html! {
            h1 { "Work Rally could not finish" }
            p.meta { "Form submissions and emails of your organization that failed. Nothing here is lost: Rally keeps trying, or waits for you." }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if is_operator {
                p { a href="/ops/jobs" { "Every organization's jobs (operators)" } }
            }
            section.card {
                h2 { "Trying again" }
                @if retrying.is_empty() {
                    p.empty { "Nothing is waiting for another try." }
                } @else {
                    ul.failures {
                        @for f in retrying {
                            li {
                                strong { (f.what) } ": " span.error { (f.reason) } ". "
                                "Rally will try again"
                                @if let Some(due) = f.due_at { " at " (datetime(due, zone)) }
                                " (tried " (f.attempts)
                                @if f.max_attempts > 0 { " of " (f.max_attempts) }
                                " times)."
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Stopped" }
                @if dead.is_empty() {
                    p.empty { "Nothing has stopped. What Rally gives up on shows here, for you to retry." }
                } @else {
                    ul.failures {
                        @for d in dead {
                            li {
                                strong { (d.what) } ": " span.error { (d.reason) } ". "
                                "Rally stopped after " (plural(d.attempts, "try", "tries")) ". "
                                form.inline method="post" action="/jobs/retry" {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    input type="hidden" name="queue" value=(d.queue);
                                    input type="hidden" name="id" value=(d.id);
                                    button type="submit" { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
            @if !kept.is_empty() {
                section.card {
                    h2 { "Submissions set aside" }
                    p.meta { "Rally's operators took these out of the queue; their answers are kept here. Try again once the reason is fixed." }
                    @for k in kept {
                        article.kept id={ "kept-" (k.id) } {
                            p.meta { "Set aside " (datetime(k.kept_at, zone)) " · " span.error { (k.reason) } }
                            (answers(&k.answers))
                            form.inline method="post" action={ "/jobs/kept/" (k.id) "/retry" } {
                                input type="hidden" name="_csrf" value=(csrf);
                                button type="submit" { "Try again" }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What the operators' dashboard shows: every queue's counts, the
/// schedules with their last and next run, the jobs waiting to retry with
/// their last error, dead letters with Retry and Discard, and inbound
/// webhook events. Ids, errors and counts; never a payload.
pub struct Operations<'a> {
    /// "SQL queue" or "Amazon SQS".
    pub backend: &'a str,
    pub stats: &'a [QueueStats],
    pub failures: &'a [DeadLetter],
    pub dead: &'a [DeadLetter],
    /// Periodic schedules with their last and next run.
    pub schedules: &'a [ScheduleStatus],
    pub unclaimed_kept: usize,
    /// Inbound webhook events, newest first.
    pub inbound: &'a [jobs::inbox::Entry],
    pub notice: Option<&'a str>,
}

pub fn operations(nav: Nav<'_>, board: Operations<'_>) -> Markup {
    let zone = nav.zone;
    let Operations {
        backend,
        stats,
        failures,
        dead,
        schedules,
        unclaimed_kept,
        inbound,
        notice,
    } = board;
    let csrf = nav.csrf.to_string();
    layout(
        "Operations",
        Some(nav),
        html! {
            h1 { "Jobs of every organization" }
            p.meta { "Backend: " (backend) ". For the deployment's operators only." }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            section.card {
                h2 { "Queues" }
                @if stats.is_empty() {
                    p.empty { "No job has been queued yet." }
                } @else {
                    table.jobs {
                        thead { tr {
                            th { "Queue" } th { "Waiting" } th { "In flight" } th { "Succeeded" }
                            th { "Failed, will retry" } th { "Dead" } th { "Oldest waiting" }
                        } }
                        tbody {
                            @for s in stats {
                                tr {
                                    td { code { (s.queue) } }
                                    td { (s.pending) } td { (s.running) } td { (s.done) }
                                    td { (s.retrying) } td { (s.dead) }
                                    td { @match s.oldest_pending_secs { Some(secs) => { (secs) " s" }, None => "—" } }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Schedules" }
                @if schedules.is_empty() {
                    p.empty { "No periodic job is scheduled." }
                } @else {
                    table.jobs {
                        thead { tr {
                            th { "Schedule" } th { "Queue" } th { "When" }
                            th { "Last run" } th { "Next run" }
                        } }
                        tbody {
                            @for s in schedules {
                                tr {
                                    td { (s.name) }
                                    td { code { (s.kind) } }
                                    td { code { (s.cron) } " (" (s.zone) ")" }
                                    td { @match s.last_tick { Some(tick) => (datetime(tick, zone)), None => "not yet" } }
                                    td { (datetime(s.next_due, zone)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Waiting to retry" }
                @if failures.is_empty() {
                    p.empty { "No failure waiting for a retry." }
                } @else {
                    ul.failures {
                        @for f in failures {
                            li {
                                code { (f.queue) } " · attempt " (f.attempts)
                                @if let Some(due) = f.due_at { " · due " (datetime(due, zone)) }
                                " · "
                                span.error { (f.error.as_deref().unwrap_or("no error recorded")) }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Dead letters" }
                @if dead.is_empty() {
                    p.empty { "No dead letter. Every job that failed for good shows here." }
                } @else {
                    ul.failures {
                        @for d in dead {
                            li {
                                code { (d.queue) } " · " code { (d.id) } " · " (plural(d.attempts, "attempt", "attempts")) " · "
                                span.error { (d.error.as_deref().unwrap_or("no error recorded")) }
                                form.inline method="post" action="/ops/jobs/retry" {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    input type="hidden" name="queue" value=(d.queue);
                                    input type="hidden" name="id" value=(d.id);
                                    button type="submit" { "Retry" }
                                }
                                form.inline method="get" action="/ops/jobs/discard" {
                                    input type="hidden" name="queue" value=(d.queue);
                                    input type="hidden" name="id" value=(d.id);
                                    button.link type="submit" { "Discard…" }
                                }
                            }
                        }
                    }
                }
            }
            @if !inbound.is_empty() {
                section.card {
                    h2 { "Inbound webhook events" }
                    ul.failures {
                        @for e in inbound {
                            li {
                                code { (e.provider) } " · " code { (e.event_id) } " · "
                                strong { (e.status.as_str()) } " · " (plural(e.attempts, "attempt", "attempts")) " · received "
                                (datetime(e.received_at, zone))
                                @if let Some(at) = e.finished_at { " · finished " (datetime(at, zone)) }
                                @if e.purged { " · request purged" }
                                @if let Some(error) = &e.error { " · " span.error { (error) } }
                            }
                        }
                    }
                }
            }
            @if unclaimed_kept > 0 {
                p.meta { (plural(unclaimed_kept.try_into().unwrap_or(i64::MAX), "set-aside submission belongs", "set-aside submissions belong")) " to no organization any more (their form is gone); they stay in kept_submissions." }
            }
        },
    )
}

/// "Discard this dead letter?"
pub fn confirm_discard(nav: Nav<'_>, failed: &Failed, keeps_answers: bool) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Discard a dead letter",
        Some(nav),
        html! {
            h1 { "Discard this dead letter?" }
            section.card {
                p { code { (failed.queue) } " · " code { (failed.id) } }
                p { span.error { (failed.reason) } }
                @if keeps_answers {
                    p { "It is a form submission: its answers are kept for its organization, who see them on their Jobs page and can try them again. It leaves the queue." }
                } @else {
                    p { "It leaves the queue for good." }
                }
                form method="post" action="/ops/jobs/discard" {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="queue" value=(failed.queue);
                    input type="hidden" name="id" value=(failed.id);
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "Discard" }
                    " "
                    a href="/ops/jobs" { "Keep it" }
                }
            }
        },
    )
}
