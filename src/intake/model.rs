//! What a public form submits: [`FormInput`] as typed, parsed through the
//! field rules into [`Answers`].

use serde::{Deserialize, Serialize};

use crate::platform::text::{Email, Phone, fields};

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
}

/// A valid submission of the prospect form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub name: String,
    pub email: Email,
    pub phone: Option<Phone>,
    pub company: Option<String>,
    pub interest: Option<String>,
    pub consent: bool,
}

/// Per-field messages, in field order.
pub type FieldErrors = Vec<(&'static str, String)>;

impl FormInput {
    pub fn parse(&self) -> Result<Answers, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut check = |field: &'static str, err: fields::FieldError| {
            errors.push((field, err.message().to_string()));
        };
        let name = match fields::optional_name(&self.name) {
            Ok(Some(name)) => Some(name),
            Ok(None) => {
                check("name", fields::FieldError("Please enter your name."));
                None
            }
            Err(err) => {
                check("name", err);
                None
            }
        };
        let email = fields::email(&self.email)
            .map_err(|e| check("email", e))
            .ok();
        let phone = fields::phone(&self.phone)
            .map_err(|e| check("phone", e))
            .ok()
            .flatten();
        let company = fields::company(&self.company)
            .map_err(|e| check("company", e))
            .ok()
            .flatten();
        let interest = fields::interest(&self.interest)
            .map_err(|e| check("interest", e))
            .ok()
            .flatten();
        match (name, email) {
            (Some(name), Some(email)) if errors.is_empty() => Ok(Answers {
                name,
                email,
                phone,
                company,
                interest,
                consent: self.consent,
            }),
            _ => Err(errors),
        }
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
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["name", "email", "phone"]);
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
        assert_eq!(answers.email.as_str(), "ana@example.com");
        assert_eq!(answers.company, None);
    }
}
