//! The operator's commands on a running server (`hearth admin …`): list
//! workspaces with what they hold, revoke a token, delete a workspace,
//! change one workspace's quota.
//!
//! The server listens on a Unix socket in its data directory
//! ([`ADMIN_SOCKET`], owner-only): whoever may read the data directory may
//! administer the server, and nobody else, with no password to keep. The
//! commands speak HTTP/1.1 with JSON over it, and go through the running
//! server, so a revoked token is refused at once (the token cache is
//! told) and a workspace is deleted only while no writer holds it.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hearth_shared::id::{TokenId, WorkspaceId};
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{UnixListener, UnixStream};

use crate::app::{App, unix_now};
use crate::index::Revoked;

/// The admin socket's name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// One workspace as `hearth admin workspaces` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceRow {
    pub id: String,
    pub label: String,
    pub created_at: u64,
    /// Tokens not revoked.
    pub devices: u64,
    pub last_seen_at: Option<u64>,
    /// Bytes of its log and snapshot.
    pub log_bytes: u64,
    /// Bytes of its attached files' chunks.
    pub chunk_bytes: u64,
    /// The most it may hold (log, snapshot and chunks together).
    #[serde(default)]
    pub quota_bytes: u64,
    /// Whether the operator set that quota (else it is the server's
    /// `--workspace-quota-bytes`).
    #[serde(default)]
    pub quota_set: bool,
}

/// An answer's body.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    ok: bool,
    message: String,
    #[serde(default)]
    workspaces: Vec<WorkspaceRow>,
}

fn answer(status: StatusCode, body: &Answer) -> Response<Full<Bytes>> {
    let json = serde_json::to_vec(body).unwrap_or_default();
    let mut res = Response::new(Full::new(Bytes::from(json)));
    *res.status_mut() = status;
    res
}

fn said(status: StatusCode, ok: bool, message: impl Into<String>) -> Response<Full<Bytes>> {
    answer(
        status,
        &Answer {
            ok,
            message: message.into(),
            workspaces: Vec::new(),
        },
    )
}

/// Makes the admin socket (a stale one from an earlier run is replaced:
/// the data directory's lock says no other server runs on it). A socket
/// that cannot be made is logged, not fatal.
pub fn bind(app: &App) -> Option<UnixListener> {
    let path = app.config.data_dir.join(ADMIN_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "no admin socket; `hearth admin` will not reach this server");
            return None;
        }
    };
    if let Err(err) = crate::fsutil::make_private(&path) {
        tracing::warn!(path = %path.display(), error = %err, "cannot make the admin socket owner-only; closing it");
        return None;
    }
    Some(listener)
}

/// Answers on the admin socket until shutdown, then removes it.
pub async fn serve(listener: UnixListener, app: Arc<App>) {
    let path = app.config.data_dir.join(ADMIN_SOCKET);
    let mut stop = app.shutdown_signal();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => break,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&app, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn handle<B>(app: &App, req: Request<B>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, ["workspaces"]) => list(app).await,
        (&Method::DELETE, ["workspaces", ws]) => match WorkspaceId::parse(ws) {
            Ok(ws) => delete(app, ws).await,
            Err(e) => said(
                StatusCode::BAD_REQUEST,
                false,
                format!("{ws:?} is not a workspace id: {e}"),
            ),
        },
        (&Method::PUT, ["workspaces", ws, "quota", bytes]) => {
            match (WorkspaceId::parse(ws), bytes.parse::<u64>()) {
                (Ok(ws), Ok(bytes)) => set_quota(app, ws, Some(bytes)).await,
                _ => said(
                    StatusCode::BAD_REQUEST,
                    false,
                    "give a workspace id and a number of bytes",
                ),
            }
        }
        (&Method::DELETE, ["workspaces", ws, "quota"]) => match WorkspaceId::parse(ws) {
            Ok(ws) => set_quota(app, ws, None).await,
            Err(e) => said(
                StatusCode::BAD_REQUEST,
                false,
                format!("{ws:?} is not a workspace id: {e}"),
            ),
        },
        (&Method::DELETE, ["workspaces", ws, "tokens", id]) => {
            match (WorkspaceId::parse(ws), TokenId::parse(id)) {
                (Ok(ws), Ok(id)) => revoke(app, ws, id).await,
                _ => said(
                    StatusCode::BAD_REQUEST,
                    false,
                    "give a workspace id and a token id (32 lowercase hex characters each)",
                ),
            }
        }
        _ => said(StatusCode::NOT_FOUND, false, "no such admin command"),
    }
}

