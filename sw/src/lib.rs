//! `hearth-sw`: the service worker, in Rust.
//!
//! `sw/shim.js` registers the event listeners (they must exist synchronously
//! when the worker starts) and calls the functions here:
//! - [`on_install`]: precaches the app shell of this build under a cache
//!   named by the build id;
//! - [`on_activate`]: deletes the caches of older builds and takes control;
//! - [`on_fetch`]: answers navigations with the cached shell and assets from
//!   the cache, falling back to the network (and keeping the modules the
//!   page loads on first use); never touches `/v1`;
//! - [`on_message`]: `"skip-waiting"` activates a waiting new build when the
//!   person accepts the update.
//!
//! Background Sync (sending pending batches and queued files with no page
//! open) is not here: it needs the app's storage, keys and sender, so the
//! shim loads the app's own module (from the shell's cache) when the event
//! fires and calls its `on_sync`. This module stays small, and a first
//! visit does not download that code twice.
//!
//! [`policy`] holds the decisions as plain functions, tested natively.

pub mod policy;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, Request, RequestMode, Response, ServiceWorkerGlobalScope};

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn caches() -> Result<CacheStorage, JsValue> {
    scope().caches()
}

/// Precaches the shell of `build`.
#[wasm_bindgen]
pub async fn on_install(build: String, precache: Array) -> Result<(), JsValue> {
    let cache: Cache = JsFuture::from(caches()?.open(&policy::cache_name(&build)))
        .await?
        .dyn_into()?;
    JsFuture::from(cache.add_all_with_str_sequence(&precache)).await?;
    Ok(())
}

/// Deletes the caches of other builds, then controls every open page.
#[wasm_bindgen]
pub async fn on_activate(build: String) -> Result<(), JsValue> {
    let caches = caches()?;
    let names: Array = JsFuture::from(caches.keys()).await?.dyn_into()?;
    for name in names.iter().filter_map(|n| n.as_string()) {
        if policy::is_stale_cache(&name, &build) {
            JsFuture::from(caches.delete(&name)).await?;
        }
    }
    JsFuture::from(scope().clients().claim()).await?;
    Ok(())
}

/// Answers a request from the cache of `build`, else from the network.
#[wasm_bindgen]
pub async fn on_fetch(request: Request, build: String) -> Result<Response, JsValue> {
    let cache: Cache = JsFuture::from(caches()?.open(&policy::cache_name(&build)))
        .await?
        .dyn_into()?;
    let path = web_sys::Url::new(&request.url())
        .map(|url| url.pathname())
        .unwrap_or_default();
    let navigate = request.mode() == RequestMode::Navigate;
    let cached = if navigate && policy::is_app_navigation(&path) {
        // Every navigation gets the app shell; the app routes in the page.
        JsFuture::from(cache.match_with_str("/")).await?
    } else if navigate {
        // A public link's page is not the app: always from the server.
        JsValue::UNDEFINED
    } else {
        JsFuture::from(cache.match_with_request(&request)).await?
    };
    if let Ok(response) = cached.dyn_into::<Response>() {
        return Ok(response);
    }
    let response: Response = JsFuture::from(scope().fetch_with_request(&request))
        .await?
        .dyn_into()?;
    let keep = response.ok() && request.method() == "GET" && policy::keep_on_first_use(&path);
    if keep && let Ok(copy) = response.clone() {
        // Kept for offline use; a failure to keep only costs a download.
        let _ = JsFuture::from(cache.put_with_request(&request, &copy)).await;
    }
    Ok(response)
}

/// Handles a message from a page.
#[wasm_bindgen]
pub async fn on_message(data: JsValue) -> Result<(), JsValue> {
    if data.as_string().as_deref() == Some(policy::SKIP_WAITING) {
        let promise: Promise = scope().skip_waiting()?;
        JsFuture::from(promise).await?;
    }
    Ok(())
}
