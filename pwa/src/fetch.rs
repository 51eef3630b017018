//! The browser [`Transport`]: the `/v1` API through `fetch`, and the live
//! events through a streaming `fetch` (an `EventSource` cannot send the
//! `Authorization` header).

use hearth_shared::answer::ErrorAnswer;
use hearth_shared::id::WorkspaceId;
use hearth_shared::routes::Route;
use std::cell::RefCell;

use hearth_shared::api::{self, PushResponse, SnapshotResponse};
use hearth_shared::engine::{Pulled, Transport, TransportError};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response,
};

/// Where and as whom a workspace syncs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    /// `https://home.example` (no trailing slash).
    pub server: String,
    pub workspace: WorkspaceId,
    pub token: String,
}

impl Connection {
    /// The connection of a device record, if it is connected.
    pub fn of(record: &crate::device::DeviceRecord) -> Option<Self> {
        let (server, token) = record.connection()?;
        Some(Self {
            server: server.to_owned(),
            workspace: record.workspace_id.clone(),
            token: token.to_owned(),
        })
    }
}

/// How long a request may take before it counts as offline.
const REQUEST_TIMEOUT_MS: i32 = 30_000;

/// How far a pull's answer has arrived: bytes so far, and the whole
/// answer's length when the server said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub bytes: u64,
    pub total: Option<u64>,
}

/// Told as a pull's answer arrives, chunk by chunk.
pub type OnReceived = Box<dyn Fn(Received)>;

/// The fetch transport. Without a connection every call reports offline,
/// so a workspace that was never connected works locally only.
#[derive(Default)]
pub struct FetchTransport {
    connection: RefCell<Option<Connection>>,
    on_received: RefCell<Option<OnReceived>>,
}

impl FetchTransport {
    pub fn new(connection: Option<Connection>) -> Self {
        Self {
            connection: RefCell::new(connection),
            on_received: RefCell::new(None),
        }
    }

    /// Has `hook` told how each pull's answer arrives (for the progress
    /// of a first sync).
    pub fn on_received(&self, hook: OnReceived) {
        *self.on_received.borrow_mut() = Some(hook);
    }

    fn tell(&self, received: Received) {
        if let Some(hook) = &*self.on_received.borrow() {
            hook(received);
        }
    }

    pub fn set_connection(&self, connection: Option<Connection>) {
        *self.connection.borrow_mut() = connection;
    }

    pub fn connection(&self) -> Option<Connection> {
        self.connection.borrow().clone()
    }

    /// The URL of the route `make` builds for this workspace, and the token.
    fn url(
        &self,
        make: impl FnOnce(WorkspaceId) -> Route,
    ) -> Result<(String, String), TransportError> {
        let c = self.connected()?;
        Ok((make(c.workspace).url(&c.server), c.token))
    }

    fn connected(&self) -> Result<Connection, TransportError> {
        self.connection.borrow().clone().ok_or_else(|| {
            TransportError::Offline("this workspace is not connected to a server".into())
        })
    }
}

/// `fetch` on whatever global this runs in (a page or a worker).
pub(crate) async fn fetch(
    request: &Request,
    timeout: Option<i32>,
) -> Result<Response, TransportError> {
    let global = js_sys::global();
    let fetch = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| TransportError::Offline("this browser has no fetch".into()))?;
    let promise = fetch
        .call1(&global, request)
        .map_err(|e| TransportError::Offline(describe(&e)))?;
    let _timer = timeout.map(|ms| Timeout::start(request, ms));
    let response = JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|e| TransportError::Offline(describe(&e)))?;
    response
        .dyn_into()
        .map_err(|_| TransportError::Protocol("fetch returned no response".into()))
}

/// The abort controller [`request`] attached to a request's signal.
fn controller_of(request: &Request) -> Option<AbortController> {
    let signal = request.signal();
    let controller = Reflect::get(&signal, &"__hearth_controller".into()).ok()?;
    controller.dyn_into().ok()
}

/// Aborts a request when dropped: a live-events stream that the driver
/// stops waiting on (an edit woke it) must close its connection, or each
/// wait would keep one open until the browser has none left for the host
/// (six, over HTTP/1.1) and every request stalls.
struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = &self.0 {
            controller.abort();
        }
    }
}

/// Aborts a request after a delay unless dropped first.
struct Timeout {
    handle: i32,
}

