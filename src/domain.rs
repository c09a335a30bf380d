//! Domain types parsed at the edge: once a value has one of these types it is
//! known to be valid. No HTTP, no SQL here.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// An email address as Rally keys it: one normalised form per mailbox, so
/// that the same person typed twice (NFC or NFD, capitals, a Unicode domain
/// or its punycode) is one prospect, one account, one invitation.
///
/// The key is `local@domain` where
/// - the whole address was trimmed, then put in Unicode NFC;
/// - the local part is lower-cased (Unicode-aware; mail providers treat it
///   case-insensitively in practice);
/// - the domain is its IDNA **ASCII** form (UTS #46, e.g.
///   `münchen.de` → `xn--mnchen-3ya.de`): the form DNS and mail providers
///   use, one spelling per domain, and one that shows look-alike letters
///   from other scripts for what they are.
///
/// The result must be an addr-spec (RFC 5322 dot-atom local part, RFC 6532
/// letters allowed; no quoted local parts, display names or IP literals),
/// as checked by the `email_address` crate, with a domain of at least two
/// labels and at most 254 bytes in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Parses and normalises; the error is a message for the person.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const NOT_AN_ADDRESS: &str = "That doesn't look like an email address.";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("Please enter your email address.");
        }
        if raw.chars().any(char::is_control) {
            return Err(NOT_AN_ADDRESS);
        }
        let value = email_key(raw);
        if value.len() > 254 {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(NOT_AN_ADDRESS);
        };
        // email_key leaves the domain as typed when IDNA refuses it.
        let domain_ok =
            domain.is_ascii() && idna::domain_to_ascii(domain).is_ok_and(|d| d == domain);
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        if !domain_ok
            || local.starts_with('"')
            || email_address::EmailAddress::parse_with_options(&value, options).is_err()
        {
            return Err(NOT_AN_ADDRESS);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `text` in Unicode NFC; borrowed when it already is (all ASCII text is),
/// which is nearly always and costs one quick scan.
pub fn nfc(text: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, is_nfc_quick};
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.nfc().collect())
    }
}

/// An email key with its domain in Unicode (`joerg@xn--mnchen-3ya.de` →
/// `joerg@münchen.de`): how a person typed it, for search.
pub fn email_unicode(key: &str) -> String {
    match key.rsplit_once('@') {
        Some((local, domain)) if domain.contains("xn--") => {
            let (unicode, result) = idna::domain_to_unicode(domain);
            if result.is_ok() {
                format!("{local}@{unicode}")
            } else {
                key.to_string()
            }
        }
        _ => key.to_string(),
    }
}

