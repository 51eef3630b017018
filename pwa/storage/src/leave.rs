//! Leaving a workspace: everything this device holds of it goes (its
//! document, sync state, pending batch, record, notes-list cache, files
//! waiting to be sent and files kept), in one
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
    app.delete(list_cache_key(workspace))
        .await
        .map_err(|e| io(action, e))?;
    app.delete(crate::collect::key(workspace.as_str()))
        .await
        .map_err(|e| io(action, e))?;
    crate::files::forget(&tx, workspace.as_str()).await?;
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

/// The key of `workspace`'s notes-list cache in the `app` store.
fn list_cache_key(workspace: &WorkspaceId) -> JsValue {
    JsValue::from_str(&format!("list:{}", workspace.as_str()))
}

/// The notes list of `workspace` as the app last kept it (bytes the app
/// makes), if any.
pub async fn load_list_cache(
    db: &Rexie,
    workspace: &WorkspaceId,
) -> Result<Option<Vec<u8>>, StoreError> {
    let action = "read the notes list";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let value = app
        .get(list_cache_key(workspace))
        .await
        .map_err(|e| io(action, e))?;
    Ok(value
        .and_then(|v| wasm_bindgen::JsCast::dyn_into::<js_sys::Uint8Array>(v).ok())
        .map(|a| a.to_vec()))
}

/// Keeps the notes list of `workspace` for the next start.
pub async fn save_list_cache(
    db: &Rexie,
    workspace: &WorkspaceId,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let action = "keep the notes list";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let value: JsValue = js_sys::Uint8Array::from(bytes).into();
    app.put(&value, Some(&list_cache_key(workspace)))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}
