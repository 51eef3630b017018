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
    // Nothing went wrong on the way, and the check would have seen it.
    device.assert_no_console_errors("start-up").await;
    device
        .eval("setTimeout(() => { throw new Error('a planted failure') }); return true")
        .await;
    device
        .wait_until(
            "the planted error was thrown",
            "return new Promise(r => setTimeout(() => r(true), 0))",
        )
        .await;
    let errors = device.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("a planted failure")),
        "the console check sees an uncaught error: {errors:?}"
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
        .find(|s| s.starts_with('/') && s.ends_with(suffix) && !s.contains(' '))
        .unwrap_or_else(|| panic!("index.html links no {suffix} file"))
        .to_owned()
}

/// A phone's first visit, as Chromium counts it (DevTools' network events
/// of the page: `encodedDataLength` is what came over the wire, headers
/// included): the app's files arrive compressed, and what the page fetched
/// stays within the budget that `cargo xtask dist` checks for the whole
/// visit (the service worker's own fetches, which the page's DevTools
/// session does not see, are in the build's figure that `build.json`
/// records). The figures are printed.
#[tokio::test]
async fn a_first_visit_downloads_the_app_compressed_and_within_its_budget() {
    let server = Server::start();
    let build = get(server.addr(), "/build.json").await;
    let build: serde_json::Value = serde_json::from_slice(&build.body).unwrap();
    let budget = build["first_visit_budget"].as_u64().unwrap();
    let expected = build["first_visit_bytes"].as_u64().unwrap();

    let phone = Device::launch_phone_recording_network().await;
    phone.open(&server.url).await;
    phone.text_of("#notes-view").await;
    // Installed (its precache fetched) and in control.
    phone.wait_until_controlled().await;
    phone.assert_no_console_errors("the first visit").await;

    let events = phone.network_events().await;
    let mut urls = std::collections::HashMap::new();
    let mut encodings = std::collections::HashMap::new();
    let mut wire = std::collections::HashMap::new();
    for event in &events {
        let params = &event["params"];
        let id = params["requestId"].as_str().unwrap_or_default().to_owned();
        match event["method"].as_str() {
            Some("Network.responseReceived") => {
                let response = &params["response"];
                let headers = response["headers"].as_object().cloned().unwrap_or_default();
                let encoding = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                urls.insert(
                    id.clone(),
                    response["url"].as_str().unwrap_or("").to_owned(),
                );
                encodings.insert(id, encoding);
            }
            Some("Network.loadingFinished") => {
                let bytes = params["encodedDataLength"].as_f64().unwrap_or(0.0) as u64;
                wire.insert(id, bytes);
            }
            _ => {}
        }
    }
    let mut total = 0;
    let mut lines = Vec::new();
    for (id, bytes) in &wire {
        let url = urls.get(id).cloned().unwrap_or_default();
        // Chromium's own pages (the new-tab page before the app opens).
        if !url.starts_with(&server.url) {
            continue;
        }
        let encoding = encodings.get(id).cloned().unwrap_or_default();
        total += bytes;
        lines.push(format!("{bytes:>10} {encoding:<5} {url}"));
    }
    lines.sort();
    println!("first visit on the wire, as Chromium counts it:");
    for line in &lines {
        println!("{line}");
    }
    println!(
        "total {total} bytes fetched by the page (the build's figure for the whole visit {expected}, budget {budget})"
    );

    // The app's module and its glue came compressed.
    for ext in [".wasm", ".js"] {
        let id = urls
            .iter()
            .find(|(_, u)| u.contains("/app-") && u.ends_with(ext))
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("the page fetched no app-…{ext}"));
        assert_eq!(
            encodings.get(&id).map(String::as_str),
            Some("br"),
            "app-…{ext}"
        );
    }
    assert!(total > 0, "Chromium counted no bytes: {events:?}");
    assert!(
        total <= budget,
        "a first visit took {total} bytes on the wire, over the budget of {budget}"
    );
    phone.close().await;
}
