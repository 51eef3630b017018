//! End-to-end encryption against a server that lies, in the engine, with
//! the in-memory server model acting as the attacker: it swaps a device's
//! public key, plants records sealed under a removed device's key, moves
//! records between workspaces and kinds, and withholds entries. Each test
//! shows what the devices refuse or report. (The same attacks on a real
//! `hearth` with native devices are in the server's `active_server` test.)
#![cfg(all(feature = "engine", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::rc::Rc;

use common::block_on;
use hearth_shared::engine::loro::{ExportMode, VersionVector};
use hearth_shared::engine::{Engine, EngineConfig, MemoryServer, MemoryStore, MemoryTransport};
use hearth_shared::id::WorkspaceId;
use hearth_shared::identity::{DeviceKeys, DeviceSigner};
use hearth_shared::keys::{DeviceSecret, EpochKey, Keyring};
use hearth_shared::sealed::Kind;

type E = Engine<MemoryStore, Rc<MemoryTransport>>;

const WS: [u8; 16] = [7; 16];
const KEY_1: [u8; 32] = [0x61; 32];

fn workspace() -> WorkspaceId {
    WorkspaceId::from_random(WS)
}

/// A device (`seed` picks its token, peer id and device secret) holding
/// the workspace's first key.
fn device(server: &MemoryServer, seed: u8, owner: bool) -> (E, Rc<MemoryTransport>) {
    let transport = Rc::new(MemoryTransport::new(server.clone(), u64::from(seed)));
    transport.set_owner(owner);
    let mut engine = block_on(Engine::open(
        MemoryStore::new(),
        transport.clone(),
        u64::from(seed),
        EngineConfig::default(),
    ))
    .unwrap();
    let mut ring = Keyring::first(KEY_1);
    ring.device = Some(DeviceSecret::new([seed; 32]));
    engine.set_keys(keys_of(ring));
    (engine, transport)
}

fn keys_of(ring: Keyring) -> hearth_shared::engine::Keys {
    let seed = ring.device.as_ref().map_or(0, |d| d.bytes()[0]);
    let mut n = 0u64;
    hearth_shared::engine::Keys {
        ring,
        workspace: workspace(),
        iv: Box::new(move || {
            n += 1;
            let mut iv = [seed; 12];
            iv[..8].copy_from_slice(&n.to_be_bytes());
            iv
        }),
        random: Box::new(move || {
            n += 1;
            let mut r = [seed ^ 0x5c; 32];
            r[..8].copy_from_slice(&n.to_be_bytes());
            r
        }),
    }
}

fn write(e: &mut E, s: &str) {
    let t = e.doc().get_text("t");
    t.insert(t.len_unicode(), s).unwrap();
    block_on(e.save_local()).unwrap();
}

fn text(e: &E) -> String {
    e.doc().get_text("t").to_string()
}

fn sync(e: &mut E) {
    for _ in 0..3 {
        block_on(e.sync(1)).unwrap();
    }
}

/// The owner removes `removed`'s device: revokes its token, then rotates
/// to epoch 2, recording the removal.
fn remove(server: &MemoryServer, owner: &mut E, removed: &MemoryTransport) {
    server.revoke(removed.token());
    let mut next = owner.take_changed_ring().unwrap_or_else(|| {
        let mut ring = Keyring::first(KEY_1);
        ring.device = Some(DeviceSecret::new([1; 32]));
        ring
    });
    next.learn(EpochKey::new(2, [0x62; 32]));
    block_on(owner.rotate(&next, Some(removed.token()), 2)).unwrap();
}

/// What `e` has that `since` lacks, as Loro updates.
fn updates_since(e: &E, since: &VersionVector) -> Vec<u8> {
    e.doc().export(ExportMode::updates(since)).unwrap()
}

/// Plants in the server's log `payload` as an update of this workspace
/// sealed under the first key epoch, signed by the device whose secret is
/// `[signer; 32]` (as a removed device, or a server holding its keys, can).
fn plant(server: &MemoryServer, payload: &[u8], iv: u8, signer: u8) {
    let record = hearth_shared::signed::seal(
        &EpochKey::new(1, KEY_1),
        Kind::Update,
        payload,
        0,
        [iv; 12],
        &workspace(),
        &DeviceSigner::of(&DeviceSecret::new([signer; 32])),
    )
    .unwrap();
    server.inject_entry(&record);
}

