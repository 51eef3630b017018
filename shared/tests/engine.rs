//! The engine as a user meets it, one behaviour at a time, against the
//! in-memory store and server model.
#![cfg(all(feature = "engine", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::rc::Rc;

use common::{block_on, poll_once};
use hearth_shared::engine::{
    Engine, EngineConfig, EngineError, Faults, MemoryServer, MemoryStore, MemoryTransport,
    SyncState,
};

type E = Engine<MemoryStore, Rc<MemoryTransport>>;

fn device(server: &MemoryServer, peer: u64) -> (E, MemoryStore, Rc<MemoryTransport>) {
    let store = MemoryStore::new();
    let transport = Rc::new(MemoryTransport::new(server.clone(), peer));
    let engine = block_on(Engine::open(
        store.clone(),
        transport.clone(),
        peer,
        EngineConfig::default(),
    ))
    .unwrap();
    (engine, store, transport)
}

fn text(e: &E) -> String {
    e.doc().get_text("t").to_string()
}

fn type_text(e: &E, s: &str) {
    let t = e.doc().get_text("t");
    t.insert(t.len_unicode(), s).unwrap();
}

#[test]
fn an_edit_counts_as_saved_only_once_the_store_has_it() {
    let server = MemoryServer::new();
    let (mut a, store, transport) = device(&server, 1);
    type_text(&a, "kept");
    assert!(block_on(a.save_local()).unwrap());
    type_text(&a, " lost");
    store.set_failing(true);
    assert!(matches!(
        block_on(a.save_local()),
        Err(EngineError::Store(_))
    ));
    store.set_failing(false);
    drop(a); // a crash
    let a = block_on(Engine::open(
        store.clone(),
        transport,
        99,
        EngineConfig::default(),
    ))
    .unwrap();
    assert_eq!(text(&a), "kept");
    assert_eq!(a.peer_id(), 1, "a stored peer id is kept");
}

#[test]
fn status_goes_from_saved_locally_to_synced_and_shows_offline() {
    let server = MemoryServer::new();
    let (mut a, _, transport) = device(&server, 1);
    type_text(&a, "hello");
    block_on(a.save_local()).unwrap();
    let status = a.status();
    assert_eq!((status.state, status.pending), (SyncState::SavedLocally, 5));

    transport.set_online(false);
    assert!(block_on(a.sync(1_000)).is_err());
    let status = a.status();
    assert_eq!(status.state, SyncState::Offline);
    assert_eq!(status.pending, 5);
    assert!(status.last_error.is_some());
    assert!(a.retry_delay(0).unwrap() > 0);

    transport.set_online(true);
    block_on(a.sync(2_000)).unwrap();
    let status = a.status();
    assert_eq!((status.state, status.pending), (SyncState::Synced, 0));
    assert_eq!(status.last_ack.unwrap().at_ms, 2_000);
    assert_eq!(status.last_error, None);
    assert_eq!(a.retry_delay(0), None);
}

#[test]
fn a_retried_push_whose_answer_was_lost_is_stored_once() {
    let server = MemoryServer::new();
    let (mut a, _, transport) = device(&server, 1);
    // A first round (nothing to send) checks the workspace's keys.
    block_on(a.sync(0)).unwrap();
    type_text(&a, "once");
    transport.set_faults(Faults {
        drop_response: 1000,
        ..Faults::default()
    });
    assert!(block_on(a.sync(1)).is_err());
    assert_eq!(server.head(), 1, "the server took the entry");
    transport.set_faults(Faults::default());
    block_on(a.sync(2)).unwrap();
    assert_eq!(server.head(), 1, "the retry did not add a second entry");
    assert_eq!(a.status().pending, 0);
}

