//! Task lists and the add-a-task form.

use maud::{Markup, html};

use super::{KINDS, Snooze, kind_label, queries::Task};
use crate::platform::time_zones::Tz;
use crate::platform::ui::datetime;
use crate::platform::ui::problem;

/// The add-a-task form's values (empty, or as sent back with messages).
#[derive(Debug, Default, Clone)]
pub struct TaskForm {
    pub kind: String,
    pub due: String,
    pub note: String,
    pub problems: Vec<(&'static str, &'static str)>,
}

/// One task: what, when (overdue ones marked), the note, and Done and
/// Snooze buttons while it is open. `back` is where the buttons return to.
pub fn item(task: &Task, csrf: &str, zone: Tz, now: i64, back: &str, prospect: bool) -> Markup {
    let overdue = task.is_overdue(now);
    html! {
        li.task.overdue[overdue].done[task.done_at.is_some()] id={ "task-" (task.id) } {
            p {
                strong.kind { (kind_label(&task.kind)) }
                @if prospect { " · " a href={ "/prospects/" (task.prospect_id) } { (task.prospect_name) } }
                " · "
                @if let Some(done) = task.done_at { span.meta { "done " (datetime(done, zone)) } }
                @else {
                    span.due { "due " (datetime(task.due_at, zone)) }
                    @if overdue { " " span.badge.warn { "overdue" } }
                }
            }
            @if !task.note.is_empty() { p.note { (task.note) } }
            @if task.done_at.is_none() {
                div.task-actions {
                    form.inline method="post" action={ "/tasks/" (task.id) "/done" } {
                        input type="hidden" name="_csrf" value=(csrf);
                        input type="hidden" name="back" value=(back);
                        button type="submit" { "Done" }
                    }
                    form.inline method="post" action={ "/tasks/" (task.id) "/snooze" } {
                        input type="hidden" name="_csrf" value=(csrf);
                        input type="hidden" name="back" value=(back);
                        label.visually-hidden for={ "snooze-" (task.id) } { "Snooze for" }
                        select id={ "snooze-" (task.id) } name="for" {
                            @for (_, value, label) in Snooze::ALL { option value=(value) { (label) } }
                        }
                        button type="submit" { "Snooze" }
                    }
                }
            }
        }
    }
}

/// The prospect page's tasks: the list and the form to add one.
pub fn section(
    csrf: &str,
    zone: Tz,
    now: i64,
    prospect_id: i64,
    tasks: &[Task],
    form: &TaskForm,
) -> Markup {
    let back = format!("/prospects/{prospect_id}");
    html! {
        section.card #tasks {
            h2 { "Follow-ups" }
            @if tasks.is_empty() { p.empty { "No follow-up planned." } }
            @else {
                ul.tasks { @for task in tasks { (item(task, csrf, zone, now, &back, false)) } }
            }
            details open[!form.problems.is_empty()] {
                summary { "Add a follow-up" }
                form #add-task method="post" action={ "/prospects/" (prospect_id) "/tasks" } novalidate {
                    input type="hidden" name="_csrf" value=(csrf);
                    @if !form.problems.is_empty() { p.alert role="alert" { "Please check the highlighted fields." } }
                    div.field.invalid[problem(&form.problems, "kind").is_some()] {
                        label for="task-kind" { "Type" }
                        select #task-kind name="kind" {
                            @for (value, label) in KINDS { option value=(value) selected[form.kind == *value] { (label) } }
                        }
                        @if let Some(msg) = problem(&form.problems, "kind") { p.error { (msg) } }
                    }
                    div.field.invalid[problem(&form.problems, "due").is_some()] {
                        label for="task-due" { "Due (" (zone.name()) ")" }
                        input #task-due type="datetime-local" name="due" value=(form.due) required
                            aria-invalid=[problem(&form.problems, "due").map(|_| "true")];
                        @if let Some(msg) = problem(&form.problems, "due") { p.error { (msg) } }
                    }
                    div.field.invalid[problem(&form.problems, "note").is_some()] {
                        label for="task-note" { "Note (optional)" }
                        textarea #task-note name="note" rows="2" maxlength=(super::NOTE_MAX) { (form.note) }
                        @if let Some(msg) = problem(&form.problems, "note") { p.error { (msg) } }
                    }
                    button.primary type="submit" { "Add follow-up" }
                }
            }
        }
    }
}
