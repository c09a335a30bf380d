//! Cross-site request forgery, checked in one place: every request that
//! changes something (any method but GET, HEAD and OPTIONS) on a
//! signed-in route must carry the session's token in its `_csrf` form
//! field. The route's guard (`http::Guard`) reads that field before the
//! handler runs (from a urlencoded form or a multipart upload alike) and
//! answers **403** when it is missing or wrong, so a handler never sees an
//! unchecked form and no new route can forget the check.
//!
//! The token is an HMAC of the session token (`security::csrf_token`);
//! pages put it in every form (`CurrentUser::csrf`). Public routes
//! (sign-in, sign-up, password reset, the public form) have no session to
//! protect and are refused cross-site by `http::Frame` instead. Accepting
//! an invitation is public but acts on a session when there is one: its
//! handler calls [`check`] then.

use poem::{Request, http::Method};

use crate::accounts::auth::CurrentUser;
use crate::platform::{
    error::{AppError, AppResult},
    text::parse_urlencoded,
};

/// The form field that carries the token.
pub const FIELD: &str = "_csrf";

/// Whether a request of this method can change anything (and so needs a
/// token on a signed-in route).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks `submitted` against the session's token, in time independent of
/// where they differ. **403** when they differ (or nothing was sent).
pub fn check(user: &CurrentUser, submitted: &str) -> AppResult<()> {
    let expected = user.csrf.as_bytes();
    let same = submitted.len() == expected.len()
        && submitted
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "This form was out of date. Go back, reload the page and try again.",
        ))
    }
}

/// Reads the request's `_csrf` field and checks it ([`check`]); the body
/// is put back unchanged for the handler. A urlencoded body was read into
/// memory by `input::screen` already; a multipart body (the CSV import) is
/// read here, within the route's body limit (past it the read fails and
/// `Frame` answers 413). Any other body carries no token: 403.
pub(crate) async fn verify(req: &mut Request, user: &CurrentUser) -> poem::Result<()> {
    let submitted = submitted(req).await?;
    check(user, submitted.as_deref().unwrap_or_default())?;
    Ok(())
}

/// The `_csrf` field of the request's form, if it has one.
async fn submitted(req: &mut Request) -> poem::Result<Option<String>> {
    let content_type = req.header("content-type").unwrap_or_default().to_string();
    let multipart = crate::platform::web::input::media_type(&content_type) == "multipart/form-data";
    let urlencoded = crate::platform::web::input::is_form_encoded(&content_type);
    if !multipart && !urlencoded {
        return Ok(None);
    }
    let body = req
        .take_body()
        .into_bytes()
        .await
        .map_err(|_| AppError::BadRequest("The form data could not be read."))?;
    req.set_body(body.clone());
    if urlencoded {
        return Ok(parse_urlencoded(&body).and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(name, _)| name == FIELD)
                .map(|(_, value)| value)
        }));
    }
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return Ok(None);
    };
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    // A field that cannot be read ends the search: no token was found.
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(FIELD) {
            return Ok(field.text().await.ok());
        }
    }
    Ok(None)
}
