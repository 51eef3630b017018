//! The root component: top bar, screens, banners.

use dioxus::prelude::*;
use hearth_migrations::Workspace;
use hearth_migrations::loro::LoroDoc;

use crate::state::AppState;
use crate::ui::notes::NotesView;
use crate::ui::tasks::TasksView;
use crate::ui::toast::{ErrorLine, UndoToast};
use crate::update;

#[derive(Clone, Copy, PartialEq)]
enum Screen {
    Notes,
    Tasks,
}

/// The root component.
#[component]
pub fn App() -> Element {
    let update_ready = update::use_update_available();
    let logo = use_hook(icon_href);
    let state = use_context_provider(|| {
        let workspace = match Workspace::create(LoroDoc::new()) {
            Ok(ws) => ws,
            Err(e) => panic!("an empty document always takes the schema: {e}"),
        };
        AppState {
            workspace,
            revision: Signal::new(0),
            error: Signal::new(None),
            undo: Signal::new(None),
        }
    });
    let mut screen = use_signal(|| Screen::Notes);
    let read_only = state.read_only_reason();

    rsx! {
        div { class: "shell", id: "app",
            header { class: "topbar",
                img { class: "logo", src: "{logo}", alt: "" }
                h1 { "Hearth" }
                nav { class: "screens", "aria-label": "Screens",
                    button {
                        id: "tab-notes",
                        class: if screen() == Screen::Notes { "tab active" } else { "tab" },
                        onclick: move |_| screen.set(Screen::Notes),
                        "Notes"
                    }
                    button {
                        id: "tab-tasks",
                        class: if screen() == Screen::Tasks { "tab active" } else { "tab" },
                        onclick: move |_| screen.set(Screen::Tasks),
                        "Tasks"
                    }
                }
                span { class: "sync", id: "sync-status", "Saved on this device" }
            }
            if update_ready() {
                div { class: "banner", id: "update-banner", role: "status",
                    "A new version of Hearth is ready. "
                    button { id: "update-apply", onclick: move |_| update::apply_update(), "Update now" }
                }
            }
            if let Some(reason) = read_only {
                div { class: "banner", id: "read-only-banner", role: "status", "Read-only: {reason}" }
            }
            ErrorLine {}
            main {
                match screen() {
                    Screen::Notes => rsx! { NotesView {} },
                    Screen::Tasks => rsx! { TasksView {} },
                }
            }
            UndoToast {}
        }
    }
}

/// The app icon's (content-hashed) URL, read from the page's `<link rel=icon>`.
fn icon_href() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("link[rel=icon]").ok().flatten())
        .and_then(|link| link.get_attribute("href"))
        .unwrap_or_default()
}
