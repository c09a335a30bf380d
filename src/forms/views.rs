//! Forms pages: the list with HQ templates, and editing a form.

use maud::{Markup, html};

use crate::forms::fields::{DedupeKey, Field, FieldForm, Kind, STANDARD};
use crate::forms::queries::Form;
use crate::platform::ui::{Nav, layout};

/// A builder change sent back with its problem: the field it was for
/// (`None`: the new field) and the values as typed.
#[derive(Debug)]
pub struct FieldDraft {
    pub target: Option<i64>,
    pub values: FieldForm,
    pub problem: &'static str,
}

/// Values of the form editor as they come back.
#[derive(Debug, Default)]
pub struct FormFields {
    pub title: String,
    pub intro: String,
    pub thank_you: String,
    pub redirect_url: String,
    /// `email` or `phone` as chosen; `None` where it is not offered (a new
    /// form is keyed by email).
    pub dedupe_key: Option<String>,
    pub problem: Option<&'static str>,
}

/// Values of the branding page as they come back.
#[derive(Debug, Default)]
pub struct BrandingFields {
    pub accent: String,
    pub problem: Option<&'static str>,
    pub saved: bool,
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
            div.field {
                label for="form-redirect" { "After sending, go to (optional)" }
                p.help { "A page of yours, starting with https://; without one, people see the thank-you message." }
                input #form-redirect type="url" name="redirect_url" value=(values.redirect_url) autocomplete="url";
            }
            @if let Some(chosen) = &values.dedupe_key {
                fieldset.field.choices {
                    legend { "One person per…" }
                    p.help { "What makes two submissions one prospect. By phone, the Phone field must be required, and the Email field may be optional or removed; a submission with an email is still matched by its email." }
                    @for (key, label) in [(DedupeKey::Email, "Email address"), (DedupeKey::Phone, "Phone number, when there is no email")] {
                        div.check {
                            input id={ "dedupe-" (key.as_str()) } type="radio" name="dedupe_key" value=(key.as_str()) checked[chosen == key.as_str()];
                            label for={ "dedupe-" (key.as_str()) } { (label) }
                        }
                    }
                }
            }
            button.primary type="submit" { (button) }
        }
    }
}

/// What the person on the forms page may do there.
#[derive(Debug, Clone, Copy)]
pub struct Abilities {
    /// A franchise HQ: forms can be published as templates.
    pub is_hq: bool,
    /// Owners and admins (`Action::EditForms`): members see the forms and
    /// their public addresses, not editors they could not save.
    pub may_edit: bool,
}

