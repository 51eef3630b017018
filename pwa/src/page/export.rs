//! Exporting and importing a whole workspace as a file.
//!
//! The file is JSON, so that it says what it is: `format`
//! (`"hearth-workspace"`), `version`, the workspace id, when and by which
//! schema it was written, whether it is `encrypted`, and `snapshot`, the
//! Loro snapshot, base64-encoded:
//!
//! - version 1, `encrypted: false` (or absent): the snapshot in a blob
//!   envelope (zstd, checksum); anyone who has the file reads it.
//! - version 2, `encrypted: true`: the snapshot as an encrypted record
//!   (`hearth_shared::sealed`, kind snapshot) under the workspace key of
//!   epoch `key_epoch`, and `wrapped_key`: that key wrapped under the
//!   recovery wrapping key of the workspace (`keywrap::wrap_with`, 69
//!   bytes). Importing it asks for the recovery key; without it the file
//!   opens nothing. Made on a device that keeps what the recovery key
//!   needs (the owner's, once it made one, or one that recovered).
//!
//! Importing makes a new workspace on this device from it. A second
//! export, `notes_json`, is for people and other programs: the notes and
//! task lists as plain JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hearth_migrations::{NoteFilter, Workspace};
use hearth_shared::engine::loro::ExportMode;
use hearth_shared::envelope;
use hearth_shared::keys::{EpochKey, RecoveryWrap};
use serde::{Deserialize, Serialize};

/// The `format` of a workspace file.
pub const FORMAT: &str = "hearth-workspace";
/// The file version of an encrypted file (and the newest this code reads);
/// a plain file is written as version 1, which every version reads.
pub const VERSION: u32 = 2;

/// A workspace file.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkspaceFile {
    pub format: String,
    pub version: u32,
    pub workspace_id: String,
    pub exported_at_ms: i64,
    pub schema_version: u32,
    #[serde(default)]
    pub encrypted: bool,
    /// The snapshot, base64: a blob envelope, or an encrypted record.
    pub snapshot: String,
    /// The key epoch the snapshot is sealed under (encrypted files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_epoch: Option<u32>,
    /// That epoch's key wrapped for the recovery key, base64 (encrypted
    /// files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
}

/// What sealing an export takes: the key it is sealed under, what the
/// device keeps of the recovery key, and two fresh IVs.
pub struct ExportKeys<'a> {
    pub key: &'a EpochKey,
    pub recovery: &'a RecoveryWrap,
    pub ivs: [[u8; 12]; 2],
}

/// Writes the workspace file of `workspace`, encrypted if `keys` are given.
pub fn export_file(
    workspace: &Workspace,
    workspace_id: &str,
    now_ms: i64,
    keys: Option<ExportKeys<'_>>,
) -> Result<String, String> {
    let snapshot = workspace
        .doc()
        .export(ExportMode::Snapshot)
        .map_err(|e| e.to_string())?;
    let (version, sealed, key_epoch, wrapped_key) = match keys {
        None => (
            1,
            envelope::seal(&snapshot, 9).map_err(|e| e.to_string())?,
            None,
            None,
        ),
        Some(k) => {
            let sealed = hearth_shared::sealed::seal(
                k.key,
                hearth_shared::sealed::Kind::Snapshot,
                &snapshot,
                9,
                k.ivs[0],
            )
            .map_err(|e| e.to_string())?;
            let wrapped =
                hearth_shared::keywrap::wrap_with(&k.recovery.wrapping_key(), k.key, k.ivs[1]);
            (
                VERSION,
                sealed,
                Some(k.key.epoch()),
                Some(STANDARD.encode(wrapped)),
            )
        }
    };
    let file = WorkspaceFile {
        format: FORMAT.into(),
        version,
        workspace_id: workspace_id.into(),
        exported_at_ms: now_ms,
        schema_version: workspace.schema_version(),
        encrypted: key_epoch.is_some(),
        snapshot: STANDARD.encode(sealed),
        key_epoch,
        wrapped_key,
    };
    serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
}

/// Why a workspace file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file is encrypted: it opens with its workspace's recovery key.
    NeedsRecoveryKey,
    /// It cannot be read, for this reason (in words).
    Unreadable(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NeedsRecoveryKey => f.write_str(
                "this file is encrypted; enter its workspace's recovery key to import it",
            ),
            ReadError::Unreadable(why) => f.write_str(why),
        }
    }
}

/// Whether `text` is an encrypted workspace file.
pub fn is_encrypted(text: &str) -> bool {
    serde_json::from_str::<WorkspaceFile>(text).is_ok_and(|f| f.encrypted)
}

/// Reads a workspace file; returns the Loro snapshot it carries. An
/// encrypted one needs `recovery_key` (as a person types it).
pub fn read_file(text: &str, recovery_key: Option<&str>) -> Result<Vec<u8>, ReadError> {
    let bad = |why: &str| ReadError::Unreadable(why.to_owned());
    let file: WorkspaceFile =
        serde_json::from_str(text).map_err(|_| bad("this is not a Hearth workspace file"))?;
    if file.format != FORMAT {
        return Err(bad("this is not a Hearth workspace file"));
    }
    if file.version > VERSION {
        return Err(ReadError::Unreadable(format!(
            "this file was written by a newer Hearth (file version {}); update the app to import it",
            file.version
        )));
    }
    let sealed = STANDARD
        .decode(file.snapshot.as_bytes())
        .map_err(|_| bad("the file is damaged (its snapshot is not base64)"))?;
    if !file.encrypted {
        return envelope::open(&sealed, envelope::DEFAULT_MAX_RAW_LEN)
            .map_err(|e| ReadError::Unreadable(format!("the file is damaged: {e}")));
    }
    let Some(text) = recovery_key.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(ReadError::NeedsRecoveryKey);
    };
    let recovery = hearth_shared::recovery::RecoveryKey::parse(text).map_err(|e| {
        ReadError::Unreadable(format!(
            "that is not a recovery key: {e}. It has 11 groups of five letters and digits"
        ))
    })?;
    let workspace = hearth_shared::id::WorkspaceId::parse(&file.workspace_id)
        .map_err(|_| bad("the file is damaged (its workspace id)"))?;
    let wrapped = file
        .wrapped_key
        .as_deref()
        .and_then(|w| STANDARD.decode(w.as_bytes()).ok())
        .ok_or_else(|| bad("the file is damaged (it carries no wrapped key)"))?;
    let key = hearth_shared::keywrap::unwrap_with(&recovery.wrapping_key(&workspace), &wrapped)
        .map_err(|_| bad("this recovery key does not open this file: it belongs to another workspace, or to an earlier recovery key of this one"))?;
    let (_, snapshot) = hearth_shared::sealed::open(&[key], &sealed, envelope::DEFAULT_MAX_RAW_LEN)
        .map_err(|e| ReadError::Unreadable(format!("the file is damaged: {e}")))?;
    Ok(snapshot)
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
