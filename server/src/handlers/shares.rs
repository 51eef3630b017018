//! Public read-only links to one note (`…/shares`):
//!
//! - `POST /v1/workspaces/{ws}/shares` (read-write, JSON `CreateShare`):
//!   a link to chunks the workspace already stores: the sealed note
//!   (`document`) and its files' chunks (`chunks`), for `expires_in`
//!   seconds. `201` and the link's `ShareInfo`. A chunk not stored gets
//!   404 `chunk_not_found`; a workspace at [`MAX_SHARES`] live links 507
//!   `quota_exceeded`.
//! - `GET /v1/workspaces/{ws}/shares` (read-write): the live links.
//! - `DELETE /v1/workspaces/{ws}/shares/{share}` (read-write): revokes it
//!   at once (`204`); its chunks that no other link reads are set aside and
//!   deleted after the chunk grace period, as unreferenced files are.
//! - `GET /v1/shares/{share}` (anyone): the link's `ShareInfo`, which
//!   names no workspace; `GET /v1/shares/{share}/chunks/{name}` (anyone):
//!   one of the chunks it may read. A revoked, expired or unknown link gets
//!   404 `share_not_found`.
//!
//! The key that opens the chunks is in the link's fragment, which no
//! browser sends: the server holds ciphertext and names only. Links that
//! expire are forgotten by the minutely chores ([`purge_expired`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use hearth_shared::api::{
    CreateShare, MAX_CHUNK_NAMES, MAX_SHARE_SECS, MAX_SHARES, MIN_SHARE_SECS, ShareInfo, ShareList,
    UpdateShare,
};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{ChunkName, ShareId, WorkspaceId};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::{ApiError, chunk_error};
use crate::fsutil::random16;
use crate::handlers::write_json;
use crate::http::{ResBody, empty, full, json};
use crate::index::ShareRow;

fn info(row: &ShareRow) -> ShareInfo {
    ShareInfo {
        share_id: row.id.clone(),
        document: row.document,
        created: row.created_at,
        expires_at: row.expires_at,
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ShareNotFound,
        "this link was revoked or has expired (or never existed); ask whoever shared it for a new one",
    )
}

/// The chunks a link reads besides its document, each once, once every
/// one of them and the document are stored in `ws`.
async fn stored_chunks(
    app: &App,
    ws: &WorkspaceId,
    document: ChunkName,
    asked: Vec<ChunkName>,
) -> Result<Vec<ChunkName>, ApiError> {
    let mut chunks: Vec<ChunkName> = Vec::with_capacity(asked.len());
    let mut seen = BTreeSet::from([document]);
    for name in asked {
        if seen.insert(name) {
            chunks.push(name);
        }
    }
    if chunks.len() >= MAX_CHUNK_NAMES {
        return Err(ApiError::bad_request(format!(
            "a link reads at most {MAX_CHUNK_NAMES} chunks besides its document ({} were named)",
            chunks.len()
        )));
    }
    let all: Vec<ChunkName> = seen.into_iter().collect();
    let missing = app
        .chunks
        .missing(ws, all)
        .await
        .map_err(|e| chunk_error("looking up a link's chunks", e))?;
    if let Some(first) = missing.first() {
        return Err(ApiError::new(
            ErrorCode::ChunkNotFound,
            format!(
                "{} of the link's chunks are not stored in this workspace (the first is {first}); put them, then make the link",
                missing.len()
            ),
        ));
    }
    Ok(chunks)
}

/// `POST …/shares`.
pub async fn create(
    app: &Arc<App>,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let asked: CreateShare = write_json(app, &ws, req, now).await?;
    if !(MIN_SHARE_SECS..=MAX_SHARE_SECS).contains(&asked.expires_in) {
        return Err(ApiError::bad_request(format!(
            "a link lasts from {MIN_SHARE_SECS} seconds to {MAX_SHARE_SECS} seconds (366 days); expires_in was {}",
            asked.expires_in
        )));
    }
    let chunks = stored_chunks(app, &ws, asked.document, asked.chunks).await?;
    let id = random16()
        .map(ShareId::from_random)
        .map_err(|e| ApiError::internal("drawing a link id", e))?;
    let row = ShareRow {
        id,
        workspace: ws,
        document: asked.document,
        chunks,
        created_at: now,
        expires_at: now.saturating_add(asked.expires_in),
    };
    let kept = app
        .index
        .create_share(row.clone(), MAX_SHARES)
        .await
        .map_err(|e| ApiError::index("keeping a link", e))?;
    if !kept {
        return Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!(
                "this workspace has {MAX_SHARES} live public links, the most it may hold; revoke some first"
            ),
        ));
    }
    tracing::info!(workspace = %row.workspace, share = %row.id, expires_at = row.expires_at, "public link made");
    json(StatusCode::CREATED, &info(&row))
}

