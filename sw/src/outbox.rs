//! Background Sync: sending the device's pending batch while no page is
//! open.
//!
//! The sync engine keeps the batch it is pushing (its "outbox": the
//! idempotency key and the envelope bytes) in IndexedDB before it sends it,
//! so that a retry sends the same bytes under the same key. When the
//! browser fires the `hearth-sync` event, this worker reads that batch and
//! posts it. The engine, when it runs next, posts it again with the same
//! key and the server answers with the same sequence number: nothing is
//! stored twice and the engine's bookkeeping stays its own.

use js_sys::Uint8Array;
use rexie::{ObjectStore, Rexie, TransactionMode};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

/// The Background Sync tag the app registers.
pub const TAG: &str = "hearth-sync";

/// What one attempt found.
pub enum Flushed {
    /// Nothing to send (not connected, or no batch pending).
    Nothing,
    /// The server took the batch.
    Sent,
    /// The server refused it for good (revoked token…): the app will say so.
    Refused,
}

fn err(message: impl Into<String>) -> JsValue {
    JsValue::from_str(&message.into())
}

async fn read_json(db: &Rexie, store: &str, key: &str) -> Result<Option<Value>, JsValue> {
    let tx = db
        .transaction(&[store], TransactionMode::ReadOnly)
        .map_err(|e| err(e.to_string()))?;
    let store = tx.store(store).map_err(|e| err(e.to_string()))?;
    let Some(value) = store
        .get(JsValue::from_str(key))
        .await
        .map_err(|e| err(e.to_string()))?
    else {
        return Ok(None);
    };
    let text = value
        .as_string()
        .ok_or_else(|| err("stored value is not text"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| err(e.to_string()))
}

/// Sends the pending batch, if any. An error means "try again later".
pub async fn flush() -> Result<Flushed, JsValue> {
    // The app's database, as the app declares it (same version: no upgrade).
    let db = Rexie::builder("hearth")
        .version(1)
        .add_object_store(ObjectStore::new("meta"))
        .add_object_store(ObjectStore::new("snapshots"))
        .add_object_store(ObjectStore::new("updates"))
        .add_object_store(ObjectStore::new("devices"))
        .build()
        .await
        .map_err(|e| err(e.to_string()))?;
    let Some(device) = read_json(&db, "devices", "current").await? else {
        return Ok(Flushed::Nothing);
    };
    let (Some(server), Some(token), Some(workspace)) = (
        device["server"].as_str(),
        device["token"].as_str(),
        device["workspace_id"].as_str(),
    ) else {
        return Ok(Flushed::Nothing);
    };
    let Some(meta) = read_json(&db, "meta", workspace).await? else {
        return Ok(Flushed::Nothing);
    };
    let outbox = &meta["outbox"];
    let (Some(key), Some(bytes)) = (outbox["key"].as_str(), outbox["envelope"].as_array()) else {
        return Ok(Flushed::Nothing);
    };
    let envelope: Vec<u8> = bytes
        .iter()
        .filter_map(|b| b.as_u64())
        .map(|b| b as u8)
        .collect();
    if envelope.len() != bytes.len() {
        return Err(err("the pending batch is not bytes"));
    }

    let headers = Headers::new()?;
    headers.set("Authorization", &format!("Bearer {token}"))?;
    headers.set("Idempotency-Key", key)?;
    headers.set("Content-Type", "application/octet-stream")?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&Uint8Array::from(envelope.as_slice()).into());
    let ws = hearth_shared::id::WorkspaceId::parse(workspace)
        .map_err(|e| err(format!("the stored workspace id is not valid: {e}")))?;
    let url = hearth_shared::routes::Route::Push(ws).url(server);
    let request = Request::new_with_str_and_init(&url, &init)?;
    let scope: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(scope.fetch_with_request(&request))
        .await?
        .dyn_into()?;
    if hearth_shared::answer::is_success(response.status()) {
        return Ok(Flushed::Sent);
    }
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let answer =
        hearth_shared::answer::ErrorAnswer::read(response.status(), retry_after.as_deref(), &[]);
    if answer.is_retryable() {
        Err(err(format!("server answered {}", answer.status)))
    } else {
        Ok(Flushed::Refused)
    }
}
