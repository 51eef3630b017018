//! The router: `/v1/...` is the API, resolved by `hearth_shared::routes`
//! (the one route table that every client uses too: unknown paths answer
//! 404 `not_found`, known paths with another method 405
//! `method_not_allowed`, bad path parameters 400; `OPTIONS` is a CORS
//! preflight), and each route goes to its handler here; every other path
//! is the PWA. Every request is logged with its status, duration and id
//! (`x-request-id`, also in the answer), never with its headers (they
//! carry tokens).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hearth_shared::error::ErrorCode;
use hyper::body::Incoming;
use std::time::Instant;

use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, HeaderMap, HeaderValue,
    ORIGIN, VARY, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::error::ApiError;
use crate::handlers::{
    chunks, device_keys, entries, events, health, invites, keys, pwa, recovery, shares, snapshot,
    tokens, workspaces,
};
use crate::http::{ResBody, empty};
use hearth_shared::routes::{Route, Unresolved, is_api, resolve};

/// Answers one request.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Response<ResBody> {
    let started = Instant::now();
    let client = crate::proxy::client(&app.trusted_proxies, peer.ip(), req.headers());
    let request_id = request_id(req.headers(), app.trusted_proxies.contains(peer.ip()));
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let is_api = is_api(&path);
    let origin = req.headers().get(ORIGIN).cloned();
    let mut route = if is_api { "unresolved" } else { "app" };
    let result = if is_api && method == Method::OPTIONS {
        route = "preflight";
        Ok(empty(StatusCode::NO_CONTENT))
    } else if is_api {
        api(&app, client.ip, req, &path, &mut route).await
    } else {
        pwa::get(&app, &method, &path, req.headers()).await
    };
    let mut res = result.unwrap_or_else(|err| {
        if is_refusal(err.code) {
            app.metrics.refused(err.code.as_str());
        }
        err.into_response()
    });
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_api {
        add_cors(headers, origin.as_ref(), &app.config.cors_origins);
        if !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    if app.tls.is_some() || client.https == Some(true) {
        crate::security_headers::add_hsts(headers);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    let peer = client.ip;
    let status = res.status().as_u16();
    let took = started.elapsed();
    app.metrics.request(route, status, took);
    let ms = took.as_millis() as u64;
    // Refusals and failures are worth a line; a successful request is
    // not, on a server that answers thousands a second (a line each cost
    // some 6% of its CPU under load): the metrics count those.
    if status >= 500 {
        tracing::warn!(%peer, %method, path, status, ms, request_id, "request");
    } else if is_api && status >= 400 {
        tracing::info!(%peer, %method, path, status, ms, request_id, "request");
    } else {
        tracing::debug!(%peer, %method, path, status, ms, request_id, "request");
    }
    res
}

/// CORS for `/v1`: the app served by this server is same-origin and needs
/// none. Pages of the origins named by `--cors-origins` (`*`: any) may call
/// the API too; every other origin gets no CORS headers, so a browser keeps
/// its pages from reading answers or sending preflighted requests (and the
/// JSON routes take `application/json` only, which always needs a preflight).
fn add_cors(headers: &mut HeaderMap, origin: Option<&HeaderValue>, allowed: &[String]) {
    let any = allowed.iter().any(|o| o == "*");
    let allow = match origin {
        _ if any => HeaderValue::from_static("*"),
        Some(o)
            if allowed
                .iter()
                .any(|a| a.trim_end_matches('/').as_bytes() == o.as_bytes()) =>
        {
            o.clone()
        }
        _ => return,
    };
    if !any {
        headers.insert(VARY, HeaderValue::from_static("origin"));
    }
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
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

/// The header that carries a request's id, in the answer and in the log.
const REQUEST_ID: &str = "x-request-id";

/// The id of a request: the one a trusted proxy gave it (1 to 64 visible
/// ASCII characters), else a new random one.
fn request_id(headers: &HeaderMap, from_proxy: bool) -> String {
    if from_proxy
        && let Some(given) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
        && !given.is_empty()
        && given.len() <= 64
        && given.bytes().all(|b| b.is_ascii_graphic())
    {
        return given.to_owned();
    }
    // A random prefix drawn once, and a counter: unique, and no system
    // call per request.
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        let _ = crate::fsutil::random_bytes(&mut b);
        u32::from_le_bytes(b)
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix:08x}{n:08x}")
}

/// Whether an error answer refuses the request for want of room or turns
/// (what the metrics count as refused).
fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RateLimited
            | ErrorCode::TooManyStreams
            | ErrorCode::StorageFull
            | ErrorCode::QuotaExceeded
            | ErrorCode::Unavailable
    )
}

