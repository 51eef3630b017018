//! The real binary: the "listening" line, backups, crashes.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;

use crate::common::{Api, ServerProcess, TestServer, new_ws};

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    assert_eq!(api.get("/v1/health").await.status, StatusCode::OK);
}

fn hearth(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).env("RUST_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn backup_then_restore_gives_the_same_pulls() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    for i in 1..=6u64 {
        api.push_ok(&ws, &rw, &format!("k{i}"), format!("entry {i}").as_bytes()).await;
    }
    assert_eq!(api.snapshot(&ws, &rw, 3, b"snapshot 3").await.status, StatusCode::OK);
    let before = api.pull(&ws, &rw, 0).await;
    let before_mid = api.pull(&ws, &rw, 4).await;

    // Back up while the server runs.
    let out = tempfile::tempdir().unwrap();
    let data = server.dir.path().to_str().unwrap().to_owned();
    let (ok, made) = hearth(&["backup", "--data-dir", &data, "--out", out.path().to_str().unwrap()]);
    assert!(ok, "backup failed");
    let (ok, said) = hearth(&["verify-backup", &made]);
    assert!(ok && said.starts_with("ok"), "{said}");

    // Refuses a non-empty directory.
    let (ok, _) = hearth(&["restore", &made, "--data-dir", &data]);
    assert!(!ok);
    drop(server);

    let target = tempfile::tempdir().unwrap();
    let restored = target.path().join("data");
    let (ok, _) = hearth(&["restore", &made, "--data-dir", restored.to_str().unwrap()]);
    assert!(ok);

    let process = ServerProcess::start(&restored, &[]);
    let api = Api::new(process.addr);
    let after = api.pull(&ws, &rw, 0).await;
    assert_eq!((after.head, after.floor, &after.frames), (before.head, before.floor, &before.frames));
    assert_eq!(api.pull(&ws, &rw, 4).await.frames, before_mid.frames);
    assert_eq!(api.push_ok(&ws, &rw, "k6", b"entry 6").await, 6, "idempotency keys come back too");

    // A tampered backup fails verification.
    let log = std::path::Path::new(&made).join("workspaces").join(&ws).join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.push(0);
    std::fs::write(&log, bytes).unwrap();
    let (ok, _) = hearth(&["verify-backup", &made]);
    assert!(!ok);
}

#[tokio::test]
async fn scheduled_backups_appear_and_are_pruned() {
    let backups = tempfile::tempdir().unwrap();
    let path = backups.path().to_path_buf();
    let server = TestServer::start_with(|c| {
        c.backup_interval_secs = 1;
        c.backup_keep = 2;
        c.backup_dir = Some(path);
    })
    .await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    api.push_ok(&ws, &token, "a", b"x").await;
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(backups.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("hearth-backup-"))
            .collect();
        names.sort();
        names
    };
    // Wait until a third backup replaced the first: two are kept, and the
    // set of names has moved on.
    let mut first_pair: Option<Vec<String>> = None;
    let mut moved_on = false;
    for _ in 0..600 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = names();
        assert!(now.len() <= 2, "{now:?}");
        match &first_pair {
            None if now.len() == 2 => first_pair = Some(now),
            Some(pair) if now.len() == 2 && &now != pair => {
                moved_on = true;
                break;
            }
            _ => {}
        }
    }
    assert!(moved_on, "no third backup was taken");
    let newest = backups.path().join(names().last().unwrap());
    assert!(hearth::backup::verify(&newest).is_ok());
    drop(server);
}

/// Rounds of the crash test: 2 by default, more with `HEARTH_CRASH_ROUNDS`.
fn crash_rounds() -> usize {
    std::env::var("HEARTH_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ws = new_ws();
    let mut token = String::new();
    // seq -> payload of every acknowledged push, over all rounds.
    let acked: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();

    for round in 0..crash_rounds() {
        let mut server = ServerProcess::start(dir.path(), &[]);
        let api = Api::new(server.addr);
        if round == 0 {
            token = api.register(&ws).await;
        }
        // Everything acknowledged before is present and intact.
        let pull = api.pull(&ws, &token, 0).await;
        let stored: BTreeMap<u64, Vec<u8>> = pull.frames.into_iter().map(|(_, s, p)| (s, p)).collect();
        for (seq, payload) in acked.lock().unwrap().iter() {
            assert_eq!(stored.get(seq), Some(payload), "round {round}: entry {seq}");
        }

        // Many clients push; the server is killed while they do.
        let target = acked.lock().unwrap().len() + 120;
        let mut clients = Vec::new();
        for c in 0..8 {
            let (api, ws, token, acked) = (api.clone(), ws.clone(), token.clone(), acked.clone());
            clients.push(tokio::spawn(async move {
                for i in 0.. {
                    let body = format!("round {round} client {c} push {i} {}", "x".repeat(i % 50)).into_bytes();
                    let key = format!("{round}-{c}-{i}");
                    let res = api
                        .client
                        .request(
                            hyper::Request::post(format!("{}/v1/workspaces/{ws}/entries", api.base))
                                .header("authorization", format!("Bearer {token}"))
                                .header("content-type", "application/octet-stream")
                                .header("idempotency-key", key)
                                .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                                .unwrap(),
                        )
                        .await;
                    let Ok(res) = res else { return };
                    if res.status() != StatusCode::OK {
                        return;
                    }
                    use http_body_util::BodyExt as _;
                    let Ok(bytes) = res.into_body().collect().await else { return };
                    let Ok(r) = serde_json::from_slice::<hearth_shared::api::PushResponse>(&bytes.to_bytes()) else {
                        return;
                    };
                    let previous = acked.lock().unwrap().insert(r.seq, body);
                    assert!(previous.is_none(), "sequence number {} given twice", r.seq);
                }
            }));
        }
        while acked.lock().unwrap().len() < target {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill();
        for c in clients {
            c.await.unwrap();
        }
    }

    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    let pull = api.pull(&ws, &token, 0).await;
    let stored: BTreeMap<u64, Vec<u8>> = pull.frames.into_iter().map(|(_, s, p)| (s, p)).collect();
    for (seq, payload) in acked.lock().unwrap().iter() {
        assert_eq!(stored.get(seq), Some(payload), "entry {seq}");
    }
    // Sequence numbers have no holes.
    let seqs: Vec<u64> = stored.keys().copied().collect();
    assert_eq!(seqs, (1..=pull.head).collect::<Vec<_>>());
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--log-format", "json"]);
    let api = Api::new(server.addr);
    let ws = new_ws();
    let token = api.register(&ws).await;
    api.push_ok(&ws, &token, "a", b"x").await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