impl Timeout {
    fn start(request: &Request, ms: i32) -> Option<Timeout> {
        let controller = controller_of(request)?;
        let abort = Closure::once_into_js(move || controller.abort());
        let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into()).ok()?;
        let set_timeout: js_sys::Function = set_timeout.dyn_into().ok()?;
        let handle = set_timeout
            .call2(&js_sys::global(), &abort, &ms.into())
            .ok()?
            .as_f64()? as i32;
        Some(Timeout { handle })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Ok(clear) = Reflect::get(&js_sys::global(), &"clearTimeout".into())
            && let Ok(clear) = clear.dyn_into::<js_sys::Function>()
        {
            let _ = clear.call1(&js_sys::global(), &self.handle.into());
        }
    }
}

fn describe(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "network error".into())
}

/// Builds a request with the token, and an abort controller for timeouts.
pub(crate) fn request(
    method: &str,
    url: &str,
    token: &str,
    body: Option<&[u8]>,
    extra: &[(&str, &str)],
) -> Result<Request, TransportError> {
    let headers = Headers::new().map_err(|e| TransportError::Protocol(describe(&e)))?;
    let bad = |e: JsValue| TransportError::Protocol(describe(&e));
    headers
        .set("Authorization", &format!("Bearer {token}"))
        .map_err(bad)?;
    for (k, v) in extra {
        headers.set(k, v).map_err(bad)?;
    }
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    init.set_cache(web_sys::RequestCache::NoStore);
    let controller = AbortController::new().map_err(bad)?;
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/octet-stream")
            .map_err(bad)?;
        init.set_body(&Uint8Array::from(body).into());
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(bad)?;
    let _ = Reflect::set(
        &request.signal(),
        &"__hearth_controller".into(),
        &controller,
    );
    Ok(request)
}

/// Turns a non-2xx response into the server's error.
pub(crate) async fn error_of(response: &Response) -> TransportError {
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    ErrorAnswer::read(response.status(), retry_after.as_deref(), text.as_bytes()).into()
}

