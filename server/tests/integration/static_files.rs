//! The PWA's files, health, and unknown routes.

use hearth_shared::api::Health;
use hyper::{Method, StatusCode};

use crate::common::TestServer;

fn write_dist(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=main></div>").unwrap();
    std::fs::write(dir.join("sw.js"), "self.x = 1;").unwrap();
    std::fs::write(dir.join("build.json"), r#"{"build_id":"test-build-7"}"#).unwrap();
    std::fs::write(dir.join("manifest.webmanifest"), "{}").unwrap();
    std::fs::write(dir.join("pkg/app-3f9a1c2b7d.js"), "export default 1;").unwrap();
    std::fs::write(dir.join("pkg/app-3f9a1c2b7d_bg.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.join("app_bg-0123456789.wasm"), b"\0asm").unwrap();
}

#[tokio::test]
async fn serves_the_pwa_from_a_dist_dir() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    let dist_path = dist.path().to_path_buf();
    let server = TestServer::start_with(|c| c.dist = Some(dist_path)).await;
    let api = server.api();

    let index = api.get("/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(index.text().contains("id=main"));

    let sw = api.get("/sw.js").await;
    assert_eq!(sw.header("content-type"), Some("text/javascript"));
    assert_eq!(sw.header("cache-control"), Some("no-cache"));

    let js = api.get("/pkg/app-3f9a1c2b7d.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    let wasm = api.get("/app_bg-0123456789.wasm").await;
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(
        wasm.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    let manifest = api.get("/manifest.webmanifest").await;
    assert_eq!(
        manifest.header("content-type"),
        Some("application/manifest+json")
    );

    // Deep links open the app; missing files with an extension do not.
    let deep = api.get("/workspace/notes").await;
    assert_eq!(deep.status, StatusCode::OK);
    assert!(deep.text().contains("id=main"));
    assert_eq!(api.get("/missing.js").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );

    // HEAD: headers, no body.
    let head = api.request(Method::HEAD, "/sw.js", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-type"), Some("text/javascript"));
    assert!(head.body.is_empty());

    // Revalidation: the ETag gets a 304 without a body.
    let etag = sw.header("etag").unwrap().to_owned();
    let again = api
        .request(Method::GET, "/sw.js", &[("if-none-match", &etag)], "")
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = api
        .request(Method::GET, "/sw.js", &[("if-none-match", "\"nope\"")], "")
        .await;
    assert_eq!(other.status, StatusCode::OK);

    let health: Health = api.get("/v1/health").await.json();
    assert_eq!(health.status, "ok");
    assert_eq!(health.build, "test-build-7");
    assert_eq!(health.protocol, hearth_shared::PROTOCOL_VERSION);
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn without_an_app_the_root_says_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_path_buf();
    let server = TestServer::start_with(|c| c.dist = Some(path)).await;
    let api = server.api();
    let root = api.get("/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.text().contains("cargo xtask run"));
    let health: Health = api.get("/v1/health").await.json();
    assert_eq!(health.build, "");
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let server = TestServer::start().await;
    let api = server.api();
    for path in ["/v1", "/v1/nope", "/v1/workspaces/x/y/z/w"] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.code(), "not_found");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    let reply = api.request(Method::POST, "/v1/health", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.code(), "method_not_allowed");
}
