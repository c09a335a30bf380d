//! Routes, shared handler state and cross-cutting middleware.

pub mod account;
pub mod assets;
mod auth;
mod events;
mod forms;
mod franchise;
mod health;
mod imports;
mod intake;
mod jobs;
pub mod metrics;
mod people;
mod prospects;
pub mod ratelimit;

use std::sync::Arc;

use maud::Markup;
use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response, Route,
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::CookieJarManager,
};

use crate::{
    config::{SecretKey, Settings},
    db::Db,
    error::AppError,
    views,
};

pub use auth::CurrentUser;

/// What every handler can reach: one shared [`State`], so that handing it
/// to a request (poem's `Data` clones it per request) is one reference
/// count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl AppState {
    pub fn new(state: State) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

pub struct State {
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

/// A form whose only field is the session's CSRF token (sign out, delete,
/// confirm, …).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// Largest request body any route accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Declares every route once: the router is built from this table, and
/// [`route_paths`] lists it (the tenant-isolation test walks that list, so
/// a route added here is covered without editing the test).
macro_rules! route_table {
    ($( $path:literal => { $($method:ident : $handler:expr),+ $(,)? } ),* $(,)?) => {
        fn route_entries() -> Vec<(&'static str, Vec<&'static str>, poem::endpoint::BoxEndpoint<'static>)> {
            vec![$((
                $path,
                vec![$(stringify!($method)),+],
                poem::RouteMethod::new()$(.$method($handler))+.map_to_response().boxed(),
            )),*]
        }
    };
}

route_table! {
        "/" => { get: auth::home },
        "/f/:slug" => { get: intake::show, post: intake::Submit },
        "/f/:slug/thanks" => { get: intake::thanks },
        "/signin" => { get: auth::sign_in_page, post: auth::sign_in },
        "/signout" => { post: auth::sign_out },
        "/signout/everywhere" => { post: account::sign_out_everywhere },
        "/signup" => { get: account::sign_up_page, post: account::sign_up },
        "/verify" => { get: account::verify },
        "/account" => { get: account::account_page },
        "/account/verify" => { post: account::resend_verification },
        "/account/organization" => { post: account::switch_organization },
        "/password/forgot" => { get: account::forgot_page, post: account::forgot },
        "/password/reset" => { get: account::reset_page, post: account::reset },
        "/dev/mailbox" => { get: account::mailbox },
        "/forms" => { get: forms::index, post: forms::create },
        "/forms/:id/edit" => { get: forms::edit_page, post: forms::edit },
        "/forms/:id/template" => { post: forms::template },
        "/forms/templates/:id/copy" => { post: forms::copy },
        "/locations" => { get: franchise::index, post: franchise::create },
        "/locations/:id" => { get: franchise::show },
        "/people" => { get: people::index },
        "/people/invite" => { post: people::invite },
        "/people/invitations/:id/revoke" => { post: people::revoke },
        "/people/:id/role" => { post: people::change_role },
        "/people/:id/remove" => { post: people::remove },
        "/people/transfer" => { post: people::transfer },
        "/people/audit" => { get: people::audit },
        "/invitations/accept" => { get: people::accept_page, post: people::accept },
        "/prospects" => { get: prospects::index, post: prospects::create },
        "/prospects/export.csv" => { get: prospects::export },
        "/prospects/import" => {
            get: imports::page,
            post: imports::upload.with(poem::middleware::SizeLimit::new(crate::import::MAX_BYTES + 64 * 1024)),
        },
        "/prospects/import/:id" => { get: imports::preview },
        "/prospects/import/:id/confirm" => { post: imports::confirm },
        "/prospects/:id" => { get: prospects::show },
        "/prospects/:id/edit" => { get: prospects::edit_page, post: prospects::edit },
        "/prospects/:id/notes" => { post: prospects::add_note },
        "/events" => { get: events::index, post: events::create },
        "/events/:id" => { get: events::summary },
        "/events/:id/live" => { get: events::live },
        "/events/:id/stream" => { get: events::stream },
        "/events/:id/end" => { post: events::end },
        "/jobs" => { get: jobs::index },
        "/jobs/retry" => { post: jobs::retry },
        "/jobs/kept/:id/retry" => { post: jobs::retry_kept },
        "/ops/jobs" => { get: jobs::operations },
        "/ops/jobs/retry" => { post: jobs::operations_retry },
        "/ops/jobs/discard" => { get: jobs::operations_discard_page, post: jobs::operations_discard },
        "/healthz" => { get: health::healthz },
        "/readyz" => { get: health::readyz },
        "/assets/:name" => { get: assets::asset },
        "/metrics" => { get: metrics::scrape },
}

/// Every route as (path pattern, methods), e.g. `("/prospects/:id", ["get"])`.
pub fn route_paths() -> Vec<(&'static str, Vec<&'static str>)> {
    route_entries()
        .into_iter()
        .map(|(path, methods, _)| (path, methods))
        .collect()
}

pub fn routes(state: AppState) -> impl IntoEndpoint {
    let mut router = Route::new();
    for (path, _, endpoint) in route_entries() {
        // Every request body is small but an import's, which has its own
        // limit: refuse a large declared body before reading any of it.
        if path == "/prospects/import" {
            router = router.at(path, endpoint);
        } else {
            router = router.at(path, endpoint.before(refuse_large_body));
        }
    }
    Frame {
        inner: router.with(CookieJarManager::new()),
        state,
        headers: security_headers(),
    }
}

/// 413 for a request that declares a body over [`BODY_LIMIT`]; bodies are
/// read with a limit where they are read, this refuses the obvious early.
async fn refuse_large_body(req: poem::Request) -> poem::Result<poem::Request> {
    check_declared_length(&req)?;
    Ok(req)
}

fn check_declared_length(req: &poem::Request) -> Result<(), AppError> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) {
        return Err(AppError::TooLarge);
    }
    Ok(())
}

