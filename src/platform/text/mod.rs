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
        // Invisible control characters are dropped, line breaks become
        // spaces (see [`fields::clean`]): a break inside is then refused.
        let cleaned = fields::clean(raw, fields::Lines::One);
        let raw = cleaned.trim();
        if raw.is_empty() {
            return Err("Please enter your email address.");
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

/// An email address as pages and exports show it: the stored key with its
/// domain decoded from IDNA ASCII to Unicode (`ivan@xn--e1afmkfd.xn--p1ai`
/// → `ivan@пример.рф`), so a person sees what they typed. Borrowed as it is
/// when the domain has no `xn--` label, when IDNA cannot decode it, or when
/// a decoded label mixes letters of Latin, Greek and Cyrillic (the scripts
/// whose letters look alike, as in `аpple` with a Cyrillic `а`): such a
/// domain stays in punycode, which shows it for what it is.
///
/// [`Email::parse`] and [`email_key`] read the shown form back to the same
/// key, so an export imports back unchanged. Links (`mailto:`) keep the
/// key, the form RFC 6068 asks for.
pub fn display_email(key: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some((local, domain)) = key.rsplit_once('@') else {
        return Cow::Borrowed(key);
    };
    if !domain.split('.').any(|label| {
        label
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    }) {
        return Cow::Borrowed(key);
    }
    let (unicode, result) = idna::domain_to_unicode(domain);
    if result.is_err() || unicode.split('.').any(mixes_look_alike_scripts) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(format!("{local}@{unicode}"))
}

/// Whether `label` holds letters of more than one of Latin, Greek and
/// Cyrillic (by Unicode block; other scripts are not judged).
fn mixes_look_alike_scripts(label: &str) -> bool {
    let mut seen = [false; 3];
    for c in label.chars() {
        let script = match c {
            'a'..='z' | 'A'..='Z' => 0,
            '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' if c.is_alphabetic() => 0,
            '\u{370}'..='\u{3ff}' | '\u{1f00}'..='\u{1fff}' => 1,
            '\u{400}'..='\u{52f}'
            | '\u{1c80}'..='\u{1c8f}'
            | '\u{2de0}'..='\u{2dff}'
            | '\u{a640}'..='\u{a69f}' => 2,
            _ => continue,
        };
        seen[script] = true;
    }
    seen.iter().filter(|s| **s).count() > 1
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
    let cleaned = fields::clean(raw, fields::Lines::One);
    let nfc = nfc(cleaned.trim());
    match nfc.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
            format!("{}@{domain}", local.to_lowercase())
        }
        None => nfc.to_lowercase(),
    }
}