#[test]
fn a_corrupt_entry_is_reported_and_sync_keeps_working() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (mut b, _, _) = device(&server, 2);
    server.inject_entry(b"definitely not an envelope");
    type_text(&a, "fine");
    block_on(a.sync(1)).unwrap();
    block_on(b.sync(1)).unwrap();
    assert_eq!(text(&b), "fine");
    assert_eq!(b.status().skipped_entries, 1);
    assert_eq!(b.status().state, SyncState::Synced);
}

#[test]
fn a_read_only_device_pulls_but_never_pushes() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (mut r, _, _) = device(&server, 2);
    r.set_can_write(false);
    type_text(&a, "from a");
    block_on(a.sync(1)).unwrap();
    type_text(&r, "local only");
    block_on(r.sync(1)).unwrap();
    assert_eq!(server.head(), 1);
    assert!(text(&r).contains("from a"));
}

#[test]
fn a_device_that_joins_after_compaction_gets_the_snapshot_first() {
    let server = MemoryServer::new();
    let store = MemoryStore::new();
    let transport = Rc::new(MemoryTransport::new(server.clone(), 1));
    let mut config = EngineConfig::default();
    config.thresholds.server_compact_min_bytes = 100;
    let mut a = block_on(Engine::open(store, transport, 1, config)).unwrap();
    for i in 0..20 {
        type_text(&a, &format!("line {i} with some words to make it bigger\n"));
        block_on(a.sync(i)).unwrap();
    }
    let stats = server.stats();
    assert!(stats.floor > 0, "{stats:?}");
    assert!(stats.entries < 20, "{stats:?}");
    let (mut late, _, _) = device(&server, 2);
    block_on(late.sync(100)).unwrap();
    assert_eq!(text(&late), text(&a));
    assert_eq!(late.status().cursor, server.head());
}

#[test]
fn a_live_event_wakes_a_waiting_device() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (b, _, _) = device(&server, 2);
    let mut wait = Box::pin(b.wait_for_head());
    assert!(poll_once(&mut wait).is_none(), "nothing new yet");
    type_text(&a, "ping");
    block_on(a.sync(1)).unwrap();
    assert_eq!(poll_once(&mut wait).unwrap().unwrap(), 1);
}

#[test]
fn a_one_character_edit_in_a_large_document_pushes_a_small_entry() {
    let server = MemoryServer::new();
    let (mut a, _, transport) = device(&server, 1);
    let big: String = (0..20_000).map(|i| format!("word{i} ")).collect();
    type_text(&a, &big);
    block_on(a.sync(1)).unwrap();
    let before = transport.pushed_bytes();
    assert!(before > 10_000);
    a.doc().get_text("t").insert(5_000, "x").unwrap();
    block_on(a.sync(2)).unwrap();
    let pushed = transport.pushed_bytes() - before;
    assert!(pushed < 200, "{pushed} bytes pushed for one character");
}

#[test]
fn a_server_restored_from_an_older_backup_gets_everything_again() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (mut b, _, _) = device(&server, 2);
    let backup = server.backup();
    type_text(&a, "after the backup");
    block_on(a.sync(1)).unwrap();
    block_on(b.sync(1)).unwrap();
    server.restore(&backup);
    // The devices notice that the server forgot, and send their changes
    // again; a new device gets everything.
    block_on(a.sync(2)).unwrap();
    block_on(b.sync(2)).unwrap();
    let (mut c, _, _) = device(&server, 3);
    block_on(c.sync(3)).unwrap();
    assert_eq!(text(&c), "after the backup");
    assert_eq!(a.status().state, SyncState::Synced);
}

#[test]
fn a_large_first_push_goes_in_several_entries() {
    let server = MemoryServer::new();
    let store = MemoryStore::new();
    let transport = Rc::new(MemoryTransport::new(server.clone(), 1));
    let config = EngineConfig {
        max_batch_ops: 40,
        ..EngineConfig::default()
    };
    let mut a = block_on(Engine::open(store, transport, 1, config)).unwrap();
    let long: String = (0..50).map(|i| format!("{i},")).collect();
    type_text(&a, &long);
    a.doc().get_map("m").insert("k", 1).unwrap();
    let report = block_on(a.sync(1)).unwrap();
    assert!(report.pushed > 3, "{report:?}");
    assert_eq!(server.head(), u64::from(report.pushed));
    let (mut b, _, _) = device(&server, 2);
    block_on(b.sync(2)).unwrap();
    assert_eq!(text(&b), long);
    assert_eq!(b.doc().get_deep_value(), a.doc().get_deep_value());
}

