//! Time zones: each person and organization has one (an IANA name, read
//! with chrono-tz's copy of the database). A person without one of their
//! own sees times in their organization's zone, and that defaults to UTC.
//! Pages show every time in the viewer's zone, with the zone named
//! (`views::datetime`).

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
pub use chrono_tz::Tz;

/// The longest zone name accepted (the database's longest is 32).
const MAX_NAME: usize = 64;

/// The zone named `name` (trimmed), if the IANA database has it.
pub fn parse(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    name.parse().ok()
}

/// A stored zone name, or UTC for one this build does not know (a zone
/// removed from a later database).
pub fn resolve(name: &str) -> Tz {
    parse(name).unwrap_or(Tz::UTC)
}

/// Every zone, for the account page's choice.
pub fn all() -> impl Iterator<Item = Tz> {
    chrono_tz::TZ_VARIANTS.iter().copied()
}

/// `ms` (Unix milliseconds) as a time in `zone`.
pub fn local(ms: i64, zone: Tz) -> chrono::DateTime<Tz> {
    zone.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| zone.timestamp_millis_opt(0).unwrap())
}

/// The instant (Unix ms) a local date and time happen in `zone`: the
/// earlier of two (clocks going back), or the first minute after a gap
/// (clocks going forward, some zones at midnight).
pub fn instant(zone: Tz, date: NaiveDate, time: NaiveTime) -> i64 {
    let mut at = date.and_time(time);
    for _ in 0..4 {
        if let Some(t) = zone.from_local_datetime(&at).earliest() {
            return t.timestamp_millis();
        }
        at += chrono::Duration::minutes(30);
    }
    zone.from_utc_datetime(&date.and_time(time))
        .timestamp_millis()
}

/// The start of the local day that holds `ms`, in Unix ms.
pub fn start_of_day(ms: i64, zone: Tz) -> i64 {
    instant(zone, local(ms, zone).date_naive(), NaiveTime::MIN)
}

/// The start of the local day after the one that holds `ms`.
pub fn start_of_next_day(ms: i64, zone: Tz) -> i64 {
    let next = local(ms, zone)
        .date_naive()
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    instant(zone, next, NaiveTime::MIN)
}

/// The start of the local week (Monday) that holds `ms`, in Unix ms.
pub fn start_of_week(ms: i64, zone: Tz) -> i64 {
    let date = local(ms, zone).date_naive();
    let monday = date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()));
    instant(zone, monday, NaiveTime::MIN)
}

/// The Monday before the week that holds `ms`.
pub fn start_of_previous_week(ms: i64, zone: Tz) -> i64 {
    let this = local(start_of_week(ms, zone), zone).date_naive();
    instant(zone, this - chrono::Duration::days(7), NaiveTime::MIN)
}

/// Gives a new person and their new organization `zone` (the browser's,
/// at sign-up).
pub async fn set_on_sign_up(
    tx: &mut crate::platform::db::Tx,
    user_id: i64,
    organization_id: i64,
    zone: Tz,
) -> sqlx::Result<()> {
    crate::on_tx!(tx, c => sqlx::query("UPDATE users SET time_zone = $2 WHERE id = $1")
        .bind(user_id)
        .bind(zone.name())
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    crate::on_tx!(tx, c => sqlx::query("UPDATE organizations SET time_zone = $2 WHERE id = $1")
        .bind(organization_id)
        .bind(zone.name())
        .execute(&mut **c)
        .await
        .map(|_| ()))
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
    fn names_are_checked() {
        assert_eq!(parse(" Europe/Paris "), Some(Tz::Europe__Paris));
        assert_eq!(parse("UTC"), Some(Tz::UTC));
        assert_eq!(parse("Mars/Olympus"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(&"A".repeat(100)), None);
        assert_eq!(resolve("Nowhere"), Tz::UTC);
    }

    #[test]
    fn days_and_weeks_are_local() {
        let auckland = Tz::Pacific__Auckland;
        // 2026-06-15 20:00 UTC is Tuesday 16 June 08:00 in Auckland.
        let at = ms("2026-06-15T20:00:00Z");
        assert_eq!(start_of_day(at, auckland), ms("2026-06-15T12:00:00Z"));
        assert_eq!(start_of_next_day(at, auckland), ms("2026-06-16T12:00:00Z"));
        assert_eq!(start_of_week(at, auckland), ms("2026-06-14T12:00:00Z"));
        assert_eq!(
            start_of_previous_week(at, auckland),
            ms("2026-06-07T12:00:00Z")
        );
        // Clocks going forward at midnight (Santiago, 2026-09-06): the day
        // starts at 01:00.
        let santiago = Tz::America__Santiago;
        let day = start_of_day(ms("2026-09-06T12:00:00Z"), santiago);
        assert_eq!(local(day, santiago).format("%H:%M").to_string(), "01:00");
    }
}
