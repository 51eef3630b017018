//! The history of a note, from the document's own change history (Loro
//! time travel): every change that touched the note, newest first, with the
//! note as it was right after it. Restoring writes the old text as a new
//! change, so it syncs like any edit and nothing is rewound.

use std::collections::HashSet;

use hearth_migrations::loro::{
    Container, ContainerID, ContainerTrait, Frontiers, ID, LoroDoc, LoroMap, ValueOrContainer,
};
use hearth_migrations::schema::NOTES_ROOT;
use hearth_migrations::{Note, Workspace};

/// One earlier state of a note.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteVersion {
    /// Seconds since the Unix epoch when the change was made (0 if the
    /// writing device did not record it).
    pub timestamp: i64,
    pub note: Note,
}

fn containers_of(map: &LoroMap, into: &mut HashSet<ContainerID>) {
    into.insert(map.id());
    for key in map.keys() {
        if let Some(ValueOrContainer::Container(child)) = map.get(&key) {
            into.insert(child.id());
            if let Container::Map(child) = child {
                containers_of(&child, into);
            }
        }
    }
}

/// The note's versions, newest first, at most `limit`, without repeats.
pub fn note_versions(doc: &LoroDoc, note_id: &str, limit: usize) -> Vec<NoteVersion> {
    let Some(ValueOrContainer::Container(Container::Map(note))) =
        doc.get_map(NOTES_ROOT).get(note_id)
    else {
        return Vec::new();
    };
    let mut watched = HashSet::new();
    containers_of(&note, &mut watched);

    // Every change that touched one of the note's containers.
    let mut changes = Vec::new();
    for (&peer, &end) in doc.oplog_vv().iter() {
        let mut counter = 0;
        while counter < end {
            let Some(meta) = doc.get_change(ID::new(peer, counter)) else {
                break;
            };
            let len = meta.len.max(1);
            let touched = doc.get_changed_containers_in(meta.id, len);
            if touched.iter().any(|c| watched.contains(c)) {
                let last = ID::new(peer, meta.id.counter + len as i32 - 1);
                changes.push((meta.lamport, meta.timestamp, last));
            }
            counter = meta.id.counter + len as i32;
        }
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.0));

    let mut versions: Vec<NoteVersion> = Vec::new();
    for (_, timestamp, last) in changes {
        if versions.len() >= limit {
            break;
        }
        let Ok(fork) = doc.fork_at(&Frontiers::from(last)) else {
            continue;
        };
        let Ok((workspace, _)) = Workspace::open(fork) else {
            continue;
        };
        let Some(note) = workspace.get_note(note_id) else {
            continue;
        };
        let same = versions
            .last()
            .is_some_and(|v| v.note.title == note.title && v.note.body == note.body);
        if !same {
            versions.push(NoteVersion { timestamp, note });
        }
    }
    versions
}
