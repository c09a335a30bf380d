//! A form's fields (the form builder): their kinds, the standard set every
//! form starts with, and the rules a builder edit must meet.
//!
//! Stored one row per field in `form_fields` (migration 0018), in
//! `position` order. A *standard* field has a `key` naming the prospect
//! attribute it fills (`name`, `email`, `phone`, `company`, `interest`,
//! `consent`); a custom field has none, and its answer is kept only on the
//! timeline, with the field's label as it read when the person answered
//! (`crate::intake::model::FieldAnswer`).
//!
//! A form's [`DedupeKey`] says what makes two submissions one person. An
//! email-keyed form (the default) keeps its email field, always required,
//! never removed. A phone-keyed form keeps its phone field instead, always
//! required; its email field may be optional or removed (a submission with
//! an email is still keyed by it: email wins).

use serde::Deserialize;

use crate::platform::text::fields::line;

/// What a field asks for. Stored as [`Kind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    LongText,
    Email,
    Phone,
    Number,
    Choice,
    Multiple,
    Checkbox,
    Date,
    Consent,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Text,
        Kind::LongText,
        Kind::Email,
        Kind::Phone,
        Kind::Number,
        Kind::Choice,
        Kind::Multiple,
        Kind::Checkbox,
        Kind::Date,
        Kind::Consent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::LongText => "long_text",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Number => "number",
            Kind::Choice => "choice",
            Kind::Multiple => "multiple",
            Kind::Checkbox => "checkbox",
            Kind::Date => "date",
            Kind::Consent => "consent",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind's name in the builder.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Text => "Text",
            Kind::LongText => "Long text",
            Kind::Email => "Email",
            Kind::Phone => "Phone",
            Kind::Number => "Number",
            Kind::Choice => "Choice (one)",
            Kind::Multiple => "Multiple choice",
            Kind::Checkbox => "Checkbox",
            Kind::Date => "Date",
            Kind::Consent => "Consent",
        }
    }

    /// Whether the field offers a list of options.
    pub fn has_options(self) -> bool {
        matches!(self, Kind::Choice | Kind::Multiple)
    }
}

/// The prospect attributes a standard field fills, with the kind and label
/// each starts with (the fields every form showed before the builder).
pub const STANDARD: [(&str, Kind, &str, bool); 6] = [
    ("name", Kind::Text, "Name", true),
    ("email", Kind::Email, "Email", true),
    ("phone", Kind::Phone, "Phone", false),
    ("company", Kind::Text, "Company", false),
    (
        "interest",
        Kind::LongText,
        "What are you interested in?",
        false,
    ),
    (
        "consent",
        Kind::Consent,
        "Yes, you may contact me about this.",
        false,
    ),
];

/// The key of the email field.
pub const EMAIL_KEY: &str = "email";
/// The key of the phone field.
pub const PHONE_KEY: &str = "phone";

/// What makes two submissions of a form one person (stored in
/// `forms.dedupe_key` as [`DedupeKey::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DedupeKey {
    /// The email key; the form's email field is always required.
    #[default]
    Email,
    /// The phone (normalised, `platform::text::Phone::key`) when a
    /// submission has no email; the form's phone field is always required
    /// and its email field may be optional or gone.
    Phone,
}

impl DedupeKey {
    pub fn as_str(self) -> &'static str {
        match self {
            DedupeKey::Email => "email",
            DedupeKey::Phone => "phone",
        }
    }

    /// `email` or `phone`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(DedupeKey::Email),
            "phone" => Some(DedupeKey::Phone),
            _ => None,
        }
    }

    /// The key of the standard field the form must keep, required.
    pub fn field_key(self) -> &'static str {
        match self {
            DedupeKey::Email => EMAIL_KEY,
            DedupeKey::Phone => PHONE_KEY,
        }
    }
}

/// Most fields a form may have.
pub const MAX_FIELDS: usize = 40;
/// Longest label (a consent's wording is its label), in characters.
pub const LABEL_MAX: usize = 1000;
/// Longest help text, in characters.
pub const HELP_MAX: usize = 500;
/// Most options of a choice, and the longest option, in characters.
pub const OPTIONS_MAX: usize = 50;
pub const OPTION_MAX: usize = 200;

/// One field of a form, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Field {
    /// 0 for a field of the standard set not stored yet.
    pub id: i64,
    pub position: i64,
    /// The prospect attribute it fills; `None` for a custom field.
    pub key: Option<String>,
    /// A [`Kind`] as text.
    pub kind: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    /// A choice's options, one per line.
    pub options: String,
}

