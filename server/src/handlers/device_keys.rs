//! Device key pairs of an end-to-end encrypted workspace
//! (`PUT`/`GET …/workspaces/{ws}/device-key`,
//! `PUT …/keys/{epoch}/devices`).
//!
//! Each device registers its X25519 public key with its token. When the
//! owner's device rotates the workspace key (after removing a device), it
//! wraps the new epoch for each remaining device's public key, and the
//! server keeps one copy per device; a device fetches its own copies.
//! The copies open only with the device's secret key, which never leaves
//! it; a revoked token's copies are deleted with it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::api::{DeviceKey, MAX_WRAPPED_KEY_BYTES, PutDeviceKey, PutDeviceWraps};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::handlers::{master_json, read_base64};
use crate::http::{ResBody, json, read_json};
use crate::index::WrapsPut;

/// The most devices one request wraps a key epoch for.
const MAX_COPIES: usize = 1024;

/// `PUT …/device-key` (any token): the caller's public key.
pub async fn put(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let (parts, body) = req.into_parts();
    let caller = authorize(&app.auth, &parts.headers, &ws, unix_now()).await?;
    let body: PutDeviceKey = read_json(&parts.headers, body, app.body_limits()).await?;
    let key = read_base64(&body.public_key, "public_key", 32)?;
    if key.len() != 32 {
        return Err(ApiError::bad_request(
            "public_key must be the 32 bytes of an X25519 public key",
        ));
    }
    let token = caller.token_id.clone();
    let found = app
        .index
        .set_public_key(ws, token, key)
        .await
        .map_err(|e| ApiError::index("keeping the device's public key", e))?;
    if !found {
        return Err(ApiError::new(
            ErrorCode::TokenNotFound,
            "this token is not in the workspace's index",
        ));
    }
    json(StatusCode::OK, &serde_json::json!({ "kept": true }))
}

/// `GET …/device-key` (any token): the caller's public key and the key
/// epochs wrapped for it.
pub async fn get(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let caller = authorize(&app.auth, req.headers(), &ws, unix_now()).await?;
    let token = caller.token_id.clone();
    let (public_key, wrapped) = app
        .index
        .device_key(ws, token)
        .await
        .map_err(|e| ApiError::index("reading the device's keys", e))?;
    json(
        StatusCode::OK,
        &DeviceKey {
            public_key: public_key.map(|k| URL_SAFE_NO_PAD.encode(k)),
            wrapped: wrapped.iter().map(|w| URL_SAFE_NO_PAD.encode(w)).collect(),
        },
    )
}

/// `PUT …/keys/{epoch}/devices` (master): key epoch `epoch` wrapped for
/// devices of the workspace.
pub async fn put_wraps(
    app: &App,
    ws: WorkspaceId,
    epoch: u32,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let body: PutDeviceWraps = master_json(app, &ws, req, now).await?;
    if body.wrapped.is_empty() || body.wrapped.len() > MAX_COPIES {
        return Err(ApiError::bad_request(format!(
            "wrapped must hold 1 to {MAX_COPIES} copies, one per device"
        )));
    }
    let mut copies = Vec::with_capacity(body.wrapped.len());
    for copy in &body.wrapped {
        let key = read_base64(&copy.key, "each key of wrapped", MAX_WRAPPED_KEY_BYTES)?;
        copies.push((copy.token_id.clone(), key));
    }
    let count = copies.len();
    let outcome = app
        .index
        .put_device_wraps(ws, epoch, copies, now)
        .await
        .map_err(|e| ApiError::index("keeping the wrapped keys", e))?;
    match outcome {
        WrapsPut::Kept => json(
            StatusCode::OK,
            &serde_json::json!({ "epoch": epoch, "devices": count }),
        ),
        WrapsPut::NoEpoch => Err(ApiError::new(
            ErrorCode::NotFound,
            format!("key epoch {epoch} is not recorded; record it (PUT …/keys/{epoch}) first"),
        )),
        WrapsPut::NotADevice(token) => Err(ApiError::bad_request(format!(
            "token {token} is not a device of this workspace that can take a key: it is revoked, unknown, or has registered no public key; nothing was kept"
        ))),
    }
}
