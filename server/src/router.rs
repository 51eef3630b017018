//! The routing table: every route of the server is listed in [`handle`].
//!
//! `/v1/...` is the JSON API (unknown routes answer 404 `not_found`, known
//! routes with another method 405 `method_not_allowed`; `OPTIONS` is a CORS
//! preflight); every other path is the PWA. Every request is logged with its
//! status and duration, never with its headers (they carry tokens).

use std::net::SocketAddr;
use std::sync::Arc;

use hearth_shared::error::ErrorCode;
use hyper::body::Incoming;
use std::time::Instant;

use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap, HeaderValue, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::error::ApiError;
use crate::handlers::{
    entries, events, health, invites, parse_workspace_id, pwa, snapshot, tokens, workspaces,
};
use crate::http::{ResBody, empty};

/// Answers one request.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Response<ResBody> {
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let is_api = path == "/v1" || path.starts_with("/v1/");
    let result = if is_api && method == Method::OPTIONS {
        Ok(empty(StatusCode::NO_CONTENT))
    } else if is_api {
        api(&app, peer, req, &path).await
    } else {
        let inm = req
            .headers()
            .get(IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        pwa::get(&app, &method, &path, inm.as_deref()).await
    };
    let mut res = result.unwrap_or_else(ApiError::into_response);
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_api {
        add_cors(headers);
    }
    let status = res.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::warn!(%peer, %method, path, status, ms, "request");
    } else if is_api {
        tracing::info!(%peer, %method, path, status, ms, "request");
    } else {
        tracing::debug!(%peer, %method, path, status, ms, "request");
    }
    res
}

/// CORS for `/v1`: any origin may call the API, since it authenticates with
/// bearer tokens only (no cookies, nothing ambient a page could abuse).
fn add_cors(headers: &mut HeaderMap) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, idempotency-key"),
    );
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("hearth-head, hearth-floor, retry-after"),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
}

async fn api(
    app: &Arc<App>,
    peer: SocketAddr,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<ResBody>, ApiError> {
    let segments: Vec<&str> = path
        .trim_start_matches("/v1")
        .trim_start_matches('/')
        .split('/')
        .collect();
    let method = req.method().clone();
    let ip = peer.ip();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["health"]) => health::get(app),
        (&Method::POST, ["workspaces"]) => workspaces::register(app, ip, req).await,
        (&Method::POST, ["workspaces", ws, "tokens"]) => {
            tokens::mint(app, parse_workspace_id(ws)?, req).await
        }
        (&Method::GET, ["workspaces", ws, "tokens"]) => {
            tokens::list(app, parse_workspace_id(ws)?, req).await
        }
        (&Method::DELETE, ["workspaces", ws, "tokens", id]) => {
            tokens::revoke(app, parse_workspace_id(ws)?, id, req).await
        }
        (&Method::POST, ["workspaces", ws, "invites"]) => {
            invites::create(app, ip, parse_workspace_id(ws)?, req).await
        }
        (&Method::POST, ["invites", "redeem"]) => invites::redeem(app, ip, req).await,
        (&Method::POST, ["workspaces", ws, "entries"]) => {
            entries::push(app, parse_workspace_id(ws)?, req).await
        }
        (&Method::GET, ["workspaces", ws, "entries"]) => {
            entries::pull(app, parse_workspace_id(ws)?, req).await
        }
        (&Method::PUT, ["workspaces", ws, "snapshot"]) => {
            snapshot::put(app, parse_workspace_id(ws)?, req).await
        }
        (&Method::GET, ["workspaces", ws, "events"]) => {
            events::get(app, parse_workspace_id(ws)?, req).await
        }
        (
            _,
            ["health"]
            | ["workspaces"]
            | ["workspaces", _, "tokens"]
            | ["workspaces", _, "tokens", _]
            | ["workspaces", _, "invites"]
            | ["invites", "redeem"]
            | ["workspaces", _, "entries" | "snapshot" | "events"],
        ) => Err(method_not_allowed()),
        _ => Err(ApiError::not_found()),
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}
