//! The prospect list's filters, sort and keyset pagination, parsed from the
//! query string at the edge (a value that is not one is a message, answered
//! 422 with the filter form back), and the queries they make.
//!
//! A page is fetched after (or before) a cursor: the sort key and id of the
//! last (or first) row shown, so rows added meanwhile never shift a page or
//! show twice. Every query keeps to the viewer's [`Scope`].

use std::fmt::Write as _;

use base64::Engine as _;

use crate::on_pool;
use crate::platform::db::Pool;
use crate::platform::db::Scope;
use crate::platform::text::search_fold;
use crate::prospects::Stage;
use crate::prospects::queries::IN_SCOPE;
use crate::prospects::queries::PROSPECT_COLUMNS;
use crate::prospects::queries::Prospect;

/// Rows on a page of the list.
pub const PAGE_SIZE: i64 = 25;

/// Whose prospects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The viewer's own.
    Me,
    /// Nobody's yet (members see these too, to claim one).
    Unassigned,
    /// A given person's.
    User(i64),
}

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first (by when the prospect arrived).
    #[default]
    Newest,
    /// Most recent activity first (the newest timeline entry).
    Activity,
    /// By name, A to Z.
    Name,
}

impl Sort {
    pub const ALL: [Sort; 3] = [Sort::Newest, Sort::Activity, Sort::Name];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Activity => "activity",
            Sort::Name => "name",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "Newest",
            Sort::Activity => "Last activity",
            Sort::Name => "Name",
        }
    }
}

/// A day range, as typed (`YYYY-MM-DD`), and the milliseconds it covers
/// (UTC days: from the first day's start to the last day's end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Days {
    pub from: Option<(String, i64)>,
    pub to: Option<(String, i64)>,
}

/// Where the list is in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    First,
    /// The rows after this one (the next page).
    After(Cursor),
    /// The rows before this one (the previous page).
    Before(Cursor),
    /// An older link's page number (`?page=2`): offset paging.
    Page(i64),
}

/// A row's place in the order: its sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: Key,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Time(i64),
    Name(String),
}

/// Everything the list can be asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub q: String,
    pub stage: Option<Stage>,
    pub owner: Option<Owner>,
    pub tag: Option<String>,
    pub form: Option<i64>,
    pub event: Option<i64>,
    pub location: Option<i64>,
    pub created: Days,
    pub active: Days,
    pub sort: Sort,
}

/// A query parameter that could not be read: (parameter, message).
pub type Problem = (&'static str, &'static str);

/// The parameters that are filters (a saved view keeps exactly these).
pub const FILTER_KEYS: &[&str] = &[
    "q",
    "stage",
    "owner",
    "tag",
    "form",
    "event",
    "location",
    "created_from",
    "created_to",
    "active_from",
    "active_to",
    "sort",
];

