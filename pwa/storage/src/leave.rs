//! Leaving a workspace: everything this device holds of it goes, in one
//! transaction, and the device opens another of its workspaces (or starts
//! afresh). The server's copy, if any, is not touched.

use hearth_shared::id::WorkspaceId;
use hearth_shared::store::StoreError;
use js_sys::Array;
use rexie::{KeyRange, Rexie, TransactionMode};
use wasm_bindgen::JsValue;

use crate::device::CURRENT;
use crate::{APP, DEVICES, META, OUTBOX, SNAPSHOTS, STORES, UPDATES, finish, io};

/// The key of update `n` of `workspace` in the `updates` store.
pub fn update_key(workspace: &str, n: u32) -> JsValue {
    Array::of2(
        &JsValue::from_str(workspace),
        &JsValue::from_f64(f64::from(n)),
    )
    .into()
}

/// Every key of `workspace`'s updates.
pub fn update_range(workspace: &str) -> Result<KeyRange, StoreError> {
    let lower = update_key(workspace, 0);
    let upper: JsValue = Array::of2(
        &JsValue::from_str(workspace),
        &JsValue::from_f64(f64::INFINITY),
    )
    .into();
    KeyRange::bound(&lower, &upper, Some(false), Some(false))
        .map_err(|e| StoreError::Io(format!("key range: {e}")))
}

/// Deletes `workspace` from this device: its document (snapshot and
/// updates), sync state, pending batch and device record. If it was the
/// one this device opens, another of its workspaces is opened instead;
/// returns which, or `None` when none is left (the app then starts an
/// empty one).
pub async fn leave(db: &Rexie, workspace: &WorkspaceId) -> Result<Option<WorkspaceId>, StoreError> {
    let action = "remove the workspace from this device";
    let key = JsValue::from_str(workspace.as_str());
    let tx = db
        .transaction(&STORES, TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    for name in [META, SNAPSHOTS, OUTBOX, DEVICES] {
        let store = tx.store(name).map_err(|e| io(action, e))?;
        store.delete(key.clone()).await.map_err(|e| io(action, e))?;
    }
    let updates = tx.store(UPDATES).map_err(|e| io(action, e))?;
    updates
        .delete(update_range(workspace.as_str())?.into())
        .await
        .map_err(|e| io(action, e))?;
    // Which workspace opens next: the first one left, in id order.
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    let next = devices
        .get_all_keys(None, Some(1))
        .await
        .map_err(|e| io(action, e))?
        .into_iter()
        .next()
        .and_then(|k| k.as_string())
        .and_then(|s| WorkspaceId::parse(&s).ok());
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let current = JsValue::from_str(CURRENT);
    match &next {
        Some(id) => {
            app.put(&JsValue::from_str(id.as_str()), Some(&current))
                .await
                .map_err(|e| io(action, e))?;
        }
        None => app.delete(current).await.map_err(|e| io(action, e))?,
    }
    finish(tx, action).await?;
    Ok(next)
}
