//! Moving a note into another workspace this device holds.
//!
//! The sync worker syncs every other workspace of the device in the
//! background and is the one writer of each one's store, so the page asks
//! it to add the note there ([`ToWorker::MoveIn`]) and waits for its
//! answer ([`answered`]) before the caller deletes the note from the open
//! workspace (to its bin). The note then syncs in that workspace at once,
//! and nothing but its driver ever writes that workspace's log.

use std::cell::RefCell;
use std::collections::HashMap;

use futures::channel::oneshot;
use hearth_migrations::Note;
use hearth_shared::id::WorkspaceId;

use crate::page::state::AppState;
use crate::protocol::{MovedNote, ToWorker};

thread_local! {
    /// Moves sent to the worker and not yet answered, by request.
    static WAITING: RefCell<HashMap<String, oneshot::Sender<Option<String>>>> =
        RefCell::new(HashMap::new());
}

/// The worker's answer to move `request`.
pub fn answered(request: &str, error: Option<String>) {
    if let Some(waiting) = WAITING.with(|w| w.borrow_mut().remove(request)) {
        let _ = waiting.send(error);
    }
}

/// Adds a copy of `note` to workspace `to`, durably. Fails, with nothing
/// written, if that workspace is not synced by this tab's worker (a tab
/// that only follows moves nothing) or cannot be written.
pub async fn copy_into(state: &AppState, to: &WorkspaceId, note: &Note) -> Result<(), String> {
    if state.follower {
        return Err("another tab of this browser saves and syncs; move the note there".into());
    }
    let request = crate::platform::new_id();
    let (tx, rx) = oneshot::channel();
    WAITING.with(|w| w.borrow_mut().insert(request.clone(), tx));
    state.link.send(ToWorker::MoveIn {
        workspace: to.as_str().to_owned(),
        request,
        note: MovedNote {
            title: note.title.clone(),
            body: note.body.clone(),
            tags: note.tags.clone(),
            pinned: note.pinned,
        },
    });
    match rx.await {
        Ok(None) => Ok(()),
        Ok(Some(error)) => Err(error),
        Err(_) => Err("the sync worker stopped; reload the page and try again".into()),
    }
}