#[test]
fn a_batch_the_server_finds_too_large_is_split() {
    let server = MemoryServer::new();
    server.set_max_body(400);
    let (mut a, _, _) = device(&server, 1);
    // Digits of a counter compress poorly enough to need several entries.
    let long: String = (0..400u32)
        .map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761)))
        .collect();
    type_text(&a, &long);
    block_on(a.sync(1)).unwrap();
    assert!(server.head() > 1, "the batch was split");
    assert_eq!(a.status().pending, 0);
    let (mut b, _, _) = device(&server, 2);
    block_on(b.sync(2)).unwrap();
    assert_eq!(text(&b), long);
}

#[test]
fn a_round_cut_short_by_its_step_limit_is_followed_by_another() {
    use hearth_shared::engine::{Action, DriverFacts, RoundOutcome, next_action};

    let server = MemoryServer::new();
    let store = MemoryStore::new();
    let transport = Rc::new(MemoryTransport::new(server.clone(), 1));
    // One operation per pushed entry: 100 characters need 100 pushes, more
    // than one round takes.
    let config = EngineConfig {
        max_batch_ops: 1,
        ..EngineConfig::default()
    };
    let mut a = block_on(Engine::open(store, transport, 1, config)).unwrap();
    type_text(&a, &"x".repeat(100));
    block_on(a.save_local()).unwrap();

    // Drive it as the hosts do, until the driver would idle.
    let mut facts = DriverFacts::default();
    let mut rounds = 0;
    while next_action(&facts, a.backoff(), 0) == Action::SyncNow {
        let report = block_on(a.sync(1_000)).unwrap();
        rounds += 1;
        let outcome = if report.more {
            RoundOutcome::More
        } else {
            RoundOutcome::Done
        };
        facts = facts.after_round(outcome);
        assert!(rounds < 10, "the driver never idles");
    }
    assert!(rounds >= 2, "{rounds} rounds");
    assert_eq!(a.status().pending, 0, "everything reached the server");

    let (mut b, _, _) = device(&server, 2);
    block_on(b.sync(2_000)).unwrap();
    assert_eq!(text(&b), "x".repeat(100));
}

#[test]
fn an_idle_device_folds_its_log_into_its_snapshot_and_keeps_every_edit() {
    let server = MemoryServer::new();
    let (mut a, store, transport) = device(&server, 1);
    type_text(&a, "one");
    block_on(a.save_local()).unwrap();
    type_text(&a, " two");
    block_on(a.save_local()).unwrap();
    assert_eq!(store.contents().log.len(), 2);
    assert!(a.local_log_bytes() > 0);

    // An unsaved edit: nothing is folded (the snapshot would hold an edit
    // the log has not got, and the engine's count of saved edits would lie).
    type_text(&a, " three");
    assert!(!block_on(a.fold_local_log()).unwrap());
    block_on(a.save_local()).unwrap();

    assert!(block_on(a.fold_local_log()).unwrap());
    let stored = store.contents();
    assert!(stored.log.is_empty(), "the log is folded away");
    assert!(stored.snapshot.is_some());
    assert_eq!(a.local_log_bytes(), 0);
    assert!(
        !block_on(a.fold_local_log()).unwrap(),
        "nothing left to fold"
    );

    // The edits survive a restart, and still reach the server.
    drop(a);
    let mut a = block_on(Engine::open(store, transport, 1, EngineConfig::default())).unwrap();
    assert_eq!(text(&a), "one two three");
    block_on(a.sync(1)).unwrap();
    let (mut b, _, _) = device(&server, 2);
    block_on(b.sync(2)).unwrap();
    assert_eq!(text(&b), "one two three");
}

