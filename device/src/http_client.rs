//! [`HttpClient`]: HTTP/1.1 requests to one Hearth server (hyper-util's
//! client, plain `http://`), with errors mapped onto [`TransportError`].

use hearth_shared::answer::ErrorAnswer;
use std::time::Duration;

use bytes::Bytes;
use hearth_shared::engine::TransportError;
use hearth_shared::routes::{Method as RouteMethod, Route};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body read (a snapshot plus entries).
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;
/// How long a request may take before the device counts as offline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one server origin.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port`, without a trailing slash.
    origin: String,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("origin", &self.origin)
            .finish()
    }
}

/// A request to send.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    pub headers: Vec<(HeaderName, String)>,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl<'a> Call<'a> {
    /// The call of a route of the `/v1` table.
    pub fn route(route: &Route) -> Self {
        let method = match route.method() {
            RouteMethod::Get => Method::GET,
            RouteMethod::Post => Method::POST,
            RouteMethod::Put => Method::PUT,
            RouteMethod::Delete => Method::DELETE,
        };
        Self::new(method, route.path())
    }

    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            headers: Vec::new(),
            content_type: None,
            body: Bytes::new(),
        }
    }

    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, value: &impl serde::Serialize) -> Result<Self, TransportError> {
        let body =
            serde_json::to_vec(value).map_err(|e| TransportError::Protocol(e.to_string()))?;
        self.content_type = Some("application/json");
        self.body = Bytes::from(body);
        Ok(self)
    }

    pub fn bytes(mut self, body: &[u8]) -> Self {
        self.content_type = Some("application/octet-stream");
        self.body = Bytes::copy_from_slice(body);
        self
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Decodes a JSON body.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, TransportError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| TransportError::Protocol(format!("bad JSON from the server: {e}")))
    }

    /// A header, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

fn offline(e: impl std::fmt::Display) -> TransportError {
    TransportError::Offline(e.to_string())
}

impl HttpClient {
    /// A client of `origin` (`http://host:port`).
    pub fn new(origin: &str) -> Result<Self, TransportError> {
        let origin = origin.trim_end_matches('/').to_owned();
        if !origin.starts_with("http://") {
            return Err(TransportError::Protocol(format!(
                "only http:// servers are supported by this device, not {origin}"
            )));
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self { client, origin })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn build(&self, call: Call<'_>) -> Result<Request<Full<Bytes>>, TransportError> {
        let mut req = Request::builder()
            .method(call.method)
            .uri(format!("{}{}", self.origin, call.path));
        if let Some(token) = call.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = call.content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        for (name, value) in call.headers {
            let value = HeaderValue::from_str(&value)
                .map_err(|e| TransportError::Protocol(e.to_string()))?;
            req = req.header(name, value);
        }
        req.body(Full::new(call.body))
            .map_err(|e| TransportError::Protocol(e.to_string()))
    }

    /// Sends a request and returns the response head, body unread.
    pub async fn open(&self, call: Call<'_>) -> Result<Response<Incoming>, TransportError> {
        let req = self.build(call)?;
        let res = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| offline("the server did not answer in time"))?
            .map_err(offline)?;
        if res.status().is_success() {
            return Ok(res);
        }
        let (parts, body) = res.into_parts();
        let body = read_body(body).await.unwrap_or_default();
        Err(error_answer(parts.status, &parts.headers, &body))
    }

    /// Sends a request and reads the whole response; non-2xx answers are
    /// errors.
    pub async fn send(&self, call: Call<'_>) -> Result<Answer, TransportError> {
        let res = self.open(call).await?;
        let (parts, body) = res.into_parts();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, read_body(body))
            .await
            .map_err(|_| offline("the response did not arrive in time"))??;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, TransportError> {
    Ok(Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| offline(format!("reading the response: {e}")))?
        .to_bytes())
}

/// The error of a non-2xx answer.
fn error_answer(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> TransportError {
    let retry_after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    ErrorAnswer::read(status.as_u16(), retry_after, body).into()
}
