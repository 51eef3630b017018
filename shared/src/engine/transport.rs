//! The [`Transport`] trait: the engine's view of the server's `/v1` API for
//! one workspace (the token and the workspace id are the transport's).
//!
//! Implementations: [`super::memory_server::MemoryTransport`] (a model of the
//! server, with injected faults) here; hyper in the native device; `fetch`
//! in the browser. Like [`super::Store`], the trait has no `Send` bound.

use crate::error::ErrorCode;
use crate::id::TokenId;

/// The answer to `GET …/entries?after=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The response body: frames (see [`crate::frame`]).
    pub body: Vec<u8>,
    /// `Hearth-Head`: the workspace's last sequence number.
    pub head: u64,
    /// `Hearth-Floor`: the compaction floor (0 if the server did not say).
    pub floor: u64,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server: {0}")]
    Offline(String),
    /// The server answered with an error.
    #[error("server error {status} ({}): {message}", code.map(|c| c.as_str()).unwrap_or("unknown"))]
    Server {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        /// `Retry-After`, in milliseconds, if the server sent one.
        retry_after_ms: Option<u64>,
    },
    /// The server's answer does not follow the protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl From<crate::answer::ErrorAnswer> for TransportError {
    fn from(a: crate::answer::ErrorAnswer) -> Self {
        TransportError::Server {
            status: a.status,
            code: a.code,
            message: a.message,
            retry_after_ms: a.retry_after_ms,
        }
    }
}

impl TransportError {
    /// An error answer with a stable code.
    pub fn server(code: ErrorCode, message: impl Into<String>) -> Self {
        TransportError::Server {
            status: code.status(),
            code: Some(code),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The stable code, if the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            TransportError::Server { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether the device is offline (as opposed to the server refusing).
    pub fn is_offline(&self) -> bool {
        match self {
            TransportError::Offline(_) => true,
            TransportError::Server { code, status, .. } => {
                matches!(code, Some(ErrorCode::Unavailable)) || *status == 502 || *status == 504
            }
            TransportError::Protocol(_) => false,
        }
    }
}

/// The server API, as the engine uses it.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// `POST …/entries` with an `Idempotency-Key`: appends one entry and
    /// returns its sequence number. A retry with the same key and bytes
    /// returns the same number.
    async fn push(&self, idempotency_key: &str, entry: &[u8]) -> Result<u64, TransportError>;

    /// `GET …/entries?after=N`.
    async fn pull(&self, after: u64) -> Result<Pulled, TransportError>;

    /// `PUT …/snapshot?upto=N`: returns the new floor.
    async fn put_snapshot(&self, upto: u64, snapshot: &[u8]) -> Result<u64, TransportError>;

    /// Waits until the server announces a head above `known` (the live
    /// events stream) and returns it. The host awaits this between syncs.
    async fn next_head(&self, known: u64) -> Result<u64, TransportError>;

    /// `GET …/keys`: the workspace's key epochs, each with its key check
    /// record (none for a workspace that is not encrypted).
    async fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError>;

    /// `PUT …/keys/{epoch}`: records a key epoch with its key check
    /// (the workspace's owner only).
    async fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError>;

    /// `DELETE …/snapshot/undo`: the server deletes what compactions
    /// replaced and kept for undo (the workspace's owner only).
    async fn forget_compactions(&self) -> Result<(), TransportError>;

    /// The token id this transport's token carries (read from its claims),
    /// by which the device records its keys in the workspace's document.
    fn token_id(&self) -> Option<TokenId> {
        None
    }

    /// `PUT …/device-key`: registers this device's X25519 public key with
    /// its token.
    async fn put_device_key(&self, public_key: &[u8; 32]) -> Result<(), TransportError>;

    /// `GET …/device-key`: every key epoch wrapped for this device.
    async fn device_wraps(&self) -> Result<Vec<Vec<u8>>, TransportError>;

    /// `GET …/tokens`: the token id and public key of every device of the
    /// workspace that is not revoked and has registered a key (the
    /// workspace's owner only).
    async fn device_public_keys(&self) -> Result<Vec<(TokenId, [u8; 32])>, TransportError>;

    /// `PUT …/keys/{epoch}/devices`: key epoch `epoch` wrapped for each of
    /// these devices (the workspace's owner only).
    async fn put_device_wraps(
        &self,
        epoch: u32,
        copies: &[(TokenId, Vec<u8>)],
    ) -> Result<(), TransportError>;

    /// `PUT …/recovery`: the recovery key's credential hash and every key
    /// epoch wrapped for it (the workspace's owner only).
    async fn put_recovery(
        &self,
        credential_hash: &[u8; 32],
        wrapped: &[Vec<u8>],
    ) -> Result<(), TransportError>;
}

/// A shared transport (the host keeps a handle to it, e.g. to watch it).
impl<T: Transport> Transport for std::rc::Rc<T> {
    async fn push(&self, idempotency_key: &str, entry: &[u8]) -> Result<u64, TransportError> {
        (**self).push(idempotency_key, entry).await
    }
    async fn pull(&self, after: u64) -> Result<Pulled, TransportError> {
        (**self).pull(after).await
    }
    async fn put_snapshot(&self, upto: u64, snapshot: &[u8]) -> Result<u64, TransportError> {
        (**self).put_snapshot(upto, snapshot).await
    }
    async fn next_head(&self, known: u64) -> Result<u64, TransportError> {
        (**self).next_head(known).await
    }
    async fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError> {
        (**self).key_epochs().await
    }
    async fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError> {
        (**self).put_key_check(epoch, check).await
    }
    async fn forget_compactions(&self) -> Result<(), TransportError> {
        (**self).forget_compactions().await
    }
    fn token_id(&self) -> Option<TokenId> {
        (**self).token_id()
    }
    async fn put_device_key(&self, public_key: &[u8; 32]) -> Result<(), TransportError> {
        (**self).put_device_key(public_key).await
    }
    async fn device_wraps(&self) -> Result<Vec<Vec<u8>>, TransportError> {
        (**self).device_wraps().await
    }
    async fn device_public_keys(&self) -> Result<Vec<(TokenId, [u8; 32])>, TransportError> {
        (**self).device_public_keys().await
    }
    async fn put_device_wraps(
        &self,
        epoch: u32,
        copies: &[(TokenId, Vec<u8>)],
    ) -> Result<(), TransportError> {
        (**self).put_device_wraps(epoch, copies).await
    }
    async fn put_recovery(
        &self,
        credential_hash: &[u8; 32],
        wrapped: &[Vec<u8>],
    ) -> Result<(), TransportError> {
        (**self).put_recovery(credential_hash, wrapped).await
    }
}
