//! This device's record of its workspace: which workspace it shows, its
//! name for this device, and (once connected) the server and its token.
//! Kept in the `devices` object store under the key `current`.

use std::rc::Rc;

use hearth_shared::engine::StoreError;
use rexie::{Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::fetch::Connection;
use crate::idb::{DEVICES, finish, io};

const CURRENT: &str = "current";

/// The app's record of the workspace on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub workspace_id: String,
    /// This device's name (shown in the server's device list).
    pub label: String,
    /// Set once the workspace is connected to a server.
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    /// `master` or `access`.
    #[serde(default)]
    pub role: Option<String>,
    /// `rw` or `ro`.
    #[serde(default)]
    pub scope: Option<String>,
}

impl DeviceRecord {
    /// The connection the transport uses, if connected.
    pub fn connection(&self) -> Option<Connection> {
        Some(Connection {
            server: self.server.clone()?,
            workspace: self.workspace_id.clone(),
            token: self.token.clone()?,
        })
    }

    pub fn can_write(&self) -> bool {
        self.scope.as_deref() != Some("ro")
    }
}

/// Reads the current record, if this device has one.
pub async fn load(db: &Rc<Rexie>) -> Result<Option<DeviceRecord>, StoreError> {
    let tx = db
        .transaction(&[DEVICES], TransactionMode::ReadOnly)
        .map_err(|e| io("read this device's settings", e))?;
    let store = tx
        .store(DEVICES)
        .map_err(|e| io("read this device's settings", e))?;
    let Some(value) = store
        .get(JsValue::from_str(CURRENT))
        .await
        .map_err(|e| io("read this device's settings", e))?
    else {
        return Ok(None);
    };
    let text = value
        .as_string()
        .ok_or_else(|| StoreError::Corrupt("device settings are not text".into()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("device settings: {e}")))
}

/// Replaces the current record.
pub async fn save(db: &Rc<Rexie>, record: &DeviceRecord) -> Result<(), StoreError> {
    let text = serde_json::to_string(record).map_err(|e| StoreError::Io(e.to_string()))?;
    let tx = db
        .transaction(&[DEVICES], TransactionMode::ReadWrite)
        .map_err(|e| io("save this device's settings", e))?;
    let store = tx
        .store(DEVICES)
        .map_err(|e| io("save this device's settings", e))?;
    store
        .put(&JsValue::from_str(&text), Some(&JsValue::from_str(CURRENT)))
        .await
        .map_err(|e| io("save this device's settings", e))?;
    finish(tx, "save this device's settings").await
}
