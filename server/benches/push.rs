//! Push and pull throughput of a real `hearth` on loopback, printed as
//! figures (not asserted). Run with `cargo bench -p hearth --bench push`.
//!
//! One client pushing in sequence pays one fsync per push; many clients
//! pushing at once share fsyncs (group commit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{TestServer, new_ws};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    let body = vec![7u8; 512];

    let n = 200;
    let started = Instant::now();
    for i in 0..n {
        api.push_ok(&ws, &token, &format!("seq-{i}"), &body).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("1 client, {n} pushes of 512 B: {:.0} pushes/s", f64::from(n) / secs);

    for clients in [16u32, 64] {
        let per = 50u32;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (api, ws, token, body) = (api.clone(), ws.clone(), token.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    api.push_ok(&ws, &token, &format!("{clients}-{c}-{i}"), &body).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let total = clients * per;
        println!("{clients} clients, {total} pushes of 512 B: {:.0} pushes/s", f64::from(total) / secs);
    }

    let started = Instant::now();
    let pull = api.pull(&ws, &token, 0).await;
    let secs = started.elapsed().as_secs_f64();
    let bytes: usize = pull.frames.iter().map(|f| f.2.len()).sum();
    println!(
        "pull of {} entries ({} KiB): {:.1} ms",
        pull.frames.len(),
        bytes / 1024,
        secs * 1000.0
    );
}
