//! Request handlers, one module per resource, one function per verb.
//!
//! - [`health`] — `GET /v1/health`.
//! - [`workspaces`] — register.
//! - [`tokens`] — mint, list, revoke.
//! - [`invites`] — create, redeem.
//! - [`keys`] — list the key epochs, record one.
//! - [`device_keys`] — a device's public key and the key epochs wrapped for it.
//! - [`entries`] — push, pull; [`snapshot`] — put; [`events`] — get (SSE).
//! - [`chunks`] — the chunks of attached files: put, get, which are missing, unreferenced.
//! - [`shares`] — public read-only links to one note: create, list, revoke, open.
//! - [`pwa`] — the PWA's files outside `/v1`.

pub mod chunks;
pub mod device_keys;
pub mod entries;
pub mod events;
pub mod health;
pub mod invites;
pub mod keys;
pub mod pwa;
pub mod recovery;
pub mod shares;
pub mod snapshot;
pub mod tokens;
pub mod workspaces;

use hearth_shared::api::MAX_LABEL_LEN;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{TokenId, WorkspaceId};

use hearth_shared::api::{FLOOR_HEADER, HEAD_HEADER};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};

use crate::app::App;
use crate::auth::{NO_EXPIRY_SECS, authorize};
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::fsutil::random16;
use crate::http::{read_payload, require_octet_stream};
use crate::storage::Position;
use crate::storage::payload::Payload;

/// Parses a workspace id from a path or body; nothing touches the disk
/// before this succeeds.
pub fn parse_workspace_id(s: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::parse(s).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidWorkspaceId,
            format!("invalid workspace id: {e}"),
        )
    })
}

/// The JSON body of an owner-only request: checks the master token first,
/// so a stranger's body is never read.
pub async fn master_json<T: serde::de::DeserializeOwned>(
    app: &crate::app::App,
    ws: &WorkspaceId,
    req: hyper::Request<hyper::body::Incoming>,
    now: u64,
) -> Result<T, ApiError> {
    json_of(app, ws, req, now, crate::auth::Caller::require_master).await
}

/// The JSON body of a request that writes: checks for a read-write token
/// first, so a stranger's body is never read.
pub async fn write_json<T: serde::de::DeserializeOwned>(
    app: &crate::app::App,
    ws: &WorkspaceId,
    req: hyper::Request<hyper::body::Incoming>,
    now: u64,
) -> Result<T, ApiError> {
    json_of(app, ws, req, now, crate::auth::Caller::require_write).await
}

/// The JSON body of a request whose caller `allowed` lets through, checked
/// before the body is read.
async fn json_of<T: serde::de::DeserializeOwned>(
    app: &crate::app::App,
    ws: &WorkspaceId,
    req: hyper::Request<hyper::body::Incoming>,
    now: u64,
    allowed: fn(&crate::auth::Caller) -> Result<(), ApiError>,
) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    allowed(&crate::auth::authorize(&app.auth, &parts.headers, ws, now).await?)?;
    crate::http::read_json(&parts.headers, body, app.body_limits()).await
}

