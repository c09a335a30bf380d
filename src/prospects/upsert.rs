//! The one way prospects are written from outside: form submissions (one
//! or a claimed batch), CSV imports and quick add all come through
//! [`upsert`], and the timeline entries they make through
//! [`insert_entries`].
//!
//! The rule when a person is already stored is [`fill_blanks`]: new
//! answers fill blanks, never erase. It exists twice in one place: as a
//! pure function (used to combine several rows of one person before they
//! reach the database, and unit-tested) and as its SQL twin
//! ([`FILL_BLANKS`], the `ON CONFLICT … DO UPDATE` of the upsert, which
//! applies it to what is stored at that moment). Tests check that the two
//! agree.
//!
//! A person is keyed by their email key, or, with none (`email` is `""`:
//! a submission to a phone-keyed form without an email), by their phone
//! key (`platform::text::Phone::key`). A prospect has one of the two, never
//! both, and the unique index `prospects_live_key (organization_id, email,
//! phone_key) WHERE deleted_at IS NULL` covers both kinds: an email-keyed
//! row is unique by (organization, email, `""`), a phone-keyed one by
//! (organization, `""`, phone key). So one statement takes both kinds, and
//! the email-keyed path costs one more bound `""` per row.
//!
//! Statements are set-based: a slice of people is one multi-row
//! `INSERT … ON CONFLICT (organization_id, email, phone_key) WHERE
//! deleted_at IS NULL DO UPDATE … RETURNING` (a prospect in the trash does
//! not take new answers)
//! per [`db::rows_per_statement`] rows (so within both databases'
//! bound-parameter limits), plus a few statements for what only some rows
//! need (tags, a search text to make again, ids of prospects left alone).

use std::collections::HashMap;

use crate::{
    on_tx,
    platform::db::{self, Tx},
    prospects::{TimelineEvent, queries::search_text},
};

/// One person as a source brings them.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub organization_id: i64,
    /// The email key (`platform::text::email_key`: NFC, lower case, ASCII
    /// domain): prospects are unique per organization and key. `""` for a
    /// person keyed by phone.
    pub email: &'a str,
    /// The phone key (`platform::text::Phone::key`) of a person without an
    /// email; `""` for everyone with one (email wins).
    pub phone_key: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub company: Option<&'a str>,
    /// Where a new prospect came from (`form:<slug>`, `import:<file>`,
    /// `quick_add`); a stored prospect keeps its own.
    pub source: &'a str,
    /// A new prospect's owner; a stored prospect keeps its own.
    pub owner: Option<i64>,
    /// When they were brought (Unix ms): a new prospect's `created_at`,
    /// and the `updated_at` of a new or merged one.
    pub at: i64,
    /// Tags to add (as [`crate::prospects::queries::parse_tags`] makes
    /// them); tags already there stay.
    pub tags: &'a [String],
}

/// The details that new answers may fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Details<'a> {
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub company: Option<&'a str>,
}

impl<'a> Details<'a> {
    fn of(person: &Person<'a>) -> Self {
        Self {
            name: person.name,
            phone: person.phone,
            company: person.company,
        }
    }
}

/// New answers fill blanks, never erase: each detail of `kept` stays
/// unless it is blank (none, or empty), and then `new`'s is taken unless
/// that is blank too (then `kept`'s stays as it was). Applying several
/// answers one after another is the same as filling with their own
/// combination: `fill_blanks(fill_blanks(s, a), b) == fill_blanks(s,
/// fill_blanks(a, b))`. The SQL twin is [`FILL_BLANKS`].
pub fn fill_blanks<'a>(kept: Details<'a>, new: Details<'a>) -> Details<'a> {
    fn pick<'a>(kept: Option<&'a str>, new: Option<&'a str>) -> Option<&'a str> {
        let filled = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
        if filled(kept) || !filled(new) {
            kept
        } else {
            new
        }
    }
    Details {
        name: pick(Some(kept.name), Some(new.name)).unwrap_or_default(),
        phone: pick(kept.phone, new.phone),
        company: pick(kept.company, new.company),
    }
}

