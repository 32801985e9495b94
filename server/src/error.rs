//! The one error type of the server's edges. Every failure a client can see maps to exactly
//! one `ErrorCode`; the same value becomes an HTTP error body or a Socket.IO ack.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::{ErrorBody, ErrorCode};
use serde_json::{Value, json};

use crate::ports::{Conflict, PortError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Gone(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; try again in {} s", retry_after_secs(*.0))]
    RateLimited(Duration),
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    /// A bug or an unexpected failure: logged in full, shown to clients as a bare `internal`.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadRequest(_) => ErrorCode::BadRequest,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Gone(_) => ErrorCode::Gone,
            Error::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Error::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The body a client sees. An internal error's cause stays in the log.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        ErrorBody::new(self.code(), message)
    }

    /// `{"ok": false, "error": {...}}`, the failed Socket.IO ack.
    pub fn ack(&self) -> Value {
        self.log();
        json!({ "ok": false, "error": self.body().error })
    }

    fn log(&self) {
        match self {
            Error::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Error::Unavailable(what) => tracing::warn!(service = what, "service unavailable"),
            _ => {}
        }
    }
}

/// What a client is told of a store's refusal.
fn conflict_words(conflict: Conflict) -> &'static str {
    match conflict {
        Conflict::UsernameTaken => "username is taken",
        Conflict::RoomExists => "the room already exists",
        Conflict::MediaIdTaken => "media id taken",
        Conflict::MediaUnavailable => {
            "this media was sent in another room or is gone; upload it again to send it here"
        }
        Conflict::DeviceRegisteredMeanwhile => "this device was registered meanwhile",
        Conflict::Duplicate => "it exists already",
    }
}

impl From<PortError> for Error {
    fn from(err: PortError) -> Self {
        match err {
            PortError::Conflict(conflict) => Error::Conflict(conflict_words(conflict)),
            PortError::Unavailable(what) => Error::Unavailable(what),
            // The upload check turns a too-large read into the client's error; anywhere else
            // a stored object over its reader's limit is the server's fault, as any other.
            too_large @ PortError::TooLarge { .. } => Error::Internal(too_large.into()),
            PortError::ChangeRefused(refusal) => Error::from(refusal),
            PortError::Other(cause) => Error::Internal(cause),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let status = StatusCode::from_u16(self.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Error::RateLimited(wait) = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = Error::Internal(anyhow::anyhow!("disk /secret/path failed"));
        assert_eq!(err.body().error.message, "internal error");
        assert_eq!(err.body().error.code, ErrorCode::Internal);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
