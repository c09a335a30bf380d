//! The public form, its page and the thank-you page.

use maud::{Markup, html};

use crate::{
    forms::{
        fields::{Field, Kind, standard_fields},
        queries::Form,
    },
    intake::model::FormInput,
    platform::ui::layout_with_head,
};

/// Hidden inputs carried by every render of a public form.
pub struct FormTokens<'a> {
    pub submission_key: &'a str,
    pub rendered_at: &'a str,
}

/// Messages shown on a public form: per field, and one for the whole form.
#[derive(Default)]
pub struct FormMessages<'a> {
    pub fields: &'a [(String, String)],
    pub form: Option<&'a str>,
    /// Set when the server was too busy: seconds to wait before resending.
    pub retry_after: Option<u64>,
}

impl FormMessages<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, msg)| msg.as_str())
    }
}

/// One field of the public form: its label (a mark when required), help
/// text, the input its kind takes (with the browser's autofill hint), the
/// value typed, and its message.
fn field_input(
    field: &Field,
    dedupe: crate::forms::fields::DedupeKey,
    input: &FormInput,
    messages: &FormMessages<'_>,
) -> Markup {
    let name = field.input_name();
    let id = format!("f-{name}");
    let message = messages.field(&name);
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let described: Vec<&str> = [
        message.map(|_| error_id.as_str()),
        (!field.help.is_empty()).then_some(help_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    let value = input.value(&name);
    // The dedupe key's field is required whatever it says (see `parse_for`).
    let required = field.required || field.is_key_field(dedupe);
    let mark = html! { @if required { span.req aria-hidden="true" { " *" } } };
    let help = html! { @if !field.help.is_empty() { p.help id=(help_id) { (field.help) } } };
    let error = html! { @if let Some(msg) = message { p.error id=(error_id) { (msg) } } };
    let typed = |input_type: &str, inputmode: Option<&str>| {
        html! {
            div.field.invalid[message.is_some()] {
                label for=(id) { (field.label) (mark) }
                (help)
                input id=(id) name=(name) type=(input_type) value=(value) required[required]
                    inputmode=[inputmode] autocomplete=(field.autocomplete())
                    aria-invalid=[message.map(|_| "true")] aria-describedby=[described.as_deref()];
                (error)
            }
        }
    };
    match field.kind() {
        Kind::Text => typed("text", None),
        Kind::Email => typed("email", None),
        Kind::Phone => typed("tel", None),
        // Text with a decimal keypad: `type=number` drops what it cannot
        // parse before the server sees it, so a typo could not come back.
        Kind::Number => typed("text", Some("decimal")),
        Kind::Date => typed("date", None),
        Kind::LongText => html! {
            div.field.invalid[message.is_some()] {
                label for=(id) { (field.label) (mark) }
                (help)
                textarea id=(id) name=(name) rows="3" required[required]
                    aria-invalid=[message.map(|_| "true")] aria-describedby=[described.as_deref()] { (value) }
                (error)
            }
        },
        Kind::Choice | Kind::Multiple => {
            let multiple = field.kind() == Kind::Multiple;
            html! {
                fieldset.field.choices.invalid[message.is_some()] aria-describedby=[described.as_deref()] {
                    legend { (field.label) (mark) }
                    (help)
                    @for (i, option) in field.options().enumerate() {
                        @let option_id = format!("{id}-{i}");
                        @let checked = if multiple { input.values_of(&name).any(|v| v == option) } else { value == option };
                        div.check {
                            input id=(option_id) type=(if multiple { "checkbox" } else { "radio" }) name=(name)
                                value=(option) checked[checked];
                            label for=(option_id) { (option) }
                        }
                    }
                    (error)
                }
            }
        }
        Kind::Checkbox | Kind::Consent => html! {
            div.check.invalid[message.is_some()] {
                input id=(id) type="checkbox" name=(name) value="yes" checked[!value.is_empty()]
                    required[required] aria-invalid=[message.map(|_| "true")]
                    aria-describedby=[described.as_deref()];
                label for=(id) { (field.label) (mark) }
            }
            (help)
            (error)
        },
    }
}

/// The public prospect form, one input per field of the form in its order;
/// under htmx the `<form>` element itself is swapped.
pub fn public_form(
    form: &Form,
    input: &FormInput,
    tokens: &FormTokens<'_>,
    messages: &FormMessages<'_>,
) -> Markup {
    let action = format!("/f/{}", form.slug);
    let standard;
    let fields = if form.fields.is_empty() {
        standard = standard_fields();
        &standard
    } else {
        &form.fields
    };
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
            @for field in fields { (field_input(field, form.dedupe_key(), input, messages)) }
            button.primary type="submit" { "Send" }
        }
    }
}

/// A public page of `form`, in its organization's branding (accent colour,
/// logo).
pub fn public_form_page(form: &Form, body: Markup) -> Markup {
    branded_page(form, html! {}, body)
}

/// The thank-you page; with the form's redirect, it goes on there after
/// two seconds (a link too).
pub fn thanks_page(form: &Form) -> Markup {
    let head = html! {
        @if !form.redirect_url.is_empty() {
            meta http-equiv="refresh" content={ "2;url=" (form.redirect_url) };
        }
    };
    let body = html! {
        (thank_you(form))
        @if !form.redirect_url.is_empty() {
            p { a href=(form.redirect_url) rel="noopener" { "Continue" } }
        }
    };
    branded_page(form, head, body)
}

fn branded_page(form: &Form, head: Markup, body: Markup) -> Markup {
    layout_with_head(
        &form.title,
        None,
        html! { (form.branding.head()) (head) },
        html! {
            section.public {
                (form.branding.logo(&form.organization_name))
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
            // The default message starts with the same words: said once.
            @let message = form.thank_you.trim();
            @let rest = message.strip_prefix("Thank you!").map(str::trim_start).unwrap_or(message);
            @if !rest.is_empty() { p { (rest) } }
            // A fresh form for the next person (a kiosk, a shared phone):
            // a new page, not Back, which would show these answers again.
            p { a href={ "/f/" (form.slug) } { "Send another response" } }
        }
    }
}
