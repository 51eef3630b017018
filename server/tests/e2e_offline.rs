//! End-to-end: the service worker and the installable app. After the first
//! load the page is controlled by the service worker; with the server gone
//! (and the browser offline) a reload still shows the app with its data; a
//! new deployment is offered as an update and, once accepted, runs with the
//! old caches gone; the manifest has what installability needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::{Path, PathBuf};

use e2e_support::{Device, Server, get};

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

#[tokio::test]
async fn the_app_opens_offline_with_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);
    let device = Device::launch().await;
    device.open(&server.url).await;
    device.wait_until_controlled().await;
    device.add_note("Packing list", "passport, charger").await;
    device.wait_for_notes(&["Packing list"]).await;
    device.wait_for_sync_state("local").await;

    // Server stopped and the browser offline: the reload is served by the
    // service worker, the data by IndexedDB.
    server.kill();
    device
        .client
        .issue_cmd(SetNetwork { offline: true })
        .await
        .unwrap();
    device.client.refresh().await.unwrap();
    device.wait_for_notes(&["Packing list"]).await;
    let from_sw = device
        .eval("return performance.getEntriesByType('navigation')[0].workerStart > 0 || !!navigator.serviceWorker.controller")
        .await;
    assert_eq!(from_sw.as_bool(), Some(true));
    // API calls are never answered from a cache.
    let api = device
        .eval_async(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/health').then(r => done('answered ' + r.status), e => done('failed'));",
        )
        .await;
    assert_eq!(
        api.as_str(),
        Some("failed"),
        "the API must not be served from a cache"
    );
    device.close().await;
}

/// Chromium's network-conditions command (ChromeDriver extension).
#[derive(Debug)]
struct SetNetwork {
    offline: bool,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SetNetwork {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/chromium/network_conditions",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "network_conditions": { "offline": self.offline, "latency": 0, "download_throughput": -1, "upload_throughput": -1 }
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Copies the built app and gives the copy another build id: what a new
/// deployment looks like to a browser.
fn new_build(to: &Path, build: &str) -> String {
    copy_dir(&dist(), to);
    let old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(to.join("build.json")).unwrap()).unwrap();
    let old = old["build_id"].as_str().unwrap().to_owned();
    for file in ["sw.js", "index.html", "build.json"] {
        let path = to.join(file);
        let text = std::fs::read_to_string(&path).unwrap().replace(&old, build);
        std::fs::write(path, text).unwrap();
        // A deployment that edits a file drops its compressed copies, which
        // now hold the old build (the server would not serve them anyway:
        // they are older than the file).
        for copy in ["br", "gz"] {
            let _ = std::fs::remove_file(to.join(format!("{file}.{copy}")));
        }
    }
    old
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_new_build_is_offered_and_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let next = tmp.path().join("next");
    let old_build = new_build(&next, "e2enextbuild");
    let mut server = Server::start_in(&data_dir, &[]);
    let device = Device::launch().await;
    device.open(&server.url).await;
    device.wait_until_controlled().await;
    device.add_note("Survives the update", "yes").await;
    device.wait_for_notes(&["Survives the update"]).await;
    let caches = device
        .eval_async("const done = arguments[arguments.length - 1]; caches.keys().then(done);")
        .await;
    assert_eq!(
        caches,
        serde_json::json!([format!("hearth-shell-{old_build}")])
    );

    // Deploy: the same address serves the next build.
    let listen = server.addr().to_owned();
    server.kill();
    let next_dir = next.to_string_lossy().into_owned();
    let server = Server::start_in(&data_dir, &["--listen", &listen, "--dist", &next_dir]);
    let health = get(server.addr(), "/v1/health").await;
    let health: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(health["build"], "e2enextbuild");

    // The running app notices and offers the update; nothing changes until
    // the person accepts.
    device.text_of("#update-banner").await;
    let still_old = device
        .eval("return document.querySelector('meta[name=hearth-build]').content")
        .await;
    assert_eq!(still_old.as_str(), Some(old_build.as_str()));
    device.click("#update-apply").await;
    device
        .wait_until(
            "the page runs the new build",
            "return document.querySelector('meta[name=hearth-build]')?.content === 'e2enextbuild'",
        )
        .await;
    device.wait_until_controlled().await;
    device.wait_for_notes(&["Survives the update"]).await;
    device
        .wait_until(
            "only the new build's cache is left",
            "if (!window.__caches) { caches.keys().then(k => window.__caches = k); return false; }
             const k = window.__caches; window.__caches = null;
             return k.length === 1 && k[0] === 'hearth-shell-e2enextbuild';",
        )
        .await;
    device.close().await;
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    (w, h)
}

#[tokio::test]
async fn the_manifest_makes_the_app_installable() {
    let server = Server::start();
    let response = get(server.addr(), "/manifest.webmanifest").await;
    assert_eq!(
        response.header("content-type"),
        Some("application/manifest+json")
    );
    let manifest: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    for field in [
        "name",
        "short_name",
        "description",
        "start_url",
        "scope",
        "display",
        "theme_color",
        "background_color",
    ] {
        assert!(
            manifest[field].as_str().is_some_and(|v| !v.is_empty()),
            "manifest lacks {field}"
        );
    }
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().unwrap();
    let mut seen = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let file = get(server.addr(), src).await;
        assert_eq!(file.status, 200, "{src}");
        let sizes = icon["sizes"].as_str().unwrap();
        if icon["type"] == "image/png" {
            let (w, h) = png_size(&file.body);
            assert_eq!(sizes, format!("{w}x{h}"), "{src} claims {sizes}");
            seen.push((w, icon["purpose"].as_str().unwrap_or("any").to_owned()));
        }
    }
    assert!(seen.contains(&(192, "any".to_owned())), "a 192 px icon");
    assert!(seen.contains(&(512, "any".to_owned())), "a 512 px icon");
    assert!(
        seen.contains(&(512, "maskable".to_owned())),
        "a maskable icon"
    );

