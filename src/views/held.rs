//! Held submissions: the list with Release and Discard, and the discard
//! confirmation.

use maud::{Markup, html};

use super::{Nav, datetime, layout};
use crate::db::held::{Held, HeldReason};

/// A held submission's answers, as the person typed them (escaped).
fn answers(held: &Held) -> Markup {
    match held.parsed_answers() {
        Some(a) => html! {
            strong.name { (a.name) } " · " (crate::domain::display_email(a.email.as_str()))
            @if let Some(phone) = &a.phone { " · " (phone.as_str()) }
            @if let Some(company) = &a.company { " · " (company) }
            @if let Some(interest) = &a.interest { br; span.meta { (interest) } }
        },
        None => html! { span.meta { "(answers unreadable)" } },
    }
}

fn meta(held: &Held) -> Markup {
    html! {
        span.meta {
            (datetime(held.submitted_at)) " · " (held.form_title) " · "
            (HeldReason::describe(&held.reason))
        }
    }
}

/// `GET /held`: `rows` newest first, `total` how many are held in all.
pub fn index(nav: Nav<'_>, rows: &[Held], total: i64, notice: Option<&str>) -> Markup {
    let csrf = nav.csrf.to_string();
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
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if rows.is_empty() {
                p.empty { "Nothing is held. Submissions that look automated wait here for you." }
            } @else {
                p.meta #held-count { (total) " held" @if total > rows.len() as i64 { ", newest " (rows.len()) " shown" } }
                ul.held {
                    @for h in rows {
                        li {
                            (answers(h)) br;
                            (meta(h)) " "
                            form.inline method="post" action={ "/held/" (h.id) "/release" } {
                                input type="hidden" name="_csrf" value=(csrf);
                                button.primary type="submit" { "Release" }
                            }
                            " "
                            a href={ "/held/" (h.id) "/discard" } { "Discard…" }
                        }
                    }
                }
            }
        },
    )
}

/// `GET /held/{id}/discard`: asks before deleting for good.
pub fn confirm_discard(nav: Nav<'_>, held: &Held) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Discard a held submission",
        Some(nav),
        html! {
            section.card.narrow {
                h1 { "Discard this submission?" }
                p { (answers(held)) }
                p { (meta(held)) }
                p { "It will be deleted for good and will not become a prospect." }
                form method="post" action={ "/held/" (held.id) "/discard" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    button type="submit" { "Discard it" }
                    " "
                    a href="/held" { "Keep it" }
                }
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
                a href="/held" { (held) " submission" @if held != 1 { "s" } " held for review" }
            }
        }
    }
}
