//! Collecting attached files, as a pure plan: which chunks the server
//! should keep, which it may delete after its grace period, and which
//! references the document may drop. Run on the owner's device, natively
//! (`hearth-device collect-files`) and in the app (Data → Files); both
//! carry the plan out the same way: ask for `keep` (which brings back any
//! the server had set aside), tell the server `mark`, drop `due`, keep the
//! ledger.
//!
//! - A file no note holds (the bin counts as holding) is collected once it
//!   has been unheld for the window, in which history can bring it back:
//!   its chunks that no held file shares are marked, its reference
//!   dropped.
//! - A chunk the server stores that no file of the document names (an
//!   upload that never finished: a tab closed half-way, a device gone) is
//!   marked once it has been seen so for the server's grace period, so
//!   that an upload still under way, whose reference is written when its
//!   last chunk is stored, is never taken.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::MAX_CHUNK_NAMES;
use crate::files::FileRef;
use crate::id::ChunkName;

/// When each file and chunk was first seen unheld, in milliseconds; kept
/// between runs on the device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub files: BTreeMap<String, u64>,
    #[serde(default)]
    pub chunks: BTreeMap<ChunkName, u64>,
}

/// What the document says of its files.
pub struct Files<'a> {
    /// The root map: every reference attached and not yet collected.
    pub attached: &'a [(String, String)],
    /// The notes' own copies of the files they hold.
    pub held: &'a [(String, String)],
}

/// One collection's plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Chunks of held files: asked for, so that any set aside come back.
    pub keep: Vec<ChunkName>,
    /// Chunks to tell the server no note needs.
    pub mark: Vec<ChunkName>,
    /// Files whose references are dropped once `mark` is told.
    pub due: Vec<String>,
    /// Files held by some note.
    pub referenced: usize,
    /// Files no note holds, still inside the window.
    pub waiting: usize,
    /// Chunks no file names, marked now (left over from unfinished uploads).
    pub abandoned: usize,
    /// The ledger to keep after this run.
    pub ledger: Ledger,
}

impl Plan {
    /// `mark` in batches the server takes at once; at least one, even
    /// with nothing to mark: the server deletes what waited out its grace
    /// period whenever it is told.
    pub fn mark_batches(&self) -> Vec<&[ChunkName]> {
        if self.mark.is_empty() {
            vec![&[]]
        } else {
            self.mark.chunks(MAX_CHUNK_NAMES).collect()
        }
    }
}

fn refs(list: &[(String, String)]) -> impl Iterator<Item = (&str, FileRef)> {
    list.iter()
        .filter_map(|(id, json)| FileRef::from_json(json).map(|f| (id.as_str(), f)))
}