impl Filters {
    /// Reads the filters and the position from a query string's pairs.
    /// Empty values are "any"; unknown parameters are ignored (links from
    /// elsewhere carry their own). Each bad value is a problem, the others
    /// still read, so the form comes back with everything as it was sent.
    pub fn parse(pairs: &[(String, String)]) -> (Filters, Position, Vec<Problem>) {
        let mut f = Filters::default();
        let mut position = Position::First;
        let mut problems = Vec::new();
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "q" => f.q = value.chars().take(200).collect(),
                "stage" => match value.parse() {
                    Ok(stage) => f.stage = Some(stage),
                    Err(_) => problems.push(("stage", "Choose one of the stages.")),
                },
                "owner" => match value {
                    "me" => f.owner = Some(Owner::Me),
                    "unassigned" => f.owner = Some(Owner::Unassigned),
                    id => match parse_id(id) {
                        Some(id) => f.owner = Some(Owner::User(id)),
                        None => problems.push(("owner", "Choose a person, “me” or “unassigned”.")),
                    },
                },
                "tag" => {
                    let tags = crate::prospects::queries::parse_tags(value);
                    match tags.as_slice() {
                        [tag] => f.tag = Some(tag.clone()),
                        _ => problems.push(("tag", "Filter by one tag at a time.")),
                    }
                }
                "form" => match parse_id(value) {
                    Some(id) => f.form = Some(id),
                    None => problems.push(("form", "Choose one of your forms.")),
                },
                "event" => match parse_id(value) {
                    Some(id) => f.event = Some(id),
                    None => problems.push(("event", "Choose one of your events.")),
                },
                "location" => match parse_id(value) {
                    Some(id) => f.location = Some(id),
                    None => problems.push(("location", "Choose one of your locations.")),
                },
                "created_from" | "created_to" | "active_from" | "active_to" => {
                    let end = key.ends_with("_to");
                    match day_bounds(value, end) {
                        Some(ms) => {
                            let days = if key.starts_with("created") {
                                &mut f.created
                            } else {
                                &mut f.active
                            };
                            let slot = if end { &mut days.to } else { &mut days.from };
                            *slot = Some((value.to_string(), ms));
                        }
                        None => problems.push((
                            if key.starts_with("created") {
                                "created"
                            } else {
                                "active"
                            },
                            "Enter dates as YYYY-MM-DD.",
                        )),
                    }
                }
                "sort" => match Sort::ALL.into_iter().find(|s| s.as_str() == value) {
                    Some(sort) => f.sort = sort,
                    None => problems.push(("sort", "Sort by newest, last activity or name.")),
                },
                "cursor" => match Cursor::decode(value) {
                    Some((true, cursor)) => position = Position::After(cursor),
                    Some((false, cursor)) => position = Position::Before(cursor),
                    None => problems.push((
                        "cursor",
                        "This page link is not valid: start again from the first page.",
                    )),
                },
                // Older links' page numbers: a number that is not one is the
                // first page, as it always was.
                "page" => {
                    if let Ok(page) = value.parse::<i64>()
                        && page > 1
                        && position == Position::First
                    {
                        position = Position::Page(page.min(100_000));
                    }
                }
                _ => {}
            }
        }
        // A range that ends before it starts matches nothing: said, not a
        // silent empty list.
        for (field, days) in [("created", &f.created), ("active", &f.active)] {
            if let (Some((_, from)), Some((_, to))) = (&days.from, &days.to)
                && from >= to
            {
                problems.push((field, "The first date is after the last: swap them."));
            }
        }
        // A cursor made for another order is not a place in this one.
        let cursor_fits = |c: &Cursor| {
            matches!(
                (&c.key, f.sort),
                (Key::Name(_), Sort::Name) | (Key::Time(_), Sort::Newest | Sort::Activity)
            )
        };
        if let Position::After(c) | Position::Before(c) = &position
            && !cursor_fits(c)
        {
            problems.push((
                "cursor",
                "This page link is not valid: start again from the first page.",
            ));
            position = Position::First;
        }
        (f, position, problems)
    }

    /// The filters as a query string (without the position), in one order:
    /// what links, saved views and "all matching" carry.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if let Some(stage) = self.stage {
            pairs.push(("stage", stage.as_str().into()));
        }
        match self.owner {
            Some(Owner::Me) => pairs.push(("owner", "me".into())),
            Some(Owner::Unassigned) => pairs.push(("owner", "unassigned".into())),
            Some(Owner::User(id)) => pairs.push(("owner", id.to_string())),
            None => {}
        }
        if let Some(tag) = &self.tag {
            pairs.push(("tag", tag.clone()));
        }
        for (name, value) in [
            ("form", self.form),
            ("event", self.event),
            ("location", self.location),
        ] {
            if let Some(id) = value {
                pairs.push((name, id.to_string()));
            }
        }
        for (name, day) in [
            ("created_from", &self.created.from),
            ("created_to", &self.created.to),
            ("active_from", &self.active.from),
            ("active_to", &self.active.to),
        ] {
            if let Some((text, _)) = day {
                pairs.push((name, text.clone()));
            }
        }
        if self.sort != Sort::Newest {
            pairs.push(("sort", self.sort.as_str().into()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// Whether anything narrows the list.
    pub fn is_empty(&self) -> bool {
        Filters {
            sort: self.sort,
            ..Filters::default()
        } == *self
    }
}

fn parse_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|id| *id > 0)
}

/// Milliseconds at the start of day `text` (`YYYY-MM-DD`, UTC), or at the
/// start of the next day when `end` (the range includes the whole day).
fn day_bounds(text: &str, end: bool) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || text.len() != 10 {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let date = if end { date.next_day()? } else { date };
    let start = date.midnight().assume_utc().unix_timestamp();
    Some(start * 1000)
}

impl Cursor {
    /// `n.<key>.<id>` for the rows after it, `p.…` for the rows before; a
    /// name is base64url so no character of it needs escaping.
    pub fn encode(&self, after: bool) -> String {
        let dir = if after { 'n' } else { 'p' };
        match &self.key {
            Key::Time(ms) => format!("{dir}t{ms}.{}", self.id),
            Key::Name(name) => format!(
                "{dir}s{}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name),
                self.id
            ),
        }
    }

