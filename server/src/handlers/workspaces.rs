//! `POST /v1/workspaces`: register a workspace and receive its master token.

use std::net::IpAddr;

use hearth_shared::api::{RegisterResponse, Scope};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use crate::app::{App, unix_now};
use crate::auth::new_claims;
use crate::error::ApiError;
use crate::handlers::{new_token_id, parse_workspace_id, validate_label};
use crate::http::{ResBody, json, read_json};
use crate::index::queries::{self, NewToken};

/// The request body, read loosely so that a bad id gets its own error code.
#[derive(Deserialize)]
struct Register {
    workspace_id: String,
    label: String,
}

pub async fn register(
    app: &App,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    app.rate_limit.check(peer)?;
    let (parts, body) = req.into_parts();
    let body: Register = read_json(&parts.headers, body, app.body_limits()).await?;
    let ws: WorkspaceId = parse_workspace_id(&body.workspace_id)?;
    let label = validate_label(&body.label)?;

    let now = unix_now();
    let master = NewToken {
        id: new_token_id()?,
        workspace: ws.clone(),
        role: Role::Master,
        scope: Scope::ReadWrite,
        label: label.clone(),
        created_at: now,
        expires_at: None,
    };
    let token = app.keys.sign(&new_claims(
        &ws,
        Role::Master,
        Scope::ReadWrite,
        &master.id,
        now,
        None,
    ))?;
    let row = master.clone();
    let created = app
        .index
        .call(move |conn| queries::register_workspace(conn, &label, &row))
        .await
        .map_err(|e| ApiError::internal("registering a workspace", e))?;
    if !created {
        return Err(ApiError::new(
            ErrorCode::WorkspaceExists,
            "this workspace is already registered",
        ));
    }
    tracing::info!(workspace = %ws, "workspace registered");
    json(
        StatusCode::CREATED,
        &RegisterResponse {
            master_token: token,
            token_id: master.id,
        },
    )
}
