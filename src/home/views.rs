//! The home page.

use maud::{Markup, html};

use super::queries::Counts;
use crate::platform::text::display_email;
use crate::platform::time_zones::Tz;
use crate::platform::ui::Nav;
use crate::platform::ui::datetime;
use crate::platform::ui::layout;
use crate::prospects::queries::Prospect;
use crate::tasks::queries::Task;
use crate::tasks::views::item;

/// A row of the week's counts: who it covers, this week's and last week's.
pub struct Week {
    pub label: &'static str,
    pub this: Counts,
    pub last: Counts,
}

/// Everything the home page shows.
pub struct Home<'a> {
    pub now: i64,
    /// The first-run checklist, while it shows.
    pub checklist: Option<&'a Checklist>,
    pub tasks: &'a [Task],
    pub new_leads: &'a [Prospect],
    pub new_count: i64,
    pub assigned: &'a [Prospect],
    pub hottest: &'a [(Prospect, i64)],
    pub weeks: &'a [Week],
}

fn change(this: i64, last: i64) -> Markup {
    let diff = this - last;
    html! {
        span.change.up[diff > 0].down[diff < 0] title={ "last week: " (last) } {
            @if diff > 0 { "+" (diff) } @else if diff < 0 { "−" (-diff) } @else { "±0" }
        }
    }
}

fn prospect_line(p: &Prospect, zone: Tz, when: i64) -> Markup {
    html! {
        li {
            a href={ "/prospects/" (p.id) } {
                strong.name { (p.name) }
                @if p.email.is_empty() { span.email { (p.phone.as_deref().unwrap_or_default()) } } @else { span.email { (display_email(&p.email)) } }
                span.meta { (p.stage.badge()) " · " (datetime(when, zone)) }
            }
        }
    }
}

/// The first-run checklist: each item done or not, from the
/// organization's data (`locations` only for a franchise HQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checklist {
    /// A form made the organization's own (a field, branding, a 2nd form).
    pub form: bool,
    /// Someone else in the organization, or invited.
    pub team: bool,
    pub locations: Option<bool>,
    /// An event run (a rehearsal before the real audience).
    pub rehearsal: bool,
}

impl Checklist {
    pub fn all_done(&self) -> bool {
        self.form && self.team && self.locations.unwrap_or(true) && self.rehearsal
    }
}

fn checklist(list: &Checklist, csrf: &str) -> Markup {
    let item = |done: bool, href: &str, text: &str, hint: &str| {
        html! {
            li.done[done] {
                span aria-hidden="true" { (if done { "✓ " } else { "○ " }) }
                @if done { s { (text) } span.visually-hidden { " (done)" } }
                @else { a href=(href) { (text) } " " span.meta { (hint) } }
            }
        }
    };
    html! {
        section.card #checklist {
            h2 { "Getting started" }
            ul.checklist {
                (item(list.form, "/forms", "Adjust your form", "Add the questions you need, your logo and colour."))
                (item(list.team, "/people", "Invite your team", "Reps get their leads on their phones."))
                @if let Some(done) = list.locations {
                    (item(done, "/locations", "Add your locations", "Each location gets its own forms and leads."))
                }
                (item(list.rehearsal, "/events", "Try a rehearsal", "Start an event and send your form from your phone."))
            }
            form.inline method="post" action="/home/checklist" {
                input type="hidden" name="_csrf" value=(csrf);
                button.link type="submit" { "Hide this list" }
            }
        }
    }
}

pub fn page(nav: Nav<'_>, home: &Home<'_>) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    let name = nav.user_name.to_string();
    layout(
        "Home",
        Some(nav),
        html! {
            h1 { "Good day, " (name) }
            @if let Some(list) = home.checklist { (checklist(list, &csrf)) }
            div.home {
                section.card #today {
                    h2 { "Today" }
                    @if home.tasks.is_empty() {
                        p.empty { "No follow-up due today. Add one from a prospect's page." }
                    } @else {
                        ul.tasks { @for t in home.tasks { (item(t, &csrf, zone, home.now, "/", true)) } }
                    }
                }
                section.card #new-leads {
                    h2 { "New leads since you last looked" " " span.badge { (home.new_count) } }
                    @if home.new_leads.is_empty() { p.empty { "Nothing new." } }
                    @else {
                        ul.prospects { @for p in home.new_leads { (prospect_line(p, zone, p.created_at)) } }
                        @if home.new_count > home.new_leads.len() as i64 { p { a href="/prospects" { "See all prospects" } } }
                    }
                }
                section.card #assigned {
                    h2 { "Assigned to you" }
                    @if home.assigned.is_empty() { p.empty { "No open lead is assigned to you." } }
                    @else { ul.prospects { @for p in home.assigned { (prospect_line(p, zone, p.updated_at)) } } }
                }
                section.card #hottest {
                    h2 { "Hottest prospects" }
                    @if home.hottest.is_empty() { p.empty { "No prospect has engaged in the last 30 days." } }
                    @else { ul.prospects { @for (p, at) in home.hottest { (prospect_line(p, zone, *at)) } } }
                    p.small { "Ranked by most recent engagement: the last form each one sent, in the last 30 days." }
                }
                section.card #week {
                    h2 { "This week" }
                    div.table-wrap {
                        table.counts {
                            thead { tr { th { "" } th { "New" } th { "Contacted" } th { "Won" } th { "Lost" } } }
                            tbody {
                                @for w in home.weeks {
                                    tr data-row=(w.label) {
                                        th scope="row" { (w.label) }
                                        td.new { (w.this.new) " " (change(w.this.new, w.last.new)) }
                                        td.contacted { (w.this.contacted) " " (change(w.this.contacted, w.last.contacted)) }
                                        td.won { (w.this.won) " " (change(w.this.won, w.last.won)) }
                                        td.lost { (w.this.lost) " " (change(w.this.lost, w.last.lost)) }
                                    }
                                }
                            }
                        }
                    }
                    p.small { "Weeks start on Monday in " (zone.name()) "; the change is against the whole of last week. Won means moved to customer." }
                }
            }
        },
    )
}
