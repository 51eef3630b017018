//! The app lock as IndexedDB keeps it: the lock record in `app["lock"]`
//! ([`LockRecord`]) and, on every device record, the workspace's secrets
//! (its token and keys) sealed under the lock key instead of in the clear
//! (`sealed`, see [`crate::device`]).
//!
//! This crate seals nothing itself (it links no cipher, for the service
//! worker's sake): the app installs its [`Secrets`] once the passcode has
//! opened the lock key, and every read and write of a device record in
//! that context goes through it. Without it, a sealed record reads with
//! no token and no keys, and a record with secrets in the clear is refused
//! rather than written while the lock is on. The format of the sealed
//! bytes is `hearth_shared::applock`'s.

use std::cell::RefCell;
use std::rc::Rc;

use hearth_shared::id::WorkspaceId;
use hearth_shared::store::StoreError;
use rexie::{Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::device::{self, DeviceRecord};
use crate::{APP, DEVICES, finish, from_json, io, to_json};

/// The `app` key of the lock record.
pub(crate) const LOCK: &str = "lock";

/// The app lock's settings and its wrapped key (binary fields in base64url
/// without padding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// 1.
    pub version: u32,
    /// PBKDF2 iterations of the passcode key.
    pub iterations: u32,
    /// PBKDF2 salt (16 bytes).
    pub salt: String,
    /// The lock key wrapped under the passcode key.
    pub passcode: String,
    /// The lock key wrapped under the recovery unlock key of each
    /// workspace whose recovery key this device keeps (the owner's).
    #[serde(default)]
    pub recovery: Vec<RecoveryUnlock>,
    /// Minutes without a touch or a key before the app locks.
    pub idle_minutes: u32,
    /// The lock key wrapped for this device's own unlock, if set up.
    #[serde(default)]
    pub device: Option<DeviceUnlock>,
    /// The lock key's id (16 bytes): a context holding another key never
    /// seals with it.
    pub key_id: String,
}

/// The device's own unlock: a WebAuthn credential whose PRF output, at
/// `salt`, wraps the lock key (binary fields in base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceUnlock {
    /// The credential's raw id.
    pub credential: String,
    /// The PRF input (32 random bytes).
    pub salt: String,
    pub wrapped: String,
}

/// The lock key wrapped for one workspace's recovery key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryUnlock {
    pub workspace: WorkspaceId,
    pub wrapped: String,
}

/// What seals and opens the secrets of device records: the app's lock
/// key, installed with [`unlock`]. `server` is the record's (`""` if none);
/// `seal` is `None` if the browser's random source failed.
pub trait Secrets {
    /// The key's id, as [`LockRecord::key_id`] holds it.
    fn key_id(&self) -> String;
    fn seal(&self, workspace: &WorkspaceId, server: &str, plain: &[u8]) -> Option<Vec<u8>>;
    fn open(&self, workspace: &WorkspaceId, server: &str, sealed: &[u8]) -> Option<Vec<u8>>;
}

/// The installed key, if it is the one `lock` wraps; an error if another
/// is installed (the lock was turned off and on again in another tab).
pub(crate) fn key_for(
    lock: &LockRecord,
    action: &str,
) -> Result<Option<Rc<dyn Secrets>>, StoreError> {
    match secrets() {
        Some(secrets) if secrets.key_id() != lock.key_id => Err(changed_elsewhere(action)),
        found => Ok(found),
    }
}

/// The refusal of a context whose key is not the lock's.
fn changed_elsewhere(action: &str) -> StoreError {
    StoreError::Io(format!(
        "could not {action}: the app lock was changed in another tab; reload this one"
    ))
}

thread_local! {
    static SECRETS: RefCell<Option<Rc<dyn Secrets>>> = const { RefCell::new(None) };
}

/// Installs the opened lock key for this context (the page or the worker).
pub fn unlock(secrets: Rc<dyn Secrets>) {
    SECRETS.with(|s| *s.borrow_mut() = Some(secrets));
}

/// Forgets the lock key in this context.
pub fn forget_key() {
    SECRETS.with(|s| *s.borrow_mut() = None);
}

/// The installed lock key, if any.
pub(crate) fn secrets() -> Option<Rc<dyn Secrets>> {
    SECRETS.with(|s| s.borrow().clone())
}

/// The lock record, if the lock is on.
pub async fn load(db: &Rexie) -> Result<Option<LockRecord>, StoreError> {
    let action = "read the app lock";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    lock_in(&app, action).await
}

pub(crate) async fn lock_in(
    app: &rexie::Store,
    action: &str,
) -> Result<Option<LockRecord>, StoreError> {
    match app
        .get(JsValue::from_str(LOCK))
        .await
        .map_err(|e| io(action, e))?
    {
        Some(value) => from_json("the app lock", value).map(Some),
        None => Ok(None),
    }
}

