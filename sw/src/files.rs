//! Background Sync: sending the files queued on this device while no page
//! is open.
//!
//! A queued file is cut, sealed and sent by the app's own code (the sync
//! worker's sender, with the workspace's keys), which this module does not
//! hold: when files wait and no window of the app is open, it calls the
//! `send` function the shim gives it, which loads the app's module (from
//! the shell's cache) and runs its `send_queued_files`. While a window is
//! open, its sync worker sends them, and this waits for it.

use hearth_storage::{DB_NAME, files};
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::err;

/// Whether every queued file is sent (or is left to the app: stopped for
/// good, or in a workspace whose keys are locked). `Ok(false)` and `Err`
/// mean "try again later".
pub async fn send(send: &Function) -> Result<bool, JsValue> {
    let db = hearth_storage::open(DB_NAME)
        .await
        .map_err(|e| err(e.to_string()))?;
    let unsent = files::unsent(&db).await.map_err(|e| err(e.to_string()))?;
    hearth_storage::close(db);
    if unsent.is_empty() {
        return Ok(true);
    }
    if window_open().await? {
        // The open app's sync worker is sending them.
        return Ok(false);
    }
    let promise: Promise = send.call0(&JsValue::NULL)?.dyn_into()?;
    let waiting = JsFuture::from(promise).await?;
    Ok(waiting.as_f64() == Some(0.0))
}

/// Whether a window of the app is open (and so its sync worker runs).
async fn window_open() -> Result<bool, JsValue> {
    let scope: web_sys::ServiceWorkerGlobalScope = js_sys::global().unchecked_into();
    let windows: Array = JsFuture::from(scope.clients().match_all())
        .await?
        .dyn_into()?;
    Ok(windows.length() > 0)
}
