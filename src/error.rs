//! One error type for handlers: each variant maps to one HTTP response.
//! Internal causes are logged, never shown.

use poem::{Response, error::ResponseError, http::StatusCode};

use crate::views;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Enqueue(#[from] ::jobs::EnqueueError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ResponseError for AppError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Database(_) | Self::Enqueue(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn as_response(&self) -> Response {
        let (title, message) = match self {
            Self::NotFound => ("Not found", "There is nothing at this address."),
            Self::BadRequest(why) => ("Bad request", *why),
            Self::TooLarge => (
                "Too large",
                "What you sent is larger than this page accepts.",
            ),
            Self::Forbidden(why) => ("Not allowed", *why),
            Self::Database(_) | Self::Enqueue(_) | Self::Internal(_) => {
                tracing::error!(error = ?self, "request failed");
                ("Something went wrong", "Please try again in a moment.")
            }
        };
        Response::builder()
            .status(self.status())
            .content_type("text/html; charset=utf-8")
            .body(views::error_page(title, message).into_string())
    }
}

pub type AppResult<T> = Result<T, AppError>;
