//! Notes: the accessors of [`Workspace`] over the `"notes"` root map.
//!
//! Each note is a mergeable map under its id (schema v2):
//!
//! ```text
//! id          string
//! title       text (character-level edits)
//! body        text (character-level edits)
//! tag_set     map tag -> true            (v1 had "tags": "a,b" instead)
//! pinned      bool
//! created_at  i64, milliseconds since the Unix epoch
//! updated_at  i64
//! deleted_at  i64, present while the note is in the bin (soft delete)
//! files       map file id -> reference JSON (see [`crate::files`])
//! ```
//!
//! Times are passed in by the caller.

use loro::{LoroMap, LoroValue, UpdateOptions};

use crate::error::SchemaError;
use crate::schema::NOTES_ROOT;
use crate::tags::{LEGACY_TAGS, TAG_SET, split_legacy_tags};
use crate::value::{boolean, child_map, child_text, int, set_keys, string, text_or_string};
use crate::workspace::Workspace;

/// A note as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: String,
    pub title: String,
    pub body: String,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    pub pinned: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// `Some` while the note is deleted (restorable).
    pub deleted_at: Option<i64>,
}

/// What a new note starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewNote<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub tags: &'a [&'a str],
    pub pinned: bool,
}

/// Which notes [`Workspace::list_notes`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoteFilter {
    /// Notes not in the bin (the default).
    #[default]
    Live,
    /// Only deleted notes.
    Deleted,
    /// Everything.
    All,
}

pub(crate) fn read_tags(note: &LoroMap) -> Vec<String> {
    let mut tags = child_map(note, TAG_SET)
        .map(|m| set_keys(&m))
        .unwrap_or_default();
    // A v1 device may have written the legacy field concurrently with the
    // migration; its tags still count.
    if let Some(legacy) = string(note, LEGACY_TAGS) {
        tags.extend(split_legacy_tags(&legacy));
    }
    tags.sort();
    tags.dedup();
    tags
}

fn read_note(id: &str, note: &LoroMap) -> Note {
    Note {
        id: string(note, "id").unwrap_or_else(|| id.to_owned()),
        title: text_or_string(note, "title"),
        body: text_or_string(note, "body"),
        tags: read_tags(note),
        pinned: boolean(note, "pinned").unwrap_or(false),
        created_at: int(note, "created_at").unwrap_or(0),
        updated_at: int(note, "updated_at").unwrap_or(0),
        deleted_at: int(note, "deleted_at"),
    }
}

/// How many notes of a document are not in the bin, read without opening
/// it as a [`Workspace`] (which would migrate it): for a workspace synced
/// in the background, whose page is not open.
pub fn count_live_notes(doc: &loro::LoroDoc) -> usize {
    let root = doc.get_map(crate::schema::NOTES_ROOT);
    root.keys()
        .filter(|key| child_map(&root, key).is_some_and(|m| int(&m, "deleted_at").is_none()))
        .count()
}

impl Workspace {
    fn notes_root(&self) -> LoroMap {
        self.doc().get_map(NOTES_ROOT)
    }

    fn note_map(&self, id: &str) -> Result<LoroMap, SchemaError> {
        child_map(&self.notes_root(), id).ok_or_else(|| SchemaError::NoSuchNote(id.to_owned()))
    }