/// Keys of one epoch (`byte` fills the key), with IVs from a counter.
fn keys(byte: u8) -> hearth_shared::engine::Keys {
    keys_of(hearth_shared::sealed::Keyring::first([byte; 32]))
}

/// The engine's keys for `ring`, with IVs and ephemeral secrets from
/// counters (distinct per device by the ring's own bytes).
fn keys_of(ring: hearth_shared::sealed::Keyring) -> hearth_shared::engine::Keys {
    let seed = ring.device.as_ref().map_or(0, |d| d.bytes()[0]);
    let mut n = 0u64;
    let mut m = 0u64;
    hearth_shared::engine::Keys {
        ring,
        workspace: hearth_shared::id::WorkspaceId::from_random([7; 16]),
        iv: Box::new(move || {
            n += 1;
            let mut iv = [seed; 12];
            iv[..8].copy_from_slice(&n.to_be_bytes());
            iv
        }),
        random: Box::new(move || {
            m += 1;
            let mut r = [seed ^ 0x5c; 32];
            r[..8].copy_from_slice(&m.to_be_bytes());
            r
        }),
    }
}

fn server_holds(server: &MemoryServer, text: &[u8]) -> bool {
    let body = server.pull(0).unwrap().body;
    body.windows(text.len()).any(|w| w == text)
}

#[test]
fn devices_with_the_workspace_key_sync_and_the_server_holds_no_text() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (mut b, _, _) = device(&server, 2);
    a.set_keys(keys(0x42));
    b.set_keys(keys(0x42));
    type_text(&a, "the spare key is under the third flowerpot");
    block_on(a.sync(1)).unwrap();
    block_on(b.sync(1)).unwrap();
    assert_eq!(text(&b), "the spare key is under the third flowerpot");
    type_text(&b, ", left side");
    block_on(b.sync(2)).unwrap();
    block_on(a.sync(2)).unwrap();
    assert_eq!(
        text(&a),
        "the spare key is under the third flowerpot, left side"
    );
    assert!(!server_holds(&server, b"flowerpot"));
    assert!(!server_holds(&server, b"left side"));
    assert_eq!(a.status().skipped_entries, 0);
}

#[test]
fn a_device_without_the_key_or_with_a_wrong_one_writes_and_imports_nothing_and_says_why() {
    use hearth_shared::engine::KeyProblem;
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    a.set_keys(keys(0x42));
    type_text(&a, "secret");
    block_on(a.sync(1)).unwrap();
    let epochs = server.key_epochs().unwrap();
    assert_eq!(epochs.len(), 1, "the owner's first sync records its epoch");
    assert_eq!(epochs[0].0, 1);
    let head = server.head();

    // Joined with a token alone: it holds no key.
    let (mut keyless, _, _) = device(&server, 2);
    type_text(&keyless, "typed before the key came");
    let e = block_on(keyless.sync(1)).unwrap_err();
    assert_eq!(e.key_problem(), Some(KeyProblem::NeedsKey));
    assert!(e.to_string().contains("pairing link"), "{e}");
    assert_eq!(
        text(&keyless),
        "typed before the key came",
        "nothing imported"
    );
    assert_eq!(server.head(), head, "nothing written");

    // Another workspace's key.
    let (mut wrong, _, _) = device(&server, 3);
    wrong.set_keys(keys(0x43));
    type_text(&wrong, "under the wrong key");
    let e = block_on(wrong.sync(1)).unwrap_err();
    assert_eq!(e.key_problem(), Some(KeyProblem::WrongKey { epoch: 1 }));
    assert_eq!(text(&wrong), "under the wrong key");
    assert_eq!(server.head(), head, "nothing written");
    assert_eq!(
        server.key_epochs().unwrap(),
        epochs,
        "the epoch's check is not replaced"
    );

    // A plain workspace (no epochs) syncs without keys as before.
    let plain = MemoryServer::new();
    let (mut p, _, _) = device(&plain, 4);
    type_text(&p, "plain");
    block_on(p.sync(1)).unwrap();
    assert_eq!(plain.head(), 1);
}

