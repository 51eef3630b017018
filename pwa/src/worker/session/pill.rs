//! The sync pill's words: the view of an engine status, the progress of a
//! large answer, the lockout once the server refuses this device, and what
//! the pending changes touch.

use hearth_shared::engine::{EngineError, KeyProblem, SyncState, SyncStatus};
use hearth_shared::error::ErrorCode;

use super::boot::AppEngine;
use crate::fetch::Received;
use crate::platform::now_ms;
use crate::protocol::SyncView;

/// The sync pill's view of an engine status.
pub fn view_of(status: &SyncStatus, connected: bool) -> SyncView {
    let view = |state: &str, text: String, detail: Option<String>| SyncView {
        state: state.to_owned(),
        text,
        pending: status.pending,
        pending_what: String::new(),
        detail,
        first_sync: connected && status.cursor == 0 && status.state != SyncState::Synced,
    };
    if !connected {
        return view(
            "local",
            "Saved on this device".into(),
            Some("Not connected to a server yet.".into()),
        );
    }
    // A skipped entry stays said after the rounds that follow succeed.
    let detail = status
        .last_error
        .clone()
        .or_else(|| status.last_skipped.clone());
    // What the server is keeping back, or a removed device trying to write,
    // outranks the state: the person should know.
    if let Some(warning) = trust_warning(status) {
        return view("error", warning.0, Some(warning.1));
    }
    match status.state {
        SyncState::SavedLocally => view("saved", "Saved locally".into(), detail),
        SyncState::Syncing => view("syncing", "Syncing…".into(), detail),
        SyncState::Synced => view(
            "synced",
            match status.last_ack {
                Some(ack) => format!(
                    "Synced {}",
                    crate::platform::relative_time(ack.at_ms as i64, now_ms())
                ),
                None => "Synced".to_owned(),
            },
            detail,
        ),
        SyncState::Offline => view("offline", "Offline".into(), detail),
        SyncState::Error => view("error", "Sync error".into(), detail),
    }
}

/// The pill's words when the server withholds edits, or a removed device's
/// records were refused: (text, detail).
fn trust_warning(status: &SyncStatus) -> Option<(String, String)> {
    if !status.withheld.is_empty() {
        let total: u64 = status.withheld.iter().map(|(_, n)| n).sum();
        let from = status
            .withheld
            .iter()
            .map(|(who, n)| format!("{n} from device {}", short(who)))
            .collect::<Vec<_>>()
            .join(", ");
        return Some((
            format!("{total} edits withheld"),
            format!(
                "The server has not delivered edits that other devices sent ({from}): later edits depend on them. They arrive if the server sends them; if this lasts, the server is keeping them back."
            ),
        ));
    }
    if let Some((who, n)) = status.taken_after_removal.first() {
        return Some((
            "Edits from a removed device".to_owned(),
            format!(
                "This device took {n} edits from device {} before it learned that the device was removed: the server delivered them ahead of the removal. Check the notes that device could have changed.",
                short(who)
            ),
        ));
    }
    (status.refused_from_removed > 0).then(|| {
        (
            "Refused edits".to_owned(),
            format!(
                "{} records written by a removed device after its removal were refused and not shown.",
                status.refused_from_removed
            ),
        )
    })
}

/// The first characters of a token id (the worker knows devices by their
/// token ids, not their labels).
fn short(token: &str) -> &str {
    token.get(..8).unwrap_or(token)
}

/// Answers smaller than this arrive too fast to be worth a progress line.
const SHOW_PROGRESS_FROM: u64 = 512 * 1024;

/// The sync pill while a large pull's answer arrives (the first sync of a
/// large workspace): `last` as it was, with how far the answer has come.
/// `None` for answers too small to show.
pub fn receiving_view(last: &SyncView, received: Received) -> Option<SyncView> {
    let size = received.total.unwrap_or(received.bytes);
    if size < SHOW_PROGRESS_FROM {
        return None;
    }
    let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1_000_000.0);
    let (text, detail) = match received.total {
        Some(total) if received.bytes >= total => (
            "Storing what arrived…".to_owned(),
            format!("{} received from the server.", mb(total)),
        ),
        Some(total) => (
            format!("Receiving · {}%", received.bytes * 100 / total.max(1)),
            format!("{} of {} from the server.", mb(received.bytes), mb(total)),
        ),
        None => (
            format!("Receiving · {}", mb(received.bytes)),
            format!("{} from the server so far.", mb(received.bytes)),
        ),
    };
    Some(SyncView {
        state: "syncing".into(),
        text,
        detail: Some(detail),
        ..last.clone()
    })
}

/// What this device's unacknowledged operations change, in words.
pub(super) fn pending_words(engine: &AppEngine, pending: u64) -> String {
    if pending == 0 {
        return String::new();
    }
    let touched = hearth_migrations::touched_since(
        engine.doc(),
        engine.peer_id(),
        engine.meta().acked_counter,
    );
    if touched.is_empty() {
        "some changes".to_owned()
    } else {
        touched.describe()
    }
}

/// The status to show, for good, when the server refuses this device's
/// token: it was revoked, or it expired. Syncing stops; the data stays.
pub(super) fn lockout_of(e: &EngineError) -> Option<SyncView> {
    if let Some(problem) = e.key_problem() {
        let (state, text) = match problem {
            KeyProblem::NeedsKey => ("needs-key", "Needs the key"),
            KeyProblem::WrongKey { .. } => ("wrong-key", "Wrong key"),
            KeyProblem::MissingEpoch { .. } => ("needs-key", "Needs the new key"),
        };
        return Some(SyncView {
            state: state.into(),
            text: text.into(),
            pending: 0,
            pending_what: String::new(),
            detail: Some(format!("{}.", capitalized(&problem.to_string()))),
            first_sync: false,
        });
    }
    let code = e.refusal()?;
    let (state, text, detail) = match code {
        ErrorCode::TokenRevoked => (
            "revoked",
            "Removed from the workspace",
            "The workspace's owner removed this device. Its notes stay readable here, but it no longer syncs; pair it again to sync.",
        ),
        ErrorCode::TokenExpired => (
            "revoked",
            "Access expired",
            "This device's access to the workspace has expired. Its notes stay here; pair it again to sync.",
        ),
        ErrorCode::InvalidToken | ErrorCode::WrongWorkspace => (
            "revoked",
            "Not allowed to sync",
            "The server does not accept this device's token (was the server reset?). Its notes stay here; pair it again to sync.",
        ),
        _ => return None,
    };
    Some(SyncView {
        state: state.into(),
        text: text.into(),
        pending: 0,
        pending_what: String::new(),
        detail: Some(detail.into()),
        first_sync: false,
    })
}

/// `text` with its first letter in capitals.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
