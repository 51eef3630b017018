//! `hearth-pwa`: the Hearth app in the browser (wasm32 only).
//!
//! Modules:
//! - [`app`]: the root component.
//! - [`pages`]: the screens as routes (dioxus-router), each a deep link.
//! - [`ui`]: the screens (notes, task lists) and their parts.
//! - [`state`]: the page's handle on the workspace document.
//! - [`idb`]: the IndexedDB store of the sync engine (rexie).
//! - [`export`]: the workspace file and the JSON export.
//! - [`history`]: a note's earlier versions (Loro time travel).
//! - [`fetch`]: the sync engine's transport over `fetch` (and streaming
//!   `fetch` for the live events).
//! - [`device`]: this device's records of its workspaces (server, token),
//!   from `hearth-storage`, which also holds the IndexedDB layout.
//! - [`session`]: opening the workspace and driving the sync engine.
//! - [`tabs`]: one tab edits and syncs (Web Locks), the others follow
//!   (BroadcastChannel).
//! - [`worker`]: the sync Web Worker (gloo-worker) that runs the engine;
//!   [`link`] is the page's end of it, [`protocol`] their messages.
//! - [`platform`]: clock and random ids from the browser.
//! - [`update`]: service-worker registration and the "update available" flow.

pub mod app;
pub mod export;
pub mod fetch;
pub mod files;
pub mod history;
pub mod idb;
pub mod link;
pub mod move_note;
pub mod pages;
pub mod platform;
pub mod protocol;
pub mod session;
pub mod state;
pub mod tabs;
pub mod transfers;
pub mod ui;
pub mod update;
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
    update::register_service_worker();
    dioxus::launch(app::App);
}