#[test]
fn a_record_that_fails_authentication_is_reported_and_skipped_never_imported() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    a.set_keys(keys(0x42));
    type_text(&a, "sound");
    block_on(a.sync(1)).unwrap();
    // A record sealed under the right epoch whose ciphertext was altered.
    let mut bad = hearth_shared::sealed::seal(
        &hearth_shared::sealed::EpochKey::new(1, [0x42; 32]),
        hearth_shared::sealed::Kind::Update,
        &LoroDocForTest::update("tampered"),
        0,
        [9; 12],
    )
    .unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    server.inject_entry(&bad);
    let (mut b, _, _) = device(&server, 2);
    b.set_keys(keys(0x42));
    block_on(b.sync(1)).unwrap();
    assert_eq!(text(&b), "sound");
    assert_eq!(b.status().skipped_entries, 1);
    let said = b.status().last_skipped.unwrap_or_default();
    assert!(
        said.contains("skipped entry 2") && said.contains("failed authentication"),
        "{said}"
    );
}

#[test]
fn an_encrypted_workspace_refuses_unencrypted_entries() {
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    a.set_keys(keys(0x42));
    // Anyone with the server's disk could write a plain entry.
    let forged = LoroDocForTest::update("forged text");
    server.inject_entry(&hearth_shared::envelope::seal(&forged, 0).unwrap());
    type_text(&a, "real");
    block_on(a.sync(1)).unwrap();
    assert_eq!(text(&a), "real");
    let said = a.status().last_skipped.unwrap_or_default();
    assert!(said.contains("not encrypted"), "{said}");
}

/// A Loro update from a device that is not in the workspace.
struct LoroDocForTest;

impl LoroDocForTest {
    fn update(s: &str) -> Vec<u8> {
        let doc = hearth_shared::engine::loro::LoroDoc::new();
        doc.set_peer_id(777).unwrap();
        doc.get_text("t").insert(0, s).unwrap();
        doc.commit();
        doc.export(hearth_shared::engine::loro::ExportMode::all_updates())
            .unwrap()
    }
}

#[test]
fn an_encrypted_workspaces_snapshot_is_sealed_too() {
    let server = MemoryServer::new();
    let transport = Rc::new(MemoryTransport::new(server.clone(), 1));
    let mut config = EngineConfig::default();
    config.thresholds.server_compact_min_bytes = 100;
    let mut a = block_on(Engine::open(MemoryStore::new(), transport, 1, config)).unwrap();
    a.set_keys(keys(0x42));
    for i in 0..20 {
        type_text(&a, &format!("line {i} about the boiler valve\n"));
        block_on(a.sync(i)).unwrap();
    }
    assert!(server.stats().floor > 0, "compacted: {:?}", server.stats());
    assert!(!server_holds(&server, b"boiler valve"));
    let (mut late, _, _) = device(&server, 2);
    late.set_keys(keys(0x42));
    block_on(late.sync(100)).unwrap();
    assert_eq!(text(&late), text(&a));
    assert_eq!(late.status().skipped_entries, 0);
}

