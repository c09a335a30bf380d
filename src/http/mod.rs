//! Routes, shared handler state and cross-cutting middleware.

pub mod account;
pub mod assets;
mod auth;
mod events;
mod health;
mod intake;
mod jobs;
pub mod metrics;
mod people;
mod prospects;
pub mod ratelimit;

use std::sync::Arc;

use maud::Markup;
use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Response, Route, get,
    http::StatusCode,
    middleware::{CatchPanic, CookieJarManager, SetHeader, Tracing},
    post,
};

use crate::{
    config::{SecretKey, Settings},
    db::Db,
    error::AppError,
    views,
};

pub use auth::CurrentUser;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// The job queue, on the write pool (intake enqueues through it).
    pub queue: ::jobs::Queue,
    /// The same queue read through the read pool: counts for metrics, the
    /// dashboard and the overload check never wait behind writers.
    pub monitor: ::jobs::Queue,
    pub intake: crate::intake::Intake,
    pub forms: crate::db::FormCache,
    pub limits: Arc<crate::intake::Limits>,
    pub rate_limits: Arc<ratelimit::RateLimits>,
    /// Sign-in and password-reset attempts, per account and per address.
    pub signin_throttle: Arc<ratelimit::Throttle>,
    pub mailer: crate::email::Mailer,
    pub metrics: Arc<metrics::Metrics>,
    /// Cancelled when the app shuts down: long-lived responses end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub secret: SecretKey,
    pub settings: Arc<Settings>,
}

/// Largest request body any route accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn routes(state: AppState) -> impl IntoEndpoint {
    Route::new()
        .at("/", get(auth::home))
        .at("/f/:slug", get(intake::show).post(intake::submit))
        .at("/f/:slug/thanks", get(intake::thanks))
        .at("/signin", get(auth::sign_in_page).post(auth::sign_in))
        .at("/signout", post(auth::sign_out))
        .at("/signout/everywhere", post(account::sign_out_everywhere))
        .at("/signup", get(account::sign_up_page).post(account::sign_up))
        .at("/verify", get(account::verify))
        .at("/account", get(account::account_page))
        .at("/account/verify", post(account::resend_verification))
        .at(
            "/password/forgot",
            get(account::forgot_page).post(account::forgot),
        )
        .at(
            "/password/reset",
            get(account::reset_page).post(account::reset),
        )
        .at("/dev/mailbox", get(account::mailbox))
        .at("/people", get(people::index))
        .at("/people/invite", post(people::invite))
        .at("/people/invitations/:id/revoke", post(people::revoke))
        .at("/people/:id/role", post(people::change_role))
        .at("/people/:id/remove", post(people::remove))
        .at("/people/transfer", post(people::transfer))
        .at("/people/audit", get(people::audit))
        .at(
            "/invitations/accept",
            get(people::accept_page).post(people::accept),
        )
        .at("/prospects", get(prospects::index).post(prospects::create))
        .at("/prospects/export.csv", get(prospects::export))
        .at("/prospects/:id", get(prospects::show))
        .at(
            "/prospects/:id/edit",
            get(prospects::edit_page).post(prospects::edit),
        )
        .at("/prospects/:id/notes", post(prospects::add_note))
        .at("/events", get(events::index).post(events::create))
        .at("/events/:id", get(events::summary))
        .at("/events/:id/live", get(events::live))
        .at("/events/:id/stream", get(events::stream))
        .at("/events/:id/end", post(events::end))
        .at("/jobs", get(jobs::index))
        .at("/jobs/dead/retry", post(jobs::retry))
        .at("/jobs/dead/discard", post(jobs::discard))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/assets/:name", get(assets::asset))
        .at("/metrics", get(metrics::scrape))
        .around(metrics::track)
        .data(state)
        .with(CookieJarManager::new())
        .with(security_headers())
        .with(CatchPanic::new())
        .with(Tracing)
        .catch_all_error(|err: poem::Error| async move { error_response(err) })
}

fn security_headers() -> SetHeader {
    SetHeader::new()
        .overriding(
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        .overriding("x-content-type-options", "nosniff")
        .overriding("referrer-policy", "same-origin")
        .overriding("x-frame-options", "DENY")
}

/// Poem's own errors (no route, wrong method, bad path parameter) get the
/// same kind of page as ours, for their status.
fn error_response(err: poem::Error) -> Response {
    // Our own errors render themselves; redirects (such as "sign in first")
    // carry their own response.
    let status = err.status();
    if err.is::<AppError>() || status.is_redirection() {
        return err.into_response();
    }
    let (title, message) = match status {
        StatusCode::NOT_FOUND => ("Not found", "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Not allowed",
            "This address does not accept that kind of request.",
        ),
        s if s.is_client_error() => ("Bad request", "The request could not be understood."),
        _ => {
            tracing::error!(error = %err, "unhandled error");
            ("Something went wrong", "Please try again in a moment.")
        }
    };
    html_response(status, views::error_page(title, message))
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// True when htmx made the request (then a fragment answers, not a page).
pub fn is_htmx(req: &poem::Request) -> bool {
    req.header("hx-request").is_some_and(|v| v == "true")
}

pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .finish()
}

/// Makes an endpoint for tests and `startup` alike.
pub fn endpoint(state: AppState) -> impl Endpoint {
    routes(state).into_endpoint()
}
