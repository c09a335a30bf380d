//! Live events: the list, the projector page and the summary.

use maud::{Markup, PreEscaped, html};

use crate::platform::ui::{Nav, datetime, layout, layout_with_head, plural};
use crate::{
    events::queries::{Event, EventSummary},
    forms::queries::Form,
};

pub struct NewEvent<'a> {
    pub name: &'a str,
    pub form_id: Option<i64>,
    pub show_names: bool,
    pub error: Option<&'a str>,
}

/// `GET /events`: the list, and the form to start one for those who may
/// run events (`may_run`).
pub fn index(
    nav: Nav<'_>,
    events: &[Event],
    forms: &[Form],
    new: &NewEvent<'_>,
    may_run: bool,
) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    layout(
        "Events",
        Some(nav),
        html! {
            h1 { "Events" }
            @if events.is_empty() {
                p.empty { "No events yet. Start one before your audience picks up their phones." }
            } @else {
                ul.prospects {
                    @for e in events {
                        li { a href={ "/events/" (e.id) (if e.ends_at.is_none() { "/live" } else { "" }) } {
                            strong.name { (e.name) }
                            span.meta { (datetime(e.starts_at, zone)) @if e.ends_at.is_none() { " · live" } @else { " · ended" } }
                        } }
                    }
                }
            }
            @if may_run { section.card {
                h2 { "Start an event" }
                @if let Some(msg) = new.error { p.alert role="alert" { (msg) } }
                form method="post" action="/events" {
                    input type="hidden" name="_csrf" value=(csrf);
                    div.field {
                        label for="event-name" { "Name" }
                        input #event-name type="text" name="name" value=(new.name) required;
                    }
                    div.field {
                        label for="event-form" { "Form the audience fills in" }
                        select #event-form name="form_id" {
                            @for f in forms {
                                option value=(f.id) selected[new.form_id == Some(f.id)] { (f.title) " (/f/" (f.slug) ")" }
                            }
                        }
                    }
                    div.check {
                        input #event-names type="checkbox" name="show_names" value="yes" checked[new.show_names];
                        label for="event-names" { "Show submitters' first names on the projector" }
                    }
                    button.primary type="submit" { "Start the event" }
                }
            } } @else if events.is_empty() {
                p.meta { "Owners, admins and managers start events." }
            }
        },
    )
}

/// The live counter with its noun ("1 submission", "2 submissions"), as
/// the projector page shows it and as the stream sends it.
pub fn counter(count: i64) -> Markup {
    html! { span.count { (count) } " " (crate::platform::ui::noun(count, "submission", "submissions")) }
}

/// First names for the projector feed, newest last.
pub fn names(names: &[(i64, String)]) -> Markup {
    html! {
        @for (_, name) in names {
            li { (first_name(name)) }
        }
    }
}

/// Only the first name goes on a projector.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or("")
}

/// What the projector shows.
pub struct Projector<'a> {
    pub event: &'a Event,
    pub form_url: &'a str,
    pub qr_svg: &'a str,
    pub count: i64,
    pub recent: &'a [(i64, String)],
    pub branding: &'a crate::forms::branding::Branding,
    /// Why phones could not open `form_url`, if so.
    pub warning: Option<&'a str>,
}

/// "End the event" behind a second, confirming button, without
/// JavaScript: the first button opens the second, which ends the event.
fn end_event(csrf: &str, event: &Event) -> Markup {
    html! {
        details.end-event {
            summary.button.small { "End the event…" }
            form.actions method="post" action={ "/events/" (event.id) "/end" } {
                input type="hidden" name="_csrf" value=(csrf);
                span { "Submissions after now no longer count for this event (the form stays open). End it?" }
                button.small.danger type="submit" { "Yes, end the event" }
            }
        }
    }
}

/// What a projector shows once its event has ended.
pub fn ended() -> Markup {
    html! { p.alert.projector-warning role="status" { "This event has ended." } }
}

/// The live stream's address while the event runs; none once it ended.
fn stream_of(event: &Event) -> Option<String> {
    event
        .ends_at
        .is_none()
        .then(|| format!("/events/{}/stream", event.id))
}

/// Without JavaScript the page refreshes itself; with it, htmx's SSE
/// extension keeps the counter and names current.
fn live_head(branding: &crate::forms::branding::Branding) -> Markup {
    html! { noscript { meta http-equiv="refresh" content="5"; } (branding.head()) }
}

fn live_body(p: &Projector<'_>) -> Markup {
    // An ended event's projector is its result: no code to scan, no stream.
    if p.event.ends_at.is_some() {
        return html! {
            (ended())
            p.counter { (counter(p.count)) }
            @if p.event.show_names { ul.names { (names(p.recent)) } }
        };
    }
    html! {
        // Filled when the event ends while the page is open (the stream's
        // `ended`); the stylesheet then hides the code and the address.
        div #event-ended sse-swap="ended" {}
        @if let Some(warning) = p.warning { p.alert.projector-warning role="alert" { (warning) } }
        div.qr { (PreEscaped(p.qr_svg)) }
        p.form-url { (p.form_url) }
        p.counter { span sse-swap="count" { (counter(p.count)) } }
        @if p.event.show_names {
            ul.names sse-swap="names" hx-swap="beforeend" { (names(p.recent)) }
        }
    }
}

