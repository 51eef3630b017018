//! Findings of the fuzz targets in `shared/fuzz`, each a named test. The
//! inputs are the fuzzer's artifacts, run through the same transformation
//! as the target that found them.
#![cfg(all(feature = "engine", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::block_on;
use hearth_shared::engine::loro::{ExportMode, LoroDoc};
use hearth_shared::engine::{
    Engine, EngineConfig, MemoryServer, MemoryStore, MemoryTransport, SyncState,
};
use hearth_shared::envelope::seal;

/// The real update that `loro_blob_import` mutates.
fn valid_update() -> Vec<u8> {
    let doc = LoroDoc::new();
    doc.set_peer_id(9).unwrap();
    doc.get_text("t").insert(0, "hello world").unwrap();
    doc.get_map("m").insert("k", 42).unwrap();
    doc.get_list("l").push("x").unwrap();
    let child = doc.get_map("m").ensure_mergeable_map("child").unwrap();
    child.insert("a", true).unwrap();
    doc.get_text("t").delete(0, 5).unwrap();
    doc.export(ExportMode::all_updates()).unwrap()
}

/// `loro_blob_import`'s transformation of an input (the mutating branch).
fn mutated(input: &[u8]) -> Vec<u8> {
    let mut blob = valid_update();
    for pair in input[1..].chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % blob.len();
        blob[pos] ^= pair[2];
    }
    let sum = xxhash_rust::xxh32::xxh32(&blob[20..], u32::from_le_bytes(*b"LORO"));
    blob[16..20].copy_from_slice(&sum.to_le_bytes());
    blob
}

/// A device pulls `blob` (sealed, as another device would push it), then
/// keeps working.
fn pull_then_keep_working(blob: &[u8]) {
    let server = MemoryServer::new();
    server.inject_entry(&seal(blob, 1).unwrap());
    let (mut a, mut b) = (open(&server, 1), open(&server, 2));
    block_on(a.sync(1)).unwrap();
    assert_eq!(a.status().skipped_entries, 1);
    a.doc().get_text("t").insert(0, "still here").unwrap();
    block_on(a.sync(2)).unwrap();
    block_on(b.sync(3)).unwrap();
    assert_eq!(b.doc().get_text("t").to_string(), "still here");
    assert_eq!(b.status().state, SyncState::Synced);
}

fn open(server: &MemoryServer, peer: u64) -> Engine<MemoryStore, MemoryTransport> {
    let transport = MemoryTransport::new(server.clone(), peer);
    block_on(Engine::open(
        MemoryStore::new(),
        transport,
        peer,
        EngineConfig::default(),
    ))
    .unwrap()
}

/// `loro_blob_import`, artifact `crash-20e980f0…` (input `0a 8a 0a 0a`):
/// one flipped byte in a valid update, checksum fixed, made Loro's decoder
/// panic (`assertion failed: len != 0` in `DeleteSpanWithId::new`). A
/// device with a valid token could have crashed every other device.
#[test]
fn loro_blob_with_a_zero_length_delete_is_skipped_not_a_crash() {
    let blob = mutated(&[0x0a, 0x8a, 0x0a, 0x0a]);
    pull_then_keep_working(&blob);
}