#[test]
fn an_unencrypted_workspace_is_encrypted_in_place_and_the_server_keeps_no_plaintext() {
    use hearth_shared::engine::KeyProblem;
    let server = MemoryServer::new();
    let (mut a, _, _) = device(&server, 1);
    let (mut b, _, _) = device(&server, 2);
    type_text(&a, "written before the key; ");
    block_on(a.sync(1)).unwrap();
    block_on(b.sync(1)).unwrap();
    type_text(&b, "the other device's last plain edit; ");
    block_on(b.sync(1)).unwrap();
    // The owner's device also has an edit it has not pushed yet.
    type_text(&a, "not yet pushed; ");
    let opens_without_a_key = |r: &Vec<u8>| {
        hearth_shared::envelope::open(r, hearth_shared::envelope::DEFAULT_MAX_RAW_LEN).is_ok()
    };
    assert!(
        server.stored().iter().all(opens_without_a_key),
        "before, anyone with the server's disk reads the workspace"
    );

    block_on(a.encrypt(keys(0x51), 2)).unwrap();
    assert!(a.is_encrypted());
    let all = text(&a);
    for words in [
        "written before the key",
        "last plain edit",
        "not yet pushed",
    ] {
        assert!(all.contains(words), "{all}");
        assert!(
            !server_holds(&server, words.as_bytes()),
            "{words} on the server"
        );
    }
    let stored = server.stored();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|r| hearth_shared::sealed::read_header(r).is_ok() && !opens_without_a_key(r)),
        "every record the server holds is sealed"
    );
    assert_eq!(server.key_epochs().unwrap().len(), 1);

    // It goes on writing, sealed.
    type_text(&a, "after the key; ");
    block_on(a.sync(3)).unwrap();
    assert!(!server_holds(&server, b"after the key"));

    // The other device, still running without the key, made an edit
    // offline: it goes out (plainly: it has no key), and the device stops
    // at the first sealed record, saying why. Paired again, it sends its
    // edits again, sealed, and pulls everything it had not imported.
    type_text(&b, "made offline by the other device");
    let e = block_on(b.sync(3)).unwrap_err();
    assert_eq!(e.key_problem(), Some(KeyProblem::NeedsKey));
    assert!(!text(&b).contains("after the key"));
    b.set_keys(keys(0x51));
    block_on(b.sync(3)).unwrap();
    block_on(a.sync(3)).unwrap();
    assert!(text(&b).contains("after the key"), "{}", text(&b));
    assert!(
        text(&a).contains("made offline by the other device"),
        "{}",
        text(&a)
    );
    assert_eq!(text(&a), text(&b));
    assert_eq!(a.status().skipped_entries, 1, "the plain entry, reported");

    // A device that starts without the key says so and writes nothing; one
    // paired with it reads everything.
    let head = server.head();
    let (mut keyless, _, _) = device(&server, 3);
    let e = block_on(keyless.sync(4)).unwrap_err();
    assert_eq!(e.key_problem(), Some(KeyProblem::NeedsKey));
    assert_eq!(server.head(), head);
    let (mut paired, _, _) = device(&server, 4);
    paired.set_keys(keys(0x51));
    block_on(paired.sync(4)).unwrap();
    assert_eq!(text(&paired), text(&a));
    assert_eq!(
        paired.status().skipped_entries,
        1,
        "only the other device's plain entry, whose edit came again sealed"
    );

    // Encrypting twice is refused, and changes nothing.
    assert!(block_on(a.encrypt(keys(0x52), 5)).is_err());
    assert_eq!(server.key_epochs().unwrap().len(), 1);
}

/// A ring of the workspace key `byte` with a device secret of its own.
fn ring_of_device(byte: u8, device: u8) -> hearth_shared::sealed::Keyring {
    let mut ring = hearth_shared::sealed::Keyring::first([byte; 32]);
    ring.device = Some(hearth_shared::keys::DeviceSecret::new([device; 32]));
    ring
}

#[test]
fn a_rotation_reaches_every_remaining_device_even_one_that_was_away_and_through_lost_answers() {
    // Each seed loses other requests and answers of the owner's.
    for seed in 1..=16 {
        rotation_with_faults(seed * 100 + 1);
    }
}

