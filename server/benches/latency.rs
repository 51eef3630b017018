//! What a person's devices feel, through a real `hearth` on loopback, for
//! a plaintext workspace and an end-to-end encrypted one in the same run:
//! - push: device A adds notes one at a time, syncing after each (every
//!   entry compressed, sealed when encrypted, and acknowledged durable);
//! - pull: a newly paired device B pulls and imports all of them (each
//!   opened when encrypted);
//! - latency: A adds a note and pushes it; B, waiting on the live events
//!   stream, pulls and imports it.
//!
//! Native devices (the same engine as the PWA). Prints figures; asserts
//! nothing about time. Run with `cargo bench -p hearth --bench latency`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::Server;
use hearth_device::Device;
use hearth_shared::api::Scope;

const PUSHES: usize = 300;
const EDITS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Figures {
    push_per_s: f64,
    pull_ms: f64,
    pull_per_s: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

/// A second device joined through a pairing link (which carries the key of
/// an encrypted workspace), fully synced.
async fn pair(a: &Device, dir: &Path) -> (Device, Duration) {
    let link = a.invite(Scope::ReadWrite, None).await.unwrap().to_url();
    let started = Instant::now();
    let b = Device::pair(dir, &link, "b").await.unwrap();
    (b, started.elapsed())
}

async fn run(dir: &Path, server: &Server, encrypted: bool) -> Figures {
    let mut a = if encrypted {
        Device::create_encrypted(dir.join("a"), "a").await.unwrap()
    } else {
        Device::create(dir.join("a"), "a").await.unwrap()
    };
    assert_eq!(a.is_encrypted(), encrypted);
    a.register(&server.url).await.unwrap();
    a.sync_once().await.unwrap();

    let started = Instant::now();
    for i in 0..PUSHES {
        a.add_note(&format!("pushed {i}"), "some words of a note", &[])
            .await
            .unwrap();
        a.sync_once().await.unwrap();
    }
    let push_per_s = PUSHES as f64 / started.elapsed().as_secs_f64();

    let (mut b, pulled) = pair(&a, &dir.join("b")).await;
    assert_eq!(b.is_encrypted(), encrypted);
    assert_eq!(b.list_notes().len(), PUSHES);
    b.sync_once().await.unwrap();

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let local = tokio::task::LocalSet::new();
    local.spawn_local(async move {
        let mut seen = PUSHES;
        loop {
            if let Ok(head) = b.engine().wait_for_head().await {
                b.engine_mut().note_head(head);
            }
            if b.sync_once().await.is_err() {
                continue;
            }
            let count = b.list_notes().len();
            while seen < count {
                let _ = seen_tx.send((seen - PUSHES, Instant::now()));
                seen += 1;
            }
        }
    });
    let mut latencies = local
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
            latencies
        })
        .await;
    latencies.sort();
    Figures {
        push_per_s,
        pull_ms: pulled.as_secs_f64() * 1000.0,
        pull_per_s: PUSHES as f64 / pulled.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&tmp.path().join("data"), &["--log-format", "json"]);
    // Each mode twice, interleaved, so a slow moment of the machine does
    // not fall on one mode only; the better run of each is printed.
    let mut plain = Vec::new();
    let mut sealed = Vec::new();
    for round in 0..2 {
        plain.push(run(&tmp.path().join(format!("plain{round}")), &server, false).await);
        sealed.push(run(&tmp.path().join(format!("sealed{round}")), &server, true).await);
    }
    let best = |runs: &[Figures]| -> Figures {
        let pick = |f: fn(&Figures) -> f64, higher: bool| {
            runs.iter()
                .map(f)
                .fold(if higher { f64::MIN } else { f64::MAX }, |a, b| {
                    if higher { a.max(b) } else { a.min(b) }
                })
        };
        Figures {
            push_per_s: pick(|f| f.push_per_s, true),
            pull_ms: pick(|f| f.pull_ms, false),
            pull_per_s: pick(|f| f.pull_per_s, true),
            p50: pick(|f| f.p50, false),
            p99: pick(|f| f.p99, false),
            max: pick(|f| f.max, false),
        }
    };
    let (p, s) = (best(&plain), best(&sealed));
    println!("native devices through hearth on loopback, best of 2 runs per mode:");
    println!("                                        plaintext   encrypted   ratio");
    println!(
        "push, one note per sync ({PUSHES}), notes/s  {:>9.0}   {:>9.0}   {:>5.2}",
        p.push_per_s,
        s.push_per_s,
        s.push_per_s / p.push_per_s
    );
    println!(
        "pairing pull of {PUSHES} entries, ms          {:>9.1}   {:>9.1}   {:>5.2}",
        p.pull_ms,
        s.pull_ms,
        s.pull_ms / p.pull_ms
    );
    println!(
        "  entries/s                             {:>9.0}   {:>9.0}   {:>5.2}",
        p.pull_per_s,
        s.pull_per_s,
        s.pull_per_s / p.pull_per_s
    );
    println!("device A edit -> device B has it (live events), {EDITS} edits:");
    for (name, a, b) in [
        ("p50", p.p50, s.p50),
        ("p99", p.p99, s.p99),
        ("max", p.max, s.max),
    ] {
        println!(
            "  {name} ms                                {a:>9.2}   {b:>9.2}   {:>5.2}",
            b / a
        );
    }
}
