//! Text at the edge: every request the router handles is screened here,
//! once, before any handler or query sees it, so that no route can store,
//! look up or choke on text that a database would refuse (Postgres refuses
//! U+0000 in text; SQLite stores it) and both databases behave alike.
//!
//! - Path: a segment whose percent-decoding is not UTF-8 or holds a
//!   control character cannot name anything: **404**.
//! - Query string: a broken `%` escape or invalid UTF-8 is **400**; a
//!   control character in a parameter is **422**, naming the parameter.
//! - Form bodies (`application/x-www-form-urlencoded`): read up to
//!   [`BODY_LIMIT`] (**413** past it, declared or chunked); a broken
//!   escape or invalid UTF-8 is **400**; a control character other than
//!   tab, line feed and carriage return (which long text may hold) is
//!   **422**, naming the field.
//!
//! Field rules beyond that (lengths, one-line fields, email addresses) are
//! `domain::fields`, applied by the handlers that store prospects. The
//! public form's submission (`POST /f/{slug}`) does not come through here:
//! its handler parses its body strictly and its fields with those rules.

use poem::{Body, Request, Response, http::StatusCode};

use super::{BODY_LIMIT, html_response};
use crate::{domain::parse_urlencoded, views};

/// The request, unchanged but for its body having been read (and put
/// back), or the answer refusing it.
pub(super) async fn screen(mut req: Request) -> Result<Request, Response> {
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
        if let Some(name) = control_in(&pairs, false) {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted",
                format!(
                    "The address's “{name}” contains a control character (such as a NUL byte), which Rally does not accept. Please remove it and try again."
                ),
            ));
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
        if let Some(name) = control_in(&pairs, true) {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted",
                format!(
                    "The field “{name}” contains a control character (such as a NUL byte), which Rally cannot store. Please remove it and send the form again."
                ),
            ));
        }
        req.set_body(bytes);
    }
    Ok(req)
}

/// Whether a body of this media type is what poem's `Form` reads:
/// `application/x-www-form-urlencoded`, in any case, or any
/// `application/…+x-www-form-urlencoded`, with any parameters.
fn is_form_encoded(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.split_once('/').is_some_and(|(kind, subtype)| {
        kind == "application"
            && (subtype == "x-www-form-urlencoded" || subtype.ends_with("+x-www-form-urlencoded"))
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

/// The name of the first pair holding a control character (in its name
/// or value); tabs and line breaks count only when `allow_breaks` is
/// false. The name is shown escaped if it is itself the culprit.
fn control_in(pairs: &[(String, String)], allow_breaks: bool) -> Option<String> {
    let bad = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !(allow_breaks && matches!(c, '\t' | '\n' | '\r')))
    };
    pairs
        .iter()
        .find(|(name, value)| bad(name) || bad(value))
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
        assert_eq!(control_in(&pairs("two\nlines\tand\r\n"), true), None);
        assert_eq!(control_in(&pairs("two\nlines"), false), Some("note".into()));
        assert_eq!(control_in(&pairs("nul\0"), true), Some("note".into()));
        assert_eq!(
            control_in(&[("x\0".into(), String::new())], true),
            Some("x\\u{0}".into())
        );
    }
}
