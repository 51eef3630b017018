//! [`EngineError`]: why a sync step failed.

use super::store::StoreError;
use super::transport::TransportError;
use crate::envelope::EnvelopeError;

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
}
