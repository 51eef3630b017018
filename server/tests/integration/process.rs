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
    drop(server);

    // With no subcommand, `hearth` serves, configured from HEARTH_* variables.
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .env("HEARTH_LISTEN", "127.0.0.1:0")
        .env("HEARTH_DATA_DIR", dir.path())
        .env("HEARTH_BACKUP_INTERVAL_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("hearth listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let reply = Api::new(addr).get("/v1/health").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(reply.status, StatusCode::OK);
}

fn hearth(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[tokio::test]
async fn backup_then_restore_gives_the_same_pulls() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    for i in 1..=6u64 {
        api.push_ok(&ws, &rw, &format!("k{i}"), format!("entry {i}").as_bytes())
            .await;
    }
    assert_eq!(
        api.snapshot(&ws, &rw, 3, b"snapshot 3").await.status,
        StatusCode::OK
    );
    let before = api.pull(&ws, &rw, 0).await;
    let before_mid = api.pull(&ws, &rw, 4).await;

    // Back up while the server runs.
    let out = tempfile::tempdir().unwrap();
    let data = server.dir.path().to_str().unwrap().to_owned();
    let (ok, made) = hearth(&[
        "backup",
        "--data-dir",
        &data,
        "--out",
        out.path().to_str().unwrap(),
    ]);
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
    assert_eq!(
        (after.head, after.floor, &after.frames),
        (before.head, before.floor, &before.frames)
    );
    assert_eq!(api.pull(&ws, &rw, 4).await.frames, before_mid.frames);
    assert_eq!(
        api.push_ok(&ws, &rw, "k6", b"entry 6").await,
        6,
        "idempotency keys come back too"
    );

    // A tampered backup fails verification.
    let log = std::path::Path::new(&made)
        .join("workspaces")
        .join(&ws)
        .join("log");
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
    std::env::var("HEARTH_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// What the crash test's clients were told, over all rounds.
#[derive(Default)]
struct Told {
    /// seq -> payload of every acknowledged push.
    entries: BTreeMap<u64, Vec<u8>>,
    /// upto -> payloads of every snapshot sent (acknowledged or not).
    snapshots_sent: BTreeMap<u64, Vec<Vec<u8>>>,
    /// The highest `upto` of an acknowledged snapshot.
    floor: u64,
}

/// Checks the server holds everything it acknowledged, intact and in order.
async fn check_nothing_lost(api: &Api, ws: &str, token: &str, told: &Mutex<Told>, when: &str) {
    let pull = api.pull(ws, token, 0).await;
    let told = told.lock().unwrap();
    assert!(
        pull.floor >= told.floor,
        "{when}: floor {} below acknowledged {}",
        pull.floor,
        told.floor
    );
    let mut frames = pull.frames.into_iter().peekable();
    if pull.floor > 0 {
        let (is_snapshot, upto, payload) = frames.next().unwrap();
        assert!(
            is_snapshot && upto == pull.floor,
            "{when}: the snapshot comes first"
        );
        let sent = told
            .snapshots_sent
            .get(&upto)
            .unwrap_or_else(|| panic!("{when}: snapshot {upto} never sent"));
        assert!(
            sent.contains(&payload),
            "{when}: snapshot {upto} is not one that was sent"
        );
    }
    let stored: BTreeMap<u64, Vec<u8>> = frames.map(|(_, s, p)| (s, p)).collect();
    for (seq, payload) in told.entries.range(pull.floor + 1..) {
        assert_eq!(stored.get(seq), Some(payload), "{when}: entry {seq}");
    }
    let seqs: Vec<u64> = stored.keys().copied().collect();
    assert_eq!(
        seqs,
        (pull.floor + 1..=pull.head).collect::<Vec<_>>(),
        "{when}: no holes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_entry() {
    use http_body_util::BodyExt as _;

    let dir = tempfile::tempdir().unwrap();
    let ws = new_ws();
    let mut token = String::new();
    let told: Arc<Mutex<Told>> = Arc::default();

    for round in 0..crash_rounds() {
        let mut server = ServerProcess::start(dir.path(), &[]);
        let api = Api::new(server.addr);
        if round == 0 {
            token = api.register(&ws).await;
        }
        check_nothing_lost(&api, &ws, &token, &told, &format!("round {round}")).await;

        // Many clients push and one compacts; the server is killed meanwhile.
        let target = told.lock().unwrap().entries.len() + 120;
        let mut clients = Vec::new();
        for c in 0..8 {
            let (api, ws, token, told) = (api.clone(), ws.clone(), token.clone(), told.clone());
            clients.push(tokio::spawn(async move {
                for i in 0.. {
                    let body = format!("round {round} client {c} push {i} {}", "x".repeat(i % 50))
                        .into_bytes();
                    let res = api
                        .client
                        .request(
                            hyper::Request::post(format!(
                                "{}/v1/workspaces/{ws}/entries",
                                api.base
                            ))
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/octet-stream")
                            .header("idempotency-key", format!("{round}-{c}-{i}"))
                            .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                            .unwrap(),
                        )
                        .await;
                    let Ok(res) = res else { return };
                    if res.status() != StatusCode::OK {
                        return;
                    }
                    let Ok(bytes) = res.into_body().collect().await else {
                        return;
                    };
                    let Ok(r) = serde_json::from_slice::<hearth_shared::api::PushResponse>(
                        &bytes.to_bytes(),
                    ) else {
                        return;
                    };
                    let previous = told.lock().unwrap().entries.insert(r.seq, body);
                    assert!(previous.is_none(), "sequence number {} given twice", r.seq);
                }
            }));
        }
        {
            let (api, ws, token, told) = (api.clone(), ws.clone(), token.clone(), told.clone());
            clients.push(tokio::spawn(async move {
                for n in 0.. {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    let upto = {
                        let mut t = told.lock().unwrap();
                        // Cover only acknowledged entries: a snapshot covers what it says.
                        let Some(&upto) = t.entries.keys().next_back() else {
                            continue;
                        };
                        if upto <= t.floor {
                            continue;
                        }
                        let payload =
                            format!("snapshot {n} of round {round} upto {upto}").into_bytes();
                        t.snapshots_sent.entry(upto).or_default().push(payload);
                        upto
                    };
                    let payload = told.lock().unwrap().snapshots_sent[&upto]
                        .last()
                        .unwrap()
                        .clone();
                    let res = api
                        .client
                        .request(
                            hyper::Request::put(format!(
                                "{}/v1/workspaces/{ws}/snapshot?upto={upto}",
                                api.base
                            ))
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/octet-stream")
                            .body(http_body_util::Full::new(bytes::Bytes::from(payload)))
                            .unwrap(),
                        )
                        .await;
                    let Ok(res) = res else { return };
                    let status = res.status();
                    if res.into_body().collect().await.is_err() {
                        return;
                    }
                    if status == StatusCode::OK {
                        let mut t = told.lock().unwrap();
                        t.floor = t.floor.max(upto);
                    } else if status != StatusCode::CONFLICT {
                        return;
                    }
                }
            }));
        }
        while told.lock().unwrap().entries.len() < target {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill();
        for c in clients {
            c.await.unwrap();
        }
    }

    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    check_nothing_lost(&api, &ws, &token, &told, "at the end").await;
    assert!(told.lock().unwrap().floor > 0, "some compaction happened");
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
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The data survives a graceful stop, of course.
    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    assert_eq!(api.pull(&ws, &token, 0).await.head, 1);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let server = TestServer::start().await;
    // The first server is up (and holds the directory).
    assert_eq!(server.api().get("/v1/health").await.status, StatusCode::OK);
    let data_dir = server.dir.path().to_path_buf();
    let (status, first_line, stderr) = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead as _, Read as _};
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Either it announces itself (wrong: then stop it) or it exits.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.is_empty() {
            let _ = child.kill();
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap(), line, stderr)
    })
    .await
    .unwrap();
    assert_eq!(first_line, "", "a second server started");
    assert!(!status.success());
    assert!(stderr.contains("another hearth"), "{stderr}");
    // After a clean stop, the directory can be served again.
    let dir = server.stop().await;
    let again = ServerProcess::start(dir.path(), &[]);
    assert_eq!(
        Api::new(again.addr).get("/v1/health").await.status,
        StatusCode::OK
    );
}
