//! The stable error codes of the HTTP API.
//!
//! Every error response is `{"code": "...", "message": "..."}` with the HTTP
//! status that [`ErrorCode::status`] gives. Codes are part of the protocol:
//! clients branch on them, so a code is never renamed or reused.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed (bad JSON, missing field, bad query).
    BadRequest,
    /// A workspace id in the path or body is not 32 lowercase hex characters.
    InvalidWorkspaceId,
    /// A token id in the path is not 32 lowercase hex characters.
    InvalidTokenId,
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// The token is malformed, forged, of another algorithm, or not yet valid.
    InvalidToken,
    /// The token has expired.
    TokenExpired,
    /// The token was revoked (or is unknown to this server).
    TokenRevoked,
    /// The token belongs to another workspace.
    WrongWorkspace,
    /// Only the workspace's master token may do this.
    MasterRequired,
    /// The token is read-only.
    ReadOnly,
    /// No such workspace.
    WorkspaceNotFound,
    /// No such token.
    TokenNotFound,
    /// No such route.
    NotFound,
    /// The HTTP method is not allowed on this route.
    MethodNotAllowed,
    /// A workspace with this id is already registered.
    WorkspaceExists,
    /// The invite is unknown, already used, or expired.
    InviteInvalid,
    /// No workspace has this recovery key (or it was replaced).
    RecoveryInvalid,
    /// A snapshot claims to cover entries that do not exist, or is older than
    /// the current one.
    SnapshotConflict,
    /// An idempotency key was reused for a different body.
    IdempotencyConflict,
    /// The request body is larger than the server accepts.
    PayloadTooLarge,
    /// The workspace has reached its storage quota.
    QuotaExceeded,
    /// Too many requests; retry after the `Retry-After` seconds.
    RateLimited,
    /// The request body was not received in time.
    RequestTimeout,
    /// Content-Type is not what the route takes.
    UnsupportedMediaType,
    /// Something failed on the server; the request may be retried.
    Internal,
    /// The server is shutting down or overloaded; retry later.
    Unavailable,
    /// Registering needs a setup code (printed by the server at start, or by
    /// `hearth setup-code`), and none or a wrong or used one was sent.
    SetupCodeInvalid,
    /// This server does not register new workspaces.
    RegistrationClosed,
    /// The server's disk (or its server-wide storage limit) is full: nothing
    /// new is stored, everything stored stays readable. Retry later.
    StorageFull,
    /// Too many event streams are open for this client, token or workspace.
    TooManyStreams,
    /// There is no compaction to undo (none was kept, or it is too old).
    NothingToUndo,
    /// This key epoch is already recorded with another key check: the
    /// workspace's key for it was made elsewhere.
    KeyEpochExists,
    /// A chunk's body does not hash to the name it was put under.
    ChunkMismatch,
    /// No chunk of this name is stored.
    ChunkNotFound,
    /// No public link has this id: it was revoked, it expired, or it never
    /// existed.
    ShareNotFound,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | InvalidWorkspaceId | InvalidTokenId | ChunkMismatch => 400,
            MissingToken | InvalidToken | TokenExpired | TokenRevoked => 401,
            WrongWorkspace | MasterRequired | ReadOnly | SetupCodeInvalid | RegistrationClosed => {
                403
            }
            WorkspaceNotFound | TokenNotFound | NotFound | NothingToUndo | ChunkNotFound
            | ShareNotFound => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            WorkspaceExists | SnapshotConflict | IdempotencyConflict | KeyEpochExists => 409,
            InviteInvalid => 410,
            RecoveryInvalid => 403,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            QuotaExceeded | StorageFull => 507,
            RateLimited | TooManyStreams => 429,
            Internal => 500,
            Unavailable => 503,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            InvalidWorkspaceId => "invalid_workspace_id",
            InvalidTokenId => "invalid_token_id",
            MissingToken => "missing_token",
            InvalidToken => "invalid_token",
            TokenExpired => "token_expired",
            TokenRevoked => "token_revoked",
            WrongWorkspace => "wrong_workspace",
            MasterRequired => "master_required",
            ReadOnly => "read_only",
            WorkspaceNotFound => "workspace_not_found",
            TokenNotFound => "token_not_found",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            WorkspaceExists => "workspace_exists",
            InviteInvalid => "invite_invalid",
            RecoveryInvalid => "recovery_invalid",
            SnapshotConflict => "snapshot_conflict",
            IdempotencyConflict => "idempotency_conflict",
            PayloadTooLarge => "payload_too_large",
            QuotaExceeded => "quota_exceeded",
            RateLimited => "rate_limited",
            RequestTimeout => "request_timeout",
            UnsupportedMediaType => "unsupported_media_type",
            Internal => "internal",
            Unavailable => "unavailable",
            SetupCodeInvalid => "setup_code_invalid",
            RegistrationClosed => "registration_closed",
            StorageFull => "storage_full",
            TooManyStreams => "too_many_streams",
            NothingToUndo => "nothing_to_undo",
            KeyEpochExists => "key_epoch_exists",
            ChunkMismatch => "chunk_mismatch",
            ChunkNotFound => "chunk_not_found",
            ShareNotFound => "share_not_found",
        }
    }

    /// Whether a client may retry the same request later and expect success.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::RequestTimeout
                | ErrorCode::Internal
                | ErrorCode::Unavailable
                | ErrorCode::StorageFull
                | ErrorCode::TooManyStreams
        )
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_strings() {
        let all = [
            ErrorCode::BadRequest,
            ErrorCode::InvalidWorkspaceId,
            ErrorCode::InvalidTokenId,
            ErrorCode::MissingToken,
            ErrorCode::InvalidToken,
            ErrorCode::TokenExpired,
            ErrorCode::TokenRevoked,
            ErrorCode::WrongWorkspace,
            ErrorCode::MasterRequired,
            ErrorCode::ReadOnly,
            ErrorCode::WorkspaceNotFound,
            ErrorCode::TokenNotFound,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::WorkspaceExists,
            ErrorCode::InviteInvalid,
            ErrorCode::RecoveryInvalid,
            ErrorCode::SnapshotConflict,
            ErrorCode::IdempotencyConflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::QuotaExceeded,
            ErrorCode::RateLimited,
            ErrorCode::RequestTimeout,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::Internal,
            ErrorCode::Unavailable,
            ErrorCode::SetupCodeInvalid,
            ErrorCode::RegistrationClosed,
            ErrorCode::StorageFull,
            ErrorCode::TooManyStreams,
            ErrorCode::NothingToUndo,
            ErrorCode::KeyEpochExists,
            ErrorCode::ChunkMismatch,
            ErrorCode::ChunkNotFound,
            ErrorCode::ShareNotFound,
        ];
        for code in all {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!((400..600).contains(&code.status()));
        }
    }
}
