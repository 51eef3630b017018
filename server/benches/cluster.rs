//! Cluster mode beside the single node, in one run: durable 1 KiB pushes
//! through one and through two cluster nodes (PostgreSQL and Garage on
//! loopback) and through a single node on its disk; what each pushed batch
//! costs the database (append transactions per push); a pull of 10,000
//! entries; and the latency of an entry pushed through one node to a
//! listener on another (push sent → event heard → entry pulled). Needs the
//! engines: `cargo xtask engines -- cargo bench -p hearth --bench cluster`
//! (`cargo xtask bench` runs it so). Prints figures; asserts nothing about
//! time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;
#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use e2e_support::{Server, post_json};
use http_body_util::BodyExt as _;
use serde_json::json;
use support::{RUN, load, pusher_once};

const LEVELS: &[usize] = &[1, 16, 64];
const PULL_ENTRIES: usize = 10_000;
const LATENCY_SAMPLES: usize = 200;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run `cargo xtask engines -- cargo bench -p hearth --bench cluster`"
        )
    })
}

/// A fresh database on the engines' server; its URL and a client on it.
async fn fresh_database() -> (String, tokio_postgres::Client) {
    let server = var("HEARTH_TEST_DATABASE");
    let (admin, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let name = format!("hearth_bench_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let base = server.rsplit_once('/').unwrap().0;
    let url = format!("{base}/{name}");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    (url, client)
}

async fn register(addr: &str, ws: &str) -> String {
    let (status, answer) = post_json(
        addr,
        "/v1/workspaces",
        None,
        &json!({ "workspace_id": ws, "label": "bench" }),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    answer["master_token"].as_str().unwrap().to_owned()
}

/// Append transactions so far (each group commit updates its log's row once).
async fn appends(db: &tokio_postgres::Client) -> i64 {
    // The statistics collector lags a little: ask for a fresh snapshot.
    db.batch_execute("SELECT pg_stat_clear_snapshot()")
        .await
        .unwrap();
    db.query_one(
        "SELECT COALESCE(n_tup_upd, 0) FROM pg_stat_user_tables WHERE relname = 'logs'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Milliseconds from a push through `from` until a listener on `to` has
/// pulled it, `LATENCY_SAMPLES` times.
async fn latency(from: &str, to: &str, ws: &str, token: &str, tag: &str) -> Vec<Duration> {
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let events = client
        .request(
            hyper::Request::get(format!("http://{to}/v1/workspaces/{ws}/events"))
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = events.into_body();
    let mut seen = String::new();
    let path = format!("/v1/workspaces/{ws}/entries");
    let mut samples = Vec::new();
    // The stream's first event is the head it starts from.
    let mut first = true;
    for i in 0..=LATENCY_SAMPLES {
        let started = Instant::now();
        if !first {
            assert!(pusher_once(from, &path, token, &format!("{tag}-{i}")).await);
        }
        let head = loop {
            if let Some(end) = seen.find("\n\n") {
                let event: String = seen.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let v: serde_json::Value = serde_json::from_str(data).unwrap();
                    break v["head"].as_u64().unwrap();
                }
                continue;
            }
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                seen.push_str(std::str::from_utf8(&data).unwrap());
            }
        };
        if std::mem::take(&mut first) {
            continue;
        }
        let pulled = e2e_support::request(
            to,
            "GET",
            &format!("{path}?after={}", head - 1),
            Some(token),
            None,
        )
        .await;
        assert_eq!(pulled.status, 200);
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let (database, db) = fresh_database().await;
    let objects = format!(
        "{}/bench-{}?{}",
        var("HEARTH_TEST_OBJECTS").split_once('?').unwrap().0,
        std::process::id(),
        var("HEARTH_TEST_OBJECTS").split_once('?').unwrap().1
    );
    let tmp = tempfile::tempdir().unwrap();
    let flags = [
        "--log-format",
        "json",
        "--max-connections-per-ip",
        "1024",
        "--database",
        &database,
        "--objects",
        &objects,
    ];
    let node_a = Server::start_in(&tmp.path().join("a"), &flags);
    let node_b = Server::start_in(&tmp.path().join("b"), &flags);
    let single = Server::start_in(
        &tmp.path().join("single"),
        &["--log-format", "json", "--max-connections-per-ip", "1024"],
    );
    let (a, b) = (node_a.addr(), node_b.addr());

    println!(
        "1 KiB durable pushes, {} s per row, one workspace:",
        RUN.as_secs()
    );
    println!(
        "{:>6} | {:>20} | {:>20} | {:>20} | {:>12}",
        "conns", "single node /s p50 p99", "cluster, 1 node", "cluster, 2 nodes", "appends/push"
    );
    for (i, &connections) in LEVELS.iter().enumerate() {
        let ws = format!("c1a5000000000000000000000000000{i}");
        let path = format!("/v1/workspaces/{ws}/entries");
        let disk_token = register(single.addr(), &ws).await;
        let disk = load(&[single.addr()], &path, &disk_token, connections, "s").await;
        let token = register(a, &ws).await;
        let before = appends(&db).await;
        let one = load(&[a], &path, &token, connections, "one").await;
        let two = load(&[a, b], &path, &token, connections, "two").await;
        let after = appends(&db).await;
        let pushes = (one.rate + two.rate) * RUN.as_secs_f64();
        println!(
            "{connections:>6} | {:>7.0} {:>5.2} {:>5.2} | {:>7.0} {:>5.2} {:>5.2} | {:>7.0} {:>5.2} {:>5.2} | {:>12.2}",
            disk.rate,
            disk.p50,
            disk.p99,
            one.rate,
            one.p50,
            one.p99,
            two.rate,
            two.p50,
            two.p99,
            (after - before) as f64 / pushes
        );
    }

    // A pull of 10,000 entries of 1 KiB, from each mode.
    let ws = "c1a50000000000000000000000000100";
    let path = format!("/v1/workspaces/{ws}/entries");
    for (label, addr) in [("single node", single.addr()), ("cluster node", b)] {
        let token = register(addr, ws).await;
        let tasks: Vec<_> = (0..32)
            .map(|c| {
                let per = PULL_ENTRIES / 32 + usize::from(c < PULL_ENTRIES % 32);
                let (addr, path, token) = (addr.to_owned(), path.clone(), token.clone());
                tokio::spawn(async move {
                    for i in 0..per {
                        assert!(pusher_once(&addr, &path, &token, &format!("p-{c}-{i}")).await);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let started = Instant::now();
        let mut after = 0u64;
        let mut frames = 0usize;
        let mut bytes = 0usize;
        let mut requests = 0;
        while frames < PULL_ENTRIES {
            let response = e2e_support::request(
                addr,
                "GET",
                &format!("{path}?after={after}"),
                Some(&token),
                None,
            )
            .await;
            let decoded = hearth_shared::frame::decode_frames(&response.body).unwrap();
            after = decoded.last().unwrap().seq;
            frames += decoded.len();
            bytes += response.body.len();
            requests += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "pull of {frames} entries ({:.1} MB) from a {label}: {:.1} ms in {requests} requests, {:.0} MB/s",
            bytes as f64 / 1e6,
            secs * 1000.0,
            bytes as f64 / 1e6 / secs
        );
    }
    println!(
        "(entries of at most 64 KiB are rows: a pull of them reads no object; a larger entry is one object read, a snapshot one)"
    );

    // Push through one node, heard and pulled through the other.
    let ws = "c1a50000000000000000000000000200";
    let token = register(a, ws).await;
    let across = latency(a, b, ws, &token, "across").await;
    let same = latency(a, a, ws, &token, "same").await;
    let disk_token = register(single.addr(), ws).await;
    let disk = latency(single.addr(), single.addr(), ws, &disk_token, "disk").await;
    println!("push → event → pull, {LATENCY_SAMPLES} times, ms p50 / p99:");
    println!(
        "  single node:               {:.2} / {:.2}",
        ms(&disk, 0.5),
        ms(&disk, 0.99)
    );
    println!(
        "  cluster, same node:        {:.2} / {:.2}",
        ms(&same, 0.5),
        ms(&same, 0.99)
    );
    println!(
        "  cluster, node A → node B:  {:.2} / {:.2}",
        ms(&across, 0.5),
        ms(&across, 0.99)
    );
}