pub fn index(
    nav: Nav<'_>,
    forms: &[Form],
    templates: &[Form],
    Abilities { is_hq, may_edit }: Abilities,
    new: &FormFields,
) -> Markup {
    let is_hq = is_hq && may_edit;
    let csrf = nav.csrf.to_string();
    layout(
        "Forms",
        Some(nav),
        html! {
            h1 { "Forms" }
            @if may_edit {
                p { a href="/forms/branding" { "Branding: logo and colour" } }
            } @else {
                p.help { "Share a form by its public address. Owners and admins create and change forms." }
            }
            ul.people {
                @for f in forms {
                    li {
                        strong { (f.title) } " "
                        span.meta { a href={ "/f/" (f.slug) } { "/f/" (f.slug) } @if f.is_template { " · template for your locations" } }
                        @if may_edit { " " a href={ "/forms/" (f.id) "/edit" } { "Edit" } }
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
            @if may_edit && !templates.is_empty() {
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
            @if may_edit {
                section.card {
                    h2 { "New form" }
                    (editor("/forms", &csrf, new, "Create form"))
                }
            }
        },
    )
}

pub fn edit(
    nav: Nav<'_>,
    form: &Form,
    values: &FormFields,
    fields: &[Field],
    draft: Option<&FieldDraft>,
) -> Markup {
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
            (builder(form, &csrf, fields, draft))
        },
    )
}

/// What a standard field fills, said beside it in the builder of a form
/// keyed by `dedupe`.
fn fills(key: &str, dedupe: DedupeKey) -> &'static str {
    match (key, dedupe) {
        ("name", _) => "the prospect's name",
        ("email", DedupeKey::Email) => "the prospect's email: the dedupe key, always required",
        ("email", DedupeKey::Phone) => "the prospect's email: the dedupe key when given",
        ("phone", DedupeKey::Phone) => {
            "the prospect's phone: the dedupe key without an email, always required"
        }
        ("phone", _) => "the prospect's phone",
        ("company", _) => "the prospect's company",
        ("interest", _) => "the prospect's interest",
        _ => "the prospect's consent to be contacted",
    }
}

/// The form builder: every field with its settings and buttons to save,
/// move and remove it, then a new field. Plain forms, no script needed.
fn builder(form: &Form, csrf: &str, fields: &[Field], draft: Option<&FieldDraft>) -> Markup {
    let action = format!("/forms/{}/fields", form.id);
    let dedupe = form.dedupe_key();
    let last = fields.len().saturating_sub(1);
    let new_draft = draft.filter(|d| d.target.is_none());
    let missing: Vec<_> = STANDARD
        .iter()
        .filter(|(key, ..)| !fields.iter().any(|f| f.key.as_deref() == Some(*key)))
        .collect();
    html! {
        section.card #fields {
            h2 { "Fields" }
            p.meta { "Shown in this order on the public form. Answers already received keep the labels they were given under." }
            @if let Some(d) = draft.filter(|d| d.target.is_some()) {
                p.alert role="alert" { (d.problem) }
            }
            ol.fields {
                @for (i, field) in fields.iter().enumerate() {
                    @let mine = draft.filter(|d| d.target == Some(field.id));
                    @let label = mine.map_or(field.label.as_str(), |d| d.values.label.as_str());
                    @let help = mine.map_or(field.help.as_str(), |d| d.values.help.as_str());
                    @let options = mine.map_or(field.options.as_str(), |d| d.values.options.as_str());
                    @let required = mine.map_or(field.required, |d| d.values.required.is_some());
                    @let prefix = format!("field-{}", field.id);
                    li.invalid[mine.is_some()] {
                        form method="post" action=(action) {
                            input type="hidden" name="_csrf" value=(csrf);
                            input type="hidden" name="field" value=(field.id);
                            p.meta {
                                strong { (field.kind().label()) }
                                @if let Some(key) = &field.key { " · fills " (fills(key, dedupe)) }
                            }
                            div.field {
                                label for={ (prefix) "-label" } { @if field.kind() == Kind::Consent { "Wording" } @else { "Label" } }
                                @if field.kind() == Kind::Consent {
                                    textarea id={ (prefix) "-label" } name="label" rows="2" required { (label) }
                                } @else {
                                    input id={ (prefix) "-label" } type="text" name="label" value=(label) required;
                                }
                            }
                            div.field {
                                label for={ (prefix) "-help" } { "Help text" }
                                input id={ (prefix) "-help" } type="text" name="help" value=(help);
                            }
                            @if field.kind().has_options() {
                                div.field {
                                    label for={ (prefix) "-options" } { "Options (one per line)" }
                                    textarea id={ (prefix) "-options" } name="options" rows="4" { (options) }
                                }
                            }
                            @if !field.is_key_field(dedupe) {
                                div.check {
                                    input id={ (prefix) "-required" } type="checkbox" name="required" value="yes" checked[required];
                                    label for={ (prefix) "-required" } { "Required" }
                                }
                            }
                            div.actions {
                                button type="submit" name="op" value="save" { "Save field" }
                                @if i > 0 { button type="submit" name="op" value="up" aria-label={ "Move " (field.label) " up" } { "↑ Up" } }
                                @if i < last { button type="submit" name="op" value="down" aria-label={ "Move " (field.label) " down" } { "↓ Down" } }
                                @if field.removable(dedupe) { button.danger type="submit" name="op" value="remove" { "Remove" } }
                            }
                        }
                    }
                }
            }
            h3 { "Add a field" }
            @if let Some(d) = new_draft { p.alert role="alert" { (d.problem) } }
            @let chosen = new_draft.map_or("", |d| d.values.kind.as_str());
            form method="post" action=(action) {
                input type="hidden" name="_csrf" value=(csrf);
                input type="hidden" name="op" value="add";
                div.field {
                    label for="new-kind" { "Kind" }
                    select #new-kind name="kind" {
                        @for kind in Kind::ALL {
                            option value=(kind.as_str()) selected[chosen == kind.as_str()] { (kind.label()) }
                        }
                        @for (key, _, label, _) in &missing {
                            @let value = format!("std:{key}");
                            option value=(value) selected[chosen == value] { "Standard: " (label) }
                        }
                    }
                }
                div.field {
                    label for="new-label" { "Label (a consent's wording)" }
                    input #new-label type="text" name="label" value=(new_draft.map_or("", |d| d.values.label.as_str()));
                }
                div.field {
                    label for="new-help" { "Help text" }
                    input #new-help type="text" name="help" value=(new_draft.map_or("", |d| d.values.help.as_str()));
                }
                div.field {
                    label for="new-options" { "Options, for a choice (one per line)" }
                    textarea #new-options name="options" rows="3" { (new_draft.map_or("", |d| d.values.options.as_str())) }
                }
                div.check {
                    input #new-required type="checkbox" name="required" value="yes" checked[new_draft.is_some_and(|d| d.values.required.is_some())];
                    label for="new-required" { "Required" }
                }
                button.primary type="submit" { "Add field" }
            }
        }
    }
}

/// The organization's branding: its logo (uploaded) and its accent
/// colour, with a preview of how a public form's button looks.
pub fn branding(
    nav: Nav<'_>,
    stored: &crate::forms::branding::Branding,
    values: &BrandingFields,
) -> Markup {
    let csrf = nav.csrf.to_string();
    let organization = nav.organization_name.to_string();
    crate::platform::ui::layout_with_head(
        "Branding",
        Some(nav),
        stored.head(),
        html! {
            p { a href="/forms" { "← Forms" } }
            section.card {
                h1 { "Branding" }
                p.meta { "Shown on your public forms and on the event projector." }
                @if values.saved { p.notice role="status" { "Saved." } }
                @if let Some(problem) = values.problem { p.alert role="alert" { (problem) } }
                form method="post" action="/forms/branding/logo" enctype="multipart/form-data" {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="logo-file" { "Logo" }
                        p.help { "A PNG, JPEG, GIF or WebP image of at most 24 KB." }
                        input #logo-file type="file" name="file" accept="image/png,image/jpeg,image/gif,image/webp";
                    }
                    button type="submit" { "Upload logo" }
                }
                form method="post" action="/forms/branding" {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="accent" { "Accent colour" }
                        p.help { "As #rrggbb, like #2f5bea. Leave empty for Rally's blue." }
                        input #accent type="text" name="accent" value=(values.accent) maxlength="7" autocomplete="off";
                    }
                    @if stored.logo.is_some() {
                        div.check {
                            input #remove-logo type="checkbox" name="remove_logo" value="yes";
                            label for="remove-logo" { "Remove the logo" }
                        }
                    }
                    button.primary type="submit" { "Save branding" }
                }
            }
            section.card.branding-preview {
                h2 { "Preview" }
                (stored.logo(&organization))
                p { button.primary type="button" { "Send" } }
            }
        },
    )
}
