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

/// Writes `name` in `dir` with the Brotli and gzip copies beside it that
/// `cargo xtask dist` writes.
fn write_with_copies(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    use std::io::Write as _;
    std::fs::write(dir.join(name), bytes).unwrap();
    let mut br = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut br, &params).unwrap();
    std::fs::write(dir.join(format!("{name}.br")), br).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn browsers_get_the_smallest_copy_they_accept_and_ranges_of_the_file() {
    let dist = tempfile::tempdir().unwrap();
    write_dist(dist.path());
    let js: Vec<u8> = (0..2000)
        .flat_map(|i| format!("export const line{i} = \"hearth {}\";\n", i % 7).into_bytes())
        .collect();
    let name = "app-0123456789.js";
    write_with_copies(dist.path(), name, &js);
    let page = "<!doctype html><div id=main></div><script type=\"module\">start();</script>";
    write_with_copies(dist.path(), "index.html", page.as_bytes());
    let dist_path = dist.path().to_path_buf();
    let server = TestServer::start_with(|c| c.dist = Some(dist_path)).await;
    let api = server.api();
    let path = format!("/{name}");
    let get = |headers: Vec<(&'static str, String)>| {
        let api = api.clone();
        let path = path.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.request(Method::GET, &path, &headers, "").await
        }
    };

    // What Chromium sends: Brotli, far smaller than the file.
    let br = get(vec![("accept-encoding", "gzip, deflate, br, zstd".into())]).await;
    assert_eq!(br.status, StatusCode::OK);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("vary"), Some("accept-encoding"));
    assert_eq!(br.header("content-type"), Some("text/javascript"));
    assert_eq!(
        br.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        br.header("content-length"),
        Some(br.body.len().to_string().as_str())
    );
    assert!(
        br.body.len() * 10 < js.len(),
        "{} of {}",
        br.body.len(),
        js.len()
    );
    assert_eq!(unbrotli(&br.body), js);

    // gzip where Brotli is not accepted, the file itself where nothing is.
    for accept in ["gzip", "br;q=0, gzip;q=0.8", "deflate, gzip"] {
        let gz = get(vec![("accept-encoding", accept.into())]).await;
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{accept}");
        assert_eq!(ungzip(&gz.body), js, "{accept}");
    }
    for headers in [vec![], vec![("accept-encoding", "identity".to_owned())]] {
        let plain = get(headers).await;
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.header("vary"), Some("accept-encoding"));
        assert_eq!(plain.body.as_ref(), &js[..]);
    }

    // Each copy has its own entity tag: a cached Brotli copy revalidates
    // as such, and never stands for the file itself.
    let br_tag = br.header("etag").unwrap().to_owned();
    let plain_tag = get(vec![]).await.header("etag").unwrap().to_owned();
    assert_ne!(br_tag, plain_tag);
    let fresh = get(vec![
        ("accept-encoding", "br".into()),
        ("if-none-match", br_tag.clone()),
    ])
    .await;
    assert_eq!(fresh.status, StatusCode::NOT_MODIFIED);
    assert_eq!(fresh.header("content-encoding"), Some("br"));
    assert!(fresh.body.is_empty());
    let other = get(vec![("if-none-match", br_tag.clone())]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body.as_ref(), &js[..]);

    // A range is of the file as it is, whatever the request accepts.
    let len = js.len();
    let part = get(vec![
        ("accept-encoding", "br, gzip".into()),
        ("range", "bytes=10-19".into()),
    ])
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.header("content-encoding"), None);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 10-19/{len}").as_str())
    );
    assert_eq!(part.header("accept-ranges"), Some("bytes"));
    assert_eq!(part.body.as_ref(), &js[10..20]);
    let tail = get(vec![("range", "bytes=-5".into())]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body.as_ref(), &js[len - 5..]);
    let past = get(vec![("range", format!("bytes={len}-"))]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // A range asked of another version of the file gets the whole of this one.
    let stale = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", "\"another-version\"".into()),
    ])
    .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body.as_ref(), &js[..]);
    let fresh_range = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", plain_tag.clone()),
    ])
    .await;
    assert_eq!(fresh_range.status, StatusCode::PARTIAL_CONTENT);
    // Several ranges at once: the whole file, as HTTP allows.
    let several = get(vec![("range", "bytes=0-1,5-6".into())]).await;
    assert_eq!(several.status, StatusCode::OK);
    assert_eq!(several.body.len(), len);

    // The page, compressed, keeps the policy that allows its own script.
    let api2 = server.api();
    let plain_page = api2.get("/").await;
    let br_page = api2
        .request(Method::GET, "/", &[("accept-encoding", "br")], "")
        .await;
    assert_eq!(br_page.header("content-encoding"), Some("br"));
    assert_eq!(unbrotli(&br_page.body), page.as_bytes());
    let csp = br_page.header("content-security-policy").unwrap();
    assert!(csp.contains("'sha256-"), "{csp}");
    assert_eq!(Some(csp), plain_page.header("content-security-policy"));
    // A deep link opens the compressed page too.
    let deep = api2
        .request(
            Method::GET,
            "/notes/abc",
            &[("accept-encoding", "gzip")],
            "",
        )
        .await;
    assert_eq!(deep.header("content-encoding"), Some("gzip"));
    assert_eq!(ungzip(&deep.body), page.as_bytes());
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
