//! Devices spread over two nodes of a cluster edit at random (a seed
//! chooses what, where and when), sync, restart, and meanwhile one node
//! is killed and later started again where its devices know it. While it
//! is down its devices go on saving locally, and their syncs fail
//! without harm; every other sync succeeds. Once all have synced, every
//! device holds the same document, with every note any device saved.
//!
//! `HEARTH_SEEDS=N` runs seeds 1..=N (default: 2).

use std::collections::BTreeSet;
use std::path::PathBuf;

use hearth_device::Device;
use hearth_migrations::NoteFilter;
use hearth_shared::api::Scope;
use tempfile::TempDir;

use crate::common::cluster::Storage;

/// Steps of one seed.
const STEPS: u64 = 60;
/// Sync rounds all devices get at the end to converge.
const ROUNDS: usize = 6;

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The seeds to run.
pub fn seeds() -> Vec<u64> {
    let n = std::env::var("HEARTH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    (1..=n).collect()
}

/// One device: where it lives, which node it knows, what it saved.
struct Member {
    name: &'static str,
    dir: TempDir,
    /// 0 for node A, 1 for B.
    node: usize,
    device: Option<Device>,
    saved: Vec<String>,
}

impl Member {
    fn device(&mut self) -> &mut Device {
        self.device.as_mut().expect("the device is open")
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// Text for a note body: mostly short, now and then longer than a row
/// holds (so its entry is an object).
fn body(rng: &mut Rng, tag: &str) -> String {
    let len = if rng.below(8) == 0 {
        70_000 + rng.below(20_000) as usize
    } else {
        10 + rng.below(300) as usize
    };
    let mut out = format!("{tag} ");
    while out.len() < len {
        out.push_str(["lorem ", "ipsum ", "dolor ", "sit ", "amet "][rng.below(5) as usize]);
    }
    out
}

/// Runs one seed on a cluster of two nodes on `storage`.
pub async fn run(seed: u64, storage: &Storage) {
    let mut rng = Rng::new(seed);
    let mut nodes = [storage.process(&[]), storage.process(&[])];
    let origin = |nodes: &[crate::common::cluster::Node; 2], n: usize| {
        format!("http://{}", nodes[n].process.addr)
    };
    let mut up = [true, true];
    // The laptop makes the workspace through A; the others join through
    // the node they will use.
    let mut members: Vec<Member> = ["laptop", "phone", "tablet", "desktop"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| Member {
            name,
            dir: TempDir::new().unwrap(),
            node: i % 2,
            device: None,
            saved: Vec::new(),
        })
        .collect();
    let mut laptop = Device::create(members[0].path(), "laptop").await.unwrap();
    laptop.register(&origin(&nodes, 0)).await.unwrap();
    for m in members.iter_mut().skip(1) {
        let invite = laptop.invite(Scope::ReadWrite, None).await.unwrap();
        let device = Device::redeem(m.path(), &origin(&nodes, m.node), &invite.invite, m.name)
            .await
            .unwrap_or_else(|e| {
                panic!("seed {seed}: {} cannot join through its node: {e}", m.name)
            });
        m.device = Some(device);
    }
    members[0].device = Some(laptop);

    let (mut counter, mut synced, mut refused) = (0, 0, 0);
    for step in 0..STEPS {
        // A is killed a third of the way in, and back at two thirds.
        if step == STEPS / 3 {
            nodes[0].kill();
            up[0] = false;
        } else if step == 2 * STEPS / 3 {
            nodes[0].restart();
            up[0] = true;
        }
        let m = &mut members[rng.below(4) as usize];
        match rng.below(10) {
            0..=3 => {
                counter += 1;
                let title = format!("{}-{counter}", m.name);
                let text = body(&mut rng, &title);
                m.device().add_note(&title, &text, &[]).await.unwrap();
                m.saved.push(title);
            }
            4 | 5 => {
                // A few words typed into a note, somewhere.
                let notes = m.device().list_notes();
                if !notes.is_empty() {
                    let note = &notes[rng.below(notes.len() as u64) as usize];
                    let len = note.body.chars().count() as u64;
                    let (at, cut) = (rng.below(len + 1) as usize, rng.below(4) as usize);
                    let (id, words) = (note.id.clone(), format!(" typed on {} ", m.name));
                    m.device()
                        .edit(|ws, now| ws.splice_body(&id, at, cut, &words, now))
                        .await
                        .unwrap();
                }
            }
            6..=8 => {
                let (name, node) = (m.name, m.node);
                let result = m.device().sync_once().await;
                match result {
                    Ok(_) => {
                        assert!(up[node], "seed {seed}: {name} synced with a dead node");
                        synced += 1;
                    }
                    Err(e) => {
                        assert!(
                            !up[node],
                            "seed {seed} step {step}: {name}'s sync through a live node failed: {e}"
                        );
                        refused += 1;
                    }
                }
            }
            _ => {
                // The device restarts: what it saved is still there.
                let before = m.device().workspace().list_notes(NoteFilter::All);
                drop(m.device.take());
                m.device = Some(Device::open(m.path()).await.unwrap());
                assert_eq!(
                    m.device().workspace().list_notes(NoteFilter::All),
                    before,
                    "seed {seed}: {} lost what it saved across a restart",
                    m.name
                );
            }
        }
    }

    // Everyone syncs until nothing is pending and all stand at one head.
    for _ in 0..ROUNDS {
        for m in &mut members {
            let name = m.name;
            m.device()
                .sync_once()
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: {name} cannot sync: {e}"));
        }
    }
    let first = members[0].device.as_ref().unwrap();
    let (vv, notes) = (
        first.engine().doc().oplog_vv(),
        first.workspace().list_notes(NoteFilter::All),
    );
    let titles: BTreeSet<String> = notes.iter().map(|n| n.title.clone()).collect();
    for m in &members {
        let d = m.device.as_ref().unwrap();
        let status = d.status();
        assert_eq!(
            (status.pending, status.cursor),
            (0, status.head),
            "seed {seed}: {} {status:?}",
            m.name
        );
        assert_eq!(
            d.engine().doc().oplog_vv(),
            vv,
            "seed {seed}: {} differs",
            m.name
        );
        assert_eq!(
            d.workspace().list_notes(NoteFilter::All),
            notes,
            "seed {seed}: {}'s notes differ",
            m.name
        );
        for title in &m.saved {
            assert!(
                titles.contains(title),
                "seed {seed}: {title}, saved by {}, is lost",
                m.name
            );
        }
    }
    eprintln!(
        "seed {seed}: 4 devices over two nodes, {synced} syncs on the way and {refused} refused while A was down, converged on {} notes, head {}",
        notes.len(),
        members[0].device.as_ref().unwrap().status().head
    );
}
