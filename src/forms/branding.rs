//! An organization's branding on its public forms and the event projector:
//! a logo, uploaded and kept in the database (Rally stores no files; at
//! most [`LOGO_MAX`], shown inline as a `data:` address, which the
//! Content-Security-Policy allows where an outside address would not be),
//! and an accent colour that replaces Rally's blue (`--brand`, through
//! `/assets/accent-rrggbb.css`). Also the rule for a form's redirect
//! address. Rules here, storage in `forms::queries`
//! (`organization_branding`).

use maud::{Markup, html};

/// Longest redirect address accepted, in bytes.
pub const URL_MAX: usize = 2000;

#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Branding {
    /// The logo's bytes (checked by [`check_logo`]); `None` for none.
    pub logo: Option<Vec<u8>>,
    /// `#rrggbb` in lower case; empty for Rally's own.
    pub accent: String,
}

/// An accent colour: `#rgb` or `#rrggbb` (hex digits, any case), given as
/// `#rrggbb` in lower case; empty for none. Anything else is refused,
/// which also keeps it safe inside the page's `<style>`.
pub fn parse_accent(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    const PROBLEM: &str = "Give the accent colour as #rrggbb, like #2f5bea.";
    let hex = raw.strip_prefix('#').ok_or(PROBLEM)?;
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PROBLEM);
    }
    let full = match hex.len() {
        6 => hex.to_string(),
        3 => hex.chars().flat_map(|c| [c, c]).collect(),
        _ => return Err(PROBLEM),
    };
    Ok(format!("#{}", full.to_ascii_lowercase()))
}

/// An address people are shown or sent to: `http` or `https` with a host,
/// at most [`URL_MAX`] bytes; empty for none. Normalised as the URL
/// standard writes it.
pub fn parse_url(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    const PROBLEM: &str = "Give a full web address starting with https:// (or http://).";
    if raw.len() > URL_MAX {
        return Err("A web address is limited to 2,000 characters.");
    }
    let url = reqwest::Url::parse(raw).map_err(|_| PROBLEM)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(PROBLEM);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("A web address with a user name or password in it is not accepted.");
    }
    Ok(url.to_string())
}

impl Branding {
    /// The `<head>` addition that sets the accent colour, if any (a style
    /// sheet of this origin: the Content-Security-Policy allows no other).
    pub fn head(&self) -> Markup {
        html! {
            @if self.accent.len() == 7 {
                link rel="stylesheet" href=(crate::platform::web::assets::accent_path(&self.accent));
            }
        }
    }

    /// The logo, if any, for the top of a public page: inline as a `data:`
    /// address (the policy allows images from this origin and `data:`).
    pub fn logo(&self, organization: &str) -> Markup {
        html! {
            @if let Some(src) = self.logo_src() {
                img.logo src=(src) alt=(organization);
            }
        }
    }

    fn logo_src(&self) -> Option<String> {
        use base64::Engine;
        let bytes = self.logo.as_ref().filter(|b| !b.is_empty())?;
        let kind = logo_type(bytes)?;
        Some(format!(
            "data:{kind};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }
}

/// Largest logo accepted, in bytes: it travels inline with every public
/// form page, a live event's hot path.
pub const LOGO_MAX: usize = 24 * 1024;

/// The image type of a logo by its first bytes: PNG, JPEG, GIF or WebP
/// (not SVG, which can carry script); `None` for anything else.
pub fn logo_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// A logo upload: one of [`logo_type`]'s kinds, at most [`LOGO_MAX`].
pub fn check_logo(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.len() > LOGO_MAX {
        return Err(
            "That logo is over 24 KB: save it smaller (a PNG or WebP a few hundred pixels wide).",
        );
    }
    logo_type(bytes)
        .map(|_| ())
        .ok_or("A logo must be a PNG, JPEG, GIF or WebP image.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents() {
        assert_eq!(parse_accent(" #2F5BEA "), Ok("#2f5bea".into()));
        assert_eq!(parse_accent("#abc"), Ok("#aabbcc".into()));
        assert_eq!(parse_accent(""), Ok(String::new()));
        for bad in ["2f5bea", "#12345", "#ggg", "red", "#123;}body{"] {
            assert!(parse_accent(bad).is_err(), "{bad}");
        }
        assert_eq!(logo_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(logo_type(b"<svg xmlns="), None);
        assert!(check_logo(&[0xff; LOGO_MAX + 1]).is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_url("https://example.com/logo.png"),
            Ok("https://example.com/logo.png".into())
        );
        assert_eq!(parse_url(" "), Ok(String::new()));
        for bad in [
            "javascript:alert(1)",
            "ftp://example.com/x",
            "example.com",
            "https://user:pw@example.com/",
            "data:image/png;base64,AAAA",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(parse_url(&format!("https://example.com/{}", "a".repeat(2001))).is_err());
    }
}
