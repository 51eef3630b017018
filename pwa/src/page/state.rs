//! The page's view of the workspace: the document, the sync status, and the
//! signals that make components re-render when either changes.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::prelude::*;
use hearth_migrations::{NoteIndex, SchemaError, Workspace};
use rexie::Rexie;

use crate::device::DeviceRecord;
use crate::page::link::WorkerLink;
use crate::protocol::SyncView;

/// Shared by every component through the Dioxus context.
#[derive(Clone)]
pub struct AppState {
    /// The local document (a handle: clones share the document).
    pub workspace: Signal<Workspace>,
    /// The notes list as shown, following the document note by note.
    pub notes: Rc<RefCell<NoteIndex>>,
    /// Bumped after every local or remote change.
    pub revision: Signal<u64>,
    /// The last error to show (a failed write, a failed save).
    pub error: Signal<Option<String>>,
    /// A note deleted a moment ago, offered for undo.
    pub undo: Signal<Option<Undo>>,
    /// What the sync pill shows.
    pub sync: Signal<SyncView>,
    /// An edit was made that is not yet durable in IndexedDB.
    pub saving: Signal<bool>,
    /// A recovery key just made, shown until the person says they wrote
    /// it down (it is shown once: the device does not keep it).
    pub recovery_key: Signal<Option<String>>,
    /// Where encrypting a workspace that was not stands.
    pub encryption: Signal<Encryption>,
    /// Where changing the workspace key after removing a device stands.
    pub rotation: Signal<Rotation>,
    /// The files queued to be sent, as the sync worker reports them
    /// (shown in their notes and in the sync pill).
    pub uploads: Signal<Vec<crate::protocol::UploadView>>,
    /// How each file (or thumbnail) asked for is coming, by key.
    pub fetches: Signal<std::collections::BTreeMap<String, crate::protocol::FetchView>>,
    /// How keeping the notes kept offline goes.
    pub kept: Signal<crate::protocol::KeptView>,
    /// The notes whose files are kept available offline on this device.
    pub pins: Signal<std::collections::BTreeSet<String>>,
    /// The other workspaces of this device, synced in the background:
    /// how each stands, by id.
    pub background: Signal<std::collections::BTreeMap<String, crate::protocol::BackgroundView>>,
    /// This device's record (server, token, label).
    pub record: Signal<DeviceRecord>,
    pub db: Rc<Rexie>,
    /// The sync worker, which saves and syncs.
    pub link: Rc<WorkerLink>,
    /// Another tab holds the workspace: this one only shows it.
    pub follower: bool,
}

/// Encrypting a workspace that was not (Devices → Encrypt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    Idle,
    /// The sync worker is at it.
    Working,
    /// Finished: the server holds no plaintext of the workspace.
    Done,
    /// Finished, and its recovery key made.
    Keyed,
    /// Stopped, for this reason; pressing the button again goes on.
    Failed(String),
}

/// Changing the workspace key after a device was removed.
#[derive(Clone, Debug, PartialEq)]
pub enum Rotation {
    Idle,
    /// The sync worker is at it.
    Working,
    /// Done: the other devices have the new key; the removed one cannot
    /// read what is written from now on.
    Done,
    /// Stopped, for this reason; the next sync finishes it.
    Failed(String),
}

/// Something that can be undone from the toast.
#[derive(Clone, Debug, PartialEq)]
pub enum Undo {
    DeletedNote {
        id: String,
        title: String,
    },
    /// A note moved into another workspace (`to`: its name); the copy
    /// here is in the bin and can be brought back.
    MovedNote {
        id: String,
        title: String,
        to: String,
    },
}

impl AppState {
    /// Reads the revision, so that the calling component re-renders on change.
    pub fn track(&self) -> u64 {
        (self.revision)()
    }

    /// Runs a write against the document, then has it saved and synced; a
    /// failure is shown, never lost silently.
    pub fn write<T>(&self, f: impl FnOnce(&Workspace) -> Result<T, SchemaError>) -> Option<T> {
        let result = f(&self.workspace.read());
        let mut revision = self.revision;
        revision += 1;
        match result {
            Ok(value) => {
                match self.link.flush(self.workspace.read().doc()) {
                    Ok(true) => {
                        let mut saving = self.saving;
                        saving.set(true);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let mut error = self.error;
                        error.set(Some(format!("Not saved: {e}")));
                    }
                }
                Some(value)
            }
            Err(e) => {
                let mut error = self.error;
                error.set(Some(e.to_string()));
                None
            }
        }
    }

    /// Whether writes are refused, and why.
    pub fn read_only_reason(&self) -> Option<String> {
        if let Some(problem) = self.key_problem() {
            return Some(problem);
        }
        if self.follower {
            return Some(
                "Hearth is open in another tab of this browser, which saves and syncs; \
                 edit there, or close it to edit here"
                    .to_owned(),
            );
        }
        if let Some(r) = self.workspace.read().read_only() {
            return Some(r.reason());
        }
        (!self.record.read().can_write()).then(|| {
            "this device was paired read-only, so it can show the workspace but not change it"
                .to_owned()
        })
    }
}

impl AppState {
    /// Why this device cannot take part in its end-to-end encrypted
    /// workspace (no key, or the wrong one), in words; it then changes
    /// nothing, here or on the server.
    pub fn key_problem(&self) -> Option<String> {
        let sync = self.sync.read();
        matches!(sync.state.as_str(), "needs-key" | "wrong-key")
            .then(|| sync.detail.clone().unwrap_or_else(|| sync.text.clone()))
    }
}

/// One state per page: two are equal when they are the same state (Dioxus
/// compares props to decide what to re-render).
impl PartialEq for AppState {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.db, &other.db) && self.workspace == other.workspace
    }
}
