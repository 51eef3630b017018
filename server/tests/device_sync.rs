//! Two (and three) native devices against a real `hearth` on loopback: a
//! workspace made offline is registered, a second device pairs through a
//! share link, both edit, and both end with the same notes; live events
//! wake a waiting device; the server compacts; a restart of the server
//! loses nothing; a batch the device lost with its machine is sent again
//! and counted once; a read-only device never writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestServer, files_under};
use hearth_device::Device;
use hearth_migrations::NoteFilter;
use hearth_shared::api::Scope;
use hearth_shared::engine::{SyncState, Thresholds};
use tempfile::TempDir;

/// A guard against a hang (a broken stream), not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn origin(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

fn titles(device: &Device) -> Vec<String> {
    let mut t: Vec<String> = device.list_notes().into_iter().map(|n| n.title).collect();
    t.sort();
    t
}

/// A device paired to `owner`'s workspace through a read-write share link.
async fn paired(owner: &Device, dir: impl AsRef<std::path::Path>, label: &str) -> Device {
    let link = owner.invite(Scope::ReadWrite, None).await.unwrap().to_url();
    Device::pair(dir, &link, label).await.unwrap()
}

/// Same operations (so the same state), and the same notes and lists.
fn same_document(a: &Device, b: &Device) {
    assert_eq!(a.engine().doc().oplog_vv(), b.engine().doc().oplog_vv());
    let (wa, wb) = (a.workspace(), b.workspace());
    assert_eq!(
        wa.list_notes(NoteFilter::All),
        wb.list_notes(NoteFilter::All)
    );
    assert_eq!(wa.list_task_lists(), wb.list_task_lists());
}

/// A device without the key of an encrypted workspace: a note added on it
/// is refused before it leaves (it needs the key), and the owner's device
/// finds nothing new on the server.
async fn writes_nothing_without_the_key(keyless: &mut Device, owner: &mut Device) {
    // The owner's own last changes first (the keys it records).
    owner.sync_once().await.unwrap();
    let head = owner.status().head;
    keyless
        .add_note("from a keyless device", "without the key", &[])
        .await
        .unwrap();
    match keyless.sync_once().await {
        Err(hearth_device::DeviceError::Engine(e)) => assert_eq!(
            e.key_problem(),
            Some(hearth_shared::engine::KeyProblem::NeedsKey)
        ),
        other => panic!("a keyless device synced: {other:?}"),
    }
    owner.sync_once().await.unwrap();
    assert_eq!(
        owner.status().head,
        head,
        "the keyless device wrote nothing"
    );
}

#[tokio::test]
async fn two_devices_pair_and_converge() {
    let server = TestServer::start().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());

    // The laptop creates the workspace offline and adds a note.
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop
        .add_note("Groceries", "milk", &["home"])
        .await
        .unwrap();
    assert_eq!(laptop.status().state, SyncState::SavedLocally);

    // It reaches the server: registers, pushes.
    laptop.register(&origin(&server)).await.unwrap();
    let report = laptop.sync_once().await.unwrap();
    assert_eq!(report.pushed, 1);
    assert_eq!(laptop.status().state, SyncState::Synced);

    // The phone pairs through a share link and gets the workspace.
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let mut phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();
    assert_eq!(phone.profile().workspace, laptop.profile().workspace);
    assert_eq!(titles(&phone), ["Groceries"]);

    // A used link opens nothing.
    let dir_c = TempDir::new().unwrap();
    assert!(Device::pair(dir_c.path(), &link, "thief").await.is_err());

    // Both edit the same note and add their own, "at the same time".
    let id = laptop.list_notes()[0].id.clone();
    laptop
        .edit(|ws, now| ws.update_note(&id, Some("Groceries!"), None, now))
        .await
        .unwrap();
    laptop.add_note("From the laptop", "", &[]).await.unwrap();
    phone
        .edit(|ws, now| ws.set_tags(&id, &["home", "weekly"], now))
        .await
        .unwrap();
    phone.add_note("From the phone", "", &[]).await.unwrap();
    phone.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    phone.sync_once().await.unwrap();

    same_document(&laptop, &phone);
    assert_eq!(
        titles(&laptop),
        ["From the laptop", "From the phone", "Groceries!"]
    );
    let note = phone.workspace().get_note(&id).unwrap();
    assert_eq!(note.tags, ["home", "weekly"]);
    for device in [&laptop, &phone] {
        let status = device.status();
        assert_eq!(
            (status.state, status.pending),
            (SyncState::Synced, 0),
            "{status:?}"
        );
    }

    // What a device saved survives a restart of the device.
    drop(phone);
    let phone = Device::open(dir_b.path()).await.unwrap();
    same_document(&laptop, &phone);
}

