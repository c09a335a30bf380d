//! Domain types parsed at the edge: once a value has one of these types it is
//! known to be valid. No HTTP, no SQL here.

use serde::{Deserialize, Serialize};

/// A lower-cased, plausible email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err("Please enter your email address.");
        }
        if value.len() > 254 {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err("That doesn't look like an email address.");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c == '@' || c.is_control());
        if !(domain_ok && local_ok) {
            return Err("That doesn't look like an email address.");
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number kept as typed (trimmed), checked for plausibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        let value = raw.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let digits = value.chars().filter(char::is_ascii_digit).count();
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || !(6..=15).contains(&digits) {
            return Err("Please enter a phone number (digits, spaces, + - ( ) only).");
        }
        Ok(Some(Self(value.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL-safe identifier: lower-case letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trims free text and bounds its length; `None` when empty.
pub fn text(raw: &str, max_chars: usize) -> Result<Option<String>, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max_chars {
        return Err(format!("Please keep this under {max_chars} characters."));
    }
    Ok(Some(value.to_string()))
}

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
        let name = match text(&self.name, 200) {
            Ok(Some(name)) => Some(name),
            Ok(None) => {
                errors.push(("name", "Please enter your name.".into()));
                None
            }
            Err(msg) => {
                errors.push(("name", msg));
                None
            }
        };
        let email = Email::parse(&self.email)
            .map_err(|msg| errors.push(("email", msg.into())))
            .ok();
        let phone = Phone::parse(&self.phone)
            .map_err(|msg| errors.push(("phone", msg.into())))
            .ok()
            .flatten();
        let company = text(&self.company, 200)
            .map_err(|msg| errors.push(("company", msg)))
            .ok()
            .flatten();
        let interest = text(&self.interest, 2000)
            .map_err(|msg| errors.push(("interest", msg)))
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

/// Strict `application/x-www-form-urlencoded` parsing: unlike the lenient
/// decoders, a broken percent escape or invalid UTF-8 is an error, not a
/// silently mangled value.
pub fn parse_urlencoded(body: &[u8]) -> Option<Vec<(String, String)>> {
    fn decode(part: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part.get(i + 1..i + 3)?;
                    let hex = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let key = decode(parts.next().unwrap_or_default())?;
            let value = decode(parts.next().unwrap_or_default())?;
            Some((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_is_strict() {
        assert_eq!(
            parse_urlencoded(b"name=Ana+Lima&email=a%40b.co&consent").unwrap(),
            vec![
                ("name".into(), "Ana Lima".into()),
                ("email".into(), "a@b.co".into()),
                ("consent".into(), "".into())
            ]
        );
        assert_eq!(
            parse_urlencoded(b"caf%C3%A9=%E2%9C%93").unwrap()[0].0,
            "café"
        );
        assert!(parse_urlencoded(b"name=%zz").is_none());
        assert!(parse_urlencoded(b"name=%4").is_none());
        assert!(parse_urlencoded(b"name=%ff%fe").is_none());
        assert!(
            parse_urlencoded(b"name=\xff").is_none(),
            "raw invalid UTF-8"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "a b@x.com",
            "ana@x..com",
            "ana@.x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse(" ").unwrap(), None);
        assert!(Phone::parse("+1 (555) 010-9999").unwrap().is_some());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("12").is_err());
    }

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

    #[test]
    fn slugs() {
        assert!(Slug::parse("demo-co-2").is_some());
        assert!(Slug::parse("Demo").is_none());
        assert!(Slug::parse("").is_none());
        assert!(Slug::parse("../x").is_none());
    }
}
