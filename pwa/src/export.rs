//! Exporting and importing a whole workspace as a file.
//!
//! The file is JSON, so that it says what it is: `format`
//! (`"hearth-workspace"`), `version` (1), the workspace id, when and by
//! which schema it was written, and `snapshot`: the Loro snapshot in a blob
//! envelope (zstd, checksum), base64-encoded. Importing makes a new
//! workspace on this device from it. A second export, `notes_json`, is for
//! people and other programs: the notes and task lists as plain JSON.

use base64::Engine as _;
use hearth_migrations::{NoteFilter, Workspace};
use hearth_shared::engine::loro::ExportMode;
use hearth_shared::envelope;
use serde::{Deserialize, Serialize};

/// The `format` of a workspace file.
pub const FORMAT: &str = "hearth-workspace";
/// The file version this code writes (and the newest it reads).
pub const VERSION: u32 = 1;

/// A workspace file.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkspaceFile {
    pub format: String,
    pub version: u32,
    pub workspace_id: String,
    pub exported_at_ms: i64,
    pub schema_version: u32,
    /// The Loro snapshot in a blob envelope, base64.
    pub snapshot: String,
}

/// Writes the workspace file of `workspace`.
pub fn export_file(
    workspace: &Workspace,
    workspace_id: &str,
    now_ms: i64,
) -> Result<String, String> {
    let snapshot = workspace
        .doc()
        .export(ExportMode::Snapshot)
        .map_err(|e| e.to_string())?;
    let sealed = envelope::seal(&snapshot, 9).map_err(|e| e.to_string())?;
    let file = WorkspaceFile {
        format: FORMAT.into(),
        version: VERSION,
        workspace_id: workspace_id.into(),
        exported_at_ms: now_ms,
        schema_version: workspace.schema_version(),
        snapshot: base64::engine::general_purpose::STANDARD.encode(sealed),
    };
    serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
}

/// Reads a workspace file; returns the Loro snapshot it carries.
pub fn read_file(text: &str) -> Result<Vec<u8>, String> {
    let file: WorkspaceFile =
        serde_json::from_str(text).map_err(|_| "this is not a Hearth workspace file".to_owned())?;
    if file.format != FORMAT {
        return Err("this is not a Hearth workspace file".into());
    }
    if file.version > VERSION {
        return Err(format!(
            "this file was written by a newer Hearth (file version {}); update the app to import it",
            file.version
        ));
    }
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(file.snapshot.as_bytes())
        .map_err(|_| "the file is damaged (its snapshot is not base64)".to_owned())?;
    envelope::open(&sealed, envelope::DEFAULT_MAX_RAW_LEN)
        .map_err(|e| format!("the file is damaged: {e}"))
}

/// Writes every live note and task list of `source` into `target`.
pub fn copy_workspace(
    source: &Workspace,
    target: &Workspace,
    now: i64,
) -> Result<(), hearth_migrations::SchemaError> {
    for note in source.list_notes(NoteFilter::Live) {
        let tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
        let new = hearth_migrations::NewNote {
            title: &note.title,
            body: &note.body,
            tags: &tags,
            pinned: note.pinned,
        };
        target.add_note(&note.id, new, note.updated_at.max(now))?;
    }
    for list in source
        .list_task_lists()
        .into_iter()
        .filter(|l| l.deleted_at.is_none())
    {
        target.add_task_list(&list.id, &list.title, now)?;
        for task in &list.items {
            target.add_task(&list.id, &task.id, &task.text, now)?;
            if task.done {
                target.toggle_task(&list.id, &task.id, now)?;
            }
        }
    }
    Ok(())
}

/// The notes and task lists as plain JSON.
pub fn notes_json(workspace: &Workspace) -> String {
    let notes: Vec<serde_json::Value> = workspace
        .list_notes(NoteFilter::Live)
        .into_iter()
        .map(|n| {
            serde_json::json!({
                "id": n.id, "title": n.title, "body": n.body, "tags": n.tags, "pinned": n.pinned,
                "created_at_ms": n.created_at, "updated_at_ms": n.updated_at,
            })
        })
        .collect();
    let lists: Vec<serde_json::Value> = workspace
        .list_task_lists()
        .into_iter()
        .filter(|l| l.deleted_at.is_none())
        .map(|l| {
            let items: Vec<serde_json::Value> = l
                .items
                .iter()
                .map(|t| serde_json::json!({ "text": t.text, "done": t.done }))
                .collect();
            serde_json::json!({ "id": l.id, "title": l.title, "items": items })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "notes": notes, "task_lists": lists }))
        .unwrap_or_default()
}
