//! The file cache's settings in `app`: its cap (`app["cache-cap"]`) and
//! the notes whose files are kept offline (`app["pins:{ws}"]`).

use super::*;

/// The key of the most the cache may hold, in the `app` store (one
/// setting for the device, every workspace).
const CACHE_CAP_KEY: &str = "cache-cap";

/// The most that cached chunks not kept offline may take, as set on this
/// device, if it was.
pub async fn cache_cap(db: &Rexie) -> Result<Option<u64>, StoreError> {
    let action = "read how much the file cache may hold";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    Ok(app
        .get(JsValue::from_str(CACHE_CAP_KEY))
        .await
        .map_err(|e| io(action, e))?
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v as u64))
}

/// Sets the most that cached chunks not kept offline may take.
pub async fn set_cache_cap(db: &Rexie, cap: u64) -> Result<(), StoreError> {
    let action = "set how much the file cache may hold";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    app.put(
        &JsValue::from_f64(cap as f64),
        Some(&JsValue::from_str(CACHE_CAP_KEY)),
    )
    .await
    .map_err(|e| io(action, e))?;
    finish(tx, action).await
}

/// What the cache of `workspace` holds, deleting nothing.
pub async fn cache_use(db: &Rexie, workspace: &str) -> Result<CacheUse, StoreError> {
    evict(db, workspace, u64::MAX).await
}

/// The key of `workspace`'s notes kept offline in the `app` store.
pub(super) fn pins_key(workspace: &str) -> JsValue {
    JsValue::from_str(&format!("pins:{workspace}"))
}

/// The notes of `workspace` whose files are kept available offline.
pub async fn pins(db: &Rexie, workspace: &str) -> Result<BTreeSet<String>, StoreError> {
    let action = "read which notes are kept offline";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    match app
        .get(pins_key(workspace))
        .await
        .map_err(|e| io(action, e))?
    {
        Some(value) => from_json("the notes kept offline", value),
        None => Ok(BTreeSet::new()),
    }
}

/// Keeps (`on`) or stops keeping note `note`'s files offline; returns the
/// notes kept now.
pub async fn pin(
    db: &Rexie,
    workspace: &str,
    note: &str,
    on: bool,
) -> Result<BTreeSet<String>, StoreError> {
    let action = "keep a note's files offline";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let key = pins_key(workspace);
    let mut pins: BTreeSet<String> = match app.get(key.clone()).await.map_err(|e| io(action, e))? {
        Some(value) => from_json("the notes kept offline", value)?,
        None => BTreeSet::new(),
    };
    if on {
        pins.insert(note.to_owned());
    } else {
        pins.remove(note);
    }
    app.put(&to_json("the notes kept offline", &pins)?, Some(&key))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await?;
    Ok(pins)
}
