//! End-to-end encryption against a server that lies, on a real `hearth`
//! with native devices: the test acts as whoever controls the server. It
//! swaps a device's public key in the server's own index, and plants
//! records in the workspace's log (sealed under a removed device's old
//! key, with its signature or a forged one, from another workspace, or a
//! snapshot passed as an update); the devices refuse and report each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use hearth_device::Device;
use hearth_shared::api::Scope;
use hearth_shared::engine::loro::{ExportMode, VersionVector};
use hearth_shared::identity::{DeviceKeys, DeviceSigner};
use hearth_shared::keys::DeviceSecret;
use hearth_shared::sealed::Kind;
use tempfile::TempDir;

fn origin(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

fn titles(device: &Device) -> Vec<String> {
    device.list_notes().into_iter().map(|n| n.title).collect()
}

/// An encrypted workspace on a laptop (its owner) with `labels` paired
/// by link, each synced once, and the laptop synced after them (so it
/// holds the keys they recorded).
async fn workspace_with(server: &TestServer, dirs: &[TempDir], labels: &[&str]) -> Vec<Device> {
    let mut laptop = Device::create_encrypted(dirs[0].path(), "laptop")
        .await
        .unwrap();
    laptop
        .add_note("Before", "shared by all", &[])
        .await
        .unwrap();
    laptop.register(&origin(server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    let mut devices = Vec::new();
    for (dir, label) in dirs[1..].iter().zip(labels) {
        let link = laptop
            .invite(Scope::ReadWrite, None)
            .await
            .unwrap()
            .to_url();
        let mut device = Device::pair(dir.path(), &link, label).await.unwrap();
        device.sync_once().await.unwrap();
        devices.push(device);
    }
    laptop.sync_once().await.unwrap();
    devices.insert(0, laptop);
    devices
}

fn token_of(device: &Device) -> hearth_shared::id::TokenId {
    device
        .profile()
        .server
        .as_ref()
        .and_then(|s| s.token_id.clone())
        .unwrap()
}

fn index(server: &TestServer) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(server.dir.path().join("index.sqlite")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    db
}

#[tokio::test]
async fn a_device_key_swapped_in_the_servers_index_gets_no_new_key_and_the_owner_is_told() {
    let server = TestServer::start().await;
    let dirs: Vec<TempDir> = (0..4).map(|_| TempDir::new().unwrap()).collect();
    let [mut laptop, mut phone, tablet, lost] =
        <[Device; 4]>::try_from(workspace_with(&server, &dirs, &["phone", "tablet", "lost"]).await)
            .unwrap();

    // Whoever controls the server puts a key of its own in place of the
    // phone's, so that the next key epoch would be wrapped for it.
    let attacker = DeviceSecret::new([0xee; 32]);
    let swapped = hearth_shared::devicekey::public_key(&attacker);
    let phone_token = token_of(&phone);
    let changed = index(&server)
        .execute(
            "UPDATE tokens SET public_key = ?1 WHERE id = ?2",
            rusqlite::params![swapped.to_vec(), phone_token.as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1);

    laptop.remove_device(&token_of(&lost)).await.unwrap();
    assert_eq!(laptop.keys().unwrap().current, 2);
    let copies: Vec<String> = index(&server)
        .prepare("SELECT token_id FROM device_wraps WHERE epoch = 2")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        copies.contains(&token_of(&tablet).to_string()),
        "{copies:?}"
    );
    assert!(
        !copies.contains(&phone_token.to_string()),
        "the swapped key got a copy: {copies:?}"
    );
    let warnings = laptop.status().key_warnings;
    let phone_fingerprint =
        DeviceKeys::of(phone.keys().unwrap().device.as_ref().unwrap()).fingerprint();
    assert!(
        warnings.iter().any(|w| w.contains(phone_token.as_str())
            && w.contains("different key")
            && w.contains(&phone_fingerprint)),
        "{warnings:?}"
    );

    // The phone opens nothing written under the new key, and says why.
    laptop
        .add_note("After the swap", "not for the server", &[])
        .await
        .unwrap();
    laptop.sync_once().await.unwrap();
    let refused = phone.sync_once().await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(!titles(&phone).contains(&"After the swap".to_owned()));
}

#[tokio::test]
async fn records_planted_in_the_log_are_refused_by_every_device() {
    let server = TestServer::start().await;
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let [mut laptop, mut phone, mut tablet] =
        <[Device; 3]>::try_from(workspace_with(&server, &dirs, &["phone", "tablet"]).await)
            .unwrap();
    tablet
        .add_note("Sent by the tablet", "", &[])
        .await
        .unwrap();
    tablet.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    phone.sync_once().await.unwrap();

    // The tablet is lost; the laptop removes it. Whoever holds it (or the
    // server, given its old keys) writes on under the old key.
    let stolen = tablet.keys().unwrap().clone();
    let before: VersionVector = tablet.engine().doc().oplog_vv();
    laptop.remove_device(&token_of(&tablet)).await.unwrap();
    tablet
        .add_note("Planted", "injected after the removal", &[])
        .await
        .unwrap();
    let update = tablet
        .engine()
        .doc()
        .export(ExportMode::updates(&before))
        .unwrap();
    let workspace = laptop.profile().workspace.clone();
    let old_key = stolen.writing().unwrap().clone();
    let signers = [
        DeviceSigner::of(stolen.device.as_ref().unwrap()),
        DeviceSigner::of(&DeviceSecret::new([0x99; 32])),
    ];
    let mut planted = Vec::new();
    for (i, signer) in signers.iter().enumerate() {
        planted.push(
            hearth_shared::signed::seal(
                &old_key,
                Kind::Update,
                &update,
                3,
                [i as u8; 12],
                &workspace,
                signer,
            )
            .unwrap(),
        );
    }
    // Sealed for another workspace, and a snapshot in an update's place,
    // under the key the laptop and phone hold now, signed by the phone.
    let current = laptop.keys().unwrap().writing().unwrap().clone();
    let phone_signer = DeviceSigner::of(phone.keys().unwrap().device.as_ref().unwrap());
    let moved = hearth_shared::signed::seal(
        &current,
        Kind::Update,
        &update,
        3,
        [7; 12],
        &hearth_shared::id::WorkspaceId::from_random([1; 16]),
        &phone_signer,
    )
    .unwrap();
    let snapshot = hearth_shared::signed::seal(
        &current,
        Kind::Snapshot,
        &update,
        3,
        [8; 12],
        &workspace,
        &phone_signer,
    )
    .unwrap();

    // The server puts them in the log (here through the phone's valid
    // token: the log cannot tell who wrote what).
    let phone_token = phone.profile().server.as_ref().unwrap().token.clone();
    let ws = workspace.to_string();
    for (i, record) in planted.iter().chain([&moved, &snapshot]).enumerate() {
        server
            .api()
            .push_ok(&ws, &phone_token, &format!("planted-{i}"), record)
            .await;
    }

    for device in [&mut laptop, &mut phone] {
        device.sync_once().await.unwrap();
        let names = titles(device);
        assert!(
            names.contains(&"Sent by the tablet".to_owned()),
            "{names:?}"
        );
        assert!(!names.contains(&"Planted".to_owned()), "{names:?}");
        let status = device.status();
        assert_eq!(status.refused_from_removed, 2, "{status:?}");
        assert_eq!(status.skipped_entries, 4, "{status:?}");
    }
}
