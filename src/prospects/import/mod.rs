//! CSV import of prospects: parse, then plan (new, merge, skip, invalid)
//! against what is stored, so the person sees exactly what will happen
//! before anything is written; then apply that same plan in one
//! transaction and keep what was applied, which the result page shows.
//!
//! - **Reading**: a UTF-8 (or UTF-16 with its byte-order mark) file; a
//!   leading UTF-8 byte-order mark is dropped; the separator (`,` `;` or
//!   tab, or Excel's `sep=` first line) is sniffed from the header; headers
//!   are matched through [`HEADERS`], a table of synonyms compared without
//!   case, spaces or punctuation (Outlook's and Google's exports included).
//! - **Field rules**: every row goes through the public form's rules
//!   ([`fields`]), so a prospect the form accepted can be
//!   re-imported, and import adds no limits of its own.
//! - **One plan**: rows of one file with the same email are combined here,
//!   once (first value of each field wins, later rows fill blanks, tags are
//!   added up), and [`apply`] writes exactly the [`Plan::writes`] that the
//!   preview was made from.

pub mod routes;
pub mod views;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    on_pool, on_tx,
    platform::{
        db::{self, Pool, Scope, Tx},
        text::fields,
    },
    prospects::{
        Stage,
        queries::parse_tags,
        upsert::{self, NewEntry, OnConflict, Outcome, Person},
    },
};

/// Rows one import may hold.
pub const MAX_ROWS: usize = 5_000;
/// Bytes one file may have.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// A row as read from the file. `line` is the physical line of the file on
/// which the row starts (1-based; the header is line 1), so a row holding a
/// quoted line break is still found where a text editor shows it.
///
/// For a valid row the values are the parsed ones (email normalised); for
/// an invalid one they are as typed, so the preview can show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub line: usize,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    /// The stage the row names (a `stage` column), if any. A new prospect
    /// starts there; a stored one still at `new` moves there (a stage past
    /// `new` is kept: new answers fill blanks, never erase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The owner the row names (an `owner` column), by email key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// That owner's user id, once planning found them among the
    /// organization's members. A new prospect is theirs; a stored one
    /// without an owner becomes theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    /// What was left out of a row that is kept (a phone that is not one),
    /// one sentence each, shown in the preview and on the result page.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One record of the file: the row, and why it cannot be imported (if so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub row: Row,
    pub problem: Option<String>,
}

/// What will happen (or, in a stored outcome, what happened) to a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A new prospect.
    New,
    /// Merged into prospect `id`: blanks filled, nothing erased, tags added.
    Merge { id: i64, name: String },
    /// The same email as the row on line `line`: combined with it.
    SameAsLine { line: usize },
    /// In the organization but not yours to change (members): left alone.
    NotYours,
    /// Cannot be imported, and why.
    Invalid { why: String },
}

/// A row and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub row: Row,
    #[serde(flatten)]
    pub action: Action,
}

/// Where one write goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    New,
    Existing(i64),
}

/// One prospect written by the import: the file's rows for one email,
/// combined.
#[derive(Debug, Clone)]
pub struct Write {
    pub target: Target,
    /// The combined values (line: the row that leads the group).
    pub values: Row,
    /// Indexes into [`Plan::rows`] of the rows combined here, lead first.
    pub rows: Vec<usize>,
}

/// The whole plan: one entry per row of the file, in file order, and the
/// writes they make. A stored outcome has the rows only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    pub rows: Vec<Planned>,
    #[serde(skip)]
    pub writes: Vec<Write>,
}

