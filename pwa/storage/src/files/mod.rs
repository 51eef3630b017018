//! Attached files on this device: the queue of files waiting to be sent
//! (`uploads`), the cache of chunks fetched or sent (`chunks`, with their
//! sizes and last use in `chunk_use`), and the notes whose files are kept
//! available offline (`app["pins:{ws}"]`).
//!
//! - `uploads[[ws, id]]` = `{meta: JSON text of` [`Upload`]`, file: Blob,
//!   thumb: Uint8Array | undefined}`. The page writes it in one
//!   transaction when a file is attached (the `Blob` is the picked file
//!   itself: the browser keeps its bytes with the record); the sync worker
//!   (or, with no page open, the service worker running the app's module)
//!   sends it and records the file's reference in `meta.stored`; the item
//!   goes only once the reference is durable in the document.
//! - `chunks[[ws, name]]` = the chunk's stored bytes (`Uint8Array`, sealed
//!   as the server holds them, so that the cache holds no plaintext of an
//!   encrypted workspace).
//! - `chunk_use[[ws, name]]` = `{len, used, kept}`: its length, when it was
//!   last read or written (ms since the epoch) and whether a note kept
//!   offline needs it. Eviction reads only these small records.
//!
//! Every function is one IndexedDB transaction.

use std::collections::BTreeSet;

use hearth_shared::store::StoreError;
use js_sys::{Array, Object, Reflect, Uint8Array};
use rexie::{KeyRange, Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast as _, JsValue};

use crate::{APP, CHUNK_USE, CHUNKS, UPLOADS, finish, from_json, io, to_json};

/// A file waiting to be sent, as kept in `uploads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    /// The queue item's id (random, 32 hex characters).
    pub id: String,
    /// The note it is attached to.
    pub note: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    /// When it was attached (ms since the epoch).
    pub added_at: i64,
    /// The thumbnail's size in pixels, if the page made one (its JPEG is
    /// the record's `thumb`).
    #[serde(default)]
    pub thumb_size: Option<(u32, u32)>,
    /// Once every chunk is stored: the reference to write into the note
    /// (`FileRef` JSON).
    #[serde(default)]
    pub stored: Option<String>,
    /// Why sending it stopped for good (too large, over quota, refused),
    /// in words; it is sent again only when the person asks.
    #[serde(default)]
    pub failed: Option<String>,
}

/// One queued file with what it sends.
pub struct UploadData {
    pub meta: Upload,
    /// The file's bytes: a `Blob`.
    pub file: JsValue,
    pub thumb: Option<Vec<u8>>,
}

fn pair(workspace: &str, second: &str) -> JsValue {
    Array::of2(&JsValue::from_str(workspace), &JsValue::from_str(second)).into()
}

/// Every `[workspace, string]` key.
fn range(workspace: &str) -> Result<KeyRange, StoreError> {
    let lower: JsValue = Array::of1(&JsValue::from_str(workspace)).into();
    // Arrays sort after strings, so `[ws, []]` is above every `[ws, "…"]`.
    let upper: JsValue = Array::of2(&JsValue::from_str(workspace), &Array::new()).into();
    KeyRange::bound(&lower, &upper, Some(false), Some(true))
        .map_err(|e| StoreError::Io(format!("key range: {e}")))
}

fn set(object: &Object, name: &str, value: &JsValue) -> Result<(), StoreError> {
    Reflect::set(object, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| StoreError::Io(format!("could not build the record's `{name}`")))
}

