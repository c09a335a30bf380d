//! Liveness and readiness probes.

use poem::{Response, handler, http::StatusCode, web::Data};

use crate::app::AppState;

/// The process is up and serving HTTP.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

/// The database and the job queue both answer.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let db = crate::platform::db::scalar(&state.db.read, "SELECT CAST(1 AS BIGINT)").await;
    let queue = state.queue.ping().await;
    match (db, queue) {
        (Ok(_), Ok(())) => Response::builder().body("ready"),
        (db, queue) => {
            tracing::warn!(db = ?db.err(), queue = ?queue.err(), "not ready");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body("not ready")
        }
    }
}
