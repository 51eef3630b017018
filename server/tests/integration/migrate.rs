//! `hearth migrate`: a single node's data directory moves into a cluster
//! and back, and a device goes on with the tokens it has: the same
//! entries, the same numbers, its retries landing once. And a running
//! cluster's backup, a point-in-time copy that one node can serve.

use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::common::cluster::Storage;
use crate::common::{Api, Pull, TestServer, id, new_ws};

/// Runs the `hearth` binary with `args` (and the tests' store keys).
async fn hearth(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

async fn migrate(dir: &std::path::Path, storage: &Storage, to: &str) -> std::process::Output {
    let dir = dir.to_string_lossy();
    let args = ["migrate", "--to", to, "--data-dir", &dir];
    let cluster = [
        "--database",
        &storage.database,
        "--objects",
        &storage.objects,
    ];
    hearth(&[&args[..], &cluster[..]].concat()).await
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A workspace with what a move must carry: entries (one large, so an
/// object in a cluster), a snapshot, a chunk, and a phone's token.
struct Workspace {
    ws: String,
    master: String,
    phone: String,
    large: Vec<u8>,
    chunk: Vec<u8>,
    name: ChunkName,
}

impl Workspace {
    async fn on(api: &Api) -> Workspace {
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
        Workspace {
            ws,
            master,
            phone,
            large,
            chunk,
            name,
        }
    }

    /// Checks that `api` answers as `before` was answered, with the same
    /// tokens, and that a retry from before lands once.
    async fn answers_as(&self, api: &Api, before: &Pull, place: &str) {
        let after = api.pull(&self.ws, &self.phone, 0).await;
        assert_eq!(
            (after.head, after.floor),
            (before.head, before.floor),
            "{place}"
        );
        assert!(after.frames == before.frames, "{place}: the frames differ");
        let got = api
            .call(
                &Route::GetChunk {
                    ws: id(&self.ws),
                    name: self.name,
                },
                Some(&self.phone),
                Vec::new(),
            )
            .await;
        assert_eq!(got.status, StatusCode::OK, "{place}");
        assert_eq!(got.body, self.chunk, "{place}");
        assert_eq!(
            api.push_ok(&self.ws, &self.phone, "k3", &self.large).await,
            3,
            "{place}: a retry from before lands once"
        );
    }
}

#[tokio::test]
async fn a_data_directory_moves_into_a_cluster_and_back_and_devices_go_on() {
    let single = TestServer::start().await;
    let w = Workspace::on(&single.api()).await;
    let before = single.api().pull(&w.ws, &w.phone, 0).await;
    let dir = single.stop().await;

    // Into a cluster: the same answers, with the same tokens.
    let storage = Storage::fresh().await;
    let moved = migrate(dir.path(), &storage, "cluster").await;
    assert!(moved.status.success(), "{}", said(&moved));
    assert!(said(&moved).contains("1 workspaces"), "{}", said(&moved));
    let node = storage.node().await;
    w.answers_as(&node.api(), &before, "in the cluster").await;
    assert_eq!(node.api().push_ok(&w.ws, &w.phone, "k4", b"four").await, 4);
    let in_cluster = node.api().pull(&w.ws, &w.master, 0).await;
    drop(node);

    // And back into a data directory.
    let back = tempfile::tempdir().unwrap();
    let moved = migrate(back.path(), &storage, "data-dir").await;
    assert!(moved.status.success(), "{}", said(&moved));
    let single = TestServer::start_in(back, |_| {}).await;
    w.answers_as(&single.api(), &in_cluster, "back home").await;

    // A second move into the same cluster is refused: it is not empty.
    let refused = migrate(dir.path(), &storage, "cluster").await;
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("holds 1 workspaces already"),
        "{}",
        said(&refused)
    );
}

#[tokio::test]
async fn a_running_cluster_is_backed_up_as_a_point_in_time_copy_and_restored_on_one_node() {
    let storage = Storage::fresh().await;
    let node = storage.node().await;
    let w = Workspace::on(&node.api()).await;
    let before = node.api().pull(&w.ws, &w.phone, 0).await;

    // Taken while the node runs.
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_string_lossy();
    let taken = hearth(&[
        "backup",
        "--out",
        &out_dir,
        "--database",
        &storage.database,
        "--objects",
        &storage.objects,
    ])
    .await;
    assert!(taken.status.success(), "{}", said(&taken));
    let made = String::from_utf8_lossy(&taken.stdout).trim().to_owned();
    let restored = tempfile::tempdir().unwrap();
    let dir = restored.path().join("data");
    let restore = hearth(&["restore", &made, "--data-dir", &dir.to_string_lossy()]).await;
    assert!(restore.status.success(), "{}", said(&restore));
    drop(node);

    // One node on the restored copy answers as the cluster did.
    let single = TestServer::start_in(restored, |c| c.data_dir = dir.clone()).await;
    w.answers_as(&single.api(), &before, "restored on one node")
        .await;
}
