//! The test fixture: a real `hearth` on 127.0.0.1:0 with a temporary data
//! directory, served in-process by the library's `run`, shut down on drop;
//! and a small HTTP client (hyper-util's legacy client).
#![allow(dead_code)]

pub mod cluster;
mod files;
#[allow(unused_imports)]
pub use files::{files_under, incompressible};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use hearth::Config;
use hearth_shared::id::WorkspaceId;
use hearth_shared::routes::{Body, Method as RouteMethod, Route};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A test configuration: generous rate limits, no scheduled backups.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::with_data_dir(data_dir);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.rate_limit_per_minute = 1_000_000;
    config.rate_limit_burst = 1_000_000;
    config.backup_interval_secs = 0;
    // Tests register freely; the setup-code tests turn it back on.
    config.registration = hearth::config::RegistrationArg::Open;
    config
}

/// A running in-process server. Dropping it shuts the server down and
/// removes its data directory.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: HttpClient,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with a test configuration changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, tweak).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let listener = TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(err) = hearth::run(listener, config, rx).await {
                panic!("server failed: {err}");
            }
        });
        TestServer {
            addr,
            client: client(),
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Shuts the server down gracefully and waits; returns the data directory.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn api(&self) -> Api {
        Api {
            base: format!("http://{}", self.addr),
            client: self.client.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `code` of a JSON error body.
    pub fn code(&self) -> String {
        let v: serde_json::Value = self.json();
        v["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client of one server's API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: HttpClient,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Api {
            base: format!("http://{addr}"),
            client: client(),
        }
    }

    /// Sends a request and returns the response head with its body unread.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Response<Incoming> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        self.client.request(req).await.unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let res = self.send(method, path, headers, body).await;
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.request(Method::GET, path, &[("authorization", &auth)], Bytes::new())
            .await
    }

    /// Calls a route of the `/v1` table (its method and path come from
    /// `shared::routes`, as for every client), with a bearer token and a
    /// body of its kind.
    pub async fn call(&self, route: &Route, token: Option<&str>, body: Vec<u8>) -> Reply {
        let method = match route.method() {
            RouteMethod::Get => Method::GET,
            RouteMethod::Post => Method::POST,
            RouteMethod::Put => Method::PUT,
            RouteMethod::Delete => Method::DELETE,
        };
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        match route.body() {
            Body::Json => headers.push(("content-type", "application/json")),
            Body::Octets => headers.push(("content-type", "application/octet-stream")),
            Body::None => {}
        }
        self.request(method, &route.path(), &headers, body).await
    }

    pub async fn json<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &T,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        self.request(method, path, &headers, serde_json::to_vec(body).unwrap())
            .await
    }
}

/// A `hearth serve` child process (the real binary).
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the binary on `data_dir` and waits for its "listening" line.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_at(data_dir, "127.0.0.1:0", extra)
    }

    /// Starts the binary on `data_dir`, listening on `listen` (to restart
    /// it where its devices know it).
    pub fn start_at(data_dir: &Path, listen: &str, extra: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args([
                "--rate-limit-per-minute",
                "1000000",
                "--rate-limit-burst",
                "1000000",
            ])
            // No scheduled backups, unless the test asks for them.
            .args(if extra.contains(&"--backup-interval-secs") {
                &[][..]
            } else {
                &["--backup-interval-secs", "0"][..]
            })
            .args(["--registration", "open"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("hearth listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        ServerProcess { child, addr }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A path in the data directory.
pub fn data_path(dir: &TempDir, rel: &str) -> PathBuf {
    dir.path().join(rel)
}

/// A workspace id the test made (a bad one is a bug in the test).
pub fn id(ws: &str) -> WorkspaceId {
    WorkspaceId::parse(ws).unwrap_or_else(|e| panic!("test workspace id {ws:?}: {e}"))
}

/// A fresh random workspace id.
pub fn new_ws() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    hearth_shared::id::WorkspaceId::from_random(b).to_string()
}

impl Api {
    /// Registers a workspace; returns its master token.
    pub async fn register(&self, ws: &str) -> String {
        let body = serde_json::json!({"workspace_id": ws, "label": "laptop"});
        let reply = self
            .call(&Route::Register, None, serde_json::to_vec(&body).unwrap())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let body: hearth_shared::api::RegisterResponse = reply.json();
        body.master_token
    }

    /// Mints an access token with the master token.
    pub async fn mint(&self, ws: &str, master: &str, scope: &str) -> String {
        let body = serde_json::json!({"label": format!("{scope} device"), "scope": scope});
        let reply = self
            .call(
                &Route::MintToken(id(ws)),
                Some(master),
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let body: hearth_shared::api::MintTokenResponse = reply.json();
        body.token
    }
}

/// A pulled response, decoded.
#[derive(Debug)]
pub struct Pull {
    pub head: u64,
    pub floor: u64,
    /// (is_snapshot, seq, payload)
    pub frames: Vec<(bool, u64, Vec<u8>)>,
}

impl Api {
    /// Pushes one entry.
    pub async fn push(&self, ws: &str, token: &str, key: Option<&str>, body: &[u8]) -> Reply {
        // Tests also push to ids the server must refuse, which no route
        // can hold.
        let path = match WorkspaceId::parse(ws) {
            Ok(ws) => Route::Push(ws).path(),
            Err(_) => format!("/v1/workspaces/{ws}/entries"),
        };
        let auth = format!("Bearer {token}");
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/octet-stream"),
        ];
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        self.request(Method::POST, &path, &headers, body.to_vec())
            .await
    }

    /// Pushes one entry to a server that may be gone or may drop the
    /// connection: a refused or broken connection is an `Err`, as a
    /// device sees it, not a panic.
    pub async fn try_push(
        &self,
        ws: &str,
        token: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Reply, String> {
        let auth = format!("Bearer {token}");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{}", self.base, Route::Push(id(ws)).path()))
            .header("authorization", auth)
            .header("content-type", "application/octet-stream")
            .header("idempotency-key", key)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| e.to_string())?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Pushes one entry and returns its sequence number.
    pub async fn push_ok(&self, ws: &str, token: &str, key: &str, body: &[u8]) -> u64 {
        let reply = self.push(ws, token, Some(key), body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json::<hearth_shared::api::PushResponse>().seq
    }

    /// Pulls everything after `after`.
    pub async fn pull(&self, ws: &str, token: &str, after: u64) -> Pull {
        let route = Route::Pull { ws: id(ws), after };
        let reply = self.call(&route, Some(token), Vec::new()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
        // Read as every client reads it.
        let (head, floor) = hearth_shared::answer::position(
            reply.header(hearth_shared::api::HEAD_HEADER),
            reply.header(hearth_shared::api::FLOOR_HEADER),
        )
        .unwrap();
        let frames = hearth_shared::frame::decode_frames(&reply.body)
            .unwrap()
            .into_iter()
            .map(|f| {
                (
                    f.kind == hearth_shared::frame::FrameKind::Snapshot,
                    f.seq,
                    f.payload.to_vec(),
                )
            })
            .collect();
        Pull {
            head,
            floor,
            frames,
        }
    }

    /// Uploads a snapshot.
    pub async fn snapshot(&self, ws: &str, token: &str, upto: u64, body: &[u8]) -> Reply {
        let route = Route::PutSnapshot { ws: id(ws), upto };
        self.call(&route, Some(token), body.to_vec()).await
    }
}
