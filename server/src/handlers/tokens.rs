//! `…/workspaces/{ws}/tokens`: the master device mints, lists and revokes
//! access tokens.

use hearth_shared::api::{MintToken, MintTokenResponse, TokenList};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{TokenId, WorkspaceId};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::{App, unix_now};
use crate::auth::{authorize, new_claims};
use crate::error::ApiError;
use crate::handlers::{new_token_id, validate_label, validate_lifetime};
use crate::http::{ResBody, empty, json, read_json};
use crate::index::queries::{self, NewToken, Revoked};

pub async fn mint(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let (parts, body) = req.into_parts();
    authorize(app, &parts.headers, &ws, now)
        .await?
        .require_master()?;
    let body: MintToken = read_json(&parts.headers, body, app.body_limits()).await?;
    let label = validate_label(&body.label)?;
    let lifetime = validate_lifetime(body.expires_in)?;
    let token = NewToken {
        id: new_token_id()?,
        workspace: ws.clone(),
        role: Role::Access,
        scope: body.scope,
        label,
        created_at: now,
        expires_at: lifetime.map(|secs| now.saturating_add(secs)),
    };
    let jwt = app.keys.sign(&new_claims(
        &ws,
        Role::Access,
        body.scope,
        &token.id,
        now,
        lifetime,
    ))?;
    let row = token.clone();
    app.index
        .call(move |conn| queries::mint_token(conn, &row))
        .await
        .map_err(|e| ApiError::internal("minting a token", e))?;
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
    authorize(app, req.headers(), &ws, unix_now())
        .await?
        .require_master()?;
    let tokens = app
        .index
        .call(move |conn| queries::list_tokens(conn, &ws))
        .await
        .map_err(|e| ApiError::internal("listing tokens", e))?;
    json(StatusCode::OK, &TokenList { tokens })
}

pub async fn revoke(
    app: &App,
    ws: WorkspaceId,
    token_id: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    authorize(app, req.headers(), &ws, now)
        .await?
        .require_master()?;
    let id = TokenId::parse(token_id)
        .map_err(|e| ApiError::new(ErrorCode::InvalidTokenId, format!("invalid token id: {e}")))?;
    let outcome = app
        .index
        .call(move |conn| queries::revoke_token(conn, &ws, &id, now))
        .await
        .map_err(|e| ApiError::internal("revoking a token", e))?;
    match outcome {
        Revoked::Done => Ok(empty(StatusCode::NO_CONTENT)),
        Revoked::NotFound => Err(ApiError::new(
            ErrorCode::TokenNotFound,
            "no such token in this workspace",
        )),
        Revoked::IsMaster => Err(ApiError::bad_request("the master token cannot be revoked")),
    }
}