async fn bytes_of(response: &Response) -> Result<Vec<u8>, TransportError> {
    let buffer = response
        .array_buffer()
        .map_err(|e| TransportError::Offline(describe(&e)))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|e| TransportError::Offline(describe(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

pub(crate) async fn json_of<T: serde::de::DeserializeOwned>(
    response: &Response,
) -> Result<T, TransportError> {
    let body = bytes_of(response).await?;
    serde_json::from_slice(&body).map_err(|e| TransportError::Protocol(e.to_string()))
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// The most a pull's answer may make this device reserve before its bytes
/// arrive (the server's length is only a hint).
const MAX_RESERVE: u64 = 64 * 1024 * 1024;

impl FetchTransport {
    /// Reads a pull's answer chunk by chunk, telling how far it has come,
    /// and gives up (offline) when no byte arrives for the request timeout.
    async fn read_pulled(
        &self,
        response: &Response,
        request: &Request,
    ) -> Result<Vec<u8>, TransportError> {
        let total = header(response, "Content-Length").and_then(|l| l.parse::<u64>().ok());
        let Some(body) = response.body() else {
            return Ok(Vec::new());
        };
        let reader: ReadableStreamDefaultReader = body
            .get_reader()
            .dyn_into()
            .map_err(|_| TransportError::Protocol("the answer cannot be read".into()))?;
        let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(MAX_RESERVE) as usize);
        self.tell(Received { bytes: 0, total });
        loop {
            let chunk = {
                let _stalled = Timeout::start(request, REQUEST_TIMEOUT_MS);
                JsFuture::from(reader.read())
                    .await
                    .map_err(|e| TransportError::Offline(describe(&e)))?
            };
            let done = Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                break;
            }
            let value = Reflect::get(&chunk, &"value".into())
                .map_err(|e| TransportError::Protocol(describe(&e)))?;
            let value = Uint8Array::new(&value);
            let at = bytes.len();
            bytes.resize(at + value.length() as usize, 0);
            if let Some(room) = bytes.get_mut(at..) {
                value.copy_to(room);
            }
            self.tell(Received {
                bytes: bytes.len() as u64,
                total,
            });
        }
        Ok(bytes)
    }
}

impl Transport for FetchTransport {
    async fn push(&self, idempotency_key: &str, entry: &[u8]) -> Result<u64, TransportError> {
        let (url, token) = self.url(Route::Push)?;
        let req = request(
            "POST",
            &url,
            &token,
            Some(entry),
            &[(api::IDEMPOTENCY_HEADER, idempotency_key)],
        )?;
        let response = fetch(&req, Some(REQUEST_TIMEOUT_MS)).await?;
        if !response.ok() {
            return Err(error_of(&response).await);
        }
        Ok(json_of::<PushResponse>(&response).await?.seq)
    }

    async fn pull(&self, after: u64) -> Result<Pulled, TransportError> {
        let (url, token) = self.url(|ws| Route::Pull { ws, after })?;
        let req = request("GET", &url, &token, None, &[])?;
        let response = fetch(&req, Some(REQUEST_TIMEOUT_MS)).await?;
        if !response.ok() {
            return Err(error_of(&response).await);
        }
        let (head, floor) = hearth_shared::answer::position(
            header(&response, api::HEAD_HEADER).as_deref(),
            header(&response, api::FLOOR_HEADER).as_deref(),
        )
        .map_err(TransportError::Protocol)?;
        let body = self.read_pulled(&response, &req).await?;
        Ok(Pulled { body, head, floor })
    }

    async fn put_snapshot(&self, upto: u64, snapshot: &[u8]) -> Result<u64, TransportError> {
        let (url, token) = self.url(|ws| Route::PutSnapshot { ws, upto })?;
        let req = request("PUT", &url, &token, Some(snapshot), &[])?;
        let response = fetch(&req, Some(REQUEST_TIMEOUT_MS)).await?;
        if !response.ok() {
            return Err(error_of(&response).await);
        }
        Ok(json_of::<SnapshotResponse>(&response).await?.floor)
    }

    async fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError> {
        let c = self.connected()?;
        let answer: api::KeyEpochs =
            get_json(&c.server, &Route::ListKeys(c.workspace).path(), &c.token).await?;
        answer.decoded().map_err(TransportError::Protocol)
    }

    async fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError> {
        let c = self.connected()?;
        let route = Route::PutKeyCheck {
            ws: c.workspace,
            epoch,
        };
        let _: serde_json::Value = put_json(
            &c.server,
            &route.path(),
            &c.token,
            &api::PutKeyCheck::new(check),
        )
        .await?;
        Ok(())
    }

    async fn forget_compactions(&self) -> Result<(), TransportError> {
        let c = self.connected()?;
        let route = Route::ForgetCompactions(c.workspace);
        delete(&c.server, &route.path(), &c.token).await
    }

    fn token_id(&self) -> Option<hearth_shared::id::TokenId> {
        hearth_shared::claims::Claims::token_id(&self.connected().ok()?.token)
    }

    async fn put_device_key(&self, public_key: &[u8; 32]) -> Result<(), TransportError> {
        let c = self.connected()?;
        let route = Route::PutDeviceKey(c.workspace);
        let body = api::PutDeviceKey::new(public_key);
        let _: serde_json::Value = put_json(&c.server, &route.path(), &c.token, &body).await?;
        Ok(())
    }

    async fn device_wraps(&self) -> Result<Vec<Vec<u8>>, TransportError> {
        let c = self.connected()?;
        let route = Route::GetDeviceKey(c.workspace);
        let answer: api::DeviceKey = get_json(&c.server, &route.path(), &c.token).await?;
        answer.decoded().map_err(TransportError::Protocol)
    }

    async fn device_public_keys(
        &self,
    ) -> Result<Vec<(hearth_shared::id::TokenId, [u8; 32])>, TransportError> {
        let c = self.connected()?;
        let route = Route::ListTokens(c.workspace);
        let answer: api::TokenList = get_json(&c.server, &route.path(), &c.token).await?;
        Ok(answer.device_keys())
    }

    async fn put_device_wraps(
        &self,
        epoch: u32,
        copies: &[(hearth_shared::id::TokenId, Vec<u8>)],
    ) -> Result<(), TransportError> {
        let c = self.connected()?;
        let route = Route::PutDeviceWraps {
            ws: c.workspace,
            epoch,
        };
        let body = api::PutDeviceWraps::new(copies);
        let _: serde_json::Value = put_json(&c.server, &route.path(), &c.token, &body).await?;
        Ok(())
    }

    async fn put_recovery(
        &self,
        credential_hash: &[u8; 32],
        wrapped: &[Vec<u8>],
    ) -> Result<(), TransportError> {
        let c = self.connected()?;
        let route = Route::PutRecovery(c.workspace);
        let body = api::PutRecovery::new(credential_hash, wrapped);
        let _: serde_json::Value = put_json(&c.server, &route.path(), &c.token, &body).await?;
        Ok(())
    }

    async fn next_head(&self, known: u64) -> Result<u64, TransportError> {
        let (url, token) = self.url(Route::Events)?;
        let req = request(
            "GET",
            &url,
            &token,
            None,
            &[("Accept", "text/event-stream")],
        )?;
        let _close = AbortOnDrop(controller_of(&req));
        let response = fetch(&req, None).await?;
        if !response.ok() {
            return Err(error_of(&response).await);
        }
        let body = response
            .body()
            .ok_or_else(|| TransportError::Protocol("event stream has no body".into()))?;
        let reader: ReadableStreamDefaultReader = body
            .get_reader()
            .dyn_into()
            .map_err(|_| TransportError::Protocol("event stream cannot be read".into()))?;
        let mut parser = hearth_shared::sse::SseParser::new();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|e| TransportError::Offline(describe(&e)))?;
            let done = Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return Err(TransportError::Offline("the event stream ended".into()));
            }
            let value = Reflect::get(&chunk, &"value".into())
                .map_err(|e| TransportError::Protocol(describe(&e)))?;
            let bytes = Uint8Array::new(&value).to_vec();
            for head in parser.push(&bytes).iter().filter_map(|e| e.head()) {
                if head > known {
                    let _ = JsFuture::from(reader.cancel()).await;
                    return Ok(head);
                }
            }
        }
    }
}

