//! Moving a note into another workspace this device holds.
//!
//! Only the open workspace has a sync driver, so the note is written into
//! the other one's stored data directly: its document is loaded from
//! IndexedDB, the note is added under this device's peer id for that
//! workspace (the one its engine writes and pushes as), and the new
//! operations are appended to its log in one transaction. The next time
//! that workspace opens, its engine finds them unsent and pushes them. The
//! caller then deletes the note from the open workspace (to its bin).

use std::rc::Rc;

use hearth_migrations::loro::{ExportMode, LoroDoc};
use hearth_migrations::{NewNote, Note, Workspace};
use hearth_shared::engine::Store;
use hearth_shared::id::WorkspaceId;
use rexie::Rexie;

use crate::idb::IdbStore;
use crate::platform::{new_id, now_ms};

/// Adds a copy of `note` to workspace `to`, durably. Fails, with nothing
/// written, if that workspace was never opened on this device or is
/// read-only here.
pub async fn copy_into(db: Rc<Rexie>, to: &WorkspaceId, note: &Note) -> Result<(), String> {
    let store = IdbStore::new(db, to.clone());
    let loaded = store.load().await.map_err(|e| e.to_string())?;
    let meta = loaded.meta.ok_or(
        "that workspace was never opened on this device; open it once, then move the note",
    )?;
    let doc = LoroDoc::new();
    doc.set_record_timestamp(true);
    doc.set_peer_id(meta.peer_id).map_err(|e| e.to_string())?;
    let blobs: Vec<Vec<u8>> = loaded.snapshot.into_iter().chain(loaded.log).collect();
    doc.import_batch(&blobs).map_err(|e| e.to_string())?;
    let before = doc.oplog_vv();
    let (workspace, _) = Workspace::open(doc.clone()).map_err(|e| e.to_string())?;
    let tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
    workspace
        .add_note(
            &new_id(),
            NewNote {
                title: &note.title,
                body: &note.body,
                tags: &tags,
                pinned: note.pinned,
            },
            now_ms(),
        )
        .map_err(|e| e.to_string())?;
    let update = doc
        .export(ExportMode::updates(&before))
        .map_err(|e| e.to_string())?;
    store
        .append(&[update], &meta)
        .await
        .map_err(|e| e.to_string())
}
