//! Off-site backups with the real binary: a server that copies its
//! scheduled backups to the tests' object store (`HEARTH_TEST_OBJECTS`,
//! Garage under `cargo xtask test`), a restore from there, and a store
//! that cannot be reached.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use hyper::StatusCode;
use object_store::ObjectStore as _;

use crate::common::{Api, ServerProcess, new_ws};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the off-site backup tests need an S3-compatible store. \
             `cargo xtask test` starts one; by hand, run `cargo xtask cluster up` and export \
             what it prints"
        )
    })
}

/// A fresh prefix in the tests' bucket.
struct Place {
    bucket: String,
    prefix: String,
    query: String,
}

impl Place {
    fn fresh() -> Place {
        let objects = var("HEARTH_TEST_OBJECTS");
        let (location, query) = objects.split_once('?').unwrap_or((&objects, ""));
        let bucket = location.strip_prefix("s3://").unwrap().trim_matches('/');
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Place {
            bucket: bucket.to_owned(),
            prefix: format!("it-offsite-{hex}"),
            query: query.to_owned(),
        }
    }

    /// The address of `rest` under the prefix ("" for the prefix itself).
    fn address(&self, rest: &str) -> String {
        let path = [self.prefix.as_str(), rest].join("/");
        let path = path.trim_end_matches('/');
        format!("s3://{}/{path}?{}", self.bucket, self.query)
    }

    /// The names of the backups with a manifest in the store, oldest first.
    async fn complete_backups(&self) -> Vec<String> {
        let (mut endpoint, mut region) = (String::new(), String::new());
        for pair in self.query.split('&') {
            match pair.split_once('=') {
                Some(("endpoint", v)) => endpoint = v.split(',').next().unwrap().to_owned(),
                Some(("region", v)) => region = v.to_owned(),
                _ => {}
            }
        }
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(region)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_access_key_id(var("HEARTH_OBJECTS_KEY_ID"))
            .with_secret_access_key(var("HEARTH_OBJECTS_SECRET"))
            .build()
            .unwrap();
        let prefix = object_store::path::Path::from(self.prefix.as_str());
        let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
        let mut names: Vec<String> = listed
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<String> = meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_owned())
                    .collect();
                match parts.as_slice() {
                    [_, name, file] if file == "manifest.json" => Some(name.clone()),
                    _ => None,
                }
            })
            .collect();
        names.sort();
        names
    }
}

/// Runs the `hearth` binary: whether it succeeded, its stdout, its stderr.
fn hearth(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seconds in a backup's name (`hearth-backup-<12 digits>-<tag>`).
fn taken_at(name: &str) -> u64 {
    name.strip_prefix("hearth-backup-")
        .and_then(|rest| rest.get(..12))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{name:?} is not a backup name"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A free loopback port for the metrics listener.
fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// Polls the metrics until `line` is in them (the metrics listener may
/// open a moment after the server says it listens).
async fn wait_for_metric(metrics: &Api, line: &str) {
    use http_body_util::BodyExt as _;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let uri = format!("{}/metrics", metrics.base).parse().unwrap();
        let text = match metrics.client.get(uri).await {
            Ok(res) => {
                let body = res.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8_lossy(&body).into_owned()
            }
            Err(err) => err.to_string(),
        };
        if text.contains(line) {
            return;
        }
        assert!(Instant::now() < deadline, "no {line:?} in\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn scheduled_backups_go_off_site_and_restore_from_there() {
    let place = Place::fresh();
    let dir = tempfile::tempdir().unwrap();
    let to = place.address("");
    let metrics_addr = free_addr();
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--backup-interval-secs",
            "1",
            "--backup-keep",
            "2",
            "--backup-to",
            &to,
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let api = Api::new(server.addr);
    let ws = new_ws();
    let master = api.register(&ws).await;
    for i in 1..=3u64 {
        api.push_ok(
            &ws,
            &master,
            &format!("k{i}"),
            format!("entry {i}").as_bytes(),
        )
        .await;
    }
    let before = api.pull(&ws, &master, 0).await;
    let pushed_at = unix_now();

    // Wait for a backup begun after the pushes to be complete in the store;
    // never more than two kept (three while the newest is being checked,
    // before the oldest is pruned).
    let deadline = Instant::now() + Duration::from_secs(180);
    let name = loop {
        let complete = place.complete_backups().await;
        assert!(complete.len() <= 3, "not pruned: {complete:?}");
        if let Some(name) = complete.iter().rev().find(|n| taken_at(n) > pushed_at) {
            break name.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no backup reached the store: {complete:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let metrics = Api {
        base: format!("http://{metrics_addr}"),
        client: crate::common::client(),
    };
    wait_for_metric(&metrics, "hearth_offsite_backups_total{result=\"ok\"}").await;

    let backup = place.address(&name);
    let (ok, said, err) = hearth(&["verify-backup", &backup]);
    assert!(ok && said.starts_with("ok"), "{said}\n{err}");

    let target = tempfile::tempdir().unwrap();
    let restored = target.path().join("data");
    let (ok, said, err) = hearth(&["restore", &backup, "--data-dir", path(&restored)]);
    assert!(ok, "{said}\n{err}");
    let process = ServerProcess::start(&restored, &[]);
    let after = Api::new(process.addr).pull(&ws, &master, 0).await;
    assert_eq!(
        (after.head, after.floor, &after.frames),
        (before.head, before.floor, &before.frames)
    );

    // An address that names no backup says so, and restores nothing.
    let elsewhere = target.path().join("elsewhere");
    let (ok, _, err) = hearth(&["restore", &to, "--data-dir", path(&elsewhere)]);
    assert!(!ok && err.contains("is not a backup"), "{err}");
    assert!(err.contains("hearth-backup-"), "names the backups: {err}");
    assert!(!elsewhere.exists());
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = free_addr();
    // Nothing listens on port 1.
    let server = ServerProcess::start(
        dir.path(),
        &[
            "--backup-interval-secs",
            "1",
            "--backup-to",
            "s3://hearth/nowhere?endpoint=http://127.0.0.1:1&region=garage",
            "--metrics-listen",
            &metrics_addr,
        ],
    );
    let metrics = Api {
        base: format!("http://{metrics_addr}"),
        client: crate::common::client(),
    };
    wait_for_metric(&metrics, "hearth_offsite_backups_total{result=\"failed\"}").await;
    let api = Api::new(server.addr);
    assert_eq!(api.get("/v1/health").await.status, StatusCode::OK);
    let ws = new_ws();
    let master = api.register(&ws).await;
    assert_eq!(api.push_ok(&ws, &master, "k", b"still here").await, 1);
    let text = metrics.get("/metrics").await.text();
    assert!(
        text.contains("hearth_backups_total{result=\"ok\"}"),
        "local backups go on: {text}"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