/// `POST {server}{path}` with a JSON body (and a token, if given), for the
/// account routes (register, redeem, tokens, invites).
pub async fn post_json<B: serde::Serialize, R: serde::de::DeserializeOwned>(
    server: &str,
    path: &str,
    token: Option<&str>,
    body: &B,
) -> Result<R, TransportError> {
    let json = serde_json::to_string(body).map_err(|e| TransportError::Protocol(e.to_string()))?;
    let response = call(server, "POST", path, token, Some(json)).await?;
    json_of(&response).await
}

/// `GET {server}{path}` with a token, answered with JSON.
pub async fn get_json<R: serde::de::DeserializeOwned>(
    server: &str,
    path: &str,
    token: &str,
) -> Result<R, TransportError> {
    let response = call(server, "GET", path, Some(token), None).await?;
    json_of(&response).await
}

/// `GET {server}{path}` without a token (the public routes: health),
/// answered with JSON.
pub async fn get_public_json<R: serde::de::DeserializeOwned>(
    server: &str,
    path: &str,
) -> Result<R, TransportError> {
    let response = call(server, "GET", path, None, None).await?;
    json_of(&response).await
}

/// `PUT {server}{path}` with a JSON body and a token, answered with JSON.
pub async fn put_json<B: serde::Serialize, R: serde::de::DeserializeOwned>(
    server: &str,
    path: &str,
    token: &str,
    body: &B,
) -> Result<R, TransportError> {
    let json = serde_json::to_string(body).map_err(|e| TransportError::Protocol(e.to_string()))?;
    let response = call(server, "PUT", path, Some(token), Some(json)).await?;
    json_of(&response).await
}

/// `GET {server}{path}` with a token, answered with bytes (a chunk of an
/// attached file).
pub async fn get_bytes(server: &str, path: &str, token: &str) -> Result<Vec<u8>, TransportError> {
    let response = call(server, "GET", path, Some(token), None).await?;
    bytes_of(&response).await
}

/// `PUT {server}{path}` with bytes (a chunk of an attached file) and a
/// token, answered with JSON.
pub async fn put_octets<R: serde::de::DeserializeOwned>(
    server: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> Result<R, TransportError> {
    let req = request("PUT", &format!("{server}{path}"), token, Some(body), &[])?;
    let response = fetch(&req, Some(REQUEST_TIMEOUT_MS)).await?;
    if !response.ok() {
        return Err(error_of(&response).await);
    }
    json_of(&response).await
}

/// `DELETE {server}{path}` with a token.
pub async fn delete(server: &str, path: &str, token: &str) -> Result<(), TransportError> {
    call(server, "DELETE", path, Some(token), None)
        .await
        .map(|_| ())
}

async fn call(
    server: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<String>,
) -> Result<Response, TransportError> {
    let bad = |e: JsValue| TransportError::Protocol(describe(&e));
    let headers = Headers::new().map_err(bad)?;
    if let Some(token) = token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(bad)?;
    }
    let init = RequestInit::new();
    init.set_method(method);
    init.set_cache(web_sys::RequestCache::NoStore);
    if let Some(json) = json {
        headers
            .set("Content-Type", "application/json")
            .map_err(bad)?;
        init.set_body(&JsValue::from_str(&json));
    }
    init.set_headers(&headers);
    let req = Request::new_with_str_and_init(&format!("{server}{path}"), &init).map_err(bad)?;
    let response = fetch(&req, Some(REQUEST_TIMEOUT_MS)).await?;
    if !response.ok() {
        return Err(error_of(&response).await);
    }
    Ok(response)
}
