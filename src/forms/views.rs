//! Forms pages: the list with HQ templates, and editing a form.

use maud::{Markup, html};

use crate::forms::queries::Form;
use crate::platform::ui::{Nav, layout};

/// Values of the form editor as they come back.
#[derive(Debug, Default)]
pub struct FormFields {
    pub title: String,
    pub intro: String,
    pub thank_you: String,
    pub problem: Option<&'static str>,
}

fn editor(action: &str, csrf: &str, values: &FormFields, button: &str) -> Markup {
    html! {
        @if let Some(problem) = values.problem { p.alert role="alert" { (problem) } }
        form method="post" action=(action) {
            input type="hidden" name="_csrf" value=(csrf);
            div.field {
                label for="form-title" { "Title" }
                input #form-title type="text" name="title" value=(values.title) required;
            }
            div.field {
                label for="form-intro" { "Introduction" }
                textarea #form-intro name="intro" rows="3" { (values.intro) }
            }
            div.field {
                label for="form-thanks" { "Thank-you message" }
                input #form-thanks type="text" name="thank_you" value=(values.thank_you);
            }
            button.primary type="submit" { (button) }
        }
    }
}

pub fn index(
    nav: Nav<'_>,
    forms: &[Form],
    templates: &[Form],
    is_hq: bool,
    new: &FormFields,
) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        "Forms",
        Some(nav),
        html! {
            h1 { "Forms" }
            ul.people {
                @for f in forms {
                    li {
                        strong { (f.title) } " "
                        span.meta { a href={ "/f/" (f.slug) } { "/f/" (f.slug) } @if f.is_template { " · template for your locations" } }
                        " " a href={ "/forms/" (f.id) "/edit" } { "Edit" }
                        @if is_hq {
                            form.inline method="post" action={ "/forms/" (f.id) "/template" } {
                                input type="hidden" name="_csrf" value=(csrf);
                                input type="hidden" name="publish" value=(if f.is_template { "no" } else { "yes" });
                                button.link type="submit" { (if f.is_template { "Withdraw template" } else { "Publish as template" }) }
                            }
                        }
                    }
                }
            }
            @if forms.is_empty() { p.empty { "No form yet." } }
            @if !templates.is_empty() {
                section.card {
                    h2 { "Templates from your HQ" }
                    ul.people {
                        @for t in templates {
                            li {
                                strong { (t.title) } " "
                                form.inline method="post" action={ "/forms/templates/" (t.id) "/copy" } {
                                    input type="hidden" name="_csrf" value=(csrf);
                                    button type="submit" { "Use this template" }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "New form" }
                (editor("/forms", &csrf, new, "Create form"))
            }
        },
    )
}

pub fn edit(nav: Nav<'_>, form: &Form, values: &FormFields) -> Markup {
    let csrf = nav.csrf.to_string();
    layout(
        &format!("Edit {}", form.title),
        Some(nav),
        html! {
            p { a href="/forms" { "← Forms" } }
            section.card {
                h1 { "Edit form" }
                p.meta { "Public address: " a href={ "/f/" (form.slug) } { "/f/" (form.slug) }
                    @if form.template_id.is_some() { " · copied from an HQ template" } }
                (editor(&format!("/forms/{}/edit", form.id), &csrf, values, "Save"))
            }
        },
    )
}