/// [`fill_blanks`] in SQL, for `ON CONFLICT … DO UPDATE SET`: `prospects`
/// is what is stored, `excluded` the new answers. `updated_at` is the new
/// answers' time.
pub const FILL_BLANKS: &str = "name = COALESCE(NULLIF(prospects.name, ''), excluded.name),
    phone = COALESCE(NULLIF(prospects.phone, ''), NULLIF(excluded.phone, ''), prospects.phone),
    company = COALESCE(NULLIF(prospects.company, ''), NULLIF(excluded.company, ''), prospects.company),
    updated_at = excluded.updated_at";

/// What a person already stored gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// [`fill_blanks`] (form submissions, an import by someone who may
    /// change every prospect).
    FillBlanks,
    /// [`fill_blanks`] only if the stored prospect belongs to the incoming
    /// person's `owner` (a member importing their own list); otherwise it
    /// is left as it is ([`Outcome::Kept`]).
    FillBlanksIfSameOwner,
    /// Left as it is (quick add says "already there").
    Keep,
}

/// What became of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new prospect.
    Inserted,
    /// Stored already: blanks filled, tags added.
    Merged,
    /// Stored already and left as it was ([`OnConflict`] said so).
    Kept,
}

/// A person's prospect after [`upsert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub id: i64,
    /// The prospect's name as it now is.
    pub name: String,
    pub outcome: Outcome,
}

/// The people of one call with the same organization and key (email and
/// phone key), as one:
/// details combined by [`fill_blanks`] in slice order, tags added up; the
/// first one's source, owner and time for a new prospect, the last one's
/// time as `updated_at`. `ON CONFLICT` cannot touch one row twice in a
/// statement, and this gives what applying them one after another would.
#[derive(Debug)]
struct Group<'a> {
    first: Person<'a>,
    details: Details<'a>,
    updated_at: i64,
    tags: Vec<&'a str>,
}

fn group<'a>(people: &[Person<'a>]) -> (Vec<Group<'a>>, Vec<usize>) {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut index: HashMap<(i64, &'a str, &'a str), usize> = HashMap::with_capacity(people.len());
    let mut member_of = Vec::with_capacity(people.len());
    for person in people {
        let next = groups.len();
        let g = *index
            .entry((person.organization_id, person.email, person.phone_key))
            .or_insert(next);
        if g == next {
            groups.push(Group {
                first: *person,
                details: Details::of(person),
                updated_at: person.at,
                tags: Vec::new(),
            });
        } else {
            let group = &mut groups[g];
            group.details = fill_blanks(group.details, Details::of(person));
            group.updated_at = person.at;
        }
        for tag in person.tags {
            if !groups[g].tags.contains(&tag.as_str()) {
                groups[g].tags.push(tag);
            }
        }
        member_of.push(g);
    }
    (groups, member_of)
}

/// A row `RETURNING` gives back: id, organization, email, phone key, name,
/// phone, company, search text, inserted by this statement.
type Returned = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

const PROSPECT_COLUMNS: usize = 11;

