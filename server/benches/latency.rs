//! What a person's devices feel, through a real `hearth` on loopback, for
//! a plaintext workspace and an end-to-end encrypted one in the same run:
//! - push: device A adds notes one at a time, syncing after each (every
//!   entry compressed, sealed when encrypted, and acknowledged durable);
//! - pull: a newly paired device B pulls and imports all of them (each
//!   opened when encrypted);
//! - latency: A adds a note and pushes it; B, waiting on the live events
//!   stream, pulls, imports and saves it (with the median of each stage).
//!
//! Native devices (the same engine as the PWA); then the CPU cost of
//! one record alone. Prints figures; asserts nothing about time. Run with `cargo bench -p hearth --bench latency`.
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

/// One figure of a run.
type Column = fn(&Figures) -> f64;

struct Figures {
    push_per_s: f64,
    pull_ms: f64,
    pull_per_s: f64,
    p50: f64,
    p99: f64,
    max: f64,
    /// Medians of the latency's stages, ms: A's edit saved; A's round
    /// (push acknowledged); from the edit to B hearing the head; B's round
    /// (pull, import, save).
    stage_p50: [f64; 4],
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

    // B, after each round: how many operations its document holds, when
    // the head came (live events) and when the round ended (pulled,
    // imported and saved). The edit has reached B once B holds as many
    // operations as A.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, [Instant; 2])>();
    let local = tokio::task::LocalSet::new();
    local.spawn_local(async move {
        loop {
            if let Ok(head) = b.engine().wait_for_head().await {
                b.engine_mut().note_head(head);
            }
            let heard = Instant::now();
            if b.sync_once().await.is_err() {
                continue;
            }
            let ops = b.engine().doc().len_ops();
            let _ = seen_tx.send((ops, [heard, Instant::now()]));
        }
    });
    let (mut latencies, mut stages) = local
        .run_until(async move {
            let mut latencies = Vec::with_capacity(EDITS);
            let mut stages: [Vec<Duration>; 4] = Default::default();
            for i in 0..EDITS {
                let started = Instant::now();
                a.add_note(&format!("edit {i}"), "x", &[]).await.unwrap();
                let saved = Instant::now();
                a.sync_once().await.unwrap();
                let pushed = Instant::now();
                let want = a.engine().doc().len_ops();
                let (heard, at) = loop {
                    let (ops, [heard, at]) = seen_rx.recv().await.unwrap();
                    if ops >= want {
                        break (heard, at);
                    }
                };
                latencies.push(at - started);
                for (stage, d) in stages.iter_mut().zip([
                    saved - started,
                    pushed - saved,
                    heard.saturating_duration_since(started),
                    at - heard,
                ]) {
                    stage.push(d);
                }
            }
            (latencies, stages)
        })
        .await;
    latencies.sort();
    let stage_p50 = stages.each_mut().map(|s| {
        s.sort();
        percentile(s, 0.5)
    });
    Figures {
        stage_p50,
        push_per_s,
        pull_ms: pulled.as_secs_f64() * 1000.0,
        pull_per_s: PUSHES as f64 / pulled.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
    }
}

