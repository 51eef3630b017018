//! Device-to-device latency through a real `hearth` on loopback: device A
//! adds a note and pushes it; device B, waiting on the live events stream,
//! pulls and imports it. Native devices (the same engine as the PWA).
//! Prints p50 and p99; asserts nothing about time. Run with
//! `cargo bench -p hearth --bench latency`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::Server;
use hearth_device::Device;
use hearth_shared::api::Scope;

const EDITS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&tmp.path().join("data"), &["--log-format", "json"]);
    let mut a = Device::create(tmp.path().join("a"), "a").await.unwrap();
    a.register(&server.url).await.unwrap();
    let token = a.mint_token("b", Scope::ReadWrite).await.unwrap().token;
    let workspace = a.profile().workspace.clone();
    let mut b = Device::join(
        tmp.path().join("b"),
        &server.url,
        workspace,
        &token,
        Scope::ReadWrite,
        "b",
    )
    .await
    .unwrap();
    b.sync_once().await.unwrap();

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let local = tokio::task::LocalSet::new();
    local.spawn_local(async move {
        let mut seen = 0;
        loop {
            if let Ok(head) = b.engine().wait_for_head().await {
                b.engine_mut().note_head(head);
            }
            if b.sync_once().await.is_err() {
                continue;
            }
            let count = b.list_notes().len();
            while seen < count {
                let _ = seen_tx.send((seen, Instant::now()));
                seen += 1;
            }
        }
    });
    local
        .run_until(async move {
            let mut latencies = Vec::with_capacity(EDITS);
            for i in 0..EDITS {
                let started = Instant::now();
                a.add_note(&format!("edit {i}"), "x", &[]).await.unwrap();
                a.sync_once().await.unwrap();
                let (index, at) = seen_rx.recv().await.unwrap();
                assert_eq!(index, i);
                latencies.push(at - started);
            }
            latencies.sort();
            println!("device A edit -> device B has it (live events, loopback), {EDITS} edits:");
            println!("  p50 {:>7.2} ms", percentile(&latencies, 0.50));
            println!("  p99 {:>7.2} ms", percentile(&latencies, 0.99));
            println!("  max {:>7.2} ms", percentile(&latencies, 1.0));
        })
        .await;
}
