//! `hearth-interchange`: notes into and out of a Hearth workspace in the
//! formats people bring from other apps and take to them.
//!
//! In: a folder or zip of Markdown files with their attachments (an
//! Obsidian vault: front matter tags, wiki links kept as text), a Standard
//! Notes backup (its unencrypted JSON), a Joplin export (JEX, or the RAW
//! folder) and an Evernote `.enex`. [`read`] tells the format from the
//! files and reads everything before anything is written: a malformed file
//! is an [`ImportError`] and imports nothing. [`apply`] then writes the
//! notes and task lists into a [`Workspace`] in batches, reporting
//! progress. Attachments are handed back as bytes, with the notes that
//! name them; attaching them is the host's job (it seals and uploads).
//!
//! Out: [`export::markdown_zip`], a zip of Markdown files (tags in front
//! matter, task lists as Markdown checklists) that another app opens, made
//! from an [`export::Export`] (what a workspace holds, read by
//! [`export::Export::of`]).
//!
//! The app runs the readers and the zip writer in a module of their own,
//! loaded when first used, and only [`apply`] and [`export::Export::of`]
//! in its main module; the JSON forms of [`Imported`] and
//! [`export::Export`] cross between them.
//!
//! Like `hearth-migrations`, this crate does no I/O and reads no clock or
//! random source: callers pass bytes, ids and the time in.
//!
//! Modules: [`archive`] (zip and tar entries, bounded), [`markdown`],
//! [`standard_notes`], [`joplin`], [`enex`] (each a reader), [`export`],
//! [`date`] (the dates those formats write).

pub mod archive;
pub mod date;
pub mod enex;
pub mod export;
pub mod joplin;
pub mod markdown;
pub mod standard_notes;

use hearth_migrations::{NewNote, ReadOnly, SchemaError, Workspace};
use serde::{Deserialize, Serialize};

/// The formats [`read`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    Markdown,
    StandardNotes,
    Joplin,
    Evernote,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "Markdown files",
            Format::StandardNotes => "a Standard Notes backup",
            Format::Joplin => "a Joplin export",
            Format::Evernote => "an Evernote export",
        }
    }
}

/// One note as another app kept it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedNote {
    pub title: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    /// Milliseconds since the Unix epoch, when the format says.
    pub created_ms: Option<i64>,
    pub updated_ms: Option<i64>,
    /// Positions in [`Imported::attachments`] of the files it holds.
    pub attachments: Vec<usize>,
}

/// A task list (Standard Notes and Joplin to-dos are notes; only formats
/// with real lists fill these).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedTaskList {
    pub title: String,
    /// Each task's text and whether it is done.
    pub items: Vec<(String, bool)>,
}

/// An attached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name, as the note names it.
    pub name: String,
    pub mime: Option<String>,
    /// Not in the JSON form: hosts move bytes apart from it.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Everything read from an import, before anything is written. Its JSON
/// form (serde) leaves out the attachments' bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub format: Format,
    pub notes: Vec<ImportedNote>,
    pub task_lists: Vec<ImportedTaskList>,
    pub attachments: Vec<Attachment>,
    /// What was left out, one line each, for the person to read.
    pub skipped: Vec<String>,
}

/// One note as [`Imported::comparable`] gives it: title, body, sorted
/// tags, and its attachments' bytes, sorted.
pub type ComparableNote = (String, String, Vec<String>, Vec<Vec<u8>>);

impl Imported {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            notes: Vec::new(),
            task_lists: Vec::new(),
            attachments: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// The notes as a sorted list that ignores order and ids, for telling
    /// whether two imports hold the same notes (a round trip through
    /// Hearth and back out).
    pub fn comparable(&self) -> Vec<ComparableNote> {
        let mut notes: Vec<ComparableNote> = self
            .notes
            .iter()
            .map(|n| {
                let mut tags = n.tags.clone();
                tags.sort();
                let mut files: Vec<Vec<u8>> = n
                    .attachments
                    .iter()
                    .filter_map(|&at| self.attachments.get(at))
                    .map(|a| a.bytes.clone())
                    .collect();
                files.sort();
                (n.title.clone(), n.body.clone(), tags, files)
            })
            .collect();
        notes.sort();
        notes
    }
}