    /// (after?, cursor), or `None` for anything [`Cursor::encode`] did not make.
    fn decode(text: &str) -> Option<(bool, Cursor)> {
        let after = match text.get(..1)? {
            "n" => true,
            "p" => false,
            _ => return None,
        };
        let kind = text.get(1..2)?;
        let (key, id) = text.get(2..)?.rsplit_once('.')?;
        let id = parse_id(id)?;
        let key = match kind {
            "t" => Key::Time(key.parse().ok()?),
            "s" => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(key)
                    .ok()?;
                let name = String::from_utf8(bytes).ok()?;
                if name.chars().any(char::is_control) || name.len() > 1000 {
                    return None;
                }
                Key::Name(name)
            }
            _ => return None,
        };
        Some((after, Cursor { key, id }))
    }

    /// The place of `p` in `sort`'s order.
    pub fn of(p: &Prospect, sort: Sort) -> Cursor {
        let key = match sort {
            Sort::Newest => Key::Time(p.created_at),
            Sort::Activity => Key::Time(p.last_activity_at),
            Sort::Name => Key::Name(p.name.clone()),
        };
        Cursor { key, id: p.id }
    }
}

/// A bound value of a built query.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(String),
}

/// Binds `args` in order to a `sqlx` query (either driver).
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::prospects::filters::Arg::Int(v) => query.bind(*v),
                $crate::prospects::filters::Arg::MaybeInt(v) => query.bind(*v),
                $crate::prospects::filters::Arg::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }};
}

/// A `WHERE` condition on `p` (prospects) and its arguments, numbered from
/// `$1`: the viewer's scope and the filters.
#[derive(Debug, Clone)]
pub struct Condition {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Condition {
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Adds `AND (…)`, where `$?` stands for the next argument.
    fn and(&mut self, sql: &str, arg: Option<Arg>) {
        let text = match arg {
            Some(arg) => sql.replace("$?", &self.arg(arg)),
            None => sql.to_string(),
        };
        let _ = write!(self.sql, " AND ({text})");
    }
}

/// Who is looking: their scope, their own id, and whether they are a member
/// (a member's "unassigned" looks past their own prospects).
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub scope: Scope,
    pub user_id: i64,
}

impl Viewer {
    pub fn of(user: &crate::accounts::queries::SessionUser) -> Self {
        Viewer {
            scope: Scope::of(user),
            user_id: user.user_id,
        }
    }
}

/// The condition for `filters` as `viewer` sees them. Stage may be left
/// out (`with_stage` false: the board groups by it).
pub fn condition(viewer: Viewer, filters: &Filters, with_stage: bool) -> Condition {
    condition_in(viewer, filters, with_stage, true)
}

/// [`condition`]; `claimable` false keeps a member to their own prospects
/// even in the "unassigned" view (what they may act on, not look at).
fn condition_in(viewer: Viewer, filters: &Filters, with_stage: bool, claimable: bool) -> Condition {
    // A member's "unassigned" view is the organization's unassigned
    // prospects: the one place a member sees past their own (to claim).
    let scope = match filters.owner {
        Some(Owner::Unassigned) if claimable => Scope::organization(viewer.scope.organization_id),
        _ => viewer.scope,
    };
    let mut c = Condition {
        sql: IN_SCOPE.to_string(),
        args: vec![Arg::Int(scope.organization_id), Arg::MaybeInt(scope.owner)],
    };
    match filters.owner {
        Some(Owner::Me) => c.and("p.owner_user_id = $?", Some(Arg::Int(viewer.user_id))),
        Some(Owner::Unassigned) => c.and("p.owner_user_id IS NULL", None),
        Some(Owner::User(id)) => c.and("p.owner_user_id = $?", Some(Arg::Int(id))),
        None => {}
    }
    if with_stage && let Some(stage) = filters.stage {
        c.and("p.stage = $?", Some(Arg::Text(stage.as_str().into())));
    }
    if let Some(tag) = &filters.tag {
        c.and(
            "EXISTS (SELECT 1 FROM prospect_tags g WHERE g.prospect_id = p.id AND g.tag = $?)",
            Some(Arg::Text(tag.clone())),
        );
    }
    if let Some(form) = filters.form {
        c.and(
            "EXISTS (SELECT 1 FROM timeline_entries t WHERE t.prospect_id = p.id AND t.form_id = $?)",
            Some(Arg::Int(form)),
        );
    }
    if let Some(event) = filters.event {
        // An event's submissions: its form's, from its start to its end.
        c.and(
            "EXISTS (SELECT 1 FROM timeline_entries t JOIN events e ON e.form_id = t.form_id
                     WHERE t.prospect_id = p.id AND e.id = $? AND e.organization_id = p.organization_id
                       AND t.kind = 'form_submission' AND t.created_at >= e.starts_at AND (e.ends_at IS NULL OR t.created_at < e.ends_at))",
            Some(Arg::Int(event)),
        );
    }
    if let Some(location) = filters.location {
        c.and("p.organization_id = $?", Some(Arg::Int(location)));
    }
    for (column, days) in [
        ("p.created_at", &filters.created),
        ("p.last_activity_at", &filters.active),
    ] {
        if let Some((_, ms)) = days.from {
            c.and(&format!("{column} >= $?"), Some(Arg::Int(ms)));
        }
        if let Some((_, ms)) = days.to {
            c.and(&format!("{column} < $?"), Some(Arg::Int(ms)));
        }
    }
    let term: String = filters.q.chars().filter(|c| !c.is_control()).collect();
    let term = phone_digits(term.trim()).unwrap_or_else(|| search_fold(term.trim()));
    if !term.is_empty() {
        let pattern = format!(
            "%{}%",
            term.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        // Rows not yet given their search text (until the start-up
        // backfill has run) are compared as before.
        c.and(
            "p.search_text LIKE $? ESCAPE '\\'
             OR (p.search_text IS NULL AND (lower(p.name) LIKE $? ESCAPE '\\' OR p.email LIKE $? ESCAPE '\\'))",
            Some(Arg::Text(pattern)),
        );
    }
    c
}