impl Plan {
    pub fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.action)).count()
    }
    pub fn new_count(&self) -> usize {
        self.count(|a| matches!(a, Action::New))
    }
    pub fn merge_count(&self) -> usize {
        self.count(|a| matches!(a, Action::Merge { .. } | Action::SameAsLine { .. }))
    }
    pub fn skip_count(&self) -> usize {
        self.count(|a| matches!(a, Action::NotYours | Action::Invalid { .. }))
    }
    /// Rows kept with something left out.
    pub fn warning_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| !r.row.warnings.is_empty())
            .count()
    }

    /// A fingerprint of what the plan does (64 hex digits): the preview
    /// carries it, and the confirmation writes only if planning again gives
    /// the same one.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(&self.rows).unwrap_or_default();
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A file's bytes as text: UTF-8 (a byte-order mark is dropped later), or
/// UTF-16 when it starts with its byte-order mark (Excel's "Unicode text"),
/// else Windows-1252 (Excel's plain "CSV" on Windows).
/// Errors: a sentence for the person.
pub fn decode(bytes: Vec<u8>) -> Result<String, &'static str> {
    let utf16 = |le: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|p| {
                let pair = [p[0], *p.get(1).unwrap_or(&0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    let text = match bytes.get(..2) {
        Some([0xff, 0xfe]) => utf16(true),
        Some([0xfe, 0xff]) => utf16(false),
        // Not UTF-8: Excel's plain "CSV" on Windows writes the system's
        // code page, Windows-1252 in Western Europe and the Americas
        // (`encoding_rs`, the WHATWG decoder). Every byte decodes, so a
        // file in another code page shows its names garbled in the preview
        // (before anything is stored), not refused.
        _ => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(err) => {
                let (text, _, _) = encoding_rs::WINDOWS_1252.decode(err.as_bytes());
                Some(text.into_owned())
            }
        },
    };
    let text =
        text.ok_or("That file is not text in UTF-8: save it as “CSV UTF-8” and try again.")?;
    // No CSV holds NUL (and Postgres cannot store it): a binary file. Other
    // control characters are left to the field rules, which clean them.
    if text.contains('\0') {
        return Err(
            "That file is not a CSV file (it holds NUL characters): save it as “CSV UTF-8” and try again.",
        );
    }
    Ok(text)
}

/// The fields a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Email,
    Name,
    FirstName,
    MiddleName,
    LastName,
    Phone,
    Company,
    Tags,
    Stage,
    /// The owner, by the email of a member.
    Owner,
}

/// Header synonyms, compared by [`header_key`] (lower case, letters and
/// digits only: `E-mail Address` is `emailaddress`). When several columns
/// fill one field, a row takes the first non-empty one in this order.
pub const HEADERS: &[(Field, &[&str])] = &[
    (
        Field::Email,
        &[
            "email",
            "emailaddress",
            "email1value",
            "primaryemail",
            "mail",
            "emailadresse",
            "courriel",
            "workemail",
            "businessemail",
            "personalemail",
            "homeemail",
            "otheremail",
            "secondaryemail",
            "email2address",
            "email2value",
            "email3address",
            "email3value",
        ],
    ),
    (
        Field::Name,
        &["name", "fullname", "displayname", "contactname"],
    ),
    (
        Field::FirstName,
        &[
            "firstname",
            "givenname",
            "first",
            "forename",
            "vorname",
            "prénom",
        ],
    ),
    (Field::MiddleName, &["middlename", "additionalname"]),
    (
        Field::LastName,
        &["lastname", "familyname", "surname", "last", "nachname"],
    ),
    (
        Field::Phone,
        &[
            "phone",
            "phonenumber",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "cellphone",
            "cell",
            "telephone",
            "tel",
            "phone1value",
            "primaryphone",
            "businessphone",
            "workphone",
            "homephone",
            "otherphone",
            "phone2value",
            "phone3value",
            "mobiltelefon",
            "handy",
            "telefon",
            "téléphone",
        ],
    ),
    (
        Field::Company,
        &[
            "company",
            "companyname",
            "organisation",
            "organization",
            "organisationname",
            "organizationname",
            "organization1name",
            "accountname",
            "employer",
            "firma",
            "unternehmen",
            "entreprise",
            "société",
        ],
    ),
    (
        Field::Tags,
        &["tags", "tag", "labels", "categories", "groupmembership"],
    ),
    (
        Field::Stage,
        &["stage", "pipelinestage", "leadstatus", "status"],
    ),
    (
        Field::Owner,
        // Rally's export has the owner's name in `owner` and the email
        // in `owner_email`: the email comes first.
        &["owneremail", "owner", "assignedto", "salesrep"],
    ),
];

impl Field {
    /// The field's name as the pages say it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
            Self::FirstName => "first name",
            Self::MiddleName => "middle name",
            Self::LastName => "last name",
            Self::Phone => "phone",
            Self::Company => "company",
            Self::Tags => "tags",
            Self::Stage => "stage",
            Self::Owner => "owner (a member's email)",
        }
    }
}

/// How a file's columns are read, for the preview: the separator, each
/// column used (header as written, the field it fills; several columns of
/// one field in the order a row's first non-empty one is taken) and the
/// headers ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub separator: char,
    pub used: Vec<(String, Field)>,
    pub ignored: Vec<String>,
}

