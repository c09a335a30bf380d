//! The public form, its page and the thank-you page.

use maud::{Markup, html};

use crate::{
    forms::queries::Form,
    intake::model::FormInput,
    platform::ui::{labelled_input, layout},
};

/// Hidden inputs carried by every render of a public form.
pub struct FormTokens<'a> {
    pub submission_key: &'a str,
    pub rendered_at: &'a str,
}

/// Messages shown on a public form: per field, and one for the whole form.
#[derive(Default)]
pub struct FormMessages<'a> {
    pub fields: &'a [(&'static str, String)],
    pub form: Option<&'a str>,
    /// Set when the server was too busy: seconds to wait before resending.
    pub retry_after: Option<u64>,
}

impl FormMessages<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, msg)| msg.as_str())
    }
}

fn field(
    name: &'static str,
    label: &str,
    kind: &str,
    value: &str,
    required: bool,
    autocomplete: &str,
    messages: &FormMessages<'_>,
) -> Markup {
    labelled_input(
        &format!("f-{name}"),
        name,
        label,
        kind,
        value,
        (required, autocomplete),
        messages.field(name),
    )
}

/// The public prospect form; under htmx the `<form>` element itself is swapped.
pub fn public_form(
    form: &Form,
    input: &FormInput,
    tokens: &FormTokens<'_>,
    messages: &FormMessages<'_>,
) -> Markup {
    let action = format!("/f/{}", form.slug);
    let interest_error = messages.field("interest");
    html! {
        form #intake-form.card.intake method="post" action=(action) novalidate
            hx-post=(action) hx-target="this" hx-swap="outerHTML" hx-disabled-elt="find button"
            data-retry-after=[messages.retry_after] {
            @if let Some(msg) = messages.form { p.alert role="alert" { (msg) } }
            @if !messages.fields.is_empty() {
                p.alert role="alert" { "Please check the highlighted fields." }
            }
            input type="hidden" name="_key" value=(tokens.submission_key);
            input type="hidden" name="_ts" value=(tokens.rendered_at);
            // Humans never see this field; bots fill it in.
            div.hp aria-hidden="true" {
                label for="f-website" { "Website" }
                input id="f-website" type="text" name="website" tabindex="-1" autocomplete="off";
            }
            (field("name", "Name", "text", &input.name, true, "name", messages))
            (field("email", "Email", "email", &input.email, true, "email", messages))
            (field("phone", "Phone", "tel", &input.phone, false, "tel", messages))
            (field("company", "Company", "text", &input.company, false, "organization", messages))
            div.field.invalid[interest_error.is_some()] {
                label for="f-interest" { "What are you interested in?" }
                textarea id="f-interest" name="interest" rows="3" { (input.interest) }
                @if let Some(msg) = interest_error { p.error { (msg) } }
            }
            div.check {
                input id="f-consent" type="checkbox" name="consent" value="yes" checked[input.consent];
                label for="f-consent" { "Yes, you may contact me about this." }
            }
            button.primary type="submit" { "Send" }
        }
    }
}

pub fn public_form_page(form: &Form, body: Markup) -> Markup {
    layout(
        &form.title,
        None,
        html! {
            section.public {
                h1 { (form.title) }
                @if !form.intro.is_empty() { p.lead { (form.intro) } }
                (body)
            }
        },
    )
}

pub fn thank_you(form: &Form) -> Markup {
    html! {
        div #intake-form.card.thanks role="status" {
            h2 { "Thank you!" }
            p { (form.thank_you) }
            // A fresh form for the next person (a kiosk, a shared phone):
            // a new page, not Back, which would show these answers again.
            p { a href={ "/f/" (form.slug) } { "Send another response" } }
        }
    }
}