fn get(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn upload_value(meta: &Upload, file: &JsValue, thumb: &JsValue) -> Result<JsValue, StoreError> {
    let object = Object::new();
    set(&object, "meta", &to_json("the queued file", meta)?)?;
    set(&object, "file", file)?;
    set(&object, "thumb", thumb)?;
    Ok(object.into())
}

fn upload_of(value: &JsValue) -> Result<UploadData, StoreError> {
    let meta: Upload = from_json("a queued file", get(value, "meta"))?;
    let thumb = get(value, "thumb")
        .dyn_into::<Uint8Array>()
        .ok()
        .map(|a| a.to_vec());
    Ok(UploadData {
        meta,
        file: get(value, "file"),
        thumb,
    })
}

/// Queues `meta` (its bytes `file`, a `Blob`, and its thumbnail's JPEG).
pub async fn enqueue(
    db: &Rexie,
    workspace: &str,
    meta: &Upload,
    file: &JsValue,
    thumb: Option<&[u8]>,
) -> Result<(), StoreError> {
    let action = format!("keep {} to send", meta.name);
    let thumb: JsValue = match thumb {
        Some(bytes) => Uint8Array::from(bytes).into(),
        None => JsValue::UNDEFINED,
    };
    let value = upload_value(meta, file, &thumb)?;
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadWrite)
        .map_err(|e| io(&action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(&action, e))?;
    store
        .put(&value, Some(&pair(workspace, &meta.id)))
        .await
        .map_err(|e| io(&action, e))?;
    finish(tx, &action).await
}

/// Every queued file of `workspace`, oldest first (without their bytes).
pub async fn uploads(db: &Rexie, workspace: &str) -> Result<Vec<Upload>, StoreError> {
    let action = "read the files waiting to be sent";
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(action, e))?;
    let values = store
        .get_all(Some(range(workspace)?), None)
        .await
        .map_err(|e| io(action, e))?;
    // A record that cannot be read is left out rather than blocking the
    // others (nothing this version writes is unreadable).
    let mut all: Vec<Upload> = values
        .iter()
        .filter_map(|v| from_json::<Upload>("a queued file", get(v, "meta")).ok())
        .collect();
    all.sort_by(|a, b| (a.added_at, &a.id).cmp(&(b.added_at, &b.id)));
    Ok(all)
}

/// Every workspace that has a queued file still to send (neither sent nor
/// stopped for good), with how many: what the service worker looks for
/// before it loads the app's module to send them.
pub async fn unsent(db: &Rexie) -> Result<Vec<(String, usize)>, StoreError> {
    let action = "read the files waiting to be sent";
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(action, e))?;
    let entries = store
        .scan(None, None, None, None)
        .await
        .map_err(|e| io(action, e))?;
    let mut out: Vec<(String, usize)> = Vec::new();
    for (key, value) in entries {
        let Some(workspace) = Array::from(&key).get(0).as_string() else {
            continue;
        };
        // Only the two fields that tell (the service worker's module stays
        // small without the whole record's reader).
        #[derive(Deserialize)]
        struct Outcome {
            #[serde(default)]
            stored: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            failed: Option<serde::de::IgnoredAny>,
        }
        let Ok(outcome) = from_json::<Outcome>("a queued file", get(&value, "meta")) else {
            continue;
        };
        if outcome.stored.is_some() || outcome.failed.is_some() {
            continue;
        }
        match out.last_mut() {
            Some((last, n)) if *last == workspace => *n += 1,
            _ => out.push((workspace, 1)),
        }
    }
    Ok(out)
}

/// Queued file `id` with its bytes, if it is still queued.
pub async fn upload(
    db: &Rexie,
    workspace: &str,
    id: &str,
) -> Result<Option<UploadData>, StoreError> {
    let action = "read a file waiting to be sent";
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(action, e))?;
    let value = store
        .get(pair(workspace, id))
        .await
        .map_err(|e| io(action, e))?;
    value.as_ref().map(upload_of).transpose()
}

/// Replaces the meta of queued file `meta.id` (its bytes stay); does
/// nothing if it is no longer queued. Returns whether it was.
pub async fn update_upload(db: &Rexie, workspace: &str, meta: &Upload) -> Result<bool, StoreError> {
    let action = "note how sending a file went";
    let key = pair(workspace, &meta.id);
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(action, e))?;
    let queued = store.get(key.clone()).await.map_err(|e| io(action, e))?;
    if let Some(value) = &queued {
        let next = upload_value(meta, &get(value, "file"), &get(value, "thumb"))?;
        store
            .put(&next, Some(&key))
            .await
            .map_err(|e| io(action, e))?;
    }
    finish(tx, action).await?;
    Ok(queued.is_some())
}

