//! `hearth-pwa`: the Hearth app in the browser (wasm32 only).
//!
//! Modules:
//! - [`app`]: the Dioxus UI.
//! - [`update`]: service-worker registration and the "update available" flow.

pub mod app;
pub mod update;

/// Starts the app: registers the service worker and mounts the UI.
pub fn launch() {
    update::register_service_worker();
    dioxus::launch(app::App);
}
