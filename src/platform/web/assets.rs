//! Vendored static assets, compiled into the binary and served with
//! long-lived cache headers. Each path carries a hash of the content, so a
//! changed file gets a new address and no browser keeps a stale copy.

use std::sync::LazyLock;

use poem::{Response, handler, http::StatusCode, web::Path};

struct Asset {
    path: String,
    body: &'static [u8],
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Self {
        let hash = crate::platform::security::sha256_hex_bytes(body);
        Self {
            path: format!("/assets/{stem}-{}.{ext}", &hash[..12]),
            body,
            content_type,
        }
    }
}

static HTMX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "htmx-2.0.11.min",
        "js",
        include_bytes!("../../../assets/htmx-2.0.11.min.js"),
        "text/javascript; charset=utf-8",
    )
});
static SSE_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "htmx-ext-sse-2.2.4.min",
        "js",
        include_bytes!("../../../assets/htmx-ext-sse-2.2.4.min.js"),
        "text/javascript; charset=utf-8",
    )
});
static RALLY_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "rally",
        "js",
        include_bytes!("../../../assets/rally.js"),
        "text/javascript; charset=utf-8",
    )
});
static CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "app",
        "css",
        include_bytes!("../../../assets/app.css"),
        "text/css; charset=utf-8",
    )
});

static FAVICON: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "favicon",
        "svg",
        include_bytes!("../../../assets/favicon.svg"),
        "image/svg+xml",
    )
});

/// The icon every page links to (an SVG "R" on the brand blue): a file
/// of this origin, which the CSP's `img-src 'self'` allows.
pub fn favicon_path() -> &'static str {
    &FAVICON.path
}

pub fn htmx_path() -> &'static str {
    &HTMX.path
}

pub fn sse_js_path() -> &'static str {
    &SSE_JS.path
}

pub fn rally_js_path() -> &'static str {
    &RALLY_JS.path
}

pub fn css_path() -> &'static str {
    &CSS.path
}

#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let requested = format!("/assets/{name}");
    if let Some(css) = accent_css(&name) {
        return Response::builder()
            .content_type("text/css; charset=utf-8")
            .header("cache-control", "public, max-age=31536000, immutable")
            .body(css);
    }
    let Some(asset) = [&*HTMX, &*SSE_JS, &*RALLY_JS, &*CSS, &*FAVICON]
        .into_iter()
        .find(|a| a.path == requested)
    else {
        return Response::builder().status(StatusCode::NOT_FOUND).finish();
    };
    Response::builder()
        .content_type(asset.content_type)
        .header("cache-control", "public, max-age=31536000, immutable")
        .body(asset.body)
}

/// The address of the style sheet that sets the accent colour `accent`
/// (`#rrggbb`, lower case): `/assets/accent-rrggbb.css`. A sheet, not an
/// inline `<style>`: the Content-Security-Policy allows styles from this
/// origin only.
pub fn accent_path(accent: &str) -> String {
    format!("/assets/accent-{}.css", accent.trim_start_matches('#'))
}

/// `accent-rrggbb.css` (six lower-case hex digits) as CSS: the accent as
/// `--brand`, and black or white ink for text on it, whichever reads
/// better (WCAG relative luminance, crossing at 0.179).
fn accent_css(name: &str) -> Option<String> {
    let hex = name.strip_prefix("accent-")?.strip_suffix(".css")?;
    if hex.len() != 6
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).ok()?) / 255.0;
        Some(if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    let ink = if luminance > 0.179 { "#000" } else { "#fff" };
    Some(format!(":root{{--brand:#{hex};--brand-ink:{ink}}}\n"))
}

#[cfg(test)]
mod accent_tests {
    #[test]
    fn accent_sheets() {
        assert_eq!(
            super::accent_css("accent-2f5bea.css").unwrap(),
            ":root{--brand:#2f5bea;--brand-ink:#fff}\n"
        );
        assert!(
            super::accent_css("accent-ffff00.css")
                .unwrap()
                .contains("--brand-ink:#000")
        );
        for bad in [
            "accent-2F5BEA.css",
            "accent-12345.css",
            "accent-zzzzzz.css",
            "accent-.css",
            "x.css",
        ] {
            assert!(super::accent_css(bad).is_none(), "{bad}");
        }
        assert_eq!(super::accent_path("#2f5bea"), "/assets/accent-2f5bea.css");
    }
}