async fn list(app: &App) -> Response<Full<Bytes>> {
    let summaries = match app.index.list_workspaces().await {
        Ok(list) => list,
        Err(e) => {
            return said(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                format!("cannot read the index: {e}"),
            );
        }
    };
    let mut rows = Vec::with_capacity(summaries.len());
    for w in summaries {
        let log_bytes = app
            .workspaces
            .store()
            .stored_bytes(&w.id)
            .await
            .unwrap_or(0);
        let chunk_bytes = app.chunks.bytes_used(&w.id).await.unwrap_or(0);
        rows.push(WorkspaceRow {
            quota_bytes: app.workspaces.room().quota(&w.id),
            quota_set: w.quota.is_some(),
            id: w.id.to_string(),
            label: w.label,
            created_at: w.created_at,
            devices: w.devices,
            last_seen_at: w.last_seen_at,
            log_bytes,
            chunk_bytes,
        });
    }
    answer(
        StatusCode::OK,
        &Answer {
            ok: true,
            message: format!("{} workspaces", rows.len()),
            workspaces: rows,
        },
    )
}

/// Sets (`None`: back to the server's default) the quota of `ws`: kept in
/// the index, in force on this node at once (other cluster nodes read it
/// within a minute). A workspace already over it keeps what it holds and
/// is refused more.
async fn set_quota(app: &App, ws: WorkspaceId, quota: Option<u64>) -> Response<Full<Bytes>> {
    match app.index.set_quota(ws.clone(), quota).await {
        Ok(true) => {}
        Ok(false) => {
            return said(
                StatusCode::NOT_FOUND,
                false,
                format!("no workspace {ws} on this server"),
            );
        }
        Err(e) => {
            return said(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                format!("cannot change the quota: {e}"),
            );
        }
    }
    let room = app.workspaces.room();
    room.quotas().set(&ws, quota);
    let whose = if quota.is_some() {
        "set by the operator"
    } else {
        "the server's default"
    };
    let quota = room.quota(&ws);
    let held = app
        .workspaces
        .store()
        .stored_bytes(&ws)
        .await
        .unwrap_or(0)
        .saturating_add(app.chunks.bytes_used(&ws).await.unwrap_or(0));
    let over = if held > quota {
        "; it holds more than that, so new writes are refused until it holds less (its owner compacts or removes files) or the quota grows"
    } else {
        ""
    };
    said(
        StatusCode::OK,
        true,
        format!("workspace {ws}: quota {quota} bytes ({whose}), {held} bytes held{over}"),
    )
}

/// `5GiB`, `500MB`, `1.5GB`, `1000000`: bytes, with 1000- (kB, MB, GB, TB)
/// or 1024-based (KiB, MiB, GiB, TiB) units; case does not matter.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "{other:?} is not a unit: use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let bad = || format!("{text:?} is not a size: write it as 500MB, 5GiB or 1000000");
    let value = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(unit)
            .ok_or_else(bad)?,
        Some((whole, fraction)) => {
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let digits = u32::try_from(fraction.len()).map_err(|_| bad())?;
            let scale = 10_u64.checked_pow(digits).ok_or_else(bad)?;
            let fraction: u64 = fraction.parse().map_err(|_| bad())?;
            let whole = whole.checked_mul(unit).ok_or_else(bad)?;
            let part = u128::from(fraction) * u128::from(unit) / u128::from(scale);
            whole
                .checked_add(u64::try_from(part).map_err(|_| bad())?)
                .ok_or_else(bad)?
        }
    };
    Ok(value)
}

