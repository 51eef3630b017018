//! Cheap load must not take the server down: one address holding 2,000 idle
//! connections, or 1,100 event streams, must not lock other clients out.
//! Health and an authenticated push from another address (127.0.0.1; the
//! flood comes from 127.0.0.2 — Linux routes all of 127/8 to loopback) must
//! each answer within 5 s while the flood is held. Streams beyond the
//! server's caps may be refused, but with a clear JSON error — a 4xx (429
//! `too_many_streams`), or a 503 when the connection itself is turned away
//! at accept — not by hanging or by closing without a word.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use common::{Api, ServerProcess, new_ws};

/// The flood's source address.
const FLOOD_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// What "still answers" means: within this, or the test fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The soft and hard limits on open files, from `/proc/self/limits`.
fn nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line.split_whitespace().skip(3).map(|v| {
        if v == "unlimited" {
            Some(u64::MAX)
        } else {
            v.parse().ok()
        }
    });
    Some((nums.next()??, nums.next()??))
}

/// Makes sure this process may open `need` files, raising the soft limit
/// (with util-linux's `prlimit`) if the hard limit allows; false if it
/// cannot.
fn enough_files(need: u64) -> bool {
    let Some((soft, hard)) = nofile() else {
        eprintln!("cannot read the open-files limit; trying anyway");
        return true;
    };
    if soft >= need {
        return true;
    }
    if hard >= need {
        let _ = Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={need}:{hard}"))
            .status();
        if nofile().is_some_and(|(soft, _)| soft >= need) {
            return true;
        }
    }
    eprintln!(
        "SKIPPED: this test needs {need} open files, the limit is {soft} (hard {hard}); \
         raise it (`ulimit -n {need}`) to run it"
    );
    false
}

/// A socket from the flood's address to the server.
async fn connect_from_flood(server: SocketAddr, limit: Duration) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(FLOOD_FROM, 0)))
        .map_err(|e| format!("bind {FLOOD_FROM}: {e}"))?;
    tokio::time::timeout(limit, socket.connect(server))
        .await
        .map_err(|_| format!("connect: nothing within {limit:?}"))?
        .map_err(|e| format!("connect: {e}"))
}

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", api.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    let exchange = async {
        let res = api
            .client
            .request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(ANSWER_WITHIN, exchange)
        .await
        .map_err(|_| format!("no answer within {ANSWER_WITHIN:?}"))?
}

/// A workspace with a token for the flood and a read-write one for the
/// other client; made with a client that is gone before the flood starts.
async fn setup(server: &ServerProcess) -> (String, String, String) {
    let api = Api::new(server.addr);
    let ws = new_ws();
    let master = api.register(&ws).await;
    let flood_token = api.mint(&ws, &master, "ro").await;
    let rw = api.mint(&ws, &master, "rw").await;
    (ws, flood_token, rw)
}

