//! This device's record of a workspace ([`DeviceRecord`]), one per
//! workspace in the `devices` store, and which one the app opens (`app`,
//! key `"current"`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::id::WorkspaceId;
use hearth_shared::store::StoreError;
use rexie::{Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::lock::Secrets;
use crate::{APP, DEVICES, finish, from_json, io, to_json};

/// The `app` key naming the workspace this device opens.
pub(crate) const CURRENT: &str = "current";

/// A device's record of one workspace: its name for this device and, once
/// connected, the server and the token. Stored as JSON text; `role` and
/// `scope` are the strings of the token's claims (`master`/`access`,
/// `rw`/`ro`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub workspace_id: WorkspaceId,
    /// This device's name (shown in the server's device list).
    pub label: String,
    /// `https://home.example`, set once the workspace is connected.
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub scope: Option<Scope>,
    /// The workspace's name as last seen in its document (which holds the
    /// name itself), so that lists of workspaces can show it unopened.
    /// (Never skipped when empty: the worker's messages carry records in a
    /// format without field names.)
    #[serde(default)]
    pub name: Option<String>,
    /// The workspace's keys, once it is end-to-end encrypted: made on the
    /// device that created it, or unwrapped from a pairing link. IndexedDB
    /// holds the workspace's data in the clear too, so the keys sit beside
    /// it; they never leave the device except wrapped.
    #[serde(default)]
    pub keys: Option<hearth_shared::keys::Keyring>,
    /// With the app lock on, as stored: `token` and `keys` sealed under
    /// the lock key (base64url of `hearth_shared::applock`'s sealed
    /// secrets), the two fields themselves `null`. Read with the lock key
    /// installed, a record comes back opened, with this `None`.
    #[serde(default)]
    pub sealed: Option<String>,
}

/// The part of a record the app lock seals.
#[derive(Serialize, Deserialize)]
struct SealedPart {
    token: Option<String>,
    keys: Option<hearth_shared::keys::Keyring>,
}

/// Seals `record`'s token and keys into `sealed` (nothing to do if it
/// holds neither in the clear).
pub(crate) fn seal_secrets(
    record: &mut DeviceRecord,
    secrets: &dyn Secrets,
) -> Result<(), StoreError> {
    if record.token.is_none() && record.keys.is_none() {
        return Ok(());
    }
    let part = SealedPart {
        token: record.token.take(),
        keys: record.keys.take(),
    };
    let json = serde_json::to_vec(&part)
        .map_err(|e| StoreError::Io(format!("seal this device's keys: {e}")))?;
    let server = record.server.as_deref().unwrap_or("");
    let sealed = secrets
        .seal(&record.workspace_id, server, &json)
        .ok_or_else(|| {
            StoreError::Io("seal this device's keys: the browser's random source failed".into())
        })?;
    record.sealed = Some(URL_SAFE_NO_PAD.encode(sealed));
    Ok(())
}

/// Opens `record`'s sealed token and keys with `secrets`.
pub(crate) fn open_secrets(
    record: &mut DeviceRecord,
    secrets: &dyn Secrets,
) -> Result<(), StoreError> {
    let Some(sealed) = record.sealed.take() else {
        return Ok(());
    };
    let corrupt = || {
        StoreError::Corrupt(format!(
            "the keys this device keeps of workspace {} do not open with the app lock's key",
            record.workspace_id
        ))
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed.as_bytes())
        .map_err(|_| corrupt())?;
    let server = record.server.as_deref().unwrap_or("");
    let plain = secrets
        .open(&record.workspace_id, server, &bytes)
        .ok_or_else(corrupt)?;
    let part: SealedPart = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
    record.token = part.token;
    record.keys = part.keys;
    Ok(())
}

/// A record as read: opened when the lock key is installed here.
fn opened(mut record: DeviceRecord) -> Result<DeviceRecord, StoreError> {
    if record.sealed.is_some()
        && let Some(secrets) = crate::lock::secrets()
    {
        open_secrets(&mut record, secrets.as_ref())?;
    }
    Ok(record)
}

impl DeviceRecord {
    /// A workspace that lives on this device only, for now.
    pub fn local(workspace_id: WorkspaceId, label: impl Into<String>) -> Self {
        Self {
            workspace_id,
            label: label.into(),
            server: None,
            token: None,
            role: None,
            scope: None,
            name: None,
            keys: None,
            sealed: None,
        }
    }

    /// A new workspace, end-to-end encrypted from the start with `key`
    /// (32 bytes from the browser's cryptographic random source).
    pub fn encrypted(workspace_id: WorkspaceId, label: impl Into<String>, key: [u8; 32]) -> Self {
        Self {
            keys: Some(hearth_shared::keys::Keyring::first(key)),
            ..Self::local(workspace_id, label)
        }
    }