/// A search term written like a phone number (`+34 612 34 56 78`,
/// `(555) 010-9999`: digits with `+ - ( ) . /` and spaces, at least three
/// digits) as its digits alone, which every phone's search text holds
/// (`search_text`), however the number was typed or stored.
fn phone_digits(term: &str) -> Option<String> {
    let phone_like = term
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().,/\u{a0}".contains(c));
    let digits: String = term.chars().filter(char::is_ascii_digit).collect();
    // `00` is how much of the world dials `+`: `0034 612…` is `+34 612…`.
    let digits = match digits.strip_prefix("00") {
        Some(rest) if term.trim_start().starts_with("00") => rest.to_string(),
        _ => digits,
    };
    (phone_like && digits.len() >= 3 && digits.len() != term.len()).then_some(digits)
}

/// One page of the list: its rows and whether there are rows before and after.
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<Prospect>,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// The page at `position` of what `filters` match for `viewer`, with the
/// total matching.
pub async fn page(
    pool: &Pool,
    viewer: Viewer,
    filters: &Filters,
    position: &Position,
) -> sqlx::Result<Page> {
    let base = condition(viewer, filters, true);
    let total = count(pool, &base).await?;
    let mut c = base.clone();
    // (column, descending?) of the order.
    let (column, descending) = match filters.sort {
        Sort::Newest => ("p.created_at", true),
        Sort::Activity => ("p.last_activity_at", true),
        Sort::Name => ("p.name", false),
    };
    let (cursor, after) = match position {
        Position::After(cursor) => (Some(cursor), true),
        Position::Before(cursor) => (Some(cursor), false),
        _ => (None, true),
    };
    // Reading forwards in the order, or backwards (the page before).
    let forwards = after;
    if let Some(cursor) = cursor {
        let key = match &cursor.key {
            Key::Time(ms) => Arg::Int(*ms),
            Key::Name(name) => Arg::Text(name.clone()),
        };
        let beyond = if descending == forwards { "<" } else { ">" };
        let k = c.arg(key);
        let id = c.arg(Arg::Int(cursor.id));
        let _ = write!(
            c.sql,
            " AND ({column} {beyond} {k} OR ({column} = {k} AND p.id {beyond} {id}))"
        );
    }
    let direction = if descending == forwards {
        "DESC"
    } else {
        "ASC"
    };
    let offset = match position {
        Position::Page(page) => (page - 1) * PAGE_SIZE,
        _ => 0,
    };
    let limit = c.arg(Arg::Int(PAGE_SIZE + 1));
    let skip = c.arg(Arg::Int(offset));
    let sql = format!(
        "SELECT {PROSPECT_COLUMNS} FROM prospects p WHERE {}
         ORDER BY {column} {direction}, p.id {direction} LIMIT {limit} OFFSET {skip}",
        c.sql
    );
    let mut rows: Vec<Prospect> = on_pool!(pool, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &c.args)
        .fetch_all(p)
        .await)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    if !forwards {
        rows.reverse();
    }
    let (has_prev, has_next) = match position {
        Position::First => (false, more),
        Position::Page(page) => (*page > 1, more),
        Position::After(_) => (true, more),
        Position::Before(_) => (more, true),
    };
    let link =
        |cursor: Option<Cursor>, after: bool| -> Option<String> { cursor.map(|c| c.encode(after)) };
    let prev = if has_prev {
        match position {
            // An older page number goes back by number (its rows are
            // counted from the start).
            Position::Page(page) => Some(format!("page:{}", page - 1)),
            _ => link(rows.first().map(|p| Cursor::of(p, filters.sort)), false),
        }
    } else {
        None
    };
    let next = if has_next {
        link(rows.last().map(|p| Cursor::of(p, filters.sort)), true)
    } else {
        None
    };
    Ok(Page {
        rows,
        total,
        prev,
        next,
    })
}