/// From a new client on 127.0.0.1: health, then a push; each must answer
/// within 5 s. Returns what went wrong.
async fn others_still_served(server: SocketAddr, ws: &str, rw: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let api = Api::new(server);
    let auth = format!("Bearer {rw}");
    let key = format!("during-flood-{}", new_ws());
    let path = format!("/v1/workspaces/{ws}/entries");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/octet-stream"),
        ("idempotency-key", key.as_str()),
    ];
    let timed = |request| async move {
        let t = Instant::now();
        let answer = request.await;
        (answer, t.elapsed())
    };
    let ((health, health_took), (pushed, push_took)) = tokio::join!(
        timed(call(&api, Method::GET, "/v1/health", &[], Vec::new())),
        timed(call(
            &api,
            Method::POST,
            &path,
            &headers,
            b"pushed during a flood".to_vec(),
        ))
    );
    match health {
        Ok((StatusCode::OK, _)) => eprintln!("health answered in {health_took:?}"),
        Ok((status, body)) => problems.push(format!(
            "health answered {status} {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => problems.push(format!("health from 127.0.0.1: {e}")),
    }
    match pushed {
        Ok((StatusCode::OK, _)) => eprintln!("push answered in {push_took:?}"),
        Ok((status, body)) => problems.push(format!(
            "push answered {status} {}",
            String::from_utf8_lossy(&body)
        )),
        Err(e) => problems.push(format!("push from 127.0.0.1: {e}")),
    }
    problems
}

/// 2,000 connections from 127.0.0.2 that send nothing, or half a request
/// header, and stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_from_one_address_lock_nobody_out() {
    const FLOOD: usize = 2000;
    if !enough_files(FLOOD as u64 + 500) {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let (ws, _, rw) = setup(&server).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let addr = server.addr;
    let mut tasks = Vec::new();
    for i in 0..FLOOD {
        tasks.push(tokio::spawn(async move {
            let mut stream = connect_from_flood(addr, Duration::from_secs(3)).await?;
            if i % 2 == 1 {
                // Half a request: the header never ends.
                let _ = stream
                    .write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    .await;
            }
            Ok::<_, String>(stream)
        }));
    }
    let mut held = Vec::new();
    let mut failed: std::collections::BTreeMap<String, usize> = Default::default();
    for t in tasks {
        match t.await.unwrap() {
            Ok(s) => held.push(s),
            Err(e) => *failed.entry(e).or_default() += 1,
        }
    }
    eprintln!(
        "{} of {FLOOD} flood connections open ({failed:?}) after {:?}",
        held.len(),
        started.elapsed()
    );
    // A flood connection that cannot even be made is the kernel's backlog
    // being full: that is the server being locked, too, for everybody.
    let problems = others_still_served(addr, &ws, &rw).await;
    drop(held);
    eprintln!("idle flood: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        problems.is_empty(),
        "while 127.0.0.2 held {FLOOD} idle connections: {}",
        problems.join("; ")
    );
}

/// How one event stream request ended.
#[derive(Debug)]
enum StreamOutcome {
    /// 200 `text/event-stream`, and the first `head` event came.
    Open(TcpStream),
    /// Refused with a JSON `{code, message}`: a 4xx (a stream cap, 429
    /// `too_many_streams`), or a 503 (the connection itself turned away at
    /// accept because this address holds too many).
    Refused(u16, String),
    /// Anything else: the text says what.
    Bad(String),
}

/// Opens one event stream from 127.0.0.2 and reads until the first event or
/// a refusal, giving up at `deadline`.
async fn open_stream(
    server: SocketAddr,
    ws: String,
    token: String,
    deadline: tokio::time::Instant,
) -> StreamOutcome {
    let work = async {
        let mut stream = match connect_from_flood(server, Duration::from_secs(10)).await {
            Ok(s) => s,
            Err(e) => return StreamOutcome::Bad(e),
        };
        let req = format!(
            "GET /v1/workspaces/{ws}/events HTTP/1.1\r\nHost: {server}\r\n\
             Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        );
        if let Err(e) = stream.write_all(req.as_bytes()).await {
            return StreamOutcome::Bad(format!("sending the request: {e}"));
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
            if let Some(end) = head_end {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let lower = head.to_ascii_lowercase();
                if status == 200 {
                    if !lower.contains("content-type: text/event-stream") {
                        return StreamOutcome::Bad(format!("200 but not an event stream: {head}"));
                    }
                    if buf[end..].windows(11).any(|w| w == b"event: head") {
                        return StreamOutcome::Open(stream);
                    }
                } else {
                    let len = lower
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    let body = &buf[end + 4..];
                    if let Some(len) = len
                        && body.len() >= len
                    {
                        let json: Option<Value> = serde_json::from_slice(&body[..len]).ok();
                        let code = json
                            .as_ref()
                            .filter(|v| v["message"].is_string())
                            .and_then(|v| v["code"].as_str())
                            .map(str::to_owned);
                        return match code {
                            Some(code) if (400..500).contains(&status) || status == 503 => {
                                StreamOutcome::Refused(status, code)
                            }
                            _ => StreamOutcome::Bad(format!(
                                "answered {status} {}",
                                String::from_utf8_lossy(&body[..len])
                            )),
                        };
                    }
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    return StreamOutcome::Bad(format!(
                        "closed by the server after {} bytes, without a full answer",
                        buf.len()
                    ));
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return StreamOutcome::Bad(format!("reading: {e}")),
            }
        }
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| StreamOutcome::Bad("no answer: the request hung".into()))
}

/// 1,100 event streams from 127.0.0.2 with one valid token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_hundred_event_streams_from_one_address_lock_nobody_out() {
    const STREAMS: usize = 1100;
    if !enough_files(STREAMS as u64 + 500) {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let (ws, token, rw) = setup(&server).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..STREAMS {
        tasks.push(tokio::spawn(open_stream(
            server.addr,
            ws.clone(),
            token.clone(),
            deadline,
        )));
    }
    let mut open = Vec::new();
    let mut refused: std::collections::BTreeMap<(u16, String), usize> = Default::default();
    let mut bad: std::collections::BTreeMap<String, usize> = Default::default();
    for t in tasks {
        match t.await.unwrap() {
            StreamOutcome::Open(s) => open.push(s),
            StreamOutcome::Refused(status, code) => {
                *refused.entry((status, code)).or_default() += 1
            }
            StreamOutcome::Bad(why) => *bad.entry(why).or_default() += 1,
        }
    }
    eprintln!(
        "{} streams open, refused {refused:?}, other {bad:?}, after {:?}",
        open.len(),
        started.elapsed()
    );
    let mut problems = others_still_served(server.addr, &ws, &rw).await;
    drop(open);
    if !bad.is_empty() {
        problems.push(format!(
            "{} of {STREAMS} stream requests neither opened nor got a JSON refusal \
             (4xx, or 503 at accept): {bad:?}",
            bad.values().sum::<usize>()
        ));
    }
    eprintln!("stream flood: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        problems.is_empty(),
        "while 127.0.0.2 held {STREAMS} event streams: {}",
        problems.join("; ")
    );
}
