//! What a public form submits: [`FormInput`] as typed, parsed through the
//! form's fields and the field rules into [`Answers`].

use serde::{Deserialize, Serialize};

use crate::{
    forms::fields::{DedupeKey, Field, Kind, standard_fields},
    platform::text::{Email, Phone, fields},
};

/// What a person typed into a prospect form, as strings: kept so that the
/// form can be shown again with their values beside any errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormInput {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub interest: String,
    pub consent: bool,
    /// The custom fields' values by input name (`f{id}`), as typed; a
    /// multiple choice has one pair per ticked option.
    #[serde(default)]
    pub values: Vec<(String, String)>,
}

/// One answer as the person saw the question: the field's label at the
/// time (a later edit of the form does not change it) and the value as
/// shown (a choice's option, `yes`/`no` for a box, options joined by `; `).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAnswer {
    pub label: String,
    pub value: String,
}

/// A valid submission of the prospect form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub name: String,
    /// `None` only on a phone-keyed form whose email field was left empty
    /// or removed; then `phone` is there (see [`Answers::phone_key`]).
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub company: Option<String>,
    pub interest: Option<String>,
    pub consent: bool,
    /// Every answer in the form's order with its label at the time
    /// (standard fields included); empty in submissions made before the
    /// form builder, which a queued job may still carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldAnswer>,
}

impl Answers {
    /// The email key, `""` for none (how `prospects.email` stores none).
    pub fn email_key(&self) -> &str {
        self.email.as_ref().map_or("", Email::as_str)
    }

    /// The phone's dedupe key (`Phone::key`) when the submission is keyed
    /// by phone: it has no email. `None` when it has one (email wins).
    pub fn phone_key(&self) -> Option<String> {
        match (&self.email, &self.phone) {
            (None, Some(phone)) => Some(phone.key()),
            _ => None,
        }
    }
}

/// Per-field messages by input name, in field order.
pub type FieldErrors = Vec<(String, String)>;

/// Longest answer to a custom one-line field, and to a long one, in
/// characters.
const TEXT_MAX: usize = 500;
const LONG_TEXT_MAX: usize = 4000;

