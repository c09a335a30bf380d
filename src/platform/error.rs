//! One error type for handlers: each variant maps to one HTTP response.
//! Internal causes are logged, never shown.

use poem::{Response, error::ResponseError, http::StatusCode};

use crate::platform::ui as views;

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
    /// Throttled (sign-in, password reset): try again after this long.
    #[error("too many attempts")]
    TooMany(std::time::Duration),
    /// Busy (password hashing is saturated): try again after this long.
    #[error("busy")]
    Busy(std::time::Duration),
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
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::TooMany(_) => (
                "Too many attempts",
                "Too many attempts for this account or from this address. Wait a minute, then try again.",
            ),
            Self::Busy(_) => (
                "Busy",
                "Rally is busy checking passwords. Wait a few seconds, then try again.",
            ),
            Self::Database(_) | Self::Enqueue(_) | Self::Internal(_) => {
                tracing::error!(error = ?self, "request failed");
                ("Something went wrong", "Please try again in a moment.")
            }
        };
        let retry_after = match self {
            Self::TooMany(wait) | Self::Busy(wait) => Some(wait.as_secs().max(1).to_string()),
            _ => None,
        };
        let mut response = Response::builder().status(self.status());
        if let Some(secs) = retry_after {
            response = response.header("retry-after", secs);
        }
        response
            .content_type("text/html; charset=utf-8")
            .body(views::error_page(title, message).into_string())
    }
}

impl From<crate::platform::security::HashError> for AppError {
    fn from(err: crate::platform::security::HashError) -> Self {
        match err {
            crate::platform::security::HashError::Busy => {
                AppError::Busy(crate::platform::security::BUSY_RETRY_AFTER)
            }
            crate::platform::security::HashError::Internal(err) => AppError::Internal(err),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
