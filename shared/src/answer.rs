//! Reading the server's answers, once for every client: what a non-2xx
//! answer means (its stable code, message and `Retry-After`), whether it is
//! worth retrying, and the position headers of a pull. Clients only move
//! bytes; they hand the status, the relevant headers and the body here.

use crate::api::HEAD_HEADER;
use crate::error::{ErrorBody, ErrorCode};

/// A non-2xx answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAnswer {
    pub status: u16,
    /// The stable code, when the body is the API's JSON error.
    pub code: Option<ErrorCode>,
    /// The server's message, or the status when it sent none.
    pub message: String,
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

impl ErrorAnswer {
    /// Reads an error answer from its status, its `Retry-After` value and
    /// its body.
    pub fn read(status: u16, retry_after: Option<&str>, body: &[u8]) -> ErrorAnswer {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        ErrorAnswer {
            status,
            code: parsed.as_ref().map(|b| b.code),
            message: parsed.map_or_else(|| format!("HTTP {status}"), |b| b.message),
            retry_after_ms: retry_after_ms(retry_after),
        }
    }

    /// Whether the same request may succeed later (a timeout, a rate limit,
    /// a full disk, the server restarting), as opposed to a refusal that
    /// will not change (a revoked token, a bad request).
    pub fn is_retryable(&self) -> bool {
        match self.code {
            Some(code) => code.is_retryable(),
            None => matches!(self.status, 408 | 429 | 500..=599),
        }
    }
}

/// Whether a status is a success.
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// `Retry-After` (seconds) in milliseconds.
pub fn retry_after_ms(value: Option<&str>) -> Option<u64> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000))
}

/// The head and floor of a pull answer from its `Hearth-Head` and
/// `Hearth-Floor` values (a missing floor is 0).
pub fn position(head: Option<&str>, floor: Option<&str>) -> Result<(u64, u64), String> {
    let head = head
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no valid {HEAD_HEADER} header"))?;
    let floor = floor.and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    Ok((head, floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_read_the_same_everywhere() {
        let body = br#"{"code":"storage_full","message":"the disk is full"}"#;
        let a = ErrorAnswer::read(507, Some(" 60 "), body);
        assert_eq!(a.code, Some(ErrorCode::StorageFull));
        assert_eq!(a.message, "the disk is full");
        assert_eq!(a.retry_after_ms, Some(60_000));
        assert!(a.is_retryable());
        let revoked = ErrorAnswer::read(401, None, br#"{"code":"token_revoked","message":"x"}"#);
        assert!(!revoked.is_retryable());
        let proxy = ErrorAnswer::read(502, Some("soon"), b"<html>bad gateway</html>");
        assert_eq!((proxy.code, proxy.retry_after_ms), (None, None));
        assert_eq!(proxy.message, "HTTP 502");
        assert!(proxy.is_retryable());
        assert!(!ErrorAnswer::read(404, None, b"").is_retryable());
        assert!(is_success(204) && !is_success(304));
    }

    #[test]
    fn positions_need_a_head() {
        assert_eq!(position(Some("7"), Some("3")), Ok((7, 3)));
        assert_eq!(position(Some("7"), None), Ok((7, 0)));
        assert!(position(None, Some("3")).is_err());
        assert!(position(Some("-1"), None).is_err());
    }
}
