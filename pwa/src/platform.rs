//! The few things the app takes from the browser: the clock, a timer,
//! random ids, the page's origin, a yes-or-no question and a reload.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// `N` bytes from the browser's cryptographic random source, for keys,
/// IVs and pairing secrets: there is no stand-in if it fails.
pub fn secure_random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|c| wasm_bindgen::JsCast::dyn_into::<web_sys::Crypto>(c).ok())
        .ok_or("this browser has no Web Crypto, so it cannot make keys")?;
    crypto
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| "this browser's random source failed, so it cannot make keys")?;
    Ok(bytes)
}

/// The engine's keys for `ring` of `workspace`, with IVs and ephemeral
/// secrets from the browser's cryptographic random source.
pub fn engine_keys(
    ring: &hearth_shared::keys::Keyring,
    workspace: &hearth_shared::id::WorkspaceId,
) -> hearth_shared::engine::Keys {
    hearth_shared::engine::Keys {
        ring: ring.clone(),
        workspace: workspace.clone(),
        iv: Box::new(fresh_iv),
        random: Box::new(fresh32),
    }
}

/// 32 bytes from the browser's random source: an ephemeral X25519 secret,
/// which must be unpredictable. Nothing stands in if the source fails (it
/// worked when this device's keys were made, so this is a broken browser):
/// the worker stops, with the reason in the console, rather than wrap a
/// workspace key with a secret that time and a counter would give away.
fn fresh32() -> [u8; 32] {
    match secure_random() {
        Ok(secret) => secret,
        Err(why) => panic!("no key is wrapped: {why}"),
    }
}

/// A fresh AES-GCM IV: 12 random bytes. Should the random source ever
/// fail after the keys were made, the time and a counter stand in: an IV
/// must never repeat, and need not be secret.
pub fn fresh_iv() -> [u8; 12] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    secure_random().unwrap_or_else(|_| {
        let mut iv = [0u8; 12];
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        iv[..4].copy_from_slice(&(now_ms() as u32).to_be_bytes());
        iv[4..].copy_from_slice(&n.to_be_bytes());
        iv
    })
}

/// 16 bytes from the browser's cryptographic random source.
pub fn random_bytes() -> [u8; 16] {
    match secure_random() {
        Ok(bytes) => bytes,
        // Every browser that runs wasm has Web Crypto; keep ids unique anyway.
        Err(_) => {
            let mut bytes = [0u8; 16];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = ((js_sys::Math::random() * 256.0) as u8).wrapping_add(i as u8);
            }
            bytes
        }
    }
}

/// 8 bytes from the browser's cryptographic random source (a peer id's or
/// a retry jitter's).
pub fn random8() -> [u8; 8] {
    let [a, b, c, d, e, f, g, h, ..] = random_bytes();
    [a, b, c, d, e, f, g, h]
}

/// A new random 32-hex-character id.
pub fn new_id() -> String {
    hearth_migrations::new_id(random_bytes())
}

/// A new random workspace id.
pub fn new_workspace_id() -> hearth_shared::id::WorkspaceId {
    hearth_shared::id::WorkspaceId::from_random(random_bytes())
}

/// A short relative time ("just now", "5 min ago", "yesterday", a date).
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - then_ms).max(0) / 1000;
    match seconds {
        0..=44 => "just now".to_owned(),
        45..=3599 => format!("{} min ago", (seconds + 30) / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        86_400..=172_799 => "yesterday".to_owned(),
        _ => {
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(then_ms as f64));
            String::from(date.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
        }
    }
}

/// Marks a moment of start-up on the page's performance timeline (the
/// benchmarks read `hearth-*` marks; a browser's profiler shows them too).
pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// This global's performance clock (a page's or a worker's).
fn performance() -> Option<web_sys::Performance> {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| wasm_bindgen::JsCast::dyn_into(p).ok())
}

/// Now, in milliseconds on a clock that a page and its workers share
/// (`timeOrigin + now()`), for stages timed in the worker and marked on
/// the page's timeline by [`mark_at`].
pub fn shared_clock_ms() -> f64 {
    performance().map_or(0.0, |p| p.time_origin() + p.now())
}

/// Marks `name` on the page's timeline at `at` (from [`shared_clock_ms`]).
pub fn mark_at(name: &str, at: f64) {
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return;
    };
    let options = js_sys::Object::new();
    let start = (at - performance.time_origin()).max(0.0);
    let _ = js_sys::Reflect::set(&options, &"startTime".into(), &start.into());
    if let Ok(mark) = js_sys::Reflect::get(&performance, &"mark".into())
        && let Ok(mark) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(mark)
    {
        let _ = mark.call2(&performance, &name.into(), &options);
    }
}

/// The page's own origin (the default server address).
pub fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// A server address as typed, without spaces or a trailing slash.
pub fn server_address(typed: &str) -> String {
    typed.trim().trim_end_matches('/').to_owned()
}

/// Asks `question` in the browser's own dialog; `true` only if the person
/// said yes.
pub fn confirm(question: &str) -> bool {
    web_sys::window().and_then(|w| w.confirm_with_message(question).ok()) == Some(true)
}

/// Reloads the page (to open what was just stored from scratch).
pub fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// Writes a line to the browser's console, for what goes wrong out of the
/// person's sight (a background transfer's bookkeeping).
pub fn log(line: &str) {
    web_sys::console::warn_1(&format!("Hearth: {line}").into());
}

/// Waits `ms` milliseconds.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        if let Ok(set_timeout) = js_sys::Reflect::get(&global, &"setTimeout".into())
            && let Ok(set_timeout) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(set_timeout)
        {
            let _ = set_timeout.call2(&global, &resolve, &ms.into());
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