/// Applies `people` in the transaction: new people become prospects;
/// people already stored (same organization and key: email, or phone key
/// for a person without an email) get what
/// `on_conflict` says. Several people of one slice with the same key are
/// one person (see `Group`), so give them in the order they should apply
/// (a batch of submissions: by submission time). Returns one [`Upserted`]
/// per person, in slice order (people of one key share theirs).
///
/// Keeps `search_text` right: a new prospect is inserted with it; a merged
/// one, or one given tags, has it made again from what is stored.
///
/// Which rows were inserted: on Postgres `xmax = 0` in `RETURNING` (a row
/// the statement updated carries the updating transaction's id). On SQLite
/// an id above the table's largest id before the statement: a new rowid is
/// always above every existing one, and the write transaction
/// (`BEGIN IMMEDIATE`) holds SQLite's only write lock, so nobody else
/// inserts meanwhile.
pub async fn upsert(
    tx: &mut Tx,
    people: &[Person<'_>],
    on_conflict: OnConflict,
) -> sqlx::Result<Vec<Upserted>> {
    let (groups, member_of) = group(people);
    let mut done: Vec<Option<Upserted>> = vec![None; groups.len()];
    let mut stored: Vec<Option<Returned>> = vec![None; groups.len()];
    // SQLite: the largest id before the statement (see above).
    let largest_id: Option<i64> = match tx {
        Tx::Sqlite(c) => Some(
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM prospects")
                .fetch_one(&mut **c)
                .await?,
        ),
        Tx::Postgres(_) => None,
    };
    let action = match on_conflict {
        OnConflict::FillBlanks => format!("DO UPDATE SET {FILL_BLANKS}"),
        OnConflict::FillBlanksIfSameOwner => format!(
            "DO UPDATE SET {FILL_BLANKS} WHERE prospects.owner_user_id = excluded.owner_user_id"
        ),
        OnConflict::Keep => "DO NOTHING".to_string(),
    };
    let per_statement = db::rows_per_statement(PROSPECT_COLUMNS, 1);
    let mut at = HashMap::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        at.insert(
            (
                group.first.organization_id,
                group.first.email,
                group.first.phone_key,
            ),
            g,
        );
    }
    for chunk in groups.chunks(per_statement) {
        let values = db::values_list(chunk.len(), PROSPECT_COLUMNS, 1);
        let inserted = match largest_id {
            Some(_) => format!("id > ${}", chunk.len() * PROSPECT_COLUMNS + 1),
            None => "xmax = 0".to_string(),
        };
        let sql = format!(
            "INSERT INTO prospects (organization_id, email, phone_key, name, phone, company, source,
                 created_at, updated_at, owner_user_id, search_text)
             VALUES {values}
             ON CONFLICT (organization_id, email, phone_key) WHERE deleted_at IS NULL {action}
             RETURNING id, organization_id, email, phone_key, name, phone, company, search_text,
                 {inserted} AS inserted"
        );
        let searched: Vec<String> = chunk
            .iter()
            .map(|g| {
                search_text(
                    g.details.name,
                    g.first.email,
                    g.details.company,
                    g.details.phone,
                    &[],
                )
            })
            .collect();
        let rows: Vec<Returned> = on_tx!(tx, c => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (g, searched) in chunk.iter().zip(&searched) {
                query = query
                    .bind(g.first.organization_id)
                    .bind(g.first.email)
                    .bind(g.first.phone_key)
                    .bind(g.details.name)
                    .bind(g.details.phone)
                    .bind(g.details.company)
                    .bind(g.first.source)
                    .bind(g.first.at)
                    .bind(g.updated_at)
                    .bind(g.first.owner)
                    .bind(searched);
            }
            let query = match largest_id {
                Some(id) => query.bind(id),
                None => query,
            };
            query.fetch_all(&mut **c).await
        })?;
        for row in rows {
            if let Some(&g) = at.get(&(row.1, row.2.as_str(), row.3.as_str())) {
                stored[g] = Some(row);
            }
        }
    }
    // Tags of the people written (not of those left alone).
    let tagged: Vec<(i64, &str)> = groups
        .iter()
        .zip(&stored)
        .filter_map(|(g, row)| row.as_ref().map(|r| (r.0, &g.tags)))
        .flat_map(|(id, tags)| tags.iter().map(move |t| (id, *t)))
        .collect();
    add_tags(tx, &tagged).await?;
    // Search text: made again where what is stored may differ from what
    // was inserted (a merge, tags).
    let again: Vec<usize> = (0..groups.len())
        .filter(|&g| {
            stored[g]
                .as_ref()
                .is_some_and(|r| !r.8 || !groups[g].tags.is_empty())
        })
        .collect();
    if !again.is_empty() {
        let ids: Vec<i64> = again
            .iter()
            .filter_map(|&g| stored[g].as_ref().map(|r| r.0))
            .collect();
        let tags = tags_of(tx, &ids).await?;
        let mut changed: Vec<(i64, String)> = Vec::new();
        for &g in &again {
            let Some((id, _, email, _, name, phone, company, searched, _)) = &stored[g] else {
                continue;
            };
            let now = search_text(
                name,
                email,
                company.as_deref(),
                phone.as_deref(),
                tags.get(id).map(Vec::as_slice).unwrap_or_default(),
            );
            if searched.as_deref() != Some(now.as_str()) {
                changed.push((*id, now));
            }
        }
        set_search_texts(tx, &changed).await?;
    }
    for (g, row) in stored.iter().enumerate() {
        if let Some((id, _, _, _, name, _, _, _, inserted)) = row {
            done[g] = Some(Upserted {
                id: *id,
                name: name.clone(),
                outcome: if *inserted {
                    Outcome::Inserted
                } else {
                    Outcome::Merged
                },
            });
        }
    }
    // People left alone: their prospects' ids.
    let kept: Vec<usize> = (0..groups.len()).filter(|&g| done[g].is_none()).collect();
    for chunk in kept.chunks(db::rows_per_statement(3, 0)) {
        let sql = format!(
            "SELECT id, organization_id, email, phone_key, name FROM prospects
             WHERE (organization_id, email, phone_key) IN (VALUES {}) AND deleted_at IS NULL",
            db::values_list(chunk.len(), 3, 1)
        );
        let rows: Vec<(i64, i64, String, String, String)> = on_tx!(tx, c => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
            for &g in chunk {
                let first = &groups[g].first;
                query = query
                    .bind(first.organization_id)
                    .bind(first.email)
                    .bind(first.phone_key);
            }
            query.fetch_all(&mut **c).await
        })?;
        for (id, organization_id, email, phone_key, name) in rows {
            if let Some(&g) = at.get(&(organization_id, email.as_str(), phone_key.as_str())) {
                done[g] = Some(Upserted {
                    id,
                    name,
                    outcome: Outcome::Kept,
                });
            }
        }
    }
    member_of
        .into_iter()
        .map(|g| {
            done[g].clone().ok_or_else(|| {
                let first = &groups[g].first;
                sqlx::Error::Protocol(format!(
                    "prospect {}{} of organization {} was neither written nor found",
                    first.email, first.phone_key, first.organization_id
                ))
            })
        })
        .collect()
}