impl Field {
    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Text)
    }

    /// The name its input carries on the public form: the key of a
    /// standard field (what the form always sent), `f{id}` otherwise.
    pub fn input_name(&self) -> String {
        match &self.key {
            Some(key) => key.clone(),
            None => format!("f{}", self.id),
        }
    }

    pub fn options(&self) -> impl Iterator<Item = &str> {
        self.options
            .lines()
            .map(str::trim)
            .filter(|o| !o.is_empty())
    }

    /// The browser's autofill hint for this field.
    pub fn autocomplete(&self) -> &'static str {
        match (self.key.as_deref(), self.kind()) {
            (Some("name"), _) => "name",
            (Some("company"), _) => "organization",
            (_, Kind::Email) => "email",
            (_, Kind::Phone) => "tel",
            _ => "off",
        }
    }

    /// Whether it is the field of the form's dedupe key (`dedupe`): the
    /// builder keeps it, always required.
    pub fn is_key_field(&self, dedupe: DedupeKey) -> bool {
        self.key.as_deref() == Some(dedupe.field_key())
    }

    /// Whether the builder may remove it: every field but the one of the
    /// form's dedupe key.
    pub fn removable(&self, dedupe: DedupeKey) -> bool {
        !self.is_key_field(dedupe)
    }
}

/// The standard set, for a form whose fields were never stored (made by a
/// path that does not store them: the demo, a test fixture).
pub fn standard_fields() -> Vec<Field> {
    STANDARD
        .iter()
        .enumerate()
        .map(|(i, (key, kind, label, required))| Field {
            id: 0,
            position: i as i64 + 1,
            key: Some(key.to_string()),
            kind: kind.as_str().to_string(),
            label: label.to_string(),
            help: String::new(),
            required: *required,
            options: String::new(),
        })
        .collect()
}

/// A field as the builder sends it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct FieldForm {
    /// `add`, `save`, `up`, `down` or `remove`.
    #[serde(default)]
    pub op: String,
    /// The field acted on (not for `add`).
    #[serde(default)]
    pub field: String,
    /// For `add`: a [`Kind`], or `std:<key>` for a standard field.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub required: Option<String>,
    #[serde(default)]
    pub options: String,
}

/// A field's settings once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSettings {
    pub label: String,
    pub help: String,
    pub required: bool,
    /// One per line, trimmed, no repeats.
    pub options: String,
}

/// Checks a field's label, help and options for a field of `kind`.
/// Errors are messages for the person editing the form.
pub fn check_settings(kind: Kind, form: &FieldForm) -> Result<FieldSettings, &'static str> {
    let label = line(&form.label, LABEL_MAX)
        .map_err(|_| "A label (or consent wording) is limited to 1,000 characters.")?
        .ok_or("Give the field a label.")?;
    let help = line(&form.help, HELP_MAX)
        .map_err(|_| "Help text is limited to 500 characters.")?
        .unwrap_or_default();
    let mut options: Vec<String> = Vec::new();
    if kind.has_options() {
        for raw in form.options.lines() {
            let option =
                line(raw, OPTION_MAX).map_err(|_| "An option is limited to 200 characters.")?;
            if let Some(option) = option
                && !options.contains(&option)
            {
                options.push(option);
            }
        }
        if options.is_empty() {
            return Err("A choice needs options: one per line.");
        }
        if options.len() > OPTIONS_MAX {
            return Err("A choice can have up to 50 options.");
        }
    }
    Ok(FieldSettings {
        label,
        help,
        required: form.required.is_some(),
        options: options.join("\n"),
    })
}

/// What `add` makes: a kind, and the standard key when one was chosen.
pub fn new_kind(choice: &str) -> Option<(Kind, Option<&'static str>)> {
    if let Some(key) = choice.strip_prefix("std:") {
        return STANDARD
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(k, kind, ..)| (*kind, Some(*k)));
    }
    Kind::parse(choice).map(|k| (k, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(label: &str, options: &str) -> FieldForm {
        FieldForm {
            label: label.into(),
            options: options.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_choice_needs_options_without_repeats() {
        assert_eq!(
            check_settings(Kind::Choice, &form("Size", " \n")),
            Err("A choice needs options: one per line.")
        );
        let s = check_settings(Kind::Choice, &form("Size", "S\r\n M \nS\n\nL")).unwrap();
        assert_eq!(s.options, "S\nM\nL");
        assert!(!s.required);
    }

    #[test]
    fn labels_are_required_and_bounded() {
        assert!(check_settings(Kind::Text, &form("  ", "")).is_err());
        assert!(check_settings(Kind::Text, &form(&"x".repeat(1001), "")).is_err());
        assert_eq!(
            check_settings(Kind::Text, &form("Budget", "ignored"))
                .unwrap()
                .options,
            ""
        );
    }

    #[test]
    fn new_kinds() {
        assert_eq!(new_kind("date"), Some((Kind::Date, None)));
        assert_eq!(new_kind("std:phone"), Some((Kind::Phone, Some("phone"))));
        assert_eq!(new_kind("std:nope"), None);
        assert_eq!(new_kind("blob"), None);
    }

    #[test]
    fn the_standard_set_is_what_forms_showed() {
        let names: Vec<_> = standard_fields().iter().map(Field::input_name).collect();
        assert_eq!(
            names,
            ["name", "email", "phone", "company", "interest", "consent"]
        );
        assert!(!standard_fields()[1].removable(DedupeKey::Email));
        assert!(standard_fields()[2].removable(DedupeKey::Email));
        assert!(standard_fields()[1].removable(DedupeKey::Phone));
        assert!(!standard_fields()[2].removable(DedupeKey::Phone));
    }
}
