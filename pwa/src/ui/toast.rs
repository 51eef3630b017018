//! The undo toast and the error line.

use dioxus::prelude::*;

use crate::platform::now_ms;
use crate::state::{AppState, Undo};

/// Offers to undo the last deletion.
#[component]
pub fn UndoToast() -> Element {
    let state = use_context::<AppState>();
    let mut undo = state.undo;
    let Some(pending) = undo() else {
        return rsx! {};
    };
    type Restore = Box<dyn Fn(&AppState)>;
    let (label, restore): (String, Restore) = match pending.clone() {
        Undo::DeletedNote { id, title } => (
            format!(
                "Deleted “{}”.",
                if title.is_empty() { "Untitled" } else { &title }
            ),
            Box::new(move |s: &AppState| {
                s.write(|ws| ws.restore_note(&id, now_ms()));
            }),
        ),
    };
    rsx! {
        div { class: "toast", id: "undo-toast", role: "status",
            "{label} "
            button { id: "undo", onclick: move |_| { restore(&state); undo.set(None); }, "Undo" }
            button { class: "secondary", "aria-label": "Dismiss", onclick: move |_| undo.set(None), "×" }
        }
    }
}

/// Shows the last error, if any.
#[component]
pub fn ErrorLine() -> Element {
    let state = use_context::<AppState>();
    let mut error = state.error;
    let Some(message) = error() else {
        return rsx! {};
    };
    rsx! {
        div { class: "banner error", id: "error", role: "alert",
            "{message} "
            button { class: "secondary", onclick: move |_| error.set(None), "Dismiss" }
        }
    }
}
