//! Devices that edit the same workspace through the typed accessors, and
//! exchange changes at random moments, end with the same notes and task
//! lists: no note lost, none duplicated. Seeded; `HEARTH_SEEDS=N` runs more.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_migrations::loro::{ExportMode, LoroDoc};
use hearth_migrations::{NewNote, NoteFilter, Workspace, new_id};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn pick(rng: &mut Rng, ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| ids[rng.below(ids.len())].clone())
}

fn step(rng: &mut Rng, ws: &Workspace, now: i64) {
    let notes: Vec<String> = ws
        .list_notes(NoteFilter::All)
        .into_iter()
        .map(|n| n.id)
        .collect();
    let lists: Vec<String> = ws.list_task_lists().into_iter().map(|l| l.id).collect();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next().to_le_bytes());
    let fresh = new_id(bytes);
    match rng.below(9) {
        0 | 1 => {
            ws.add_note(
                &fresh,
                NewNote {
                    title: "t",
                    body: "body",
                    tags: &["a"],
                    pinned: false,
                },
                now,
            )
            .unwrap();
        }
        2 => {
            if let Some(id) = pick(rng, &notes) {
                let pos = rng.below(8);
                ws.splice_body(&id, pos, rng.below(2), "xy", now).unwrap();
            }
        }
        3 => {
            if let Some(id) = pick(rng, &notes) {
                let tags: &[&str] = [&["a", "b"][..], &["c"][..], &[][..]][rng.below(3)];
                ws.set_tags(&id, tags, now).unwrap();
            }
        }
        4 => {
            if let Some(id) = pick(rng, &notes) {
                if rng.below(2) == 0 {
                    ws.delete_note(&id, now).unwrap();
                } else {
                    ws.restore_note(&id, now).unwrap();
                }
            }
        }
        5 => {
            if let Some(id) = pick(rng, &notes) {
                ws.set_pinned(&id, rng.below(2) == 0, now).unwrap();
            }
        }
        6 => {
            ws.add_task_list(&fresh, "list", now).unwrap();
        }
        7 => {
            if let Some(list) = pick(rng, &lists) {
                ws.add_task(&list, &fresh, "task", now).unwrap();
            }
        }
        _ => {
            if let Some(list) = pick(rng, &lists) {
                let tasks: Vec<String> = ws
                    .get_task_list(&list)
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                if let Some(task) = pick(rng, &tasks) {
                    ws.toggle_task(&list, &task, now).unwrap();
                }
            }
        }
    }
}

fn exchange(from: &LoroDoc, to: &LoroDoc) {
    to.import(&from.export(ExportMode::updates(&to.oplog_vv())).unwrap())
        .unwrap();
}

fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let first = LoroDoc::new();
    first.set_peer_id(100).unwrap();
    let _ = Workspace::create(first.clone()).unwrap();
    let docs: Vec<LoroDoc> = (0..3)
        .map(|i| {
            let doc = LoroDoc::new();
            doc.set_peer_id(i + 1).unwrap();
            exchange(&first, &doc);
            doc
        })
        .collect();
    let workspaces: Vec<Workspace> = docs
        .iter()
        .map(|d| Workspace::open(d.clone()).unwrap().0)
        .collect();
    for now in 0..200 {
        let i = rng.below(3);
        if rng.below(4) == 0 {
            let j = rng.below(3);
            exchange(&docs[i], &docs[j]);
        } else {
            step(&mut rng, &workspaces[i], now);
        }
    }
    for _ in 0..2 {
        for i in 0..3 {
            for j in 0..3 {
                exchange(&docs[i], &docs[j]);
            }
        }
    }
    let notes = workspaces[0].list_notes(NoteFilter::All);
    let lists = workspaces[0].list_task_lists();
    for ws in &workspaces[1..] {
        assert_eq!(ws.list_notes(NoteFilter::All), notes, "seed {seed}");
        assert_eq!(ws.list_task_lists(), lists, "seed {seed}");
    }
    let mut ids: Vec<&str> = notes.iter().map(|n| n.id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        notes.len(),
        "seed {seed}: a note is listed twice"
    );
}

#[test]
fn devices_editing_the_typed_workspace_converge() {
    let n = std::env::var("HEARTH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4u64);
    for seed in 1..=n {
        run(seed);
    }
}
