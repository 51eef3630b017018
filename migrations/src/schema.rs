//! The layout of the workspace document and its schema version marks.
//!
//! Root containers (their ids are derived from their names, so every device
//! addresses the same ones):
//!
//! ```text
//! "schema"      map   "<version>" -> true, one key per schema version the
//!                     document has been brought to
//! "notes"       map   note id -> mergeable map (see `notes`)
//! "task_lists"  map   list id -> mergeable map (see `tasks`)
//! "settings"    map   "name" -> string, what the person calls the
//!                     workspace (absent until named; no migration needed,
//!                     and earlier code ignores the root)
//! ```
//!
//! The schema version is the largest key of `"schema"`. Keys are only ever
//! added, so two devices that migrate concurrently merge to the larger
//! version, and a merge can never lower it.

use loro::{LoroDoc, LoroMap};

use crate::error::SchemaError;

/// Root map of schema version marks.
pub const SCHEMA_ROOT: &str = "schema";
/// Root map of notes.
pub const NOTES_ROOT: &str = "notes";
/// Root map of task lists.
pub const TASK_LISTS_ROOT: &str = "task_lists";
/// Root map of attached files' references (see [`crate::files`]).
pub const FILES_ROOT: &str = "files";
/// Root map of the workspace's own settings (its name).
pub const SETTINGS_ROOT: &str = "settings";

/// The schema version of `doc`: the largest version mark, or 0 for a
/// document that no schema has been written into yet.
pub fn schema_version(doc: &LoroDoc) -> u32 {
    let marks = doc.get_map(SCHEMA_ROOT);
    marks
        .keys()
        .filter_map(|k| k.as_str().parse::<u32>().ok())
        .max()
        .unwrap_or(0)
}

/// Records that the document has been brought to `version` (idempotent).
pub(crate) fn mark_version(doc: &LoroDoc, version: u32) -> Result<(), SchemaError> {
    let marks: LoroMap = doc.get_map(SCHEMA_ROOT);
    if marks.get(&version.to_string()).is_none() {
        marks.insert(&version.to_string(), true)?;
    }
    Ok(())
}

/// Whether the document holds any notes or task lists.
pub(crate) fn has_content(doc: &LoroDoc) -> bool {
    !doc.get_map(NOTES_ROOT).is_empty() || !doc.get_map(TASK_LISTS_ROOT).is_empty()
}
