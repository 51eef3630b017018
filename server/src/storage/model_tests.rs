//! Every log store against a simple in-memory model: random appends (with
//! repeated and conflicting idempotency keys), snapshots, pulls and reopens,
//! from fixed seeds. Every pull must match the model exactly.

// A contract is a test: a failed step panics with what differed.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use hearth_shared::frame::{FrameKind, decode_frames};
use sha2::Digest as _;

use hearth_shared::id::WorkspaceId;

use super::payload::Payload;
use super::{Appended, LogStore, NewEntry, Snapshotted, WorkspaceLog};

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the store should hold.
#[derive(Default)]
struct Model {
    entries: BTreeMap<u64, Vec<u8>>,
    keys: HashMap<String, (u64, Vec<u8>)>,
    head: u64,
    floor: u64,
    snapshot: Vec<u8>,
}

impl Model {
    fn append(&mut self, key: &str, payload: &[u8]) -> Appended {
        if let Some((seq, body)) = self.keys.get(key) {
            return if body == payload {
                Appended::Duplicate(*seq)
            } else {
                Appended::KeyConflict
            };
        }
        self.head += 1;
        self.entries.insert(self.head, payload.to_vec());
        self.keys
            .insert(key.to_owned(), (self.head, payload.to_vec()));
        Appended::New(self.head)
    }

    fn snapshot(&mut self, upto: u64, data: &[u8]) -> Snapshotted {
        if upto > self.head || upto < self.floor {
            return Snapshotted::Conflict {
                head: self.head,
                floor: self.floor,
            };
        }
        self.floor = upto;
        self.snapshot = data.to_vec();
        self.entries.retain(|seq, _| *seq > upto);
        Snapshotted::Done(upto)
    }

    fn pull(&self, after: u64) -> Vec<(FrameKind, u64, Vec<u8>)> {
        let mut out = Vec::new();
        if after < self.floor {
            out.push((FrameKind::Snapshot, self.floor, self.snapshot.clone()));
        }
        for (seq, p) in self.entries.range(after.max(self.floor) + 1..) {
            out.push((FrameKind::Entry, *seq, p.clone()));
        }
        out
    }
}

async fn pulled(log: &dyn WorkspaceLog, after: u64) -> Vec<(FrameKind, u64, Vec<u8>)> {
    let p = log
        .pull(after, u64::MAX)
        .await
        .unwrap()
        .read_all()
        .await
        .unwrap();
    decode_frames(&p.body)
        .unwrap()
        .into_iter()
        .map(|f| (f.kind, f.seq, f.payload.to_vec()))
        .collect()
}

/// Runs seed `seed` against workspace `ws` of `store`, which must be empty.
pub async fn run(seed: u64, store: &dyn LogStore, ws: &WorkspaceId) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut model = Model::default();
    let mut log = store.open(ws).await.unwrap();
    // Some payloads come as a large upload does, from a spool file.
    let spool = tempfile::tempdir().unwrap();
    let spooled = async |rng: &mut Rng, bytes: &[u8]| -> Payload {
        if rng.below(4) == 0 {
            Payload::spooled(spool.path(), bytes).await.unwrap()
        } else {
            Bytes::copy_from_slice(bytes).into()
        }
    };
    for step in 0..120 {
        let ctx = format!("seed {seed} step {step}");
        match rng.below(10) {
            0..=5 => {
                // Few keys, few bodies: retries and conflicts happen often.
                let key = format!("k{}", rng.below(40));
                let payload = vec![rng.below(3) as u8; 1 + rng.below(20) as usize];
                let entry = NewEntry {
                    key: Some(key.clone()),
                    hash: sha2::Sha256::digest(&payload).into(),
                    payload: spooled(&mut rng, &payload).await,
                };
                let got = log.append(vec![entry], u64::MAX).await.unwrap();
                assert_eq!(got, vec![model.append(&key, &payload)], "{ctx}");
            }
            6 => {
                let upto = rng.below(model.head + 2);
                let data = format!("snap {step}").into_bytes();
                assert_eq!(
                    log.put_snapshot(upto, spooled(&mut rng, &data).await, u64::MAX)
                        .await
                        .unwrap(),
                    model.snapshot(upto, &data),
                    "{ctx}"
                );
            }
            7 => {
                drop(log);
                log = store.open(ws).await.unwrap();
            }
            _ => {
                let after = rng.below(model.head + 2);
                assert_eq!(
                    pulled(log.as_ref(), after).await,
                    model.pull(after),
                    "{ctx}: pull after {after}"
                );
            }
        }
        let pos = log.position();
        assert_eq!((pos.head, pos.floor), (model.head, model.floor), "{ctx}");
    }
    assert_eq!(
        pulled(log.as_ref(), 0).await,
        model.pull(0),
        "seed {seed}: final"
    );
}

/// The log stores to run the model against: `HEARTH_TEST_LOG_STORES`
/// (comma-separated: `disk`, `memory`, `cluster`), or every store this
/// crate has.
#[cfg(test)]
fn stores() -> Vec<String> {
    crate::storage::backends_named("HEARTH_TEST_LOG_STORES", "disk,memory,cluster")
}

/// A log store called `name`: `disk` in `dir`; `cluster` on `cluster`
/// when given (several runs sharing one database), else on a fresh one.
#[cfg(test)]
async fn fresh_store(
    name: &str,
    dir: &std::path::Path,
    cluster: Option<&super::cluster::Cluster>,
) -> Box<dyn LogStore> {
    match name {
        "disk" => Box::new(super::disk::DiskStore::new(dir)),
        "memory" => Box::new(super::memory::MemoryStore::default()),
        "cluster" => {
            let cluster = match cluster {
                Some(c) => c.clone(),
                None => super::cluster::testing::fresh().await,
            };
            Box::new(super::cluster::ClusterStore::new(cluster, 3600))
        }
        other => panic!("no log store called {other} (HEARTH_TEST_LOG_STORES)"),
    }
}

