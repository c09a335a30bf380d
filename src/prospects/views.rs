//! The prospects' pages and the fragments htmx swaps into them.

use maud::{Markup, html};

use crate::platform::ui::{Nav, datetime, labelled_input, layout, problem};
use crate::{
    organizations::queries::Member,
    platform::text::display_email,
    prospects::TimelineEvent,
    prospects::queries::{Prospect, TimelineEntry},
};

/// The quick-add form's state when it comes back.
#[derive(Debug, Default)]
pub struct QuickAdd {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub problems: Vec<(&'static str, &'static str)>,
    /// The prospect that already has this email, when the user may open it.
    pub existing: Option<i64>,
}

/// The search results table with its pager: the part search-as-you-type swaps.
pub fn prospect_results(
    prospects: &[Prospect],
    query: &str,
    page: i64,
    has_next: bool,
    zone: crate::platform::time_zones::Tz,
) -> Markup {
    let link = |p: i64| {
        format!(
            "/prospects?{}",
            serde_urlencoded::to_string([("q", query), ("page", &p.to_string())])
                .unwrap_or_default()
        )
    };
    html! {
        div #prospect-results {
            @if prospects.is_empty() {
                p.empty {
                    @if query.trim().is_empty() { "No prospects yet. Share your form to start collecting them." }
                    @else { "No prospect matches “" (query) "”." }
                }
            } @else {
                ul.prospects {
                    @for p in prospects {
                        li {
                            a href={ "/prospects/" (p.id) } {
                                strong.name { (p.name) }
                                @if p.email.is_empty() { span.email { (p.phone.as_deref().unwrap_or_default()) } } @else { span.email { (display_email(&p.email)) } }
                                @if let Some(company) = &p.company { span.company { (company) } }
                                span.meta {
                                    (p.stage.badge()) " · "
                                    (datetime(p.created_at, zone)) " · " (crate::platform::ui::plural(p.submissions, "submission", "submissions"))
                                    @if let Some(owner) = &p.owner_name { " · " (owner) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager {
                @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Newer" } }
                @if has_next { a rel="next" href=(link(page + 1)) { "Older →" } }
            }
        }
    }
}

pub fn prospects_page(nav: Nav<'_>, results: Markup, query: &str, quick: &QuickAdd) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Prospects",
        Some(nav),
        html! {
            h1 { "Prospects" }
            details.card.quick-add open[!quick.problems.is_empty()] {
                summary { "Add a prospect" }
                form #quick-add method="post" action="/prospects" {
                    input type="hidden" name="_csrf" value=(csrf);
                    (labelled_input("qa-name", "name", "Name", "text", &quick.name, (true, "off"), problem(&quick.problems, "name")))
                    (labelled_input("qa-email", "email", "Email", "email", &quick.email, (true, "off"), problem(&quick.problems, "email")))
                    @if let Some(id) = quick.existing { p { a href={ "/prospects/" (id) } { "Open that prospect" } } }
                    (labelled_input("qa-phone", "phone", "Phone (optional)", "tel", &quick.phone, (false, "off"), problem(&quick.problems, "phone")))
                    button.primary type="submit" { "Add" }
                }
            }
            p.actions { a href="/prospects/export.csv" { "Download as CSV" } " · " a href="/prospects/export.csv?sep=semicolon" { "CSV for Excel in Europe" } " · " a href="/prospects/import" { "Import a CSV file" } }
            form.search method="get" action="/prospects" role="search" {
                label.visually-hidden for="q" { "Search prospects" }
                input #q type="search" name="q" value=(query) placeholder="Search name, email or company"
                    hx-get="/prospects" hx-trigger="input changed delay:250ms, search"
                    hx-target="#prospect-results" hx-swap="outerHTML" hx-push-url="true";
                button type="submit" { "Search" }
            }
            (results)
        },
    )
}

pub fn prospect_page(
    nav: Nav<'_>,
    prospect: &Prospect,
    tags: &[String],
    timeline: &[TimelineEntry],
    tasks: Markup,
    may_delete: bool,
) -> Markup {
    let csrf = nav.csrf.to_string();
    let zone = nav.zone;
    layout(
        &prospect.name,
        Some(nav),
        html! {
            p { a href="/prospects" { "← All prospects" } }
            section.card {
                h1 { (prospect.name) }
                dl.facts {
                    @if !prospect.email.is_empty() { dt { "Email" } dd { a href=(crate::platform::ui::mailto_href(&prospect.email)) { (display_email(&prospect.email)) } } }
                    @if let Some(phone) = &prospect.phone { dt { "Phone" } dd { a href=(crate::platform::ui::tel_href(phone)) { (phone) } } }
                    @if let Some(company) = &prospect.company { dt { "Company" } dd { (company) } }
                    dt { "Source" } dd { (prospect.source) }
                    dt { "First seen" } dd { (datetime(prospect.created_at, zone)) }
                    dt { "Organization" } dd { (prospect.location_name) }
                    dt { "Stage" } dd { (prospect.stage.badge()) }
                    dt { "Owner" } dd { (prospect.owner_name.as_deref().unwrap_or("nobody yet")) }
                    @if !tags.is_empty() {
                        dt { "Tags" } dd { @for tag in tags { span.tag { (tag) } " " } }
                    }
                }
                p.actions {
                    a href={ "/prospects/" (prospect.id) "/edit" } { "Edit" }
                    @if prospect.owner_user_id.is_none() { (crate::prospects::list::claim_button(prospect.id, &csrf)) }
                    @if may_delete {
                        a href={ "/prospects/" (prospect.id) "/merge" } { "Merge a duplicate" }
                        // The list's bulk delete, for this one: its confirmation, then the trash.
                        form.inline method="post" action="/prospects/bulk" {
                            input type="hidden" name="_csrf" value=(csrf);
                            input type="hidden" name="action" value="delete";
                            input type="hidden" name="id" value=(prospect.id);
                            button.small.danger type="submit" { "Delete" }
                        }
                    }
                }
                (crate::prospects::pipeline::move_form(prospect, &csrf))
            }
            (tasks)
            section.card {
                form method="post" action={ "/prospects/" (prospect.id) "/notes" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="note" { "Add a note" }
                        textarea #note name="note" rows="3" required maxlength="4000" {}
                    }
                    button type="submit" { "Save note" }
                }
            }
            h2 { "Timeline" }
            ol.timeline {
                @for entry in timeline { (timeline_entry(entry, zone)) }
            }
        },
    )
}

/// One entry: every kind of event has its own lines (the match is
/// exhaustive, so a new event cannot be left unshown).
fn timeline_entry(entry: &TimelineEntry, zone: crate::platform::time_zones::Tz) -> Markup {
    html! {
        li {
            p.when { (datetime(entry.created_at, zone)) }
            @match &entry.event {
                TimelineEvent::FormSubmission(answers) => {
                    p { "Submitted " strong { (entry.form_title.as_deref().unwrap_or("a form")) } }
                    dl.answers {
                        @for (label, value) in answers.labelled() {
                            dt { (label) } dd { (value) }
                        }
                    }
                },
                TimelineEvent::Note { note, by } => {
                    p { "Note by " (by) }
                    p.note { (note) }
                },
                TimelineEvent::Stage { from, to, by } => {
                    p { "Stage " (from.as_str()) " → " strong { (to.as_str()) } " by " (by) }
                },
                TimelineEvent::Added { .. } => { p { "Added by hand" } },
                TimelineEvent::Merged { email, name, by } => {
                    // A prospect without an email (keyed by phone) is named.
                    p { "Merged " strong { @if email.is_empty() { (name) } @else { (display_email(email)) } } " into this prospect by " (by) }
                },
                TimelineEvent::EmailCorrected { from, to, by } => {
                    @if from.is_empty() {
                        p { "Email " strong { (display_email(to)) } " added by " (by) }
                    } @else {
                        p { "Email corrected from " (display_email(from)) " to " strong { (display_email(to)) } " by " (by) }
                    }
                },
                TimelineEvent::Deleted { by } => { p { "Deleted by " (by) } },
                TimelineEvent::Restored { by } => { p { "Restored from the trash by " (by) } },
                TimelineEvent::Claimed { by } => { p { "Claimed by " (by) } },
                TimelineEvent::Imported { source, line } => {
                    p { "Imported from " strong { (source) } ", line " (line) }
                },
                TimelineEvent::Unknown { kind, .. } => { p { (kind) } },
            }
        }
    }
}

/// The edit form's values (from the prospect, or as sent back).
#[derive(Debug, Default)]
pub struct ProspectEdit {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub stage: String,
    /// The owner's user id as text; empty for nobody.
    pub owner: String,
    pub tags: String,
    pub problems: Vec<(&'static str, &'static str)>,
}

impl ProspectEdit {
    pub fn from_prospect(p: &Prospect, tags: String) -> Self {
        Self {
            name: p.name.clone(),
            email: crate::platform::text::display_email(&p.email).into_owned(),
            phone: p.phone.clone().unwrap_or_default(),
            company: p.company.clone().unwrap_or_default(),
            stage: p.stage.as_str().to_string(),
            owner: p.owner_user_id.map(|id| id.to_string()).unwrap_or_default(),
            tags,
            problems: Vec::new(),
        }
    }
}

/// Editing a prospect; `members` is empty when the user may not assign.
pub fn prospect_edit(
    nav: Nav<'_>,
    prospect: &Prospect,
    form: &ProspectEdit,
    members: &[Member],
) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        &format!("Edit {}", prospect.name),
        Some(nav),
        html! {
            p { a href={ "/prospects/" (prospect.id) } { "← Back" } }
            section.card {
                h1 { "Edit " (prospect.name) }
                p.meta { (display_email(&prospect.email)) }
                form method="post" action={ "/prospects/" (prospect.id) "/edit" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    (labelled_input("e-name", "name", "Name", "text", &form.name, (true, "off"), problem(&form.problems, "name")))
                    (labelled_input("e-email", "email", "Email", "email", &form.email, (!prospect.email.is_empty(), "off"), problem(&form.problems, "email")))
                    (labelled_input("e-phone", "phone", "Phone", "tel", &form.phone, (false, "off"), problem(&form.problems, "phone")))
                    (labelled_input("e-company", "company", "Company", "text", &form.company, (false, "off"), problem(&form.problems, "company")))
                    div.field {
                        label for="e-stage" { "Stage" }
                        select #e-stage name="stage" {
                            @for stage in crate::prospects::Stage::ALL { option value=(stage.as_str()) selected[stage.as_str() == form.stage] { (stage.label()) } }
                        }
                        @if let Some(msg) = problem(&form.problems, "stage") { p.error { (msg) } }
                    }
                    @if !members.is_empty() {
                        div.field {
                            label for="e-owner" { "Owner" }
                            select #e-owner name="owner" {
                                option value="" selected[form.owner.is_empty()] { "Nobody" }
                                @for m in members {
                                    option value=(m.user_id) selected[form.owner == m.user_id.to_string()] { (m.name) " (" (m.role) ")" }
                                }
                            }
                            @if let Some(msg) = problem(&form.problems, "owner") { p.error { (msg) } }
                        }
                    }
                    (labelled_input("e-tags", "tags", "Tags (comma-separated)", "text", &form.tags, (false, "off"), problem(&form.problems, "tags")))
                    button.primary type="submit" { "Save" }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_are_labelled_in_form_order() {
        let data = r#"{"consent":true,"email":"a@b.co","extra":"x","name":"Ana","phone":null}"#;
        let crate::prospects::TimelineEvent::FormSubmission(answers) =
            crate::prospects::TimelineEvent::from_row("form_submission", data)
        else {
            panic!("a form submission")
        };
        let got = answers.labelled();
        let want = [
            ("Name", "Ana"),
            ("Email", "a@b.co"),
            ("May contact", "yes"),
            ("extra", "x"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn answers_with_labels_show_as_stored() {
        let data = r#"{"name":"Ana","email":"a@b.co","consent":true,"fields":[{"label":"Your size","value":"M"},{"label":"Email","value":"a@b.co"}]}"#;
        let crate::prospects::TimelineEvent::FormSubmission(answers) =
            crate::prospects::TimelineEvent::from_row("form_submission", data)
        else {
            panic!("a form submission")
        };
        let got = answers.labelled();
        let want = [("Your size", "M"), ("Email", "a@b.co")];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
