//! Follow-up tasks: a call, email, meeting or other thing to do about a
//! prospect by a due time, with a note; done or snoozed (an hour, until
//! tomorrow morning, until next week). Listed on the prospect's page and
//! on the home page, overdue ones highlighted. Who may add, finish or
//! snooze one is `roles::Action::FollowUp` (every role) on prospects in
//! their scope (a member's own).

pub mod queries;
pub mod routes;
pub mod views;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

use crate::platform::time_zones::{self, Tz};

/// The kinds of task, as stored and as shown.
pub const KINDS: &[(&str, &str)] = &[
    ("call", "Call"),
    ("email", "Email"),
    ("meeting", "Meeting"),
    ("other", "Other"),
];

/// The stored kind for `raw`, if it is one.
pub fn kind(raw: &str) -> Option<&'static str> {
    KINDS.iter().map(|(k, _)| *k).find(|k| *k == raw.trim())
}

/// What a kind is called on a page.
pub fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, l)| *l)
        .unwrap_or("Other")
}

/// The longest note a task keeps.
pub const NOTE_MAX: usize = 1000;

/// A due time as a browser's `datetime-local` sends it (`2026-06-15T09:30`,
/// seconds allowed; a space for the `T` when typed) read in `zone`, or
/// the date alone (then 09:00). Years 2000 to 2100.
pub fn parse_due(raw: &str, zone: Tz) -> Result<i64, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("Choose when it is due.");
    }
    if raw.len() > 40 {
        return Err("That is not a date and time (for example 2026-06-15 09:30).");
    }
    let normal = raw.replacen(' ', "T", 1);
    let at = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&normal, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap()))
        })
        .ok_or("That is not a date and time (for example 2026-06-15 09:30).")?;
    if !(2000..=2100).contains(&at.year()) {
        return Err("Choose a date between the years 2000 and 2100.");
    }
    Ok(time_zones::instant(zone, at.date(), at.time()))
}

/// How long a task is put off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snooze {
    /// An hour from now.
    Hour,
    /// Tomorrow at 09:00 in the viewer's zone.
    Tomorrow,
    /// Next Monday at 09:00 in the viewer's zone.
    NextWeek,
}

impl Snooze {
    pub const ALL: [(Snooze, &'static str, &'static str); 3] = [
        (Snooze::Hour, "hour", "1 hour"),
        (Snooze::Tomorrow, "tomorrow", "Tomorrow"),
        (Snooze::NextWeek, "week", "Next week"),
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, value, _)| *value == raw)
            .map(|(s, _, _)| *s)
    }

    /// The new due time, from `now` in `zone`.
    pub fn until(self, now: i64, zone: Tz) -> i64 {
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let today = time_zones::local(now, zone).date_naive();
        match self {
            Snooze::Hour => now + 3_600_000,
            Snooze::Tomorrow => time_zones::instant(zone, today.succ_opt().unwrap_or(today), nine),
            Snooze::NextWeek => {
                let days = 7 - i64::from(today.weekday().num_days_from_monday());
                time_zones::instant(zone, today + chrono::Duration::days(days), nine)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn due_times_are_read_in_the_viewers_zone() {
        let paris = Tz::Europe__Paris;
        assert_eq!(
            parse_due("2026-06-15T09:30", paris),
            Ok(ms("2026-06-15T07:30:00Z"))
        );
        assert_eq!(
            parse_due("2026-06-15 09:30", paris),
            Ok(ms("2026-06-15T07:30:00Z"))
        );
        assert_eq!(
            parse_due("2026-06-15", Tz::UTC),
            Ok(ms("2026-06-15T09:00:00Z"))
        );
        assert!(parse_due("", paris).is_err());
        assert!(parse_due("tomorrow", paris).is_err());
        assert!(parse_due("2026-02-30T09:00", paris).is_err());
        assert!(parse_due("99999-01-01T09:00", paris).is_err());
        assert!(parse_due("1900-01-01T09:00", paris).is_err());
    }

    #[test]
    fn snoozes_land_in_the_viewers_morning() {
        let la = Tz::America__Los_Angeles;
        // Wednesday 2026-06-17 15:00 in Los Angeles.
        let now = ms("2026-06-17T22:00:00Z");
        assert_eq!(Snooze::Hour.until(now, la), now + 3_600_000);
        assert_eq!(Snooze::Tomorrow.until(now, la), ms("2026-06-18T16:00:00Z"));
        assert_eq!(Snooze::NextWeek.until(now, la), ms("2026-06-22T16:00:00Z"));
        assert_eq!(Snooze::parse("week"), Some(Snooze::NextWeek));
        assert_eq!(Snooze::parse("year"), None);
    }
}
