//! The server core: [`run`] takes a bound listener, a [`Config`] and a
//! shutdown future, in the manner of mini-redis. The caller binds the port
//! (tests bind `127.0.0.1:0`) and decides when to stop.
//!
//! It admits connections under a global cap, a cap per client address and a
//! reserve ([`crate::conn_limit`]), closes connections that send no request
//! within the header timeout (also between kept-alive requests) and those
//! whose client stops reading ([`crate::write_timeout`]), serves HTTP/1.1
//! and HTTP/2 (by ALPN over TLS; with prior knowledge without it, for
//! proxies), and on shutdown stops accepting, ends event
//! streams, lets in-flight requests finish, and closes the workspace
//! writers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, StartError};
use crate::config::Config;
use crate::conn_limit::{ConnGuard, ConnLimit};
use crate::router;
use crate::write_timeout::WriteTimeout;

/// What a refused connection is told before it is closed (best effort:
/// one non-blocking write, no timer, no task).
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 5\r\nconnection: close\r\ncontent-length: 92\r\n\r\n\
{\"code\":\"unavailable\",\"message\":\"too many connections from this address; retry in a moment\"}";

fn refuse(stream: tokio::net::TcpStream) {
    let _ = stream.try_write(REFUSED);
}

/// How long shutdown waits for in-flight requests before it drops them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the data directory named in `config` and serves on `listener` until
/// `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future,
) -> Result<(), StartError> {
    let app = App::open(config).await?;
    serve(listener, app, shutdown).await
}

/// Serves an opened [`App`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future,
) -> Result<(), StartError> {
    let tls = app.tls.clone();
    if let Some(addr) = app.config.metrics_listen {
        let metrics = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Other(format!("cannot listen for metrics on {addr}: {e}")))?;
        tracing::info!(addr = %metrics.local_addr().unwrap_or(addr), "serving metrics");
        tokio::spawn(serve_metrics(metrics, app.clone()));
    }
    if let Some(admin) = crate::admin::bind(&app) {
        tokio::spawn(crate::admin::serve(admin, app.clone()));
    }
    app.spawn_background();
    let mut listener = Listener {
        listener,
        limit: app.connections.clone(),
        graceful: GracefulShutdown::new(),
        tls,
        app: app.clone(),
    };

    tokio::select! {
        () = listener.accept_loop() => {}
        _ = shutdown => tracing::info!("shutting down"),
    }

    let Listener {
        listener: socket,
        graceful,
        ..
    } = listener;
    drop(socket);
    app.begin_shutdown();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish in time and were dropped");
    }
    app.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Answers `GET /metrics` on the metrics listener until shutdown; HTTP/1.1,
/// one request at a time per connection, nothing else.
async fn serve_metrics(listener: TcpListener, app: Arc<App>) {
    let mut stop = app.shutdown_signal();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let text = tokio::task::spawn_blocking(move || app.metrics_text())
                        .await
                        .unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(crate::metrics::answer(&req, || text))
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
}

/// The accept loop's state.
struct Listener {
    /// The bound socket; dropped first on shutdown so no new client connects.
    listener: TcpListener,
    /// Open connections per address and in all: caps memory and file
    /// descriptors under a flood, and keeps room for other clients.
    limit: ConnLimit,
    /// Tracks open connections so that shutdown can drain them gracefully.
    graceful: GracefulShutdown,
    /// Present when serving HTTPS.
    tls: Option<TlsAcceptor>,
    /// Shared state handed to every request.
    app: Arc<App>,
}

impl Listener {
    async fn accept_loop(&mut self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => {
                    backoff = Duration::from_millis(10);
                    accepted
                }
                Err(err) => {
                    // Usually out of file descriptors: wait, then try again.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let proxy = self.app.trusted_proxies.contains(peer.ip());
            let permit = match self.limit.admit_as(peer.ip(), proxy) {
                Ok(permit) => permit,
                Err(why) => {
                    tracing::debug!(%peer, ?why, "connection refused");
                    self.app.metrics.refused("connection");
                    refuse(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = self.app.clone();
            let watcher = self.graceful.watcher();
            match self.tls.clone() {
                None => {
                    tokio::spawn(async move {
                        // HTTP/2 with prior knowledge (h2c, from a proxy) or HTTP/1.1.
                        let Some(protocol) = sniff(&stream, app.config.header_timeout()).await
                        else {
                            return;
                        };
                        serve_connection(stream, protocol, peer, app, watcher, permit).await;
                    });
                }
                Some(acceptor) => {
                    let timeout = app.config.header_timeout();
                    tokio::spawn(async move {
                        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                let protocol = match tls.get_ref().1.alpn_protocol() {
                                    Some(b"h2") => Protocol::Http2,
                                    _ => Protocol::Http1,
                                };
                                serve_connection(tls, protocol, peer, app, watcher, permit).await
                            }
                            Ok(Err(err)) => {
                                tracing::debug!(%peer, error = %err, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    }
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// How an HTTP/2 connection with prior knowledge begins (RFC 9113 §3.4);
/// no HTTP/1.1 request begins so.
const PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

/// Tells HTTP/2 with prior knowledge from HTTP/1.1 by the first bytes,
/// which must come within `timeout` (`None`: they did not, or the client
/// left).
async fn sniff(stream: &tokio::net::TcpStream, timeout: Duration) -> Option<Protocol> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; PREFACE_START.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        let seen = buf.get(..n)?;
        if n == 0 {
            return None;
        }
        if !PREFACE_START.starts_with(seen) {
            return Some(Protocol::Http1);
        }
        if n == PREFACE_START.len() {
            return Some(Protocol::Http2);
        }
        // A preface cut short by the network: wait for the rest.
        tokio::time::sleep_until(
            (tokio::time::Instant::now() + Duration::from_millis(2)).min(deadline),
        )
        .await;
    }
}

/// Serves one connection until the client closes it or shutdown drains it.
async fn serve_connection<I>(
    io: I,
    protocol: Protocol,
    peer: SocketAddr,
    app: Arc<App>,
    watcher: Watcher,
    _permit: ConnGuard,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = app.config.header_timeout();
    let max_streams = app.config.max_streams_per_connection.max(1);
    let io = WriteTimeout::new(io, app.config.write_timeout());
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(router::handle(app, peer, req).await) }
    });
    let result = match protocol {
        Protocol::Http1 => {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(io), service);
            watcher.watch(conn).await
        }
        Protocol::Http2 => {
            let conn = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_concurrent_streams(max_streams)
                // A flood of streams reset at once (CVE-2023-44487) ends the connection.
                .max_pending_accept_reset_streams(Some(64))
                .max_local_error_reset_streams(Some(256))
                .max_header_list_size(64 * 1024)
                // A peer that stops answering pings is gone.
                .keep_alive_interval(Some(Duration::from_secs(30)))
                .keep_alive_timeout(header_timeout)
                .serve_connection(TokioIo::new(io), service);
            watcher.watch(conn).await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}
