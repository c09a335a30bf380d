//! Vendored static assets, compiled into the binary and served with
//! long-lived cache headers: their paths carry a version, so a change of
//! content is a change of address.

use poem::{Response, handler, http::StatusCode, web::Path};

pub const HTMX_PATH: &str = "/assets/htmx-2.0.11.min.js";
pub const CSS_PATH: &str = "/assets/app-1.css";

const HTMX: &[u8] = include_bytes!("../../assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../../assets/app.css");

#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "htmx-2.0.11.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "app-1.css" => (CSS, "text/css; charset=utf-8"),
        _ => return Response::builder().status(StatusCode::NOT_FOUND).finish(),
    };
    Response::builder()
        .content_type(content_type)
        .header("cache-control", "public, max-age=31536000, immutable")
        .body(body)
}
