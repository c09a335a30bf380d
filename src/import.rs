//! CSV import of prospects: parse, then plan (new, merge, skip, invalid)
//! against what is stored, so the person sees exactly what will happen
//! before anything is written; then apply the same plan in one transaction.

use std::collections::HashMap;

use crate::{
    db::{self, Pool, Scope, Tx, prospects::parse_tags},
    domain::fields,
    on_tx,
};

/// Rows one import may hold.
pub const MAX_ROWS: usize = 5_000;
/// Bytes one file may have.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// A row as read from the file (1-based line numbers count the header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
}

/// A line of the file: its number, and the row or why it cannot be read.
pub type Parsed = (usize, Result<Row, String>);

/// What will happen to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new prospect.
    New,
    /// Merged into prospect `id`: blanks filled, nothing erased, tags added.
    Merge { id: i64, name: String },
    /// The same email as an earlier row of the file: merged into that row.
    SameAsLine(usize),
    /// In the organization but not yours to change (members): left alone.
    NotYours,
    /// Cannot be imported, and why.
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub row: Row,
    pub action: Action,
}

/// The whole plan with its counts.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rows: Vec<Planned>,
}

impl Plan {
    pub fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.action)).count()
    }
    pub fn new_count(&self) -> usize {
        self.count(|a| matches!(a, Action::New))
    }
    pub fn merge_count(&self) -> usize {
        self.count(|a| matches!(a, Action::Merge { .. } | Action::SameAsLine(_)))
    }
    pub fn skip_count(&self) -> usize {
        self.count(|a| matches!(a, Action::NotYours | Action::Invalid(_)))
    }
}

/// Reads a CSV with a header row. Recognised columns, in any order and
/// case: name, email, phone, company, tags (also "first name"/"last name",
/// "e-mail", "mobile", "organisation"); others are ignored. Returns the
/// rows, or why the file cannot be read at all.
pub fn parse(content: &str) -> Result<Vec<Parsed>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(content.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the first line is not a CSV header: {e}"))?
        .iter()
        .map(|h| h.to_lowercase().replace(['_', '-'], " "))
        .collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let email_col = find(&["email", "e mail", "email address"])
        .ok_or("no email column: the first line must name the columns, one of them email")?;
    let name_col = find(&["name", "full name"]);
    let first_col = find(&["first name", "firstname"]);
    let last_col = find(&["last name", "lastname", "surname"]);
    let phone_col = find(&["phone", "mobile", "phone number", "telephone"]);
    let company_col = find(&["company", "organisation", "organization"]);
    let tags_col = find(&["tags", "tag", "labels"]);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() >= MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows: split the file"));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push((line, Err(format!("unreadable line: {e}"))));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A cell Rally's export guarded against formulas comes back as it
        // was stored.
        let get = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .map(|v| crate::export::unguard(v.trim()))
                .unwrap_or("")
                .to_string()
        };
        let name = match name_col {
            Some(_) => get(name_col),
            None => format!("{} {}", get(first_col), get(last_col))
                .trim()
                .to_string(),
        };
        let parsed = (|| -> Result<Row, String> {
            // The same field rules as the form, quick add and edit.
            let email = fields::email(&get(Some(email_col)))?;
            let phone = fields::phone(&get(phone_col))?;
            let name = fields::optional_name(&name)?.unwrap_or_default();
            let company = fields::company(&get(company_col))?;
            Ok(Row {
                line,
                name,
                email: email.as_str().to_string(),
                phone: phone.map(|p| p.as_str().to_string()),
                company,
                tags: parse_tags(&get(tags_col)),
            })
        })();
        rows.push((line, parsed));
    }
    Ok(rows)
}