/// A phone number kept as typed (trimmed; control characters dropped and
/// line breaks made spaces, as for every one-line field), checked for
/// plausibility, up to 40 characters:
/// - the number: digits, spaces and `+ - ( ) . /`, with 6 to 15 digits
///   (`+1 (555) 010-9999`, `030/1234567`);
/// - optionally followed by an extension: `ext`, `ext.`, `x` or `#` (any
///   case, spaces around allowed) and 1 to 6 digits
///   (`+1 555-010-1234 ext. 12`, `(555) 010-2000 x34`). Its digits do not
///   count towards the number's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    /// `None` when blank; the error is a message for the person.
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        let cleaned = fields::clean(raw, fields::Lines::One);
        let value = cleaned.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let number = Self::without_extension(value).unwrap_or(value);
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let allowed = number
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c));
        if !allowed || !(6..=15).contains(&digits) || value.chars().count() > 40 {
            return Err(
                "Please enter a phone number (digits, spaces, + - ( ) . / and an extension such as “ext. 12”).",
            );
        }
        Ok(Some(Self(value.to_string())))
    }

    /// The number before an extension suffix (`ext`, `ext.`, `x`, `#` and
    /// 1–6 digits), if `value` ends in one.
    fn without_extension(value: &str) -> Option<&str> {
        Self::split_extension(value).map(|(number, _)| number)
    }

    /// A phone as typed split into its number and the digits of its
    /// extension (`"(555) 010-2000 x34"` → `("(555) 010-2000", "34")`), if
    /// it ends in one; for `tel:` links.
    pub fn split_extension(value: &str) -> Option<(&str, &str)> {
        let value = value.trim_end();
        let ext_digits = value.chars().rev().take_while(char::is_ascii_digit).count();
        if !(1..=6).contains(&ext_digits) {
            return None;
        }
        let (rest, digits) = value.split_at(value.len() - ext_digits);
        let rest = rest.trim_end();
        let lower = rest.to_ascii_lowercase();
        ["ext.", "ext", "x", "#"]
            .iter()
            .find(|marker| lower.ends_with(*marker))
            .map(|marker| rest[..rest.len() - marker.len()].trim_end())
            .filter(|number| !number.is_empty())
            .map(|number| (number, digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as a dedupe key (a phone-keyed form's prospects without
    /// an email are unique by it): what it dials, whatever the spacing and
    /// punctuation. An international number (`+` or `00` first) is `+`
    /// and its digits (`+34 612 34 56 78`, `+34612345678` and
    /// `0034 612-345-678` are all `+34612345678`); a national one (no
    /// country code) is its digits alone, so it matches the same national
    /// digits only, not the international form of the same line (Rally
    /// knows no default country to add). An extension follows as `x` and
    /// its digits (`+15550102000x34`).
    pub fn key(&self) -> String {
        let (number, extension) = match Self::split_extension(&self.0) {
            Some((number, extension)) => (number, Some(extension)),
            None => (self.0.as_str(), None),
        };
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let mut key = String::with_capacity(digits.len() + 8);
        if number.trim_start().starts_with('+') {
            key.push('+');
            key.push_str(&digits);
        } else if let Some(international) = digits.strip_prefix("00") {
            key.push('+');
            key.push_str(international);
        } else {
            key.push_str(&digits);
        }
        if let Some(extension) = extension {
            key.push('x');
            key.push_str(extension);
        }
        key
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
/// The same character rules as [`fields`] (control characters dropped;
/// tabs and line breaks become spaces; NFC). The error is a message for
/// the person.
pub fn text(raw: &str, max_chars: usize) -> Result<Option<String>, String> {
    match fields::line(raw, max_chars) {
        Ok(value) => Ok(value),
        Err(fields::LineError::TooLong) => {
            Err(format!("Please keep this under {max_chars} characters."))
        }
    }
}

/// The rules for every field a person types about a prospect, in one place:
/// the public form, quick add, edit and CSV import all call these, so a
/// value one of them stores the others accept.
///
/// Nothing a person typed is refused for a character they cannot see:
/// every parser first puts control characters through [`clean`] (the edge
/// screen, `http::input`, uses the same function on every form body), then
/// trims and puts the text in Unicode NFC. One-line fields (name, company,
/// email, phone) have every line break and tab as a single space; long
/// text (interest, note) keeps tabs and has every line break as `\n`.
/// Lengths count characters (Unicode scalar values), after trimming.
pub mod fields {
    use std::{borrow::Cow, fmt};

    use super::{Email, Phone};

    /// Longest name, in characters.
    pub const NAME_MAX: usize = 200;
    /// Longest company, in characters.
    pub const COMPANY_MAX: usize = 200;
    /// Longest "what are you interested in" answer, in characters.
    pub const INTEREST_MAX: usize = 2000;
    /// Longest note, in characters.
    pub const NOTE_MAX: usize = 4000;

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
        TooLong,
    }

    /// Whether text may hold line breaks.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Lines {
        /// One line: line breaks and tabs become spaces.
        One,
        /// Long text: line breaks are kept, as `\n`; tabs are kept.
        Many,
    }

    /// The one rule for invisible characters, shared by every field and by
    /// the edge screen (so no handler or database ever sees a NUL):
    /// - line breaks — CR LF, CR, LF, VT (U+000B, which Word pastes), FF,
    ///   NEL (U+0085), LINE SEPARATOR (U+2028), PARAGRAPH SEPARATOR
    ///   (U+2029) — are `\n` in [`Lines::Many`]; in [`Lines::One`] a run of
    ///   them and tabs is a single space;
    /// - every other control character (C0, DEL, C1: NUL, BEL, ESC…) is
    ///   removed, and so are the format characters that hide or reorder
    ///   text: bidirectional embeddings, overrides and isolates (U+202A–
    ///   U+202E, U+2066–U+2069: `Bob \u{202E}gnp.exe` shows as
    ///   "Bob exe.png"), ZERO WIDTH SPACE, WORD JOINER and the byte-order
    ///   mark (U+200B, U+2060, U+FEFF). ZERO WIDTH (NON-)JOINER and the
    ///   left-to-right / right-to-left marks stay: emoji, Indic and Persian
    ///   text need them, and they reorder nothing (Unicode TR #9, TR #36).
    ///
    /// Neither trims nor normalises; borrowed when there is nothing to do.
    pub fn clean(raw: &str, lines: Lines) -> Cow<'_, str> {
        let is_break = |c: char| {
            matches!(
                c,
                '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
            )
        };
        let hidden = |c: char| {
            c.is_control()
                || matches!(
                    c,
                    '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{2060}' | '\u{feff}'
                )
        };
        let untouched = |c: char| match lines {
            Lines::One => !hidden(c) && !is_break(c),
            Lines::Many => (!hidden(c) && !is_break(c)) || c == '\t' || c == '\n',
        };
        if raw.chars().all(untouched) {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        let mut in_space = false;
        while let Some(c) = chars.next() {
            match (lines, c) {
                (Lines::One, c) if is_break(c) || c == '\t' => {
                    if !in_space {
                        out.push(' ');
                    }
                    in_space = true;
                    continue;
                }
                (Lines::Many, '\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    out.push('\n');
                }
                (Lines::Many, c) if is_break(c) => out.push('\n'),
                (Lines::Many, '\t') => out.push('\t'),
                // Removed: a run of spaces stays one across it.
                (_, c) if hidden(c) => continue,
                (_, c) => out.push(c),
            }
            in_space = false;
        }
        Cow::Owned(out)
    }

    /// One line: [`clean`], trimmed, NFC, at most `max_chars`; `None` when
    /// empty.
    pub fn line(raw: &str, max_chars: usize) -> Result<Option<String>, LineError> {
        let cleaned = clean(raw, Lines::One);
        let value = super::nfc(cleaned.trim()).into_owned();
        if value.is_empty() {
            return Ok(None);
        }
        if value.chars().count() > max_chars {
            return Err(LineError::TooLong);
        }
        Ok(Some(value))
    }

    /// Long text: [`clean`] (line breaks as `\n`, tabs kept), trimmed,
    /// NFC, at most `max_chars`; `None` when empty.
    pub fn long_text(raw: &str, max_chars: usize) -> Result<Option<String>, LineError> {
        let cleaned = clean(raw, Lines::Many);
        let value = super::nfc(cleaned.trim()).into_owned();
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
            LineError::TooLong => FieldError("Please keep the name to 200 characters or fewer."),
        })
    }

    /// A company: optional, one line, up to [`COMPANY_MAX`] characters.
    pub fn company(raw: &str) -> Result<Option<String>, FieldError> {
        line(raw, COMPANY_MAX).map_err(|e| match e {
            LineError::TooLong => FieldError("Please keep the company to 200 characters or fewer."),
        })
    }

    /// What the person is interested in: optional long text, up to
    /// [`INTEREST_MAX`] characters.
    pub fn interest(raw: &str) -> Result<Option<String>, FieldError> {
        long_text(raw, INTEREST_MAX).map_err(|e| match e {
            LineError::TooLong => FieldError("Please keep this to 2,000 characters or fewer."),
        })
    }

    /// A note on a prospect: required long text, up to [`NOTE_MAX`]
    /// characters.
    pub fn note(raw: &str) -> Result<String, FieldError> {
        long_text(raw, NOTE_MAX)
            .map_err(|e| match e {
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

/// The version of [`search_fold`]: raised whenever what it returns
/// changes, so that start-up makes every stored search text again (see
/// `crate::prospects::queries::backfill`). 2: accents (combining marks) dropped.
/// 3: the search text also holds the phone number and the tags.
pub const SEARCH_FOLD_VERSION: i64 = 3;

/// Text as search compares it: compatibility-normalised, case-folded
/// (Unicode full case folding, so `Élodie`, `ÉLODIE` and `élodie`, or
/// `ИВАН` and `Иван`, are one; `Straße` matches `STRASSE`) and without
/// accents (combining marks after NFKD dropped: `jose` finds `José`,
/// `Francois` finds `François`), then NFC. For search only, never for a
/// key. Search terms and the stored search column are both made with
/// this, in Rust, so SQLite and Postgres find the same rows.
pub fn search_fold(text: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    let decomposed: String = text.nfkd().collect();
    caseless::default_case_fold_str(&decomposed)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .collect()
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
        // A control character is dropped, not refused.
        assert_eq!(
            Email::parse("ana\0@example.com\u{7}\r\n").unwrap().as_str(),
            "ana@example.com"
        );
        // Characters the addr-spec allows stay (links encode them).
        assert!(Email::parse("victim?cc=spy%40evil.test&body=x@example.com").is_ok());
        for bad in [
            "Ana <ana@example.com>",
            "\"ana lima\"@example.com",
            "ana@[127.0.0.1]",
            "ana@localhost",
            "ana@example.com?cc=spy@evil.test",
            "ana\n@example.com",
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
        // Invisible characters are normalised, never refused.
        assert_eq!(fields::name("Nul\0Person").unwrap(), "NulPerson");
        assert_eq!(fields::name("Bell\u{7}").unwrap(), "Bell");
        assert_eq!(
            fields::name("C1\u{85}x").unwrap(),
            "C1 x",
            "NEL is a line break"
        );
        assert_eq!(
            fields::name("\0 Esc\u{1b}aped\u{b}Name\u{2028} ").unwrap(),
            "Escaped Name"
        );
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
        assert_eq!(fields::interest("a\0b").unwrap().unwrap(), "ab");
        assert_eq!(
            fields::interest(
                "Word\u{b}pasted\u{c}form\u{85}feed\u{2028}ls\u{2029}ps\rcr\r\ncrlf\u{7}"
            )
            .unwrap()
            .unwrap(),
            "Word\npasted\nform\nfeed\nls\nps\ncr\ncrlf"
        );
        assert_eq!(
            fields::note("\u{b}\0").unwrap_err().message(),
            "A note needs some text."
        );
        assert!(fields::note("").is_err());
        assert!(fields::note(&"x".repeat(4001)).is_err());
        assert_eq!(
            fields::phone("+1\u{0}555 0100\n")
                .unwrap()
                .unwrap()
                .as_str(),
            "+1555 0100"
        );
        assert!(
            fields::phone(&format!("1234567{}", " ".repeat(40))).is_ok(),
            "trimmed"
        );
        assert!(fields::phone(&format!("123{}4567", "-".repeat(40))).is_err());
        assert_eq!(text("a\0b", 10).unwrap().as_deref(), Some("ab"));
        assert_eq!(
            fields::clean("a\r\nb", fields::Lines::Many),
            std::borrow::Cow::<str>::Owned("a\nb".into())
        );
        assert!(matches!(
            fields::clean("plain\ttext\n", fields::Lines::Many),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn characters_that_hide_or_reorder_text_are_removed() {
        let one = |raw: &str| fields::clean(raw, fields::Lines::One).into_owned();
        assert_eq!(one("Bob \u{202e}gnp.exe"), "Bob gnp.exe");
        assert_eq!(one("\u{2066}a\u{2069}\u{202a}b\u{202c}"), "ab");
        assert_eq!(one("\u{feff}Ana\u{200b}\u{2060} Lima"), "Ana Lima");
        // Joiners and direction marks carry meaning and reorder nothing.
        for kept in [
            "👩\u{200d}💻",
            "می\u{200c}خواهم",
            "abc\u{200f}",
            "\u{200e}שלום",
        ] {
            assert_eq!(one(kept), kept);
        }
        assert_eq!(
            fields::name("Eve \u{202e}gnp.exe").unwrap(),
            "Eve gnp.exe",
            "every field takes the one rule"
        );
        assert_eq!(
            Email::parse("ana\u{202e}@example.com").unwrap().as_str(),
            "ana@example.com"
        );
    }

    #[test]
    fn search_folds_case_in_every_script() {
        assert_eq!(search_fold("ÉLODIE"), search_fold("élodie"));
        assert_eq!(search_fold("E\u{301}lodie"), search_fold("Élodie"));
        assert_eq!(search_fold("ИВАН Петров"), "иван петров");
        assert_eq!(search_fold("Straße"), search_fold("STRASSE"));
        assert!(search_fold("Jörg Straße").contains(&search_fold("JÖRG")));
        // Accents do not count.
        assert_eq!(search_fold("José"), "jose");
        assert_eq!(search_fold("JOSE\u{301}"), "jose");
        assert_eq!(search_fold("François Ærø"), "francois ærø", "ø is a letter");
    }

    #[test]
    fn phone_keys() {
        let key = |typed: &str| Phone::parse(typed).unwrap().unwrap().key();
        for same in [
            "+34 612 34 56 78",
            "+34612345678",
            "0034 612-345-678",
            "+34 (612) 345.678",
        ] {
            assert_eq!(key(same), "+34612345678", "{same}");
        }
        assert_eq!(key("612 34 56 78"), "612345678", "national: digits alone");
        assert_eq!(key("030/1234567"), "0301234567");
        assert_eq!(key("+1 555-010-1234 ext. 12"), "+15550101234x12");
        assert_eq!(key("(555) 010-2000 X34"), "5550102000x34");
        assert_ne!(key("+1 555-010-1234 ext. 12"), key("+1 555-010-1234"));
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse(" ").unwrap(), None);
        assert!(Phone::parse("+1 (555) 010-9999").unwrap().is_some());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("12").is_err());
        // Extensions and slashes, kept as typed.
        for typed in [
            "+1 555-010-1234 ext. 12",
            "(555) 010-2000 x34",
            "030/1234567",
            "+44 20 7946 0958 EXT 123456",
            "555 010 2000 #7",
            "555.010.2000x1",
        ] {
            assert_eq!(
                Phone::parse(&format!(" {typed} "))
                    .unwrap()
                    .unwrap()
                    .as_str(),
                typed
            );
        }
        for bad in [
            "555 010 2000 ext. 1234567",
            "12345 x6",
            "x123456",
            "555 010 2000 ext.",
            "555 010 2000 ext 12 x3",
            "555 010 2000 ext. 12 more",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails_are_shown_with_unicode_domains() {
        let key = Email::parse("Ivan@пример.рф").unwrap();
        assert_eq!(key.as_str(), "ivan@xn--e1afmkfd.xn--p1ai");
        assert_eq!(display_email(key.as_str()), "ivan@пример.рф");
        // The shown form reads back to the same key.
        assert_eq!(Email::parse(&display_email(key.as_str())).unwrap(), key);
        assert!(matches!(
            display_email("ana@example.com"),
            std::borrow::Cow::Borrowed("ana@example.com")
        ));
        // A label mixing Cyrillic and Latin letters stays in punycode.
        let mixed = Email::parse("a@\u{430}pple.com").unwrap();
        assert!(mixed.as_str().contains("xn--"), "{mixed:?}");
        assert_eq!(display_email(mixed.as_str()), mixed.as_str());
        // Not decodable: as stored.
        assert_eq!(display_email("a@xn--zz.com"), "a@xn--zz.com");
        assert_eq!(display_email("not an address"), "not an address");
        // Typed text (an import row it refused) is shown as it is.
        assert_eq!(display_email("a@aüü.de"), "a@aüü.de");
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("demo-co-2").is_some());
        assert!(Slug::parse("Demo").is_none());
        assert!(Slug::parse("").is_none());
        assert!(Slug::parse("../x").is_none());
    }
}