fn rotation_with_faults(owner_seed: u64) {
    use hearth_shared::engine::Faults;
    let server = MemoryServer::new();
    let (mut owner, _, owner_net) = device(&server, owner_seed);
    let (mut phone, _, phone_net) = device(&server, 2);
    let (mut away, _, away_net) = device(&server, 3);
    let (mut lost, _, lost_net) = device(&server, 4);
    for net in [&phone_net, &away_net, &lost_net] {
        net.set_owner(false);
    }
    owner.set_keys(keys_of(ring_of_device(0x61, 11)));
    phone.set_keys(keys_of(ring_of_device(0x61, 12)));
    away.set_keys(keys_of(ring_of_device(0x61, 13)));
    lost.set_keys(keys_of(ring_of_device(0x61, 14)));
    type_text(&owner, "before;");
    for (i, e) in [&mut owner, &mut phone, &mut away, &mut lost]
        .into_iter()
        .enumerate()
    {
        block_on(e.sync(i as u64)).unwrap();
    }
    assert_eq!(text(&lost), "before;");

    // One device is away and edits under the first key; answers get lost.
    away_net.set_online(false);
    type_text(&away, "away;");
    block_on(away.save_local()).unwrap();
    owner_net.set_faults(Faults {
        drop_request: 200,
        drop_response: 400,
        ..Faults::default()
    });
    server.revoke(lost_net.token());
    let mut next = owner
        .take_changed_ring()
        .unwrap_or_else(|| ring_of_device(0x61, 11));
    next.learn(hearth_shared::keys::EpochKey::new(2, [0x62; 32]));
    let mut rotated = false;
    for round in 0..200 {
        let done = match round {
            0 => block_on(owner.rotate(&next, Some(lost_net.token()), 10)).is_ok(),
            _ => block_on(owner.sync(10 + round)).is_ok() && !owner.meta().rotating,
        };
        if done {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the rotation finished despite lost answers");
    owner_net.set_faults(Faults::default());
    assert_eq!(owner.take_changed_ring().unwrap().current, 2);
    assert!(!owner.meta().rotating);
    let copies = server.wraps_of(2);
    assert!(copies.contains(phone_net.token()) && copies.contains(away_net.token()));
    assert!(
        !copies.contains(lost_net.token()),
        "no copy for the removed device"
    );
    type_text(&owner, "after;");
    block_on(owner.sync(70)).unwrap();

    // The phone takes the new key at its next pull and writes with it.
    block_on(phone.sync(71)).unwrap();
    assert_eq!(phone.take_changed_ring().unwrap().current, 2);
    assert_eq!(text(&phone), "before;after;");
    // The removed device is refused, and its key opens nothing after.
    assert!(block_on(lost.sync(72)).is_err());
    let body = server.pull(0).unwrap().body;
    let frames = hearth_shared::frame::decode_frames(&body).unwrap();
    let old = [hearth_shared::keys::EpochKey::new(1, [0x61; 32])];
    let mut sealed_after = 0;
    for frame in &frames {
        let header = hearth_shared::signed::peek(frame.payload).unwrap();
        if header.epoch == 2 {
            sealed_after += 1;
            let ws = hearth_shared::id::WorkspaceId::from_random([7; 16]);
            assert!(hearth_shared::signed::open(&old, frame.payload, &ws, 1 << 20).is_err());
        }
    }
    assert!(sealed_after >= 2, "the marker, the note and the snapshot");

    // The device that was away comes back: its edit merges, it takes the
    // new key, and everyone converges.
    away_net.set_online(true);
    for round in 0..3 {
        block_on(away.sync(80 + round)).unwrap();
    }
    assert_eq!(away.take_changed_ring().unwrap().current, 2);
    block_on(owner.sync(90)).unwrap();
    block_on(phone.sync(91)).unwrap();
    assert_eq!(text(&owner), text(&away));
    assert_eq!(text(&owner), text(&phone));
    assert!(text(&owner).contains("away;") && text(&owner).contains("after;"));
    assert_eq!(owner.status().skipped_entries, 0);
    assert_eq!(phone.status().skipped_entries, 0);
}