/// Plans `rows` against the organization's prospects, as `scope` sees them.
pub async fn plan(pool: &Pool, scope: Scope, rows: Vec<Parsed>) -> sqlx::Result<Plan> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut planned = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let row = match row {
            Ok(row) => row,
            Err(why) => {
                planned.push(Planned {
                    row: Row {
                        line,
                        ..Row::default()
                    },
                    action: Action::Invalid(why),
                });
                continue;
            }
        };
        let action = if let Some(first) = seen.get(&row.email) {
            Action::SameAsLine(*first)
        } else {
            seen.insert(row.email.clone(), row.line);
            match db::prospects::by_email(pool, scope.organization_id, &row.email).await? {
                None if row.name.is_empty() => {
                    Action::Invalid("a new prospect needs a name".into())
                }
                None => Action::New,
                Some((id, name, owner)) => match scope.owner {
                    Some(me) if owner != Some(me) => Action::NotYours,
                    _ => Action::Merge { id, name },
                },
            }
        };
        planned.push(Planned { row, action });
    }
    Ok(Plan { rows: planned })
}

/// Writes the plan. New prospects belong to `owner` (a member importing
/// their own list) or nobody; merges fill blanks and add tags.
pub async fn apply(
    tx: &mut Tx,
    organization_id: i64,
    owner: Option<i64>,
    plan: &Plan,
    source: &str,
) -> sqlx::Result<usize> {
    let now = db::now_ms();
    // Rows that repeat an email merge into the row they repeat.
    let mut ids: HashMap<usize, i64> = HashMap::new();
    let mut written = 0;
    for planned in &plan.rows {
        let row = &planned.row;
        let id = match &planned.action {
            Action::New => {
                let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
                    "INSERT INTO prospects (organization_id, email, name, phone, company, source, created_at, updated_at, owner_user_id, search_text)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) RETURNING id",
                )
                .bind(organization_id)
                .bind(&row.email)
                .bind(&row.name)
                .bind(row.phone.as_deref())
                .bind(row.company.as_deref())
                .bind(source)
                .bind(now)
                .bind(owner)
                .bind(db::prospects::search_text(&row.name, &row.email, row.company.as_deref()))
                .fetch_one(&mut **c)
                .await)?;
                id
            }
            Action::Merge { id, .. } => *id,
            Action::SameAsLine(first) => match ids.get(first) {
                Some(id) => *id,
                None => continue,
            },
            Action::NotYours | Action::Invalid(_) => continue,
        };
        ids.insert(row.line, id);
        if !matches!(planned.action, Action::New) {
            on_tx!(tx, c => sqlx::query(
                "UPDATE prospects SET
                     name = CASE WHEN name = '' THEN $3 ELSE name END,
                     phone = COALESCE(phone, $4),
                     company = COALESCE(company, $5),
                     updated_at = $6
                 WHERE organization_id = $1 AND id = $2",
            )
            .bind(organization_id)
            .bind(id)
            .bind(&row.name)
            .bind(row.phone.as_deref())
            .bind(row.company.as_deref())
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
            db::prospects::refresh_search(tx, id).await?;
        }
        db::prospects::add_tags(tx, id, &row.tags).await?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO timeline_entries (prospect_id, kind, data, created_at) VALUES ($1, 'imported', $2, $3)",
        )
        .bind(id)
        .bind(serde_json::json!({ "source": source, "line": row.line }).to_string())
        .bind(now)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_by_name_in_any_order() {
        let csv = "\u{feff}Company,E-mail,First Name,Last Name,Mobile,Tags,Notes\n\
                   Lima & Co,ANA@example.com,Ana,Lima,+1 555 010 1234,\"vip, Expo\",x\n\
                   ,bad-email,Bo,,,,\n\
                   \n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows.len(), 2);
        let ana = rows[0].1.clone().unwrap();
        assert_eq!(ana.name, "Ana Lima");
        assert_eq!(ana.email, "ana@example.com");
        assert_eq!(ana.company.as_deref(), Some("Lima & Co"));
        assert_eq!(ana.tags, vec!["expo".to_string(), "vip".to_string()]);
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.is_err());
    }

    #[test]
    fn a_file_without_an_email_column_is_refused() {
        assert!(
            parse("name,phone\nAna,1\n")
                .unwrap_err()
                .contains("no email column")
        );
    }
}
