//! The app lock's keys, on both sides of the worker line: the lock key as
//! the storage contract's [`Secrets`] (installed in the page once the
//! passcode opens it, and in the worker when the page hands it over), and
//! the passcode key, derived by the browser's Web Crypto (PBKDF2). The
//! format is `hearth_shared::applock`'s; the screens are in
//! `page::ui::lock`.

use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::applock::{ITERATIONS, LockKey, MAX_ITERATIONS, MIN_ITERATIONS, UnlockKey};
use hearth_shared::id::WorkspaceId;
use hearth_storage::device::DeviceRecord;
use hearth_storage::lock::{LockRecord, RecoveryUnlock, Secrets};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The lock key, sealing and opening device records' secrets.
struct Sealer(LockKey);

impl Secrets for Sealer {
    fn key_id(&self) -> String {
        key_id(&self.0)
    }

    fn seal(&self, workspace: &WorkspaceId, server: &str, plain: &[u8]) -> Option<Vec<u8>> {
        // No stand-in IV: a lock key seals in two contexts at once.
        let iv = crate::platform::secure_random().ok()?;
        Some(self.0.seal(workspace, server, plain, iv))
    }

    fn open(&self, workspace: &WorkspaceId, server: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.0.open(workspace, server, sealed)
    }
}

/// The key id as the lock record keeps it.
fn key_id(key: &LockKey) -> String {
    URL_SAFE_NO_PAD.encode(key.id())
}

/// Installs the lock key in this context (the page or the worker).
pub fn install(key: &LockKey) {
    hearth_storage::lock::unlock(sealer(key));
}

/// The lock key as the storage contract takes it, to turn the lock on.
pub fn sealer(key: &LockKey) -> Rc<dyn Secrets> {
    Rc::new(Sealer(key.clone()))
}

/// A new lock record for `passcode` over `key`, wrapped too for the
/// recovery key of every workspace in `records` whose recovery key this
/// device keeps.
pub async fn new_record(
    passcode: &str,
    idle_minutes: u32,
    key: &LockKey,
    records: &[DeviceRecord],
) -> Result<LockRecord, String> {
    let unwrapped = LockRecord {
        version: 1,
        iterations: ITERATIONS,
        salt: String::new(),
        passcode: String::new(),
        recovery: new_recovery_unlocks(key, records),
        idle_minutes,
        device: None,
        key_id: key_id(key),
    };
    with_new_passcode(&unwrapped, key, passcode).await
}

/// `lock` with a new passcode over the same lock `key` (a fresh salt);
/// the records sealed under the key stay as they are.
pub async fn with_new_passcode(
    lock: &LockRecord,
    key: &LockKey,
    passcode: &str,
) -> Result<LockRecord, String> {
    hearth_shared::applock::check_passcode(passcode)?;
    let salt: [u8; 16] = crate::platform::secure_random()?;
    let derived = passcode_key(passcode, &salt, ITERATIONS).await?;
    let wrapped = key.wrap(
        &UnlockKey::from_passcode_key(derived),
        crate::platform::fresh_iv(),
    );
    Ok(LockRecord {
        iterations: ITERATIONS,
        salt: URL_SAFE_NO_PAD.encode(salt),
        passcode: URL_SAFE_NO_PAD.encode(wrapped),
        ..lock.clone()
    })
}

/// The lock key wrapped for the recovery key of every workspace in
/// `records` whose recovery key this device keeps (the owner's).
pub fn new_recovery_unlocks(key: &LockKey, records: &[DeviceRecord]) -> Vec<RecoveryUnlock> {
    records
        .iter()
        .filter_map(|r| {
            let wrap = r.keys.as_ref()?.recovery.as_ref()?;
            let unlock = UnlockKey::from_recovery(&wrap.wrapping_key(), &r.workspace_id);
            Some(RecoveryUnlock {
                workspace: r.workspace_id.clone(),
                wrapped: URL_SAFE_NO_PAD.encode(key.wrap(&unlock, crate::platform::fresh_iv())),
            })
        })
        .collect()
}

/// The lock key, if `passcode` opens `lock`.
pub async fn open_with_passcode(lock: &LockRecord, passcode: &str) -> Result<LockKey, String> {
    if lock.version != 1 {
        return Err(format!(
            "This app lock was made by a newer Hearth (version {}); update the app.",
            lock.version
        ));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&lock.iterations) {
        return Err("This device's app lock is damaged (its settings were changed); use “Forgot your passcode?”.".into());
    }
    let damaged = || "This device's app lock is damaged; use “Forgot your passcode?”.".to_owned();
    let salt = URL_SAFE_NO_PAD
        .decode(lock.salt.as_bytes())
        .map_err(|_| damaged())?;
    let wrapped = URL_SAFE_NO_PAD
        .decode(lock.passcode.as_bytes())
        .map_err(|_| damaged())?;
    let derived = passcode_key(passcode, &salt, lock.iterations).await?;
    LockKey::unwrap(&UnlockKey::from_passcode_key(derived), &wrapped)
        .ok_or_else(|| "That passcode does not open Hearth. Try again.".to_owned())
}

/// The lock key, if the recovery key typed as `text` is one of a workspace
/// `lock` was wrapped for.
pub fn open_with_recovery(lock: &LockRecord, text: &str) -> Result<LockKey, String> {
    let key = hearth_shared::recovery::RecoveryKey::parse(text).map_err(|e| {
        format!("That is not a recovery key: {e}. It has 11 groups of five letters and digits.")
    })?;
    lock.recovery
        .iter()
        .find_map(|unlock| {
            let wrapped = URL_SAFE_NO_PAD.decode(unlock.wrapped.as_bytes()).ok()?;
            let kek = UnlockKey::from_recovery(&key.wrapping_key(&unlock.workspace), &unlock.workspace);
            LockKey::unwrap(&kek, &wrapped)
        })
        .ok_or_else(|| {
            "That recovery key does not open the lock on this device (it opens only where the workspace's owner made it)."
                .to_owned()
        })
}

/// PBKDF2-HMAC-SHA256 of `passcode` (UTF-8, as typed) by the browser.
pub async fn passcode_key(
    passcode: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<[u8; 32], String> {
    let failed = |_| "this browser could not derive a key from the passcode".to_owned();
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
        .ok_or("this browser has no Web Crypto, so it cannot lock the app")?;
    let subtle = crypto.subtle();
    let usages = js_sys::Array::of1(&"deriveBits".into());
    let raw = js_sys::Uint8Array::from(passcode.as_bytes());
    let material = JsFuture::from(
        subtle
            .import_key_with_str("raw", &raw, "PBKDF2", false, &usages)
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    let material: web_sys::CryptoKey = material.dyn_into().map_err(failed)?;
    let params = js_sys::Object::new();
    for (name, value) in [
        ("name", JsValue::from_str("PBKDF2")),
        ("hash", JsValue::from_str("SHA-256")),
        ("salt", js_sys::Uint8Array::from(salt).into()),
        ("iterations", JsValue::from(iterations)),
    ] {
        js_sys::Reflect::set(&params, &name.into(), &value).map_err(failed)?;
    }
    let bits = JsFuture::from(
        subtle
            .derive_bits_with_object(&params, &material, 256)
            .map_err(failed)?,
    )
    .await
    .map_err(failed)?;
    let bytes = js_sys::Uint8Array::new(&bits).to_vec();
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| "this browser derived a key of the wrong length".to_owned())
}