impl FormInput {
    /// The value typed for a field with input name `name` (the first, for
    /// a custom field).
    pub fn value(&self, name: &str) -> &str {
        match name {
            "name" => &self.name,
            "email" => &self.email,
            "phone" => &self.phone,
            "company" => &self.company,
            "interest" => &self.interest,
            "consent" => {
                if self.consent {
                    "yes"
                } else {
                    ""
                }
            }
            _ => self
                .values
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    /// Every value sent for a custom field (a multiple choice's options).
    pub fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.values
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parsed against the standard fields (the form before the builder).
    pub fn parse(&self) -> Result<Answers, FieldErrors> {
        self.parse_for(&standard_fields(), DedupeKey::Email)
    }

    /// Parsed against `form_fields` of a form keyed by `dedupe`, in their
    /// order: each value by its kind's rule (the standard ones by
    /// `platform::text::fields`), a required field must be answered (a
    /// required consent or checkbox ticked), a choice must be one of its
    /// options. The dedupe key's field is required whatever it says: the
    /// email of an email-keyed form, the phone of a phone-keyed one (whose
    /// email is then as its field says, or absent). Every problem is
    /// reported, by input name.
    pub fn parse_for(
        &self,
        form_fields: &[Field],
        dedupe: DedupeKey,
    ) -> Result<Answers, FieldErrors> {
        let standard;
        let form_fields = if form_fields.is_empty() {
            standard = standard_fields();
            &standard[..]
        } else {
            form_fields
        };
        let mut errors = FieldErrors::new();
        let mut slots = Slots::default();
        let mut shown = Vec::with_capacity(form_fields.len());
        for field in form_fields {
            let name = field.input_name();
            match answer(self, field, &name, &mut slots) {
                Ok(Some(value)) => shown.push(FieldAnswer {
                    label: field.label.clone(),
                    value,
                }),
                Ok(None) if field.required || field.is_key_field(dedupe) => {
                    let message = match field.kind() {
                        Kind::Consent | Kind::Checkbox => "Please tick this box to continue.",
                        Kind::Choice | Kind::Multiple => "Please choose an option.",
                        _ if field.key.as_deref() == Some("name") => "Please enter your name.",
                        _ if field.key.as_deref() == Some("email") => {
                            "Please enter your email address."
                        }
                        _ => "Please fill this in.",
                    };
                    errors.push((name, message.to_string()));
                }
                Ok(None) => {}
                Err(message) => errors.push((name, message.to_string())),
            }
        }
        // The key: an email, or on a phone-keyed form a phone (its field
        // missing or blank was reported above, when the form has one).
        let keyed = slots.email.is_some() || (dedupe == DedupeKey::Phone && slots.phone.is_some());
        if !keyed && errors.is_empty() {
            let (name, message) = match dedupe {
                DedupeKey::Email => ("email", "This form cannot be sent: it has no email field."),
                DedupeKey::Phone => ("phone", "This form cannot be sent: it has no phone field."),
            };
            errors.push((name.to_string(), message.to_string()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Answers {
            name: slots.name,
            email: slots.email,
            phone: slots.phone,
            company: slots.company,
            interest: slots.interest,
            consent: slots.consent,
            fields: shown,
        })
    }
}

/// What the standard fields fill, gathered while parsing.
#[derive(Default)]
struct Slots {
    name: String,
    email: Option<Email>,
    phone: Option<Phone>,
    company: Option<String>,
    interest: Option<String>,
    consent: bool,
}

fn message(err: fields::FieldError) -> &'static str {
    err.message()
}

/// One field's answer as shown, `None` when unanswered (an unticked box
/// answers `no` unless it is required); a standard field also fills its
/// slot.
fn answer(
    input: &FormInput,
    field: &Field,
    name: &str,
    answers: &mut Slots,
) -> Result<Option<String>, &'static str> {
    let raw = input.value(name);
    let ticked = |required: bool| {
        if !raw.is_empty() {
            Some("yes".to_string())
        } else if required {
            None
        } else {
            Some("no".to_string())
        }
    };
    match field.key.as_deref() {
        Some("name") => {
            answers.name = fields::optional_name(raw)
                .map_err(message)?
                .unwrap_or_default();
            return Ok(Some(answers.name.clone()).filter(|n| !n.is_empty()));
        }
        Some("email") => {
            // Blank: `parse_for` tells whether it had to be answered.
            if raw.trim().is_empty() {
                return Ok(None);
            }
            let parsed = fields::email(raw).map_err(message)?;
            let shown = parsed.as_str().to_string();
            answers.email = Some(parsed);
            return Ok(Some(shown));
        }
        Some("phone") => {
            answers.phone = fields::phone(raw).map_err(message)?;
            return Ok(answers.phone.as_ref().map(|p| p.as_str().to_string()));
        }
        Some("company") => {
            answers.company = fields::company(raw).map_err(message)?;
            return Ok(answers.company.clone());
        }
        Some("interest") => {
            answers.interest = fields::interest(raw).map_err(message)?;
            return Ok(answers.interest.clone());
        }
        Some("consent") => {
            answers.consent = input.consent;
            return Ok(ticked(field.required));
        }
        _ => {}
    }
    match field.kind() {
        Kind::Text => {
            fields::line(raw, TEXT_MAX).map_err(|_| "Please keep this to 500 characters or fewer.")
        }
        Kind::LongText => fields::long_text(raw, LONG_TEXT_MAX)
            .map_err(|_| "Please keep this to 4,000 characters or fewer."),
        Kind::Email => {
            if raw.trim().is_empty() {
                Ok(None)
            } else {
                Ok(Some(
                    fields::email(raw).map_err(message)?.as_str().to_string(),
                ))
            }
        }
        Kind::Phone => Ok(fields::phone(raw)
            .map_err(message)?
            .map(|p| p.as_str().to_string())),
        Kind::Number => {
            let Some(text) = fields::line(raw, 40).map_err(|_| "Please enter a number.")? else {
                return Ok(None);
            };
            match text.replace(',', ".").parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Some(text)),
                _ => Err("Please enter a number, like 12 or 3.5."),
            }
        }
        Kind::Date => {
            let Some(text) = fields::line(raw, 40).map_err(|_| "Please enter a date.")? else {
                return Ok(None);
            };
            chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map(|d| Some(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| "Please enter a date as year-month-day, like 2026-06-15.")
        }
        Kind::Choice => {
            if raw.is_empty() {
                Ok(None)
            } else if field.options().any(|o| o == raw) {
                Ok(Some(raw.to_string()))
            } else {
                Err("Please choose one of the options.")
            }
        }
        Kind::Multiple => {
            let mut chosen: Vec<&str> = Vec::new();
            for value in input.values_of(name).filter(|v| !v.is_empty()) {
                if !field.options().any(|o| o == value) {
                    return Err("Please choose among the options.");
                }
                if !chosen.contains(&value) {
                    chosen.push(value);
                }
            }
            // In the options' order, whatever order the browser sent.
            let shown: Vec<&str> = field.options().filter(|o| chosen.contains(o)).collect();
            Ok(Some(shown.join("; ")).filter(|s| !s.is_empty()))
        }
        Kind::Checkbox | Kind::Consent => Ok(ticked(field.required)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_reports_every_bad_field_in_order() {
        let input = FormInput {
            name: " ".into(),
            email: "nope".into(),
            phone: "abc".into(),
            ..Default::default()
        };
        let errors = input.parse().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["name", "email", "phone"]);
    }

    #[test]
    fn a_phone_keyed_form_takes_a_phone_without_an_email() {
        let mut fields = standard_fields();
        fields[1].required = false; // the email, made optional
        let input = |email: &str, phone: &str| FormInput {
            name: "Ana".into(),
            email: email.into(),
            phone: phone.into(),
            ..Default::default()
        };
        // Keyed by phone: no email is fine, the phone is required.
        let answers = input("", "+34 612 34 56 78")
            .parse_for(&fields, DedupeKey::Phone)
            .unwrap();
        assert_eq!(answers.email, None);
        assert_eq!(answers.phone_key().as_deref(), Some("+34612345678"));
        let errors = input("", "")
            .parse_for(&fields, DedupeKey::Phone)
            .unwrap_err();
        assert_eq!(
            errors,
            [("phone".to_string(), "Please fill this in.".to_string())]
        );
        // With an email, the email is the key.
        let answers = input("ANA@example.com", "+34 612 34 56 78")
            .parse_for(&fields, DedupeKey::Phone)
            .unwrap();
        assert_eq!(answers.email_key(), "ana@example.com");
        assert_eq!(answers.phone_key(), None);
        // Keyed by email, the email is required whatever its field says.
        let errors = input("", "+34 612 34 56 78")
            .parse_for(&fields, DedupeKey::Email)
            .unwrap_err();
        assert_eq!(
            errors,
            [(
                "email".to_string(),
                "Please enter your email address.".to_string()
            )]
        );
    }

    #[test]
    fn valid_form() {
        let input = FormInput {
            name: " Ana Lima ".into(),
            email: "ANA@example.com".into(),
            consent: true,
            ..Default::default()
        };
        let answers = input.parse().unwrap();
        assert_eq!(answers.name, "Ana Lima");
        assert_eq!(answers.email_key(), "ana@example.com");
        assert_eq!(answers.company, None);
    }
}