/// The plan at `now` (ms) for files unheld for `window_ms`, given the
/// chunks the server stores (`stored`, if it told) and its grace period.
pub fn plan(
    files: Files<'_>,
    ledger: &Ledger,
    now: u64,
    window_ms: u64,
    stored: Option<(&[ChunkName], u64)>,
) -> Plan {
    let held_ids: BTreeSet<&str> = files.held.iter().map(|(id, _)| id.as_str()).collect();
    let mut keep: BTreeSet<ChunkName> = BTreeSet::new();
    for (_, file) in refs(files.held) {
        keep.extend(file.chunk_names());
    }
    for (id, file) in refs(files.attached) {
        if held_ids.contains(id) {
            keep.extend(file.chunk_names());
        }
    }
    let mut plan = Plan {
        referenced: held_ids.len(),
        ..Plan::default()
    };
    let mut named: BTreeSet<ChunkName> = keep.clone();
    let mut mark = BTreeSet::new();
    for (id, file) in refs(files.attached) {
        named.extend(file.chunk_names());
        if held_ids.contains(id) {
            continue;
        }
        let since = *ledger.files.get(id).unwrap_or(&now);
        plan.ledger.files.insert(id.to_owned(), since);
        if now.saturating_sub(since) < window_ms {
            plan.waiting += 1;
            continue;
        }
        mark.extend(file.chunk_names().filter(|n| !keep.contains(n)));
        plan.due.push(id.to_owned());
    }
    // A reference that does not read is kept, and its file counted held:
    // a newer format's chunks are never taken for abandoned ones.
    let unreadable = files
        .attached
        .iter()
        .chain(files.held)
        .any(|(_, json)| FileRef::from_json(json).is_none());
    if let Some((stored, grace_secs)) = stored
        && !unreadable
    {
        let grace_ms = grace_secs.saturating_mul(1000);
        for name in stored.iter().filter(|n| !named.contains(n)) {
            let since = *ledger.chunks.get(name).unwrap_or(&now);
            if now.saturating_sub(since) >= grace_ms {
                mark.insert(*name);
                plan.abandoned += 1;
            } else {
                plan.ledger.chunks.insert(*name, since);
            }
        }
    }
    plan.keep = keep.into_iter().collect();
    plan.mark = mark.into_iter().collect();
    for id in &plan.due {
        plan.ledger.files.remove(id);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::ChunkRef;

    fn name(n: u8) -> ChunkName {
        ChunkName::from_digest([n; 32])
    }

    fn file(id: &str, chunks: &[u8]) -> (String, String) {
        let f = FileRef {
            id: id.into(),
            name: format!("{id}.bin"),
            mime: "application/octet-stream".into(),
            size: chunks.len() as u64,
            chunks: chunks
                .iter()
                .map(|n| ChunkRef {
                    name: name(*n),
                    len: 1,
                })
                .collect(),
            thumbnail: None,
            added_at: 0,
        };
        (id.to_owned(), f.to_json())
    }

    #[test]
    fn unheld_files_wait_out_the_window_and_shared_chunks_stay() {
        let attached = [file("a", &[1, 2]), file("b", &[2, 3])];
        let held = [file("b", &[2, 3])];
        let files = || Files {
            attached: &attached,
            held: &held,
        };
        let first = plan(files(), &Ledger::default(), 1_000, 500, None);
        assert_eq!((first.waiting, first.due.len()), (1, 0));
        assert_eq!(first.keep, vec![name(2), name(3)]);
        assert!(first.mark.is_empty());
        let later = plan(files(), &first.ledger, 1_500, 500, None);
        assert_eq!(later.due, vec!["a".to_owned()]);
        assert_eq!(later.mark, vec![name(1)], "chunk 2 is b's too");
        assert!(later.ledger.files.is_empty());
        // Held again meanwhile: it leaves the ledger.
        let again = plan(
            Files {
                attached: &attached,
                held: &attached,
            },
            &first.ledger,
            1_500,
            500,
            None,
        );
        assert!(again.due.is_empty() && again.ledger.files.is_empty());
    }

    #[test]
    fn chunks_no_file_names_go_after_the_grace_period_unless_a_file_names_them_by_then() {
        let attached = [file("a", &[1])];
        let files = || Files {
            attached: &attached,
            held: &attached,
        };
        let stored = [name(1), name(8), name(9)];
        let first = plan(files(), &Ledger::default(), 10_000, 0, Some((&stored, 5)));
        assert_eq!((first.abandoned, first.mark.len()), (0, 0));
        assert_eq!(first.ledger.chunks.len(), 2);
        // Chunk 9's upload finished: a file names it now.
        let attached = [file("a", &[1]), file("c", &[9])];
        let second = plan(
            Files {
                attached: &attached,
                held: &attached,
            },
            &first.ledger,
            15_000,
            0,
            Some((&stored, 5)),
        );
        assert_eq!(second.mark, vec![name(8)]);
        assert_eq!(second.abandoned, 1);
        assert!(second.ledger.chunks.is_empty());
        // A reference this version cannot read: nothing is taken for
        // abandoned.
        let odd = [file("a", &[1]), ("z".to_owned(), "{\"v\": 9}".to_owned())];
        let careful = plan(
            Files {
                attached: &odd,
                held: &odd,
            },
            &first.ledger,
            15_000,
            0,
            Some((&stored, 5)),
        );
        assert!(careful.mark.is_empty());
    }
}
