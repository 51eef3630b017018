//! `GET /…` outside `/v1`: the PWA's files, deep links to `index.html`, and
//! a short page that says how to build the app when there is none. Every
//! file has a strong `ETag`; `If-None-Match` gets 304 Not Modified, so the
//! `no-cache` files (index.html, sw.js, …) revalidate cheaply. A browser
//! that accepts Brotli or gzip gets the copy `cargo xtask dist` wrote in it
//! (`Content-Encoding`, `Vary: Accept-Encoding`, an entity tag of its own);
//! a `Range` request gets those bytes of the file as it is (206, or 416
//! past its end).

use bytes::Bytes;
use hyper::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH, IF_RANGE, RANGE, VARY,
};
use hyper::{Method, Response, StatusCode};

use crate::app::App;
use crate::assets::{self, Asset, Encoding, RangeAsk, cache_control, content_type};
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
    headers: &HeaderMap,
) -> Result<Response<ResBody>, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::new(
            hearth_shared::error::ErrorCode::MethodNotAllowed,
            "only GET and HEAD are allowed here",
        ));
    }
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let rel = path.trim_start_matches('/');
    let rel = if path == hearth_shared::routes::SHARE_PAGE {
        // A public link's page, for people without the app.
        "share.html".to_owned()
    } else if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_owned()
    };
    let connect = &app.config.sync_origins;
    let range = header(RANGE).map(str::to_owned);
    // A range is of the file as it is: no coding applies to it.
    let accepted = if range.is_some() {
        Vec::new()
    } else {
        assets::accepted(header(ACCEPT_ENCODING))
    };

    let assets = app.assets.clone();
    let lookup = rel.clone();
    let found = tokio::task::spawn_blocking(move || {
        let pick = |name: &str| {
            let (asset, encoding) = assets.get_encoded(name, &accepted)?;
            // The page's policy hashes its inline scripts, so it needs the
            // page as it is.
            let html = if name.ends_with(".html") {
                match encoding {
                    Some(_) => Some(assets.get(name)?),
                    None => Some(asset.bytes.clone()),
                }
            } else {
                None
            };
            Some(Found {
                name: name.to_owned(),
                asset,
                encoding,
                html,
            })
        };
        if let Some(found) = pick(&lookup) {
            return Some(found);
        }
        // A deep link (no extension) opens the app.
        if assets::extension(&lookup).is_none() || lookup.ends_with("index.html") {
            pick("index.html")
        } else {
            None
        }
    })
    .await
    .map_err(|e| ApiError::internal("reading an app file", e))?;

    match found {
        Some(found) => {
            let fresh = header(IF_NONE_MATCH).is_some_and(|tags| {
                tags.split(',').any(|t| {
                    t.trim().trim_start_matches("W/") == found.asset.etag || t.trim() == "*"
                })
            });
            let range = match range {
                // `If-Range` with another tag: the file changed, send it whole.
                Some(_) if header(IF_RANGE).is_some_and(|t| t.trim() != found.asset.etag) => {
                    RangeAsk::Whole
                }
                Some(r) => assets::range(Some(&r), found.asset.bytes.len() as u64),
                None => RangeAsk::Whole,
            };
            Ok(respond(found, fresh, range, connect))
        }
        None if assets::extension(&rel).is_none() || rel.ends_with("index.html") => {
            let page = Bytes::from_static(NOT_BUILT.as_bytes());
            let mut res = file_response("index.html", page.clone(), Some(&page), connect);
            *res.status_mut() = StatusCode::OK;
            Ok(res)
        }
        None => Err(ApiError::new(
            hearth_shared::error::ErrorCode::NotFound,
            "no such file",
        )),
    }
}

/// A file found for a request.
struct Found {
    /// Its name in the app's files (`index.html` for a deep link).
    name: String,
    /// Its bytes as sent, in `encoding`.
    asset: Asset,
    encoding: Option<Encoding>,
    /// The page as it is, for an HTML file.
    html: Option<Bytes>,
}

/// The answer for a found file: whole, 304 when the client's copy is
/// fresh, or a part of it.
fn respond(found: Found, fresh: bool, range: RangeAsk, connect: &[String]) -> Response<ResBody> {
    let Found {
        name,
        asset,
        encoding,
        html,
    } = found;
    let len = asset.bytes.len() as u64;
    let mut res = match range {
        _ if fresh => {
            // The headers of a 304 replace the cached ones (the service
            // worker's copy too), so they are those of the whole file:
            // its CSP must carry the page's script hash.
            let (mut parts, _) =
                file_response(&name, asset.bytes, html.as_deref(), connect).into_parts();
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(CONTENT_TYPE);
            Response::from_parts(parts, full(Bytes::new()))
        }
        RangeAsk::Part { start, end } if start <= end && end < len => {
            let part = asset.bytes.slice(start as usize..=end as usize);
            let mut res = file_response(&name, part, html.as_deref(), connect);
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                res.headers_mut().insert(CONTENT_RANGE, v);
            }
            res
        }
        RangeAsk::Unsatisfiable => {
            let mut res = file_response(&name, Bytes::new(), html.as_deref(), connect);
            *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            res.headers_mut().remove(CONTENT_TYPE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                res.headers_mut().insert(CONTENT_RANGE, v);
            }
            res
        }
        RangeAsk::Whole | RangeAsk::Part { .. } => {
            file_response(&name, asset.bytes, html.as_deref(), connect)
        }
    };
    let headers = res.headers_mut();
    if let Some(encoding) = encoding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    }
    // Every file may have copies: a cache must key on the coding asked for.
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(tag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(ETAG, tag);
    }
    res
}

fn file_response(
    name: &str,
    bytes: Bytes,
    html: Option<&[u8]>,
    connect: &[String],
) -> Response<ResBody> {
    let mut res = Response::new(full(bytes));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control(name)));
    crate::security_headers::add_page_headers(headers, html, connect);
    res
}
