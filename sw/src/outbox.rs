//! Background Sync: sending the device's pending batch while no page is
//! open.
//!
//! The sync engine keeps the batch it is pushing (its "outbox": the
//! idempotency key and the envelope bytes) in IndexedDB before it sends it,
//! so that a retry sends the same bytes under the same key. When the
//! browser fires the `hearth-sync` event, this worker reads every
//! workspace's batch from the `outbox` store (the layout is
//! `hearth-storage`'s) and posts each with its workspace's token. The engine, when it runs next, posts it again with the same
//! key and the server answers with the same sequence number: nothing is
//! stored twice and the engine's bookkeeping stays its own.

use hearth_shared::answer::{ErrorAnswer, is_success};
use hearth_shared::id::WorkspaceId;
use hearth_shared::routes::Route;
use hearth_shared::store::Outbox;
use hearth_storage::{DB_NAME, device, outbox};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

use crate::err;

/// The Background Sync tag the app registers.
pub const TAG: &str = "hearth-sync";

/// What one attempt found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Batches the server took.
    pub sent: u32,
    /// Batches the server refused for good (a revoked token…): the app
    /// says so when it opens.
    pub refused: u32,
}

/// Sends every workspace's pending batch. An error means "try again
/// later" (some batch could not be sent yet); the others were sent.
pub async fn flush() -> Result<Flushed, JsValue> {
    let db = hearth_storage::open(DB_NAME)
        .await
        .map_err(|e| err(e.to_string()))?;
    let pending = outbox::all(&db).await.map_err(|e| err(e.to_string()))?;
    let mut flushed = Flushed::default();
    let mut retry = None;
    for (workspace, batch) in pending {
        let record = device::load(&db, &workspace)
            .await
            .map_err(|e| err(e.to_string()))?;
        let Some((server, token)) = record.as_ref().and_then(|r| r.connection()) else {
            // Not connected (or not any more): the batch waits for the app.
            continue;
        };
        match send(server, token, &workspace, &batch).await {
            Ok(true) => flushed.sent += 1,
            Ok(false) => flushed.refused += 1,
            Err(e) => retry = Some(e),
        }
    }
    match retry {
        Some(e) => Err(e),
        None => Ok(flushed),
    }
}

/// Posts one batch. `Ok(true)`: taken; `Ok(false)`: refused for good;
/// `Err`: try again later.
async fn send(
    server: &str,
    token: &str,
    workspace: &WorkspaceId,
    batch: &Outbox,
) -> Result<bool, JsValue> {
    let headers = Headers::new()?;
    headers.set("Authorization", &format!("Bearer {token}"))?;
    headers.set("Idempotency-Key", &batch.key)?;
    headers.set("Content-Type", "application/octet-stream")?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&Uint8Array::from(batch.envelope.as_slice()).into());
    let url = Route::Push(workspace.clone()).url(server);
    let request = Request::new_with_str_and_init(&url, &init)?;
    let scope: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(scope.fetch_with_request(&request))
        .await?
        .dyn_into()?;
    if is_success(response.status()) {
        return Ok(true);
    }
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let answer = ErrorAnswer::read(response.status(), retry_after.as_deref(), &[]);
    if answer.is_retryable() {
        Err(err(format!("server answered {}", answer.status)))
    } else {
        Ok(false)
    }
}
