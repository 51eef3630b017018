//! The history of a note, from the document's own change history (Loro
//! time travel): every change that touched the note, newest first, with the
//! note as it was right after it (its text and the files it held).
//! Restoring writes the old text, and attaches again the files it held, as
//! a new change, so it syncs like any edit and nothing is rewound.

use std::collections::HashSet;

use loro::{
    Container, ContainerID, ContainerTrait, Frontiers, ID, LoroDoc, LoroMap, ValueOrContainer,
};

use crate::error::SchemaError;
use crate::notes::Note;
use crate::schema::NOTES_ROOT;
use crate::workspace::Workspace;

/// One earlier state of a note.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteVersion {
    /// Seconds since the Unix epoch when the change was made (0 if the
    /// writing device did not record it).
    pub timestamp: i64,
    pub note: Note,
    /// The files the note held then: (file id, reference JSON).
    pub files: Vec<(String, String)>,
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
        let files = workspace.note_files(note_id);
        let same = versions.last().is_some_and(|v| {
            v.note.title == note.title && v.note.body == note.body && v.files == files
        });
        if !same {
            versions.push(NoteVersion {
                timestamp,
                note,
                files,
            });
        }
    }
    versions
}

impl Workspace {
    /// Brings note `id` back to `version`: its title and body, and every
    /// file it held then that it does not hold now (files attached since
    /// stay). One change.
    pub fn restore_version(
        &self,
        id: &str,
        version: &NoteVersion,
        now: i64,
    ) -> Result<(), SchemaError> {
        self.update_note(id, Some(&version.note.title), Some(&version.note.body), now)?;
        let held: Vec<String> = self.note_files(id).into_iter().map(|(f, _)| f).collect();
        for (file, reference) in &version.files {
            if !held.contains(file) {
                self.attach_file(id, file, reference, now)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::NewNote;

    #[test]
    fn restoring_a_version_brings_back_its_text_and_its_files() {
        // Each step its own change, as edits far enough apart are (Loro
        // merges a peer's changes made close together).
        let doc = LoroDoc::new();
        doc.set_change_merge_interval(-1);
        let ws = Workspace::create(doc).unwrap();
        let step = |ws: &Workspace| ws.doc().commit();
        let new = NewNote {
            title: "Receipts",
            body: "March",
            tags: &[],
            pinned: false,
        };
        ws.add_note("n", new, 1).unwrap();
        step(&ws);
        ws.attach_file("n", "f1", r#"{"id":"f1","name":"march.pdf"}"#, 2)
            .unwrap();
        step(&ws);
        ws.update_note("n", None, Some("March and April"), 3)
            .unwrap();
        step(&ws);
        ws.detach_file("n", "f1", 4).unwrap();
        step(&ws);
        ws.attach_file("n", "f2", r#"{"id":"f2","name":"april.pdf"}"#, 5)
            .unwrap();
        step(&ws);
        ws.update_note("n", None, Some("April only"), 6).unwrap();
        step(&ws);

        let versions = note_versions(ws.doc(), "n", 20);
        let with_march = versions
            .iter()
            .find(|v| v.note.body == "March and April" && v.files.iter().any(|(f, _)| f == "f1"))
            .unwrap();
        assert_eq!(with_march.files.len(), 1, "f2 came later");
        // Detaching made a version of its own.
        assert!(
            versions
                .iter()
                .any(|v| v.note.body == "March and April" && v.files.is_empty())
        );
        ws.restore_version("n", with_march, 7).unwrap();
        step(&ws);
        let note = ws.get_note("n").unwrap();
        assert_eq!(note.body, "March and April");
        let files: Vec<String> = ws.note_files("n").into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            files,
            ["f1", "f2"],
            "the old file is back, the new one stays"
        );
        // The restore is a new change, and itself a version.
        assert_eq!(note_versions(ws.doc(), "n", 1)[0].files.len(), 2);
    }
}
