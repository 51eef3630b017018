//! [`DeviceError`]: why a device command failed.

use hearth_migrations::SchemaError;
use hearth_shared::engine::{EngineError, StoreError, TransportError};
use hearth_shared::error::ErrorCode;
use hearth_shared::share_link::ShareLinkError;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no workspace in this directory; create one or pair first")]
    NoWorkspace,
    #[error("this directory already holds workspace {0}")]
    AlreadyExists(String),
    #[error("this workspace has no server yet; register it first")]
    NoServer,
    #[error("only the master device (the one that registered the workspace) can do this")]
    NotMaster,
    #[error("this workspace is already registered with {0}")]
    AlreadyRegistered(String),
    #[error("local files: {0}")]
    Io(String),
    #[error("{name} is {size}, over this server's limit of {max} per file")]
    FileTooLarge {
        name: String,
        size: String,
        max: String,
    },
    #[error("no attached file with id {0} in this workspace")]
    NoSuchFile(String),
    #[error("attached file {0}: {1}")]
    File(String, String),
    #[error("local files are damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Import(#[from] hearth_interchange::ImportError),
    #[error("{0}")]
    Export(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Link(#[from] ShareLinkError),
}

impl DeviceError {
    /// The server's stable error code, if the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            DeviceError::Engine(EngineError::Transport(t)) => t.code(),
            _ => None,
        }
    }
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        DeviceError::Engine(e.into())
    }
}

impl From<TransportError> for DeviceError {
    fn from(e: TransportError) -> Self {
        DeviceError::Engine(e.into())
    }
}
