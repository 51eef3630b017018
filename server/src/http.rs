//! Small HTTP helpers shared by the handlers: the response body type, JSON
//! and empty responses, bounded request-body reading, query parameters.

use std::time::Duration;

use bytes::Bytes;
use hearth_shared::error::ErrorCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::storage::payload::{Payload, Spool};
use crate::workspaces::WriteError;

pub use crate::body::{ChannelBody, ResBody, full};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<ResBody>, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal("encoding JSON", e))?;
    let mut res = Response::new(full(bytes));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(res)
}

/// A response with no body.
pub fn empty(status: StatusCode) -> Response<ResBody> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// Limits on reading a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: u64,
    pub timeout: Duration,
}

fn too_large(limits: BodyLimits) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {} bytes", limits.max_bytes),
    )
}

/// Refuses a body whose `Content-Length` is over the limit, or not a number.
fn check_length(headers: &HeaderMap, limits: BodyLimits) -> Result<(), ApiError> {
    if let Some(len) = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        match len.parse::<u64>() {
            Ok(len) if len > limits.max_bytes => return Err(too_large(limits)),
            Ok(_) => {}
            Err(_) => return Err(ApiError::bad_request("Content-Length is not a number")),
        }
    }
    Ok(())
}

/// Reads a whole request body: 413 `payload_too_large` beyond the limit
/// (early, from `Content-Length`, when the client sends one), 408
/// `request_timeout` if it does not arrive in time.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limits: BodyLimits,
) -> Result<Bytes, ApiError> {
    check_length(headers, limits)?;
    let limit = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
    match tokio::time::timeout(limits.timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            "the request body did not arrive in time",
        )),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limits)),
        Ok(Err(_)) => Err(ApiError::bad_request("the request body could not be read")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Reads a request body as an upload's [`Payload`] with its SHA-256, under
/// the same limits and answers as [`read_body`]; a body larger than
/// [`SPOOL_AT`](crate::storage::payload::SPOOL_AT) goes to an unnamed file
/// in `spool_dir` as it arrives, so memory stays bounded whatever its size.
pub async fn read_payload(
    headers: &HeaderMap,
    body: Incoming,
    limits: BodyLimits,
    spool_dir: &std::path::Path,
) -> Result<(Payload, [u8; 32]), ApiError> {
    check_length(headers, limits)?;
    let limit = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
    let mut body = Limited::new(body, limit);
    let mut spool = Spool::new(spool_dir);
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                if err.downcast_ref::<LengthLimitError>().is_some() {
                    too_large(limits)
                } else {
                    ApiError::bad_request("the request body could not be read")
                }
            })?;
            if let Ok(data) = frame.into_data() {
                spool.push(data).await.map_err(spool_error)?;
            }
        }
        spool.finish().await.map_err(spool_error)
    };
    match tokio::time::timeout(limits.timeout, read).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            "the request body did not arrive in time",
        )),
        Ok(result) => result,
    }
}

/// A spool file that could not be written: `storage_full` when the disk
/// is out of room.
fn spool_error(err: std::io::Error) -> ApiError {
    crate::error::write_error(
        match crate::storage::StoreError::io("a spooled upload", err) {
            crate::storage::StoreError::Full { .. } => {
                WriteError::Full("the server's disk is full")
            }
            other => WriteError::Store(other),
        },
    )
}

/// Whether the request's `Content-Type` is exactly `essence` (case aside),
/// parameters such as `; charset=utf-8` aside. `None` when it has none.
pub fn content_type_is(headers: &HeaderMap, essence: &str) -> Option<bool> {
    let value = headers.get(CONTENT_TYPE)?;
    let Ok(value) = value.to_str() else {
        return Some(false);
    };
    let found = value.split(';').next().unwrap_or("").trim();
    Some(found.eq_ignore_ascii_case(essence))
}

/// Requires `Content-Type: application/json`. Anything else (notably the
/// `text/plain` of a cross-site form, which needs no CORS preflight) is 415.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if content_type_is(headers, "application/json") == Some(true) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "this route takes Content-Type: application/json",
        ))
    }
}

/// Reads and parses a JSON request body (`Content-Type: application/json`
/// only).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Incoming,
    limits: BodyLimits,
) -> Result<T, ApiError> {
    require_json(headers)?;
    let bytes = read_body(headers, body, limits).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not valid: {e}")))
}

/// Requires an `application/octet-stream` body (or no Content-Type at all).
pub fn require_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    match content_type_is(headers, "application/octet-stream") {
        None | Some(true) => Ok(()),
        Some(false) => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "this route takes Content-Type: application/octet-stream",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_match_exactly_parameters_aside() {
        let cases: &[(&str, &str, bool)] = &[
            ("application/json", "application/json", true),
            ("Application/JSON; charset=utf-8", "application/json", true),
            ("application/jsonx", "application/json", false),
            ("text/plain", "application/json", false),
            (
                "application/octet-streamx",
                "application/octet-stream",
                false,
            ),
            (
                " application/octet-stream ;x=1",
                "application/octet-stream",
                true,
            ),
        ];
        for (value, essence, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            assert_eq!(content_type_is(&h, essence), Some(*want), "{value}");
        }
        assert_eq!(content_type_is(&HeaderMap::new(), "application/json"), None);
        assert!(require_json(&HeaderMap::new()).is_err());
    }
}
