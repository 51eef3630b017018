//! Attached files: the accessors of [`Workspace`] over the `"files"` root
//! map and each note's `files` set.
//!
//! ```text
//! notes/<id>/files     map file id -> string, the file's reference as JSON
//!                      (name, type, size, chunk list, thumbnail; see
//!                      `hearth_shared::files::FileRef`)
//! files (root)         map file id -> string, every reference attached and
//!                      not yet collected (what the owner's device collects
//!                      from once no note holds it)
//! ```
//!
//! A file's id is derived from its content, so the same file attached to
//! two notes is one entry of the root map and two of the notes' maps; two
//! devices attaching the same file write the same reference. A note keeps
//! its own copy, so that a reference collected on one device while another
//! attaches the same file again is never lost from the note. A file is
//! referenced while a note holds it, in the bin too (the bin can restore
//! it); only a file no note holds may be collected, and only by the
//! owner's device, after the window in which history can bring it back.
//!
//! This crate keeps the reference as the JSON it is given: the schema does
//! not read it, so a newer reference format passes through untouched.

use std::collections::BTreeSet;

use loro::{LoroMap, LoroValue, ValueOrContainer};

use crate::error::SchemaError;
use crate::schema::{FILES_ROOT, NOTES_ROOT};
use crate::value::child_map;
use crate::workspace::Workspace;

/// Key of a note's set of attached files.
pub(crate) const NOTE_FILES: &str = "files";

/// Whether `id` can be a file id: 1 to 64 characters of `[0-9a-z_-]`.
fn valid_file_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-' || b == b'_')
}

/// A note's files: `(id, reference JSON)`, by id.
fn files_of(note: &LoroMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(set) = child_map(note, NOTE_FILES) {
        set.for_each(|id, value| {
            if let ValueOrContainer::Value(LoroValue::String(s)) = value {
                out.push((id.to_owned(), s.to_string()));
            }
        });
    }
    out.sort();
    out
}

fn same_string(map: &LoroMap, key: &str, value: &str) -> bool {
    matches!(
        map.get(key),
        Some(ValueOrContainer::Value(LoroValue::String(s))) if *s == *value
    )
}

impl Workspace {
    fn files_root(&self) -> LoroMap {
        self.doc().get_map(FILES_ROOT)
    }

    /// Attaches file `file_id`, whose reference is `reference` (JSON), to
    /// note `note_id`. Write it only once every chunk is on the server:
    /// a reference syncs at once, and another device would ask for chunks
    /// that are not there.
    pub fn attach_file(
        &self,
        note_id: &str,
        file_id: &str,
        reference: &str,
        now: i64,
    ) -> Result<(), SchemaError> {
        self.writable()?;
        if !valid_file_id(file_id) {
            return Err(SchemaError::BadFileId(file_id.to_owned()));
        }
        let note = child_map(&self.doc().get_map(NOTES_ROOT), note_id)
            .ok_or_else(|| SchemaError::NoSuchNote(note_id.to_owned()))?;
        let root = self.files_root();
        if !same_string(&root, file_id, reference) {
            root.insert(file_id, reference)?;
        }
        let set = note.ensure_mergeable_map(NOTE_FILES)?;
        if !same_string(&set, file_id, reference) {
            set.insert(file_id, reference)?;
            note.insert("updated_at", now)?;
        }
        self.commit();
        Ok(())
    }

    /// Takes file `file_id` off note `note_id` (its reference stays until
    /// the owner's device collects it).
    pub fn detach_file(&self, note_id: &str, file_id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let note = child_map(&self.doc().get_map(NOTES_ROOT), note_id)
            .ok_or_else(|| SchemaError::NoSuchNote(note_id.to_owned()))?;
        if let Some(set) = child_map(&note, NOTE_FILES)
            && set.get(file_id).is_some()
        {
            set.delete(file_id)?;
            note.insert("updated_at", now)?;
        }
        self.commit();
        Ok(())
    }

    /// A note's files: `(id, reference JSON)`, by id.
    pub fn note_files(&self, note_id: &str) -> Vec<(String, String)> {
        child_map(&self.doc().get_map(NOTES_ROOT), note_id)
            .map(|note| files_of(&note))
            .unwrap_or_default()
    }

    /// The reference (JSON) of file `file_id`: the workspace's, or (if it
    /// was collected meanwhile) a note's copy.
    pub fn file(&self, file_id: &str) -> Option<String> {
        if let Some(ValueOrContainer::Value(LoroValue::String(s))) = self.files_root().get(file_id)
        {
            return Some(s.to_string());
        }
        let mut found = None;
        self.doc().get_map(NOTES_ROOT).for_each(|_, value| {
            if found.is_none()
                && let ValueOrContainer::Container(loro::Container::Map(note)) = value
                && let Some(set) = child_map(&note, NOTE_FILES)
                && let Some(ValueOrContainer::Value(LoroValue::String(s))) = set.get(file_id)
            {
                found = Some(s.to_string());
            }
        });
        found
    }

