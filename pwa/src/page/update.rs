//! Service-worker registration and the update flow.
//!
//! A new deployment changes `/sw.js` (it names the build); the browser
//! installs it beside the running one, where it waits. The app then offers
//! the update; accepting posts `skip-waiting` to the waiting worker, and the
//! page reloads once the new worker controls it.

use std::sync::atomic::{AtomicBool, Ordering};

use dioxus::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RegistrationOptions, ServiceWorkerRegistration};

/// The message that activates a waiting worker (see `hearth-sw`).
const SKIP_WAITING: &str = "skip-waiting";

fn container() -> Option<web_sys::ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    // Browsers without service workers (or insecure origins) lack the field.
    let has =
        js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false);
    has.then(|| navigator.service_worker())
}

/// Registers `/sw.js` as a module worker; failures are logged, never fatal.
pub fn register_service_worker() {
    let Some(container) = container() else { return };
    let options = RegistrationOptions::new();
    options.set_type("module");
    let promise = container.register_with_options("/sw.js", &options);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = JsFuture::from(promise).await {
            web_sys::console::warn_2(&"Hearth: service worker not registered:".into(), &e);
        }
    });
    // Reload once the accepted update takes control, so the page runs the
    // new build. (The first worker also takes control, of a page that
    // already runs its build: no reload then.)
    let reload = Closure::<dyn FnMut()>::new(move || {
        if UPDATE_ACCEPTED.load(Ordering::Relaxed)
            && let Some(window) = web_sys::window()
        {
            let _ = window.location().reload();
        }
    });
    container.set_oncontrollerchange(Some(reload.as_ref().unchecked_ref()));
    reload.forget();
}

async fn registration() -> Option<ServiceWorkerRegistration> {
    let container = container()?;
    let value = JsFuture::from(container.get_registration()).await.ok()?;
    value.dyn_into().ok()
}

/// A signal that turns true when a new build is installed and waiting.
pub fn use_update_available() -> Signal<bool> {
    let mut ready = use_signal(|| false);
    use_future(move || async move {
        // Check now and then; `updatefound` alone misses a worker that was
        // already waiting when the page loaded.
        loop {
            if let Some(registration) = registration().await {
                // Awaited, so that its refusals are handled here: while a
                // worker is installing, or the server is out of reach, the
                // browser rejects the check, and the next one follows.
                if let Ok(check) = registration.update() {
                    let _ = JsFuture::from(check).await;
                }
                if registration.waiting().is_some() {
                    ready.set(true);
                    return;
                }
            }
            sleep_ms(5_000).await;
        }
    });
    ready
}

/// Set when the person accepts an update.
static UPDATE_ACCEPTED: AtomicBool = AtomicBool::new(false);

/// Activates the waiting build; the page reloads when it takes control.
pub fn apply_update() {
    UPDATE_ACCEPTED.store(true, Ordering::Relaxed);
    wasm_bindgen_futures::spawn_local(async {
        if let Some(waiting) = registration().await.and_then(|r| r.waiting()) {
            let _ = waiting.post_message(&JsValue::from_str(SKIP_WAITING));
        }
    });
}

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Asks the browser for a Background Sync (tag `hearth-sync`), so that the
/// service worker sends the pending batch even if every page is closed
/// before the server is reachable again. Browsers without Background Sync
/// simply keep syncing while a page is open.
pub fn request_background_sync() {
    let Some(container) = container() else { return };
    let Ok(ready) = container.ready() else { return };
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(registration) = JsFuture::from(ready).await else {
            return;
        };
        let Ok(sync) = js_sys::Reflect::get(&registration, &"sync".into()) else {
            return;
        };
        if sync.is_undefined() {
            return;
        }
        let register = js_sys::Reflect::get(&sync, &"register".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let Some(register) = register
            && let Ok(promise) =
                register.call1(&sync, &JsValue::from_str(crate::background_sync::TAG))
        {
            let _ = JsFuture::from(js_sys::Promise::from(promise)).await;
        }
    });
}
