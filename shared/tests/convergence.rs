//! Convergence under a hostile network: 3–5 devices edit at random, go
//! offline, crash and restart; the network drops requests and responses and
//! duplicates requests; the server restarts; devices compact the server log
//! and their local logs as they go; old pushes and pull answers arrive
//! late, out of order. Once the network heals and everyone
//! syncs, every device holds the same document, and every edit any device
//! saved is in it.
//!
//! `HEARTH_SEEDS=N` runs seeds 1..=N (default: a few, to keep CI fast).
#![cfg(all(feature = "engine", not(target_arch = "wasm32")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::rc::Rc;

use common::{Rng, block_on, seeds};
use hearth_shared::engine::loro::{LoroValue, ValueOrContainer};
use hearth_shared::engine::{
    Engine, EngineConfig, Faults, MemoryServer, MemoryStore, MemoryTransport, SyncState, Thresholds,
};

type DeviceEngine = Engine<MemoryStore, Rc<MemoryTransport>>;

struct Device {
    name: String,
    store: MemoryStore,
    transport: Rc<MemoryTransport>,
    engine: Option<DeviceEngine>,
    /// Keys written since the last save (lost if the device crashes).
    unsaved: Vec<(String, i64)>,
    /// Keys this device saved: they must survive everything.
    saved: Vec<(String, i64)>,
    counter: i64,
}

fn config() -> EngineConfig {
    EngineConfig {
        // Small thresholds so that compaction happens many times per run.
        thresholds: Thresholds {
            server_compact_min_bytes: 2_000,
            local_compact_min_bytes: 1_000,
        },
        // Small batches, so that a batch often splits a transaction.
        max_batch_ops: 16,
        ..EngineConfig::default()
    }
}

impl Device {
    fn engine(&mut self) -> &mut DeviceEngine {
        self.engine.as_mut().expect("device is running")
    }

    fn open(&mut self, rng: &mut Rng) {
        let engine = block_on(Engine::open(
            self.store.clone(),
            self.transport.clone(),
            rng.next() >> 1,
            config(),
        ))
        .expect("open");
        self.engine = Some(engine);
    }

    fn edit(&mut self, rng: &mut Rng) {
        let doc = self.engine().doc().clone();
        for _ in 0..=rng.below(3) {
            match rng.below(5) {
                0 | 1 => {
                    self.counter += 1;
                    let key = format!("{}-{}", self.name, self.counter);
                    doc.get_map("saved").insert(&key, self.counter).unwrap();
                    self.unsaved.push((key, self.counter));
                }
                2 => {
                    let text = doc.get_text("text");
                    let pos = rng.below(text.len_unicode() as u64 + 1) as usize;
                    text.insert(pos, &self.name[..1]).unwrap();
                }
                3 => {
                    let text = doc.get_text("text");
                    let len = text.len_unicode();
                    if len > 0 {
                        let pos = rng.below(len as u64) as usize;
                        text.delete(pos, 1).unwrap();
                    }
                }
                _ => {
                    doc.get_map("shared")
                        .insert("last", self.name.as_str())
                        .unwrap();
                    doc.get_list("list").push(self.counter).unwrap();
                }
            }
        }
        doc.commit();
    }

    fn save(&mut self) {
        if block_on(self.engine().save_local()).is_ok() {
            self.saved.append(&mut self.unsaved);
        }
    }

    fn crash(&mut self, rng: &mut Rng) {
        self.engine = None;
        self.unsaved.clear();
        self.open(rng);
        // What was saved is there after the restart.
        let map = self.engine().doc().get_map("saved");
        for (key, value) in &self.saved {
            assert!(
                has(&map, key, *value),
                "{}: saved {key} lost in a crash",
                self.name
            );
        }
    }
}

fn has(map: &hearth_shared::engine::loro::LoroMap, key: &str, value: i64) -> bool {
    matches!(map.get(key), Some(ValueOrContainer::Value(LoroValue::I64(v))) if v == value)
}

/// What a run exercised, so that the test can check it tested something.
#[derive(Debug, Default)]
struct Exercised {
    server_compactions: u64,
    local_compactions: u64,
    failed_rounds: u64,
    crashes: u64,
}