/// Takes queued file `id` off the queue.
pub async fn remove_upload(db: &Rexie, workspace: &str, id: &str) -> Result<(), StoreError> {
    let action = "take a file off the queue";
    let tx = db
        .transaction(&[UPLOADS], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let store = tx.store(UPLOADS).map_err(|e| io(action, e))?;
    store
        .delete(pair(workspace, id))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}

/// A chunk's entry in `chunk_use`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Use {
    len: u64,
    used: f64,
    kept: bool,
}

fn use_of(value: &JsValue) -> Option<Use> {
    serde_json::from_str(&value.as_string()?).ok()
}

fn use_value(entry: Use) -> JsValue {
    JsValue::from_str(&serde_json::to_string(&entry).unwrap_or_default())
}

/// Which of `names` the cache holds.
pub async fn cached_names(
    db: &Rexie,
    workspace: &str,
    names: &[String],
) -> Result<BTreeSet<String>, StoreError> {
    let action = "read the files kept on this device";
    let tx = db
        .transaction(&[CHUNK_USE], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let mut held = BTreeSet::new();
    for name in names {
        if store
            .get(pair(workspace, name))
            .await
            .map_err(|e| io(action, e))?
            .is_some()
        {
            held.insert(name.clone());
        }
    }
    Ok(held)
}

/// Which of `names` the cache holds, marking those used at `now` (so that
/// evicting right after a fetch never takes what the fetch found).
pub async fn touch_cached(
    db: &Rexie,
    workspace: &str,
    names: &[String],
    now: f64,
) -> Result<BTreeSet<String>, StoreError> {
    let action = "read the files kept on this device";
    let tx = db
        .transaction(&[CHUNK_USE], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let store = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let mut held = BTreeSet::new();
    for name in names {
        let key = pair(workspace, name);
        if let Some(mut entry) = store
            .get(key.clone())
            .await
            .map_err(|e| io(action, e))?
            .as_ref()
            .and_then(use_of)
        {
            entry.used = now;
            store
                .put(&use_value(entry), Some(&key))
                .await
                .map_err(|e| io(action, e))?;
            held.insert(name.clone());
        }
    }
    finish(tx, action).await?;
    Ok(held)
}

/// The cached bytes of each of `names` (`None` where the cache has none),
/// marking them used at `now`.
pub async fn read_chunks(
    db: &Rexie,
    workspace: &str,
    names: &[String],
    now: f64,
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let action = "read a file kept on this device";
    let tx = db
        .transaction(&[CHUNKS, CHUNK_USE], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let chunks = tx.store(CHUNKS).map_err(|e| io(action, e))?;
    let uses = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let key = pair(workspace, name);
        let bytes = chunks
            .get(key.clone())
            .await
            .map_err(|e| io(action, e))?
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .map(|a| a.to_vec());
        if bytes.is_some()
            && let Some(mut entry) = uses
                .get(key.clone())
                .await
                .map_err(|e| io(action, e))?
                .as_ref()
                .and_then(use_of)
        {
            entry.used = now;
            uses.put(&use_value(entry), Some(&key))
                .await
                .map_err(|e| io(action, e))?;
        }
        out.push(bytes);
    }
    finish(tx, action).await?;
    Ok(out)
}

/// Keeps chunk `name`'s stored bytes, used at `now`, kept offline if
/// `kept` or if it already was.
pub async fn write_chunk(
    db: &Rexie,
    workspace: &str,
    name: &str,
    bytes: &[u8],
    kept: bool,
    now: f64,
) -> Result<(), StoreError> {
    let action = "keep a file on this device";
    let key = pair(workspace, name);
    let tx = db
        .transaction(&[CHUNKS, CHUNK_USE], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let chunks = tx.store(CHUNKS).map_err(|e| io(action, e))?;
    chunks
        .put(&Uint8Array::from(bytes).into(), Some(&key))
        .await
        .map_err(|e| io(action, e))?;
    let uses = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let was_kept = uses
        .get(key.clone())
        .await
        .map_err(|e| io(action, e))?
        .as_ref()
        .and_then(use_of)
        .is_some_and(|u| u.kept);
    let entry = Use {
        len: bytes.len() as u64,
        used: now,
        kept: kept || was_kept,
    };
    uses.put(&use_value(entry), Some(&key))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}

/// Marks exactly the chunks in `kept` as kept offline (the others may be
/// evicted again).
pub async fn set_kept(
    db: &Rexie,
    workspace: &str,
    kept: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let action = "note which files to keep offline";
    let tx = db
        .transaction(&[CHUNK_USE], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let uses = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let entries = uses
        .scan(Some(range(workspace)?), None, None, None)
        .await
        .map_err(|e| io(action, e))?;
    for (key, value) in entries {
        let Some(mut entry) = use_of(&value) else {
            continue;
        };
        let name = Reflect::get(&key, &JsValue::from_f64(1.0))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        let should = kept.contains(&name);
        if entry.kept != should {
            entry.kept = should;
            uses.put(&use_value(entry), Some(&key))
                .await
                .map_err(|e| io(action, e))?;
        }
    }
    finish(tx, action).await
}

/// What the cache of `workspace` holds, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUse {
    /// All cached chunks.
    pub total: u64,
    /// Those kept offline (never evicted).
    pub kept: u64,
    pub chunks: u64,
}

/// Deletes the least recently used chunks that are not kept offline until
/// the others take at most `cap` bytes; returns what is left.
pub async fn evict(db: &Rexie, workspace: &str, cap: u64) -> Result<CacheUse, StoreError> {
    let action = "make room among the files kept on this device";
    let tx = db
        .transaction(&[CHUNKS, CHUNK_USE], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let uses = tx.store(CHUNK_USE).map_err(|e| io(action, e))?;
    let entries = uses
        .scan(Some(range(workspace)?), None, None, None)
        .await
        .map_err(|e| io(action, e))?;
    let mut usage = CacheUse::default();
    let mut evictable = Vec::new();
    for (key, value) in entries {
        let Some(entry) = use_of(&value) else {
            continue;
        };
        usage.total += entry.len;
        usage.chunks += 1;
        if entry.kept {
            usage.kept += entry.len;
        } else {
            evictable.push((entry.used, entry.len, key));
        }
    }
    evictable.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut loose = usage.total - usage.kept;
    let chunks = tx.store(CHUNKS).map_err(|e| io(action, e))?;
    for (_, len, key) in evictable {
        if loose <= cap {
            break;
        }
        chunks
            .delete(key.clone())
            .await
            .map_err(|e| io(action, e))?;
        uses.delete(key).await.map_err(|e| io(action, e))?;
        loose -= len;
        usage.total -= len;
        usage.chunks -= 1;
    }
    finish(tx, action).await?;
    Ok(usage)
}

mod settings;
use settings::pins_key;
pub use settings::{cache_cap, cache_use, pin, pins, set_cache_cap};

/// Deletes everything of `workspace` in the stores this module keeps,
/// inside the caller's transaction (which covers `uploads`, `chunks`,
/// `chunk_use` and `app`).
pub(crate) async fn forget(tx: &rexie::Transaction, workspace: &str) -> Result<(), StoreError> {
    let action = "remove the workspace's files from this device";
    for name in [UPLOADS, CHUNKS, CHUNK_USE] {
        let store = tx.store(name).map_err(|e| io(action, e))?;
        store
            .delete(range(workspace)?.into())
            .await
            .map_err(|e| io(action, e))?;
    }
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    app.delete(pins_key(workspace))
        .await
        .map_err(|e| io(action, e))
}
