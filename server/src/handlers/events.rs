//! `GET …/workspaces/{ws}/events`: Server-Sent Events announcing the head.
//!
//! ```text
//! event: head
//! data: {"head":42}
//!
//! ```
//!
//! The first event carries the current head and is sent at once; later ones
//! follow each durable push (several pushes in quick succession may be
//! announced once, with the latest head). A comment line (`: keep-alive`)
//! goes out every `--sse-keepalive-secs`; at each, the token is checked
//! again, and a revoked or expired token ends the stream (an index that
//! cannot be reached does not: the next keep-alive checks again). The
//! stream also ends when the server shuts down.
//!
//! The stream listens to the head announcer ([`crate::heads`]), not to an
//! open log: it holds no log open, and it goes on across a log closed when
//! idle, reopened after a failure, or written through another server.

use std::sync::Arc;

use bytes::Bytes;
use std::net::IpAddr;

use hearth_shared::api::HeadEvent;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};
use tokio::sync::mpsc;

use crate::app::App;
use crate::auth::{authorize_token, bearer};
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::error::write_error;
use crate::http::{ChannelBody, ResBody};
use crate::streams::{Over, StreamCaps};

/// One `head` event.
pub fn head_event(head: u64) -> Bytes {
    let data = serde_json::to_string(&HeadEvent { head }).unwrap_or_default();
    Bytes::from(format!("event: head\ndata: {data}\n\n"))
}

pub async fn get(
    app: &Arc<App>,
    ip: IpAddr,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let token = bearer(req.headers())?.to_owned();
    let caller = authorize_token(&app.auth, &token, &ws, unix_now()).await?;
    let caps = StreamCaps {
        per_ip: app.config.max_streams_per_ip,
        per_token: app.config.max_streams_per_token,
        per_workspace: app.config.max_streams_per_workspace,
    };
    let guard = app
        .streams
        .open(caps, ip, &caller.token_id, &ws)
        .map_err(|over| {
            let whose = match over {
                Over::Ip => "from this address",
                Over::Token => "for this token",
                Over::Workspace => "on this workspace",
            };
            ApiError {
                retry_after: Some(30),
                ..ApiError::new(
                    ErrorCode::TooManyStreams,
                    format!("too many event streams are open {whose}; close one (another tab or device) or retry later"),
                )
            }
        })?;
    let app = app.clone();
    let mut heads = app.workspaces.heads().subscribe(&ws);
    let known = *heads.borrow_and_update();
    let first = match known {
        Some(head) => head,
        None => app.workspaces.head(&ws).await.map_err(write_error)?,
    };
    let mut stop = app.shutdown_signal();
    let period = app.config.sse_keepalive();
    let (tx, rx) = mpsc::channel::<Bytes>(8);

    tokio::spawn(async move {
        // The guard holds this stream's places under the caps.
        let _guard = guard;
        if tx.send(head_event(first)).await.is_err() {
            return;
        }
        let mut sent = first;
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            if *stop.borrow() {
                return;
            }
            let chunk = tokio::select! {
                changed = heads.changed() => match changed {
                    Ok(()) => match *heads.borrow_and_update() {
                        Some(head) if head != sent => {
                            sent = head;
                            head_event(head)
                        }
                        _ => continue,
                    },
                    Err(_) => return,
                },
                _ = keepalive.tick() => {
                    // A token revoked (or expired) while listening ends the
                    // stream. An index that cannot be reached right now (a
                    // database restarting) says neither: the stream goes
                    // on, and the next keep-alive asks again.
                    match authorize_token(&app.auth, &token, &ws, unix_now()).await {
                        Ok(_) => {}
                        Err(e) if e.code == ErrorCode::Unavailable => {}
                        Err(_) => return,
                    }
                    Bytes::from_static(b": keep-alive\n\n")
                }
                _ = stop.changed() => return,
                () = tx.closed() => return,
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });

    let mut res = Response::new(ChannelBody::new(rx).boxed());
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}
