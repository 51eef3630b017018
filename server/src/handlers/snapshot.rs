//! `PUT …/workspaces/{ws}/snapshot?upto=N`: compaction. The body is a
//! snapshot that covers every entry up to `N`; it is swapped in atomically
//! and the entries it covers are dropped.

use hearth_shared::api::{SnapshotResponse, UndoResponse};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::error::write_error;
use crate::handlers::{authorize_upload, position_headers, read_upload};
use crate::http::{ResBody, json};
use crate::storage::{Snapshotted, Undone};

pub async fn put(
    app: &App,
    ws: WorkspaceId,
    upto: u64,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let (parts, body) = req.into_parts();
    let body = authorize_upload(app, &ws, &parts.headers, body).await?;
    if upto == 0 {
        return Err(ApiError::bad_request("`upto` must be at least 1"));
    }
    let (data, _) = read_upload(app, &parts.headers, body, "a snapshot").await?;
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    let snapshotted = workspace.snapshot(upto, data).await;
    match snapshotted.map_err(write_error)? {
        Snapshotted::Done(floor) => {
            tracing::info!(workspace = %ws, floor, "workspace compacted");
            let mut res = json(StatusCode::OK, &SnapshotResponse { floor })?;
            position_headers(res.headers_mut(), workspace.position());
            Ok(res)
        }
        Snapshotted::Conflict { head, floor } => Err(ApiError::new(
            ErrorCode::SnapshotConflict,
            format!("upto {upto} must lie between the floor ({floor}) and the head ({head})"),
        )),
        Snapshotted::OverQuota => Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            "the snapshot does not fit in the workspace's quota",
        )),
        Snapshotted::TooLarge => Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the snapshot is larger than a workspace log can hold",
        )),
    }
}

/// `POST …/workspaces/{ws}/snapshot/undo` (owner only): puts back the
/// snapshot and entries that the latest compaction replaced, keeping every
/// entry pushed since. Compactions are kept for `--compaction-undo-secs`.
pub async fn undo(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now())
        .await?
        .require_master()?;
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    match workspace.undo_compaction().await.map_err(write_error)? {
        Some(Undone { floor, head }) => {
            tracing::info!(workspace = %ws, floor, head, "compaction undone");
            let mut res = json(StatusCode::OK, &UndoResponse { floor, head })?;
            position_headers(res.headers_mut(), workspace.position());
            Ok(res)
        }
        None => Err(ApiError::new(
            ErrorCode::NothingToUndo,
            "no compaction of this workspace is kept (none happened, or it is past the undo window)",
        )),
    }
}

/// `DELETE …/workspaces/{ws}/snapshot/undo` (master): deletes every
/// snapshot and log that compactions replaced and kept for undo. The
/// owner's device calls it when it has encrypted a workspace that was not,
/// so that no plaintext of it stays in the data directory (or reaches the
/// next backup).
pub async fn forget(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now())
        .await?
        .require_master()?;
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    let forgotten = workspace.forget_compactions().await.map_err(write_error)?;
    tracing::info!(workspace = %ws, forgotten, "compaction undo copies deleted");
    json(
        StatusCode::OK,
        &serde_json::json!({ "forgotten": forgotten }),
    )
}
