//! `POST /v1/workspaces`: register a workspace and receive its master token.
//!
//! Who may: with `--registration code` (the default) whoever sends a valid
//! one-time setup code (`setup_code` in the body; printed at start and by
//! `hearth setup-code`), with `open` anyone, with `closed` nobody. Rate
//! limits apply either way, and a server past its storage limit or low on
//! disk refuses new workspaces (507).

use std::net::IpAddr;

use hearth_shared::api::{RegisterResponse, Registration, Scope};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use crate::app::App;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::error::write_error;
use crate::handlers::{issue_token, parse_workspace_id, validate_label};
use crate::http::{ResBody, json, read_json};

fn setup_code_invalid() -> ApiError {
    ApiError::new(
        ErrorCode::SetupCodeInvalid,
        "registering a workspace on this server needs its setup code, and this one is missing, \
         wrong or already used; the server prints one when it starts, and `hearth setup-code` \
         on the server prints another",
    )
}

/// The request body, read loosely so that a bad id gets its own error code.
#[derive(Deserialize)]
struct Register {
    workspace_id: String,
    label: String,
    #[serde(default)]
    setup_code: Option<String>,
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
    let mode = app.config.registration.mode();
    let code = match mode {
        Registration::Closed => {
            return Err(ApiError::new(
                ErrorCode::RegistrationClosed,
                "this server registers no new workspaces; join an existing one with a pairing link",
            ));
        }
        Registration::Open => None,
        Registration::Code => match body.setup_code.as_deref().map(str::trim) {
            Some(code) if !code.is_empty() => Some(crate::setup_code::hash(code)),
            _ => return Err(setup_code_invalid()),
        },
    };
    let room = app.workspaces.room().clone();
    tokio::task::spawn_blocking(move || room.admit(0))
        .await
        .map_err(|e| ApiError::internal("checking for room", e))?
        .map_err(|refused| write_error(refused.into()))?;

    let now = unix_now();
    let (master, token) = issue_token(
        app,
        &ws,
        Role::Master,
        Scope::ReadWrite,
        label.clone(),
        now,
        None,
    )?;
    let row = master.clone();
    let created = match code {
        None => app.index.register_workspace(label, row).await.map(Some),
        Some(hash) => {
            app.index
                .register_with_code(hash.to_vec(), now, label, row)
                .await
        }
    }
    .map_err(|e| ApiError::index("registering a workspace", e))?;
    let Some(created) = created else {
        return Err(setup_code_invalid());
    };
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