async fn revoke(app: &App, ws: WorkspaceId, id: TokenId) -> Response<Full<Bytes>> {
    match app.index.revoke_token(ws, id.clone(), unix_now()).await {
        Ok(Revoked::Done) => said(
            StatusCode::OK,
            true,
            format!("token {id} is revoked; it is refused from now on"),
        ),
        Ok(Revoked::NotFound) => said(
            StatusCode::NOT_FOUND,
            false,
            "no such token in this workspace",
        ),
        Ok(Revoked::IsMaster) => said(
            StatusCode::CONFLICT,
            false,
            "that is the workspace's master token (the owner's device); delete the workspace, or let its owner recover it",
        ),
        Err(e) => said(
            StatusCode::SERVICE_UNAVAILABLE,
            false,
            format!("cannot revoke: {e}"),
        ),
    }
}

async fn delete(app: &App, ws: WorkspaceId) -> Response<Full<Bytes>> {
    // Its tokens first, so that nothing is let in while its data goes.
    let known = match app.index.delete_workspace(ws.clone()).await {
        Ok(known) => known,
        Err(e) => {
            return said(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                format!("cannot delete: {e}"),
            );
        }
    };
    let store = app.workspaces.store().clone();
    let chunks = app.chunks.clone();
    let gone = app
        .workspaces
        .closed_while(&ws, async {
            let log_bytes = store.stored_bytes(&ws).await.unwrap_or(0);
            let chunk_bytes = chunks.delete(&ws).await.map_err(|e| e.to_string())?;
            store.delete(&ws).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(log_bytes.saturating_add(chunk_bytes))
        })
        .await;
    match gone {
        Ok(freed) => {
            app.workspaces.room().removed(freed);
            tracing::warn!(workspace = %ws, freed, "workspace deleted by the operator");
            if known || freed > 0 {
                said(
                    StatusCode::OK,
                    true,
                    format!(
                        "workspace {ws} is deleted ({freed} bytes freed); it is not in the next backup"
                    ),
                )
            } else {
                said(
                    StatusCode::NOT_FOUND,
                    false,
                    format!("no workspace {ws} on this server"),
                )
            }
        }
        Err(e) => said(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            format!(
                "its tokens are gone, but its data could not all be deleted: {e}; run the command again"
            ),
        ),
    }
}

/// What `hearth admin` asks.
pub enum Ask {
    Workspaces,
    Revoke { ws: WorkspaceId, token: TokenId },
    Delete { ws: WorkspaceId },
    Quota { ws: WorkspaceId, bytes: Option<u64> },
}

/// Asks the server serving `data_dir`; the answer's message, and the
/// workspaces when listed. An error says what went wrong in words.
pub async fn ask(data_dir: &Path, what: Ask) -> Result<(String, Vec<WorkspaceRow>), String> {
    let path = data_dir.join(ADMIN_SOCKET);
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        format!(
            "cannot reach a hearth serving {} ({}: {e}); start it, or give its --data-dir",
            data_dir.display(),
            path.display()
        )
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("the admin socket did not answer: {e}"))?;
    tokio::spawn(conn);
    let (method, uri) = match &what {
        Ask::Workspaces => (Method::GET, "/workspaces".to_owned()),
        Ask::Revoke { ws, token } => (Method::DELETE, format!("/workspaces/{ws}/tokens/{token}")),
        Ask::Delete { ws } => (Method::DELETE, format!("/workspaces/{ws}")),
        Ask::Quota {
            ws,
            bytes: Some(bytes),
        } => (Method::PUT, format!("/workspaces/{ws}/quota/{bytes}")),
        Ask::Quota { ws, bytes: None } => (Method::DELETE, format!("/workspaces/{ws}/quota")),
    };
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "admin")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the admin request failed: {e}"))?;
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the admin answer broke off: {e}"))?
        .to_bytes();
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| format!("the admin answer is not understood: {e}"))?;
    if answer.ok {
        Ok((answer.message, answer.workspaces))
    } else {
        Err(answer.message)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_in_the_units_people_write() {
        for (text, bytes) in [
            ("1000000", 1_000_000),
            ("500MB", 500_000_000),
            ("5GiB", 5 << 30),
            ("1.5GB", 1_500_000_000),
            ("2 gib", 2 << 30),
            ("0", 0),
            ("64KiB", 65_536),
            ("1TB", 1_000_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in [
            "",
            "GB",
            "5 parsecs",
            "-1",
            "1.2.3GB",
            "99999999999999999999",
            "20000000TiB",
        ] {
            let said = parse_size(text).unwrap_err();
            assert!(!said.is_empty(), "{text}");
        }
    }
}