    /// Every file reference the workspace keeps: `(id, JSON)`, by id.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.files_root().for_each(|id, value| {
            if let ValueOrContainer::Value(LoroValue::String(s)) = value {
                out.push((id.to_owned(), s.to_string()));
            }
        });
        out.sort();
        out
    }

    /// Every file some note holds (the bin too), as the notes' own copies
    /// have it: `(id, reference JSON)`, by id; a file two notes hold with
    /// different references is there twice.
    pub fn held_files(&self) -> Vec<(String, String)> {
        let mut out = BTreeSet::new();
        self.doc().get_map(NOTES_ROOT).for_each(|_, value| {
            if let ValueOrContainer::Container(loro::Container::Map(note)) = value {
                out.extend(files_of(&note));
            }
        });
        out.into_iter().collect()
    }

    /// The ids of the files some note holds, the notes in the bin too.
    pub fn referenced_file_ids(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.doc().get_map(NOTES_ROOT).for_each(|_, value| {
            if let ValueOrContainer::Container(loro::Container::Map(note)) = value {
                out.extend(files_of(&note).into_iter().map(|(id, _)| id));
            }
        });
        out
    }

    /// Drops the reference of a file no note holds (after its chunks were
    /// collected). A file some note still holds is kept.
    pub fn forget_file(&self, file_id: &str) -> Result<bool, SchemaError> {
        self.writable()?;
        if self.referenced_file_ids().contains(file_id) || self.file(file_id).is_none() {
            return Ok(false);
        }
        self.files_root().delete(file_id)?;
        self.commit();
        Ok(true)
    }

    /// Removes a note for good, from the bin (its files become
    /// unreferenced unless another note holds them). History can still
    /// show it; the owner's device collects its files after the window.
    pub fn purge_note(&self, id: &str) -> Result<(), SchemaError> {
        self.writable()?;
        let notes = self.doc().get_map(NOTES_ROOT);
        let note = child_map(&notes, id).ok_or_else(|| SchemaError::NoSuchNote(id.to_owned()))?;
        if note.get("deleted_at").is_none() {
            return Err(SchemaError::NotInBin(id.to_owned()));
        }
        notes.delete(id)?;
        self.commit();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use loro::LoroDoc;

    use crate::{NewNote, Workspace};

    #[test]
    fn a_file_on_two_notes_is_one_reference_referenced_until_both_let_go() {
        let ws = Workspace::create(LoroDoc::new()).unwrap();
        for id in ["a", "b"] {
            ws.add_note(id, NewNote::default(), 1).unwrap();
        }
        let reference = r#"{"id":"f1","name":"cat.jpg"}"#;
        ws.attach_file("a", "f1", reference, 2).unwrap();
        ws.attach_file("b", "f1", reference, 3).unwrap();
        ws.attach_file("b", "f2", "{}", 4).unwrap();
        assert!(ws.attach_file("b", "Bad/Id", "{}", 4).is_err());
        assert!(ws.attach_file("nope", "f3", "{}", 4).is_err());
        assert_eq!(ws.files().len(), 2);
        let ids =
            |note| -> Vec<String> { ws.note_files(note).into_iter().map(|(id, _)| id).collect() };
        assert_eq!(ids("b"), vec!["f1", "f2"]);
        assert_eq!(ws.file("f1").as_deref(), Some(reference));

        ws.detach_file("a", "f1", 5).unwrap();
        ws.delete_note("b", 6).unwrap();
        // In the bin: still referenced, so it cannot be forgotten.
        assert!(ws.referenced_file_ids().contains("f1"));
        assert!(!ws.forget_file("f1").unwrap());
        assert!(ws.purge_note("a").is_err(), "only a note in the bin");
        ws.purge_note("b").unwrap();
        assert!(ws.referenced_file_ids().is_empty());
        assert!(ws.forget_file("f1").unwrap());
        assert_eq!(ws.files().len(), 1);
    }

    #[test]
    fn references_merge_across_devices() {
        let one = Workspace::create(LoroDoc::new()).unwrap();
        one.add_note("n", NewNote::default(), 1).unwrap();
        let two = Workspace::open(LoroDoc::new()).unwrap().0;
        two.doc()
            .import(&one.doc().export(loro::ExportMode::all_updates()).unwrap())
            .unwrap();
        one.attach_file("n", "f1", "{}", 2).unwrap();
        two.attach_file("n", "f2", "{}", 3).unwrap();
        let update = two.doc().export(loro::ExportMode::all_updates()).unwrap();
        one.doc().import(&update).unwrap();
        let ids: Vec<String> = one.note_files("n").into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec!["f1", "f2"]);
    }
}
