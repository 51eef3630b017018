//! The key epochs of an end-to-end encrypted workspace
//! (`GET …/workspaces/{ws}/keys`, `PUT …/keys/{epoch}`). Each epoch is
//! kept with the key check record the owner's device sealed with that
//! epoch's key: any device of the workspace can tell from it whether the
//! key it holds is the right one, and that the workspace is encrypted at
//! all, before it writes anything. The server stores the records as bytes
//! it cannot open; it never sees a key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::api::{KeyEpoch, KeyEpochs, MAX_KEY_CHECK_BYTES, MAX_KEY_EPOCHS, PutKeyCheck};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::handlers::{master_json, read_base64};
use crate::http::{ResBody, json};
use crate::index::KeyEpochPut;

pub async fn list(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now()).await?;
    let epochs = app
        .index
        .key_epochs(ws)
        .await
        .map_err(|e| ApiError::index("reading the key epochs", e))?;
    json(
        StatusCode::OK,
        &KeyEpochs {
            epochs: epochs
                .into_iter()
                .map(|(epoch, check)| KeyEpoch {
                    epoch,
                    check: URL_SAFE_NO_PAD.encode(check),
                })
                .collect(),
        },
    )
}

pub async fn put(
    app: &App,
    ws: WorkspaceId,
    epoch: u32,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let body: PutKeyCheck = master_json(app, &ws, req, now).await?;
    let check = read_base64(&body.check, "check", MAX_KEY_CHECK_BYTES)?;
    let outcome = app
        .index
        .put_key_epoch(ws, epoch, check, now, MAX_KEY_EPOCHS)
        .await
        .map_err(|e| ApiError::index("recording a key epoch", e))?;
    match outcome {
        KeyEpochPut::Created => json(StatusCode::CREATED, &serde_json::json!({ "epoch": epoch })),
        KeyEpochPut::Unchanged => json(StatusCode::OK, &serde_json::json!({ "epoch": epoch })),
        KeyEpochPut::Conflict => Err(ApiError::new(
            ErrorCode::KeyEpochExists,
            format!(
                "key epoch {epoch} is already recorded with another key check: this workspace's key for it was made on another device; pair this device again by link"
            ),
        )),
        KeyEpochPut::TooMany => Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("a workspace may have at most {MAX_KEY_EPOCHS} key epochs"),
        )),
    }
}
