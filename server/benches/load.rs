//! Durable, authenticated pushes of 1 KiB to a real `hearth` (release) at
//! 1, 16, 64 and 256 concurrent keep-alive connections, beside a bare hyper
//! endpoint that answers the same request without auth or disk, in the same
//! run; the fsync rate of the data directory's disk (the physical limit of
//! a durable write); and a pull of 10,000 entries. Prints figures; asserts
//! nothing about time. Run with `cargo bench -p hearth --bench load`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::convert::Infallible;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e_support::{Server, post_json};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const LEVELS: &[usize] = &[1, 16, 64, 256];
const RUN: Duration = Duration::from_secs(5);
const PULL_ENTRIES: usize = 10_000;

/// A bare hyper endpoint: reads the body, answers `{"seq":N}`.
async fn bare_hyper() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let seq = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let seq = seq.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let seq = seq.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            let n = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                                "{{\"seq\":{n}}}"
                            )))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// One keep-alive connection pushing until `until`; returns the latency of
/// each acknowledged push.
async fn pusher(
    addr: String,
    path: String,
    token: String,
    tag: String,
    until: Instant,
) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let body = vec![0x5au8; 1024];
    let mut latencies = Vec::new();
    let mut n = 0u64;
    while Instant::now() < until {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Idempotency-Key: {tag}-{n}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let started = Instant::now();
        write.write_all(head.as_bytes()).await.unwrap();
        write.write_all(&body).await.unwrap();
        let mut status = String::new();
        read.read_line(&mut status).await.unwrap();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            read.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0; length];
        read.read_exact(&mut answer).await.unwrap();
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{status} {}",
            String::from_utf8_lossy(&answer)
        );
        latencies.push(started.elapsed());
        n += 1;
    }
    latencies
}

struct Figures {
    rate: f64,
    p50: f64,
    p99: f64,
}

async fn load(addr: &str, path: &str, token: &str, connections: usize, tag: &str) -> Figures {
    let until = Instant::now() + RUN;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(pusher(
                addr.into(),
                path.into(),
                token.into(),
                format!("{tag}-{connections}-{c}"),
                until,
            ))
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let at = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    Figures {
        rate: all.len() as f64 / secs,
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// fsyncs per second of 4 KiB appends in `dir`.
fn fsync_rate(dir: &std::path::Path) -> f64 {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = [0u8; 4096];
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(2) {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_file(path).unwrap();
    rate
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(
        &data,
        &["--log-format", "json", "--max-connections-per-ip", "1024"],
    );
    let ws = "10ad0000000000000000000000000001";
    let (status, answer) = post_json(
        server.addr(),
        "/v1/workspaces",
        None,
        &json!({ "workspace_id": ws, "label": "bench" }),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["master_token"].as_str().unwrap().to_owned();
    let path = format!("/v1/workspaces/{ws}/entries");
    let bare = bare_hyper().await;

    println!(
        "disk: {:.0} fsyncs/s (4 KiB appends, data directory)",
        fsync_rate(&data)
    );
    println!("1 KiB pushes, {} s per row, one workspace:", RUN.as_secs());
    println!(
        "{:>6} | {:>22} | {:>22} | {:>6}",
        "conns", "hearth durable: /s p50 p99 ms", "bare hyper: /s p50 p99 ms", "ratio"
    );
    for &connections in LEVELS {
        let durable = load(server.addr(), &path, &token, connections, "d").await;
        let plain = load(&bare, &path, &token, connections, "b").await;
        println!(
            "{connections:>6} | {:>8.0} {:>6.2} {:>6.2} | {:>8.0} {:>6.2} {:>6.2} | {:>6.2}",
            durable.rate,
            durable.p50,
            durable.p99,
            plain.rate,
            plain.p50,
            plain.p99,
            durable.rate / plain.rate
        );
    }

    // Pull: a fresh workspace with 10,000 entries of 1 KiB.
    let ws2 = "10ad0000000000000000000000000002";
    let (_, answer) = post_json(
        server.addr(),
        "/v1/workspaces",
        None,
        &json!({ "workspace_id": ws2, "label": "pull" }),
    )
    .await;
    let token2 = answer["master_token"].as_str().unwrap().to_owned();
    let path2 = format!("/v1/workspaces/{ws2}/entries");
    let tasks: Vec<_> = (0..64)
        .map(|c| {
            // 10,000 split over 64 loaders.
            let per = PULL_ENTRIES / 64 + usize::from(c < PULL_ENTRIES % 64);
            let (addr, path, token) = (server.addr().to_owned(), path2.clone(), token2.clone());
            tokio::spawn(async move {
                for i in 0..per {
                    let _ = pusher_once(&addr, &path, &token, &format!("p-{c}-{i}")).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let started = Instant::now();
    let response = e2e_support::request(
        server.addr(),
        "GET",
        &format!("{path2}?after=0"),
        Some(&token2),
        None,
    )
    .await;
    let secs = started.elapsed().as_secs_f64();
    let frames = hearth_shared::frame::decode_frames(&response.body).unwrap();
    println!(
        "pull of {} entries ({:.1} MB) after cursor 0: {:.1} ms, {:.0} MB/s",
        frames.len(),
        response.body.len() as f64 / 1e6,
        secs * 1000.0,
        response.body.len() as f64 / 1e6 / secs
    );
}

async fn pusher_once(addr: &str, path: &str, token: &str, key: &str) -> bool {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = vec![0x33u8; 1024];
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    answer.starts_with(b"HTTP/1.1 200")
}
