//! The app's screens as routes (dioxus-router): every screen has an
//! address, so reloading, back and forward, and a link opened in another
//! tab land on the same screen. The service worker answers every
//! navigation with the app shell, so the addresses work offline too, and
//! the server answers them with `index.html`.
//!
//! | address          | screen                                   |
//! |------------------|------------------------------------------|
//! | `/`              | the notes                                |
//! | `/notes/{id}`    | one note, open (beside the list on a wide screen, alone on a phone) |
//! | `/tasks`         | the task lists                           |
//! | `/tasks/{id}`    | one task list                            |
//! | `/sync`          | sync status, connecting, joining         |
//! | `/devices`       | pairing and the device list (the owner)  |
//! | `/devices/pair`  | the pairing screen alone (link and QR code) |
//! | `/data`          | export, import, this browser's storage, the app lock |
//! | anything else    | "not found", with a way home             |
//!
//! A pairing link (`/#pair?…`) is read before the routes, whatever the
//! path (see [`crate::page::ui::pair`]).

use dioxus::prelude::*;

use crate::page::state::AppState;
use crate::page::ui::connect::SyncScreen;
use crate::page::ui::notes::NotesView;
use crate::page::ui::tasks::TasksView;
use crate::page::ui::toast::{ErrorLine, UndoToast};

/// Every screen of the app.
#[derive(Routable, Clone, PartialEq, Debug)]
#[rustfmt::skip]
#[allow(clippy::enum_variant_names)]
pub enum Page {
    #[layout(Screens)]
        #[layout(NotesView)]
            #[route("/")]
            NoteList {},
            #[route("/notes/:id")]
            NoteOpen { id: String },
        #[end_layout]
        #[layout(TasksView)]
            #[route("/tasks")]
            TaskLists {},
            #[route("/tasks/:id")]
            TaskListOpen { id: String },
        #[end_layout]
        #[route("/sync")]
        SyncPage {},
        #[route("/devices")]
        DevicesPage {},
        #[route("/devices/pair")]
        PairPage {},
        #[route("/data")]
        DataPage {},
    #[end_layout]
    #[route("/:..segments")]
    NotFound { segments: Vec<String> },
}

/// Which tab a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Notes,
    Tasks,
    Sync,
    Devices,
    Data,
}

impl Page {
    fn tab(&self) -> Option<Tab> {
        Some(match self {
            Page::NoteList {} | Page::NoteOpen { .. } => Tab::Notes,
            Page::TaskLists {} | Page::TaskListOpen { .. } => Tab::Tasks,
            Page::SyncPage {} => Tab::Sync,
            Page::DevicesPage {} | Page::PairPage {} => Tab::Devices,
            Page::DataPage {} => Tab::Data,
            Page::NotFound { .. } => return None,
        })
    }
}

/// The tabs, the banners and the screen.
#[component]
fn Screens() -> Element {
    let state = use_context::<AppState>();
    let page = use_route::<Page>();
    let current = page.tab();
    let class = |t: Tab| {
        if current == Some(t) {
            "tab active"
        } else {
            "tab"
        }
    };
    let aria = |t: Tab| if current == Some(t) { "page" } else { "false" };
    let key_problem = state.key_problem();
    let read_only = state.read_only_reason().filter(|_| key_problem.is_none());
    rsx! {
        nav { class: "screens", "aria-label": "Screens",
            Link { id: "tab-notes", class: class(Tab::Notes), "aria-current": aria(Tab::Notes), to: Page::NoteList {}, "Notes" }
            Link { id: "tab-tasks", class: class(Tab::Tasks), "aria-current": aria(Tab::Tasks), to: Page::TaskLists {}, "Tasks" }
            Link { id: "tab-sync", class: class(Tab::Sync), "aria-current": aria(Tab::Sync), to: Page::SyncPage {}, "Sync" }
            Link { id: "tab-devices", class: class(Tab::Devices), "aria-current": aria(Tab::Devices), to: Page::DevicesPage {}, "Devices" }
            Link { id: "tab-data", class: class(Tab::Data), "aria-current": aria(Tab::Data), to: Page::DataPage {}, "Data" }
        }
        if let Some(problem) = key_problem {
            div { class: "banner error", id: "key-banner", role: "alert",
                strong { "This device cannot open this workspace. " }
                "{problem}"
            }
        }
        if let Some(reason) = read_only {
            div { class: "banner", id: "read-only-banner", role: "status", "Read-only: {reason}" }
        }
        ErrorLine {}
        main { Outlet::<Page> {} }
        UndoToast {}
    }
}

