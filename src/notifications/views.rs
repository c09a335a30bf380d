//! The notifications page, the header's link, the account page's
//! preferences, and the notification emails.

use maud::{Markup, html};

use super::queries::{Kind, Notification, Preferences, Recipient};
use crate::platform::mail::Email;
use crate::platform::time_zones::Tz;
use crate::platform::ui::Nav;
use crate::platform::ui::datetime;
use crate::platform::ui::layout;
use crate::tasks::kind_label;
use crate::tasks::queries::Task;

/// The header's link, with the unread count.
pub fn header_link(unread: i64) -> Markup {
    html! {
        a #notifications-link href="/notifications" {
            "Notifications"
            @if unread > 0 {
                " " span.badge.count aria-label={ (unread) " unread" } { (unread) }
            }
        }
    }
}

pub fn page(nav: Nav<'_>, notifications: &[Notification]) -> Markup {
    let csrf = nav.csrf.to_string();
    let zone = nav.zone;
    let unread = notifications.iter().any(|n| n.read_at.is_none());
    layout(
        "Notifications",
        Some(nav),
        html! {
            h1 { "Notifications" }
            @if unread {
                form method="post" action="/notifications/read" {
                    input type="hidden" name="_csrf" value=(csrf);
                    button type="submit" { "Mark all as read" }
                }
            }
            @if notifications.is_empty() {
                p.empty { "Nothing yet. You are told here when a lead is assigned to you, when a new lead arrives on your forms, and each morning about your follow-ups." }
            } @else {
                ul.notifications {
                    @for n in notifications {
                        li.unread[n.read_at.is_none()] {
                            p {
                                @if let Some(id) = n.prospect_id { a href={ "/prospects/" (id) } { (n.text) } }
                                @else { a href="/" { (n.text) } }
                            }
                            p.meta {
                                (datetime(n.created_at, zone))
                                @if n.read_at.is_none() { " · " span.badge { "new" } }
                            }
                        }
                    }
                }
            }
            p.meta { "Choose what you are told about on " a href="/account#preferences" { "your account page" } "." }
        },
    )
}

/// The account page's section: time zones and notification choices.
/// `organization` (its zone and currency) is `Some` for those who may
/// change the organization's settings.
pub fn preferences(
    csrf: &str,
    prefs: &Preferences,
    zone_value: &str,
    organization: Option<OrganizationSettings<'_>>,
    problems: &[(&'static str, &'static str)],
) -> Markup {
    let problem = |field| crate::platform::ui::problem(problems, field);
    html! {
        section.card #preferences {
            h2 { "Time zone and notifications" }
            form method="post" action="/account/preferences" {
                input type="hidden" name="_csrf" value=(csrf);
                div.field.invalid[problem("time_zone").is_some()] {
                    label for="time_zone" { "Your time zone" }
                    (zone_select("time_zone", zone_value, true))
                    @if let Some(msg) = problem("time_zone") { p.error #time_zone-error { (msg) } }
                }
                @if let Some(org) = organization {
                    div.field.invalid[problem("organization_time_zone").is_some()] {
                        label for="organization_time_zone" { "Your organization's time zone (for people who have not chosen one)" }
                        (zone_select("organization_time_zone", org.time_zone, false))
                        @if let Some(msg) = problem("organization_time_zone") { p.error { (msg) } }
                    }
                    (crate::platform::ui::labelled_input(
                        "organization_currency",
                        "organization_currency",
                        "Your organization's currency (an ISO 4217 code, like USD or EUR)",
                        "text",
                        org.currency,
                        (true, "off"),
                        problem("organization_currency"),
                    ))
                }
                fieldset.field {
                    legend { "Tell me, in Rally and by email, when" }
                    @for kind in Kind::ALL {
                        label.choice {
                            input type="checkbox" name=(kind.field()) value="on" checked[prefs.wants(kind)];
                            " " (kind.label())
                        }
                    }
                }
                button.primary type="submit" { "Save" }
            }
        }
    }
}

/// The organization's settings in the form, as stored or as typed: its
/// time zone and its currency's code.
#[derive(Debug, Clone, Copy)]
pub struct OrganizationSettings<'a> {
    pub time_zone: &'a str,
    pub currency: &'a str,
}

/// A choice of every zone; `value` is kept as typed when it is not one
/// (the form shown again with a message).
fn zone_select(name: &str, value: &str, organization_default: bool) -> Markup {
    let known = crate::platform::time_zones::parse(value).is_some();
    html! {
        select id=(name) name=(name) {
            @if organization_default {
                option value="" selected[value.is_empty()] { "My organization's" }
            }
            @if !known && !value.is_empty() { option value=(value) selected { (value) } }
            @for zone in crate::platform::time_zones::all() {
                option value=(zone.name()) selected[zone.name() == value] { (zone.name()) }
            }
        }
    }
}

/// A one-line notification email to `to`.
pub fn email(
    key: String,
    organization_id: i64,
    to: &Recipient,
    subject: &str,
    text: &str,
    more: &[&str],
) -> Email {
    let body = html! {
        p { "Hi " (to.name) "," }
        p { (text) }
        @for line in more { p { (line) } }
        p style="color: #6e6e73; font-size: .9rem;" { "You can turn these emails off on your account page in Rally." }
    };
    let mut plain = format!("Hi {},\n\n{text}\n", to.name);
    for line in more {
        plain.push_str(&format!("\n{line}\n"));
    }
    plain.push_str("\nYou can turn these emails off on your account page in Rally.\n");
    crate::platform::mail::message(key, Some(organization_id), &to.email, subject, body, plain)
}

/// The morning summary: the follow-ups due today and overdue, times in
/// the person's zone.
pub fn summary_email(
    key: String,
    organization_id: i64,
    to: &Recipient,
    tasks: &[Task],
    zone: Tz,
    now: i64,
) -> Email {
    let subject = format!(
        "Your day: {} due",
        crate::platform::ui::plural(tasks.len() as i64, "follow-up", "follow-ups")
    );
    let line = |t: &Task| {
        format!(
            "{} {} · due {}{}{}",
            kind_label(&t.kind),
            t.prospect_name,
            datetime(t.due_at, zone),
            if t.due_at < now { " (overdue)" } else { "" },
            if t.note.is_empty() {
                String::new()
            } else {
                format!(" · {}", t.note)
            }
        )
    };
    let body = html! {
        p { "Good morning " (to.name) "," }
        p { "Your follow-ups due today:" }
        ul { @for t in tasks { li { (line(t)) } } }
        p style="color: #6e6e73; font-size: .9rem;" { "You can turn this summary off on your account page in Rally." }
    };
    let mut plain = format!(
        "Good morning {},\n\nYour follow-ups due today:\n\n",
        to.name
    );
    for t in tasks {
        plain.push_str(&format!("- {}\n", line(t)));
    }
    plain.push_str("\nYou can turn this summary off on your account page in Rally.\n");
    crate::platform::mail::message(key, Some(organization_id), &to.email, &subject, body, plain)
}
