//! The IndexedDB [`Store`]: a workspace's sync meta, its pending batch, one
//! zstd-compressed Loro snapshot and the log of updates since it, in the
//! layout that `hearth-storage` defines (and the service worker shares).
//!
//! Every [`Store`] method is one IndexedDB transaction, so a crash or a
//! closed tab leaves all of a call's effect or none of it. A full disk
//! (`QuotaExceededError`) aborts the transaction, so nothing already saved
//! is lost, and is reported with a message a person can act on.

use std::rc::Rc;

use hearth_shared::engine::{Loaded, Outbox, Store, StoreError, SyncMeta};
use hearth_shared::envelope;
use hearth_shared::id::WorkspaceId;
use hearth_storage::{
    META, OUTBOX, SNAPSHOTS, UPDATES, finish, io, outbox, update_key, update_range,
};
use js_sys::Uint8Array;
use rexie::{Rexie, TransactionMode};
use wasm_bindgen::JsValue;

pub use hearth_storage::{DB_NAME, open};

/// zstd level for what is kept locally: fast, since it runs on every edit.
const LEVEL: i32 = 3;

fn bytes(value: &[u8]) -> JsValue {
    Uint8Array::from(value).into()
}

fn open_envelope(what: &str, value: JsValue) -> Result<Vec<u8>, StoreError> {
    let array: Uint8Array = value
        .dyn_into_uint8array()
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is not bytes")))?;
    envelope::open(&array.to_vec(), envelope::DEFAULT_MAX_RAW_LEN)
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

trait IntoUint8Array {
    fn dyn_into_uint8array(self) -> Option<Uint8Array>;
}

impl IntoUint8Array for JsValue {
    fn dyn_into_uint8array(self) -> Option<Uint8Array> {
        wasm_bindgen::JsCast::dyn_into::<Uint8Array>(self).ok()
    }
}

fn seal(what: &str, payload: &[u8]) -> Result<JsValue, StoreError> {
    envelope::seal(payload, LEVEL)
        .map(|sealed| bytes(&sealed))
        .map_err(|e| StoreError::Io(format!("{what}: {e}")))
}

fn meta_json(meta: &SyncMeta) -> Result<JsValue, StoreError> {
    serde_json::to_string(meta)
        .map(|s| JsValue::from_str(&s))
        .map_err(|e| StoreError::Io(format!("sync state: {e}")))
}

/// One workspace's data in IndexedDB.
#[derive(Clone)]
pub struct IdbStore {
    db: Rc<Rexie>,
    workspace: WorkspaceId,
}

impl IdbStore {
    pub fn new(db: Rc<Rexie>, workspace: WorkspaceId) -> Self {
        Self { db, workspace }
    }

    /// The database this store writes.
    pub fn db(&self) -> &Rexie {
        &self.db
    }

    /// A handle to the database, to hold across the engine's calls.
    pub fn db_handle(&self) -> Rc<Rexie> {
        self.db.clone()
    }

    /// The workspace this store holds.
    pub fn workspace(&self) -> &WorkspaceId {
        &self.workspace
    }

    fn key(&self) -> JsValue {
        JsValue::from_str(self.workspace.as_str())
    }

    /// Bytes used by this workspace's snapshot and log, as stored.
    pub async fn stored_bytes(&self) -> Result<(usize, usize, usize), StoreError> {
        let tx = self
            .db
            .transaction(&[SNAPSHOTS, UPDATES], TransactionMode::ReadOnly)
            .map_err(|e| io("read the local database", e))?;
        let snapshot = tx
            .store(SNAPSHOTS)
            .map_err(|e| io("read the snapshot", e))?;
        let snapshot_len = match snapshot
            .get(self.key())
            .await
            .map_err(|e| io("read the snapshot", e))?
        {
            Some(v) => v
                .dyn_into_uint8array()
                .map(|a| a.length() as usize)
                .unwrap_or(0),
            None => 0,
        };
        let updates = tx
            .store(UPDATES)
            .map_err(|e| io("read the update log", e))?;
        let all = updates
            .get_all(Some(update_range(self.workspace.as_str())?), None)
            .await
            .map_err(|e| io("read the update log", e))?;
        let count = all.len();
        let log_len = all
            .into_iter()
            .filter_map(|v| v.dyn_into_uint8array())
            .map(|a| a.length() as usize)
            .sum();
        Ok((snapshot_len, log_len, count))
    }
}

impl Store for IdbStore {
    async fn load(&self) -> Result<Loaded, StoreError> {
        let tx = self
            .db
            .transaction(
                &[META, OUTBOX, SNAPSHOTS, UPDATES],
                TransactionMode::ReadOnly,
            )
            .map_err(|e| io("read the local database", e))?;
        let outbox_store = tx
            .store(OUTBOX)
            .map_err(|e| io("read the pending changes", e))?;
        let pending = match outbox_store
            .get(self.key())
            .await
            .map_err(|e| io("read the pending changes", e))?
        {
            Some(v) => Some(outbox::from_value(&v)?),
            None => None,
        };
        let meta_store = tx.store(META).map_err(|e| io("read the sync state", e))?;
        let meta = match meta_store
            .get(self.key())
            .await
            .map_err(|e| io("read the sync state", e))?
        {
            Some(v) => {
                let text = v
                    .as_string()
                    .ok_or_else(|| StoreError::Corrupt("sync state is not text".into()))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("sync state: {e}")))?,
                )
            }
            None => None,
        };
        let snapshots = tx
            .store(SNAPSHOTS)
            .map_err(|e| io("read the snapshot", e))?;
        let snapshot = match snapshots
            .get(self.key())
            .await
            .map_err(|e| io("read the snapshot", e))?
        {
            Some(v) => Some(open_envelope("the local snapshot", v)?),
            None => None,
        };
        let updates = tx
            .store(UPDATES)
            .map_err(|e| io("read the update log", e))?;
        let values = updates
            .get_all(Some(update_range(self.workspace.as_str())?), None)
            .await
            .map_err(|e| io("read the update log", e))?;
        let log = values
            .into_iter()
            .map(|v| open_envelope("a local update", v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Loaded {
            meta,
            outbox: pending,
            snapshot,
            log,
        })
    }

    async fn append(&self, new_updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let sealed = new_updates
            .iter()
            .map(|u| seal("an update", u))
            .collect::<Result<Vec<_>, _>>()?;
        let meta = meta_json(meta)?;
        let tx = self
            .db
            .transaction(&[META, UPDATES], TransactionMode::ReadWrite)
            .map_err(|e| io("save", e))?;
        let updates = tx.store(UPDATES).map_err(|e| io("save", e))?;
        if !sealed.is_empty() {
            // The log is emptied by every compaction, so its length is the
            // next free number.
            let next = updates
                .count(Some(update_range(self.workspace.as_str())?))
                .await
                .map_err(|e| io("save", e))?;
            for (i, value) in sealed.iter().enumerate() {
                let key = update_key(self.workspace.as_str(), next + i as u32);
                updates
                    .put(value, Some(&key))
                    .await
                    .map_err(|e| io("save your change", e))?;
            }
        }
        let meta_store = tx.store(META).map_err(|e| io("save", e))?;
        meta_store
            .put(&meta, Some(&self.key()))
            .await
            .map_err(|e| io("save the sync state", e))?;
        finish(tx, "save your change").await
    }

    async fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let sealed = seal("the snapshot", snapshot)?;
        let meta = meta_json(meta)?;
        let tx = self
            .db
            .transaction(&[META, SNAPSHOTS, UPDATES], TransactionMode::ReadWrite)
            .map_err(|e| io("compact", e))?;
        let snapshots = tx.store(SNAPSHOTS).map_err(|e| io("compact", e))?;
        snapshots
            .put(&sealed, Some(&self.key()))
            .await
            .map_err(|e| io("write the snapshot", e))?;
        let updates = tx.store(UPDATES).map_err(|e| io("compact", e))?;
        updates
            .delete(update_range(self.workspace.as_str())?.into())
            .await
            .map_err(|e| io("fold the update log", e))?;
        let meta_store = tx.store(META).map_err(|e| io("compact", e))?;
        meta_store
            .put(&meta, Some(&self.key()))
            .await
            .map_err(|e| io("save the sync state", e))?;
        finish(tx, "compact the local data").await
    }

    async fn set_outbox(
        &self,
        pending: Option<&Outbox>,
        meta: &SyncMeta,
    ) -> Result<(), StoreError> {
        let value = pending.map(outbox::to_value).transpose()?;
        let meta = meta_json(meta)?;
        let tx = self
            .db
            .transaction(&[META, OUTBOX], TransactionMode::ReadWrite)
            .map_err(|e| io("save", e))?;
        let outboxes = tx.store(OUTBOX).map_err(|e| io("save", e))?;
        match &value {
            Some(value) => outboxes.put(value, Some(&self.key())).await.map(|_| ()),
            None => outboxes.delete(self.key()).await,
        }
        .map_err(|e| io("save the pending changes", e))?;
        let meta_store = tx.store(META).map_err(|e| io("save", e))?;
        meta_store
            .put(&meta, Some(&self.key()))
            .await
            .map_err(|e| io("save the sync state", e))?;
        finish(tx, "save the pending changes").await
    }
}

/// The notes list kept from the last start, opened (`None` if there is
/// none, or it cannot be read: the list is then read afresh).
pub async fn load_list_cache(db: &Rexie) -> Option<Vec<u8>> {
    let record = crate::device::current(db).await.ok()??;
    let sealed = hearth_storage::load_list_cache(db, &record.workspace_id)
        .await
        .ok()??;
    envelope::open(&sealed, envelope::DEFAULT_MAX_RAW_LEN).ok()
}

/// Keeps the notes list for the next start (compressed, in a blob
/// envelope).
pub async fn save_list_cache(
    db: &Rexie,
    workspace: &WorkspaceId,
    cache: &[u8],
) -> Result<(), StoreError> {
    let sealed = envelope::seal(cache, LEVEL).map_err(|e| StoreError::Io(e.to_string()))?;
    hearth_storage::save_list_cache(db, workspace, &sealed).await
}
