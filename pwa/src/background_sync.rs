//! Background Sync: what the service worker runs when the browser fires
//! the app's sync event while no page may be open.
//!
//! The service worker's own module holds only the shell's cache and its
//! routing; it loads this module (from the shell's cache) when the event
//! fires, and calls [`crate::on_sync`]. Each attempt:
//! - sends every workspace's pending batch. The sync engine keeps the batch
//!   it is pushing (its "outbox": the idempotency key and the envelope
//!   bytes) in IndexedDB before it sends it, so that a retry sends the same
//!   bytes under the same key; this posts each with its workspace's token.
//!   The engine, when it runs next, posts it again with the same key and the
//!   server answers with the same sequence number: nothing is stored twice
//!   and the engine's bookkeeping stays its own.
//! - sends the files queued on this device, with the sync worker's own
//!   sender ([`crate::worker::transfers::send_every_queue`]), unless a
//!   window of the app is open: its sync worker is sending them.
//!
//! Attempts repeat for about two minutes (the browser gives the event a few)
//! so that a server that comes back soon is reached without waiting for the
//! browser's next try.

use hearth_shared::answer::{ErrorAnswer, is_success};
use hearth_shared::api::IDEMPOTENCY_HEADER;
use hearth_shared::id::WorkspaceId;
use hearth_shared::routes::Route;
use hearth_shared::store::Outbox;
use hearth_storage::{DB_NAME, device, files, outbox};
use js_sys::Array;
use rexie::Rexie;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::ServiceWorkerGlobalScope;

use crate::platform::sleep_ms;

/// The Background Sync tag the app registers.
pub const TAG: &str = "hearth-sync";

/// Attempts of one event, and the pause between them: about two minutes in
/// all, inside the few minutes browsers give the event.
const ATTEMPTS: u32 = 60;
const RETRY_MS: i32 = 2_000;

/// Handles the event tagged `tag`: an error means "the browser should try
/// again later".
pub async fn run(tag: &str) -> Result<(), JsValue> {
    if tag != TAG {
        return Ok(());
    }
    let mut last = JsValue::UNDEFINED;
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Ok(true) => return Ok(()),
            Ok(false) => last = err("queued files wait to be sent"),
            Err(e) => last = e,
        }
        sleep_ms(RETRY_MS).await;
    }
    Err(last)
}

/// One attempt at the batches, then the files: `Ok(true)` when nothing
/// waits any more.
async fn attempt() -> Result<bool, JsValue> {
    let db = hearth_storage::open(DB_NAME)
        .await
        .map_err(|e| err(e.to_string()))?;
    let batches = flush(&db).await;
    let files = send_files(&db).await;
    hearth_storage::close(db);
    batches?;
    files
}

fn err(message: impl Into<String>) -> JsValue {
    JsValue::from_str(&message.into())
}

/// Sends every workspace's pending batch. An error means "try again
/// later" (some batch could not be sent yet); the others were sent, or
/// refused for good (a revoked token…: the app says so when it opens).
async fn flush(db: &Rexie) -> Result<(), JsValue> {
    let pending = outbox::all(db).await.map_err(|e| err(e.to_string()))?;
    let mut retry = None;
    for (workspace, batch) in &pending {
        let record = match device::load(db, workspace).await {
            Ok(record) => record,
            Err(e) => {
                retry = Some(err(e.to_string()));
                continue;
            }
        };
        let Some((server, token)) = record.as_ref().and_then(|r| r.connection()) else {
            // Not connected (or not any more): the batch waits for the app.
            continue;
        };
        if let Err(e) = send(server, token, workspace, batch).await {
            retry = Some(e);
        }
    }
    retry.map_or(Ok(()), Err)
}

/// Posts one batch, as the sync engine's transport does. `Ok`: taken, or
/// refused for good; `Err`: try again later.
async fn send(
    server: &str,
    token: &str,
    workspace: &WorkspaceId,
    batch: &Outbox,
) -> Result<(), JsValue> {
    let url = Route::Push(workspace.clone()).url(server);
    let request = crate::fetch::request(
        "POST",
        &url,
        token,
        Some(&batch.envelope),
        &[(IDEMPOTENCY_HEADER, &batch.key)],
    )
    .map_err(|e| err(e.to_string()))?;
    let response = crate::fetch::fetch(&request, None)
        .await
        .map_err(|e| err(e.to_string()))?;
    if is_success(response.status()) {
        return Ok(());
    }
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let answer = ErrorAnswer::read(response.status(), retry_after.as_deref(), &[]);
    if answer.is_retryable() {
        Err(err(format!("server answered {}", answer.status)))
    } else {
        Ok(())
    }
}

/// Whether every queued file is sent (or is left to the app: stopped for
/// good, or in a workspace whose keys are locked). `Ok(false)` and `Err`
/// mean "try again later".
async fn send_files(db: &Rexie) -> Result<bool, JsValue> {
    let unsent = files::unsent(db).await.map_err(|e| err(e.to_string()))?;
    if unsent.is_empty() {
        return Ok(true);
    }
    if window_open().await? {
        // The open app's sync worker is sending them.
        return Ok(false);
    }
    let waiting = crate::worker::transfers::send_every_queue(db, unsent).await;
    Ok(waiting == 0)
}

/// Whether a window of the app is open (and so its sync worker runs).
async fn window_open() -> Result<bool, JsValue> {
    let scope: ServiceWorkerGlobalScope = js_sys::global().dyn_into()?;
    let windows: Array = JsFuture::from(scope.clients().match_all())
        .await?
        .dyn_into()?;
    Ok(windows.length() > 0)
}