#[tokio::test]
async fn every_log_store_behaves_like_the_model() {
    for name in stores() {
        // One database for the cluster's runs: each seed has a workspace.
        let cluster = match name.as_str() {
            "cluster" => Some(super::cluster::testing::fresh().await),
            _ => None,
        };
        for seed in 0..16 {
            let dir = tempfile::tempdir().unwrap();
            let store = fresh_store(&name, dir.path(), cluster.as_ref()).await;
            let ws = WorkspaceId::from_random([seed as u8; 16]);
            run(seed, store.as_ref(), &ws).await;
        }
    }
}

/// An upload larger than memory should hold: a 12 MiB entry and a 6 MiB
/// snapshot arrive spooled to files, are stored whole (the object store
/// takes them in parts), and read back to the byte, after a reopen too.
#[tokio::test]
async fn every_log_store_stores_large_spooled_uploads_whole() {
    for name in stores() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(&name, dir.path(), None).await;
        let ws = WorkspaceId::from_random([7; 16]);
        let log = store.open(&ws).await.unwrap();
        let mut rng = Rng(0x5eed);
        let big: Vec<u8> = (0..12 << 20).map(|_| rng.next() as u8).collect();
        let snap: Vec<u8> = (0..6 << 20).map(|_| rng.next() as u8).collect();
        let spool = tempfile::tempdir().unwrap();
        let small = NewEntry {
            key: Some("a".into()),
            hash: [1; 32],
            payload: Bytes::from_static(b"before").into(),
        };
        let large = NewEntry {
            key: Some("b".into()),
            hash: sha2::Sha256::digest(&big).into(),
            payload: Payload::spooled(spool.path(), &big).await.unwrap(),
        };
        let after = NewEntry {
            key: Some("c".into()),
            hash: [3; 32],
            payload: Bytes::from_static(b"after").into(),
        };
        assert_eq!(
            log.append(vec![small, large, after], u64::MAX)
                .await
                .unwrap(),
            [Appended::New(1), Appended::New(2), Appended::New(3)],
            "{name}"
        );
        let want = vec![
            (FrameKind::Entry, 1, b"before".to_vec()),
            (FrameKind::Entry, 2, big.clone()),
            (FrameKind::Entry, 3, b"after".to_vec()),
        ];
        assert!(
            pulled(log.as_ref(), 0).await == want,
            "{name}: the entries differ"
        );
        drop(log);
        let log = store.open(&ws).await.unwrap();
        assert!(
            pulled(log.as_ref(), 0).await == want,
            "{name}: reopened, the entries differ"
        );
        let data = Payload::spooled(spool.path(), &snap).await.unwrap();
        assert_eq!(
            log.put_snapshot(2, data, u64::MAX).await.unwrap(),
            Snapshotted::Done(2),
            "{name}"
        );
        drop(log);
        let log = store.open(&ws).await.unwrap();
        let want = vec![
            (FrameKind::Snapshot, 2, snap.clone()),
            (FrameKind::Entry, 3, b"after".to_vec()),
        ];
        assert!(
            pulled(log.as_ref(), 0).await == want,
            "{name}: the snapshot differs"
        );
    }
}

/// What `hearth migrate` relies on: a loaded log reads back as its dump,
/// goes on from its head, and knows its keys.
#[tokio::test]
async fn every_log_store_loads_a_dump_and_goes_on_from_it() {
    use super::{KeyRow, LogDump};
    for name in stores() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(&name, dir.path(), None).await;
        let ws = WorkspaceId::from_random([42; 16]);
        let large = Bytes::from(vec![3u8; 100_000]);
        let dump = LogDump {
            head: 12,
            floor: 9,
            snapshot: Some(Bytes::from_static(b"up to nine")),
            entries: vec![(10, Bytes::from_static(b"ten")), (12, large)],
            keys: vec![
                // Sorted, as a dump's keys are.
                KeyRow {
                    key: "k12".into(),
                    seq: 12,
                    hash: [12; 32],
                },
                KeyRow {
                    key: "k3".into(),
                    seq: 3,
                    hash: [3; 32],
                },
            ],
        };
        store.load(&ws, dump.clone()).await.unwrap();
        let log = store.open(&ws).await.unwrap();
        let back = LogDump::of(log.as_ref()).await.unwrap();
        assert_eq!(
            (back.head, back.floor, &back.keys),
            (dump.head, dump.floor, &dump.keys),
            "{name}"
        );
        assert!(back == dump, "{name}: the snapshot or the entries differ");
        assert_eq!(back.digest(), dump.digest());
        let again = NewEntry {
            key: Some("k3".into()),
            hash: [3; 32],
            payload: Bytes::from_static(b"x").into(),
        };
        let next = NewEntry {
            key: Some("k13".into()),
            hash: [13; 32],
            payload: Bytes::from_static(b"y").into(),
        };
        assert_eq!(
            log.append(vec![again, next], u64::MAX).await.unwrap(),
            [Appended::Duplicate(3), Appended::New(13)],
            "{name}: a retry from before the move lands once; new entries follow the head"
        );
        assert!(
            store.load(&ws, dump).await.is_err(),
            "{name}: never over a log"
        );
    }
}