/// `GET /events/{id}/live`: the projector page; "End the event" (behind a
/// second, confirming button) for those who may run events (`may_run`).
pub fn live(nav: Nav<'_>, may_run: bool, p: &Projector<'_>) -> Markup {
    let csrf = nav.csrf.to_string();
    let organization = nav.organization_name.to_string();
    let event = p.event;
    layout_with_head(
        &event.name,
        Some(nav),
        live_head(p.branding),
        html! {
            section.projector hx-ext="sse" sse-connect=[stream_of(event)] sse-close="ended" {
                (p.branding.logo(&organization))
                h1 { (event.name) }
                (live_body(p))
            }
            p { a href={ "/events/" (event.id) "/present" } { "Presenter mode" } " · " a href={ "/events/" (event.id) } { "Summary" } }
            @if may_run && event.ends_at.is_none() { (end_event(&csrf, event)) }
        },
    )
}

/// `GET /events/{id}/present`: the projector alone on the screen (no app
/// navigation), in the organization's branding, the QR code most of the
/// screen's height, the address in large type; a full-screen button
/// (`assets/rally.js`; F11 without JavaScript), the way back, and ending
/// the event behind its confirmation.
pub fn present(nav: Nav<'_>, may_run: bool, p: &Projector<'_>) -> Markup {
    let csrf = nav.csrf.to_string();
    let organization = nav.organization_name.to_string();
    let event = p.event;
    layout_with_head(
        &event.name,
        None,
        live_head(p.branding),
        html! {
            section.projector.presenter hx-ext="sse" sse-connect=[stream_of(event)] sse-close="ended" {
                div.presenter-head {
                    (p.branding.logo(&organization))
                    h1 { (event.name) }
                }
                (live_body(p))
            }
            div.presenter-tools.actions {
                button.small type="button" data-fullscreen hidden { "Full screen" }
                a href={ "/events/" (event.id) "/live" } { "Leave presenter mode" }
                @if may_run && event.ends_at.is_none() { (end_event(&csrf, event)) }
            }
        },
    )
}

/// Submissions per time bucket as a server-rendered SVG bar chart.
pub fn chart(times: &[i64], from: i64, to: i64, zone: crate::platform::time_zones::Tz) -> Markup {
    const BARS: i64 = 30;
    const W: i64 = 600;
    const H: i64 = 160;
    let span = (to - from).max(1);
    let mut buckets = vec![0i64; BARS as usize];
    for t in times {
        let i = ((t - from).clamp(0, span - 1) * BARS / span) as usize;
        buckets[i] += 1;
    }
    let max = buckets.iter().copied().max().unwrap_or(0).max(1);
    let bar_w = W / BARS;
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H + 20) } role="img"
            aria-label={ "Submissions over time, " (times.len()) " in all" } {
            @for (i, n) in buckets.iter().enumerate() {
                @let h = n * H / max;
                rect x=(i as i64 * bar_w + 1) y=(H - h) width=(bar_w - 2) height=(h) fill="#2f5bea" {
                    title { (plural(*n, "submission", "submissions")) }
                }
            }
            line x1="0" y1=(H) x2=(W) y2=(H) stroke="#5d6676";
            text x="0" y=(H + 16) font-size="12" fill="#5d6676" { (datetime(from, zone)) }
            text x=(W) y=(H + 16) font-size="12" fill="#5d6676" text-anchor="end" { (datetime(to, zone)) }
        }
    }
}

pub fn summary(nav: Nav<'_>, event: &Event, s: &EventSummary, until: i64) -> Markup {
    let zone = nav.zone;
    layout(
        &event.name,
        Some(nav),
        html! {
            p { a href="/events" { "← All events" } }
            h1 { (event.name) }
            p.lead {
                (datetime(event.starts_at, zone)) " – "
                @if let Some(end) = event.ends_at { (datetime(end, zone)) } @else { "still live · " a href={ "/events/" (event.id) "/live" } { "projector" } }
            }
            dl.totals {
                div { dt { "Submissions" } dd { (s.submissions) } }
                div { dt { "Prospects" } dd { (s.prospects) } }
                div { dt { "New" } dd { (s.new_prospects) } }
                div { dt { "Returning" } dd { (s.returning_prospects()) } }
                div { dt { "Duplicates merged" } dd { (s.duplicates_merged()) } }
                div { dt { "Held as possible bots" } dd { (s.bots) } }
                div { dt { "Awaiting review" } dd { (s.held_waiting) } }
            }
            @if s.held_waiting > 0 {
                p { a href="/held" { "Review the held submissions" } }
            }
            h2 { "Submissions over time" }
            (chart(&s.times, event.starts_at, until, zone))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names_only() {
        assert_eq!(first_name("  Ana  Lima "), "Ana");
        assert_eq!(first_name(""), "");
    }

    #[test]
    fn chart_buckets_every_submission() {
        let times: Vec<i64> = (0..90).map(|i| i * 1000).collect();
        let svg = chart(&times, 0, 90_000, crate::platform::ui::UTC).into_string();
        assert_eq!(svg.matches("<rect").count(), 30);
        // 90 submissions over 30 equal buckets: 3 in each, all full height.
        assert_eq!(svg.matches("<title>3 submissions</title>").count(), 30);
        assert!(svg.contains("90 in all"));
    }
}
