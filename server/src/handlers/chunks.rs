//! The chunks of attached files (`…/workspaces/{ws}/chunks/…`):
//!
//! - `PUT …/chunks/{name}` (read-write, octets): stores a chunk, durably
//!   before the answer; idempotent (`201` and `{"created": true}` the first
//!   time, `200` and `false` after). A body that does not hash to `name`
//!   gets 400 `chunk_mismatch`; one that does not fit the workspace's quota
//!   507 `quota_exceeded`.
//! - `GET …/chunks/{name}` (any token): its bytes, or 404 `chunk_not_found`.
//! - `POST …/chunks/missing` (read-write, `{"names": [...]}`): which of
//!   them the server lacks, so that a device uploads only those.
//! - `POST …/chunks/unreferenced` (master): chunks no note uses any more;
//!   they are deleted after `--chunk-grace-secs` unless a device puts, asks
//!   for or fetches one before then.
//! - `GET …/chunks` (master): every chunk stored, not set aside, that no
//!   public link reads, and the grace period: the owner's device marks
//!   those no file names once they have stayed so for the grace period
//!   (uploads that never finished).
//!
//! The server never opens a chunk: it checks the hash and stores bytes.
//! Chunks count toward the workspace quota with its log and snapshot; a
//! push of an entry is checked against the log and snapshot only, so notes
//! still sync in a workspace whose files fill its quota.

use hearth_shared::api::{
    ChunkNames, MAX_CHUNK_BYTES, MAX_CHUNK_NAMES, MissingChunks, PutChunkResponse, StoredChunks,
    UnreferencedResponse,
};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{ChunkName, WorkspaceId};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::error::chunk_error;
use crate::error::write_error;
use crate::handlers::authorize_upload;
use crate::handlers::{master_json, write_json};
use crate::http::{BodyLimits, ResBody, full, json, read_payload};
use crate::storage::chunks::Put;
use crate::storage::room::Refused;
use crate::workspaces::WriteError;

fn check_names(names: &[ChunkName]) -> Result<(), ApiError> {
    if names.len() > MAX_CHUNK_NAMES {
        return Err(ApiError::bad_request(format!(
            "ask for at most {MAX_CHUNK_NAMES} chunk names at once (this asks for {})",
            names.len()
        )));
    }
    Ok(())
}

/// `PUT …/chunks/{name}`.
pub async fn put(
    app: &std::sync::Arc<App>,
    ws: WorkspaceId,
    name: ChunkName,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let (parts, body) = req.into_parts();
    let body = authorize_upload(app, &ws, &parts.headers, body).await?;
    let limits = BodyLimits {
        max_bytes: MAX_CHUNK_BYTES,
        timeout: app.config.body_timeout(),
    };
    let (data, _) = read_payload(&parts.headers, body, limits, &app.spool_dir()).await?;
    if data.is_empty() {
        return Err(ApiError::bad_request("a chunk cannot be empty"));
    }
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    let log_bytes = workspace.position().bytes;
    let refusal = std::sync::Arc::new(std::sync::Mutex::new(None));
    let room = {
        let app = app.clone();
        let refusal = refusal.clone();
        let id = ws.clone();
        Box::new(move |chunk_bytes: u64, len: u64| {
            let used = log_bytes.saturating_add(chunk_bytes);
            let why = app.workspaces.room().admit_to(&id, used, len).err();
            let admitted = why.is_none();
            if let Ok(mut slot) = refusal.lock() {
                *slot = why;
            }
            admitted
        })
    };
    let (outcome, added) = app
        .chunks
        .put(&ws, &name, data, room)
        .await
        .map_err(|e| chunk_error("storing a chunk", e))?;
    let refused = refusal.lock().ok().and_then(|mut slot| slot.take());
    if added > 0 {
        app.workspaces.room().added(added);
    }
    match outcome {
        Put::Created => json(StatusCode::CREATED, &PutChunkResponse { created: true }),
        Put::Existed => json(StatusCode::OK, &PutChunkResponse { created: false }),
        Put::Mismatch => Err(ApiError::new(
            ErrorCode::ChunkMismatch,
            "the chunk's bytes do not hash to its name (SHA-256); nothing was stored",
        )),
        Put::Refused => Err(match refused {
            Some(Refused::Full(why)) => write_error(WriteError::Full(why)),
            Some(Refused::Quota) | None => ApiError::new(
                ErrorCode::QuotaExceeded,
                "the workspace's files have reached its storage quota; remove files no note needs, or ask the server's operator for more",
            ),
        }),
    }
}

/// `GET …/chunks/{name}`.
pub async fn get(
    app: &std::sync::Arc<App>,
    ws: WorkspaceId,
    name: ChunkName,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now()).await?;
    let bytes = app
        .chunks
        .get(&ws, &name)
        .await
        .map_err(|e| chunk_error("reading a chunk", e))?;
    let Some(bytes) = bytes else {
        return Err(ApiError::new(
            ErrorCode::ChunkNotFound,
            format!("no chunk {name} is stored in this workspace"),
        ));
    };
    let mut res = Response::new(full(bytes));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(res)
}

/// `POST …/chunks/missing`.
pub async fn missing(
    app: &std::sync::Arc<App>,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let asked: ChunkNames = write_json(app, &ws, req, unix_now()).await?;
    check_names(&asked.names)?;
    let missing = app
        .chunks
        .missing(&ws, asked.names)
        .await
        .map_err(|e| chunk_error("looking up chunks", e))?;
    json(StatusCode::OK, &MissingChunks { missing })
}

/// `POST …/chunks/unreferenced` (master).
pub async fn unreferenced(
    app: &std::sync::Arc<App>,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let asked: ChunkNames = master_json(app, &ws, req, unix_now()).await?;
    check_names(&asked.names)?;
    let now = std::time::SystemTime::now();
    let aside = |e| chunk_error("setting chunks aside", e);
    let freed = app.chunks.sweep(&ws, now).await.map_err(aside)?;
    let marked = app
        .chunks
        .set_aside(&ws, asked.names, now)
        .await
        .map_err(aside)?;
    if freed > 0 {
        app.workspaces.room().removed(freed);
    }
    json(
        StatusCode::OK,
        &UnreferencedResponse {
            marked,
            grace_secs: app.chunks.grace_secs(),
        },
    )
}

/// `GET …/chunks` (master).
pub async fn list(
    app: &std::sync::Arc<App>,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now())
        .await?
        .require_master()?;
    let linked = crate::handlers::shares::linked_chunks(app, &ws)
        .await
        .map_err(|e| ApiError::index("listing links", e))?;
    let names = app
        .chunks
        .list(&ws)
        .await
        .map_err(|e| chunk_error("listing chunks", e))?
        .into_iter()
        .filter(|(name, aside)| aside.is_none() && !linked.contains(name))
        .map(|(name, _)| name)
        .collect();
    json(
        StatusCode::OK,
        &StoredChunks {
            names,
            grace_secs: app.chunks.grace_secs(),
        },
    )
}
