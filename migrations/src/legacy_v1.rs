//! A writer of the version 1 schema, kept to make test fixtures and to test
//! the migrations against documents that old apps wrote. Apps never call it.

use loro::LoroDoc;

use crate::error::SchemaError;
use crate::schema::{NOTES_ROOT, mark_version};

/// Writes a note the way schema version 1 stored it (tags as one
/// comma-separated string) and marks the document as version 1.
pub fn add_note_v1(
    doc: &LoroDoc,
    id: &str,
    title: &str,
    body: &str,
    tags: &str,
    pinned: bool,
    now: i64,
) -> Result<(), SchemaError> {
    mark_version(doc, 1)?;
    let note = doc.get_map(NOTES_ROOT).ensure_mergeable_map(id)?;
    note.insert("id", id)?;
    note.ensure_mergeable_text("title")?.insert(0, title)?;
    note.ensure_mergeable_text("body")?.insert(0, body)?;
    note.insert("tags", tags)?;
    note.insert("pinned", pinned)?;
    note.insert("created_at", now)?;
    note.insert("updated_at", now)?;
    doc.commit();
    Ok(())
}

/// The document of the committed v1 fixture: three notes, one task list.
pub fn fixture_doc() -> Result<LoroDoc, SchemaError> {
    let doc = LoroDoc::new();
    doc.set_peer_id(1)?;
    add_note_v1(
        &doc,
        "0000000000000000000000000000000a",
        "Groceries",
        "milk, eggs",
        "home, errands",
        false,
        1_700_000_000_000,
    )?;
    add_note_v1(
        &doc,
        "0000000000000000000000000000000b",
        "Ideas",
        "a sync engine",
        "work,ideas,work",
        true,
        1_700_000_001_000,
    )?;
    add_note_v1(
        &doc,
        "0000000000000000000000000000000c",
        "Untagged",
        "",
        "",
        false,
        1_700_000_002_000,
    )?;
    let ws = crate::Workspace::from_doc_unchecked(doc.clone());
    ws.add_task_list(
        "000000000000000000000000000000f1",
        "Weekend",
        1_700_000_003_000,
    )?;
    ws.add_task(
        "000000000000000000000000000000f1",
        "000000000000000000000000000000e1",
        "fix the bike",
        1_700_000_003_000,
    )?;
    ws.add_task(
        "000000000000000000000000000000f1",
        "000000000000000000000000000000e2",
        "call mum",
        1_700_000_003_000,
    )?;
    ws.toggle_task(
        "000000000000000000000000000000f1",
        "000000000000000000000000000000e2",
        1_700_000_004_000,
    )?;
    Ok(doc)
}
