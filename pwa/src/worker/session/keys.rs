//! The workspace's keys in the worker: rotating to a new key epoch (kept
//! in the device record first), and keeping a keyring that gained an
//! epoch during a sync.

use super::boot::AppEngine;
use crate::device;
use crate::platform::now_ms;

/// Makes a new key epoch, keeps it in the device record first (so that a
/// device stopped half-way still holds the key it wrote with), then has
/// the engine rotate to it.
pub(super) async fn rotate_key(
    engine: &mut AppEngine,
    removed: Option<&hearth_shared::id::TokenId>,
) -> Result<(), String> {
    let db = engine.store().db_handle();
    let mut record = device::current(&db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("this device holds no workspace")?;
    let Some(ring) = &record.keys else {
        return Err("this workspace is not encrypted; there is no key to rotate".into());
    };
    let ring = ring.with_new_epoch(crate::platform::secure_random()?);
    record.keys = Some(ring.clone());
    device::save_current(&db, &record)
        .await
        .map_err(|e| e.to_string())?;
    engine
        .rotate(&ring, removed, now_ms().max(0) as u64)
        .await
        .map_err(|e| e.to_string())
}

/// Keeps the engine's keyring in the device record if it gained an epoch,
/// and tells the page (through `on_keys`).
pub(super) async fn keep_changed_ring(
    engine: &mut AppEngine,
    on_keys: &mut dyn FnMut(hearth_shared::keys::Keyring),
) {
    let Some(ring) = engine.take_changed_ring() else {
        return;
    };
    // This workspace's record, open or synced in the background.
    let db = engine.store().db_handle();
    if let Ok(Some(mut record)) = device::load(&db, engine.store().workspace()).await {
        let mut kept = record.keys.take().unwrap_or_else(|| ring.clone());
        kept.merge(&ring);
        record.keys = Some(kept.clone());
        if device::save(&db, &record).await.is_ok() {
            on_keys(kept);
        }
    }
}
