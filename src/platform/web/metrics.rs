//! `GET /metrics` in Prometheus text format: HTTP traffic by route and
//! status with a latency histogram, intake outcomes, and the job queues as
//! the database sees them (so every process reports the same queue state).

use std::{fmt::Write as _, time::Instant};

use poem::{Request, Response, handler, http::StatusCode, web::Data};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::app::AppState;

/// Why a submission did not become a job.
#[derive(Debug, Clone, Copy)]
pub enum Rejected {
    Invalid,
    Honeypot,
    TooFast,
    Overload,
    RateLimit,
}

impl Rejected {
    fn label(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Honeypot => "bot_honeypot",
            Self::TooFast => "bot_too_fast",
            Self::Overload => "overload",
            Self::RateLimit => "rate_limit",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    accepted: IntCounter,
    rejected: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "rally_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "rally_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let accepted = IntCounter::new(
            "rally_submissions_accepted_total",
            "Form submissions durably queued (repeats of a key included)",
        )
        .expect("valid metric");
        let rejected = IntCounterVec::new(
            Opts::new(
                "rally_submissions_rejected_total",
                "Form submissions turned away, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(accepted.clone()),
            Box::new(rejected.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        // Every reason shows from the start, at zero.
        for reason in [
            Rejected::Invalid,
            Rejected::Honeypot,
            Rejected::TooFast,
            Rejected::Overload,
            Rejected::RateLimit,
        ] {
            rejected.with_label_values(&[reason.label()]);
        }
        Self {
            registry,
            requests,
            latency,
            accepted,
            rejected,
        }
    }

    pub fn accepted(&self) {
        self.accepted.inc();
    }

    pub fn rejected(&self, reason: Rejected) {
        self.rejected.with_label_values(&[reason.label()]).inc();
    }

    /// Counts and times one answered request.
    pub(crate) fn observe(&self, route: &str, method: &str, status: StatusCode, started: Instant) {
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label of `POST /f/{slug}`, which `Frame` answers without looking
/// the route up (the same label [`route_label`] gives).
pub const SUBMIT_ROUTE: &str = "/f/{slug}";

/// One route of the table, ready to match a path against.
struct RoutePattern {
    /// Each segment: `Some(literal)`, or `None` for a parameter.
    segments: Vec<Option<&'static str>>,
    /// Which segments are literal, the first one the highest bit: of two
    /// patterns matching a path, the one with the literal earlier wins, as
    /// in the router (`/prospects/import` before `/prospects/:id`).
    literal_bits: u64,
    /// The pattern with `{name}` for `:name`, e.g. `/prospects/{id}`.
    label: String,
}

/// The route table's patterns, built once.
fn patterns() -> &'static [RoutePattern] {
    static PATTERNS: std::sync::OnceLock<Vec<RoutePattern>> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        crate::app::routes::ROUTE_PATTERNS
            .iter()
            .map(|pattern| {
                let segments: Vec<Option<&'static str>> = pattern
                    .strip_prefix('/')
                    .unwrap_or(pattern)
                    .split('/')
                    .map(|s| (!s.starts_with(':')).then_some(s))
                    .collect();
                let literal_bits = segments
                    .iter()
                    .take(64)
                    .enumerate()
                    .filter(|(_, s)| s.is_some())
                    .fold(0u64, |bits, (i, _)| bits | (1 << (63 - i)));
                let label = pattern
                    .split('/')
                    .map(|s| match s.strip_prefix(':') {
                        Some(name) => format!("{{{name}}}"),
                        None => s.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                RoutePattern {
                    segments,
                    literal_bits,
                    label,
                }
            })
            .collect()
    })
}

/// The label of a request path: the route-table pattern that matches it
/// (`/prospects/12/edit` → `/prospects/{id}/edit`), or `other` for a path
/// no route matches, so that labels stay as few as the routes whatever
/// addresses clients invent. Allocates nothing.
pub fn route_label(path: &str) -> &'static str {
    let path = path.strip_prefix('/').unwrap_or(path);
    let count = path.split('/').count();
    let mut best: Option<&'static RoutePattern> = None;
    for pattern in patterns() {
        if pattern.segments.len() != count
            || best.is_some_and(|b| b.literal_bits >= pattern.literal_bits)
        {
            continue;
        }
        let matches = pattern
            .segments
            .iter()
            .zip(path.split('/'))
            .all(|(want, got)| match want {
                Some(literal) => *literal == got,
                None => !got.is_empty(),
            });
        if matches {
            best = Some(pattern);
        }
    }
    best.map_or("other", |p| p.label.as_str())
}

/// A method label without allocating: the methods Rally answers, or "other".
pub(crate) fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[handler]
pub async fn scrape(req: &Request, state: Data<&AppState>) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let expected = format!("Bearer {}", token.0);
        if req.header("authorization") != Some(expected.as_str()) {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Bearer")
                .finish();
        }
    }
    let mut body = Vec::new();
    if let Err(err) = TextEncoder::new().encode(&state.metrics.registry.gather(), &mut body) {
        tracing::error!(error = %err, "encoding metrics");
    }
    let mut text = String::from_utf8(body).unwrap_or_default();
    let _ = writeln!(
        text,
        "# HELP rally_intake_waiting Submissions waiting for the intake writer\n\
         # TYPE rally_intake_waiting gauge\nrally_intake_waiting {}",
        state.intake.waiting()
    );
    let (hashed, busy) = state.hasher.counts();
    let _ = writeln!(
        text,
        "# HELP rally_password_hashes_total Password hashes and checks computed for requests, and requests refused because hashing was busy\n\
         # TYPE rally_password_hashes_total counter\n\
         rally_password_hashes_total{{outcome=\"computed\"}} {hashed}\n\
         rally_password_hashes_total{{outcome=\"busy\"}} {busy}"
    );
    // The stall watchdog is the last resort behind wake-ups and polling:
    // every registered queue has its series, zero unless it fired.
    let restarts = ::jobs::worker_restarts();
    let _ = writeln!(
        text,
        "# HELP rally_job_worker_restarts_total Workers restarted by the stall watchdog in this process\n\
         # TYPE rally_job_worker_restarts_total counter"
    );
    for kind in crate::app::work::queues() {
        let n = restarts
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            text,
            "rally_job_worker_restarts_total{{queue=\"{kind}\"}} {n}"
        );
    }
    // Queue state comes from the database (the read pool), shared by every
    // process; a failing query leaves these out rather than failing the scrape.
    match state.monitor.stats().await {
        Ok(mut stats) => {
            // Every registered queue has its series, from its first scrape.
            for kind in crate::app::work::queues() {
                if !stats.iter().any(|s| s.queue == kind) {
                    stats.push(::jobs::QueueStats {
                        queue: kind.to_string(),
                        ..Default::default()
                    });
                }
            }
            let _ = writeln!(
                text,
                "# HELP rally_queue_jobs Jobs by queue and state\n# TYPE rally_queue_jobs gauge"
            );
            for s in &stats {
                for (state, n) in [
                    ("pending", s.pending),
                    ("running", s.running),
                    ("retrying", s.retrying),
                    ("done", s.done),
                    ("dead", s.dead),
                ] {
                    let _ = writeln!(
                        text,
                        "rally_queue_jobs{{queue=\"{}\",state=\"{state}\"}} {n}",
                        s.queue
                    );
                }
            }
            let _ = writeln!(
                text,
                "# HELP rally_queue_oldest_pending_seconds Age of the oldest job waiting to run\n\
                 # TYPE rally_queue_oldest_pending_seconds gauge"
            );
            for s in &stats {
                let _ = writeln!(
                    text,
                    "rally_queue_oldest_pending_seconds{{queue=\"{}\"}} {}",
                    s.queue,
                    s.oldest_pending_secs.unwrap_or(0)
                );
            }
        }
        Err(err) => tracing::warn!(error = %err, "queue stats unavailable for metrics"),
    }
    match crate::platform::db::scalar(
        &state.db.read,
        "SELECT COUNT(*) FROM timeline_entries WHERE kind = 'form_submission'",
    )
    .await
    {
        Ok(n) => {
            let _ = writeln!(
                text,
                "# HELP rally_submissions_processed_total Submissions turned into prospect timeline entries\n\
                 # TYPE rally_submissions_processed_total counter\nrally_submissions_processed_total {n}"
            );
        }
        Err(err) => tracing::warn!(error = %err, "processed count unavailable for metrics"),
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn routes_have_few_labels() {
        assert_eq!(route_label("/f/demo"), "/f/{slug}");
        assert_eq!(route_label("/f/demo"), super::SUBMIT_ROUTE);
        assert_eq!(route_label("/f/demo/thanks"), "/f/{slug}/thanks");
        assert_eq!(route_label("/prospects/12"), "/prospects/{id}");
        assert_eq!(route_label("/prospects/12/edit"), "/prospects/{id}/edit");
        assert_eq!(route_label("/prospects/import"), "/prospects/import");
        assert_eq!(route_label("/prospects/import/3"), "/prospects/import/{id}");
        assert_eq!(
            route_label("/prospects/export.csv"),
            "/prospects/export.csv"
        );
        assert_eq!(
            route_label("/forms/templates/4/copy"),
            "/forms/templates/{id}/copy"
        );
        assert_eq!(route_label("/people/invite"), "/people/invite");
        assert_eq!(route_label("/people/5/role"), "/people/{id}/role");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
        assert_eq!(route_label("/prospects/"), "other");
        assert_eq!(route_label("/prospects/1/2/3/4"), "other");
    }

    #[test]
    fn every_route_of_the_table_is_its_own_label() {
        for pattern in crate::app::routes::ROUTE_PATTERNS {
            let path: String = pattern
                .split('/')
                .map(|s| if s.starts_with(':') { "7" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let label = pattern
                .split('/')
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(route_label(&path), label, "{path}");
        }
    }
}
