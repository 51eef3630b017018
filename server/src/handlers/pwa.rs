//! `GET /…` outside `/v1`: the PWA's files, deep links to `index.html`, and
//! a short page that says how to build the app when there is none. Every
//! file has a strong `ETag`; `If-None-Match` gets 304 Not Modified, so the
//! `no-cache` files (index.html, sw.js, …) revalidate cheaply.

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::assets::{self, cache_control, content_type};
use crate::error::ApiError;
use crate::http::{ResBody, full};

const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Hearth</title></head><body><h1>Hearth</h1>\
<p>The Hearth server is running, but the app was not built into it.</p>\
<p>Build and run it with <code>cargo xtask run</code>.</p></body></html>\n";

/// Serves `path` (which starts with `/`).
pub async fn get(
    app: &App,
    method: &Method,
    path: &str,
    if_none_match: Option<&str>,
) -> Result<Response<ResBody>, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::new(
            hearth_shared::error::ErrorCode::MethodNotAllowed,
            "only GET and HEAD are allowed here",
        ));
    }
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_owned()
    };

    let assets = app.assets.clone();
    let lookup = rel.clone();
    let found = tokio::task::spawn_blocking(move || {
        if let Some(asset) = assets.get_with_etag(&lookup) {
            return Some((lookup, asset));
        }
        // A deep link (no extension) opens the app.
        if assets::extension(&lookup).is_none() || lookup.ends_with("index.html") {
            assets
                .get_with_etag("index.html")
                .map(|a| ("index.html".to_owned(), a))
        } else {
            None
        }
    })
    .await
    .map_err(|e| ApiError::internal("reading an app file", e))?;

    match found {
        Some((name, asset)) => {
            let fresh = if_none_match.is_some_and(|tags| {
                tags.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == asset.etag || t.trim() == "*")
            });
            let mut res = if fresh {
                // The headers of a 304 replace the cached ones (the service
                // worker's copy too), so they are those of the whole file:
                // its CSP must carry the page's script hash.
                let (mut parts, _) = file_response(&name, asset.bytes).into_parts();
                parts.status = StatusCode::NOT_MODIFIED;
                parts.headers.remove(CONTENT_TYPE);
                Response::from_parts(parts, full(Bytes::new()))
            } else {
                file_response(&name, asset.bytes)
            };
            if let Ok(tag) = HeaderValue::from_str(&asset.etag) {
                res.headers_mut().insert(ETAG, tag);
            }
            Ok(res)
        }
        None if assets::extension(&rel).is_none() || rel.ends_with("index.html") => {
            let mut res = file_response("index.html", Bytes::from_static(NOT_BUILT.as_bytes()));
            *res.status_mut() = StatusCode::OK;
            Ok(res)
        }
        None => Err(ApiError::new(
            hearth_shared::error::ErrorCode::NotFound,
            "no such file",
        )),
    }
}

fn file_response(name: &str, bytes: Bytes) -> Response<ResBody> {
    let html = name.ends_with(".html").then(|| bytes.clone());
    let mut res = Response::new(full(bytes));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control(name)));
    crate::security_headers::add_page_headers(headers, html.as_deref());
    res
}