/// The [`Layout`] [`parse`] reads `content` with; `None` if it has no
/// header.
pub fn layout(content: &str) -> Option<Layout> {
    let (sep, content, _) = sniff(content.trim_start_matches('\u{feff}'));
    let headers = header_row(content, sep);
    if headers.is_empty() {
        return None;
    }
    let columns = Columns::of(&headers);
    let mut used = Vec::new();
    for (field, _) in HEADERS {
        for c in columns.0.get(field).into_iter().flatten() {
            used.push((headers[*c].clone(), *field));
        }
    }
    let ignored = (0..headers.len())
        .filter(|c| !columns.0.values().flatten().any(|u| u == c))
        .map(|c| headers[c].clone())
        .filter(|h| !h.is_empty())
        .collect();
    Some(Layout {
        separator: char::from(sep),
        used,
        ignored,
    })
}

/// `"E-mail 1 - Value"` → `"email1value"`.
pub fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The columns (0-based) of each field, in [`HEADERS`] order.
#[derive(Debug, Default)]
struct Columns(HashMap<Field, Vec<usize>>);

impl Columns {
    fn of(headers: &[String]) -> Self {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let mut map: HashMap<Field, Vec<usize>> = HashMap::new();
        let mut taken = vec![false; keys.len()];
        for (field, synonyms) in HEADERS {
            for synonym in *synonyms {
                for (i, key) in keys.iter().enumerate() {
                    if key == synonym && !taken[i] {
                        taken[i] = true;
                        map.entry(*field).or_default().push(i);
                    }
                }
            }
        }
        Self(map)
    }

    fn has(&self, field: Field) -> bool {
        self.0.contains_key(&field)
    }

    /// The first non-empty value of `field` in `record`.
    fn get<'r>(&self, field: Field, record: &'r csv::StringRecord) -> &'r str {
        self.0
            .get(&field)
            .into_iter()
            .flatten()
            .filter_map(|c| record.get(*c))
            // A cell Rally's export guarded against formulas comes back as
            // it was stored.
            .map(|v| crate::prospects::export::unguard(v.trim()))
            .find(|v| !v.is_empty())
            .unwrap_or("")
    }
}

/// The separator and the header of `content`: Excel's `sep=X` first line
/// if there is one (then the header is the next line), otherwise the one of
/// `,` `;` tab under which an email column is found, or failing that the
/// one that splits the header into the most columns (`,` on a tie).
/// Returns (separator, the text from the header on, lines skipped).
fn sniff(content: &str) -> (u8, &str, usize) {
    // Not trimmed: `sep=` may be followed by a tab.
    let first = content.lines().next().unwrap_or("").trim_matches('"');
    if let Some(sep) = first.strip_prefix("sep=").or(first.strip_prefix("SEP="))
        && let [sep] = sep.as_bytes()
        && sep.is_ascii()
    {
        let rest = content.split_once('\n').map_or("", |(_, rest)| rest);
        return (*sep, rest, 1);
    }
    let mut best = (b',', (false, 0));
    for sep in [b',', b';', b'\t'] {
        let headers = header_row(content, sep);
        let score = (Columns::of(&headers).has(Field::Email), headers.len());
        if score > best.1 {
            best = (sep, score);
        }
    }
    (best.0, content, 0)
}

fn reader(content: &str, sep: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(sep)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(content.as_bytes())
}

