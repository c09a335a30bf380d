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
    let Some(asset) = [&*HTMX, &*SSE_JS, &*RALLY_JS, &*CSS]
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