#[tokio::test]
async fn a_live_event_tells_a_device_to_pull() {
    let server = TestServer::start().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    let mut phone = paired(&laptop, dir_b.path(), "phone").await;

    let wait = phone.engine().wait_for_head();
    let edit = async {
        laptop.add_note("Ping", "", &[]).await.unwrap();
        laptop.sync_once().await.unwrap();
    };
    let (head, ()) = tokio::time::timeout(PATIENCE, async { tokio::join!(wait, edit) })
        .await
        .unwrap();
    let head = head.unwrap();
    assert!(head > phone.status().cursor);
    phone.engine_mut().note_head(head);
    assert!(phone.engine().behind());
    phone.sync_once().await.unwrap();
    assert_eq!(titles(&phone), ["Ping"]);

    // `watch` keeps a device in step by itself: the phone pulls the
    // laptop's next note without being asked.
    let (cursor_tx, mut cursor_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    phone.engine_mut().set_observer(Box::new(move |status| {
        let _ = cursor_tx.send(status.cursor);
    }));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = async {
        phone
            .watch(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    };
    let writer = async {
        laptop.add_note("Pong", "", &[]).await.unwrap();
        laptop.sync_once().await.unwrap();
        let seq = laptop.status().last_ack.unwrap().seq;
        while let Some(cursor) = cursor_rx.recv().await {
            if cursor >= seq {
                break;
            }
        }
        let _ = stop_tx.send(());
    };
    tokio::time::timeout(PATIENCE, async { tokio::join!(watcher, writer) })
        .await
        .unwrap();
    assert_eq!(titles(&phone), ["Ping", "Pong"]);
}

#[tokio::test]
async fn compaction_on_the_server_and_a_late_device() {
    let server = TestServer::start().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.engine_mut().set_thresholds(Thresholds {
        server_compact_min_bytes: 500,
        local_compact_min_bytes: 500,
    });
    let mut compacted = false;
    for i in 0..30 {
        laptop
            .add_note(
                &format!("Note {i}"),
                &"some words in a body ".repeat(10),
                &["t"],
            )
            .await
            .unwrap();
        compacted |= laptop.sync_once().await.unwrap().compacted_server;
    }
    assert!(compacted, "the laptop compacted the server log");
    assert!(laptop.engine().meta().floor > 0);

    // A device that pairs now gets the snapshot, then the entries after it.
    let phone = paired(&laptop, dir_b.path(), "phone").await;
    assert_eq!(phone.list_notes().len(), 30);
    same_document(&laptop, &phone);
}

#[tokio::test]
async fn a_server_restart_loses_nothing() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop.add_note("Before", "", &[]).await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();

    let data = server.stop().await;
    laptop.add_note("While down", "", &[]).await.unwrap();
    assert!(laptop.sync_once().await.is_err());
    let status = laptop.status();
    assert_eq!(status.state, SyncState::Offline, "{status:?}");
    assert!(status.pending > 0);

    let server = TestServer::start_in(data, |c| c.listen = addr).await;
    laptop.sync_once().await.unwrap();
    assert_eq!(laptop.status().state, SyncState::Synced);
    let phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();
    assert_eq!(titles(&phone), ["Before", "While down"]);
    drop(server);
}

/// A batch is written to the device's journal before its push without
/// waiting for the disk (the record of its acknowledgement is what makes
/// it durable). A machine that loses both, after the server stored the
/// batch, loses no note: the device forms the batch again and sends it.
/// A plaintext batch comes out the same, so its key is the same and the
/// server keeps one copy; a sealed one has a new nonce, so the server keeps
/// a second copy, which imports as once.
#[tokio::test]
async fn a_batch_the_device_lost_with_its_machine_is_sent_again_and_counted_once() {
    let server = TestServer::start().await;
    for encrypted in [false, true] {
        let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let mut laptop = match encrypted {
            false => Device::create(dir_a.path(), "laptop").await.unwrap(),
            true => Device::create_encrypted(dir_a.path(), "laptop")
                .await
                .unwrap(),
        };
        laptop.add_note("Groceries", "milk", &[]).await.unwrap();
        laptop.register(&origin(&server)).await.unwrap();
        laptop.sync_once().await.unwrap();

        laptop
            .add_note("Lost with the machine", "", &[])
            .await
            .unwrap();
        let journal = std::fs::read_dir(dir_a.path().join("store"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("journal-"))
            .unwrap();
        // What the disk held once the edit was saved.
        let saved = std::fs::metadata(&journal).unwrap().len();
        assert_eq!(laptop.sync_once().await.unwrap().pushed, 1);
        let head = laptop.status().head;
        drop(laptop);
        // The machine goes down: the batch's record and its
        // acknowledgement never reached the disk.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&journal)
            .unwrap()
            .set_len(saved)
            .unwrap();

        let mut laptop = Device::open(dir_a.path()).await.unwrap();
        assert!(laptop.status().pending > 0, "{:?}", laptop.status());
        assert_eq!(laptop.sync_once().await.unwrap().pushed, 1);
        let copies = if encrypted { 2 } else { 1 };
        assert_eq!(
            laptop.status().head,
            head + copies - 1,
            "encrypted: {encrypted}"
        );
        assert_eq!(laptop.status().state, SyncState::Synced);

        let phone = paired(&laptop, dir_b.path(), "phone").await;
        assert_eq!(titles(&phone), ["Groceries", "Lost with the machine"]);
        laptop.sync_once().await.unwrap();
        assert_eq!(titles(&laptop), titles(&phone));
        same_document(&laptop, &phone);
    }
}

#[tokio::test]
async fn a_read_only_device_reads_but_never_writes() {
    let server = TestServer::start().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop.add_note("Shared", "", &[]).await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    let link = laptop.invite(Scope::ReadOnly, None).await.unwrap().to_url();
    let mut viewer = Device::pair(dir_b.path(), &link, "viewer").await.unwrap();
    assert_eq!(titles(&viewer), ["Shared"]);

    viewer.add_note("Local only", "", &[]).await.unwrap();
    viewer.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    assert_eq!(titles(&laptop), ["Shared"]);
    assert!(
        laptop
            .workspace()
            .list_notes(NoteFilter::All)
            .iter()
            .all(|n| n.title != "Local only")
    );
}

#[tokio::test]
async fn an_edit_larger_than_the_body_limit_still_syncs() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4_000).await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    // Hex digits of a hash: they compress too little to fit one body.
    let body: String = (0..3_000u32)
        .map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761)))
        .collect();
    laptop.add_note("Big", &body, &[]).await.unwrap();
    let report = laptop.sync_once().await.unwrap();
    assert!(report.pushed > 1, "{report:?}");
    assert_eq!(laptop.status().pending, 0);
    let phone = paired(&laptop, dir_b.path(), "phone").await;
    assert_eq!(phone.list_notes()[0].body, body);
}