/// The name a route has in the metrics (its path without identifiers).
fn route_label(route: &Route) -> &'static str {
    match route {
        Route::Health => "health",
        Route::Register => "register",
        Route::MintToken(_) => "mint_token",
        Route::ListTokens(_) => "list_tokens",
        Route::RevokeToken(..) => "revoke_token",
        Route::SetExpiry(..) => "set_expiry",
        Route::ReplaceMaster(_) => "replace_master",
        Route::CreateInvite(_) => "create_invite",
        Route::RedeemInvite => "redeem_invite",
        Route::Push(_) => "push",
        Route::Pull { .. } => "pull",
        Route::PutSnapshot { .. } => "put_snapshot",
        Route::UndoCompaction(_) => "undo_compaction",
        Route::ForgetCompactions(_) => "forget_compactions",
        Route::Events(_) => "events",
        Route::ListKeys(_) => "list_keys",
        Route::PutKeyCheck { .. } => "put_key_check",
        Route::PutDeviceWraps { .. } => "put_device_wraps",
        Route::PutDeviceKey(_) => "put_device_key",
        Route::GetDeviceKey(_) => "get_device_key",
        Route::PutRecovery(_) => "put_recovery",
        Route::RedeemRecovery => "redeem_recovery",
        Route::PutChunk { .. } => "put_chunk",
        Route::GetChunk { .. } => "get_chunk",
        Route::MissingChunks(_) => "missing_chunks",
        Route::UnreferencedChunks(_) => "unreferenced_chunks",
        Route::ListChunks(_) => "list_chunks",
        Route::CreateShare(_) => "create_share",
        Route::ListShares(_) => "list_shares",
        Route::RevokeShare(..) => "revoke_share",
        Route::UpdateShare(..) => "update_share",
        Route::GetShare(_) => "get_share",
        Route::GetShareChunk { .. } => "get_share_chunk",
    }
}

async fn api(
    app: &Arc<App>,
    ip: IpAddr,
    req: Request<Incoming>,
    path: &str,
    label: &mut &'static str,
) -> Result<Response<ResBody>, ApiError> {
    let route =
        resolve(req.method().as_str(), path, req.uri().query()).map_err(|why| match why {
            Unresolved::NotApi | Unresolved::NotFound => ApiError::not_found(),
            Unresolved::MethodNotAllowed => method_not_allowed(),
            Unresolved::BadWorkspaceId(e) => ApiError::new(
                ErrorCode::InvalidWorkspaceId,
                format!("invalid workspace id: {e}"),
            ),
            Unresolved::BadTokenId(e) => {
                ApiError::new(ErrorCode::InvalidTokenId, format!("invalid token id: {e}"))
            }
            Unresolved::BadQuery(message) => ApiError::bad_request(message),
            Unresolved::BadShareId(_) => ApiError::new(
                ErrorCode::ShareNotFound,
                "this is not a link's id; check that the whole link was copied",
            ),
            Unresolved::BadChunkName(e) => {
                ApiError::bad_request(format!("invalid chunk name: {e}"))
            }
        })?;
    *label = route_label(&route);
    match route {
        Route::Health => health::get(app),
        Route::Register => workspaces::register(app, ip, req).await,
        Route::MintToken(ws) => tokens::mint(app, ws, req).await,
        Route::ListTokens(ws) => tokens::list(app, ws, req).await,
        Route::RevokeToken(ws, id) => tokens::revoke(app, ws, id, req).await,
        Route::SetExpiry(ws, id) => tokens::set_expiry(app, ws, id, req).await,
        Route::ReplaceMaster(ws) => tokens::replace_master(app, ws, req).await,
        Route::CreateInvite(ws) => invites::create(app, ip, ws, req).await,
        Route::RedeemInvite => invites::redeem(app, ip, req).await,
        Route::Push(ws) => entries::push(app, ws, req).await,
        Route::Pull { ws, after } => entries::pull(app, ws, after, req).await,
        Route::PutSnapshot { ws, upto } => snapshot::put(app, ws, upto, req).await,
        Route::UndoCompaction(ws) => snapshot::undo(app, ws, req).await,
        Route::ForgetCompactions(ws) => snapshot::forget(app, ws, req).await,
        Route::Events(ws) => events::get(app, ip, ws, req).await,
        Route::ListKeys(ws) => keys::list(app, ws, req).await,
        Route::PutKeyCheck { ws, epoch } => keys::put(app, ws, epoch, req).await,
        Route::PutDeviceWraps { ws, epoch } => device_keys::put_wraps(app, ws, epoch, req).await,
        Route::PutDeviceKey(ws) => device_keys::put(app, ws, req).await,
        Route::GetDeviceKey(ws) => device_keys::get(app, ws, req).await,
        Route::PutRecovery(ws) => recovery::put(app, ws, req).await,
        Route::RedeemRecovery => recovery::redeem(app, ip, req).await,
        Route::PutChunk { ws, name } => chunks::put(app, ws, name, req).await,
        Route::GetChunk { ws, name } => chunks::get(app, ws, name, req).await,
        Route::MissingChunks(ws) => chunks::missing(app, ws, req).await,
        Route::UnreferencedChunks(ws) => chunks::unreferenced(app, ws, req).await,
        Route::ListChunks(ws) => chunks::list(app, ws, req).await,
        Route::CreateShare(ws) => shares::create(app, ws, req).await,
        Route::ListShares(ws) => shares::list(app, ws, req).await,
        Route::RevokeShare(ws, id) => shares::revoke(app, ws, id, req).await,
        Route::UpdateShare(ws, id) => shares::update(app, ws, id, req).await,
        Route::GetShare(id) => shares::get(app, id).await,
        Route::GetShareChunk { share, name } => shares::get_chunk(app, share, name).await,
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}
