//! Invites: the master device creates a short-lived, single-use invite
//! (`POST …/workspaces/{ws}/invites`); a new device redeems it for its own
//! access token (`POST /v1/invites/redeem`). Only a hash of the invite
//! secret is stored.

use std::net::IpAddr;

use hearth_shared::api::{
    CreateInvite, InviteResponse, MAX_WRAPPED_RING_BYTES, RedeemInvite, RedeemResponse,
};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::app::App;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::fsutil::random_bytes;
use crate::handlers::{master_json, new_token_id, read_base64, sign_token, validate_label};
use crate::http::{ResBody, json, read_json};
use crate::index::{NewDevice, NewInvite};
use crate::secret::hex;

/// Lifetime of an invite when the request names none.
pub const DEFAULT_INVITE_SECS: u64 = 10 * 60;
/// Longest lifetime of an invite.
pub const MAX_INVITE_SECS: u64 = 24 * 60 * 60;

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub async fn create(
    app: &App,
    peer: IpAddr,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    app.rate_limit.check(peer)?;
    let now = unix_now();
    let body: CreateInvite = master_json(app, &ws, req, now).await?;
    let lifetime = match body.expires_in {
        Some(0) => {
            return Err(ApiError::bad_request(
                "expires_in must be at least 1 second",
            ));
        }
        Some(secs) => secs.min(MAX_INVITE_SECS),
        None => DEFAULT_INVITE_SECS,
    };
    let mut secret = [0u8; 32];
    random_bytes(&mut secret).map_err(|e| ApiError::internal("drawing an invite", e))?;
    let invite = hex(&secret);
    let expires_at = now.saturating_add(lifetime);
    let digest = hash(&invite);
    let scope = body.scope;
    let wrapped_key = body
        .wrapped_key
        .as_deref()
        .map(|text| read_base64(text, "wrapped_key", MAX_WRAPPED_RING_BYTES))
        .transpose()?;
    app.index
        .create_invite(NewInvite {
            secret_hash: digest,
            workspace: ws,
            scope,
            created_at: now,
            expires_at,
            wrapped_key,
        })
        .await
        .map_err(|e| ApiError::index("creating an invite", e))?;
    json(StatusCode::CREATED, &InviteResponse { invite, expires_at })
}

pub async fn redeem(
    app: &App,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    app.rate_limit.check(peer)?;
    let now = unix_now();
    let (parts, body) = req.into_parts();
    let body: RedeemInvite = read_json(&parts.headers, body, app.body_limits()).await?;
    let label = validate_label(&body.label)?;
    let digest = hash(body.invite.trim());
    let id = new_token_id()?;
    let token = app
        .index
        .redeem_invite(digest, now, NewDevice { id, label })
        .await
        .map_err(|e| ApiError::index("redeeming an invite", e))?;
    let Some((token, wrapped_key)) = token else {
        return Err(ApiError::new(
            ErrorCode::InviteInvalid,
            "this invite is unknown, already used, or expired; ask for a new one",
        ));
    };
    let jwt = sign_token(app, &token)?;
    tracing::info!(workspace = %token.workspace, "invite redeemed");
    json(
        StatusCode::OK,
        &RedeemResponse {
            workspace_id: token.workspace,
            token: jwt,
            token_id: token.id,
            scope: token.scope,
            wrapped_key: wrapped_key.map(|bytes| {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            }),
        },
    )
}