#[tokio::test]
async fn an_encrypted_workspace_pairs_by_link_and_the_server_and_its_backup_hold_no_note_text() {
    let server = TestServer::start().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let texts = [
        "Passport renewal",
        "the spare key is under the third flowerpot",
        "From the phone",
        "the alarm code is 4471",
    ];

    // The laptop makes an encrypted workspace: its key exists before any
    // server does.
    let mut laptop = Device::create_encrypted(dir_a.path(), "laptop")
        .await
        .unwrap();
    assert!(laptop.is_encrypted());
    laptop.add_note(texts[0], texts[1], &[]).await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.sync_once().await.unwrap();

    // The phone pairs by link: the key comes wrapped for the link's secret,
    // which travels only in the fragment.
    let link = laptop.invite(Scope::ReadWrite, None).await.unwrap();
    let secret = link
        .secret
        .expect("an encrypted workspace's link carries a secret");
    let url = link.to_url();
    let (_, fragment) = url.split_once('#').unwrap();
    assert!(fragment.contains("secret="), "{url}");
    let mut phone = Device::pair(dir_b.path(), &url, "phone").await.unwrap();
    assert!(phone.is_encrypted());
    assert_eq!(titles(&phone), [texts[0]]);

    // Both edit; both converge.
    phone.add_note(texts[2], texts[3], &[]).await.unwrap();
    phone.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    same_document(&laptop, &phone);
    assert_eq!(laptop.status().skipped_entries, 0);

    // A device joined with a bare token, without the key, imports and
    // writes nothing, and says why.
    let token = laptop.mint_token("tablet", Scope::ReadWrite).await.unwrap();
    let dir_c = TempDir::new().unwrap();
    let mut tablet = Device::join(
        dir_c.path(),
        &origin(&server),
        laptop.profile().workspace.clone(),
        &token.token,
        Scope::ReadWrite,
        "tablet",
    )
    .await
    .unwrap();
    assert!(titles(&tablet).is_empty());
    let said = tablet.status().last_error.unwrap_or_default();
    assert!(said.contains("does not have its key"), "{said}");
    writes_nothing_without_the_key(&mut tablet, &mut laptop).await;

    // The server's data directory and a backup of it: no note text, no
    // workspace key, no pairing secret.
    let backups = TempDir::new().unwrap();
    let backup = hearth::backup::backup(server.dir.path(), backups.path()).unwrap();
    let keys = hearth_device::keyring::load(dir_a.path()).unwrap().unwrap();
    let key = keys.writing().unwrap().bytes().to_vec();
    let secrets: Vec<Vec<u8>> = texts
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .chain([secret.to_vec(), key])
        .collect();
    for root in [server.dir.path(), backup.as_path()] {
        for (path, bytes) in files_under(root) {
            for s in &secrets {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_slice()),
                    "{} holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(s)
                );
            }
        }
    }
}

