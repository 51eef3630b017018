//! `…/workspaces/{ws}/entries`: push one opaque entry (`POST`, with an
//! `Idempotency-Key`), pull what follows a cursor (`GET ?after=N`) as
//! binary frames with the head in `Hearth-Head` and the floor in
//! `Hearth-Floor`. A pull answer holds at most `--max-pull-bytes` (and at
//! least one frame); a client pulls again from the last frame's sequence
//! number until it has reached the head.

use hearth_shared::api::{IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LEN, PushResponse};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::auth::authorize;
use crate::clock::unix_now;
use crate::error::{ApiError, write_error};
use crate::handlers::{authorize_upload, position_headers, read_upload};
use crate::http::{ResBody, full, json};
use crate::storage::{Appended, NewEntry, PlanReader};

/// Answers up to this size are read whole; larger ones are streamed.
const SMALL_PULL: u64 = 256 * 1024;
/// Bytes per chunk of a streamed answer.
const CHUNK: usize = 256 * 1024;

/// A pull answer: read whole, or to be streamed.
enum Answer {
    Whole(Vec<u8>),
    Stream(PlanReader),
}

/// Streams a pull answer: a task reads the plan in order, one chunk at a
/// time, and hands each to the response through a
/// channel of two. A pull holds a few chunks in memory however large it is;
/// a client that reads slowly holds no thread while it waits (the task
/// awaits room in the channel), and one that stops reading is dropped by the
/// write timeout. A read error ends the body early; with `Content-Length`
/// set, the client sees a short answer and pulls again.
fn stream(mut reader: PlanReader) -> ResBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
    tokio::spawn(async move {
        loop {
            let chunk = match reader.next_chunk(CHUNK).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return,
                Err(err) => {
                    tracing::error!(error = %err, "reading a pull answer failed");
                    return;
                }
            };
            if tx.send(bytes::Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    http_body_util::BodyExt::boxed(crate::http::ChannelBody::new(rx))
}

/// The idempotency key of a push: 1–128 visible ASCII characters, or none.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(format!(
            "{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

pub async fn push(
    app: &App,
    ws: WorkspaceId,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let (parts, body) = req.into_parts();
    let body = authorize_upload(app, &ws, &parts.headers, body).await?;
    let key = idempotency_key(&parts.headers)?;
    let (payload, hash) = read_upload(app, &parts.headers, body, "an entry").await?;
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    let appended = workspace.append(NewEntry { key, hash, payload }).await;
    let seq = match appended.map_err(write_error)? {
        Appended::New(seq) | Appended::Duplicate(seq) => seq,
        Appended::KeyConflict => {
            return Err(ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used for a different entry",
            ));
        }
        Appended::OverQuota => {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                "the workspace has reached its storage quota; compact it",
            ));
        }
        Appended::TooLarge => {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the entry is larger than a workspace log can hold; send it in parts",
            ));
        }
    };
    let mut res = json(StatusCode::OK, &PushResponse { seq })?;
    position_headers(res.headers_mut(), workspace.position());
    Ok(res)
}

pub async fn pull(
    app: &App,
    ws: WorkspaceId,
    after: u64,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    authorize(&app.auth, req.headers(), &ws, unix_now()).await?;
    let workspace = app.workspaces.get(&ws).await.map_err(write_error)?;
    let log = workspace.log.clone();
    let max = app.config.max_pull_bytes.max(1);
    let reading = |e| ApiError::store("reading a workspace", e);
    let plan = log.pull(after, max).await.map_err(reading)?;
    let (position, len) = (plan.position, plan.len);
    // A small answer is read at once; a large one is streamed.
    let answer = if len <= SMALL_PULL {
        Answer::Whole(plan.read_all().await.map_err(reading)?.body)
    } else {
        Answer::Stream(plan.reader())
    };
    let body = match answer {
        Answer::Whole(bytes) => full(bytes),
        Answer::Stream(reader) => stream(reader),
    };
    let mut res = Response::new(body);
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    position_headers(headers, position);
    Ok(res)
}
