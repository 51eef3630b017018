//! The device's own unlock for the app lock: a WebAuthn credential of this
//! device's platform authenticator (fingerprint, face, screen lock) with
//! the PRF extension, whose secret output wraps the lock key beside the
//! passcode. Where the browser or the authenticator lacks PRF, only the
//! passcode unlocks.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::applock::{LockKey, UnlockKey};
use hearth_storage::lock::{DeviceUnlock, LockRecord};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Whether this browser can make WebAuthn credentials at all (PRF is
/// known only once one is made).
pub fn available() -> bool {
    let global = js_sys::global();
    Reflect::get(&global, &"PublicKeyCredential".into()).is_ok_and(|v| !v.is_undefined())
        && credentials().is_some()
}

fn credentials() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let credentials = Reflect::get(&navigator, &"credentials".into()).ok()?;
    (!credentials.is_undefined()).then_some(credentials)
}

/// A plain object of `fields`.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let out = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&out, &(*name).into(), value);
    }
    out.into()
}

fn bytes(value: &[u8]) -> JsValue {
    Uint8Array::from(value).into()
}

/// Calls `navigator.credentials[method]({publicKey})`.
async fn call(method: &str, public_key: JsValue) -> Result<JsValue, String> {
    let credentials = credentials().ok_or("this browser has no WebAuthn")?;
    let function: js_sys::Function = Reflect::get(&credentials, &method.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("this browser has no WebAuthn")?;
    let promise: js_sys::Promise = function
        .call1(&credentials, &object(&[("publicKey", public_key)]))
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or("this browser has no WebAuthn")?;
    JsFuture::from(promise).await.map_err(|e| {
        let name = Reflect::get(&e, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_default();
        if name == "NotAllowedError" {
            "The device's unlock was cancelled or timed out.".to_owned()
        } else {
            format!("The device's unlock failed ({name}).")
        }
    })
}

/// The PRF output `credential.getClientExtensionResults().prf.results.first`.
fn prf_first(credential: &JsValue) -> Option<[u8; 32]> {
    let results: js_sys::Function = Reflect::get(credential, &"getClientExtensionResults".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let results = results.call0(credential).ok()?;
    let prf = Reflect::get(&results, &"prf".into()).ok()?;
    let first = Reflect::get(
        &Reflect::get(&prf, &"results".into()).ok()?,
        &"first".into(),
    )
    .ok()?;
    let first = if first.is_instance_of::<js_sys::ArrayBuffer>() {
        Uint8Array::new(&first).to_vec()
    } else {
        first.dyn_into::<Uint8Array>().ok()?.to_vec()
    };
    first.as_slice().try_into().ok()
}

/// Asks the authenticator for the PRF output of `credential` at `salt`.
async fn evaluate(credential: &[u8], salt: &[u8]) -> Result<[u8; 32], String> {
    let challenge: [u8; 32] = crate::platform::secure_random()?;
    let allow = Array::of1(&object(&[
        ("type", "public-key".into()),
        ("id", bytes(credential)),
    ]));
    let prf = object(&[("eval", object(&[("first", bytes(salt))]))]);
    let got = call(
        "get",
        object(&[
            ("challenge", bytes(&challenge)),
            ("allowCredentials", allow.into()),
            ("userVerification", "required".into()),
            ("timeout", JsValue::from(120_000)),
            ("extensions", object(&[("prf", prf)])),
        ]),
    )
    .await?;
    prf_first(&got).ok_or_else(|| {
        "This device's authenticator does not give Hearth a key (no PRF): use the passcode."
            .to_owned()
    })
}

/// Makes a credential on this device's authenticator and wraps `key` under
/// its PRF output.
pub async fn register(key: &LockKey) -> Result<DeviceUnlock, String> {
    let challenge: [u8; 32] = crate::platform::secure_random()?;
    let user: [u8; 16] = crate::platform::secure_random()?;
    let made = call(
        "create",
        object(&[
            ("rp", object(&[("name", "Hearth".into())])),
            (
                "user",
                object(&[
                    ("id", bytes(&user)),
                    ("name", "Hearth app lock".into()),
                    ("displayName", "Hearth app lock".into()),
                ]),
            ),
            ("challenge", bytes(&challenge)),
            (
                "pubKeyCredParams",
                Array::of2(
                    &object(&[("type", "public-key".into()), ("alg", JsValue::from(-7))]),
                    &object(&[("type", "public-key".into()), ("alg", JsValue::from(-257))]),
                )
                .into(),
            ),
            (
                "authenticatorSelection",
                object(&[
                    ("authenticatorAttachment", "platform".into()),
                    ("userVerification", "required".into()),
                    ("residentKey", "discouraged".into()),
                ]),
            ),
            ("timeout", JsValue::from(120_000)),
            ("extensions", object(&[("prf", object(&[]))])),
        ]),
    )
    .await?;
    let raw = Reflect::get(&made, &"rawId".into())
        .ok()
        .filter(|v| v.is_instance_of::<js_sys::ArrayBuffer>())
        .map(|v| Uint8Array::new(&v).to_vec())
        .ok_or("the authenticator made no credential")?;
    let salt: [u8; 32] = crate::platform::secure_random()?;
    let secret = evaluate(&raw, &salt).await?;
    let wrapped = key.wrap(
        &UnlockKey::from_device(&secret),
        crate::platform::fresh_iv(),
    );
    Ok(DeviceUnlock {
        credential: URL_SAFE_NO_PAD.encode(raw),
        salt: URL_SAFE_NO_PAD.encode(salt),
        wrapped: URL_SAFE_NO_PAD.encode(wrapped),
    })
}

/// The lock key, opened by this device's unlock.
pub async fn open(lock: &LockRecord) -> Result<LockKey, String> {
    let unlock = lock
        .device
        .as_ref()
        .ok_or("This device's unlock is not set up; use the passcode.")?;
    let damaged = || "This device's unlock is damaged; use the passcode.".to_owned();
    let decode = |text: &str| {
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| damaged())
    };
    let (credential, salt, wrapped) = (
        decode(&unlock.credential)?,
        decode(&unlock.salt)?,
        decode(&unlock.wrapped)?,
    );
    let secret = evaluate(&credential, &salt).await?;
    LockKey::unwrap(&UnlockKey::from_device(&secret), &wrapped).ok_or_else(damaged)
}
