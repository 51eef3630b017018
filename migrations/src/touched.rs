//! Which notes and task lists a stretch of one device's history changed:
//! "2 notes not on the server yet" means more to a person than a count of
//! operations (typing two words makes a dozen).

use std::collections::BTreeSet;

use loro::event::Diff;
use loro::{ContainerID, Frontiers, Index, LoroDoc};

use crate::schema::{NOTES_ROOT, TASK_LISTS_ROOT};

/// The notes and task lists some operations changed (created, edited,
/// deleted), by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    pub notes: BTreeSet<String>,
    pub lists: BTreeSet<String>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.lists.is_empty()
    }

    /// "1 note", "2 notes and 1 task list", … (empty when nothing).
    pub fn describe(&self) -> String {
        let part = |n: usize, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        [
            part(self.notes.len(), "note", "notes"),
            part(self.lists.len(), "task list", "task lists"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ")
    }
}

/// What the operations of `peer` from counter `from` on changed in `doc`
/// (for a device: what is not acknowledged by the server yet). Empty when
/// there are none, or when the history cannot be compared (never an error:
/// this only words a status).
pub fn touched_since(doc: &LoroDoc, peer: u64, from: i32) -> Touched {
    let mut before = doc.oplog_vv();
    let end = before.get(&peer).copied().unwrap_or(0);
    if from >= end {
        return Touched::default();
    }
    before.insert(peer, from.max(0));
    let before = doc.vv_to_frontiers(&before);
    touched_between(doc, &before, &doc.oplog_frontiers()).unwrap_or_default()
}

/// Above this many operations, a diff is not worth its time: Loro's diff
/// of a 10,000-note import takes seconds; callers read everything instead.
pub const MAX_DIFF_OPS: u64 = 20_000;

/// What changed in `doc` between two of its versions; `None` when they
/// cannot be compared (a version the document does not know), or when
/// more than [`MAX_DIFF_OPS`] operations lie between them.
pub fn touched_between(doc: &LoroDoc, from: &Frontiers, to: &Frontiers) -> Option<Touched> {
    let mut touched = Touched::default();
    if from == to {
        return Some(touched);
    }
    let (from_vv, to_vv) = (doc.frontiers_to_vv(from)?, doc.frontiers_to_vv(to)?);
    let ops: u64 = to_vv
        .iter()
        .map(|(peer, end)| {
            let start = from_vv.get(peer).copied().unwrap_or(0);
            u64::try_from(end.saturating_sub(start)).unwrap_or(0)
        })
        .sum();
    if ops > MAX_DIFF_OPS {
        return None;
    }
    let diff = doc.diff(from, to).ok()?;
    for (container, change) in diff.iter() {
        // A path runs from the root: each step is a container and its key
        // in the step before (notes and lists are mergeable maps, so even
        // they are roots of their own; the path still leads through the
        // root they belong to).
        let path = doc.get_path_to_container(container).unwrap_or_default();
        let Some(root) = path.first().and_then(|(c, _)| root_name(c)) else {
            continue;
        };
        match path.get(1) {
            Some((_, Index::Key(key))) => add(&mut touched, root, key),
            Some(_) => {}
            // The root itself: items added or removed under it.
            None => {
                if let Diff::Map(map) = change {
                    for key in map.updated.keys() {
                        add(&mut touched, root, key);
                    }
                }
            }
        }
    }
    Some(touched)
}

fn root_name(container: &ContainerID) -> Option<&str> {
    match container {
        ContainerID::Root { name, .. } => Some(name.as_str()),
        ContainerID::Normal { .. } => None,
    }
}

fn add(touched: &mut Touched, root: &str, key: &str) {
    match root {
        NOTES_ROOT => {
            touched.notes.insert(key.to_owned());
        }
        TASK_LISTS_ROOT => {
            touched.lists.insert(key.to_owned());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{NewNote, Workspace};

    fn note(title: &str) -> NewNote<'_> {
        NewNote {
            title,
            body: "",
            tags: &[],
            pinned: false,
        }
    }

    #[test]
    fn counts_items_not_keystrokes() {
        let doc = LoroDoc::new();
        doc.set_peer_id(7).unwrap();
        let ws = Workspace::create(doc.clone()).unwrap();
        ws.add_note("a", note("Old"), 1).unwrap();
        ws.add_note("b", note("Other"), 1).unwrap();
        let acked = doc.oplog_vv().get(&7).copied().unwrap();
        assert!(touched_since(&doc, 7, acked).is_empty());

        // Typing two words into one note, one character at a time.
        for (i, c) in "two words".chars().enumerate() {
            ws.splice_body("a", i, 0, &c.to_string(), 2).unwrap();
        }
        let touched = touched_since(&doc, 7, acked);
        assert_eq!(touched.notes.iter().collect::<Vec<_>>(), ["a"]);
        assert_eq!(touched.describe(), "1 note");

        // A new note and a new task list with a task; a deleted note.
        ws.add_note("c", note("New"), 3).unwrap();
        ws.add_task_list("l", "Weekend", 3).unwrap();
        ws.add_task("l", "t", "Bike", 3).unwrap();
        ws.delete_note("b", 4).unwrap();
        let touched = touched_since(&doc, 7, acked);
        assert_eq!(touched.notes.len(), 3, "{touched:?}");
        assert_eq!(touched.lists.len(), 1, "{touched:?}");
        assert_eq!(touched.describe(), "3 notes and 1 task list");
    }

    #[test]
    fn another_devices_changes_are_not_counted() {
        let mine = LoroDoc::new();
        mine.set_peer_id(1).unwrap();
        let ws = Workspace::create(mine.clone()).unwrap();
        ws.add_note("a", note("Mine"), 1).unwrap();
        let acked = mine.oplog_vv().get(&1).copied().unwrap();
        // Another device edits, and this one imports it.
        let theirs = LoroDoc::new();
        theirs.set_peer_id(2).unwrap();
        theirs
            .import(&mine.export(loro::ExportMode::Snapshot).unwrap())
            .unwrap();
        let other = Workspace::open(theirs.clone()).unwrap().0;
        other.add_note("z", note("Theirs"), 2).unwrap();
        mine.import(&theirs.export(loro::ExportMode::Snapshot).unwrap())
            .unwrap();
        assert!(touched_since(&mine, 1, acked).is_empty());
        ws.set_pinned("a", true, 3).unwrap();
        assert_eq!(touched_since(&mine, 1, acked).describe(), "1 note");
        // Bad input is no change, not a panic.
        assert!(touched_since(&mine, 1, i32::MAX).is_empty());
        assert!(touched_since(&mine, 99, -5).is_empty());
    }
}