fn run(seed: u64, ex: &mut Exercised) {
    let mut rng = Rng::new(seed);
    let server = MemoryServer::new();
    let count = 3 + rng.below(3) as usize;
    let mut devices: Vec<Device> = (0..count)
        .map(|i| Device {
            name: format!("{}{}", (b'a' + i as u8) as char, i),
            store: MemoryStore::new(),
            transport: Rc::new(MemoryTransport::new(server.clone(), rng.next())),
            engine: None,
            unsaved: Vec::new(),
            saved: Vec::new(),
            counter: 0,
        })
        .collect();
    for d in &mut devices {
        d.open(&mut rng);
    }
    let mut now = 1_700_000_000_000u64;
    let mut server_down = false;
    for _step in 0..300 {
        now += 1_000;
        let d = rng.below(count as u64) as usize;
        match rng.below(100) {
            0..=34 => {
                devices[d].edit(&mut rng);
                if rng.chance(70) {
                    devices[d].save();
                }
            }
            35..=69 => match block_on(devices[d].engine().sync(now)) {
                Ok(report) => {
                    ex.server_compactions += u64::from(report.compacted_server);
                    ex.local_compactions += u64::from(report.compacted_local);
                }
                Err(_) => ex.failed_rounds += 1,
            },
            70..=77 => {
                let t = &devices[d].transport;
                t.set_online(!t.is_online());
            }
            78..=81 => {
                ex.crashes += 1;
                devices[d].crash(&mut rng);
            }
            82..=84 => {
                server_down = !server_down;
                server.set_down(server_down);
            }
            85..=91 => devices[d].transport.set_faults(Faults {
                drop_request: rng.below(150) as u32,
                drop_response: rng.below(150) as u32,
                duplicate: rng.below(150) as u32,
                reorder: rng.below(150) as u32,
            }),
            _ => {
                // A live event: a device that hears of a new head pulls.
                let head = server.head();
                let engine = devices[d].engine();
                engine.note_head(head);
                if engine.behind() {
                    let _ = block_on(engine.sync(now));
                }
            }
        }
    }

    // The network heals.
    server.set_down(false);
    for d in &mut devices {
        d.transport.set_online(true);
        d.transport.set_faults(Faults::default());
        d.save();
    }
    for _pass in 0..5 {
        for d in &mut devices {
            now += 1_000;
            block_on(d.engine().sync(now))
                .unwrap_or_else(|e| panic!("seed {seed}: {}: {e}", d.name));
        }
    }
    let head = server.head();
    let reference = devices[0].engine().doc().get_deep_value();
    for d in &mut devices {
        let name = d.name.clone();
        let status = d.engine().status();
        assert_eq!(
            status.state,
            SyncState::Synced,
            "seed {seed}: {name}: {status:?}"
        );
        assert_eq!(status.pending, 0, "seed {seed}: {name}");
        assert_eq!(status.cursor, head, "seed {seed}: {name}");
        assert_eq!(
            d.engine().doc().get_deep_value(),
            reference,
            "seed {seed}: {name} differs"
        );
    }
    // Nothing any device saved is lost, on any device.
    let all_saved: BTreeMap<String, i64> = devices
        .iter()
        .flat_map(|d| d.saved.iter().cloned())
        .collect();
    for d in &mut devices {
        let map = d.engine().doc().get_map("saved");
        for (key, value) in &all_saved {
            assert!(
                has(&map, key, *value),
                "seed {seed}: {} lacks {key}",
                d.name
            );
        }
    }
    // And a fresh device that joins now gets the same document.
    let mut late = Device {
        name: "late".into(),
        store: MemoryStore::new(),
        transport: Rc::new(MemoryTransport::new(server.clone(), seed)),
        engine: None,
        unsaved: Vec::new(),
        saved: Vec::new(),
        counter: 0,
    };
    late.open(&mut rng);
    block_on(late.engine().sync(now)).unwrap();
    assert_eq!(
        late.engine().doc().get_deep_value(),
        reference,
        "seed {seed}: late joiner differs"
    );
}

#[test]
fn devices_converge_and_lose_nothing_saved() {
    let mut ex = Exercised::default();
    for seed in seeds(6) {
        run(seed, &mut ex);
    }
    eprintln!("{ex:?}");
    assert!(
        ex.server_compactions > 0 && ex.local_compactions > 0,
        "{ex:?}"
    );
    assert!(ex.failed_rounds > 0 && ex.crashes > 0, "{ex:?}");
}
