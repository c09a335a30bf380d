//! Text at the edge: every request the router handles is screened here,
//! once, before any handler or query sees it, so that no route can store,
//! look up or choke on text that a database would refuse (Postgres refuses
//! U+0000 in text; SQLite stores it) and both databases behave alike.
//!
//! Nothing a person typed is refused for a character they cannot see:
//! control characters in what people type are normalised by
//! `domain::fields::clean` (the rule every field uses), not refused.
//!
//! - Path: a segment whose percent-decoding is not UTF-8 or holds a
//!   control character cannot name anything: **404**.
//! - Query string: a broken `%` escape or invalid UTF-8 is **400**. The
//!   parameters people type ([`TYPED_QUERY`]: the search box) are cleaned
//!   in place (a NUL dropped, the search made); a control character in any
//!   other parameter (ids, pages, tokens: links Rally makes never hold
//!   one) is **422**, naming the parameter.
//! - Form bodies (`application/x-www-form-urlencoded`): read up to
//!   [`BODY_LIMIT`] (**413** past it, declared or chunked); a broken
//!   escape or invalid UTF-8 is **400**; a control character in a field's
//!   *name* (no person types one) is **422**; in a value it is cleaned in
//!   place as long text (line breaks kept as `\n`, NUL, BEL, ESC… dropped),
//!   and the handler's field rules then make one-line fields one line.
//!
//! Field rules beyond that (lengths, one-line fields, email addresses) are
//! `domain::fields`, applied by the handlers that store prospects. The
//! public form's submission (`POST /f/{slug}`) does not come through here:
//! its handler parses its body strictly and its fields with those rules.

use poem::{
    Body, Request, Response,
    http::{StatusCode, Uri, uri::PathAndQuery},
};

use crate::platform::web::{BODY_LIMIT, html_response};
use crate::platform::{
    text::{
        fields::{Lines, clean},
        parse_urlencoded,
    },
    ui as views,
};

/// Query parameters that carry what a person typed, cleaned rather than
/// refused.
pub const TYPED_QUERY: &[&str] = &["q", "tag"];

/// The request, with control characters in typed text cleaned (its query
/// and form body rewritten if so) and its body read and put back, or the
/// answer refusing it.
pub(crate) async fn screen(mut req: Request) -> Result<Request, Response> {
    if !path_is_text(req.uri().path()) {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address.".into(),
        ));
    }
    if let Some(query) = req.uri().query() {
        let pairs = parse_urlencoded(query.as_bytes()).ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "This address could not be read: its query has a broken %-escape or is not valid UTF-8.".into(),
            )
        })?;
        if let Some(name) = control_in(&pairs, |name| TYPED_QUERY.contains(&name)) {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted",
                format!(
                    "The address's “{name}” contains a control character (such as a NUL byte), which Rally does not accept. Please remove it and try again."
                ),
            ));
        }
        if let Some(cleaned) = cleaned(&pairs) {
            let path_and_query = format!("{}?{cleaned}", req.uri().path());
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = PathAndQuery::try_from(path_and_query).ok();
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    if req.header("content-type").is_some_and(is_form_encoded) {
        let bytes = read_body(req.take_body()).await?;
        let pairs = parse_urlencoded(&bytes).ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The form data could not be read: it has a broken %-escape or is not valid UTF-8."
                    .into(),
            )
        })?;
        if let Some(name) = control_in(&pairs, |_| true) {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted",
                format!(
                    "The form's field name “{name}” contains a control character (such as a NUL byte), which Rally does not accept."
                ),
            ));
        }
        match cleaned(&pairs) {
            Some(body) => req.set_body(body),
            None => req.set_body(bytes),
        }
    }
    Ok(req)
}

