//! `hearth migrate`: a single node's data directory moves into a cluster
//! and back, and a device goes on with the tokens it has: the same
//! entries, the same numbers, its retries landing once.

use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::common::cluster::Storage;
use crate::common::{TestServer, id, new_ws};

async fn migrate(dir: &std::path::Path, storage: &Storage, to: &str) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["migrate", "--to", to, "--data-dir"])
        .arg(dir)
        .args([
            "--database",
            &storage.database,
            "--objects",
            &storage.objects,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hearth migrate --to {to} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test]
async fn a_data_directory_moves_into_a_cluster_and_back_and_devices_go_on() {
    // A single node with a workspace: entries (one large), a snapshot, a
    // chunk, and a phone's token.
    let single = TestServer::start().await;
    let api = single.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let phone = api.mint(&ws, &master, "rw").await;
    api.push_ok(&ws, &phone, "k1", b"one").await;
    api.push_ok(&ws, &phone, "k2", b"two").await;
    let snap = api.snapshot(&ws, &master, 2, b"state up to two").await;
    assert_eq!(snap.status, StatusCode::OK, "{}", snap.text());
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    api.push_ok(&ws, &phone, "k3", &large).await;
    let chunk = b"sealed chunk".to_vec();
    let name = ChunkName::from_digest(Sha256::digest(&chunk).into());
    let put = api
        .call(
            &Route::PutChunk { ws: id(&ws), name },
            Some(&phone),
            chunk.clone(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    let before = api.pull(&ws, &phone, 0).await;
    let dir = single.stop().await;

    // Into a cluster: the same answers, with the same tokens.
    let storage = Storage::fresh().await;
    let said = migrate(dir.path(), &storage, "cluster").await;
    assert!(said.contains("1 workspaces"), "{said}");
    let node = storage.node().await;
    let api = node.api();
    let after = api.pull(&ws, &phone, 0).await;
    assert_eq!((after.head, after.floor), (before.head, before.floor));
    assert!(
        after.frames == before.frames,
        "the frames differ after the move"
    );
    let got = api
        .call(
            &Route::GetChunk { ws: id(&ws), name },
            Some(&phone),
            Vec::new(),
        )
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, chunk);
    assert_eq!(
        api.push_ok(&ws, &phone, "k3", &large).await,
        3,
        "a retry from before the move lands once"
    );
    assert_eq!(api.push_ok(&ws, &phone, "k4", b"four").await, 4);
    let in_cluster = api.pull(&ws, &master, 0).await;
    drop(node);

    // And back into a data directory.
    let back = tempfile::tempdir().unwrap();
    migrate(back.path(), &storage, "data-dir").await;
    let single = TestServer::start_in(back, |_| {}).await;
    let api = single.api();
    let home = api.pull(&ws, &phone, 0).await;
    assert_eq!((home.head, home.floor), (4, 2));
    assert!(
        home.frames == in_cluster.frames,
        "the frames differ after moving back"
    );
    assert_eq!(api.push_ok(&ws, &phone, "k4", b"four").await, 4);

    // A second move into the same cluster is refused: it is not empty.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["migrate", "--to", "cluster", "--data-dir"])
        .arg(dir.path())
        .args([
            "--database",
            &storage.database,
            "--objects",
            &storage.objects,
        ])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds 1 workspaces already"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