/// A workspace made before encryption is encrypted in place on its owner's
/// device: afterwards the server's data directory and its next backup hold
/// no note text (not even in what compaction keeps for undo), devices
/// without the key stop and say so, and a device paired afterwards reads
/// everything.
#[tokio::test]
async fn an_unencrypted_workspace_is_encrypted_in_place_and_no_note_text_stays_on_the_server() {
    let server = TestServer::start().await;
    let (dir_a, dir_b, dir_c) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let texts = [
        "Insurance numbers",
        "policy 7734-ab for the house, 9921 for the car",
        "Tax office",
        "the reference is ZX-5561, call before March",
    ];
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    assert!(!laptop.is_encrypted());
    laptop.add_note(texts[0], texts[1], &[]).await.unwrap();
    laptop.register(&origin(&server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let mut phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();
    phone.add_note(texts[2], texts[3], &[]).await.unwrap();
    phone.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    same_document(&laptop, &phone);
    // (Before, the server holds zstd envelopes that open without a key:
    // the engine's test of encrypting in place checks that they do.)

    // The phone's plain token cannot do it; the owner's device can.
    assert!(matches!(
        phone.encrypt().await,
        Err(hearth_device::DeviceError::NotMaster)
    ));
    laptop.encrypt().await.unwrap();
    assert!(laptop.is_encrypted());
    assert_eq!(titles(&laptop).len(), 2);

    // No note text on the server's disk, nor in a backup taken now, nor in
    // what compaction kept for undo (there is none left).
    let backups = TempDir::new().unwrap();
    let backup = hearth::backup::backup(server.dir.path(), backups.path()).unwrap();
    for root in [server.dir.path(), backup.as_path()] {
        for (path, bytes) in files_under(root) {
            assert!(
                !path.components().any(|c| c.as_os_str() == "undo"),
                "{} is a kept copy of the plaintext log",
                path.display()
            );
            for t in texts {
                assert!(
                    !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                    "{} holds {t:?}",
                    path.display()
                );
            }
        }
    }

    // The phone, restarted, needs the key and writes nothing.
    drop(phone);
    let mut phone = Device::open(dir_b.path()).await.unwrap();
    writes_nothing_without_the_key(&mut phone, &mut laptop).await;

    // A tablet paired now gets the key with the link and reads everything.
    let tablet = paired(&laptop, dir_c.path(), "tablet").await;
    assert!(tablet.is_encrypted());
    // The tablet recorded its keys in the workspace; the laptop takes them.
    laptop.sync_once().await.unwrap();
    same_document(&laptop, &tablet);
    assert_eq!(tablet.status().skipped_entries, 0);
}

/// An encrypted workspace made on a laptop in `dir`, with a note "Before"
/// (`body`), registered with `server` and synced.
async fn encrypted_owner(server: &TestServer, dir: &TempDir, body: &str) -> Device {
    let mut laptop = Device::create_encrypted(dir.path(), "laptop")
        .await
        .unwrap();
    laptop.add_note("Before", body, &[]).await.unwrap();
    laptop.register(&origin(server)).await.unwrap();
    laptop.sync_once().await.unwrap();
    laptop
}

/// The device's server link (token, token id).
fn link_of(device: &Device) -> hearth_device::ServerLink {
    device.profile().server.clone().unwrap()
}

#[tokio::test]
async fn removing_a_device_rotates_the_key_and_the_removed_device_opens_nothing_written_after() {
    let server = TestServer::start().await;
    let dirs: Vec<TempDir> = (0..4).map(|_| TempDir::new().unwrap()).collect();
    let mut laptop = encrypted_owner(&server, &dirs[0], "written while all four had the key").await;
    let mut paired = Vec::new();
    for (dir, label) in dirs[1..].iter().zip(["phone", "tablet", "away"]) {
        let link = laptop
            .invite(Scope::ReadWrite, None)
            .await
            .unwrap()
            .to_url();
        let mut device = Device::pair(dir.path(), &link, label).await.unwrap();
        device.sync_once().await.unwrap();
        paired.push(device);
    }
    let [mut phone, mut tablet, mut away] = <[Device; 3]>::try_from(paired).unwrap();
    laptop.sync_once().await.unwrap();
    // Each device recorded its keys in the workspace as it joined; the
    // tablet takes those of the device paired after it.
    tablet.sync_once().await.unwrap();
    same_document(&laptop, &tablet);

    // The away device edits offline, under the first key.
    away.add_note("Written while away", "under the old key", &[])
        .await
        .unwrap();

    // The tablet is lost; someone keeps a copy of its token and keys.
    let stolen = link_of(&tablet);
    let stolen_keys = tablet.keys().unwrap().clone();
    assert_eq!(stolen_keys.current, 1);
    laptop
        .remove_device(stolen.token_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        laptop.keys().unwrap().current,
        2,
        "the laptop writes with a new key"
    );
    let secret = "the new alarm code is 4417";
    laptop.add_note("After removal", secret, &[]).await.unwrap();
    laptop.sync_once().await.unwrap();

    // The removed device's token gets 401, both through its engine and
    // for anyone who copied it.
    match tablet.sync_once().await {
        Err(hearth_device::DeviceError::Engine(e)) => assert_eq!(
            e.refusal(),
            Some(hearth_shared::error::ErrorCode::TokenRevoked)
        ),
        other => panic!("a removed device synced: {other:?}"),
    }
    let ws = laptop.profile().workspace.to_string();
    let path = hearth_shared::routes::Route::Pull {
        ws: laptop.profile().workspace.clone(),
        after: 0,
    }
    .path();
    let refused = server.api().get_auth(&path, &stolen.token).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.code(), "token_revoked");

    // Given every byte the server holds now, its old keys open nothing
    // written after the removal: each such record is sealed under epoch 2.
    let pulled = server.api().pull(&ws, &link_of(&laptop).token, 0).await;
    let mut newer = 0;
    for (_, seq, payload) in &pulled.frames {
        let header = hearth_shared::signed::peek(payload).unwrap();
        if header.epoch == 2 {
            newer += 1;
            assert_eq!(
                hearth_shared::signed::open(
                    &stolen_keys.epochs,
                    payload,
                    &laptop.profile().workspace,
                    1 << 24
                )
                .err(),
                Some(hearth_shared::sealed::OpenError::UnknownEpoch(2)),
                "record {seq}"
            );
        }
    }
    assert!(
        newer >= 2,
        "the snapshot and the new note are under the new key"
    );
    for (path, bytes) in files_under(server.dir.path()) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the note text",
            path.display()
        );
    }

    // The phone goes on: it takes the new key, reads the note, writes
    // with the new key, and the laptop reads it.
    phone.sync_once().await.unwrap();
    assert_eq!(phone.keys().unwrap().current, 2);
    assert!(titles(&phone).contains(&"After removal".to_owned()));
    phone
        .add_note("From the phone", "after the rotation", &[])
        .await
        .unwrap();
    phone.sync_once().await.unwrap();
    laptop.sync_once().await.unwrap();
    assert!(titles(&laptop).contains(&"From the phone".to_owned()));

    // The device that was away comes back: what it wrote under the old
    // key merges, and it takes the new one.
    away.sync_once().await.unwrap();
    away.sync_once().await.unwrap();
    assert_eq!(away.keys().unwrap().current, 2);
    laptop.sync_once().await.unwrap();
    phone.sync_once().await.unwrap();
    same_document(&laptop, &away);
    same_document(&laptop, &phone);
    assert!(titles(&laptop).contains(&"Written while away".to_owned()));
    assert_eq!(away.status().skipped_entries, 0);

    // It kept the new key: after a restart it still reads and writes.
    drop(away);
    let away = Device::open(dirs[3].path()).await.unwrap();
    assert_eq!(away.keys().unwrap().current, 2);

    // A device paired now gets both epochs with its link.
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let late_dir = TempDir::new().unwrap();
    let late = Device::pair(late_dir.path(), &link, "late").await.unwrap();
    assert_eq!(late.keys().unwrap().epochs.len(), 2);
    // It recorded its keys in the workspace as it joined.
    laptop.sync_once().await.unwrap();
    same_document(&laptop, &late);
    assert_eq!(late.status().skipped_entries, 0);
}

