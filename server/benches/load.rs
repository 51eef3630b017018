//! Durable, authenticated pushes of 1 KiB to a real `hearth` (release) at
//! 1, 16, 64 and 256 concurrent keep-alive connections, beside a bare hyper
//! endpoint that answers the same request without auth or disk, in the same
//! run; the fsync rate of the data directory's disk (the physical limit of
//! a durable write); and a pull of 10,000 entries. Prints figures; asserts
//! nothing about time. Run with `cargo bench -p hearth --bench load`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;
#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e_support::{Server, post_json};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::json;
use support::{RUN, load, pusher_once};

const LEVELS: &[usize] = &[1, 16, 64, 256];
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
        let durable = load(&[server.addr()], &path, &token, connections, "d").await;
        let plain = load(&[&bare], &path, &token, connections, "b").await;
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
