//! The sync engine in a browser: two devices converge through the
//! in-memory server model, with Loro and zstd compiled to wasm.
#![cfg(all(target_arch = "wasm32", feature = "engine"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use hearth_shared::engine::{
    Engine, EngineConfig, MemoryServer, MemoryStore, MemoryTransport, SyncState,
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[wasm_bindgen_test]
fn two_devices_converge_in_the_browser() {
    let server = MemoryServer::new();
    let open = |peer| {
        ready(Engine::open(
            MemoryStore::new(),
            MemoryTransport::new(server.clone(), peer),
            peer,
            EngineConfig::default(),
        ))
        .expect("open")
    };
    let mut a = open(1);
    let mut b = open(2);
    a.doc().get_text("t").insert(0, "from a ").expect("edit");
    b.doc().get_text("t").insert(0, "from b ").expect("edit");
    ready(a.sync(1)).expect("sync a");
    ready(b.sync(1)).expect("sync b");
    ready(a.sync(2)).expect("sync a again");
    assert_eq!(a.doc().get_deep_value(), b.doc().get_deep_value());
    assert_eq!(a.status().state, SyncState::Synced);
}