#[tokio::test]
async fn the_recovery_key_opens_what_was_written_after_a_rotation() {
    let server = TestServer::start().await;
    let (dir_a, dir_b, dir_c) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let mut laptop = encrypted_owner(&server, &dir_a, "under the first key").await;
    let recovery = laptop.make_recovery_key().await.unwrap();
    assert_eq!(recovery.split('-').count(), 11, "{recovery}");
    let phone = paired(&laptop, dir_b.path(), "phone").await;
    laptop
        .remove_device(link_of(&phone).token_id.as_ref().unwrap())
        .await
        .unwrap();
    laptop
        .add_note("After", "under the second key", &[])
        .await
        .unwrap();
    laptop.sync_once().await.unwrap();

    // Every device lost: the recovery key alone brings everything back,
    // both key epochs, and locks the old owner out.
    let mut back = Device::recover(
        dir_c.path(),
        &origin(&server),
        &recovery.to_lowercase(),
        "new laptop",
    )
    .await
    .unwrap();
    back.sync_once().await.unwrap();
    assert_eq!(back.keys().unwrap().epochs.len(), 2);
    assert_eq!(titles(&back), ["After", "Before"]);
    assert_eq!(back.status().skipped_entries, 0);
    match laptop.sync_once().await {
        Err(hearth_device::DeviceError::Engine(e)) => assert_eq!(
            e.refusal(),
            Some(hearth_shared::error::ErrorCode::TokenRevoked)
        ),
        other => panic!("the old owner synced: {other:?}"),
    }
    // A mistyped key is refused before anything reaches the server.
    let mut typo = recovery.clone();
    typo.replace_range(0..1, if typo.starts_with('A') { "B" } else { "A" });
    let elsewhere = TempDir::new().unwrap();
    assert!(
        Device::recover(elsewhere.path(), &origin(&server), &typo, "x")
            .await
            .is_err()
    );
}