/// What every request goes through, in one layer: the shared state for
/// handlers, a log span (method, path; never the query string, which can
/// carry one-time tokens and search terms), a page for every error and for
/// a panic, the security headers, and the request metrics.
///
/// One layer rather than poem's stack of middleware (`around`, `data`,
/// `SetHeader`, `CatchPanic`, `catch_all_error`): each of those wraps the
/// request's future in another, and the seven together made a 10 KiB
/// future that every request allocated and copied several times over
/// (copying was about 7% of a form submission's CPU in a profile, most of
/// it those futures). A form submission (`POST /f/{slug}`) goes from here
/// straight to its handler, past the router and its layers (see
/// [`intake::is_submit`]).
struct Frame<E> {
    inner: E,
    state: AppState,
    headers: [(HeaderName, HeaderValue); 4],
}

impl<E: Endpoint> Endpoint for Frame<E> {
    type Output = Response;

    async fn call(&self, mut req: poem::Request) -> poem::Result<Response> {
        use futures::FutureExt;
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let route = metrics::route_label(req.uri().path());
        let method = metrics::method_label(req.method());
        let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
        let mut res = async move {
            let answer = std::panic::AssertUnwindSafe(async {
                if intake::is_submit(&req) {
                    return intake::submit(&self.state, req).await.map_err(Into::into);
                }
                req.extensions_mut().insert(self.state.clone());
                self.inner.call(req).await.map(IntoResponse::into_response)
            })
            .catch_unwind()
            .await;
            let res = match answer {
                Ok(Ok(res)) => res,
                Ok(Err(err)) => error_response(err),
                // Logged and answered as any internal error is.
                Err(_) => error_response(
                    AppError::Internal(anyhow::anyhow!("the handler panicked")).into(),
                ),
            };
            tracing::debug!(
                status = res.status().as_u16(),
                ms = started.elapsed().as_millis() as u64,
                "answered"
            );
            res
        }
        .instrument(span)
        .await;
        let headers = res.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        self.state
            .metrics
            .observe(route, method, res.status(), started);
        Ok(res)
    }
}

fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
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
