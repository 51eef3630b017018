//! Server memory with 10,000 registered workspaces: resident set size idle,
//! and at its peak while 64 clients push 1 KiB entries to random
//! workspaces. Prints figures; asserts nothing. Run with
//! `cargo bench -p hearth --bench memory`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::{Server, post_json};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WORKSPACES: usize = 10_000;
const CLIENTS: usize = 64;
const LOAD: Duration = Duration::from_secs(10);

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

async fn push(addr: &str, ws: &str, token: &str, key: &str, body: &[u8]) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let head = format!(
        "POST /v1/workspaces/{ws}/entries HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(body).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer.starts_with(b"HTTP/1.1 200")
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &tmp.path().join("data"),
        &[
            "--log-format",
            "json",
            "--rate-limit-per-minute",
            "10000000",
            "--rate-limit-burst",
            "1000000",
            "--max-connections-per-ip",
            "1024",
        ],
    );
    let pid = server.pid();
    let started_kib = status_kib(pid, "VmRSS:");

    let mut workspaces = Vec::with_capacity(WORKSPACES);
    let registering = Instant::now();
    for i in 0..WORKSPACES {
        let ws = format!("{:032x}", 0xbe00_0000_u64 + i as u64);
        let (status, answer) = post_json(
            server.addr(),
            "/v1/workspaces",
            None,
            &json!({ "workspace_id": ws, "label": "bench" }),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        workspaces.push((ws, answer["master_token"].as_str().unwrap().to_owned()));
    }
    let registered_in = registering.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_kib = status_kib(pid, "VmRSS:");

    // Load: 64 clients push to random workspaces.
    let deadline = Instant::now() + LOAD;
    let workspaces = std::sync::Arc::new(workspaces);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (workspaces, addr) = (workspaces.clone(), server.addr().to_owned());
        tasks.push(tokio::spawn(async move {
            let body = vec![0x5au8; 1024];
            let mut n = 0u64;
            let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ c as u64;
            while Instant::now() < deadline {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (ws, token) = &workspaces[(x % workspaces.len() as u64) as usize];
                if push(&addr, ws, token, &format!("{c}-{n}"), &body).await {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut peak_kib = 0;
    while Instant::now() < deadline {
        peak_kib = peak_kib.max(status_kib(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut pushes = 0;
    for t in tasks {
        pushes += t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_kib = status_kib(pid, "VmRSS:");

    println!("server memory (resident set), {WORKSPACES} workspaces:");
    println!(
        "  at start                          {:>8.1} MB",
        started_kib as f64 / 1024.0
    );
    println!(
        "  idle, {WORKSPACES} registered          {:>8.1} MB  (registered in {:.1} s)",
        idle_kib as f64 / 1024.0,
        registered_in.as_secs_f64()
    );
    println!(
        "  peak under load ({CLIENTS} clients)     {:>8.1} MB  ({pushes} durable 1 KiB pushes in {} s)",
        peak_kib as f64 / 1024.0,
        LOAD.as_secs()
    );
    println!(
        "  after load                        {:>8.1} MB",
        after_kib as f64 / 1024.0
    );
}
