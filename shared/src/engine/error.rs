//! [`EngineError`]: why a sync step failed.

use super::store::StoreError;
use super::transport::TransportError;
use crate::envelope::EnvelopeError;
use crate::error::ErrorCode;

/// Why the engine could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Local persistence failed; nothing counts as saved.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server could not be reached or refused.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An envelope could not be made.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The Loro document refused an operation (export, import).
    #[error("document error: {0}")]
    Document(String),
}

impl EngineError {
    /// Whether the failure is the network being away.
    pub fn is_offline(&self) -> bool {
        matches!(self, EngineError::Transport(t) if t.is_offline())
    }

    /// A server-requested delay before retrying, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            EngineError::Transport(TransportError::Server { retry_after_ms, .. }) => {
                *retry_after_ms
            }
            _ => None,
        }
    }

    /// The server's code when it refused this device's token for good
    /// (revoked, expired, unknown, or for another workspace): retrying
    /// cannot help, syncing stops until the device is paired again.
    pub fn refusal(&self) -> Option<ErrorCode> {
        let EngineError::Transport(TransportError::Server {
            code: Some(code), ..
        }) = self
        else {
            return None;
        };
        match code {
            ErrorCode::TokenRevoked
            | ErrorCode::TokenExpired
            | ErrorCode::InvalidToken
            | ErrorCode::WrongWorkspace => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_table() {
        let cases = [
            (ErrorCode::TokenRevoked, true),
            (ErrorCode::TokenExpired, true),
            (ErrorCode::InvalidToken, true),
            (ErrorCode::WrongWorkspace, true),
            (ErrorCode::StorageFull, false),
        ];
        for (code, refused) in cases {
            let e = EngineError::Transport(TransportError::server(code, "no"));
            assert_eq!(e.refusal(), refused.then_some(code), "{code:?}");
        }
        let offline = EngineError::Transport(TransportError::Offline("down".into()));
        assert_eq!(offline.refusal(), None);
    }
}
