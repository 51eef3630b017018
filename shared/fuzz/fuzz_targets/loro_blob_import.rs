//! Like `entries_import`, but past Loro's own checksum: the input mutates a
//! real update (or replaces its body), the checksum is made right, and the
//! result is sealed and pulled by a device. The device must skip what it
//! cannot import and keep working, never panic.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use hearth_shared::engine::loro::{ExportMode, LoroDoc};
use hearth_shared::engine::{Engine, EngineConfig, MemoryServer, MemoryStore, MemoryTransport};
use hearth_shared::envelope::seal;
use libfuzzer_sys::fuzz_target;

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A real update: text, map, list and a nested map.
fn valid_update() -> Vec<u8> {
    let doc = LoroDoc::new();
    doc.set_peer_id(9).expect("peer");
    doc.get_text("t").insert(0, "hello world").expect("text");
    doc.get_map("m").insert("k", 42).expect("map");
    doc.get_list("l").push("x").expect("list");
    let child = doc
        .get_map("m")
        .ensure_mergeable_map("child")
        .expect("child");
    child.insert("a", true).expect("child key");
    doc.get_text("t").delete(0, 5).expect("delete");
    doc.export(ExportMode::all_updates()).expect("export")
}

fn fix_checksum(blob: &mut [u8]) {
    if blob.len() >= 22 {
        let sum = xxhash_rust::xxh32::xxh32(&blob[20..], u32::from_le_bytes(*b"LORO"));
        blob[16..20].copy_from_slice(&sum.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys makes every panic an abort, even one the engine
    // catches on purpose; a panic that escapes still aborts the run.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
    });
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut blob = if mode % 2 == 0 {
        // Mutate a real update: (position, xor) pairs.
        let mut blob = valid_update();
        for pair in rest.chunks_exact(3) {
            let pos = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % blob.len();
            blob[pos] ^= pair[2];
        }
        blob
    } else {
        // A header and any body.
        let mut blob = b"loro".to_vec();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(rest);
        blob
    };
    fix_checksum(&mut blob);

    let server = MemoryServer::new();
    server.inject_entry(&seal(&blob, 1).expect("seal"));
    let transport = MemoryTransport::new(server.clone(), 1);
    let mut engine = ready(Engine::open(
        MemoryStore::new(),
        transport,
        7,
        EngineConfig::default(),
    ))
    .expect("open");
    let _ = ready(engine.sync(0));
    engine.doc().get_text("t2").insert(0, "x").expect("edit");
    ready(engine.sync(1)).expect("sync after a bad entry");
});