    /// Whether the workspace is end-to-end encrypted on this device.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// What lists show: the name, or the start of the id.
    pub fn title(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => {
                let short: String = self.workspace_id.as_str().chars().take(8).collect();
                format!("Workspace {short}")
            }
        }
    }

    /// Whether this device may change the workspace (not a read-only token).
    pub fn can_write(&self) -> bool {
        self.scope != Some(Scope::ReadOnly)
    }

    /// Whether this device holds the workspace's master token.
    pub fn is_owner(&self) -> bool {
        self.role == Some(Role::Master)
    }

    /// The server and token, if connected.
    pub fn connection(&self) -> Option<(&str, &str)> {
        Some((self.server.as_deref()?, self.token.as_deref()?))
    }
}

/// Reads the record of `workspace`, if this device has one.
pub async fn load(db: &Rexie, workspace: &WorkspaceId) -> Result<Option<DeviceRecord>, StoreError> {
    let action = "read this device's settings";
    let tx = db
        .transaction(&[DEVICES], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(DEVICES).map_err(|e| io(action, e))?;
    record_in(&store, workspace, action).await
}

/// The record of `workspace` in the `devices` store of a transaction.
async fn record_in(
    devices: &rexie::Store,
    workspace: &WorkspaceId,
    action: &str,
) -> Result<Option<DeviceRecord>, StoreError> {
    match devices
        .get(JsValue::from_str(workspace.as_str()))
        .await
        .map_err(|e| io(action, e))?
    {
        Some(value) => from_json("device settings", value)
            .and_then(opened)
            .map(Some),
        None => Ok(None),
    }
}

/// Reads the record of the workspace this device opens, if any.
pub async fn current(db: &Rexie) -> Result<Option<DeviceRecord>, StoreError> {
    let action = "read this device's settings";
    let tx = db
        .transaction(&[APP, DEVICES], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let Some(id) = app
        .get(JsValue::from_str(CURRENT))
        .await
        .map_err(|e| io(action, e))?
    else {
        return Ok(None);
    };
    let id = id
        .as_string()
        .and_then(|s| WorkspaceId::parse(&s).ok())
        .ok_or_else(|| StoreError::Corrupt("the current workspace is not a workspace id".into()))?;
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    record_in(&devices, &id, action).await
}

/// Saves `record` and makes its workspace the one this device opens, in
/// one step.
pub async fn save_current(db: &Rexie, record: &DeviceRecord) -> Result<(), StoreError> {
    put(db, record, true).await
}

/// Saves `record` (replacing this device's earlier record of the same
/// workspace), leaving which workspace this device opens as it is.
pub async fn save(db: &Rexie, record: &DeviceRecord) -> Result<(), StoreError> {
    put(db, record, false).await
}

async fn put(db: &Rexie, record: &DeviceRecord, make_current: bool) -> Result<(), StoreError> {
    let action = "save this device's settings";
    let key = JsValue::from_str(record.workspace_id.as_str());
    let tx = db
        .transaction(&[APP, DEVICES], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    // With the lock on, secrets are written sealed, or not at all.
    let mut stored = record.clone();
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    if let Some(lock) = crate::lock::lock_in(&app, action).await? {
        match crate::lock::key_for(&lock, action)? {
            Some(secrets) => seal_secrets(&mut stored, secrets.as_ref())?,
            None if stored.token.is_some() || stored.keys.is_some() => {
                return Err(StoreError::Io(format!(
                    "could not {action}: the app is locked; unlock it and try again"
                )));
            }
            None => {}
        }
    }
    let value = to_json(action, &stored)?;
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    devices
        .put(&value, Some(&key))
        .await
        .map_err(|e| io(action, e))?;
    if make_current {
        app.put(&key, Some(&JsValue::from_str(CURRENT)))
            .await
            .map_err(|e| io(action, e))?;
    }
    finish(tx, action).await
}

/// Every workspace this device holds a record of, and which one it opens.
pub async fn all(db: &Rexie) -> Result<(Vec<DeviceRecord>, Option<WorkspaceId>), StoreError> {
    let action = "read this device's workspaces";
    let tx = db
        .transaction(&[APP, DEVICES], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    let values = devices
        .get_all(None, None)
        .await
        .map_err(|e| io(action, e))?;
    let records = values
        .into_iter()
        .map(|v| from_json("device settings", v).and_then(opened))
        .collect::<Result<Vec<DeviceRecord>, _>>()?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let current = app
        .get(JsValue::from_str(CURRENT))
        .await
        .map_err(|e| io(action, e))?
        .and_then(|v| v.as_string())
        .and_then(|s| WorkspaceId::parse(&s).ok());
    Ok((records, current))
}

/// Makes `workspace` the one this device opens (it must have a record).
pub async fn set_current(db: &Rexie, workspace: &WorkspaceId) -> Result<(), StoreError> {
    let action = "switch workspaces";
    let tx = db
        .transaction(&[APP, DEVICES], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let key = JsValue::from_str(workspace.as_str());
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    if devices
        .get(key.clone())
        .await
        .map_err(|e| io(action, e))?
        .is_none()
    {
        return Err(StoreError::Corrupt(format!(
            "this device holds no workspace {workspace}"
        )));
    }
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    app.put(&key, Some(&JsValue::from_str(CURRENT)))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}
