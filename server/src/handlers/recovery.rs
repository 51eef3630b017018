//! The recovery key of an end-to-end encrypted workspace
//! (`PUT …/workspaces/{ws}/recovery`, `POST /v1/recovery/redeem`).
//!
//! The owner's device keeps here the SHA-256 of the recovery credential
//! (derived from the recovery key; see `hearth_shared::recovery`) and every
//! key epoch wrapped for the recovery key. A person who lost every device
//! sends the credential from a new one: the server finds the workspace by
//! its hash, locks out every earlier owner device, and answers with a new
//! master token and the wrapped keys, which only the recovery key opens.
//! The server never sees the recovery key or a workspace key.

use std::net::IpAddr;

use hearth_shared::api::{
    MAX_KEY_EPOCHS, MAX_WRAPPED_KEY_BYTES, PutRecovery, RecoveryResponse, RedeemRecovery,
};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::app::App;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::handlers::{master_json, new_token_id, read_base64, sign_token, validate_label};
use crate::http::{ResBody, json, read_json};
use crate::index::NewDevice;

/// `PUT …/workspaces/{ws}/recovery` (master).
pub async fn put(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let body: PutRecovery = master_json(app, &ws, req, now).await?;
    let hash = read_base64(&body.credential_hash, "credential_hash", 32)?;
    if hash.len() != 32 {
        return Err(ApiError::bad_request(
            "credential_hash must be the 32 bytes of a SHA-256",
        ));
    }
    if body.wrapped_keys.is_empty() || body.wrapped_keys.len() > MAX_KEY_EPOCHS {
        return Err(ApiError::bad_request(format!(
            "wrapped_keys must hold 1 to {MAX_KEY_EPOCHS} wrapped keys, one per key epoch"
        )));
    }
    let mut wrapped = Vec::with_capacity(body.wrapped_keys.len());
    for key in &body.wrapped_keys {
        read_base64(key, "each of wrapped_keys", MAX_WRAPPED_KEY_BYTES)?;
        wrapped.push(key.trim().to_owned());
    }
    let wrapped = serde_json::to_string(&wrapped)
        .map_err(|e| ApiError::internal("writing the wrapped keys", e))?;
    let replaced = app
        .index
        .put_recovery(ws.clone(), hash, wrapped, now)
        .await
        .map_err(|e| ApiError::index("keeping the recovery key", e))?;
    tracing::info!(workspace = %ws, replaced, "recovery key kept");
    json(
        if replaced {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &serde_json::json!({ "replaced": replaced }),
    )
}

/// `POST /v1/recovery/redeem` (anyone holding a recovery key; rate-limited
/// like invites).
pub async fn redeem(
    app: &App,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    app.rate_limit.check(peer)?;
    let now = unix_now();
    let (parts, body) = req.into_parts();
    let body: RedeemRecovery = read_json(&parts.headers, body, app.body_limits()).await?;
    let label = validate_label(&body.label)?;
    let credential = read_base64(&body.credential, "credential", 32)?;
    let digest: Vec<u8> = Sha256::digest(&credential).to_vec();
    let id = new_token_id()?;
    let recovered = app
        .index
        .redeem_recovery(digest, now, NewDevice { id, label })
        .await
        .map_err(|e| ApiError::index("recovering a workspace", e))?;
    let Some((token, wrapped)) = recovered else {
        return Err(ApiError::new(
            ErrorCode::RecoveryInvalid,
            "no workspace on this server has this recovery key: check it letter by letter, \
             and that this is the server the workspace synced with (a replaced recovery key \
             no longer works)",
        ));
    };
    let wrapped_keys: Vec<String> = serde_json::from_str(&wrapped)
        .map_err(|e| ApiError::internal("reading the wrapped keys", e))?;
    let jwt = sign_token(app, &token)?;
    tracing::info!(workspace = %token.workspace, "workspace recovered; earlier owner devices locked out");
    json(
        StatusCode::OK,
        &RecoveryResponse {
            workspace_id: token.workspace,
            master_token: jwt,
            token_id: token.id,
            wrapped_keys,
        },
    )
}