// The notes and task-list routes are drawn by their layouts, which stay
// mounted while one moves between a list and an item (so the search, the
// filter and the scroll position stay).

#[component]
fn NoteList() -> Element {
    rsx! {}
}

#[component]
fn NoteOpen(id: String) -> Element {
    let _ = id;
    rsx! {}
}

#[component]
fn TaskLists() -> Element {
    rsx! {}
}

#[component]
fn TaskListOpen(id: String) -> Element {
    let _ = id;
    rsx! {}
}

#[component]
fn SyncPage() -> Element {
    rsx! { SyncScreen {} }
}

#[component]
fn DevicesPage() -> Element {
    let state = use_context::<AppState>();
    let record = state.record.read().clone();
    rsx! {
        if record.is_owner() {
            crate::page::ui::devices::PairDevice {}
            crate::page::ui::devices::DeviceList {}
            if record.server.is_some()
                && (!record.is_encrypted() || *state.encryption.read() != crate::page::state::Encryption::Idle)
            {
                crate::page::ui::encrypt::EncryptCard {}
            }
            if record.is_encrypted() {
                crate::page::ui::recovery::RecoveryKeyCard {}
            }
        } else {
            section { class: "card", id: "devices-card",
                h2 { "Devices" }
                if record.server.is_some() {
                    p { id: "devices-not-owner", "Devices are paired and removed on the device that owns this workspace (the one that connected it to the server)." }
                    if let Some(fingerprint) = crate::page::ui::device_keys::own_fingerprint(record.keys.as_ref()) {
                        p { class: "muted own-fingerprint",
                            "This device's key: "
                            code { class: "fingerprint", "{fingerprint}" }
                            ". The owner's device lists the same for this device; if it shows something else, the server changed it."
                        }
                    }
                } else {
                    p { id: "devices-not-owner", "Connect this workspace to a server first (on the " Link { to: Page::SyncPage {}, "Sync" } " screen); then pair your other devices here." }
                }
            }
        }
    }
}

/// Pairing on a screen of its own: the owner shows its link and QR code,
/// anyone else is told where pairing happens.
#[component]
fn PairPage() -> Element {
    let state = use_context::<AppState>();
    let owner = state.record.read().is_owner();
    rsx! {
        if owner {
            crate::page::ui::devices::PairDevice {}
        } else {
            section { class: "card", id: "devices-card",
                h2 { "Pair a device" }
                p { id: "devices-not-owner", "Devices are paired on the device that owns this workspace (the one that connected it to the server)." }
            }
        }
        Link { id: "to-devices", class: "button", to: Page::DevicesPage {}, "All devices" }
    }
}

#[component]
fn DataPage() -> Element {
    rsx! {
        crate::page::ui::data::WorkspacesCard {}
        crate::page::ui::data::DataCard {}
        crate::page::ui::cache::FilesCard {}
        crate::page::ui::share::SharesCard {}
        crate::page::ui::lock::AppLockCard {}
        crate::page::ui::interchange::InterchangeCard {}
    }
}

#[component]
fn NotFound(segments: Vec<String>) -> Element {
    let path = format!("/{}", segments.join("/"));
    rsx! {
        ErrorLine {}
        main {
            section { class: "card", id: "not-found",
                h2 { "Nothing here" }
                p { "Hearth has no screen at “{path}”." }
                Link { id: "go-home", class: "button", to: Page::NoteList {}, "Go to your notes" }
            }
        }
    }
}