/// The pairs encoded again with their values put through
/// [`clean`] (as long text), or `None` when that changes nothing.
fn cleaned(pairs: &[(String, String)]) -> Option<String> {
    use std::borrow::Cow;
    let values: Vec<Cow<'_, str>> = pairs.iter().map(|(_, v)| clean(v, Lines::Many)).collect();
    if values.iter().all(|v| matches!(v, Cow::Borrowed(_))) {
        return None;
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .zip(&values)
        .map(|((name, _), value)| (name.as_str(), value.as_ref()))
        .collect();
    serde_urlencoded::to_string(pairs).ok()
}

/// A `Content-Type` header's media type without its parameters, trimmed
/// and in lower case: `multipart/form-data; boundary=…` is
/// `multipart/form-data`.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a body of this media type is what poem's `Form` reads:
/// `application/x-www-form-urlencoded`, in any case, or any
/// `application/…+x-www-form-urlencoded`, with any parameters.
pub(crate) fn is_form_encoded(content_type: &str) -> bool {
    media_type(content_type)
        .split_once('/')
        .is_some_and(|(kind, subtype)| {
            kind == "application"
                && (subtype == "x-www-form-urlencoded"
                    || subtype.ends_with("+x-www-form-urlencoded"))
        })
}

/// Whether every segment of the raw path decodes to text without control
/// characters.
fn path_is_text(path: &str) -> bool {
    path.split('/').all(|segment| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .is_ok_and(|text| !text.chars().any(char::is_control))
    })
}

/// The name of the first pair holding a control character in its name,
/// or in its value unless `value_cleaned(name)` says that value is typed
/// text to be cleaned. The name is shown escaped if it is itself the
/// culprit.
fn control_in(pairs: &[(String, String)], value_cleaned: impl Fn(&str) -> bool) -> Option<String> {
    let bad = |s: &str| s.chars().any(char::is_control);
    pairs
        .iter()
        .find(|(name, value)| bad(name) || (!value_cleaned(name) && bad(value)))
        .map(|(name, _)| name.escape_default().to_string())
}

/// The body, up to [`BODY_LIMIT`] bytes whether or not it declared its
/// length. `Frame` has already wrapped it in the route's limit
/// (`limit_body`, the one that answers 413); this bound is the same and
/// only a backstop for a caller that did not.
async fn read_body(body: Body) -> Result<bytes::Bytes, Response> {
    use http_body_util::BodyExt;
    let body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> = body.into();
    match http_body_util::Limited::new(body, BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "What you sent is larger than this page accepts.".into(),
        )),
        Err(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form data could not be read.".into(),
        )),
    }
}

fn refuse(status: StatusCode, title: &str, message: String) -> Response {
    html_response(status, views::error_page(title, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_control_characters_are_not_text() {
        assert!(path_is_text("/f/demo"));
        assert!(path_is_text("/f/caf%C3%A9"));
        assert!(!path_is_text("/f/a%00b"));
        assert!(!path_is_text("/f/a%1Bb"));
        assert!(!path_is_text("/f/a%C2%85b"), "C1 control");
        assert!(!path_is_text("/f/%FF"));
    }

    #[test]
    fn form_bodies_are_recognised_as_poem_reads_them() {
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
            " application/vnd.rally+x-www-form-urlencoded",
        ] {
            assert!(is_form_encoded(ct), "{ct}");
        }
        for ct in [
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/json",
        ] {
            assert!(!is_form_encoded(ct), "{ct}");
        }
    }

    #[test]
    fn controls_are_found_by_field() {
        let pairs = |v: &str| {
            vec![
                ("a".to_string(), "ok".to_string()),
                ("note".to_string(), v.to_string()),
            ]
        };
        assert_eq!(control_in(&pairs("nul\0"), |_| true), None);
        assert_eq!(
            control_in(&pairs("two\nlines"), |_| false),
            Some("note".into())
        );
        assert_eq!(
            control_in(&pairs("nul\0"), |n| n == "q"),
            Some("note".into())
        );
        assert_eq!(
            control_in(&[("x\0".into(), String::new())], |_| true),
            Some("x\\u{0}".into())
        );
    }

    #[test]
    fn typed_values_are_cleaned_and_encoded_again() {
        let pairs = |v: &str| {
            vec![
                ("_csrf".to_string(), "t0k=n".to_string()),
                ("note".to_string(), v.to_string()),
            ]
        };
        assert_eq!(cleaned(&pairs("two\nlines\tand tab")), None);
        let body = cleaned(&pairs("Nul\0 Bell\u{7}\u{b}VT\r\nCRLF")).unwrap();
        assert_eq!(
            parse_urlencoded(body.as_bytes()).unwrap(),
            vec![
                ("_csrf".to_string(), "t0k=n".to_string()),
                ("note".to_string(), "Nul Bell\nVT\nCRLF".to_string()),
            ]
        );
    }
}
