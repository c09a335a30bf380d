//! Franchise HQ pages: locations with roll-ups, one location.

use maud::{Markup, html};

use crate::organizations::{
    locations::queries::{RecentSubmission, Rollup},
    queries::{Member, Organization},
};
use crate::platform::ui::{Nav, datetime, layout};

pub fn locations(
    nav: Nav<'_>,
    hq: &Organization,
    rollups: &[Rollup],
    // The new location's problem and the name as typed, shown again.
    problem: Option<(&str, &str)>,
    notice: Option<&str>,
) -> Markup {
    let (problem, typed) = match problem {
        Some((problem, typed)) => (Some(problem), typed),
        None => (None, ""),
    };
    let csrf = nav.csrf.to_string();
    let sum = |f: fn(&Rollup) -> i64| rollups.iter().map(f).sum::<i64>();
    layout(
        "Locations",
        Some(nav),
        html! {
            h1 { "Locations of " (hq.name) }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            table.jobs {
                thead { tr { th { "Location" } th { "People" } th { "Prospects" } th { "Hot" } th { "Customers" } th { "Submissions, 30 days" } } }
                tbody {
                    @for r in rollups {
                        tr {
                            td { a href={ "/locations/" (r.id) } { (r.name) } }
                            td { (r.members) } td { (r.prospects) } td { (r.hot) } td { (r.customers) } td { (r.recent_submissions) }
                        }
                    }
                    tr.total {
                        td { strong { "All locations" } }
                        td { (sum(|r| r.members)) } td { (sum(|r| r.prospects)) } td { (sum(|r| r.hot)) }
                        td { (sum(|r| r.customers)) } td { (sum(|r| r.recent_submissions)) }
                    }
                }
            }
            @if rollups.is_empty() { p.empty { "No location yet." } }
            section.card {
                h2 { "Add a location" }
                @if let Some(problem) = problem { p.alert role="alert" { (problem) } }
                form method="post" action="/locations" {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="location-name" { "Name" }
                        input #location-name type="text" name="name" value=(typed) required;
                    }
                    button.primary type="submit" { "Add location" }
                }
                p.meta { "Invite a location's manager from " a href="/people" { "People" } ", choosing the location." }
            }
        },
    )
}

pub fn location(
    nav: Nav<'_>,
    rollup: &Rollup,
    members: &[Member],
    submissions: &[RecentSubmission],
) -> Markup {
    let zone = nav.zone;
    layout(
        &rollup.name,
        Some(nav),
        html! {
            p { a href="/locations" { "← Locations" } }
            h1 { (rollup.name) }
            dl.facts {
                dt { "Prospects" } dd { (rollup.prospects) }
                dt { "Hot" } dd { (rollup.hot) }
                dt { "Customers" } dd { (rollup.customers) }
                dt { "Submissions, 30 days" } dd { (rollup.recent_submissions) }
            }
            h2 { "People" }
            @if members.is_empty() { p.empty { "Nobody yet." } }
            ul.people {
                @for m in members {
                    li { strong { (m.name) } " " span.meta { (crate::platform::text::display_email(&m.email)) " · " (m.role) " · since " (datetime(m.joined_at, zone)) } }
                }
            }
            p { a href={ "/people#location-" (rollup.id) } { (rollup.name) " on the People page" } }
            h2 { "Recent submissions" }
            @if submissions.is_empty() { p.empty { "No form submission yet." } }
            ul.submissions {
                @for s in submissions {
                    li {
                        a href={ "/prospects/" (s.prospect_id) } { strong { (s.prospect_name) } }
                        " " span.meta {
                            (crate::platform::text::display_email(&s.prospect_email)) " · "
                            @if let Some(title) = &s.form_title { (title) " · " }
                            (datetime(s.created_at, zone))
                        }
                    }
                }
            }
            p { a href={ "/prospects?location=" (rollup.id) } { "All of " (rollup.name) "'s prospects" } }
        },
    )
}