/// The middle of `values` (the mean of the middle two when even).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The CPU cost of one record, without disk or network: compressing (and
/// sealing) `size` bytes of note text, and opening them again.
fn record_cost(size: usize) -> RecordCost {
    use hearth_shared::sealed::{self, EpochKey, Kind};
    const N: usize = 20_000;
    // Note text, as compressible as a Loro update of it.
    let payload = "the spare key is under the third flowerpot; "
        .repeat(size / 40 + 1)
        .into_bytes()[..size]
        .to_vec();
    let key = EpochKey::new(1, [7; 32]);
    let keys = [key.clone()];
    let time = |f: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        for i in 0..N {
            f(i);
        }
        started.elapsed().as_secs_f64() * 1e6 / N as f64
    };
    let plain = hearth_shared::envelope::seal(&payload, 3).unwrap();
    let sealed = sealed::seal(&key, Kind::Update, &payload, 3, [1; 12]).unwrap();
    let seal_plain = time(&mut |_| {
        std::hint::black_box(hearth_shared::envelope::seal(&payload, 3).unwrap());
    });
    let seal_enc = time(&mut |i| {
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&(i as u64).to_be_bytes());
        std::hint::black_box(sealed::seal(&key, Kind::Update, &payload, 3, iv).unwrap());
    });
    let open_plain = time(&mut |_| {
        std::hint::black_box(hearth_shared::envelope::open(&plain, 1 << 24).unwrap());
    });
    let open_enc = time(&mut |_| {
        std::hint::black_box(sealed::open(&keys, &sealed, 1 << 24).unwrap());
    });
    // Version 3: signed by the device, bound to the workspace, padded.
    let ws = hearth_shared::id::WorkspaceId::from_random([3; 16]);
    let signer =
        hearth_shared::identity::DeviceSigner::of(&hearth_shared::keys::DeviceSecret::new([5; 32]));
    let signed =
        hearth_shared::signed::seal(&key, Kind::Update, &payload, 3, [1; 12], &ws, &signer)
            .unwrap();
    let seal_signed = time(&mut |i| {
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&(i as u64).to_be_bytes());
        std::hint::black_box(
            hearth_shared::signed::seal(&key, Kind::Update, &payload, 3, iv, &ws, &signer).unwrap(),
        );
    });
    let open_signed = time(&mut |_| {
        std::hint::black_box(hearth_shared::signed::open(&keys, &signed, &ws, 1 << 24).unwrap());
    });
    RecordCost {
        seal: [seal_plain, seal_enc, seal_signed],
        open: [open_plain, open_enc, open_signed],
        bytes: [plain.len(), sealed.len(), signed.len()],
    }
}

/// Per record: plain envelope, version 2 (encrypted), version 3 (signed).
struct RecordCost {
    seal: [f64; 3],
    open: [f64; 3],
    bytes: [usize; 3],
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    // Eight pairings in a minute from one address: above the default
    // limit on invites, which is for strangers, not for this run.
    let server = Server::start_in(
        &tmp.path().join("data"),
        &["--log-format", "json", "--rate-limit-per-minute", "100000"],
    );
    // Four runs per mode in the order plain, sealed, sealed, plain, ... so
    // that neither mode always comes first on a warming machine; medians.
    const ROUNDS: usize = 4;
    let mut plain = Vec::new();
    let mut sealed = Vec::new();
    for round in 0..ROUNDS {
        for encrypted in [round % 2 == 1, round % 2 == 0] {
            let dir = tmp.path().join(format!("{round}-{encrypted}"));
            let figures = run(&dir, &server, encrypted).await;
            if encrypted {
                sealed.push(figures);
            } else {
                plain.push(figures);
            }
        }
    }
    let mid = |runs: &[Figures], f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
    println!("native devices through hearth on loopback, median of {ROUNDS} runs per mode:");
    println!("                                        plaintext   encrypted   ratio");
    let rows: [(String, Column); 10] = [
        (
            format!("push, one note per sync ({PUSHES}), notes/s"),
            |f| f.push_per_s,
        ),
        (format!("pairing pull of {PUSHES} entries, ms"), |f| {
            f.pull_ms
        }),
        ("  entries/s".to_owned(), |f| f.pull_per_s),
        (format!("edit -> other device ({EDITS}), p50 ms"), |f| f.p50),
        ("  p99 ms".to_owned(), |f| f.p99),
        ("  max ms".to_owned(), |f| f.max),
        ("  stage p50: A edits and saves".to_owned(), |f| {
            f.stage_p50[0]
        }),
        ("  stage p50: A's round (push)".to_owned(), |f| {
            f.stage_p50[1]
        }),
        ("  stage p50: edit -> B hears".to_owned(), |f| {
            f.stage_p50[2]
        }),
        ("  stage p50: B's round (pull)".to_owned(), |f| {
            f.stage_p50[3]
        }),
    ];
    for (name, f) in rows {
        let (a, b) = (mid(&plain, f), mid(&sealed, f));
        println!("{name:<40}{a:>9.2}   {b:>9.2}   {:>5.2}", b / a);
    }
    println!(
        "one record, CPU only (plain envelope -> v2 AES-256-GCM -> v3 signed and padded), µs and bytes:"
    );
    for size in [200, 4_000, 64_000] {
        let RecordCost { seal, open, bytes } = record_cost(size);
        println!(
            "  {size:>6}-byte note: seal {:>7.1} -> {:>7.1} -> {:>7.1}   open {:>7.1} -> {:>7.1} -> {:>7.1}   bytes {} -> {} -> {}",
            seal[0], seal[1], seal[2], open[0], open[1], open[2], bytes[0], bytes[1], bytes[2]
        );
    }
}
