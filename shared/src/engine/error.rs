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
    /// The workspace is end-to-end encrypted and this device cannot take
    /// part: it sends and imports nothing until it has the right key.
    #[error(transparent)]
    Key(#[from] KeyProblem),
}

/// Why a device cannot sync an end-to-end encrypted workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The server holds key epochs, and this device holds no key at all
    /// (it joined with an access token alone).
    #[error(
        "this workspace is end-to-end encrypted and this device does not have its key: open a pairing link made on a device that has it, or enter the recovery key; until then this device sends nothing"
    )]
    NeedsKey,
    /// The server's key check for `epoch` does not open with this device's
    /// key of that epoch: it holds some other workspace's key.
    #[error(
        "the key this device holds for key epoch {epoch} is not this workspace's; it sends nothing. Pair it again with a pairing link"
    )]
    WrongKey { epoch: u32 },
    /// The server's epochs are all unknown to this device (the key was
    /// replaced while it was away and not wrapped for it).
    #[error(
        "this workspace's key changed (epoch {epoch}) and this device was not given the new one; pair it again with a pairing link"
    )]
    MissingEpoch { epoch: u32 },
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

    /// The key problem that stops this device, if that is why it failed.
    pub fn key_problem(&self) -> Option<KeyProblem> {
        match self {
            EngineError::Key(problem) => Some(*problem),
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
