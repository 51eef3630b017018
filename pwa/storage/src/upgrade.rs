//! Bringing data written by an earlier version into today's layout.
//!
//! Layout 1 (schema version 1, stores `meta`, `snapshots`, `updates`,
//! `devices`) kept the one workspace's [`DeviceRecord`] under the key
//! `"current"` of `devices`, and the batch being pushed inside the sync
//! state, as `meta[ws].outbox = {key, from, to, envelope: [bytes as
//! numbers]}`.
//!
//! Layout 2 keys the record by its workspace id, names the open workspace
//! in `app["current"]`, and keeps the batch in `outbox[ws]` as bytes. The
//! schema upgrade (version 2) only adds the two stores; moving the data runs
//! in the first read-write transaction after the open, once: it records
//! `app["layout"] = 2` in the same transaction, so a crash leaves the old
//! layout whole or the new one, and pages, workers and the service worker
//! that open at once serialize on it, the first one moving the data.

use hearth_shared::store::{Outbox, StoreError};
use rexie::{Rexie, Transaction, TransactionMode};
use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::device::{CURRENT, DeviceRecord};
use crate::{APP, DEVICES, META, OUTBOX, finish, from_json, io, outbox, to_json};

/// The layout this version writes.
pub const LAYOUT: u32 = 2;
/// The `app` key holding the layout number.
pub(crate) const LAYOUT_KEY: &str = "layout";

/// Layout 1's batch, inside the sync state.
#[derive(Deserialize)]
struct OutboxV1 {
    key: String,
    from: i32,
    to: i32,
    envelope: Vec<u8>,
}

const ACTION: &str = "upgrade the local database";

/// Moves layout-1 data into layout 2, unless that was done. On any error
/// nothing moves.
pub async fn to_current(db: &Rexie) -> Result<(), StoreError> {
    let tx = db
        .transaction(&[APP, DEVICES, META, OUTBOX], TransactionMode::ReadWrite)
        .map_err(|e| io(ACTION, e))?;
    match move_data(&tx).await {
        Ok(()) => finish(tx, ACTION).await,
        Err(e) => {
            let _ = tx.abort().await;
            Err(e)
        }
    }
}

async fn move_data(tx: &Transaction) -> Result<(), StoreError> {
    let action = ACTION;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let layout = app
        .get(JsValue::from_str(LAYOUT_KEY))
        .await
        .map_err(|e| io(action, e))?
        .and_then(|v| v.as_f64());
    if layout.is_some_and(|l| l >= f64::from(LAYOUT)) {
        return Ok(());
    }

    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    let legacy_key = JsValue::from_str(CURRENT);
    if let Some(value) = devices
        .get(legacy_key.clone())
        .await
        .map_err(|e| io(action, e))?
    {
        let record: DeviceRecord =
            from_json("this device's settings (from an earlier version)", value)?;
        let ws = JsValue::from_str(record.workspace_id.as_str());
        devices
            .put(&to_json(action, &record)?, Some(&ws))
            .await
            .map_err(|e| io(action, e))?;
        devices
            .delete(legacy_key)
            .await
            .map_err(|e| io(action, e))?;
        app.put(&ws, Some(&JsValue::from_str(CURRENT)))
            .await
            .map_err(|e| io(action, e))?;
    }

    let meta = tx.store(META).map_err(|e| io(action, e))?;
    let outboxes = tx.store(OUTBOX).map_err(|e| io(action, e))?;
    let entries = meta
        .scan(None, None, None, None)
        .await
        .map_err(|e| io(action, e))?;
    for (key, value) in entries {
        let mut json: serde_json::Value =
            from_json("the sync state (from an earlier version)", value)?;
        let Some(old) = json.as_object_mut().and_then(|o| o.remove("outbox")) else {
            continue;
        };
        if !old.is_null() {
            let old: OutboxV1 = serde_json::from_value(old).map_err(|e| {
                StoreError::Corrupt(format!("the pending batch (from an earlier version): {e}"))
            })?;
            let batch = Outbox {
                key: old.key,
                from: old.from,
                to: old.to,
                envelope: old.envelope,
            };
            outboxes
                .put(&outbox::to_value(&batch)?, Some(&key))
                .await
                .map_err(|e| io(action, e))?;
        }
        meta.put(&to_json(action, &json)?, Some(&key))
            .await
            .map_err(|e| io(action, e))?;
    }
    app.put(&JsValue::from(LAYOUT), Some(&JsValue::from_str(LAYOUT_KEY)))
        .await
        .map_err(|e| io(action, e))?;
    Ok(())
}
