//! CSV import pages: upload, preview, result.

use maud::{Markup, html};

use crate::platform::ui::{Nav, datetime, layout, noun};
use crate::prospects::{
    import::{Action, Layout, MAX_ROWS, Plan, Planned},
    queries::Import,
};

pub fn upload(nav: Nav<'_>, problem: Option<&str>) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Import prospects",
        Some(nav),
        html! {
            p { a href="/prospects" { "← Prospects" } }
            section.card {
                h1 { "Import prospects from a CSV file" }
                p { "The first line names the columns: " code { "email" } " (required), "
                    code { "name" } " (or " code { "first name" } " and " code { "last name" } "), "
                    code { "phone" } ", " code { "company" } ", " code { "tags" } ", " code { "stage" }
                    " (new, contacted, engaged, hot, customer or lost), " code { "owner" }
                    " (the email a member signs in with; a member imports for themselves only), or their usual names in "
                    "Outlook's, Google's and other exports (" code { "E-mail Address" } ", " code { "Mobile Phone" } ", …). "
                    "Columns may be separated by commas, semicolons or tabs. Other columns are ignored. Up to "
                    (MAX_ROWS) " rows." }
                p { "You will see what the import will do before anything is saved." }
                @if let Some(problem) = problem { p.alert role="alert" { (problem) } }
                form method="post" action="/prospects/import" enctype="multipart/form-data" {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="file" { "CSV file" }
                        input #file type="file" name="file" accept=".csv,text/csv" required;
                    }
                    button.primary type="submit" { "Preview the import" }
                }
            }
        },
    )
}

/// The preview of `plan`, with the form that confirms it (carrying the
/// plan's digest); `notice` says why it is shown again.
pub fn preview(
    nav: Nav<'_>,
    import: &Import,
    plan: &Plan,
    read_as: Option<&Layout>,
    notice: Option<&str>,
) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Import preview",
        Some(nav),
        html! {
            p { a href="/prospects" { "← Prospects" } }
            section.card {
                h1 { "Import of " (import.filename) }
                @if let Some(notice) = notice { p.alert role="alert" { (notice) } }
                p { strong { (plan.new_count()) } " " (noun(plan.new_count() as i64, "new prospect", "new prospects")) ", "
                    strong { (plan.merge_count()) } " merged into existing ones (blanks filled, a stage over “new” "
                    "and a missing owner set, nothing erased, tags added), "
                    strong { (plan.skip_count()) } " left out." }
                @if plan.warning_count() > 0 {
                    p { strong { (plan.warning_count()) } " kept with something left out (see below)." }
                }
                @if let Some(read_as) = read_as { (columns(read_as)) }
                form method="post" action={ "/prospects/import/" (import.id) "/confirm" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="plan" value=(plan.digest());
                    button.primary type="submit" { "Import now" }
                    " " a href="/prospects/import" { "Choose another file" }
                }
            }
            (rows(plan))
        },
    )
}

/// What an applied import did, as kept when it was applied (`None`: an
/// import applied before outcomes were kept).
pub fn result(nav: Nav<'_>, import: &Import, outcome: Option<&Plan>) -> Markup {
    let zone = nav.zone;
    layout(
        "Import result",
        Some(nav),
        html! {
            p { a href="/prospects" { "← Prospects" } }
            section.card {
                h1 { "Import of " (import.filename) }
                p.notice role="status" {
                    "Imported " (import.applied_at.map(|at| datetime(at, zone)).unwrap_or_default())
                    @if let Some(outcome) = outcome {
                        ": " (outcome.new_count()) " new, " (outcome.merge_count()) " merged, "
                        (outcome.skip_count()) " left out."
                        @if outcome.warning_count() > 0 {
                            " " (outcome.warning_count()) " kept with something left out."
                        }
                    } @else {
                        ". The details of this import were not kept."
                    }
                }
            }
            @if let Some(outcome) = outcome { (rows(outcome)) }
        },
    )
}

/// How the file's columns are read: which header fills which field, and
/// which are ignored (so a column Rally does not know is never lost
/// silently).
fn columns(layout: &Layout) -> Markup {
    let separator = match layout.separator {
        ',' => "commas",
        ';' => "semicolons",
        '\t' => "tabs",
        _ => "another character",
    };
    html! {
        p.meta.columns {
            "Columns (separated by " (separator) "): "
            @for (i, (header, field)) in layout.used.iter().enumerate() {
                @if i > 0 { ", " }
                "“" (header) "” as " (field.label())
            }
            "."
            @if !layout.ignored.is_empty() {
                " Not imported: "
                @for (i, header) in layout.ignored.iter().enumerate() {
                    @if i > 0 { ", " }
                    "“" (header) "”"
                }
                "."
            }
        }
    }
}

/// Rows shown in full; past them, only rows left out or kept with a
/// warning (up to as many again), so no problem of a long file is hidden.
const SHOWN: usize = 500;

fn rows(plan: &Plan) -> Markup {
    let notable = |r: &&Planned| {
        !r.row.warnings.is_empty() || matches!(r.action, Action::Invalid { .. } | Action::NotYours)
    };
    let shown: Vec<&Planned> = plan
        .rows
        .iter()
        .take(SHOWN)
        .chain(plan.rows.iter().skip(SHOWN).filter(notable).take(SHOWN))
        .collect();
    html! {
        table.jobs.import {
            thead { tr { th { "Line" } th { "Name" } th { "Email" } th { "What happens" } } }
            tbody {
                @for r in &shown {
                    tr {
                        td { (r.row.line) }
                        td { (r.row.name) }
                        td { (crate::platform::text::display_email(&r.row.email)) }
                        td {
                            @match &r.action {
                                Action::New => "new",
                                Action::Merge { name, .. } => { "merge into " (name) },
                                Action::SameAsLine { line } => { "same email as line " (line) ": merged" },
                                Action::NotYours => "already someone else's prospect: left alone",
                                Action::Invalid { why } => { "left out: " (why) },
                            }
                            @if !matches!(r.action, Action::Invalid { .. } | Action::NotYours)
                                && (r.row.stage.is_some() || r.row.owner.is_some()) {
                                br;
                                span.meta {
                                    @if let Some(stage) = r.row.stage { "stage " (stage.badge()) }
                                    @if r.row.stage.is_some() && r.row.owner.is_some() { ", " }
                                    @if let Some(owner) = &r.row.owner {
                                        "owner " (crate::platform::text::display_email(owner))
                                    }
                                }
                            }
                            @for warning in &r.row.warnings { br; span.warning { (warning) } }
                        }
                    }
                }
            }
        }
        @if plan.rows.len() > shown.len() {
            p.meta { "The first " (SHOWN) " rows are shown, and after them the rows left out or kept with a warning." }
        }
    }
}
