//! The page's view of the workspace: the document, and a revision counter
//! that every change bumps so that the components that read it re-render.

use dioxus::prelude::*;
use hearth_migrations::{SchemaError, Workspace};

/// Shared by every component through the Dioxus context.
#[derive(Clone)]
pub struct AppState {
    /// The local document (a handle: clones share it).
    pub workspace: Workspace,
    /// Bumped after every local or remote change.
    pub revision: Signal<u64>,
    /// The last error to show (a failed write, a newer schema).
    pub error: Signal<Option<String>>,
    /// A note deleted a moment ago, offered for undo.
    pub undo: Signal<Option<Undo>>,
}

/// Something that can be undone from the toast.
#[derive(Clone, Debug, PartialEq)]
pub enum Undo {
    DeletedNote { id: String, title: String },
}

impl AppState {
    /// Reads the revision, so that the calling component re-renders on change.
    pub fn track(&self) -> u64 {
        (self.revision)()
    }

    /// Runs a write against the document, then re-renders; a failure is
    /// shown, never lost silently.
    pub fn write<T>(&self, f: impl FnOnce(&Workspace) -> Result<T, SchemaError>) -> Option<T> {
        let result = f(&self.workspace);
        let mut revision = self.revision;
        revision += 1;
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                let mut error = self.error;
                error.set(Some(e.to_string()));
                None
            }
        }
    }

    /// Whether writes are refused, and why.
    pub fn read_only_reason(&self) -> Option<String> {
        self.workspace.read_only().map(|r| r.reason())
    }
}
