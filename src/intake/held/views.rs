//! Held submissions: the list with Release and Discard, and the discard
//! confirmation.

use std::collections::HashMap;

use maud::{Markup, html};

use crate::intake::held::queries::{Held, HeldReason};
use crate::platform::ui::{Nav, datetime, layout, plural};

/// A held submission's answers, every one as the person typed it (escaped):
/// name and email as the heading, then phone, company, interest and consent.
fn answers(held: &Held) -> Markup {
    match held.parsed_answers() {
        Some(a) => html! {
            p.name { strong { (a.name) } }
            dl.answers {
                dt { "Email" } dd { (a.email.as_ref().map_or("—".into(), |e| crate::platform::text::display_email(e.as_str()))) }
                dt { "Phone" } dd { (a.phone.as_ref().map_or("—", |p| p.as_str())) }
                dt { "Company" } dd { (a.company.as_deref().unwrap_or("—")) }
                dt { "Interest" } dd { (a.interest.as_deref().unwrap_or("—")) }
                dt { "Consent" } dd {
                    (if a.consent { "Yes, may be contacted" } else { "No" })
                }
            }
        },
        None => html! { p.meta { "(answers unreadable)" } },
    }
}

fn meta(held: &Held, zone: crate::platform::time_zones::Tz) -> Markup {
    html! {
        p.meta {
            (datetime(held.submitted_at, zone)) " · " (held.form_title) " · "
            (HeldReason::describe(&held.reason))
        }
    }
}

/// "Held submissions are deleted after 30 days."
fn retention(days: u64) -> String {
    format!(
        "Held submissions are deleted after {}.",
        plural(days.try_into().unwrap_or(i64::MAX), "day", "days")
    )
}

/// `GET /held`: `rows` newest first, `total` how many are held in all;
/// they are purged `retention_days` after they were sent. Exact repeats
/// (the same answers to the same form) are marked with how often they
/// were sent.
pub fn index(
    nav: Nav<'_>,
    rows: &[Held],
    total: i64,
    retention_days: u64,
    notice: Option<&str>,
) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    let mut repeats: HashMap<(i64, &str), u64> = HashMap::new();
    for h in rows {
        *repeats.entry((h.form_id, h.answers.as_str())).or_default() += 1;
    }
    layout(
        "Held submissions",
        Some(nav),
        html! {
            h1 { "Held submissions" }
            p.lead {
                "These were sent through your forms but looked automated: sent very quickly, "
                "or with a hidden field filled in (browser autofill does both). "
                "Release the ones from people; they become prospects as usual."
            }
            p.meta #held-retention { (retention(retention_days)) }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if rows.is_empty() {
                p.empty { "Nothing is held. Submissions that look automated wait here for you." }
            } @else {
                p.meta #held-count {
                    (plural(total, "submission held", "submissions held"))
                    @if total > rows.len() as i64 { ", the newest " (rows.len()) " shown" }
                }
                ul.held {
                    @for h in rows {
                        @let sent = repeats.get(&(h.form_id, h.answers.as_str())).copied().unwrap_or(1);
                        li {
                            (answers(h))
                            (meta(h, zone))
                            @if sent > 1 {
                                p { span.badge.warn { "Sent " (sent) " times with the same answers" } }
                            }
                            div.actions {
                                form.inline method="post" action={ "/held/" (h.id) "/release" } {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    button.small.go type="submit" { "Release" }
                                }
                                a.button.small href={ "/held/" (h.id) "/discard" } { "Discard…" }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `GET /held/{id}/discard`: asks before deleting for good.
pub fn confirm_discard(nav: Nav<'_>, held: &Held, retention_days: u64) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    layout(
        "Discard a held submission",
        Some(nav),
        html! {
            section.card.narrow {
                h1 { "Discard this submission?" }
                (answers(held))
                (meta(held, zone))
                p { "It will be deleted for good and will not become a prospect. "
                    "(Kept, it would be deleted " (crate::platform::ui::plural(retention_days.try_into().unwrap_or(i64::MAX), "day", "days")) " after it was sent.)" }
                form.actions method="post" action={ "/held/" (held.id) "/discard" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    button.small.danger type="submit" { "Discard it" }
                    a.button.small href="/held" { "Keep it" }
                }
            }
        },
    )
}

/// A held submission that is no longer held (released or discarded, by
/// this person or another, or never of this organization): said kindly,
/// with the way back. Served with status 404.
pub fn gone(nav: Nav<'_>) -> Markup {
    layout(
        "No longer held",
        Some(nav),
        html! {
            section.card.narrow {
                h1 { "No longer held" }
                p { "This submission was already released or discarded: there is nothing left to do." }
                p { a href="/held" { "Back to held submissions" } }
            }
        },
    )
}

/// The prospects page's pointer to what waits for review; empty when
/// nothing does.
pub fn notice(held: i64) -> Markup {
    html! {
        @if held > 0 {
            p.notice role="status" {
                a href="/held" { (plural(held, "submission", "submissions")) " held for review" }
            }
        }
    }
}
