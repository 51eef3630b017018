//! `…/workspaces/{ws}/tokens`: the master device mints, lists and revokes
//! access tokens.

use hearth_shared::api::{
    MintToken, MintTokenResponse, RegisterResponse, Scope, SetExpiry, TokenList,
};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{TokenId, WorkspaceId};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::handlers::{issue_token, master_json, validate_label, validate_lifetime};
use crate::http::{ResBody, empty, json};
use crate::index::{ExpirySet, Revoked};

pub async fn mint(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let body: MintToken = master_json(app, &ws, req, now).await?;
    let label = validate_label(&body.label)?;
    let lifetime = validate_lifetime(body.expires_in)?;
    let (token, jwt) = issue_token(app, &ws, Role::Access, body.scope, label, now, lifetime)?;
    app.index
        .mint_token(token.clone())
        .await
        .map_err(|e| ApiError::index("minting a token", e))?;
    json(
        StatusCode::CREATED,
        &MintTokenResponse {
            token: jwt,
            token_id: token.id,
        },
    )
}

pub async fn list(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now())
        .await?
        .require_master()?;
    let tokens = app
        .index
        .list_tokens(ws)
        .await
        .map_err(|e| ApiError::index("listing tokens", e))?;
    json(StatusCode::OK, &TokenList { tokens })
}

pub async fn revoke(
    app: &App,
    ws: WorkspaceId,
    id: TokenId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    authorize(&app.auth, req.headers(), &ws, now)
        .await?
        .require_master()?;
    let outcome = app
        .index
        .revoke_token(ws, id, now)
        .await
        .map_err(|e| ApiError::index("revoking a token", e))?;
    match outcome {
        Revoked::Done => Ok(empty(StatusCode::NO_CONTENT)),
        Revoked::NotFound => Err(ApiError::new(
            ErrorCode::TokenNotFound,
            "no such token in this workspace",
        )),
        Revoked::IsMaster => Err(ApiError::bad_request(
            "the master token cannot be revoked; replace it (POST …/master) instead",
        )),
    }
}

/// `POST …/workspaces/{ws}/master` (master): a new master token for the
/// owner's device; every earlier master token stops working at once.
pub async fn replace_master(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let caller = authorize(&app.auth, req.headers(), &ws, now).await?;
    caller.require_master()?;
    let label = app
        .index
        .list_tokens(ws.clone())
        .await
        .map_err(|e| ApiError::index("replacing the master token", e))?
        .into_iter()
        .find(|t| t.token_id == caller.token_id)
        .map_or_else(|| "owner".to_owned(), |t| t.label);
    let (token, jwt) = issue_token(app, &ws, Role::Master, Scope::ReadWrite, label, now, None)?;
    app.index
        .replace_master(token.clone(), now)
        .await
        .map_err(|e| ApiError::index("replacing the master token", e))?;
    tracing::info!(workspace = %ws, "master token replaced");
    json(
        StatusCode::OK,
        &RegisterResponse {
            master_token: jwt,
            token_id: token.id,
        },
    )
}

/// `PUT …/workspaces/{ws}/tokens/{id}/expiry` (master): when an access
/// token (such as one a paired device redeemed) stops working.
pub async fn set_expiry(
    app: &App,
    ws: WorkspaceId,
    id: TokenId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let body: SetExpiry = master_json(app, &ws, req, now).await?;
    let expires_at = validate_lifetime(body.expires_in)?.map(|secs| now.saturating_add(secs));
    let outcome = app
        .index
        .set_expiry(ws, id, expires_at)
        .await
        .map_err(|e| ApiError::index("setting a token's expiry", e))?;
    match outcome {
        ExpirySet::Done(info) => json(StatusCode::OK, &info),
        ExpirySet::NotFound => Err(ApiError::new(
            ErrorCode::TokenNotFound,
            "no such token in this workspace",
        )),
        ExpirySet::IsMaster => Err(ApiError::bad_request(
            "the master token does not expire; replace it instead",
        )),
    }
}
