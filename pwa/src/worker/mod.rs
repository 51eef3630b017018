//! The sync Web Worker (gloo-worker). It runs the same wasm module as the
//! page (so Loro is downloaded once), started by `worker.js`, and owns the
//! sync engine: saving to IndexedDB, pushing, pulling, retrying with
//! backoff, compacting, and listening to the live events.
//!
//! The worker is the one writer of every workspace's store on this device:
//! the open one's, whose edits come from the page, and each other one's,
//! which it syncs in the background (a note moved there from the page is
//! added by the worker). What only it runs lives under this folder.
//! - [`session`]: opening the workspace and driving its sync engine.
//! - [`background`]: the other workspaces, each with an engine of its own.
//! - [`transfers`]: sending and fetching attached files' chunks, beside the
//!   engine.
//!
//! What the page shares with it ([`crate::protocol`], [`crate::idb`],
//! [`crate::fetch`], [`crate::files`], [`crate::platform`], [`crate::tabs`])
//! stays at the top of the crate.

pub mod background;
pub mod session;
pub mod transfers;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use gloo_worker::{HandlerId, Worker, WorkerScope};
use hearth_shared::engine::loro::ExportMode;

use crate::protocol::{FromWorker, SyncView, ToWorker};
use session::{Hooks, Kick};
use transfers::{FetchKick, Report};

/// The worker's state: a line to the engine's driver once it runs, and to
/// the transfers of attached files.
pub struct SyncWorker {
    driver: Option<UnboundedSender<Kick>>,
    sender: Option<UnboundedSender<()>>,
    fetcher: Option<UnboundedSender<FetchKick>>,
    /// Where the page's `Have` goes, until the workspace is open.
    have: Option<UnboundedSender<(Option<String>, Vec<u8>)>>,
    /// The drivers of the workspaces synced in the background, by id.
    background: background::Drivers,
}

impl Worker for SyncWorker {
    type Message = ();
    type Input = ToWorker;
    type Output = FromWorker;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        SyncWorker {
            driver: None,
            sender: None,
            fetcher: None,
            have: None,
            background: background::Drivers::default(),
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {}

    fn received(&mut self, scope: &WorkerScope<Self>, msg: ToWorker, id: HandlerId) {
        let kick = match msg {
            ToWorker::Unlock { key } => {
                if let Ok(bytes) = <[u8; 32]>::try_from(key.as_slice()) {
                    crate::lock::install(&hearth_shared::applock::LockKey::new(bytes));
                }
                return;
            }
            ToWorker::Open => {
                if self.driver.is_none() {
                    let (tx, rx) = unbounded();
                    let (have_tx, have_rx) = unbounded();
                    let (sender_tx, sender_rx) = unbounded();
                    let (fetcher_tx, fetcher_rx) = unbounded();
                    self.driver = Some(tx);
                    self.have = Some(have_tx);
                    self.sender = Some(sender_tx.clone());
                    self.fetcher = Some(fetcher_tx.clone());
                    let lines = Lines {
                        kicks: rx,
                        have: have_rx,
                        sender: sender_rx,
                        fetcher: fetcher_rx,
                        retry: (sender_tx.clone(), fetcher_tx.clone()),
                        background: self.background.clone(),
                    };
                    wasm_bindgen_futures::spawn_local(run(scope.clone(), id, lines));
                }
                return;
            }
            ToWorker::Have { workspace, vv } => {
                if let Some(have) = &self.have {
                    let _ = have.unbounded_send((workspace, vv));
                }
                return;
            }
            ToWorker::Uploads => {
                self.kick_sender();
                return;
            }
            ToWorker::Fetch { key, name, chunks } => {
                self.kick_fetcher(FetchKick::Fetch { key, name, chunks });
                return;
            }
            ToWorker::Keep { chunks, round } => {
                self.kick_fetcher(FetchKick::Keep(chunks, round));
                return;
            }
            ToWorker::MoveIn {
                workspace,
                request,
                note,
            } => {
                let driver = self.background.borrow().get(&workspace).cloned();
                let sent = driver.is_some_and(|d| {
                    d.unbounded_send(Kick::AddNote(request.clone(), note))
                        .is_ok()
                });
                if !sent {
                    scope.respond(
                        id,
                        FromWorker::MovedIn {
                            request,
                            error: Some(
                                "that workspace is not open on this device; open it once, then move the note".into(),
                            ),
                        },
                    );
                }
                return;
            }
            ToWorker::Attached { upload } => Kick::Attached(upload),
            ToWorker::Edit { update } => Kick::Update(update),
            ToWorker::Connect {
                connection,
                can_write,
            } => {
                self.kick_sender();
                self.kick_fetcher(FetchKick::Retry);
                Kick::Connect(connection, can_write)
            }
            ToWorker::SyncNow => {
                self.kick_sender();
                self.kick_fetcher(FetchKick::Retry);
                Kick::SyncNow
            }
            ToWorker::Leave => Kick::Leave,
            ToWorker::Encrypt { ring } => Kick::Encrypt(ring),
            ToWorker::Rotate { removed } => Kick::Rotate(removed),
            ToWorker::MergeRing { ring } => Kick::MergeRing(ring),
        };
        if let Some(driver) = &self.driver {
            let _ = driver.unbounded_send(kick);
        }
    }
}

impl SyncWorker {
    fn kick_sender(&self) {
        if let Some(sender) = &self.sender {
            let _ = sender.unbounded_send(());
        }
    }