/// Replaces the lock record (the lock being on): a recovery key wrapped
/// anew.
pub async fn save(db: &Rexie, lock: &LockRecord) -> Result<(), StoreError> {
    let action = "save the app lock";
    let tx = db
        .transaction(&[APP], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let key = JsValue::from_str(LOCK);
    // Only over the same lock key, and only by a context holding it.
    let stored = lock_in(&app, action)
        .await?
        .ok_or_else(|| StoreError::Io(format!("could not {action}: the lock is off")))?;
    if stored.key_id != lock.key_id || key_for(&stored, action)?.is_none() {
        return Err(changed_elsewhere(action));
    }
    app.put(&to_json(action, lock)?, Some(&key))
        .await
        .map_err(|e| io(action, e))?;
    finish(tx, action).await
}

/// Turns the lock on (refused if it is on already): stores `lock` and
/// rewrites every device record with its secrets sealed by `secrets` (the
/// lock key that `lock` wraps), in one transaction, then installs
/// `secrets` here.
pub async fn turn_on(
    db: &Rexie,
    lock: &LockRecord,
    secrets: Rc<dyn Secrets>,
) -> Result<(), StoreError> {
    rewrite(
        db,
        "turn the app lock on",
        Some(lock),
        Rewrite::Seal(secrets.clone()),
    )
    .await?;
    unlock(secrets);
    Ok(())
}

/// Turns the lock off: every device record's secrets back in the clear,
/// opened with the installed key, and the lock record deleted.
pub async fn turn_off(db: &Rexie) -> Result<(), StoreError> {
    let secrets = secrets().ok_or_else(|| {
        StoreError::Io("the app is locked: unlock it before turning the lock off".into())
    })?;
    rewrite(db, "turn the app lock off", None, Rewrite::Open(secrets)).await?;
    forget_key();
    Ok(())
}

/// For a forgotten passcode (or a damaged lock record): deletes, in one
/// transaction, everything this device holds (every workspace's notes,
/// sync state, queued files, cached chunks, settings and sealed keys: what
/// the lock kept from whoever held the device) with the lock record,
/// whatever state they are in; only the data layout's number stays. Each
/// workspace comes back from its server with its recovery key or by
/// pairing this device again; what was not yet synced is gone.
pub async fn forget(db: &Rexie) -> Result<(), StoreError> {
    let action = "remove the app lock and this device's workspaces";
    let tx = db
        .transaction(&crate::STORES, TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    let layout_key = JsValue::from_str(crate::upgrade::LAYOUT_KEY);
    let layout = app
        .get(layout_key.clone())
        .await
        .map_err(|e| io(action, e))?;
    for name in crate::STORES {
        let store = tx.store(name).map_err(|e| io(action, e))?;
        store.clear().await.map_err(|e| io(action, e))?;
    }
    if let Some(layout) = layout {
        app.put(&layout, Some(&layout_key))
            .await
            .map_err(|e| io(action, e))?;
    }
    finish(tx, action).await?;
    forget_key();
    Ok(())
}

/// What [`rewrite`] does to each record's secrets.
enum Rewrite {
    Seal(Rc<dyn Secrets>),
    Open(Rc<dyn Secrets>),
}

async fn rewrite(
    db: &Rexie,
    action: &str,
    lock: Option<&LockRecord>,
    how: Rewrite,
) -> Result<(), StoreError> {
    let tx = db
        .transaction(&[APP, DEVICES], TransactionMode::ReadWrite)
        .map_err(|e| io(action, e))?;
    let app = tx.store(APP).map_err(|e| io(action, e))?;
    match (&how, lock_in(&app, action).await?) {
        (Rewrite::Seal(_), Some(_)) => {
            return Err(StoreError::Io(format!(
                "could not {action}: it is on already (turned on in another tab?); reload this one"
            )));
        }
        (Rewrite::Open(secrets), Some(stored)) if secrets.key_id() != stored.key_id => {
            return Err(changed_elsewhere(action));
        }
        _ => {}
    }
    let devices = tx.store(DEVICES).map_err(|e| io(action, e))?;
    let values = devices
        .get_all(None, None)
        .await
        .map_err(|e| io(action, e))?;
    for value in values {
        let mut record: DeviceRecord = from_json("device settings", value)?;
        match &how {
            Rewrite::Seal(secrets) => device::seal_secrets(&mut record, secrets.as_ref())?,
            Rewrite::Open(secrets) => device::open_secrets(&mut record, secrets.as_ref())?,
        }
        let key = JsValue::from_str(record.workspace_id.as_str());
        devices
            .put(&to_json(action, &record)?, Some(&key))
            .await
            .map_err(|e| io(action, e))?;
    }
    let key = JsValue::from_str(LOCK);
    match lock {
        Some(lock) => {
            app.put(&to_json(action, lock)?, Some(&key))
                .await
                .map_err(|e| io(action, e))?;
        }
        None => app.delete(key).await.map_err(|e| io(action, e))?,
    }
    finish(tx, action).await
}
