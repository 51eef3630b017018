//! The root component: starts the sync worker (or follows the tab that
//! has it), keeps the page's document in step with the worker, and lays out
//! the top bar, the screens and the banners.

use std::rc::Rc;

use dioxus::prelude::*;
use futures::StreamExt;
use hearth_migrations::Workspace;
use hearth_migrations::loro::LoroDoc;

use crate::idb;
use crate::page::link::WorkerLink;
use crate::page::state::AppState;
use crate::page::stored;
use crate::page::update;
use crate::protocol::{FromWorker, SyncView, ToWorker};
use crate::tabs;

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one value, held by the root component
enum Phase {
    Opening,
    /// The app lock is on: nothing is read until it opens (`None`: its
    /// record is damaged, and only removing it is left).
    Locked(Option<hearth_storage::lock::LockRecord>),
    Failed(String),
    Ready(AppState),
}

fn starting() -> SyncView {
    SyncView {
        state: "local".into(),
        text: "Saved on this device".into(),
        pending: 0,
        pending_what: String::new(),
        detail: None,
        first_sync: false,
    }
}

/// The signals the root component owns.
#[derive(Clone, Copy)]
struct Signals {
    phase: Signal<Phase>,
    revision: Signal<u64>,
    error: Signal<Option<String>>,
    undo: Signal<Option<crate::page::state::Undo>>,
    sync: Signal<SyncView>,
    saving: Signal<bool>,
    recovery_key: Signal<Option<String>>,
    encryption: Signal<crate::page::state::Encryption>,
    rotation: Signal<crate::page::state::Rotation>,
    uploads: Signal<Vec<crate::protocol::UploadView>>,
    fetches: Signal<std::collections::BTreeMap<String, crate::protocol::FetchView>>,
    kept: Signal<crate::protocol::KeptView>,
    background: Signal<std::collections::BTreeMap<String, crate::protocol::BackgroundView>>,
}

impl Signals {
    /// The state the screens share, once the workspace is open.
    fn state(
        &self,
        workspace: Signal<Workspace>,
        record: crate::device::DeviceRecord,
        db: Rc<rexie::Rexie>,
        link: Rc<WorkerLink>,
        follower: bool,
        kept: Option<hearth_migrations::KeptList>,
    ) -> AppState {
        // With no kept list (or one that does not fit), read afresh.
        let index = hearth_migrations::NoteIndex::from_kept(&workspace.peek(), kept).0;
        let notes = Rc::new(std::cell::RefCell::new(index));
        crate::platform::mark("hearth-index");
        AppState {
            workspace,
            notes,
            revision: self.revision,
            error: self.error,
            undo: self.undo,
            sync: self.sync,
            saving: self.saving,
            recovery_key: self.recovery_key,
            encryption: self.encryption,
            rotation: self.rotation,
            uploads: self.uploads,
            fetches: self.fetches,
            kept: self.kept,
            pins: Signal::new(Default::default()),
            background: self.background,
            record: Signal::new(record),
            db,
            link,
            follower,
        }
    }
}