    /// Adds a note under `id` (the caller draws it, see [`crate::new_id`]).
    pub fn add_note(&self, id: &str, new: NewNote<'_>, now: i64) -> Result<Note, SchemaError> {
        self.writable()?;
        if id.is_empty() {
            return Err(SchemaError::EmptyId);
        }
        let note = self.notes_root().ensure_mergeable_map(id)?;
        note.insert("id", id)?;
        note.ensure_mergeable_text("title")?.insert(0, new.title)?;
        note.ensure_mergeable_text("body")?.insert(0, new.body)?;
        let tag_set = note.ensure_mergeable_map(TAG_SET)?;
        for tag in new.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            tag_set.insert(tag, true)?;
        }
        note.insert("pinned", new.pinned)?;
        note.insert("created_at", now)?;
        note.insert("updated_at", now)?;
        self.commit();
        Ok(read_note(id, &note))
    }

    /// The note with this id, deleted or not.
    pub fn get_note(&self, id: &str) -> Option<Note> {
        child_map(&self.notes_root(), id).map(|m| read_note(id, &m))
    }

    /// Notes, pinned first, then the most recently updated first.
    pub fn list_notes(&self, filter: NoteFilter) -> Vec<Note> {
        let root = self.notes_root();
        let mut notes = Vec::new();
        for key in root.keys() {
            if let Some(map) = child_map(&root, &key) {
                let note = read_note(&key, &map);
                let keep = match filter {
                    NoteFilter::Live => note.deleted_at.is_none(),
                    NoteFilter::Deleted => note.deleted_at.is_some(),
                    NoteFilter::All => true,
                };
                if keep {
                    notes.push(note);
                }
            }
        }
        notes.sort_by(|a, b| {
            b.pinned
                .cmp(&a.pinned)
                .then(b.updated_at.cmp(&a.updated_at))
                .then_with(|| a.id.cmp(&b.id))
        });
        notes
    }

    fn touch(note: &LoroMap, now: i64) -> Result<(), SchemaError> {
        note.insert("updated_at", now)?;
        Ok(())
    }

    fn text_field(note: &LoroMap, key: &str) -> Result<loro::LoroText, SchemaError> {
        match child_text(note, key) {
            Some(t) => Ok(t),
            None => Ok(note.ensure_mergeable_text(key)?),
        }
    }

    /// Replaces the title and/or body; the text is diffed so that only the
    /// changed characters become operations.
    pub fn update_note(
        &self,
        id: &str,
        title: Option<&str>,
        body: Option<&str>,
        now: i64,
    ) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        for (key, value) in [("title", title), ("body", body)] {
            if let Some(value) = value {
                let text = Self::text_field(&note, key)?;
                if text.to_string() != value {
                    text.update(value, UpdateOptions::default())
                        .map_err(|e| SchemaError::Malformed(format!("{key} of {id}: {e}")))?;
                }
            }
        }
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }

    /// Inserts `insert` into the body at character `pos` after deleting
    /// `delete` characters there (what a text editor sends).
    pub fn splice_body(
        &self,
        id: &str,
        pos: usize,
        delete: usize,
        insert: &str,
        now: i64,
    ) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        let text = Self::text_field(&note, "body")?;
        let len = text.len_unicode();
        let pos = pos.min(len);
        let delete = delete.min(len - pos);
        text.splice(pos, delete, insert)?;
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }

    /// Replaces the note's tags.
    pub fn set_tags(&self, id: &str, tags: &[&str], now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        let tag_set = note.ensure_mergeable_map(TAG_SET)?;
        let wanted: Vec<&str> = tags
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        for old in set_keys(&tag_set) {
            if !wanted.contains(&old.as_str()) {
                tag_set.delete(&old)?;
            }
        }
        for tag in &wanted {
            if !matches!(
                tag_set.get(tag),
                Some(loro::ValueOrContainer::Value(LoroValue::Bool(true)))
            ) {
                tag_set.insert(tag, true)?;
            }
        }
        if note.get(LEGACY_TAGS).is_some() {
            note.delete(LEGACY_TAGS)?;
        }
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }

    /// Pins or unpins a note.
    pub fn set_pinned(&self, id: &str, pinned: bool, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        note.insert("pinned", pinned)?;
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }

    /// Moves a note to the bin (it can be restored).
    pub fn delete_note(&self, id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        note.insert("deleted_at", now)?;
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }

    /// Takes a note out of the bin.
    pub fn restore_note(&self, id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let note = self.note_map(id)?;
        if note.get("deleted_at").is_some() {
            note.delete("deleted_at")?;
        }
        Self::touch(&note, now)?;
        self.commit();
        Ok(())
    }
}
