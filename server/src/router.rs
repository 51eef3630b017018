//! The routing table: every route of the server is listed in [`handle`].
//!
//! `/v1/...` is the JSON API (unknown routes answer 404 `not_found`, known
//! routes with another method 405 `method_not_allowed`); every other path is
//! the PWA.

use std::net::SocketAddr;
use std::sync::Arc;

use hearth_shared::error::ErrorCode;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request, Response};

use crate::app::App;
use crate::error::ApiError;
use crate::handlers::{entries, events, health, invites, parse_workspace_id, pwa, snapshot, tokens, workspaces};
use crate::http::ResBody;

/// Answers one request.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Response<ResBody> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let result = if path == "/v1" || path.starts_with("/v1/") {
        api(&app, peer, req, &path).await
    } else {
        pwa::get(&app, &method, &path).await
    };
    let mut res = result.unwrap_or_else(ApiError::into_response);
    res.headers_mut().insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

async fn api(
    app: &Arc<App>,
    peer: SocketAddr,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<ResBody>, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches("/v1").trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let ip = peer.ip();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["health"]) => health::get(app),
        (&Method::POST, ["workspaces"]) => workspaces::register(app, ip, req).await,
        (&Method::POST, ["workspaces", ws, "tokens"]) => tokens::mint(app, parse_workspace_id(ws)?, req).await,
        (&Method::GET, ["workspaces", ws, "tokens"]) => tokens::list(app, parse_workspace_id(ws)?, req).await,
        (&Method::DELETE, ["workspaces", ws, "tokens", id]) => {
            tokens::revoke(app, parse_workspace_id(ws)?, id, req).await
        }
        (&Method::POST, ["workspaces", ws, "invites"]) => {
            invites::create(app, ip, parse_workspace_id(ws)?, req).await
        }
        (&Method::POST, ["invites", "redeem"]) => invites::redeem(app, ip, req).await,
        (&Method::POST, ["workspaces", ws, "entries"]) => entries::push(app, parse_workspace_id(ws)?, req).await,
        (&Method::GET, ["workspaces", ws, "entries"]) => entries::pull(app, parse_workspace_id(ws)?, req).await,
        (&Method::PUT, ["workspaces", ws, "snapshot"]) => snapshot::put(app, parse_workspace_id(ws)?, req).await,
        (&Method::GET, ["workspaces", ws, "events"]) => events::get(app, parse_workspace_id(ws)?, req).await,
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
    ApiError::new(ErrorCode::MethodNotAllowed, "this method is not allowed on this route")
}
