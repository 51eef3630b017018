//! What the load benchmarks share: keep-alive pushers that time each
//! acknowledged push, and a one-shot push.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long each row of a load table runs.
pub const RUN: Duration = Duration::from_secs(5);

/// One keep-alive connection pushing until `until`; returns the latency of
/// each acknowledged push.
pub async fn pusher(
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

pub struct Figures {
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
}

pub async fn load(
    addrs: &[&str],
    path: &str,
    token: &str,
    connections: usize,
    tag: &str,
) -> Figures {
    let until = Instant::now() + RUN;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(pusher(
                addrs[c % addrs.len()].into(),
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

pub async fn pusher_once(addr: &str, path: &str, token: &str, key: &str) -> bool {
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