/// Adds (prospect id, tag) pairs; a pair already there stays once.
async fn add_tags(tx: &mut Tx, tags: &[(i64, &str)]) -> sqlx::Result<()> {
    for chunk in tags.chunks(db::rows_per_statement(2, 0)) {
        let sql = format!(
            "INSERT INTO prospect_tags (prospect_id, tag) VALUES {} ON CONFLICT DO NOTHING",
            db::values_list(chunk.len(), 2, 1)
        );
        on_tx!(tx, c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (id, tag) in chunk {
                query = query.bind(*id).bind(*tag);
            }
            query.execute(&mut **c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The tags of each of `ids`, in the order `refresh_search` reads them.
async fn tags_of(tx: &mut Tx, ids: &[i64]) -> sqlx::Result<HashMap<i64, Vec<String>>> {
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(db::rows_per_statement(1, 0)) {
        let sql = format!(
            "SELECT prospect_id, tag FROM prospect_tags WHERE prospect_id IN {}
             ORDER BY prospect_id, tag",
            db::values_list(1, chunk.len(), 1)
        );
        let rows: Vec<(i64, String)> = on_tx!(tx, c => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(&mut **c).await
        })?;
        for (id, tag) in rows {
            tags.entry(id).or_default().push(tag);
        }
    }
    Ok(tags)
}

/// Sets the search text of each (id, text).
async fn set_search_texts(tx: &mut Tx, texts: &[(i64, String)]) -> sqlx::Result<()> {
    for chunk in texts.chunks(db::rows_per_statement(2, 0)) {
        let sql = format!(
            "WITH v (id, search_text) AS (VALUES {})
             UPDATE prospects SET search_text = v.search_text FROM v WHERE prospects.id = v.id",
            db::values_list(chunk.len(), 2, 1)
        );
        on_tx!(tx, c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (id, text) in chunk {
                query = query.bind(*id).bind(text);
            }
            query.execute(&mut **c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// A timeline entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub prospect_id: i64,
    /// What happened (stored as its kind and JSON data, see
    /// [`TimelineEvent::to_row`]).
    pub event: TimelineEvent,
    /// A form submission's idempotency key (unique among entries).
    pub submission_key: Option<&'a str>,
    pub form_id: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

const ENTRY_COLUMNS: usize = 6;

/// Appends `entries` to their prospects' timelines, in slice order, with
/// as few statements as the bound-parameter limit allows. A submission key
/// already on an entry fails the statement (unique): callers look first.
pub async fn insert_entries(tx: &mut Tx, entries: &[NewEntry<'_>]) -> sqlx::Result<()> {
    for chunk in entries.chunks(db::rows_per_statement(ENTRY_COLUMNS, 0)) {
        let sql = format!(
            "INSERT INTO timeline_entries (prospect_id, kind, submission_key, form_id, data, created_at)
             VALUES {}",
            db::values_list(chunk.len(), ENTRY_COLUMNS, 1)
        );
        let rows: Vec<(String, String)> = chunk.iter().map(|e| e.event.to_row()).collect();
        on_tx!(tx, c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == 1);
            for (e, (kind, data)) in chunk.iter().zip(&rows) {
                query = query
                    .bind(e.prospect_id)
                    .bind(kind)
                    .bind(e.submission_key)
                    .bind(e.form_id)
                    .bind(data)
                    .bind(e.created_at);
            }
            query.execute(&mut **c).await.map(|_| ())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d<'a>(name: &'a str, phone: Option<&'a str>, company: Option<&'a str>) -> Details<'a> {
        Details {
            name,
            phone,
            company,
        }
    }

    #[test]
    fn new_answers_fill_blanks_and_never_erase() {
        // Filled stays filled.
        assert_eq!(
            fill_blanks(
                d("Ana", Some("1"), Some("A Co")),
                d("Bo", Some("2"), Some("B Co"))
            ),
            d("Ana", Some("1"), Some("A Co"))
        );
        // Blanks (none or empty) are filled.
        assert_eq!(
            fill_blanks(d("", None, Some("")), d("Bo", Some("2"), Some("B Co"))),
            d("Bo", Some("2"), Some("B Co"))
        );
        // A blank answer erases nothing, and both blank leaves what was stored.
        assert_eq!(
            fill_blanks(d("Ana", Some("1"), Some("A Co")), d("", None, Some(""))),
            d("Ana", Some("1"), Some("A Co"))
        );
        assert_eq!(
            fill_blanks(d("", Some(""), None), d("", None, Some(""))),
            d("", Some(""), None)
        );
    }

    #[test]
    fn filling_one_after_another_is_filling_with_the_combination() {
        let values = [None, Some(""), Some("x"), Some("y")];
        let names = ["", "n", "m"];
        for s in names {
            for a in names {
                for b in names {
                    for p in values {
                        for q in values {
                            for r in values {
                                let (stored, one, two) = (d(s, p, q), d(a, q, r), d(b, r, p));
                                assert_eq!(
                                    fill_blanks(fill_blanks(stored, one), two),
                                    fill_blanks(stored, fill_blanks(one, two)),
                                    "{stored:?} {one:?} {two:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn people_of_one_key_are_one_in_order() {
        let tags_a = ["vip".to_string()];
        let tags_b = ["expo".to_string(), "vip".to_string()];
        let person = |org, email, name, phone, at, tags| Person {
            organization_id: org,
            email,
            phone_key: "",
            name,
            phone,
            company: None,
            source: "test",
            owner: None,
            at,
            tags,
        };
        let people = [
            person(1, "a@x.test", "", None, 10, &tags_a[..]),
            person(2, "a@x.test", "Other org", None, 11, &[][..]),
            person(1, "a@x.test", "Ana", Some("1"), 12, &tags_b[..]),
            person(1, "a@x.test", "Not Ana", Some("2"), 13, &[][..]),
        ];
        let (groups, member_of) = group(&people);
        assert_eq!(member_of, [0, 1, 0, 0]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].details, d("Ana", Some("1"), None));
        assert_eq!((groups[0].first.at, groups[0].updated_at), (10, 13));
        assert_eq!(groups[0].tags, ["vip", "expo"]);
        assert_eq!(groups[1].details, d("Other org", None, None));
    }

    #[test]
    fn people_without_an_email_are_one_per_phone_key() {
        let person = |email, phone_key, name| Person {
            organization_id: 1,
            email,
            phone_key,
            name,
            phone: None,
            company: None,
            source: "test",
            owner: None,
            at: 1,
            tags: &[],
        };
        let people = [
            person("", "+34612345678", "Ana"),
            person("", "+34699000000", "Bo"),
            person("", "+34612345678", "Not Ana"),
            person("ana@x.test", "", "Ana by email"),
        ];
        let (groups, member_of) = group(&people);
        assert_eq!(member_of, [0, 1, 0, 2]);
        assert_eq!(groups[0].details.name, "Ana");
    }
}
