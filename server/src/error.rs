//! [`ApiError`]: the one error type of every handler. It maps to an HTTP
//! status and a JSON body `{"code", "message"}` with a stable code from
//! `hearth_shared::error`. Internal details are logged, never sent.

use std::fmt;

use hearth_shared::error::{ErrorBody, ErrorCode};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::body::{ResBody, full};
use crate::storage::chunks::ChunkError;
use crate::workspaces::WriteError;

/// An error answer: a stable code, a message a person can act on, and, for
/// `rate_limited` and `unavailable`, the seconds after which to retry
/// (sent as `Retry-After`).
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A server-side failure: the detail goes to the log, the client gets a
    /// generic message.
    pub fn internal(context: &str, err: impl fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            ErrorCode::Internal,
            "internal server error; the request may be retried",
        )
    }

    /// A failure of the token index. Full storage is `storage_full`, an
    /// index that cannot be reached is `unavailable`, both to be retried;
    /// the rest as [`ApiError::internal`]. A failed index operation changed
    /// nothing, so nothing is half-stored.
    pub fn index(context: &str, err: crate::index::IndexError) -> Self {
        use crate::index::IndexError;
        match err {
            IndexError::Full(_) => {
                tracing::error!(error = %err, "{context}: the index's storage is full");
                Self {
                    retry_after: Some(60),
                    ..Self::new(
                        ErrorCode::StorageFull,
                        "the server's disk is full; nothing was changed; retry later",
                    )
                }
            }
            IndexError::Unavailable(_) => {
                tracing::error!(error = %err, "{context}: the index is unavailable");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        ErrorCode::Unavailable,
                        "the server's index is busy or unreachable; nothing was changed; retry shortly",
                    )
                }
            }
            IndexError::Conflict(_) | IndexError::Other(_) => Self {
                retry_after: Some(1),
                ..Self::internal(context, err)
            },
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many requests; retry in {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn into_response(self) -> Response<ResBody> {
        let status = self.status();
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let json =
            serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"code\":\"internal\"}".to_vec());
        let mut res = Response::new(full(json));
        *res.status_mut() = status;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiError({}: {})", self.code.as_str(), self.message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// Maps a write failure to a response.
pub fn write_error(err: WriteError) -> ApiError {
    match err {
        WriteError::Stopped => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                ErrorCode::Unavailable,
                "the workspace is being reopened or the server is shutting down; retry",
            )
        },
        WriteError::Full(why) => ApiError {
            retry_after: Some(60),
            ..ApiError::new(
                ErrorCode::StorageFull,
                format!(
                    "{why}: nothing new is stored until its operator frees space; everything stored stays readable"
                ),
            )
        },
        WriteError::Store(e) => ApiError::store("writing to a workspace", e),
    }
}

impl ApiError {
    /// A failure of the log store: `unavailable` (503, retry shortly) when
    /// the storage could not be reached, else internal. Either way nothing
    /// was half-stored.
    pub fn store(context: &str, err: crate::storage::StoreError) -> ApiError {
        if err.is_unavailable() {
            tracing::error!(error = %err, "{context}: the storage is unavailable");
            return ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    ErrorCode::Unavailable,
                    "the server's storage cannot be reached right now; nothing was changed; retry shortly",
                )
            };
        }
        ApiError {
            retry_after: Some(1),
            ..ApiError::internal(context, err)
        }
    }
}

/// Maps a chunk-store failure to a response: `storage_full` when the
/// storage is, else internal.
pub fn chunk_error(context: &str, err: ChunkError) -> ApiError {
    match err {
        ChunkError::Full(_) => {
            tracing::error!(error = %err, "{context}: the chunk storage is full");
            ApiError {
                retry_after: Some(60),
                ..ApiError::new(
                    ErrorCode::StorageFull,
                    "the server's disk is full: the chunk was not stored; everything stored stays readable",
                )
            }
        }
        ChunkError::Unavailable(_) => {
            tracing::error!(error = %err, "{context}: the chunk storage is unavailable");
            ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    ErrorCode::Unavailable,
                    "the server's storage cannot be reached right now: the chunk was not stored; retry shortly",
                )
            }
        }
        ChunkError::Other(_) => ApiError {
            retry_after: Some(1),
            ..ApiError::internal(context, err)
        },
    }
}
