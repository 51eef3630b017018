//! Several tabs of one browser profile: exactly one of them (the holder of
//! a Web Lock) opens the workspace for editing and syncs; the others show
//! it read-only and follow its changes, which the syncing tab announces on
//! a BroadcastChannel. When the syncing tab closes, the lock passes to the
//! next tab, which reloads as the one that edits and syncs.
//!
//! One writer per device matters: the device has one Loro peer id, and two
//! tabs writing under one peer id would corrupt the document.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::BroadcastChannel;

/// The lock (and channel) name: one per origin.
const NAME: &str = "hearth-workspace";

/// Asks for the workspace lock. Resolves to `true` once this tab holds it
/// (for the life of the page), or at once if the browser has no Web Locks.
/// A tab that must wait gets `false` after `patience_ms`; the request stays
/// queued and `on_granted` runs when the lock comes later.
pub async fn acquire(patience_ms: i32, on_granted: impl FnOnce() + 'static) -> bool {
    let Some(locks) = web_sys::window()
        .map(|w| w.navigator())
        .and_then(|n| Reflect::get(&n, &"locks".into()).ok())
        .filter(|l| !l.is_undefined() && !l.is_null())
    else {
        return true;
    };
    let Some(request) = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|r| r.dyn_into::<Function>().ok())
    else {
        return true;
    };
    let mut resolve_granted: Option<Function> = None;
    let granted = Promise::new(&mut |resolve, _| resolve_granted = Some(resolve));
    let Some(resolve_granted) = resolve_granted else {
        return true;
    };
    let late = std::rc::Rc::new(std::cell::Cell::new(false));
    let late_in_callback = late.clone();
    let mut on_granted = Some(on_granted);
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = resolve_granted.call1(&JsValue::NULL, &JsValue::TRUE);
        if late_in_callback.get()
            && let Some(f) = on_granted.take()
        {
            f();
        }
        // Held until the page goes away.
        Promise::new(&mut |_, _| {}).into()
    });
    if request.call2(&locks, &NAME.into(), &callback).is_err() {
        return true;
    }
    let timeout = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_1(
                &resolve,
                patience_ms,
                &JsValue::FALSE,
            );
        }
    });
    let first = JsFuture::from(Promise::race(&js_sys::Array::of2(&granted, &timeout))).await;
    let holds = first.ok().and_then(|v| v.as_bool()).unwrap_or(false);
    if !holds {
        late.set(true);
    }
    holds
}

/// The channel on which the syncing tab announces changes.
pub fn channel() -> Option<BroadcastChannel> {
    BroadcastChannel::new(NAME).ok()
}

/// Announces that the stored workspace changed.
pub fn announce_change(channel: &BroadcastChannel) {
    let _ = channel.post_message(&"changed".into());
}

/// Runs `f` whenever another tab announces a change.
pub fn on_change(channel: &BroadcastChannel, mut f: impl FnMut() + 'static) {
    let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| f());
    channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
}
