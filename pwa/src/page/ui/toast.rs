//! The undo toast and the error line.

use dioxus::prelude::*;

use crate::page::state::{AppState, Undo};
use crate::platform::now_ms;

/// Offers to undo the last deletion.
#[component]
pub fn UndoToast() -> Element {
    let state = use_context::<AppState>();
    let mut undo = state.undo;
    let Some(pending) = undo() else {
        return rsx! {};
    };
    type Restore = Box<dyn Fn(&AppState)>;
    let named = |title: &str| {
        if title.is_empty() {
            "Untitled".to_owned()
        } else {
            title.to_owned()
        }
    };
    let (label, action, restore): (String, &str, Restore) = match pending.clone() {
        Undo::DeletedNote { id, title } => (
            format!("Deleted “{}”.", named(&title)),
            "Undo",
            Box::new(move |s: &AppState| {
                s.write(|ws| ws.restore_note(&id, now_ms()));
            }),
        ),
        Undo::MovedNote { id, title, to } => (
            format!("Moved “{}” to “{to}”.", named(&title)),
            "Keep a copy here too",
            Box::new(move |s: &AppState| {
                s.write(|ws| ws.restore_note(&id, now_ms()));
            }),
        ),
    };
    rsx! {
        div { class: "toast", id: "undo-toast", role: "status",
            "{label} "
            button { id: "undo", onclick: move |_| { restore(&state); undo.set(None); }, "{action}" }
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
