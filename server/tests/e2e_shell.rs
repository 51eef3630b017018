//! End-to-end: the built PWA, served by a real `hearth`, renders in headless
//! Chromium, with every file served under the right type and cache policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server, get};

#[tokio::test]
async fn the_app_renders_from_a_real_server() {
    let server = Server::start();

    let health = get(server.addr(), "/v1/health").await;
    assert_eq!(health.status, 200);
    let health: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    let build = health["build"].as_str().unwrap_or_default().to_owned();
    assert!(
        !build.is_empty(),
        "this hearth was built without the PWA: run `cargo xtask test` (it builds dist/ first)"
    );

    let device = Device::launch().await;
    device.open(&server.url).await;
    // Drawn by the Dioxus app, not present in the HTML the server sends.
    assert_eq!(device.text_of("#app .topbar h1").await, "Hearth");
    assert_eq!(device.text_of("#sync-status").await, "Saved on this device");
    let served_build = device
        .eval("return document.querySelector('meta[name=hearth-build]').content")
        .await;
    assert_eq!(served_build.as_str(), Some(build.as_str()));
    // The browser really fetched and instantiated the wasm.
    let wasm_loaded = device
        .eval("return performance.getEntriesByType('resource').some(e => e.name.endsWith('.wasm'))")
        .await;
    assert_eq!(wasm_loaded.as_bool(), Some(true));
    // The sync worker started (it opened the workspace the page shows).
    device.text_of("#notes-view").await;
    let worker_loaded = device
        .eval("return performance.getEntriesByType('resource').some(e => e.name.endsWith('/worker.js'))")
        .await;
    assert_eq!(
        worker_loaded.as_bool(),
        Some(true),
        "the sync worker was loaded"
    );
    device.close().await;

    // Content types and cache policy of what was served.
    let index = get(server.addr(), "/").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let html = String::from_utf8(index.body).unwrap();
    let wasm_path = link_in(&html, ".wasm");
    let js_path = link_in(&html, ".js");

    let wasm = get(server.addr(), &wasm_path).await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert!(
        wasm.header("cache-control")
            .unwrap_or_default()
            .contains("immutable")
    );
    assert_eq!(&wasm.body[..4], b"\0asm");

    let js = get(server.addr(), &js_path).await;
    assert_eq!(js.header("content-type"), Some("text/javascript"));

    let manifest = get(server.addr(), "/manifest.webmanifest").await;
    assert_eq!(manifest.status, 200);
    assert_eq!(
        manifest.header("content-type"),
        Some("application/manifest+json")
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(manifest["name"], "Hearth");

    let sw = get(server.addr(), "/sw.js").await;
    assert_eq!(sw.header("content-type"), Some("text/javascript"));
    assert_eq!(sw.header("cache-control"), Some("no-cache"));

    // A deep link gets the app; an unknown API route gets a JSON error.
    let deep = get(server.addr(), "/pair").await;
    assert_eq!(deep.status, 200);
    assert_eq!(
        deep.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let missing = get(server.addr(), "/v1/nothing-here").await;
    assert_eq!(missing.status, 404);
    let error: serde_json::Value = serde_json::from_slice(&missing.body).unwrap();
    assert_eq!(error["code"], "not_found");
}

/// The first `/…<suffix>` path referenced in the HTML.
fn link_in(html: &str, suffix: &str) -> String {
    html.split('"')
        .find(|s| s.starts_with('/') && s.ends_with(suffix))
        .unwrap_or_else(|| panic!("index.html links no {suffix} file"))
        .to_owned()
}
