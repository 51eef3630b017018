//! The device's store against crashes and failing disks, in a real
//! process: a writer (this test binary, run again as a child) appends
//! numbered updates and says "acked N" once each call has returned. It is
//! killed (SIGKILL) at random instants, or run under `strace` with writes
//! and syncs of its journal failing; every update it acknowledged must be
//! there when the store opens again, in order, and none it was told had
//! failed.
//!
//! Needs `/usr/bin/strace` (Debian's `strace` package; the test command
//! installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hearth_device::FsStore;
use hearth_shared::engine::{Outbox, Store as _, SyncMeta};

/// The child's store directory (set only in the child).
const CHILD_DIR: &str = "HEARTH_STORE_FAULTS_DIR";
const CHILD_FROM: &str = "HEARTH_STORE_FAULTS_FROM";
const STRACE: &str = "/usr/bin/strace";
/// Updates the writer makes per run.
const WRITES: u64 = 60;

fn meta(cursor: u64) -> SyncMeta {
    let mut m = SyncMeta::new(42);
    m.cursor = cursor;
    m
}

fn update(i: u64) -> Vec<u8> {
    format!("update {i} ")
        .repeat(1 + (i % 7) as usize)
        .into_bytes()
}

/// The writer, when run as the child; passes at once otherwise.
#[tokio::test]
async fn writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let from: u64 = std::env::var(CHILD_FROM).unwrap().parse().unwrap();
    let store = FsStore::open(&dir).unwrap();
    let mut i = from;
    while i < from + WRITES {
        let result = if i % 3 == 2 {
            // A pending batch set, as a push does, with its update.
            let batch = Outbox {
                key: format!("k{i}"),
                from: 0,
                to: i as i32,
                envelope: vec![i as u8; 300],
            };
            match store.append(&[update(i)], &meta(i)).await {
                Ok(()) => store.set_outbox(Some(&batch), &meta(i)).await,
                Err(e) => Err(e),
            }
        } else {
            store.append(&[update(i)], &meta(i)).await
        };
        match result {
            Ok(()) => println!("acked {i}"),
            Err(e) => println!("failed {i}: {e}"),
        }
        i += 1;
    }
    println!("writer done");
}

/// The child writer from update `from`, with stdout piped; under strace
/// with `strace_args` if given.
fn spawn_writer(dir: &Path, from: u64, strace_args: Option<&[String]>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match strace_args {
        Some(args) => {
            let mut c = Command::new(STRACE);
            c.args(["-f", "-qq", "-o", "/dev/null"])
                .args(args)
                .arg("--")
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args(["--exact", "writer", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_FROM, from.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// What the writer said: acknowledged and failed update numbers.
#[derive(Default)]
struct Said {
    acked: Vec<u64>,
    failed: Vec<u64>,
    /// It got to its end.
    done: bool,
}

/// The number after `prefix` in `line` (the test harness may print before
/// it on the same line).
fn number(line: &str, prefix: &str) -> Option<u64> {
    line.split_once(prefix)?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Reads the writer's lines to their end; kills it (SIGKILL) as soon as it
/// has acknowledged `kill_after` updates, if given, and reads what it said
/// before it died.
fn listen(child: &mut Child, kill_after: Option<usize>) -> Said {
    let mut said = Said::default();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(i) = number(&line, "acked ") {
            said.acked.push(i);
            if kill_after == Some(said.acked.len()) {
                child.kill().unwrap();
            }
        } else if let Some(i) = number(&line, "failed ") {
            said.failed.push(i);
        } else if line.contains("writer done") {
            said.done = true;
        }
    }
    child.wait().unwrap();
    said
}

/// The update numbers the store in `dir` holds, in order.
async fn held(dir: &Path) -> Vec<u64> {
    let loaded = FsStore::open(dir).unwrap().load().await.unwrap();
    loaded
        .log
        .iter()
        .map(|u| {
            let text = String::from_utf8(u.clone()).unwrap();
            number(&text, "update ").unwrap()
        })
        .collect()
}

fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % n
}

#[tokio::test]
async fn every_acknowledged_update_survives_a_kill_at_a_random_instant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut expected: Vec<u64> = Vec::new();
    let mut from = 0;
    for round in 0..8 {
        // Killed just after the k-th acknowledgement, while a later call
        // is somewhere in its write.
        let k = 1 + random_below(WRITES - 1);
        let mut child = spawn_writer(&dir, from, None);
        let said = listen(&mut child, Some(k as usize));
        assert!(said.failed.is_empty(), "round {round}: {:?}", said.failed);
        let now = held(&dir).await;
        // Everything acknowledged is there, in order; at most the one call
        // under way when it died is there too.
        expected.extend(&said.acked);
        assert!(
            now.starts_with(&expected),
            "round {round}: {now:?}\nacked {expected:?}"
        );
        assert!(now.len() <= expected.len() + 1, "round {round}: {now:?}");
        expected = now;
        from = expected.last().map_or(0, |l| l + 1);
    }
}

#[tokio::test]
async fn writes_that_fail_are_never_kept_and_acknowledged_ones_always_are() {
    assert!(
        Path::new(STRACE).exists(),
        "this test needs {STRACE} (Debian: `apt-get install strace`) to inject faults"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    std::fs::create_dir_all(&dir).unwrap();
    // A fresh store's first journal is `journal-0.log`: some of its writes
    // fail with a full disk, some of its syncs with an I/O error.
    let journal = dir.join("journal-0.log");
    let args: Vec<String> = [
        "-P",
        journal.to_str().unwrap(),
        "-e",
        "inject=write:error=ENOSPC:when=4+9",
        "-e",
        "inject=fdatasync:error=EIO:when=7+11",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = spawn_writer(&dir, 0, Some(&args));
    let said = listen(&mut child, None);
    assert!(said.done, "the writer under strace did not finish");
    assert!(
        !said.failed.is_empty(),
        "no write failed: the faults were not injected"
    );
    assert!(!said.acked.is_empty(), "no write succeeded");
    let now = held(&dir).await;
    // A batch whose update was kept but whose pending batch failed is
    // reported failed with its update kept: the engine saves again.
    let kept_despite_failure: Vec<u64> = said
        .failed
        .iter()
        .copied()
        .filter(|i| now.contains(i))
        .collect();
    assert!(
        kept_despite_failure.iter().all(|i| i % 3 == 2),
        "updates reported failed are in the store: {kept_despite_failure:?}"
    );
    let mut expected = said.acked.clone();
    expected.extend(&kept_despite_failure);
    expected.sort_unstable();
    assert_eq!(now, expected, "failed: {:?}", said.failed);

    // The store goes on after the faults: a writer with no faults adds to it.
    let mut child = spawn_writer(&dir, WRITES, None);
    let more = listen(&mut child, None);
    assert!(more.done, "the writer did not finish");
    assert!(more.failed.is_empty());
    expected.extend(&more.acked);
    assert_eq!(held(&dir).await, expected);
}
