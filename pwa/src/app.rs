//! The root component: opens the workspace, runs the sync driver, and lays
//! out the top bar, the screens and the banners.

use dioxus::prelude::*;

use crate::session::{self, Hooks, SyncView};
use crate::state::AppState;
use crate::ui::connect::SyncScreen;
use crate::ui::notes::NotesView;
use crate::ui::tasks::TasksView;
use crate::ui::toast::{ErrorLine, UndoToast};
use crate::{tabs, update};

#[derive(Clone, Copy, PartialEq)]
enum Screen {
    Notes,
    Tasks,
    Sync,
}

#[derive(Clone)]
enum Phase {
    Opening,
    Failed(String),
    Ready(AppState),
}

/// The root component.
#[component]
pub fn App() -> Element {
    let update_ready = update::use_update_available();
    let logo = use_hook(icon_href);
    let mut phase = use_signal(|| Phase::Opening);
    let revision = use_signal(|| 0u64);
    let error = use_signal(|| None::<String>);
    let undo = use_signal(|| None);
    let sync = use_signal(SyncView::starting);
    let saving = use_signal(|| false);

    use_future(move || async move {
        // One tab edits and syncs; the others follow it.
        if !tabs::acquire(300, tabs::reload).await {
            follow(phase, revision, sync).await;
            return;
        }
        let booted = match session::boot().await {
            Ok(booted) => booted,
            Err(e) => {
                phase.set(Phase::Failed(e));
                return;
            }
        };
        let (kick, kicks) = futures::channel::mpsc::unbounded();
        let workspace = Signal::new(booted.workspace.clone());
        let record = Signal::new(booted.record.clone());
        let state = AppState {
            workspace,
            revision,
            error,
            undo,
            sync,
            saving,
            record,
            db: booted.db.clone(),
            transport: booted.transport.clone(),
            kick,
            follower: false,
        };
        phase.set(Phase::Ready(state));
        let channel = tabs::channel();
        let hooks = Hooks {
            on_remote: Box::new(move || {
                let mut workspace = workspace;
                let _ = workspace.write().refresh();
                let mut revision = revision;
                revision += 1;
            }),
            on_status: Box::new(move |view| {
                let (mut sync, mut saving) = (sync, saving);
                saving.set(false);
                if *sync.peek() != view {
                    sync.set(view);
                }
            }),
            on_save_error: Box::new(move |message| {
                let mut error = error;
                error.set(Some(format!("Not saved: {message}")));
            }),
            on_stored: Box::new(move || {
                if let Some(channel) = &channel {
                    tabs::announce_change(channel);
                }
            }),
        };
        session::drive(booted.engine, booted.transport, kicks, hooks).await;
    });

    let body = match phase() {
        Phase::Opening => rsx! { p { class: "empty", id: "opening", "Opening your workspace…" } },
        Phase::Failed(reason) => rsx! {
            div { class: "banner error", id: "open-failed", role: "alert",
                "Hearth could not open its local data: {reason}"
            }
        },
        Phase::Ready(state) => rsx! { Ready { state } },
    };

    rsx! {
        div { class: "shell", id: "app",
            header { class: "topbar",
                img { class: "logo", src: "{logo}", alt: "" }
                h1 { "Hearth" }
                SyncPill { sync, saving }
            }
            if update_ready() {
                div { class: "banner", id: "update-banner", role: "status",
                    "A new version of Hearth is ready. "
                    button { id: "update-apply", onclick: move |_| update::apply_update(), "Update now" }
                }
            }
            {body}
        }
    }
}

/// A tab that does not hold the workspace: shows what the syncing tab
/// stores, and follows its announcements.
async fn follow(mut phase: Signal<Phase>, revision: Signal<u64>, mut sync: Signal<SyncView>) {
    let (db, record, store, workspace) = match session::open_follower().await {
        Ok(opened) => opened,
        Err(e) => {
            phase.set(Phase::Failed(e));
            return;
        }
    };
    let workspace = Signal::new(workspace);
    let (kick, _) = futures::channel::mpsc::unbounded();
    sync.set(SyncView {
        state: "follower",
        text: "Open in another tab".into(),
        pending: 0,
        detail: Some("Another tab of this browser saves and syncs this workspace.".into()),
    });
    let state = AppState {
        workspace,
        revision,
        error: Signal::new(None),
        undo: Signal::new(None),
        sync,
        saving: Signal::new(false),
        record: Signal::new(record),
        db,
        transport: std::rc::Rc::new(crate::fetch::FetchTransport::new(None)),
        kick,
        follower: true,
    };
    phase.set(Phase::Ready(state));
    let Some(channel) = tabs::channel() else { return };
    let (changed, mut changes) = futures::channel::mpsc::unbounded::<()>();
    tabs::on_change(&channel, move || {
        let _ = changed.unbounded_send(());
    });
    while futures::StreamExt::next(&mut changes).await.is_some() {
        while changes.try_recv().is_ok() {}
        let mut ws = workspace;
        let mut copy = ws.peek().clone();
        if session::reload_follower(&store, &mut copy).await.is_ok() {
            ws.set(copy);
            let mut revision = revision;
            revision += 1;
        }
    }
}

#[component]
fn SyncPill(sync: Signal<SyncView>, saving: Signal<bool>) -> Element {
    let view = sync();
    let (state, text) = if saving() { ("saving", "Saving…".to_owned()) } else { (view.state, view.text.clone()) };
    let pending = if view.pending > 0 && view.state != "local" { format!(" · {} pending", view.pending) } else { String::new() };
    let title = view.detail.clone().unwrap_or_default();
    rsx! {
        span { class: "sync sync-{state}", id: "sync-status", "data-state": "{state}", title: "{title}", "{text}{pending}" }
    }
}

#[component]
fn Ready(state: AppState) -> Element {
    let state = use_context_provider(|| state);
    let mut screen = use_signal(|| Screen::Notes);
    let read_only = state.read_only_reason();
    let tab = |s: Screen| if screen() == s { "tab active" } else { "tab" };
    rsx! {
        nav { class: "screens", "aria-label": "Screens",
            button { id: "tab-notes", class: tab(Screen::Notes), onclick: move |_| screen.set(Screen::Notes), "Notes" }
            button { id: "tab-tasks", class: tab(Screen::Tasks), onclick: move |_| screen.set(Screen::Tasks), "Tasks" }
            button { id: "tab-sync", class: tab(Screen::Sync), onclick: move |_| screen.set(Screen::Sync), "Sync" }
        }
        if let Some(reason) = read_only {
            div { class: "banner", id: "read-only-banner", role: "status", "Read-only: {reason}" }
        }
        ErrorLine {}
        main {
            match screen() {
                Screen::Notes => rsx! { NotesView {} },
                Screen::Tasks => rsx! { TasksView {} },
                Screen::Sync => rsx! { SyncScreen {} },
            }
        }
        UndoToast {}
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