/// How many prospects meet `c`.
pub async fn count(pool: &Pool, c: &Condition) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM prospects p WHERE {}",
        c.sql
    );
    on_pool!(pool, p => bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &c.args)
        .fetch_one(p)
        .await)
}

/// The ids of every prospect `filters` match for `viewer` ("all matching"),
/// of those `viewer` may act on (a member: their own, whatever the view).
pub async fn matching_ids(
    pool: &Pool,
    viewer: Viewer,
    filters: &Filters,
) -> sqlx::Result<Vec<i64>> {
    let c = condition_in(viewer, filters, true, false);
    let sql = format!("SELECT p.id FROM prospects p WHERE {} ORDER BY p.id", c.sql);
    on_pool!(pool, p => bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &c.args)
        .fetch_all(p)
        .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    #[test]
    fn a_range_that_ends_before_it_starts_is_a_problem() {
        let (_, _, problems) =
            Filters::parse(&pairs("created_from=2026-02-01&created_to=2026-01-01"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "created");
        // One day, from and to the same date, is a range.
        let (_, _, problems) =
            Filters::parse(&pairs("active_from=2026-02-01&active_to=2026-02-01"));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn phone_like_terms_search_their_digits() {
        assert_eq!(
            phone_digits("+34 612 34 56 78").as_deref(),
            Some("34612345678")
        );
        assert_eq!(
            phone_digits("(555) 010-9999").as_deref(),
            Some("5550109999")
        );
        // Digits alone are searched as they are; words are words.
        assert_eq!(phone_digits("5550109"), None);
        assert_eq!(phone_digits("company 42"), None);
        assert_eq!(phone_digits("+1"), None);
    }

    #[test]
    fn filters_round_trip_through_their_query() {
        let q = "q=ana&stage=hot&owner=unassigned&tag=vip&form=3&event=4&location=5&created_from=2026-01-01&created_to=2026-01-31&active_from=2026-02-01&active_to=2026-02-28&sort=name";
        let (f, position, problems) = Filters::parse(&pairs(q));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(position, Position::First);
        assert_eq!(f.to_query(), q);
        assert_eq!(
            f.created.to.as_ref().unwrap().1 - f.created.from.as_ref().unwrap().1,
            31 * 86_400_000
        );
    }

    #[test]
    fn bad_values_are_problems_never_panics() {
        for q in [
            "stage=nope",
            "owner=-1",
            "owner=99999999999999999999999",
            "form=x",
            "created_from=2026-02-30",
            "created_to=99999-01-01",
            "active_from=2026-1-1",
            "sort=random",
            "cursor=garbage",
            "cursor=nt1.0",
            "cursor=ns%%%.1",
            "cursor=nt99999999999999999999.1",
            "tag=a,b",
        ] {
            let (_, _, problems) = Filters::parse(&pairs(q));
            assert_eq!(problems.len(), 1, "{q}");
        }
        // A name cursor on a time order is refused.
        let c = Cursor {
            key: Key::Name("Ana".into()),
            id: 3,
        }
        .encode(true);
        let (_, position, problems) = Filters::parse(&pairs(&format!("cursor={c}")));
        assert_eq!((position, problems.len()), (Position::First, 1));
    }

    #[test]
    fn cursors_round_trip() {
        for (cursor, sort) in [
            (
                Cursor {
                    key: Key::Time(1_700_000_000_000),
                    id: 42,
                },
                "newest",
            ),
            (
                Cursor {
                    key: Key::Name("Zoë. O'Brien & co".into()),
                    id: 7,
                },
                "name",
            ),
        ] {
            for after in [true, false] {
                let q = serde_urlencoded::to_string([
                    ("cursor", cursor.encode(after)),
                    ("sort", sort.into()),
                ])
                .unwrap();
                let (_, position, problems) = Filters::parse(&pairs(&q));
                assert!(problems.is_empty());
                let expected = if after {
                    Position::After(cursor.clone())
                } else {
                    Position::Before(cursor.clone())
                };
                assert_eq!(position, expected);
            }
        }
    }
}
