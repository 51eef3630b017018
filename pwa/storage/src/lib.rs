//! `hearth-storage`: what Hearth keeps in the browser, as one contract that
//! the app (`hearth-pwa`) and the service worker (`hearth-sw`) both use.
//!
//! Database [`DB_NAME`], version [`DB_VERSION`]. Every store is keyed by
//! workspace id (a string of 32 lowercase hex characters), so one browser
//! profile can hold several workspaces:
//!
//! | store       | key               | value                                              |
//! |-------------|-------------------|----------------------------------------------------|
//! | `meta`      | workspace id      | the engine's `SyncMeta`, JSON text                 |
//! | `outbox`    | workspace id      | the batch being pushed: `{key, from, to, envelope}`, `envelope` a `Uint8Array` ([`outbox`]) |
//! | `snapshots` | workspace id      | the Loro snapshot in a blob envelope, `Uint8Array` |
//! | `updates`   | `[workspace id, n]` | one Loro update in a blob envelope, `Uint8Array`; `n` counts from 0 after each compaction |
//! | `devices`   | workspace id      | this device's [`DeviceRecord`] of it, JSON text    |
//! | `app`       | `"current"`       | the workspace id this device opens                 |
//! |             | `"layout"`        | the layout the data is in (2), see [`upgrade`]     |
//! |             | `"list:{ws}"`     | the notes list as last shown, `Uint8Array` (the app's bytes: a zstd blob envelope of `NoteIndex`'s cache), so that start-up need not read every note |
//! |             | `"pins:{ws}"`     | the notes whose files are kept offline, JSON text (a list of note ids) ([`files`]) |
//! |             | `"lock"`          | the app lock, when it is on: its [`lock::LockRecord`], JSON text; device records then keep their secrets sealed |
//! |             | `"collect:{ws}"`  | the owner's collections of files: ledger and last run, JSON text ([`collect`]) |
//! | `uploads`   | `[workspace id, id]` | a file waiting to be sent: `{meta, file: Blob, thumb}` ([`files`]) |
//! | `chunks`    | `[workspace id, chunk name]` | a chunk fetched or sent, as the server stores it, `Uint8Array` |
//! | `chunk_use` | `[workspace id, chunk name]` | its `{len, used, kept}`, JSON text, for eviction |
//!
//! The pending batch has a store of its own so that saving the sync state
//! (on every edit and every pull) never rewrites the batch's bytes, and so
//! that the service worker reads it without knowing the engine's meta.
//!
//! This crate knows no Loro and no zstd: it moves the bytes the engine
//! makes. Every function is one IndexedDB transaction.

pub mod collect;
pub mod device;
pub mod files;
pub mod leave;
pub mod lock;
pub mod outbox;
pub mod upgrade;

use std::rc::Rc;

use hearth_shared::store::StoreError;
use rexie::{ObjectStore, Rexie};

pub use device::DeviceRecord;
pub use leave::{leave, load_list_cache, save_list_cache, update_key, update_range};

/// Name of the database.
pub const DB_NAME: &str = "hearth";
/// Version of the database schema (its object stores). Version 1 had no
/// `outbox` and `app` stores, version 2 no `uploads`, `chunks` and
/// `chunk_use`.
pub const DB_VERSION: u32 = 3;

/// `meta`: workspace id → sync state.
pub const META: &str = "meta";
/// `snapshots`: workspace id → snapshot envelope.
pub const SNAPSHOTS: &str = "snapshots";
/// `updates`: `[workspace id, n]` → update envelope.
pub const UPDATES: &str = "updates";
/// `outbox`: workspace id → the batch being pushed.
pub const OUTBOX: &str = "outbox";
/// `devices`: workspace id → [`DeviceRecord`].
pub const DEVICES: &str = "devices";
/// `app`: settings of the app on this device.
pub const APP: &str = "app";
/// `uploads`: `[workspace id, id]` → a file waiting to be sent.
pub const UPLOADS: &str = "uploads";
/// `chunks`: `[workspace id, chunk name]` → a cached chunk's bytes.
pub const CHUNKS: &str = "chunks";
/// `chunk_use`: `[workspace id, chunk name]` → its size and last use.
pub const CHUNK_USE: &str = "chunk_use";

/// Every store, in the order the schema lists them. An open that omitted
/// one would delete it, so this list is the only one.
pub const STORES: [&str; 9] = [
    META, SNAPSHOTS, UPDATES, OUTBOX, DEVICES, APP, UPLOADS, CHUNKS, CHUNK_USE,
];

/// Opens the database `name` (creating it, or upgrading an older layout),
/// ready for use. Pages, the sync worker and the service worker all open
/// it through this function.
pub async fn open(name: &str) -> Result<Rc<Rexie>, StoreError> {
    let db = open_schema(name, DB_VERSION, &STORES).await?;
    upgrade::to_current(&db).await?;
    Ok(Rc::new(db))
}

/// Closes a connection [`open`] gave once nothing else holds it (a
/// short-lived caller's, so that it does not hold up a later upgrade).
pub fn close(db: Rc<Rexie>) {
    if let Ok(db) = Rc::try_unwrap(db) {
        db.close();
    }
}

/// Opens `name` at `version` with `stores` and does nothing else: for
/// [`open`], and for tests that write an older layout.
pub async fn open_schema(name: &str, version: u32, stores: &[&str]) -> Result<Rexie, StoreError> {
    stores
        .iter()
        .fold(Rexie::builder(name).version(version), |b, s| {
            b.add_object_store(ObjectStore::new(s))
        })
        .build()
        .await
        .map_err(|e| io("open the local database", e))
}

/// Maps a rexie error to a [`StoreError`] a person can act on.
pub fn io(action: &str, e: rexie::Error) -> StoreError {
    // rexie's own message is only "idb error": the cause is inside.
    let text = match &e {
        rexie::Error::IdbError(inner) => inner.to_string(),
        other => other.to_string(),
    };
    if text.contains("Quota") {
        StoreError::Io(format!(
            "this browser has no room left to {action}: free some space or export your \
             workspace; nothing saved before was lost"
        ))
    } else {
        StoreError::Io(format!("could not {action}: {text}"))
    }
}

/// Waits for a read-write transaction and fails unless it committed.
pub async fn finish(tx: rexie::Transaction, action: &str) -> Result<(), StoreError> {
    let result = tx.done().await.map_err(|e| io(action, e))?;
    if result.is_committed() {
        Ok(())
    } else {
        // Chromium reports a full disk by aborting the transaction.
        Err(StoreError::Io(format!(
            "could not {action}: the browser refused to store it (its storage for this site may be \
             full); nothing saved before was lost"
        )))
    }
}

/// Reads a JSON text value.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    value: wasm_bindgen::JsValue,
) -> Result<T, StoreError> {
    let text = value
        .as_string()
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is not text")))?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A value as JSON text.
pub(crate) fn to_json<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<wasm_bindgen::JsValue, StoreError> {
    serde_json::to_string(value)
        .map(|s| wasm_bindgen::JsValue::from_str(&s))
        .map_err(|e| StoreError::Io(format!("{what}: {e}")))
}
