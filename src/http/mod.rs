//! Routes, shared handler state and cross-cutting middleware.

pub mod account;
mod auth;
mod events;
mod forms;
mod franchise;
mod held;
mod imports;
mod intake;
mod jobs;
mod people;
mod prospects;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use maud::Markup;
use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response, Route,
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::CookieJarManager,
};

use crate::{
    platform::{
        config::{SecretKey, Settings},
        db::Db,
        error::AppError,
        web::{assets, csrf, health, input, metrics, ratelimit},
    },
    roles::{self, Access, Action},
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
    pub forms: crate::platform::db::FormCache,
    pub limits: Arc<crate::intake::Limits>,
    pub rate_limits: Arc<ratelimit::RateLimits>,
    /// Sign-in and password-reset attempts, per account and per address.
    pub signin_throttle: Arc<ratelimit::Throttle>,
    /// Sign-ups, per email address and per client address.
    pub signup_throttle: Arc<ratelimit::Throttle>,
    /// Password hashing for requests, with its bounded queue.
    pub hasher: Arc<crate::platform::security::Hasher>,
    pub mailer: crate::platform::mail::Mailer,
    pub metrics: Arc<metrics::Metrics>,
    /// Cancelled when the app shuts down: long-lived responses end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub secret: SecretKey,
    pub settings: Arc<Settings>,
}

/// Largest request body a route accepts, in bytes, whether the request
/// declares its length or sends it chunked (see [`body_limit`]).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The CSV import's larger limit: the file plus the form around it.
pub const IMPORT_BODY_LIMIT: usize = crate::import::MAX_BYTES + 64 * 1024;

/// The body limit of the route at `path` (a request path): [`BODY_LIMIT`],
/// or a route's own larger one. The one place routes' limits are declared;
/// `Frame` enforces it for every request.
pub fn body_limit(path: &str) -> usize {
    match path {
        "/prospects/import" => IMPORT_BODY_LIMIT,
        _ => BODY_LIMIT,
    }
}

/// Declares every route once: the router is built from this table, and
/// [`route_paths`] lists it (the tenant-isolation test walks that list, so
/// a route added here is covered without editing the test).
macro_rules! route_table {
    ($( $path:literal => { $($method:ident : $handler:expr),+ $(,)? } ),* $(,)?) => {
        /// Every route's path pattern, in the table's order (metrics label
        /// requests by them: `metrics::route_label`).
        pub const ROUTE_PATTERNS: &[&str] = &[$($path),*];

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
            post: imports::upload,
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
        "/held" => { get: held::index },
        "/held/:id/release" => { post: held::release },
        "/held/:id/discard" => { get: held::confirm_discard, post: held::discard },
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
    for (path, methods, endpoint) in route_entries() {
        // Each method's need from the role table (`crate::roles::ROUTES`).
        let rules: Vec<(&'static str, Need)> = methods
            .iter()
            .filter_map(|method| match roles::access(method, path) {
                Some(Access::SignedIn(action)) => Some((*method, Need::Action(action))),
                Some(Access::Operator) => Some((*method, Need::Operator)),
                Some(Access::Public) | None => None,
            })
            .collect();
        if rules.is_empty() {
            router = router.at(path, endpoint);
        } else {
            router = router.at(
                path,
                Guard {
                    inner: endpoint,
                    rules,
                },
            );
        }
    }
    let mut headers = security_headers().to_vec();
    if state.settings.production {
        // Production is served over https only (fly.toml forces it): tell
        // browsers never to try plain http for a year.
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    Frame {
        inner: router.with(CookieJarManager::new()),
        state,
        headers,
    }
}

/// What a signed-in route asks of the person calling it.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// A role that allows the action (`roles::check`).
    Action(Action),
    /// One of the deployment's operators (`crate::operators`); anyone
    /// else is told there is nothing here (404), whatever they send.
    Operator,
}

/// Enforces the role table for one route: before the handler runs, the
/// signed-in user (else a redirect to sign in) must be an operator where
/// the route is for operators (else 404), must send the session's CSRF
/// token with any request that can change something (else 403, see
/// [`csrf`]), and must be allowed the route's action (else 403, or 404
/// where the organization has nothing of the kind). The user is left in
/// the request for the handler's [`CurrentUser`], so the session is read
/// once.
struct Guard<E> {
    inner: E,
    /// (method as in the route table, need).
    rules: Vec<(&'static str, Need)>,
}

impl<E: Endpoint> Endpoint for Guard<E> {
    type Output = E::Output;

    async fn call(&self, mut req: poem::Request) -> poem::Result<E::Output> {
        let method = match *req.method() {
            poem::http::Method::HEAD => "get",
            ref other => other.as_str(),
        };
        let need = self
            .rules
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, need)| *need);
        if let Some(need) = need {
            let user = {
                use poem::FromRequest;
                CurrentUser::from_request_without_body(&req).await?
            };
            let action = match need {
                Need::Action(action) => action,
                Need::Operator => {
                    let state = req
                        .data::<AppState>()
                        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))?;
                    let operator = crate::operators::is_operator(
                        &state.db.read,
                        &state.settings,
                        user.user.user_id,
                    )
                    .await
                    .map_err(AppError::from)?;
                    if !operator {
                        return Err(AppError::NotFound.into());
                    }
                    Action::UseAccount
                }
            };
            // Before the role: a forged request learns nothing else.
            if csrf::is_unsafe(req.method()) {
                csrf::verify(&mut req, &user).await?;
            }
            if let Err(refusal) = roles::check(user.user.role, user.user.place(), action) {
                return Err(match refusal {
                    roles::Refusal::NotHere => AppError::NotFound,
                    roles::Refusal::RoleTooLow(_) => AppError::Forbidden(refusal.message()),
                }
                .into());
            }
            req.extensions_mut().insert(user);
        }
        self.inner.call(req).await
    }
}

