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
//!   person accepts the update;
//! - [`on_sync`]: Background Sync: sends the device's pending batches
//!   ([`outbox`]) and queued files ([`files`]) even when no page is open.
//!
//! [`policy`] holds the decisions as plain functions, tested natively.

pub mod files;
pub mod outbox;
pub mod policy;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, Request, RequestMode, Response, ServiceWorkerGlobalScope};

/// An error for the browser (and the console), in words.
pub(crate) fn err(message: impl Into<String>) -> JsValue {
    JsValue::from_str(&message.into())
}

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

/// Handles a Background Sync event: sends the pending batches and the
/// queued files (through `send_files`, which loads the app's module: see
/// [`files`]), retrying for a while (the browser gives a sync event a few
/// minutes) so that a server that comes back soon is reached without
/// waiting for the browser's next try.
#[wasm_bindgen]
pub async fn on_sync(tag: String, send_files: js_sys::Function) -> Result<(), JsValue> {
    if tag != outbox::TAG {
        return Ok(());
    }
    let mut last = JsValue::UNDEFINED;
    for _ in 0..policy::SYNC_ATTEMPTS {
        let batches = outbox::flush().await;
        let sent = files::send(&send_files).await;
        match (batches, sent) {
            (Ok(_), Ok(true)) => return Ok(()),
            (Err(e), _) | (_, Err(e)) => last = e,
            (Ok(_), Ok(false)) => last = JsValue::from_str("queued files wait to be sent"),
        }
        sleep_ms(policy::SYNC_RETRY_MS).await;
    }
    // The browser tries again later.
    Err(last)
}

async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        if let Ok(set_timeout) = js_sys::Reflect::get(&global, &"setTimeout".into())
            && let Ok(set_timeout) = set_timeout.dyn_into::<js_sys::Function>()
        {
            let _ = set_timeout.call2(&global, &resolve, &ms.into());
        }
    });
    let _ = JsFuture::from(promise).await;
}
