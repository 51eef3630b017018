//! `hearth-pwa`: the Hearth app in the browser (wasm32 only).
//!
//! One wasm module runs on both sides of the one-writer boundary:
//! - [`page`]: the UI side (the root component, the screens, the page's
//!   state, its end of the line to the worker, the service-worker update
//!   flow).
//! - [`worker`]: the sync Web Worker (gloo-worker), the one writer of the
//!   open workspace's store: it opens the workspace, runs the sync engine
//!   ([`worker::session`]) and the transfers of attached files
//!   ([`worker::transfers`]).
//! - [`background_sync`]: the service worker loads the module too, but
//!   only when the browser fires a Background Sync: it calls [`on_sync`],
//!   which sends the pending batches and the queued files with no page
//!   open.
//!
//! What both sides use stays here:
//! - [`protocol`]: the messages between the page and the worker.
//! - [`idb`]: the IndexedDB store of the sync engine (rexie).
//! - [`fetch`]: the sync engine's transport over `fetch` (and streaming
//!   `fetch` for the live events).
//! - [`files`]: attached files (sending and fetching chunks in the worker,
//!   thumbnails and opening on the page).
//! - [`device`]: this device's records of its workspaces (server, token),
//!   from `hearth-storage`, which also holds the IndexedDB layout.
//! - [`lock`]: the app lock's keys (the lock key, installed on both
//!   sides; the passcode key, from Web Crypto).
//! - [`tabs`]: one tab edits and syncs (Web Locks), the others follow
//!   (BroadcastChannel).
//! - [`platform`]: clock, timers and random ids from the browser.

pub mod background_sync;
pub mod fetch;
pub mod files;
pub mod idb;
pub mod lock;
pub mod page;
pub mod platform;
pub mod protocol;
pub mod tabs;
pub mod worker;

/// This device's records of its workspaces, as the storage contract keeps
/// them.
pub use hearth_storage::device;

use wasm_bindgen::prelude::*;

/// Starts the sync worker (called by `worker.js` inside the worker).
#[wasm_bindgen]
pub fn start_worker() {
    use gloo_worker::Registrable;
    report_panics();
    worker::SyncWorker::registrar().register();
}

/// Starts the app (called by `index.html` once the module is loaded).
#[wasm_bindgen]
pub fn start_app() {
    platform::mark("hearth-app-started");
    launch();
}

/// Handles a Background Sync event tagged `tag` (called by the service
/// worker, which loads this module only then): sends every workspace's
/// pending batch and the files queued on this device. Rejects when
/// something still waits for its server, so that the browser tries again.
#[wasm_bindgen]
pub async fn on_sync(tag: String) -> Result<(), JsValue> {
    background_sync::run(&tag).await
}

/// A panic (a bug) is written to the console with its message and place,
/// instead of wasm's bare "unreachable".
fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Hearth stopped: {info}").into());
    }));
}

/// Registers the service worker and mounts the UI.
pub fn launch() {
    report_panics();
    // The HTML shows "Loading…" until the app runs; Dioxus appends to the
    // mount point, so clear it first.
    if let Some(main) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("main"))
    {
        main.set_inner_html("");
    }
    page::update::register_service_worker();
    dioxus::launch(page::app::App);
}
