//! A device pulls an entry whose envelope is sound but whose payload is
//! anything (a buggy or hostile device with a valid token). The engine
//! must skip what it cannot import and keep working, never panic.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

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

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys makes every panic an abort, even one the engine
    // catches on purpose; a panic that escapes still aborts the run.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
    });
    let server = MemoryServer::new();
    server.inject_entry(&seal(data, 1).expect("seal"));
    let transport = MemoryTransport::new(server.clone(), 1);
    let mut engine = ready(Engine::open(
        MemoryStore::new(),
        transport,
        7,
        EngineConfig::default(),
    ))
    .expect("open");
    let _ = ready(engine.sync(0));
    // Still usable: a local edit saves and syncs.
    engine.doc().get_text("t").insert(0, "x").expect("edit");
    ready(engine.sync(1)).expect("sync after a bad entry");
});