#[test]
fn a_device_key_swapped_by_the_server_gets_no_new_key_and_is_reported() {
    let server = MemoryServer::new();
    let (mut owner, _) = device(&server, 1, true);
    let (mut phone, phone_net) = device(&server, 2, false);
    let (mut laptop, laptop_net) = device(&server, 3, false);
    let (mut lost, lost_net) = device(&server, 4, false);
    for e in [&mut owner, &mut phone, &mut laptop, &mut lost] {
        sync(e);
    }
    // The server puts a key of its own in place of the phone's.
    let attacker = DeviceSecret::new([0xee; 32]);
    server.swap_device_key(
        phone_net.token(),
        hearth_shared::devicekey::public_key(&attacker),
    );
    remove(&server, &mut owner, &lost_net);

    let copies = server.wraps_of(2);
    assert!(copies.contains(laptop_net.token()), "the honest device");
    assert!(
        !copies.contains(phone_net.token()),
        "no copy for the swapped key"
    );
    let warnings = owner.status().key_warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&phone_net.token().to_string())
            && warnings[0].contains("different key")
            && warnings[0].contains(
                &DeviceKeys::of(&DeviceSecret::new([2; 32]))
                    .fingerprint()
                    .to_string()
            ),
        "{warnings:?}"
    );
    // The laptop reads what is written under the new key; the phone (whose
    // copy the server tried to steal) stops and says it lacks the key.
    write(&mut owner, "after");
    sync(&mut owner);
    sync(&mut laptop);
    assert!(text(&laptop).contains("after"));
    assert!(block_on(phone.sync(5)).is_err());
}

#[test]
fn a_removed_device_cannot_write_and_the_others_say_so() {
    let server = MemoryServer::new();
    let (mut owner, _) = device(&server, 1, true);
    let (mut phone, _) = device(&server, 2, false);
    let (mut lost, lost_net) = device(&server, 4, false);
    write(&mut lost, "sent;");
    for e in [&mut lost, &mut owner, &mut phone] {
        sync(e);
    }
    // The removed device goes on offline, unaware, and never sends it.
    let before = lost.doc().oplog_vv();
    write(&mut lost, "offline;");
    remove(&server, &mut owner, &lost_net);
    write(&mut lost, "after removal;");

    // The server (or anyone with the removed device's token and its old
    // key) plants its edits as records: signed by it, under epoch 1.
    plant(&server, &updates_since(&lost, &before), 9, 4);
    // And with a fresh signing key, and with none (the old format).
    plant(&server, &updates_since(&lost, &before), 10, 0x99);
    let unsigned = hearth_shared::sealed::seal(
        &EpochKey::new(1, KEY_1),
        Kind::Update,
        &updates_since(&lost, &before),
        0,
        [11; 12],
    )
    .unwrap();
    server.inject_entry(&unsigned);

    for e in [&mut phone, &mut owner] {
        sync(e);
        assert_eq!(text(e), "sent;", "nothing of the removed device's after");
        let status = e.status();
        assert_eq!(status.refused_from_removed, 3, "{status:?}");
        assert!(
            status
                .last_skipped
                .as_deref()
                .is_some_and(|s| s.contains("refused entry")),
            "{status:?}"
        );
    }
    // The phone's own writing goes on, under the new key.
    write(&mut phone, "phone;");
    sync(&mut phone);
    sync(&mut owner);
    assert_eq!(text(&owner), "sent;phone;");
}

#[test]
fn a_record_of_another_workspace_or_of_another_kind_is_refused() {
    let server = MemoryServer::new();
    let (mut owner, _) = device(&server, 1, true);
    let (mut phone, _) = device(&server, 2, false);
    sync(&mut owner);
    sync(&mut phone);
    let other = hearth_shared::engine::loro::LoroDoc::new();
    other.get_text("t").insert(0, "from elsewhere").unwrap();
    other.commit();
    let update = other
        .export(ExportMode::updates(&VersionVector::new()))
        .unwrap();
    let signer = DeviceSigner::of(&DeviceSecret::new([2; 32]));
    let key = EpochKey::new(1, KEY_1);
    // Sealed for another workspace with the same key and a known signer.
    let moved = hearth_shared::signed::seal(
        &key,
        Kind::Update,
        &update,
        0,
        [1; 12],
        &WorkspaceId::from_random([8; 16]),
        &signer,
    )
    .unwrap();
    server.inject_entry(&moved);
    // A snapshot placed where an update belongs.
    let snapshot = hearth_shared::signed::seal(
        &key,
        Kind::Snapshot,
        &update,
        0,
        [2; 12],
        &workspace(),
        &signer,
    )
    .unwrap();
    server.inject_entry(&snapshot);
    sync(&mut owner);
    assert_eq!(text(&owner), "");
    let status = owner.status();
    assert_eq!(status.skipped_entries, 2, "{status:?}");
    assert!(
        status
            .last_skipped
            .as_deref()
            .is_some_and(|s| s.contains("Snapshot record where the server's log has a Update")),
        "{status:?}"
    );
}

#[test]
fn an_entry_the_server_withholds_is_reported_by_who_sent_it() {
    let server = MemoryServer::new();
    let (mut owner, _) = device(&server, 1, true);
    let (mut phone, phone_net) = device(&server, 2, false);
    sync(&mut owner);
    sync(&mut phone);
    let mut seqs = Vec::new();
    for word in ["one;", "two;", "three;"] {
        write(&mut phone, word);
        sync(&mut phone);
        seqs.push(server.head());
    }
    assert!(server.withhold_entry(seqs[1]));
    sync(&mut owner);
    let status = owner.status();
    assert_eq!(text(&owner), "one;", "what depends on the gap waits");
    assert_eq!(
        status.withheld.len(),
        1,
        "the server left out the phone's edits: {status:?}"
    );
    let (who, how_many) = &status.withheld[0];
    assert_eq!(who, &phone_net.token().to_string());
    assert!(*how_many >= 6, "{how_many}");
}