/// The root component.
#[component]
pub fn App() -> Element {
    let update_ready = update::use_update_available();
    let logo = use_hook(icon_href);
    let signals = Signals {
        phase: use_signal(|| Phase::Opening),
        revision: use_signal(|| 0u64),
        error: use_signal(|| None::<String>),
        undo: use_signal(|| None),
        sync: use_signal(starting),
        saving: use_signal(|| false),
        recovery_key: use_signal(|| None::<String>),
        encryption: use_signal(|| crate::page::state::Encryption::Idle),
        rotation: use_signal(|| crate::page::state::Rotation::Idle),
        uploads: use_signal(Vec::new),
        fetches: use_signal(Default::default),
        kept: use_signal(Default::default),
        background: use_signal(Default::default),
    };
    let Signals {
        phase,
        sync,
        saving,
        uploads,
        ..
    } = signals;

    crate::page::lock::use_other_tabs();
    let pairing = use_hook(crate::page::ui::pair::link_in_address);
    let joining = pairing.is_some();
    // Whether the app lock let this start through.
    let mut gated = use_signal(|| false);
    use_future(move || async move {
        // The worker starts loading at once (its wasm takes a while to
        // start); it opens the workspace only once this tab leads.
        let worker = (!joining).then(WorkerLink::spawn);
        let mut phase = phase;
        let db = match idb::open(idb::DB_NAME).await {
            Ok(db) => db,
            Err(e) => return phase.set(Phase::Failed(e.to_string())),
        };
        let key = match crate::page::lock::gate(&db, |lock| phase.set(Phase::Locked(lock))).await {
            Ok(key) => key,
            Err(e) => return phase.set(Phase::Failed(e)),
        };
        if key.is_some() {
            phase.set(Phase::Opening);
        }
        gated.set(true);
        let Some(worker) = worker else {
            return;
        };
        // One tab edits and syncs; the others follow it.
        if tabs::acquire(300, crate::platform::reload).await {
            lead(signals, worker, db, key).await;
        } else {
            drop(worker);
            follow(signals, db).await;
        }
    });

    let body = match (pairing.clone(), phase()) {
        (_, Phase::Locked(lock)) => rsx! { crate::page::ui::lock::LockScreen { lock } },
        (Some(link), _) if gated() => rsx! { crate::page::ui::pair::JoinFromLink { link } },
        (Some(_), Phase::Failed(reason)) => rsx! {
            div { class: "banner error", id: "open-failed", role: "alert",
                "Hearth could not open its local data: {reason}"
            }
        },
        (Some(_), _) => rsx! { p { class: "empty", id: "opening", "Opening…" } },
        (None, phase) => match phase {
            Phase::Opening => {
                rsx! { p { class: "empty", id: "opening", "Opening your workspace…" } }
            }
            Phase::Failed(reason) => rsx! {
                div { class: "banner error", id: "open-failed", role: "alert",
                    "Hearth could not open its local data: {reason}"
                }
            },
            Phase::Ready(state) => rsx! { Ready { state } },
            Phase::Locked(_) => rsx! {},
        },
    };

    rsx! {
        div { class: "shell", id: "app",
            header { class: "topbar",
                img { class: "logo", src: "{logo}", alt: "" }
                h1 { "Hearth" }
                if let Phase::Ready(state) = phase() {
                    WorkspaceTitle { state }
                }
                SyncPill { sync, saving, uploads }
                if crate::page::lock::IDLE_MINUTES().is_some() && matches!(phase(), Phase::Ready(_)) {
                    button { id: "lock-now", class: "lock-now", title: "Lock Hearth now", onclick: move |_| crate::page::lock::lock_now(), "Lock" }
                }
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

/// The tab that holds the workspace: starts the sync worker, opens the
/// page's document from it, and applies what it reports.
async fn lead(
    signals: Signals,
    (link, mut reports): (
        WorkerLink,
        futures::channel::mpsc::UnboundedReceiver<FromWorker>,
    ),
    db: Rc<rexie::Rexie>,
    key: Option<hearth_shared::applock::LockKey>,
) {
    let Signals {
        mut phase,
        mut revision,
        mut error,
        mut sync,
        mut saving,
        ..
    } = signals;
    let fail = |mut phase: Signal<Phase>, reason: String| phase.set(Phase::Failed(reason));
    crate::platform::mark("hearth-page-started");
    let link = Rc::new(link);
    crate::page::lock::watch_saves(link.clone());
    if let Some(key) = key {
        link.send(ToWorker::Unlock {
            key: key.bytes().to_vec(),
        });
    }
    link.send(ToWorker::Open);
    // While the worker opens the workspace: the notes list kept from the
    // last start, so that the page need not read every note.
    let list_cache = idb::load_list_cache(&db).await;
    crate::platform::mark("hearth-list-loaded");
    // And the document as stored, read here rather than exported by the
    // worker and copied over: the worker then sends only what it added.
    let stored = stored::read_stored(&db).await;
    link.send(ToWorker::Have {
        workspace: stored.as_ref().map(|(id, _)| id.as_str().to_owned()),
        vv: stored
            .as_ref()
            .map(|(_, doc)| doc.oplog_vv().encode())
            .unwrap_or_default(),
    });
    crate::platform::mark("hearth-page-read");
    let opened = crate::page::link::opened(&mut reports, sync);
    // While the worker answers: which notes are kept offline, and the
    // kept list's rows read (the IndexedDB read is asked for first).
    let stored_workspace = stored.as_ref().map(|(id, _)| id.as_str().to_owned());
    let pins = async {
        hearth_storage::files::pins(&db, stored_workspace.as_deref()?)
            .await
            .ok()
    };
    let kept = async {
        list_cache
            .as_deref()
            .and_then(hearth_migrations::KeptList::read)
    };
    let (opened, pins, kept) = futures::join!(opened, pins, kept);
    crate::platform::mark("hearth-list-read");
    let (peer_id, update, record) = match opened {
        Ok(opened) => opened,
        Err(reason) => return fail(phase, reason),
    };
    let doc = match stored {
        Some((id, doc)) if id == record.workspace_id => doc,
        _ => LoroDoc::new(),
    };
    // Changes carry their time, for the history of a note.
    doc.set_record_timestamp(true);
    if let Err(e) = doc
        .set_peer_id(peer_id)
        .map_err(|e| e.to_string())
        .and_then(|()| doc.import(&update).map(|_| ()).map_err(|e| e.to_string()))
    {
        return fail(phase, e);
    }
    let workspace = match Workspace::open(doc.clone()) {
        Ok((workspace, _)) => workspace,
        Err(e) => return fail(phase, e.to_string()),
    };
    link.mark_synced(&doc);
    crate::platform::mark("hearth-doc-open");
    let workspace = Signal::new(workspace);
    let state = signals.state(workspace, *record, db, link.clone(), false, kept);
    let mut record = state.record;
    {
        let ws = state.record.peek().workspace_id.as_str().to_owned();
        let pins = match pins {
            Some(pins) if stored_workspace.as_deref() == Some(ws.as_str()) => Ok(pins),
            _ => hearth_storage::files::pins(&state.db, &ws).await,
        };
        if let Ok(pins) = pins {
            let mut signal = state.pins;
            signal.set(pins);
        }
    }
    phase.set(Phase::Ready(state.clone()));

    while let Some(report) = reports.next().await {
        match report {
            FromWorker::Saved { edits } => {
                if link.answered(edits) == 0 {
                    saving.set(false);
                }
            }
            FromWorker::SaveFailed { edits, reason } => {
                if link.answered(edits) == 0 {
                    saving.set(false);
                }
                error.set(Some(format!("Not saved: {reason}")));
            }
            FromWorker::Remote { update } => {
                if let Err(e) = doc.import(&update) {
                    error.set(Some(format!(
                        "Changes from another device could not be shown: {e}"
                    )));
                    continue;
                }
                link.mark_synced(&doc);
                let mut ws = workspace;
                // Data an older device wrote is migrated; a newer schema
                // turns the workspace read-only.
                let _ = ws.write().refresh();
                if let Ok(true) = link.flush(&doc) {
                    saving.set(true);
                }
                revision += 1;
            }
            FromWorker::Status(view) => {
                // Changes wait for the server: let the service worker send
                // them even if this page closes first.
                let waiting =
                    view.pending > 0 && (view.state == "offline" || view.state == "error");
                let was_waiting = {
                    let old = sync.peek();
                    old.pending > 0 && (old.state == "offline" || old.state == "error")
                };
                if waiting && !was_waiting {
                    update::request_background_sync();
                }
                if *sync.peek() != view {
                    sync.set(view);
                }
            }
            // The workspace is gone from this device: open the next one
            // (or a new, empty one) from scratch.
            FromWorker::Left { .. } => {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().set_href("/");
                }
                return;
            }
            FromWorker::LeaveFailed { reason } => {
                error.set(Some(format!(
                    "The workspace was not removed, and nothing was deleted: {reason}"
                )));
            }
            FromWorker::Encrypted { error } => {
                let mut encryption = signals.encryption;
                encryption.set(match error {
                    None => crate::page::state::Encryption::Done,
                    Some(reason) => crate::page::state::Encryption::Failed(reason),
                });
            }
            FromWorker::Rotated { error } => {
                let mut rotation = signals.rotation;
                rotation.set(match error {
                    None => crate::page::state::Rotation::Done,
                    Some(reason) => crate::page::state::Rotation::Failed(reason),
                });
            }
            FromWorker::Keys { ring } => record.write().keys = Some(ring),
            FromWorker::Uploads(list) => {
                crate::page::ui::files::attach_sent(&state, &list);
                let mut uploads = signals.uploads;
                // Files wait for the server: let the service worker send
                // them even if every page closes first.
                let waits = |list: &[crate::protocol::UploadView]| {
                    list.iter()
                        .any(|u| matches!(u.state, crate::protocol::UploadState::Waiting(_)))
                };
                if waits(&list) && !waits(&uploads.peek()) {
                    update::request_background_sync();
                }
                if *uploads.peek() != list {
                    uploads.set(list);
                }
            }
            FromWorker::Fetching(view) => {
                let mut fetches = signals.fetches;
                fetches.write().insert(view.key.clone(), view);
            }
            FromWorker::Kept(view) => {
                let mut kept = signals.kept;
                if view.round >= kept.peek().round {
                    kept.set(view);
                }
            }
            FromWorker::Background(view) => {
                let mut background = signals.background;
                background.write().insert(view.workspace.clone(), view);
            }
            FromWorker::MovedIn { request, error } => {
                crate::page::move_note::answered(&request, error);
            }
            FromWorker::Opened { .. } | FromWorker::Failed { .. } => {}
        }
    }
    error.set(Some(
        "The sync worker stopped; reload the page to keep saving.".into(),
    ));
}

/// A tab that does not hold the workspace: shows what the writing tab
/// stores, and follows its announcements.
async fn follow(signals: Signals, db: Rc<rexie::Rexie>) {
    let Signals {
        mut phase,
        mut revision,
        mut sync,
        ..
    } = signals;
    let (db, record, store, workspace) = match stored::open_follower(db).await {
        Ok(opened) => opened,
        Err(e) => {
            phase.set(Phase::Failed(e));
            return;
        }
    };
    let workspace = Signal::new(workspace);
    sync.set(SyncView {
        state: "follower".into(),
        text: "Open in another tab".into(),
        pending: 0,
        pending_what: String::new(),
        detail: Some("Another tab of this browser saves and syncs this workspace.".into()),
        first_sync: false,
    });
    phase.set(Phase::Ready(signals.state(
        workspace,
        record,
        db,
        Rc::new(WorkerLink::none()),
        true,
        None,
    )));
    let Some(channel) = tabs::channel() else {
        return;
    };
    let (changed, mut changes) = futures::channel::mpsc::unbounded::<()>();
    tabs::on_change(&channel, move || {
        let _ = changed.unbounded_send(());
    });
    while changes.next().await.is_some() {
        while changes.try_recv().is_ok() {}
        let mut ws = workspace;
        let mut copy = ws.peek().clone();
        if stored::reload_follower(&store, &mut copy).await.is_ok() {
            ws.set(copy);
            revision += 1;
        }
    }
}

#[component]
fn SyncPill(
    sync: Signal<SyncView>,
    saving: Signal<bool>,
    uploads: Signal<Vec<crate::protocol::UploadView>>,
) -> Element {
    let view = sync();
    let (state, text) = if saving() {
        ("saving".to_owned(), "Saving…".to_owned())
    } else {
        (view.state.clone(), view.text.clone())
    };
    let pending = if view.pending > 0 && view.state != "local" {
        format!(" · {} pending", view.pending_what)
    } else {
        String::new()
    };
    let sending = crate::page::ui::files::sending_words(&uploads());
    let title = view.detail.clone().unwrap_or_default();
    rsx! {
        span { class: "sync sync-{state}", id: "sync-status", "data-state": "{state}", title: "{title}", "{text}{pending}{sending}" }
    }
}

/// Which workspace is open: its name, or the start of its id.
#[component]
fn WorkspaceTitle(state: AppState) -> Element {
    state.track();
    let name = state
        .workspace
        .read()
        .name()
        .unwrap_or_else(|| state.record.read().title());
    rsx! {
        span { class: "workspace-name", id: "workspace-name", title: "The workspace open on this device", "{name}" }
    }
}

#[component]
fn Ready(state: AppState) -> Element {
    crate::page::lock::use_idle_lock();
    crate::page::ui::files::use_keep_offline(&state);
    crate::page::collect::collect_when_due(&state);
    // The device record keeps the workspace's name, so that the list of
    // workspaces can show it while another one is open.
    {
        let state = state.clone();
        use_effect(move || {
            state.track();
            let name = state.workspace.read().name();
            if state.record.peek().name != name && !state.follower {
                let mut record = state.record;
                record.write().name = name;
                let (db, saved) = (state.db.clone(), record.peek().clone());
                spawn(async move {
                    let _ = crate::device::save(&db, &saved).await;
                });
            }
        });
    }
    use_context_provider(|| state.clone());
    // "Interactive": the workspace is on screen. Benchmarks read this mark.
    use_effect(|| crate::platform::mark("hearth-ready"));
    keep_list_for_next_start(&state);
    rsx! { Router::<crate::page::pages::Page> {} }
}

/// Five seconds after the last change, the notes list is kept for
/// the next start (see `NoteIndex::to_cache`).
fn keep_list_for_next_start(state: &AppState) {
    let generation = use_hook(|| Rc::new(std::cell::Cell::new(0u64)));
    let state = state.clone();
    use_effect(move || {
        state.track();
        if state.follower {
            return;
        }
        let mine = generation.get() + 1;
        generation.set(mine);
        let (state, generation) = (state.clone(), generation.clone());
        spawn(async move {
            crate::platform::sleep_ms(5_000).await;
            if generation.get() != mine {
                return;
            }
            let cache = {
                let workspace = state.workspace.peek();
                let mut index = state.notes.borrow_mut();
                index.catch_up(&workspace);
                // A start from a cache that needed nothing re-read (or a
                // change that was no note's) has nothing new to keep.
                index.needs_keeping().then(|| index.to_cache(&workspace))
            };
            let Some(cache) = cache else {
                return;
            };
            let id = state.record.peek().workspace_id.clone();
            let _ = idb::save_list_cache(&state.db, &id, &cache).await;
        });
    });
}

/// The app icon's (content-hashed) URL, read from the page's `<link rel=icon>`.
fn icon_href() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("link[rel=icon]").ok().flatten())
        .and_then(|link| link.get_attribute("href"))
        .unwrap_or_default()
}