/// The key [`Email::parse`] would store for `raw`, without judging whether
/// it is a valid address: for looking an address up (sign-in) exactly as
/// it was stored. A domain that IDNA refuses is kept lower-cased as typed.
pub fn email_key(raw: &str) -> String {
    let nfc = nfc(raw.trim());
    match nfc.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
            format!("{}@{domain}", local.to_lowercase())
        }
        None => nfc.to_lowercase(),
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
        if !allowed || !(6..=15).contains(&digits) || value.chars().count() > 40 {
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

/// Trims one line of free text and bounds its length; `None` when empty.
/// The same character rules as [`fields`] (no control characters; tabs and
/// line breaks become spaces; NFC). The error is a message for the person.
pub fn text(raw: &str, max_chars: usize) -> Result<Option<String>, String> {
    match fields::line(raw, max_chars) {
        Ok(value) => Ok(value),
        Err(fields::LineError::Control) => Err(fields::CONTROL.to_string()),
        Err(fields::LineError::TooLong) => {
            Err(format!("Please keep this under {max_chars} characters."))
        }
    }
}

/// The rules for every field a person types about a prospect, in one place:
/// the public form, quick add, edit and CSV import all call these, so a
/// value one of them stores the others accept.
///
/// Every parser trims, puts the text in Unicode NFC and refuses control
/// characters (U+0000–U+001F, U+007F–U+009F). One-line fields (name,
/// company) turn tabs and line breaks into single spaces; long text
/// (interest, note) keeps tabs and line breaks (`\r\n` becomes `\n`).
/// Lengths count characters (Unicode scalar values), after trimming.
pub mod fields {
    use std::fmt;

    use super::{Email, Phone};

    /// Longest name, in characters.
    pub const NAME_MAX: usize = 200;
    /// Longest company, in characters.
    pub const COMPANY_MAX: usize = 200;
    /// Longest "what are you interested in" answer, in characters.
    pub const INTEREST_MAX: usize = 2000;
    /// Longest note, in characters.
    pub const NOTE_MAX: usize = 4000;

    /// The message for a value holding a control character.
    pub const CONTROL: &str = "This contains a control character (such as a NUL byte) that Rally cannot store. Please remove it.";

    /// Why a field's value was refused: a message for the person, naming
    /// the rule (shown beside the field).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FieldError(pub &'static str);

    impl FieldError {
        pub fn message(&self) -> &'static str {
            self.0
        }
    }

    impl fmt::Display for FieldError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for FieldError {}

    impl From<FieldError> for String {
        fn from(err: FieldError) -> String {
            err.0.to_string()
        }
    }

    /// What is wrong with one line of text, for callers that word their
    /// own message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum LineError {
        Control,
        TooLong,
    }

    /// One line: trimmed, NFC, tabs and line breaks as single spaces, no
    /// other control characters, at most `max_chars`; `None` when empty.
    pub fn line(raw: &str, max_chars: usize) -> Result<Option<String>, LineError> {
        let mut value = String::with_capacity(raw.len());
        let mut in_break = false;
        for c in super::nfc(raw.trim()).chars() {
            match c {
                '\t' | '\n' | '\r' => {
                    if !in_break {
                        value.push(' ');
                    }
                    in_break = true;
                    continue;
                }
                c if c.is_control() => return Err(LineError::Control),
                c => value.push(c),
            }
            in_break = false;
        }
        if value.is_empty() {
            return Ok(None);
        }
        if value.chars().count() > max_chars {
            return Err(LineError::TooLong);
        }
        Ok(Some(value))
    }

    /// Long text: trimmed, NFC, `\r\n` and `\r` as `\n`, tabs kept, no other
    /// control characters, at most `max_chars`; `None` when empty.
    pub fn long_text(raw: &str, max_chars: usize) -> Result<Option<String>, LineError> {
        let unified = raw.trim().replace("\r\n", "\n").replace('\r', "\n");
        let value = super::nfc(&unified).into_owned();
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(LineError::Control);
        }
        if value.is_empty() {
            return Ok(None);
        }
        if value.chars().count() > max_chars {
            return Err(LineError::TooLong);
        }
        Ok(Some(value))
    }

    /// A prospect's name: required, one line, up to [`NAME_MAX`] characters.
    pub fn name(raw: &str) -> Result<String, FieldError> {
        optional_name(raw)?.ok_or(FieldError("Please enter a name."))
    }

    /// A name that may be left blank (an import row that only adds to a
    /// prospect already stored): the rules of [`name`], `None` when empty.
    pub fn optional_name(raw: &str) -> Result<Option<String>, FieldError> {
        line(raw, NAME_MAX).map_err(|e| match e {
            LineError::Control => FieldError(CONTROL),
            LineError::TooLong => FieldError("Please keep the name to 200 characters or fewer."),
        })
    }

    /// A company: optional, one line, up to [`COMPANY_MAX`] characters.
    pub fn company(raw: &str) -> Result<Option<String>, FieldError> {
        line(raw, COMPANY_MAX).map_err(|e| match e {
            LineError::Control => FieldError(CONTROL),
            LineError::TooLong => FieldError("Please keep the company to 200 characters or fewer."),
        })
    }

    /// What the person is interested in: optional long text, up to
    /// [`INTEREST_MAX`] characters.
    pub fn interest(raw: &str) -> Result<Option<String>, FieldError> {
        long_text(raw, INTEREST_MAX).map_err(|e| match e {
            LineError::Control => FieldError(CONTROL),
            LineError::TooLong => FieldError("Please keep this to 2,000 characters or fewer."),
        })
    }

    /// A note on a prospect: required long text, up to [`NOTE_MAX`]
    /// characters.
    pub fn note(raw: &str) -> Result<String, FieldError> {
        long_text(raw, NOTE_MAX)
            .map_err(|e| match e {
                LineError::Control => FieldError(CONTROL),
                LineError::TooLong => FieldError("A note can have up to 4,000 characters."),
            })?
            .ok_or(FieldError("A note needs some text."))
    }

    /// An email address, normalised to its key (see [`Email`]).
    pub fn email(raw: &str) -> Result<Email, FieldError> {
        Email::parse(raw).map_err(FieldError)
    }

    /// A phone number kept as typed (see [`Phone`]); `None` when empty.
    pub fn phone(raw: &str) -> Result<Option<Phone>, FieldError> {
        Phone::parse(raw).map_err(FieldError)
    }
}

