//! What the owner's device keeps between collections of attached files
//! (`app["collect:{ws}"]`): `hearth_shared::collect::Ledger` and when the
//! last collection ran, as JSON text.

use hearth_shared::collect::Ledger;
use hearth_shared::store::StoreError;
use rexie::{Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::{APP, finish, io};

/// The collection state of one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    #[serde(default)]
    pub ledger: Ledger,
    /// When the last collection ran, Unix milliseconds (0: never).
    #[serde(default)]
    pub ran_ms: u64,
}

pub(crate) fn key(workspace: &str) -> JsValue {
    JsValue::from_str(&format!("collect:{workspace}"))
}

/// The state of `workspace`'s collections (a default one if none ran, or
/// if what is kept does not read: a ledger started again only waits
/// longer).
pub async fn load(db: &Rexie, workspace: &str) -> Result<Collection, StoreError> {
    let action = "read when files were last collected";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    Ok(app
        .get(key(workspace))
        .await
        .map_err(|e| io(action, e))?
        .and_then(|v| v.as_string())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Keeps the state of `workspace`'s collections.
pub async fn save(db: &Rexie, workspace: &str, state: &Collection) -> Result<(), StoreError> {
    let action = "keep what the collection of files found";
    let text = serde_json::to_string(state).map_err(|e| StoreError::Io(e.to_string()))?;
    let tx = db
        .transaction(&[APP], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    app.put(&JsValue::from_str(&text), Some(&key(workspace)))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}
