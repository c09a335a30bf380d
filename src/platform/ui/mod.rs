//! maud views: the page layout, shared components and the pages.
//! Every page works without JavaScript; htmx, when present, swaps fragments.

use maud::{DOCTYPE, Markup, html};

pub use crate::platform::web::assets::{
    css_path, favicon_path, htmx_path, rally_js_path, sse_js_path,
};

/// htmx settings, in a meta tag because the Content-Security-Policy forbids
/// inline script: swap 422 (form re-rendered with errors) and 503 (busy: the
/// form back, resent by rally.js) responses, and keep htmx from injecting an
/// inline style element.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"503","swap":true},{"code":"[45]..","swap":false,"error":true}]}"#;

/// Who is signed in, for the navigation bar.
pub struct Nav<'a> {
    pub user_name: &'a str,
    pub organization_name: &'a str,
    pub csrf: &'a str,
    /// Owners and admins get a link to the jobs dashboard.
    pub can_see_jobs: bool,
    /// The viewer's time zone: every time on the page is shown in it.
    pub zone: crate::platform::time_zones::Tz,
    /// Notifications not read yet, counted in the header.
    pub unread: i64,
    /// A franchise HQ's managers and above get a link to its locations.
    pub can_see_locations: bool,
}

pub fn layout(title: &str, nav: Option<Nav<'_>>, body: Markup) -> Markup {
    layout_with_head(title, nav, html! {}, body)
}

/// [`layout`] with extra elements in `<head>`.
pub fn layout_with_head(title: &str, nav: Option<Nav<'_>>, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · Rally" }
                // Signed-in pages only: with an icon linked, Chromium's Back to
                // the public form became a fresh navigation, not the history
                // restore the kiosk test (`e2e::back_to_the_public_form…`) checks.
                @if nav.is_some() { link rel="icon" type="image/svg+xml" href=(favicon_path()); }
                link rel="stylesheet" href=(css_path());
                script src=(htmx_path()) defer {}
                script src=(rally_js_path()) defer {}
                script src=(sse_js_path()) defer {}
                (head)
            }
            body {
                @if let Some(nav) = nav {
                    header.topbar {
                        a.brand href="/" { "Rally" }
                        span.org { (nav.organization_name) }
                        nav {
                            a href="/" { "Home" }
                            a href="/prospects" { "Prospects" }
                            (crate::notifications::views::header_link(nav.unread))
                            a href="/pipeline" { "Pipeline" }
                            a href="/events" { "Events" }
                            a href="/forms" { "Forms" }
                            a href="/people" { "People" }
                            @if nav.can_see_locations { a href="/locations" { "Locations" } }
                            @if nav.can_see_jobs { a href="/held" { "Held" } }
                            @if nav.can_see_jobs { a href="/jobs" { "Jobs" } }
                            a href="/account" { "Account" }
                            form.inline method="post" action="/signout" {
                                input type="hidden" name="_csrf" value=(nav.csrf);
                                button.link type="submit" title={ "Signed in as " (nav.user_name) } { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The message for `field` among a form's problems, if any.
pub(crate) fn problem<'a>(
    problems: &'a [(&'static str, &'static str)],
    field: &str,
) -> Option<&'a str> {
    problems.iter().find(|(f, _)| *f == field).map(|(_, m)| *m)
}

/// A labelled input with its message, the markup every form shares:
/// `(required, autocomplete)` as the second-to-last argument.
pub(crate) fn labelled_input(
    id: &str,
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    (required, autocomplete): (bool, &str),
    message: Option<&str>,
) -> Markup {
    let error_id = format!("{id}-error");
    html! {
        div.field.invalid[message.is_some()] {
            label for=(id) { (label) @if required { span.req aria-hidden="true" { " *" } } }
            input id=(id) name=(name) type=(kind) value=(value) required[required]
                autocomplete=(autocomplete) aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| error_id.as_str())];
            @if let Some(msg) = message { p.error id=(error_id) { (msg) } }
        }
    }
}

/// A page for a request that cannot be served, with a way back.
pub fn error_page(title: &str, message: &str) -> Markup {
    layout(
        title,
        None,
        html! {
            section.card.narrow {
                h1 { (title) }
                p { (message) }
                p { a href="/" { "Go to the start page" } }
            }
        },
    )
}

/// A count with its noun: `plural(1, "day", "days")` is "1 day",
/// `plural(2, "day", "days")` "2 days", `plural(0, …)` "0 days".
pub fn plural(count: i64, one: &str, many: &str) -> String {
    format!("{count} {}", noun(count, one, many))
}

/// The noun alone, for a count shown apart (in its own element):
/// `noun(1, "row", "rows")` is "row", any other count "rows".
pub fn noun<'a>(count: i64, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

/// For pages that show times without a viewer's zone at hand.
pub const UTC: crate::platform::time_zones::Tz = crate::platform::time_zones::Tz::UTC;

/// A timestamp in ms in the viewer's `zone`, the zone named:
/// "2026-11-26 09:30 · Europe/Paris".
pub fn datetime(ms: i64, zone: crate::platform::time_zones::Tz) -> String {
    crate::platform::time_zones::local(ms, zone)
        .format("%Y-%m-%d %H:%M · ")
        .to_string()
        + zone.name()
}

/// A timestamp in ms as "2026-11-26 13:45 UTC" (the CSV export's format).
pub fn utc_datetime(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "—".into())
}

/// Characters a link built from data may carry as they are: RFC 3986's
/// unreserved ones (and `@` in an address). Everything else, `?`, `&`,
/// `=`, `%`, `#`, spaces and non-ASCII letters included, is
/// percent-encoded, so no value can add headers, parameters or a fragment
/// to the link it is put in.
const LINK_DATA: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// A `mailto:` link to exactly `email`: `victim?cc=spy@evil.test` becomes
/// `mailto:victim%3Fcc%3Dspy@evil.test`, one recipient and no copies.
pub fn mailto_href(email: &str) -> String {
    format!(
        "mailto:{}",
        percent_encoding::utf8_percent_encode(email, LINK_DATA)
    )
}

/// A `tel:` link for a phone number as typed: its digits, with a leading
/// `+` kept, and an extension as `;ext=` (RFC 3966: `x34` → `;ext=34`);
/// nothing else of the value reaches the link.
pub fn tel_href(phone: &str) -> String {
    let trimmed = phone.trim_start();
    let plus = if trimmed.starts_with('+') { "+" } else { "" };
    let (number, ext) = match crate::platform::text::Phone::split_extension(trimmed) {
        Some((number, ext)) => (number, format!(";ext={ext}")),
        None => (trimmed, String::new()),
    };
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("tel:{plus}{digits}{ext}")
}