    // The browser agrees: the page links the manifest and runs in a secure
    // context (localhost counts), which service workers require.
    let device = Device::launch().await;
    device
        .open(&server.url.replace("127.0.0.1", "localhost"))
        .await;
    device.wait_until_controlled().await;
    let secure = device
        .eval("return window.isSecureContext && !!document.querySelector('link[rel=manifest]')")
        .await;
    assert_eq!(secure.as_bool(), Some(true));
    device.close().await;
}

/// The payloads of the entries the server holds for a workspace.
async fn entries(server: &Server, workspace: &str, token: &str) -> Vec<Vec<u8>> {
    let response = e2e_support::request(
        server.addr(),
        "GET",
        &format!("/v1/workspaces/{workspace}/entries?after=0"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(response.status, 200);
    hearth_shared::frame::decode_frames(&response.body)
        .unwrap()
        .into_iter()
        .map(|f| f.payload.to_vec())
        .collect()
}

/// Entries the server holds for a workspace.
async fn entry_count(server: &Server, workspace: &str, token: &str) -> usize {
    entries(server, workspace, token).await.len()
}

#[tokio::test]
async fn pending_changes_are_sent_with_no_page_open() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);
    let device = Device::launch().await;
    let (workspace, master) = device.become_owner(&server).await;
    device.wait_until_controlled().await;
    device.add_note("Before", "1").await;
    device.wait_for_sync_state("synced").await;
    let before = entry_count(&server, &workspace, &master).await;

    // The server goes away; an edit waits, and the app asks for Background Sync.
    let listen = server.addr().to_owned();
    server.kill();
    device.add_note("Sent by the service worker", "2").await;
    device
        .wait_until(
            "the edit waits for the server",
            "const s = document.querySelector('#sync-status'); return ['offline', 'error'].includes(s.dataset.state) && s.textContent.includes('pending')",
        )
        .await;

    // The page, and its sync worker, go away before the server returns.
    device.open("about:blank").await;
    let server = Server::start_in(&data_dir, &["--listen", &listen]);

    // Only the service worker is left to send the edit.
    let deadline = tokio::time::Instant::now() + e2e_support::PATIENCE * 3;
    while entry_count(&server, &workspace, &master).await == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service worker did not send the pending edit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let after = entry_count(&server, &workspace, &master).await;
    assert!(after > before);

    // The app, opened again, sends the same batch under the same key:
    // the server stores nothing twice. (Edits typed after that batch was
    // made go in a batch of their own, so the count may grow; no stored
    // batch may appear twice.)
    device.open(&server.url).await;
    device
        .wait_for_notes(&["Before", "Sent by the service worker"])
        .await;
    device.wait_for_sync_state("synced").await;
    let stored = entries(&server, &workspace, &master).await;
    assert!(stored.len() >= after);
    let distinct: std::collections::HashSet<&Vec<u8>> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "a batch was stored twice");
    device.close().await;
}