    fn kick_fetcher(&self, kick: FetchKick) {
        if let Some(fetcher) = &self.fetcher {
            let _ = fetcher.unbounded_send(kick);
        }
    }
}

/// The worker's ends of the lines from the page.
struct Lines {
    kicks: UnboundedReceiver<Kick>,
    have: UnboundedReceiver<(Option<String>, Vec<u8>)>,
    sender: UnboundedReceiver<()>,
    fetcher: UnboundedReceiver<FetchKick>,
    /// To wake both when a sync round shows the server reachable.
    retry: (UnboundedSender<()>, UnboundedSender<FetchKick>),
    background: background::Drivers,
}

async fn run(scope: WorkerScope<SyncWorker>, page: HandlerId, lines: Lines) {
    let Lines {
        kicks,
        mut have,
        sender,
        fetcher,
        retry,
        background,
    } = lines;
    let mut booted = match session::boot().await {
        Ok(booted) => booted,
        Err(reason) => {
            scope.respond(page, FromWorker::Failed { reason });
            return;
        }
    };
    // The page reads what is stored itself, while this worker boots: send
    // it only what it lacks (usually nothing), or everything, as a
    // snapshot, if it read nothing of this workspace.
    let Some((workspace, vv)) = futures::StreamExt::next(&mut have).await else {
        return; // the page is gone
    };
    let doc = booted.engine.doc();
    let base = (workspace.as_deref() == Some(booted.record.workspace_id.as_str()))
        .then(|| hearth_shared::engine::loro::VersionVector::decode(&vv).ok())
        .flatten();
    let exported = match &base {
        Some(vv) => doc.export(ExportMode::updates(vv)),
        None => doc.export(ExportMode::Snapshot),
    };
    let update = match exported {
        Ok(update) => update,
        Err(e) => {
            scope.respond(
                page,
                FromWorker::Failed {
                    reason: e.to_string(),
                },
            );
            return;
        }
    };
    scope.respond(
        page,
        FromWorker::Opened {
            peer_id: booted.engine.peer_id(),
            update,
            record: Box::new(booted.record.clone()),
            stages: {
                let mut stages = std::mem::take(&mut booted.stages);
                stages.push((
                    "hearth-worker-exported".to_owned(),
                    crate::platform::shared_clock_ms(),
                ));
                stages
            },
            // The roster's warnings come with the driver's first status.
            status: session::view_of(
                &booted.engine.status_at_open(),
                booted.transport.connection().is_some(),
            ),
        },
    );
    // A large answer (the first sync of a large workspace) shows how far
    // it has come, at most once per percent.
    let last_view = std::rc::Rc::new(std::cell::RefCell::new(None::<SyncView>));
    {
        let (scope, last_view) = (scope.clone(), last_view.clone());
        let shown = std::cell::Cell::new(None::<String>);
        booted.transport.on_received(Box::new(move |received| {
            if received.bytes == 0 {
                shown.set(None);
            }
            let Some(last) = &*last_view.borrow() else {
                return;
            };
            if let Some(view) = session::receiving_view(last, received)
                && shown.replace(Some(view.text.clone())).as_deref() != Some(&view.text)
            {
                scope.respond(page, FromWorker::Status(view));
            }
        }));
    }
    // The other workspaces of this device sync in the background.
    wasm_bindgen_futures::spawn_local(background::run(
        scope.clone(),
        page,
        booted.engine.store().db_handle(),
        booted.record.workspace_id.clone(),
        background,
    ));
    // The transfers of attached files run beside the engine.
    {
        let db = booted.engine.store().db_handle();
        let workspace = booted.record.workspace_id.clone();
        let scope = scope.clone();
        let report: Report = std::rc::Rc::new(move |message| scope.respond(page, message));
        wasm_bindgen_futures::spawn_local(transfers::run_sender(
            db.clone(),
            workspace.clone(),
            sender,
            report.clone(),
        ));
        wasm_bindgen_futures::spawn_local(transfers::run_fetcher(db, workspace, fetcher, report));
    }
    let channel = crate::tabs::channel();
    let (s1, s2, s3, s4, s5, s6, s7, s8, s9) = (
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope.clone(),
        scope,
    );
    let hooks = Hooks {
        on_remote: Box::new(move |update| s1.respond(page, FromWorker::Remote { update })),
        on_status: Box::new(move |view| {
            // The server answers again: files waiting for it go now.
            let was_synced = last_view
                .borrow()
                .as_ref()
                .is_some_and(|v| v.state == "synced");
            if view.state == "synced" && !was_synced {
                let _ = retry.0.unbounded_send(());
                let _ = retry.1.unbounded_send(FetchKick::Retry);
            }
            *last_view.borrow_mut() = Some(view.clone());
            s2.respond(page, FromWorker::Status(view))
        }),
        on_saved: Box::new(move |edits| s3.respond(page, FromWorker::Saved { edits })),
        on_save_error: Box::new(move |edits, reason| {
            s4.respond(page, FromWorker::SaveFailed { edits, reason })
        }),
        on_left: Box::new(move |left| {
            s6.respond(
                page,
                match left {
                    Ok(next) => FromWorker::Left {
                        next: next.map(|id| id.as_str().to_owned()),
                    },
                    Err(reason) => FromWorker::LeaveFailed { reason },
                },
            )
        }),
        on_encrypted: Box::new(move |result| {
            s7.respond(
                page,
                FromWorker::Encrypted {
                    error: result.err(),
                },
            )
        }),
        on_rotated: Box::new(move |result| {
            s8.respond(
                page,
                FromWorker::Rotated {
                    error: result.err(),
                },
            )
        }),
        on_keys: Box::new(move |ring| s9.respond(page, FromWorker::Keys { ring })),
        // Notes are moved into the workspaces synced in the background.
        on_moved_in: Box::new(|_, _| {}),
        on_stored: Box::new(move || {
            let _ = &s5;
            if let Some(channel) = &channel {
                crate::tabs::announce_change(channel);
            }
        }),
    };
    session::drive(booted.engine, booted.transport, kicks, hooks, true).await;
}
