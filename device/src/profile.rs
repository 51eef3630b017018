//! [`Profile`]: what a device remembers about its workspace besides the
//! document: the workspace id, its own name, and where and as whom it
//! syncs. Kept in `profile.json`, readable by the owner only (it holds a
//! token).

use std::path::Path;

use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::id::{TokenId, WorkspaceId};
use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::error::DeviceError;

const FILE: &str = "profile.json";

/// The server a device syncs with, and its token there.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLink {
    /// `http://host:port`.
    pub origin: String,
    pub token: String,
    /// The token's id, when the server told it.
    pub token_id: Option<TokenId>,
    pub role: Role,
    pub scope: Scope,
}

impl std::fmt::Debug for ServerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLink")
            .field("origin", &self.origin)
            .field("token_id", &self.token_id)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A device's memory of its workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub workspace: WorkspaceId,
    /// This device's name (its token label).
    pub label: String,
    /// `None` until the workspace is registered or the device paired.
    pub server: Option<ServerLink>,
}

impl Profile {
    /// Reads the profile in `dir`, if any.
    pub fn load(dir: &Path) -> Result<Option<Self>, DeviceError> {
        match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                    DeviceError::Corrupt(format!("{FILE}: {e}"))
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeviceError::Io(format!("{FILE}: {e}"))),
        }
    }

    /// Writes the profile into `dir`, crash-safely.
    pub fn save(&self, dir: &Path) -> Result<(), DeviceError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| DeviceError::Io(e.to_string()))?;
        write_atomic(&dir.join(FILE), &json, true)
            .map_err(|e| DeviceError::Io(format!("{FILE}: {e}")))
    }
}