/// Bytes a client sends in a JSON field as base64url without padding
/// (`field` names it in the error), 1 to `max` of them; the server never
/// looks inside.
pub fn read_base64(text: &str, field: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request(format!("{field} must be base64url without padding")))?;
    if bytes.is_empty() || bytes.len() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1 to {max} bytes, not {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A fresh random token id.
pub fn new_token_id() -> Result<TokenId, ApiError> {
    random16()
        .map(TokenId::from_random)
        .map_err(|e| ApiError::internal("drawing a token id", e))
}

/// A new token: its index row and its signed JWT, valid from `now` for
/// `lifetime` seconds (or without time limit).
pub fn issue_token(
    app: &crate::app::App,
    ws: &WorkspaceId,
    role: hearth_shared::claims::Role,
    scope: hearth_shared::api::Scope,
    label: String,
    now: u64,
    lifetime: Option<u64>,
) -> Result<(crate::index::NewToken, String), ApiError> {
    let row = crate::index::NewToken {
        id: new_token_id()?,
        workspace: ws.clone(),
        role,
        scope,
        label,
        created_at: now,
        expires_at: lifetime.map(|secs| now.saturating_add(secs)),
    };
    let jwt = sign_token(app, &row)?;
    Ok((row, jwt))
}

/// The signed JWT of the token `row` describes (valid from its creation
/// until its expiry, if it has one).
pub fn sign_token(app: &crate::app::App, row: &crate::index::NewToken) -> Result<String, ApiError> {
    let lifetime = row.expires_at.map(|at| at.saturating_sub(row.created_at));
    app.auth.keys.sign(&crate::auth::new_claims(
        &row.workspace,
        row.role,
        row.scope,
        &row.id,
        row.created_at,
        lifetime,
    ))
}

/// A label (device or workspace name): trimmed, 1 to [`MAX_LABEL_LEN`]
/// characters, no control characters.
pub fn validate_label(label: &str) -> Result<String, ApiError> {
    let label = label.trim();
    if label.is_empty() {
        return Err(ApiError::bad_request("the label is empty"));
    }
    if label.chars().count() > MAX_LABEL_LEN {
        return Err(ApiError::bad_request(format!(
            "the label is longer than {MAX_LABEL_LEN} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::bad_request("the label has control characters"));
    }
    Ok(label.to_owned())
}

/// A token lifetime in seconds: at least 1, at most 100 years.
pub fn validate_lifetime(expires_in: Option<u64>) -> Result<Option<u64>, ApiError> {
    match expires_in {
        Some(0) => Err(ApiError::bad_request(
            "expires_in must be at least 1 second",
        )),
        Some(secs) => Ok(Some(secs.min(NO_EXPIRY_SECS))),
        None => Ok(None),
    }
}

/// Adds `Hearth-Head` and `Hearth-Floor`.
pub fn position_headers(headers: &mut HeaderMap, position: Position) {
    headers.insert(HEAD_HEADER, HeaderValue::from(position.head));
    headers.insert(FLOOR_HEADER, HeaderValue::from(position.floor));
}

/// The checks every upload (an entry, a snapshot) passes first: a
/// read-write token of this workspace, and an octet-stream body.
pub async fn authorize_upload(
    app: &App,
    ws: &WorkspaceId,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Incoming, ApiError> {
    let checked = match authorize(&app.auth, headers, ws, unix_now()).await {
        Ok(auth) => auth
            .require_write()
            .and_then(|_| require_octet_stream(headers)),
        Err(e) => Err(e),
    };
    match checked {
        Ok(()) => Ok(body),
        Err(e) => {
            drain(body).await;
            Err(e)
        }
    }
}

/// Reads and drops what is left of a refused request's body, up to
/// [`DRAIN_BYTES`] and for a second at most, so that the refusal reaches
/// the client on a connection it may go on using. A connection closed
/// under a body still arriving can reset before the client reads the
/// answer, or be reused by the client at the moment it closes; either way
/// a device sees a dropped request instead of the refusal (a 503 while the
/// database restarts, say). A larger body closes the connection.
async fn drain(body: Incoming) {
    use http_body_util::BodyExt as _;
    let limited = http_body_util::Limited::new(body, DRAIN_BYTES);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), limited.collect()).await;
}

/// The most of a refused upload's body read before answering.
const DRAIN_BYTES: usize = 64 * 1024;

/// Reads an upload's body within the limits, spooled to a file when large,
/// with its SHA-256; an empty one is refused (`what` names it in the
/// message).
pub async fn read_upload(
    app: &App,
    headers: &HeaderMap,
    body: Incoming,
    what: &str,
) -> Result<(Payload, [u8; 32]), ApiError> {
    let (data, hash) = read_payload(headers, body, app.body_limits(), &app.spool_dir()).await?;
    if data.is_empty() {
        return Err(ApiError::bad_request(format!("{what} cannot be empty")));
    }
    Ok((data, hash))
}