/// 413 for a request that declares a body over [`BODY_LIMIT`].
fn check_declared_length(req: &poem::Request) -> Result<(), AppError> {
    check_declared_length_within(req, BODY_LIMIT)
}

/// 413 for a request that declares a body over `limit`.
fn check_declared_length_within(req: &poem::Request, limit: usize) -> Result<(), AppError> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(AppError::TooLarge);
    }
    Ok(())
}

/// Makes the request's body end in an error once more than `limit` bytes
/// arrive (a declared length or chunks alike), so no extractor buffers more;
/// `hit` tells [`Frame`] to answer 413 whatever the handler made of the
/// error.
fn limit_body(req: &mut poem::Request, limit: usize, hit: Arc<AtomicBool>) {
    use http_body_util::BodyExt;
    type Boxed = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;
    let body: Boxed = req.take_body().into();
    let limited = http_body_util::Limited::new(body, limit).map_err(move |err| {
        if err.is::<http_body_util::LengthLimitError>() {
            hit.store(true, Ordering::Relaxed);
        }
        std::io::Error::other(err)
    });
    req.set_body(poem::Body::from(Boxed::new(limited)));
}

/// Login CSRF and every other cross-site POST: true when a browser says
/// the request comes from another site. `Sec-Fetch-Site` (every current
/// browser sends it) must be `same-origin` (or `none`: typed by the user);
/// without it, an `Origin` must name this host (`null`, sent by sandboxed
/// frames, is refused). A request with neither header does not come from
/// a current browser, so no visitor's cookies can be riding on it (curl,
/// scripts, the tests): it passes. Safe methods (GET, HEAD, OPTIONS)
/// change nothing and always pass.
fn is_cross_site(req: &poem::Request, public_url: Option<&str>) -> bool {
    use poem::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if let Some(site) = req.header("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = req.header("origin") else {
        return false;
    };
    // With RALLY_PUBLIC_URL, the one origin Rally's pages have: scheme,
    // host and port must all match (http://rally.example is not
    // https://rally.example). Without it (development), the request's own
    // host.
    if let Some(public) = public_url {
        return !origin.eq_ignore_ascii_case(public.trim_end_matches('/'));
    }
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let Some(origin_host) = origin_host else {
        return true;
    };
    let own_host = req
        .header("host")
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    !own_host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
}

