//! The web's shared pieces: the body limit, the helpers every handler
//! answers with (pages, redirects, a form shown again), and the modules
//! below. The frame, the guard and the route table are the app's.

pub mod assets;
pub mod csrf;
pub mod health;
pub mod input;
pub mod metrics;
pub mod ratelimit;

use maud::Markup;
use poem::{
    Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::platform::error::AppError;

/// Largest request body a route accepts, in bytes, whether the request
/// declares its length or sends it chunked (see `app::routes::body_limit`).
pub const BODY_LIMIT: usize = 64 * 1024;

/// 413 for a request that declares a body over [`BODY_LIMIT`].
pub fn check_declared_length(req: &poem::Request) -> Result<(), AppError> {
    check_declared_length_within(req, BODY_LIMIT)
}

/// 413 for a request that declares a body over `limit`.
pub fn check_declared_length_within(req: &poem::Request, limit: usize) -> Result<(), AppError> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(AppError::TooLarge);
    }
    Ok(())
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
