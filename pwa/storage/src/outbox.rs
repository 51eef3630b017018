//! The batch being pushed, one per workspace in the `outbox` store.
//!
//! Its value is a plain object `{key: string, from: number, to: number,
//! envelope: Uint8Array}`: `key` is the push's `Idempotency-Key`, `from`
//! and `to` the device's operation counters it covers, `envelope` the exact
//! bytes that are posted. The engine writes it (through the app's store)
//! before the first attempt; the service worker reads it to send it while
//! no page is open.

use hearth_shared::id::WorkspaceId;
use hearth_shared::store::{Outbox, StoreError};
use js_sys::{Object, Reflect, Uint8Array};
use rexie::{Rexie, TransactionMode};
use wasm_bindgen::{JsCast, JsValue};

use crate::{OUTBOX, io};

/// The batch as the value stored.
pub fn to_value(outbox: &Outbox) -> Result<JsValue, StoreError> {
    let object = Object::new();
    let fields: [(&str, JsValue); 4] = [
        ("key", JsValue::from_str(&outbox.key)),
        ("from", JsValue::from(outbox.from)),
        ("to", JsValue::from(outbox.to)),
        (
            "envelope",
            Uint8Array::from(outbox.envelope.as_slice()).into(),
        ),
    ];
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), &value)
            .map_err(|_| StoreError::Io("could not build the pending batch".into()))?;
    }
    Ok(object.into())
}

/// Reads a stored batch; anything else is reported as corrupt.
pub fn from_value(value: &JsValue) -> Result<Outbox, StoreError> {
    let field = |name: &str| {
        Reflect::get(value, &JsValue::from_str(name))
            .map_err(|_| StoreError::Corrupt("the pending batch is not an object".into()))
    };
    let counter = |name: &str| -> Result<i32, StoreError> {
        field(name)?
            .as_f64()
            .filter(|n| n.fract() == 0.0 && *n >= f64::from(i32::MIN) && *n <= f64::from(i32::MAX))
            .map(|n| n as i32)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("the pending batch's `{name}` is not a counter"))
            })
    };
    let key = field("key")?
        .as_string()
        .ok_or_else(|| StoreError::Corrupt("the pending batch has no key".into()))?;
    let envelope = field("envelope")?
        .dyn_into::<Uint8Array>()
        .map_err(|_| StoreError::Corrupt("the pending batch is not bytes".into()))?
        .to_vec();
    Ok(Outbox {
        key,
        from: counter("from")?,
        to: counter("to")?,
        envelope,
    })
}

/// Every workspace's pending batch, by workspace id. Keys that are not
/// workspace ids are skipped (nothing writes them).
pub async fn all(db: &Rexie) -> Result<Vec<(WorkspaceId, Outbox)>, StoreError> {
    let action = "read the pending changes";
    let tx = db
        .transaction(&[OUTBOX], TransactionMode::ReadOnly)
        .map_err(|e| io(action, e))?;
    let store = tx.store(OUTBOX).map_err(|e| io(action, e))?;
    let entries = store
        .scan(None, None, None, None)
        .await
        .map_err(|e| io(action, e))?;
    entries
        .into_iter()
        .filter_map(|(key, value)| {
            let ws = WorkspaceId::parse(&key.as_string()?).ok()?;
            Some(from_value(&value).map(|outbox| (ws, outbox)))
        })
        .collect()
}