/// Text as search compares it: compatibility-normalised and case-folded
/// (Unicode full case folding, so `Élodie`, `ÉLODIE` and `élodie`, or
/// `ИВАН` and `Иван`, are one; `Straße` matches `STRASSE`), then NFC.
/// Search terms and the stored search column are both made with this,
/// in Rust, so SQLite and Postgres find the same rows.
pub fn search_fold(text: &str) -> String {
    let decomposed: String = text.nfkd().collect();
    caseless::default_case_fold_str(&decomposed)
        .nfkc()
        .collect()
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
    fn one_email_key_per_mailbox() {
        let nfc = Email::parse("jos\u{e9}@example.com").unwrap();
        let nfd = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(nfc, nfd);
        assert_eq!(nfc.as_str(), "jos\u{e9}@example.com");
        let unicode = Email::parse("Joerg2@München-Test.de").unwrap();
        let puny = Email::parse("joerg2@xn--mnchen-test-thb.de").unwrap();
        assert_eq!(unicode, puny);
        assert_eq!(unicode.as_str(), "joerg2@xn--mnchen-test-thb.de");
        assert_eq!(
            email_key(" JOSE\u{301}@EXAMPLE.com "),
            "jos\u{e9}@example.com"
        );
        assert_eq!(email_unicode(puny.as_str()), "joerg2@münchen-test.de");
        // Characters the addr-spec allows stay (links encode them).
        assert!(Email::parse("victim?cc=spy%40evil.test&body=x@example.com").is_ok());
        for bad in [
            "Ana <ana@example.com>",
            "\"ana lima\"@example.com",
            "ana@[127.0.0.1]",
            "ana@localhost",
            "ana@example.com?cc=spy@evil.test",
            "ana\0@example.com",
            "ana@exa mple.com",
            "ana.@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn one_set_of_field_rules() {
        let long = format!("Maria {}Lopez", "Antonia ".repeat(17));
        assert_eq!(fields::name(&long).unwrap(), long);
        assert!(fields::name(&"n".repeat(201)).is_err());
        assert_eq!(fields::name(&"n".repeat(200)).unwrap().len(), 200);
        assert_eq!(
            fields::name(" Tab\tand\r\nBreak ").unwrap(),
            "Tab and Break"
        );
        assert_eq!(fields::name("E\u{301}lodie").unwrap(), "\u{c9}lodie", "NFC");
        assert_eq!(
            fields::name("Nul\0Person").unwrap_err().message(),
            fields::CONTROL
        );
        assert!(fields::name("Bell\u{7}").is_err());
        assert!(fields::name("C1\u{85}x").is_err());
        assert!(fields::name("  ").is_err());
        assert_eq!(fields::optional_name("  ").unwrap(), None);
        assert_eq!(
            fields::company(&"C".repeat(150)).unwrap().unwrap().len(),
            150
        );
        assert_eq!(
            fields::interest("two\r\nlines\tand a tab")
                .unwrap()
                .unwrap(),
            "two\nlines\tand a tab"
        );
        assert!(fields::interest("a\0b").is_err());
        assert!(fields::note("").is_err());
        assert!(fields::note(&"x".repeat(4001)).is_err());
        assert!(fields::phone("+1\u{0}555 0100").is_err());
        assert!(
            fields::phone(&format!("1234567{}", " ".repeat(40))).is_ok(),
            "trimmed"
        );
        assert!(fields::phone(&format!("123{}4567", "-".repeat(40))).is_err());
        assert!(text("a\0b", 10).is_err());
    }

    #[test]
    fn search_folds_case_in_every_script() {
        assert_eq!(search_fold("ÉLODIE"), search_fold("élodie"));
        assert_eq!(search_fold("E\u{301}lodie"), search_fold("Élodie"));
        assert_eq!(search_fold("ИВАН Петров"), "иван петров");
        assert_eq!(search_fold("Straße"), search_fold("STRASSE"));
        assert!(search_fold("Jörg Straße").contains(&search_fold("JÖRG")));
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
