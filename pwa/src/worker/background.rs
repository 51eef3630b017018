//! The workspaces of this device other than the open one, each synced in
//! the background by an engine and a driver of its own, so that a shared
//! list beside one's own notes is up to date before it is opened.
//!
//! Each is the same driver as the open workspace's ([`session::drive`]),
//! without a page: its changes go nowhere but IndexedDB, and the page
//! hears only how its sync stands and how many notes it holds
//! ([`FromWorker::Background`]). The first [`LIVE`] listen to the server's
//! live events; the others poll (a browser gives a server six HTTP/1.1
//! connections, and the open workspace needs some). A note moved into one
//! of them is added by its driver ([`Kick::AddNote`]), so each store keeps
//! one writer and no fold of its log can lose an edit another engine
//! appended. Each also sends the files queued in it. They start
//! [`START_AFTER_MS`] after the open workspace, so
//! loading their documents never slows the start of the one on screen; a
//! note moved meanwhile waits on its driver's line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use futures::channel::mpsc::{UnboundedSender, unbounded};
use gloo_worker::{HandlerId, WorkerScope};
use hearth_shared::id::WorkspaceId;
use rexie::Rexie;

use super::SyncWorker;
use super::session::{self, Hooks, Kick};
use super::transfers;
use crate::protocol::{BackgroundView, FromWorker, SyncView};

/// Workspaces synced in the background that listen to live events; the
/// others poll.
pub const LIVE: usize = 3;
/// How long after the open workspace the others start: loading their
/// documents must not slow the start of the one on screen.
pub const START_AFTER_MS: i32 = 2_000;

/// The background drivers' lines, by workspace id.
pub type Drivers = Rc<RefCell<BTreeMap<String, UnboundedSender<Kick>>>>;

/// Starts a driver for every workspace of this device but `open`.
pub async fn run(
    scope: WorkerScope<SyncWorker>,
    page: HandlerId,
    db: Rc<Rexie>,
    open: WorkspaceId,
    drivers: Drivers,
) {
    let records = match crate::device::all(&db).await {
        Ok((records, _)) => records,
        Err(e) => {
            crate::platform::log(&format!("background sync: {e}"));
            return;
        }
    };
    // Each line exists at once, so a note moved meanwhile waits for its
    // driver; the engines open a moment later.
    let others: Vec<_> = records
        .into_iter()
        .filter(|r| r.workspace_id != open)
        .map(|record| {
            let (tx, rx) = unbounded();
            drivers
                .borrow_mut()
                .insert(record.workspace_id.as_str().to_owned(), tx);
            (record, rx)
        })
        .collect();
    crate::platform::sleep_ms(START_AFTER_MS).await;
    let mut live = 0;
    for (record, mut rx) in others {
        let workspace = record.workspace_id.as_str().to_owned();
        let (engine, transport) = match session::open_background(&db, &record).await {
            Ok(opened) => opened,
            Err(e) => {
                crate::platform::log(&format!("background sync of {workspace}: {e}"));
                drivers.borrow_mut().remove(&workspace);
                // Notes moved meanwhile are not added: say so.
                while let Ok(kick) = rx.try_recv() {
                    if let Kick::AddNote(request, _) = kick {
                        let error = Some(format!("that workspace could not be opened here: {e}"));
                        scope.respond(page, FromWorker::MovedIn { request, error });
                    }
                }
                continue;
            }
        };
        let listens = record.server.is_some() && live < LIVE;
        if listens {
            live += 1;
        }
        let hooks = hooks(&scope, page, &workspace, engine.doc().clone());
        wasm_bindgen_futures::spawn_local(session::drive(engine, transport, rx, hooks, listens));
        if record.server.is_some() {
            // Files queued there are sent too (the reference goes into the
            // note when the workspace is opened; the page hears nothing).
            let (db, id) = (db.clone(), record.workspace_id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let (_keep, kicks) = unbounded::<()>();
                transfers::run_sender(db, id, kicks, Rc::new(|_| {})).await;
            });
        }
    }
}

/// What a background driver tells the page: its sync state with the notes
/// it holds (counted at each report: after a round, a pull or a moved
/// note) and the answers to moved notes.
fn hooks(
    scope: &WorkerScope<SyncWorker>,
    page: HandlerId,
    workspace: &str,
    doc: hearth_shared::engine::loro::LoroDoc,
) -> Hooks {
    let on_status = {
        let (scope, workspace) = (scope.clone(), workspace.to_owned());
        move |sync: SyncView| {
            scope.respond(
                page,
                FromWorker::Background(BackgroundView {
                    workspace: workspace.clone(),
                    sync,
                    notes: hearth_migrations::notes::count_live_notes(&doc),
                }),
            );
        }
    };
    let answer = scope.clone();
    Hooks {
        on_remote: Box::new(|_| {}),
        on_status: Box::new(on_status),
        on_saved: Box::new(|_| {}),
        on_save_error: Box::new(|_, _| {}),
        on_stored: Box::new(|| {}),
        on_left: Box::new(|_| {}),
        on_encrypted: Box::new(|_| {}),
        on_rotated: Box::new(|_| {}),
        on_keys: Box::new(|_| {}),
        on_moved_in: Box::new(move |request, error| {
            answer.respond(page, FromWorker::MovedIn { request, error });
        }),
    }
}