/// `PUT …/shares/{share}`: the link shows the note as it is now.
pub async fn update(
    app: &Arc<App>,
    ws: WorkspaceId,
    id: ShareId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    let asked: UpdateShare = write_json(app, &ws, req, now).await?;
    let chunks = stored_chunks(app, &ws, asked.document, asked.chunks).await?;
    let old = app
        .index
        .replace_share(ws, id, asked.document, chunks.clone(), now)
        .await
        .map_err(|e| ApiError::index("updating a link", e))?
        .ok_or_else(not_found)?;
    let new = ShareRow {
        document: asked.document,
        chunks,
        ..old.clone()
    };
    // What the link read before and reads no more goes like a revoked
    // link's.
    let now_read: BTreeSet<ChunkName> = new.all_chunks().collect();
    let dropped: Vec<ChunkName> = old.all_chunks().filter(|n| !now_read.contains(n)).collect();
    release(app, &old, dropped).await;
    tracing::info!(workspace = %new.workspace, share = %new.id, "public link updated");
    json(StatusCode::OK, &info(&new))
}

/// `GET …/shares`.
pub async fn list(
    app: &Arc<App>,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    authorize(&app.auth, req.headers(), &ws, now)
        .await?
        .require_write()?;
    let rows = app
        .index
        .list_shares(ws)
        .await
        .map_err(|e| ApiError::index("listing links", e))?;
    let shares = rows
        .iter()
        .filter(|r| r.expires_at > now)
        .map(info)
        .collect();
    json(StatusCode::OK, &ShareList { shares })
}

/// `DELETE …/shares/{share}`.
pub async fn revoke(
    app: &Arc<App>,
    ws: WorkspaceId,
    id: ShareId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let now = unix_now();
    authorize(&app.auth, req.headers(), &ws, now)
        .await?
        .require_write()?;
    let gone = app
        .index
        .delete_share(ws, id)
        .await
        .map_err(|e| ApiError::index("revoking a link", e))?;
    let Some(row) = gone else {
        return Err(not_found());
    };
    tracing::info!(workspace = %row.workspace, share = %row.id, "public link revoked");
    release(app, &row, row.all_chunks().collect()).await;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Sets aside `names`, chunks link `row` no longer reads, that no link of
/// its workspace reads now: the sweep deletes them after the grace period,
/// unless a device puts or asks for one meanwhile. A failure is logged;
/// the link reads none of them any more either way.
async fn release(app: &App, row: &ShareRow, names: Vec<ChunkName>) {
    let kept = match linked_chunks(app, &row.workspace).await {
        Ok(kept) => kept,
        Err(err) => {
            tracing::warn!(share = %row.id, error = %err, "cannot list links; the chunks of a revoked one stay");
            return;
        }
    };
    let names: Vec<ChunkName> = names.into_iter().filter(|n| !kept.contains(n)).collect();
    if names.is_empty() {
        return;
    }
    let now = std::time::SystemTime::now();
    if let Err(err) = app.chunks.set_aside(&row.workspace, names, now).await {
        tracing::warn!(share = %row.id, error = %err, "cannot set aside a revoked link's chunks");
    }
}

/// Every chunk some link of `ws` reads (expired links until the chores
/// forget them).
pub async fn linked_chunks(
    app: &App,
    ws: &WorkspaceId,
) -> Result<BTreeSet<ChunkName>, crate::index::IndexError> {
    let links = app.index.list_shares(ws.clone()).await?;
    Ok(links.iter().flat_map(ShareRow::all_chunks).collect())
}

/// Forgets the links that expired by `now` and sets their chunks aside;
/// how many. Run by the minutely chores.
pub async fn purge_expired(app: &App, now: u64) -> usize {
    let gone = match app.index.purge_shares(now).await {
        Ok(gone) => gone,
        Err(err) => {
            tracing::warn!(error = %err, "cannot forget expired links");
            return 0;
        }
    };
    for row in &gone {
        release(app, row, row.all_chunks().collect()).await;
    }
    gone.len()
}

/// The live link `id`.
async fn live(app: &App, id: ShareId) -> Result<ShareRow, ApiError> {
    let row = app
        .index
        .share(id)
        .await
        .map_err(|e| ApiError::index("reading a link", e))?;
    row.filter(|r| r.expires_at > unix_now())
        .ok_or_else(not_found)
}

/// `GET /v1/shares/{share}`.
pub async fn get(app: &Arc<App>, id: ShareId) -> Result<Response<ResBody>, ApiError> {
    let row = live(app, id).await?;
    json(StatusCode::OK, &info(&row))
}

/// `GET /v1/shares/{share}/chunks/{name}`.
pub async fn get_chunk(
    app: &Arc<App>,
    id: ShareId,
    name: ChunkName,
) -> Result<Response<ResBody>, ApiError> {
    let row = live(app, id).await?;
    if !row.all_chunks().any(|n| n == name) {
        return Err(ApiError::new(
            ErrorCode::ChunkNotFound,
            format!("this link reads no chunk {name}"),
        ));
    }
    let bytes = app
        .chunks
        .get(&row.workspace, &name)
        .await
        .map_err(|e| chunk_error("reading a linked chunk", e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ChunkNotFound,
                format!("chunk {name} of this link is no longer stored"),
            )
        })?;
    let mut res = Response::new(full(bytes));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(res)
}