/// What every request goes through, in one layer: the shared state for
/// handlers, a log span (method, path; never the query string, which can
/// carry one-time tokens and search terms), a page for every error and for
/// a panic, the security headers (HSTS in production, `Cache-Control:
/// no-store` unless a route set its own), and the request metrics. Before
/// the router: cross-site POSTs are refused with 403 ([`is_cross_site`]),
/// and the body is limited to the route's [`body_limit`] — a declared
/// length past it is refused at once, a chunked body ends in an error past
/// it, and either way the answer is 413.
///
/// One layer rather than poem's stack of middleware (`around`, `data`,
/// `SetHeader`, `CatchPanic`, `catch_all_error`): each of those wraps the
/// request's future in another, and the seven together made a 10 KiB
/// future that every request allocated and copied several times over
/// (copying was about 7% of a form submission's CPU in a profile, most of
/// it those futures). A form submission (`POST /f/{slug}`) goes from here
/// straight to its handler, past the router, its layers and the cross-site
/// check (the public form is for any page to send; its handler limits its
/// body) (see [`intake::is_submit`]).
struct Frame<E> {
    inner: E,
    state: AppState,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl<E: Endpoint> Endpoint for Frame<E> {
    type Output = Response;

    async fn call(&self, mut req: poem::Request) -> poem::Result<Response> {
        use futures::FutureExt;
        use tracing::Instrument;
        let started = std::time::Instant::now();
        // The public form's submissions skip the router, and the label
        // search with it.
        let route = if intake::is_submit(&req) {
            metrics::SUBMIT_ROUTE
        } else {
            metrics::route_label(req.uri().path())
        };
        let method = metrics::method_label(req.method());
        let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
        let mut res = async move {
            let answer = std::panic::AssertUnwindSafe(async {
                if intake::is_submit(&req) {
                    return intake::submit(&self.state, req).await.map_err(Into::into);
                }
                if is_cross_site(&req, self.state.settings.public_url.as_deref()) {
                    tracing::warn!("cross-site request refused");
                    return Err(AppError::Forbidden(
                        "This request came from another site. Open the page on Rally and try again.",
                    )
                    .into());
                }
                let limit = body_limit(req.uri().path());
                check_declared_length_within(&req, limit)?;
                let too_large = Arc::new(AtomicBool::new(false));
                limit_body(&mut req, limit, too_large.clone());
                // Control characters, broken escapes and invalid UTF-8 in
                // the path, query or form body stop here (see `input`).
                let mut req = match input::screen(req).await {
                    Ok(req) => req,
                    // The body was cut off by `limit_body`.
                    Err(_) if too_large.load(Ordering::Relaxed) => {
                        return Err(AppError::TooLarge.into());
                    }
                    Err(refused) => return Ok(refused),
                };
                req.extensions_mut().insert(self.state.clone());
                let answer = self.inner.call(req).await.map(IntoResponse::into_response);
                if too_large.load(Ordering::Relaxed) {
                    return Err(AppError::TooLarge.into());
                }
                answer
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
        // Pages show people's details and one-time tokens: nothing is kept
        // by browsers or proxies unless a route says otherwise (versioned
        // assets do).
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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

/// A form shown again after its input was refused: **422** with `page`,
/// the form carrying what the person typed and a message by each field
/// (or for the whole form). Every handler re-shows its form this way; a
/// form that htmx sends uses [`form_again_in`]. Never cached (`Frame`
/// answers `Cache-Control: no-store`).
pub fn form_again(page: Markup) -> Response {
    html_response(StatusCode::UNPROCESSABLE_ENTITY, page)
}

/// [`form_again`] for a form htmx may send (the public form): `form`
/// alone when htmx sent it (it swaps the form in place), else the whole
/// page around it (`page(form)`).
pub fn form_again_in(htmx: bool, form: Markup, page: impl FnOnce(Markup) -> Markup) -> Response {
    form_again(if htmx { form } else { page(form) })
}

/// A form shown again ([`form_again`]) because of load, not its input:
/// answered with `status` (429 or 503) and `Retry-After`, `wait` in whole
/// seconds rounded up (at least 1); the form says when to try again.
pub fn retry_later(status: StatusCode, wait: std::time::Duration, form: Response) -> Response {
    let mut response = form;
    response.set_status(status);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// What a form says when password hashing is busy.
pub const HASHING_BUSY: &str =
    "Rally is busy checking passwords right now. Wait a few seconds, then try again.";

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
