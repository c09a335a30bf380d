//! The jobs dashboard.

use maud::{Markup, html};

use super::{Nav, layout};
use jobs::{DeadLetter, QueueStats};

pub fn dashboard(
    nav: Nav<'_>,
    backend: &str,
    stats: &[QueueStats],
    failures: &[DeadLetter],
    dead: &[DeadLetter],
    notice: Option<&str>,
) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Jobs",
        Some(nav),
        html! {
            h1 { "Jobs" }
            p.meta { "Backend: " (backend) }
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
                h2 { "Recent failures" }
                @if failures.is_empty() {
                    p.empty { "No failure waiting for a retry." }
                } @else {
                    ul.failures {
                        @for f in failures {
                            li {
                                code { (f.queue) } " · attempt " (f.attempts) " · "
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
                                code { (d.queue) } " · " code { (d.id) } " · " (d.attempts) " attempts · "
                                span.error { (d.error.as_deref().unwrap_or("no error recorded")) }
                                form.inline method="post" action="/jobs/dead/retry" {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    input type="hidden" name="queue" value=(d.queue);
                                    input type="hidden" name="id" value=(d.id);
                                    button type="submit" { "Retry" }
                                }
                                form.inline method="post" action="/jobs/dead/discard" {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    input type="hidden" name="queue" value=(d.queue);
                                    input type="hidden" name="id" value=(d.id);
                                    button.link type="submit" { "Discard" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