/// Rotation never loses data: the owner's device removes one device while
/// requests and answers are lost at random, crashes (its engine dropped,
/// as a killed tab or process) wherever the rotation stopped, opens again
/// with the keyring its host kept, and goes on. Every seed: the rotation
/// finishes, the removal is recorded, every edit survives, and the removed
/// device's later records are refused.
#[test]
fn a_rotation_cut_short_anywhere_finishes_after_a_crash_and_loses_nothing() {
    use hearth_shared::engine::Faults;
    let mut cut_short = 0;
    for seed in 1..=24u64 {
        let server = MemoryServer::new();
        let owner_store = MemoryStore::new();
        let owner_net = Rc::new(MemoryTransport::new(server.clone(), 1));
        let open_owner = |ring: Keyring| {
            let mut e = block_on(Engine::open(
                owner_store.clone(),
                owner_net.clone(),
                1,
                EngineConfig::default(),
            ))
            .unwrap();
            e.set_keys(keys_of(ring));
            e
        };
        let mut first = Keyring::first(KEY_1);
        first.device = Some(DeviceSecret::new([1; 32]));
        let mut owner = open_owner(first.clone());
        let (mut phone, _) = device(&server, 2, false);
        let (mut lost, lost_net) = device(&server, 4, false);
        write(&mut owner, "owner;");
        write(&mut lost, "lost;");
        for e in [&mut owner, &mut phone, &mut lost] {
            sync(e);
        }
        sync(&mut owner);
        let before = lost.doc().oplog_vv();

        // The host keeps the new ring first, then the engine rotates
        // through a lossy network and stops wherever it stops.
        server.revoke(lost_net.token());
        let mut next = first.clone();
        next.learn(EpochKey::new(2, [0x62; 32]));
        owner_net.set_faults(Faults {
            drop_request: 150 + (seed as u32 * 37) % 300,
            drop_response: 150 + (seed as u32 * 53) % 300,
            ..Faults::default()
        });
        write(&mut owner, "during;");
        if block_on(owner.rotate(&next, Some(lost_net.token()), 2)).is_err() {
            cut_short += 1;
        }
        drop(owner); // a crash
        owner_net.set_faults(Faults::default());
        let mut owner = open_owner(next.clone());
        for round in 0..10 {
            if block_on(owner.sync(10 + round)).is_ok() && !owner.meta().rotating {
                break;
            }
        }
        assert!(!owner.meta().rotating, "seed {seed}: the rotation finished");
        assert!(owner.meta().removing.is_empty(), "seed {seed}");
        let members = hearth_shared::engine::roster::members(owner.doc());
        assert!(
            members
                .iter()
                .any(|m| &m.token == lost_net.token() && m.removal.is_some()),
            "seed {seed}: the removal is recorded"
        );
        assert!(
            server
                .wraps_of(2)
                .contains(&hearth_shared::id::TokenId::from_random(
                    2u128.to_le_bytes()
                )),
            "seed {seed}: the phone got the new key"
        );

        // The removed device writes on; nobody takes it.
        write(&mut lost, "after;");
        plant(&server, &updates_since(&lost, &before), 9, 4);
        sync(&mut phone);
        sync(&mut owner);
        for e in [&owner, &phone] {
            let t = text(e);
            assert!(
                t.contains("owner;") && t.contains("lost;") && t.contains("during;"),
                "seed {seed}: {t}"
            );
            assert!(!t.contains("after;"), "seed {seed}: {t}");
            assert_eq!(e.status().refused_from_removed, 1, "seed {seed}");
        }
    }
    assert!(
        cut_short >= 8,
        "the faults cut {cut_short} of 24 rotations short; the test needs more"
    );
}

/// A server that shows devices different logs: it gives the phone a
/// record of the removed device and hides it from the owner, who then
/// removes that device holding less than the phone took. Once the phone
/// learns of the removal it says what it took.
#[test]
fn edits_a_removed_device_slipped_in_ahead_of_its_removal_are_reported() {
    let server = MemoryServer::new();
    let (mut owner, _) = device(&server, 1, true);
    let (mut phone, _) = device(&server, 2, false);
    let (mut lost, lost_net) = device(&server, 4, false);
    for e in [&mut lost, &mut owner, &mut phone] {
        sync(e);
    }
    sync(&mut owner);
    // The lost device's edit reaches the phone only.
    write(&mut lost, "slipped in;");
    block_on(lost.sync(1)).unwrap();
    let seq = server.head();
    sync(&mut phone);
    assert!(text(&phone).contains("slipped in;"));
    assert!(server.withhold_entry(seq));
    remove(&server, &mut owner, &lost_net);
    assert!(!text(&owner).contains("slipped in;"));
    assert!(owner.status().taken_after_removal.is_empty());

    sync(&mut phone);
    let taken = phone.status().taken_after_removal;
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].0, lost_net.token().to_string());
    assert!(taken[0].1 > 0);
}