/// Why an import was refused. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "This file is not one Hearth can import. It takes Markdown files (a folder or a .zip), a Standard Notes backup (.txt or .json, not encrypted), a Joplin export (.jex) and an Evernote export (.enex)."
    )]
    UnknownFormat,
    #[error("The {what} is damaged and cannot be read ({detail}). Nothing was imported.")]
    Malformed { what: &'static str, detail: String },
    #[error(
        "This Standard Notes backup is encrypted. Export an unencrypted backup (Settings → Backups → “Decrypted”) and import that."
    )]
    Encrypted,
    #[error("The import holds more than {limit} ({what}); split it and import the parts.")]
    TooLarge { what: &'static str, limit: String },
    #[error("Nothing to import: the {0} holds no notes.")]
    Empty(&'static str),
}

impl ImportError {
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        ImportError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

/// One file given to [`read`]: its path (inside a picked folder, or just a
/// name) and its bytes.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Reads an import: one file (a `.zip`, `.jex`, `.enex`, `.json`/`.txt`
/// backup or a `.md`) or the files of a picked folder (Markdown, or
/// Joplin's RAW export). The format is told from the names and contents.
pub fn read(files: Vec<InputFile>) -> Result<Imported, ImportError> {
    let mut files = files;
    if files.len() == 1
        && let Some(file) = files.pop()
    {
        let lower = file.path.to_lowercase();
        if lower.ends_with(".enex") {
            return enex::read(&file.bytes);
        }
        if lower.ends_with(".jex") {
            return joplin::read(archive::tar_entries(&file.bytes)?);
        }
        if lower.ends_with(".zip") {
            return read_folder(archive::zip_entries(&file.bytes)?);
        }
        if lower.ends_with(".json") || lower.ends_with(".txt") {
            return standard_notes::read(&file.bytes);
        }
        if lower.ends_with(".md") || lower.ends_with(".markdown") {
            return markdown::read(vec![file]);
        }
        return Err(ImportError::UnknownFormat);
    }
    read_folder(files)
}

/// A folder's files: Joplin's RAW export when its notes say so, else
/// Markdown.
fn read_folder(files: Vec<InputFile>) -> Result<Imported, ImportError> {
    if joplin::is_raw(&files) {
        return joplin::read(files);
    }
    markdown::read(files)
}

/// What [`apply`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The new notes' ids, in the order of [`Imported::notes`].
    pub note_ids: Vec<String>,
    pub task_lists: usize,
}

/// How many notes [`apply`] writes between progress reports (each batch
/// is one change of the document).
pub const BATCH: usize = 500;

/// Writes what was read into the workspace: each note gets a new id from
/// `new_id`, keeps its tags and its time (else `now`); task lists too.
/// Notes go in batches of [`BATCH`] ([`apply_part`]), each committed as
/// one change and followed by `progress(done, total)`. A read-only
/// workspace refuses before anything is written.
pub fn apply(
    workspace: &Workspace,
    imported: &Imported,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Applied, SchemaError> {
    let total = imported.notes.len() + imported.task_lists.len();
    let mut applied = Applied::default();
    for batch in imported.notes.chunks(BATCH) {
        let part = apply_part(workspace, batch, &[], new_id, now)?;
        applied.note_ids.extend(part.note_ids);
        workspace.doc().commit();
        if batch.len() == BATCH {
            progress(applied.note_ids.len(), total);
        }
    }
    applied.task_lists = apply_part(workspace, &[], &imported.task_lists, new_id, now)?.task_lists;
    workspace.doc().commit();
    progress(total, total);
    Ok(applied)
}

/// Writes `notes` and `task_lists` into the workspace, uncommitted: what
/// [`apply`] does for one batch, for a host that commits and reports each
/// batch itself (the app sends each to its worker). A read-only workspace
/// refuses before anything is written.
pub fn apply_part(
    workspace: &Workspace,
    notes: &[ImportedNote],
    task_lists: &[ImportedTaskList],
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) -> Result<Applied, SchemaError> {
    if let Some(ReadOnly { found, known }) = workspace.read_only() {
        return Err(SchemaError::NewerSchema { found, known });
    }
    let mut applied = Applied::default();
    for note in notes {
        let id = new_id();
        let tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
        let new = NewNote {
            title: &note.title,
            body: &note.body,
            tags: &tags,
            pinned: false,
        };
        let at = note.updated_ms.or(note.created_ms).unwrap_or(now);
        workspace.add_note(&id, new, at)?;
        applied.note_ids.push(id);
    }
    for list in task_lists {
        let list_id = new_id();
        workspace.add_task_list(&list_id, &list.title, now)?;
        for (text, done) in &list.items {
            let task_id = new_id();
            workspace.add_task(&list_id, &task_id, text, now)?;
            if *done {
                workspace.toggle_task(&list_id, &task_id, now)?;
            }
        }
        applied.task_lists += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests;
