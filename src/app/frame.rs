//! What every request goes through, in one layer: [`Frame`].

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use poem::{
    Endpoint, IntoResponse, Response,
    http::{HeaderName, HeaderValue, StatusCode, header},
};

use super::{AppState, routes::body_limit};
use crate::{
    intake::routes as intake,
    platform::{
        error::AppError,
        ui as views,
        web::{check_declared_length_within, html_response, input, metrics},
    },
};

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
pub(crate) struct Frame<E> {
    pub(crate) inner: E,
    pub(crate) state: AppState,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
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
        let too_large = res.status() == StatusCode::PAYLOAD_TOO_LARGE;
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
        // The rest of a body too large was not read: the connection ends
        // after this answer, and says so, so that a client does not send
        // its next request on it.
        if too_large {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        self.state
            .metrics
            .observe(route, method, res.status(), started);
        Ok(res)
    }
}

pub(crate) fn security_headers() -> [(HeaderName, HeaderValue); 4] {
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