fn header_row(content: &str, sep: u8) -> Vec<String> {
    reader(content, sep)
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// At most `max` characters of a typed value, for messages.
fn shown(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        value.to_string()
    } else {
        let mut cut: String = value.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// Google's exports put several values in one cell: `a@x.com ::: b@y.com`.
fn first_of_many(value: &str) -> &str {
    value.split(":::").next().unwrap_or("").trim()
}

/// Reads a CSV whose first line names the columns (see [`HEADERS`]; other
/// columns are ignored; `first name` + `middle name` + `last name` make the
/// name when there is no name). Returns the rows, or why the file cannot be
/// read at all (no email column: the message names the headers seen).
pub fn parse(content: &str) -> Result<Vec<Parsed>, String> {
    let content = content.trim_start_matches('\u{feff}');
    let (sep, content, skipped) = sniff(content);
    let mut reader = reader(content, sep);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the first line is not a CSV header: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let columns = Columns::of(&headers);
    if !columns.has(Field::Email) {
        let seen: Vec<String> = headers
            .iter()
            .filter(|h| !h.is_empty())
            .take(20)
            .map(|h| format!("“{}”", shown(h, 40)))
            .collect();
        return Err(if seen.is_empty() {
            "no email column: the first line must name the columns, one of them email".into()
        } else {
            format!(
                "no email column: the first line must name the columns, one of them email \
                 (or “E-mail Address”); the columns seen are {}",
                seen.join(", ")
            )
        });
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(content, skipped);
    loop {
        let start_before = reader.position().byte();
        let read = reader.read_record(&mut record);
        let start = record
            .position()
            .filter(|_| read.is_ok())
            .map_or(start_before, |p| p.byte());
        let line = lines.line_at(start as usize);
        match read {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                rows.push(Parsed {
                    row: Row {
                        line,
                        ..Row::default()
                    },
                    problem: Some(format!("unreadable line: {e}")),
                });
                continue;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows: split the file"));
        }
        rows.push(read_row(line, &columns, &record));
    }
    Ok(rows)
}

/// Physical line numbers of record starts. The `csv` crate's own
/// `Position::line` is off when a record follows a line break it has not
/// consumed yet (its byte offset can point at the previous record's line
/// end), so records are located by byte: line ends and blank lines before
/// the first character of the record are skipped, then line breaks counted.
struct LineCounter<'a> {
    content: &'a str,
    /// Byte offset up to which `newlines` are counted.
    at: usize,
    newlines: usize,
    /// Lines of the file before `content` (Excel's `sep=` line).
    skipped: usize,
}

impl<'a> LineCounter<'a> {
    fn new(content: &'a str, skipped: usize) -> Self {
        Self {
            content,
            at: 0,
            newlines: 0,
            skipped,
        }
    }

    /// The 1-based line of the file on which the record found at byte
    /// `offset` (or after the line ends there) starts. Offsets only grow.
    fn line_at(&mut self, offset: usize) -> usize {
        let bytes = self.content.as_bytes();
        let mut start = offset.max(self.at).min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        self.newlines += bytes[self.at..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.at = start;
        self.newlines + 1 + self.skipped
    }
}

/// One record through the form's field rules. A phone that the rules
/// refuse is dropped with a warning ("phone not imported: …"; the row is
/// still new or merged, the person kept); any other field
/// they refuse makes the row invalid, named with its typed value.
fn read_row(line: usize, columns: &Columns, record: &csv::StringRecord) -> Parsed {
    let mut name = columns.get(Field::Name, record).to_string();
    if name.is_empty() {
        name = [Field::FirstName, Field::MiddleName, Field::LastName]
            .into_iter()
            .map(|f| columns.get(f, record))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    let typed = Typed {
        name,
        email: first_of_many(columns.get(Field::Email, record)).to_string(),
        phone: first_of_many(columns.get(Field::Phone, record)).to_string(),
        company: columns.get(Field::Company, record).to_string(),
    };
    let tags: Vec<String> = parse_tags(&columns.get(Field::Tags, record).replace(":::", ","))
        .into_iter()
        // Google's system groups ("* myContacts") are not tags.
        .filter(|t| !t.starts_with('*'))
        .collect();
    let typed_stage = columns.get(Field::Stage, record);
    let typed_owner = columns.get(Field::Owner, record);
    let describe = |field: &str, value: &str, message: &str| {
        if value.is_empty() {
            format!("{field}: {message}")
        } else {
            format!("{field} “{}”: {message}", shown(value, 60))
        }
    };
    // The form's rules, field by field. A row without a name may still fill
    // blanks of a stored prospect: the plan refuses a new one without.
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let name = fields::optional_name(&typed.name)
        .map_err(|e| problems.push(describe("name", &typed.name, e.message())))
        .ok()
        .flatten();
    let email = fields::email(&typed.email)
        .map_err(|e| problems.push(describe("email", &typed.email, e.message())))
        .ok();
    let company = fields::company(&typed.company)
        .map_err(|e| problems.push(describe("company", &typed.company, e.message())))
        .ok()
        .flatten();
    // A phone those rules refuse is dropped with a warning in plain words
    // (not the form's request to type it again): the person stays.
    let phone = fields::phone(&typed.phone)
        .map_err(|_| {
            warnings.push(format!(
                "phone not imported: “{}” is not a phone number Rally can read \
                 (digits, spaces, + - ( ) . / and an extension such as “ext. 12”); \
                 the rest of the row is imported",
                shown(&typed.phone, 60)
            ))
        })
        .ok()
        .flatten();
    let stage = parse_stage(typed_stage)
        .map_err(|e| problems.push(describe("stage", typed_stage, e)))
        .ok()
        .flatten();
    let owner = match typed_owner {
        "" => None,
        typed => fields::email(typed)
            .map_err(|_| {
                problems.push(describe(
                    "owner",
                    typed,
                    "not an email address: name an owner by the email they sign in with",
                ))
            })
            .ok()
            .map(|e| e.as_str().to_string()),
    };
    match email {
        Some(email) if problems.is_empty() => Parsed {
            row: Row {
                line,
                name: name.unwrap_or_default(),
                email: email.as_str().to_string(),
                phone: phone.map(|p| p.as_str().to_string()),
                company,
                tags,
                stage,
                owner,
                owner_id: None,
                warnings,
            },
            problem: None,
        },
        _ => Parsed {
            row: Row {
                line,
                name: typed.name.clone(),
                email: typed.email.clone(),
                phone: (!typed.phone.is_empty()).then(|| typed.phone.clone()),
                company: (!typed.company.is_empty()).then(|| typed.company.clone()),
                tags,
                stage,
                owner: (!typed_owner.is_empty()).then(|| typed_owner.to_string()),
                owner_id: None,
                warnings: Vec::new(),
            },
            problem: Some(problems.join("; ")),
        },
    }
}

/// A stage cell: empty is none; otherwise a stage's stored text or its
/// label, in any case (`Hot`, `customer`). Errors: the sentence for the
/// preview.
fn parse_stage(value: &str) -> Result<Option<Stage>, &'static str> {
    if value.is_empty() {
        return Ok(None);
    }
    let lower = value.to_lowercase();
    Stage::ALL
        .into_iter()
        .find(|s| s.as_str() == lower || s.label().to_lowercase() == lower)
        .map(Some)
        .ok_or("not a stage: use new, contacted, engaged, hot, customer or lost")
}

/// A row's fields as typed (trimmed).
struct Typed {
    name: String,
    email: String,
    phone: String,
    company: String,
}

/// Plans `rows` against the organization's prospects, as `scope` sees
/// them. Rows with the same email are combined into one [`Write`]: the
/// first row leads (or, for a new prospect, the first row with a name, which
/// creates it), the others say "same email as line N".
pub async fn plan(pool: &Pool, scope: Scope, rows: Vec<Parsed>) -> sqlx::Result<Plan> {
    // Owners are named by a member's email; only when a row names one.
    let members: HashMap<String, i64> = if rows.iter().any(|r| r.row.owner.is_some()) {
        crate::organizations::queries::members(pool, scope.organization_id)
            .await?
            .into_iter()
            .map(|m| (m.email, m.user_id))
            .collect()
    } else {
        HashMap::new()
    };
    // Groups of valid rows by email, in order of first appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    let mut planned: Vec<Planned> = Vec::with_capacity(rows.len());
    for (i, mut parsed) in rows.into_iter().enumerate() {
        if parsed.problem.is_none()
            && let Some(owner) = &parsed.row.owner
        {
            match (members.get(owner), scope.owner) {
                (None, _) => {
                    parsed.problem = Some(format!(
                        "owner “{}”: no member of this organization signs in with this email",
                        shown(owner, 60)
                    ))
                }
                (Some(id), Some(me)) if *id != me => {
                    parsed.problem = Some(format!(
                        "owner “{}”: you may import prospects for yourself only \
                         (leave the owner empty, or put your own email)",
                        shown(owner, 60)
                    ))
                }
                (Some(id), _) => parsed.row.owner_id = Some(*id),
            }
        }
        let action = match parsed.problem {
            Some(why) => Action::Invalid { why },
            None => {
                let next = groups.len();
                let g = *group_of.entry(parsed.row.email.clone()).or_insert(next);
                if g == next {
                    groups.push(Vec::new());
                }
                groups[g].push(i);
                // Decided below, once the group is known.
                Action::NotYours
            }
        };
        planned.push(Planned {
            row: parsed.row,
            action,
        });
    }
    let mut writes = Vec::new();
    for members in groups {
        let values = combine(members.iter().map(|i| &planned[*i].row));
        let existing =
            crate::prospects::queries::by_email(pool, scope.organization_id, &values.email).await?;
        let (lead, target, lead_action) = match existing {
            Some((_, _, owner)) if scope.owner.is_some() && owner != scope.owner => {
                for i in &members {
                    planned[*i].action = Action::NotYours;
                }
                continue;
            }
            Some((id, name, _)) => (members[0], Target::Existing(id), Action::Merge { id, name }),
            None if values.name.is_empty() => {
                for i in &members {
                    planned[*i].action = Action::Invalid {
                        why: "a new prospect needs a name".into(),
                    };
                }
                continue;
            }
            None => {
                let lead = *members
                    .iter()
                    .find(|i| !planned[**i].row.name.is_empty())
                    .unwrap_or(&members[0]);
                (lead, Target::New, Action::New)
            }
        };
        let lead_line = planned[lead].row.line;
        for i in &members {
            planned[*i].action = if *i == lead {
                lead_action.clone()
            } else {
                Action::SameAsLine { line: lead_line }
            };
        }
        let mut order = vec![lead];
        order.extend(members.iter().copied().filter(|i| *i != lead));
        writes.push(Write {
            target,
            values: Row {
                line: lead_line,
                ..values
            },
            rows: order,
        });
    }
    Ok(Plan {
        rows: planned,
        writes,
    })
}

/// The rows of one email as one: for each field the first non-empty value
/// in file order, tags added up.
fn combine<'a>(rows: impl Iterator<Item = &'a Row>) -> Row {
    let mut out = Row::default();
    for row in rows {
        if out.email.is_empty() {
            out.email = row.email.clone();
        }
        if out.name.is_empty() {
            out.name = row.name.clone();
        }
        if out.phone.is_none() {
            out.phone = row.phone.clone();
        }
        if out.company.is_none() {
            out.company = row.company.clone();
        }
        if out.stage.is_none() {
            out.stage = row.stage;
        }
        if out.owner_id.is_none() {
            out.owner = row.owner.clone();
            out.owner_id = row.owner_id;
        }
        for tag in &row.tags {
            if !out.tags.contains(tag) {
                out.tags.push(tag.clone());
            }
        }
    }
    out
}

/// Writes the plan and returns what was applied (the plan's rows, with
/// the action each row really had). New prospects belong to `owner` (a
/// member importing their own list) or nobody; merges fill blanks and add
/// tags ([`upsert::upsert`], a few statements per 3,000 prospects). A
/// prospect created with one of the plan's emails after planning (a form
/// submission in between) is merged into, or left alone if it is not
/// `owner`'s; the outcome says so.
pub async fn apply(
    tx: &mut Tx,
    organization_id: i64,
    owner: Option<i64>,
    plan: &Plan,
    source: &str,
) -> sqlx::Result<Plan> {
    let now = db::now_ms();
    let mut outcome = Plan {
        rows: plan.rows.clone(),
        writes: Vec::new(),
    };
    let people: Vec<Person> = plan
        .writes
        .iter()
        .map(|write| Person {
            organization_id,
            email: &write.values.email,
            phone_key: "",
            name: &write.values.name,
            phone: write.values.phone.as_deref(),
            company: write.values.company.as_deref(),
            source,
            owner: write.values.owner_id.or(owner),
            at: now,
            tags: &write.values.tags,
        })
        .collect();
    // A member merges only into their own prospects (planning checked it;
    // the upsert checks it again, at the moment of writing).
    let on_conflict = match owner {
        Some(_) => OnConflict::FillBlanksIfSameOwner,
        None => OnConflict::FillBlanks,
    };
    let written = upsert::upsert(tx, &people, on_conflict).await?;
    let entries: Vec<NewEntry> = plan
        .writes
        .iter()
        .zip(&written)
        .filter(|(_, done)| done.outcome != Outcome::Kept)
        .flat_map(|(write, done)| {
            write.rows.iter().map(move |i| NewEntry {
                prospect_id: done.id,
                event: crate::prospects::TimelineEvent::Imported {
                    source: source.to_string(),
                    line: plan.rows[*i].row.line as u64,
                },
                submission_key: None,
                form_id: None,
                created_at: now,
            })
        })
        .collect();
    for (write, done) in plan.writes.iter().zip(&written) {
        let lead_line = write.values.line;
        // The lead's action when it is not what was planned.
        let lead = match (write.target, done.outcome) {
            (_, Outcome::Kept) => {
                for i in &write.rows {
                    outcome.rows[*i].action = Action::NotYours;
                }
                continue;
            }
            (Target::New, Outcome::Merged) => Action::Merge {
                id: done.id,
                name: done.name.clone(),
            },
            (Target::Existing(_), Outcome::Inserted) => Action::New,
            _ => continue,
        };
        for i in &write.rows {
            outcome.rows[*i].action = if *i == write.rows[0] {
                lead.clone()
            } else {
                Action::SameAsLine { line: lead_line }
            };
        }
    }
    upsert::insert_entries(tx, &entries).await?;
    // The stage and owner the file names, as blanks filled: a stage only
    // over `new`, an owner only where there is none (a new prospect got
    // its owner above).
    for (write, done) in plan.writes.iter().zip(&written) {
        let (stage, owner) = (write.values.stage, write.values.owner_id);
        if done.outcome == Outcome::Kept || (stage.is_none() && owner.is_none()) {
            continue;
        }
        on_tx!(tx, c => sqlx::query(
            "UPDATE prospects SET
                 stage = CASE WHEN stage = 'new' THEN COALESCE($2, stage) ELSE stage END,
                 owner_user_id = COALESCE(owner_user_id, $3)
             WHERE id = $1",
        )
        .bind(done.id)
        .bind(stage.map(Stage::as_str))
        .bind(owner)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    }
    Ok(outcome)
}

/// Keeps what import `id` applied (JSON of [`Plan::rows`]), on the
/// transaction that applied it.
pub async fn record_outcome(tx: &mut Tx, id: i64, outcome: &Plan) -> sqlx::Result<()> {
    let json = serde_json::to_string(outcome).unwrap_or_default();
    on_tx!(tx, c => sqlx::query("UPDATE prospect_imports SET outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(&json)
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// What import `id` applied, if it was applied and its outcome kept
/// (imports applied before outcomes were kept have none).
pub async fn outcome(pool: &Pool, id: i64) -> sqlx::Result<Option<Plan>> {
    let json: Option<String> = on_pool!(pool, p => sqlx::query_scalar(
        "SELECT outcome FROM prospect_imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(p)
    .await)?
    .flatten();
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(rows: &[Parsed]) -> Vec<&Row> {
        rows.iter()
            .map(|p| {
                assert_eq!(p.problem, None, "{p:?}");
                &p.row
            })
            .collect()
    }

    #[test]
    fn headers_are_found_by_name_in_any_order() {
        let csv = "\u{feff}Company,E-mail,First Name,Last Name,Mobile,Tags,Notes\n\
                   Lima & Co,ANA@example.com,Ana,Lima,+1 555 010 1234,\"vip, Expo\",x\n\
                   ,bad-email,Bo,,,,\n\
                   \n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows.len(), 2);
        let ana = rows[0].row.clone();
        assert_eq!(rows[0].problem, None);
        assert_eq!(ana.name, "Ana Lima");
        assert_eq!(ana.email, "ana@example.com");
        assert_eq!(ana.company.as_deref(), Some("Lima & Co"));
        assert_eq!(ana.tags, vec!["expo".to_string(), "vip".to_string()]);
        assert_eq!(rows[1].row.line, 3);
        assert!(rows[1].problem.is_some());
    }

    #[test]
    fn a_windows_1252_file_from_excel_reads_its_accents() {
        // "Name;Email\nJosé Müller;jose@example.com" as Excel's plain CSV
        // on a Western-European Windows writes it.
        let bytes = b"Name;Email\nJos\xe9 M\xfcller;jose@example.com\n".to_vec();
        let text = decode(bytes).unwrap();
        assert_eq!(text, "Name;Email\nJosé Müller;jose@example.com\n");
        let rows = parse(&text).unwrap();
        assert_eq!(rows[0].row.name, "José Müller");
        // UTF-8 stays UTF-8.
        assert_eq!(decode("José".as_bytes().to_vec()).unwrap(), "José");
    }

    #[test]
    fn a_file_without_an_email_column_is_refused_naming_its_headers() {
        let why = parse("name,phone\nAna,1\n").unwrap_err();
        assert!(why.contains("no email column"), "{why}");
        assert!(why.contains("“name”") && why.contains("“phone”"), "{why}");
    }

    #[test]
    fn separators_are_sniffed() {
        for csv in [
            "Name;Email;Phone\nAna Lima;ana@example.com;+1 555 010 1234\n",
            "Name\tEmail\tPhone\nAna Lima\tana@example.com\t+1 555 010 1234\n",
            "sep=;\nName;Email;Phone\nAna Lima;ana@example.com;+1 555 010 1234\n",
            "Name,Email,Phone\n\"Lima; Ana\",ana@example.com,+1 555 010 1234\n",
        ] {
            let rows = parse(csv).unwrap();
            let rows = valid(&rows);
            assert_eq!(rows.len(), 1, "{csv}");
            assert_eq!(rows[0].email, "ana@example.com", "{csv}");
            assert_eq!(rows[0].phone.as_deref(), Some("+1 555 010 1234"), "{csv}");
            assert!(rows[0].name.contains("Ana"), "{csv}");
        }
        let rows = parse("sep=\t\nName\tE-mail\nAna\tana@example.com\n").unwrap();
        assert_eq!(valid(&rows)[0].email, "ana@example.com");
        // Excel's sep= line counts as a line of the file.
        let rows = parse("sep=;\nName;Email\nAna;ana@example.com\n").unwrap();
        assert_eq!(rows[0].row.line, 3);
    }

    #[test]
    fn rows_are_numbered_by_their_line_in_the_file() {
        let lines =
            |csv: &str| -> Vec<usize> { parse(csv).unwrap().iter().map(|p| p.row.line).collect() };
        assert_eq!(
            lines("name,email,company\r\nA,a@example.com,\"Acme\r\nLogistics\"\r\nB,nope,Z\r\n"),
            [2, 4]
        );
        assert_eq!(lines("email\na@example.com\n\n\nb@example.com\n"), [2, 5]);
        assert_eq!(lines("email\n\na@example.com"), [3]);
        assert_eq!(lines("email\n\"a@example.com\n\"\nb@example.com\n"), [2, 4]);
    }

    #[test]
    fn header_synonyms_of_common_exports() {
        let google = "Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Organization 1 - Name,Group Membership\n\
                      ,Gil,Google,* Home,gil@example.com ::: gil@work.example,Mobile,+1 555 010 2222,Goo Inc,* myContacts ::: Expo\n";
        let rows = parse(google).unwrap();
        let gil = valid(&rows)[0];
        assert_eq!(gil.name, "Gil Google");
        assert_eq!(gil.email, "gil@example.com");
        assert_eq!(gil.phone.as_deref(), Some("+1 555 010 2222"));
        assert_eq!(gil.company.as_deref(), Some("Goo Inc"));
        assert_eq!(gil.tags, vec!["expo".to_string()]);

        let outlook = "First Name,Middle Name,Last Name,E-mail Address,E-mail 2 Address,Home Phone,Mobile Phone,Company\n\
                       Ola,J.,Nordmann,,ola@example.com,,+47 912 34 567,Fjord AS\n";
        let rows = parse(outlook).unwrap();
        let ola = valid(&rows)[0];
        assert_eq!(ola.name, "Ola J. Nordmann");
        assert_eq!(ola.email, "ola@example.com", "the first non-empty email");
        assert_eq!(ola.phone.as_deref(), Some("+47 912 34 567"));

        assert_eq!(header_key(" E-Mail-Adresse "), "emailadresse");
        let layout = layout(outlook).unwrap();
        assert_eq!(layout.separator, ',');
        assert_eq!(
            layout.used[..2],
            [
                ("E-mail Address".to_string(), Field::Email),
                ("E-mail 2 Address".to_string(), Field::Email)
            ]
        );
        assert!(
            layout
                .used
                .contains(&("Mobile Phone".to_string(), Field::Phone))
        );
        assert!(layout.ignored.is_empty(), "{layout:?}");
        let layout = super::layout("Notes;Email;Birthday\n").unwrap();
        assert_eq!(layout.separator, ';');
        assert_eq!(layout.ignored, ["Notes", "Birthday"]);
    }

    #[test]
    fn utf16_files_are_read() {
        let text = "Name\tEmail\nÅsa\tasa@example.com\n";
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let decoded = decode(bytes).unwrap();
        assert_eq!(decoded, text);
        // Not UTF-8: read as Windows-1252, every byte a character.
        assert_eq!(decode(vec![b'a', 0xff, b'b']).unwrap(), "a\u{ff}b");
        assert!(decode(b"email\nana@example.com\0\n".to_vec()).is_err());
    }

    #[test]
    fn a_bad_phone_is_dropped_with_a_warning_and_the_person_kept() {
        let rows = parse("name,email,phone\nAna,ana@example.com,call me maybe\n").unwrap();
        let ana = valid(&rows)[0];
        assert_eq!(ana.phone, None);
        assert!(
            ana.warnings[0].starts_with("phone not imported: “call me maybe”"),
            "{ana:?}"
        );
    }

    #[test]
    fn phones_with_extensions_and_slashes_are_kept_as_typed() {
        let rows = parse(
            "name,email,phone\n\
             Ext Person,ext.person@example.com,+1 555-010-1234 ext. 12\n\
             X Person,x.person@example.com,(555) 010-2000 x34\n\
             Slash Person,slash.person@example.com,030/1234567\n",
        )
        .unwrap();
        let phones: Vec<_> = valid(&rows)
            .iter()
            .map(|r| {
                assert!(r.warnings.is_empty(), "{r:?}");
                r.phone.clone().unwrap()
            })
            .collect();
        assert_eq!(
            phones,
            [
                "+1 555-010-1234 ext. 12",
                "(555) 010-2000 x34",
                "030/1234567"
            ]
        );
    }
}
