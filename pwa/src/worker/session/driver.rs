//! The driver loop of the worker: it imports the page's edits and saves
//! them, and syncs as `hearth_shared::engine::next_action` decides, until
//! the page is gone or the workspace is left.

use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use hearth_shared::engine::loro::ExportMode;
use hearth_shared::engine::{
    Action, DriverFacts, RoundOutcome, Standing, jitter_from_random, next_action,
};
use hearth_shared::id::WorkspaceId;

use super::boot::AppEngine;
use super::idle::IdleFold;
use super::keys::{keep_changed_ring, rotate_key};
use super::pill::{lockout_of, pending_words, view_of};
use crate::fetch::{Connection, FetchTransport};
use crate::platform::{now_ms, random8, sleep_ms};
use crate::protocol::SyncView;

/// What wakes the driver.
#[derive(Debug)]
pub enum Kick {
    /// The page's changes, to import and save.
    Update(Vec<u8>),
    /// The workspace was connected (or its token replaced).
    Connect(Connection, bool),
    /// Sync now.
    SyncNow,
    /// Delete the workspace from this device, and stop.
    Leave,
    /// Encrypt the workspace with this keyring (see `ToWorker::Encrypt`).
    Encrypt(hearth_shared::keys::Keyring),
    /// Rotate the workspace key (see `ToWorker::Rotate`).
    Rotate(Option<hearth_shared::id::TokenId>),
    /// Take in the page's keyring (see `ToWorker::MergeRing`).
    MergeRing(hearth_shared::keys::Keyring),
    /// Queued file `0`'s reference is in the page's edits before this
    /// kick: take it off the queue once they are durable.
    Attached(String),
    /// Add a note moved here from the open workspace (only a workspace
    /// synced in the background gets this: no page edits it); answered
    /// through `on_moved_in` once it is durable.
    AddNote(String, crate::protocol::MovedNote),
}

/// Hooks the driver calls, to tell the page.
pub struct Hooks {
    /// Changes from other devices were imported and stored (the update
    /// brings the page's document up to date).
    pub on_remote: Box<dyn FnMut(Vec<u8>)>,
    /// The sync status changed.
    pub on_status: Box<dyn FnMut(SyncView)>,
    /// This many of the page's edits are durable.
    pub on_saved: Box<dyn FnMut(u32)>,
    /// Saving failed: these edits are not durable.
    pub on_save_error: Box<dyn FnMut(u32, String)>,
    /// New data is stored in IndexedDB (for the other tabs).
    pub on_stored: Box<dyn FnMut()>,
    /// The workspace was deleted from this device (and the workspace it
    /// opens now, if any), or could not be.
    pub on_left: Box<dyn FnMut(Result<Option<WorkspaceId>, String>)>,
    /// Encrypting the workspace finished, or stopped with this reason.
    pub on_encrypted: Box<dyn FnMut(Result<(), String>)>,
    /// Rotating the key finished, or stopped with this reason.
    pub on_rotated: Box<dyn FnMut(Result<(), String>)>,
    /// The keyring gained an epoch, and is kept in the device record.
    pub on_keys: Box<dyn FnMut(hearth_shared::keys::Keyring)>,
    /// A moved note (`AddNote`, by its request) is durable here, or not.
    pub on_moved_in: Box<dyn FnMut(String, Option<String>)>,
}

/// Runs for the life of the worker, doing what [`next_action`] decides.
/// With `live`, it listens to the server's live events between rounds;
/// without, it polls (a workspace synced in the background beyond the few
/// that may hold a connection each).
pub async fn drive(
    mut engine: AppEngine,
    transport: Rc<FetchTransport>,
    mut kicks: UnboundedReceiver<Kick>,
    mut hooks: Hooks,
    live: bool,
) {
    // What the page's document holds, so that remote changes are sent to
    // it as a small update.
    let mut page_vv = engine.doc().oplog_vv();
    // Set when the server refused this device's token for good.
    let mut locked_out: Option<SyncView> = None;
    let mut facts = DriverFacts::default();
    let mut idle = IdleFold::new(&engine);
    let _ = store_edits(&mut engine, &mut hooks, 0).await;
    show_status(&engine, &transport, &locked_out, &mut hooks);
    loop {
        facts.failures = engine.failures();
        facts.retry_after_ms = engine.retry_after_ms();
        facts.standing = standing(&engine, &transport, &locked_out);
        let action = next_action(&facts, engine.backoff(), jitter_from_random(random8()));
        facts = facts.quiet();
        // Carry out the action; a wait ends with what woke the driver.
        let fold_in = idle.due_in(&engine);
        let wake = match action {
            Action::SyncNow => {
                let result = engine.sync(now_ms().max(0) as u64).await;
                keep_changed_ring(&mut engine, &mut hooks.on_keys).await;
                let outcome = match result {
                    Ok(report) => {
                        if report.pulled > 0 {
                            (hooks.on_stored)();
                            if let Ok(update) = engine.doc().export(ExportMode::updates(&page_vv)) {
                                (hooks.on_remote)(update);
                            }
                        }
                        if report.more {
                            RoundOutcome::More
                        } else {
                            RoundOutcome::Done
                        }
                    }
                    Err(e) => {
                        locked_out = lockout_of(&e);
                        RoundOutcome::Failed
                    }
                };
                page_vv = engine.doc().oplog_vv();
                facts = facts.after_round(outcome);
                show_status(&engine, &transport, &locked_out, &mut hooks);
                continue;
            }
            Action::WaitForHead { poll_ms } => {
                let head = live.then_some(&engine);
                wait(&mut kicks, head, Some(poll_ms), fold_in).await
            }
            Action::Sleep {
                ms,
                edits_wake: true,
            } => wait(&mut kicks, None, Some(ms), fold_in).await,
            Action::Sleep {
                ms,
                edits_wake: false,
            } => {
                sleep_ms(ms.min(i32::MAX as u64) as i32).await;
                Wake::Timer
            }
            // Not connected, or removed: edits are still saved, and a new
            // connection starts syncing again.
            Action::Stop => wait(&mut kicks, None, None, fold_in).await,
        };
        let mut pending_kicks = Vec::new();
        match wake {
            Wake::Kick(None) => return, // the page is gone
            Wake::Kick(Some(kick)) => pending_kicks.push(kick),
            Wake::Head(Some(head)) => {
                engine.note_head(head);
                facts.head_announced = true;
            }
            Wake::Head(None) => facts.events_failed = true,
            Wake::Timer => facts.timer_elapsed = true,
            Wake::Idle => {
                if let Ok(true) = idle.fold(&mut engine).await {
                    (hooks.on_stored)();
                }
                continue;
            }
        }
        // Take a burst of keystrokes as one round.
        while let Ok(kick) = kicks.try_recv() {
            pending_kicks.push(kick);
        }
        let mut edits: u32 = 0;
        let mut leave = false;
        let mut encrypt = None;
        let mut rotate = None;
        let mut attached = Vec::new();
        let mut moved: Vec<(String, Option<String>)> = Vec::new();
        let mut import_failed = false;
        for kick in pending_kicks {
            match kick {
                Kick::Update(update) => {
                    if let Err(e) = engine.doc().import(&update) {
                        // A sent file's reference may be in it: keep its
                        // queue item.
                        attached.clear();
                        import_failed = true;
                        (hooks.on_save_error)(1, format!("the change could not be applied: {e}"));
                    } else {
                        edits += 1;
                        facts.local_edits = true;
                    }
                    page_vv = engine.doc().oplog_vv();
                }
                Kick::Connect(connection, can_write) => {
                    transport.set_connection(Some(connection));
                    engine.set_can_write(can_write);
                    engine.reconnected();
                    locked_out = None;
                    facts.last_round = RoundOutcome::NotYet;
                }
                Kick::SyncNow => facts.sync_requested = true,
                Kick::Leave => leave = true,
                Kick::Encrypt(ring) => encrypt = Some(ring),
                Kick::Rotate(removed) => rotate = Some(removed),
                Kick::MergeRing(ring) => engine.merge_ring(&ring),
                Kick::Attached(upload) => {
                    if !import_failed {
                        attached.push(upload);
                    }
                }
                Kick::AddNote(request, note) => {
                    let error = add_note(&engine, &note).err();
                    if error.is_none() {
                        facts.local_edits = true;
                    }
                    moved.push((request, error));
                }
            }
        }
        // The driver is the only writer of the workspace, so once it has
        // deleted it nothing writes it again.
        if leave {
            let store = engine.store();
            match hearth_storage::leave(store.db(), store.workspace()).await {
                Ok(next) => {
                    (hooks.on_left)(Ok(next));
                    return;
                }
                Err(e) => (hooks.on_left)(Err(e.to_string())),
            }
        }
        // Durable first; only then may a sent file leave the queue, since
        // its reference is now kept.
        let durable = store_edits(&mut engine, &mut hooks, edits).await;
        for (request, error) in moved {
            let error = error.or_else(|| {
                (!durable).then(|| "the note could not be saved in that workspace".to_owned())
            });
            (hooks.on_moved_in)(request, error);
        }
        if durable {
            let store = engine.store();
            for upload in attached {
                let ws = store.workspace().as_str();
                if let Err(e) = hearth_storage::files::remove_upload(store.db(), ws, &upload).await
                {
                    crate::platform::log(&e.to_string());
                }
            }
        }
        if let Some(ring) = encrypt {
            let result = if engine.is_encrypted() {
                engine.reseal_server().await
            } else {
                let workspace = engine.store().workspace().clone();
                let keys = crate::platform::engine_keys(&ring, &workspace);
                engine.encrypt(keys, now_ms().max(0) as u64).await
            };
            // Catching up may have brought other devices' changes.
            if let Ok(update) = engine.doc().export(ExportMode::updates(&page_vv)) {
                (hooks.on_stored)();
                (hooks.on_remote)(update);
                page_vv = engine.doc().oplog_vv();
            }
            (hooks.on_encrypted)(result.map_err(|e| e.to_string()));
        }
        if let Some(removed) = rotate {
            let result = rotate_key(&mut engine, removed.as_ref()).await;
            keep_changed_ring(&mut engine, &mut hooks.on_keys).await;
            if let Ok(update) = engine.doc().export(ExportMode::updates(&page_vv)) {
                (hooks.on_stored)();
                (hooks.on_remote)(update);
                page_vv = engine.doc().oplog_vv();
            }
            (hooks.on_rotated)(result);
        }
        show_status(&engine, &transport, &locked_out, &mut hooks);
    }
}

/// Adds a moved note to the engine's document, as this device's edit.
fn add_note(engine: &AppEngine, note: &crate::protocol::MovedNote) -> Result<(), String> {
    let (workspace, _) =
        hearth_migrations::Workspace::open(engine.doc().clone()).map_err(|e| e.to_string())?;
    let tags: Vec<&str> = note.tags.iter().map(String::as_str).collect();
    workspace
        .add_note(
            &crate::platform::new_id(),
            hearth_migrations::NewNote {
                title: &note.title,
                body: &note.body,
                tags: &tags,
                pinned: note.pinned,
            },
            now_ms(),
        )
        .map_err(|e| e.to_string())?;
    engine.doc().commit();
    Ok(())
}

/// Saves the document's unsaved edits to IndexedDB and tells the page
/// whether its `edits` are durable; returns whether they are.
async fn store_edits(engine: &mut AppEngine, hooks: &mut Hooks, edits: u32) -> bool {
    match engine.save_local().await {
        Ok(saved) => {
            if saved {
                (hooks.on_stored)();
            }
            if edits > 0 {
                (hooks.on_saved)(edits);
            }
            true
        }
        Err(e) => {
            if edits > 0 {
                (hooks.on_save_error)(edits, e.to_string());
            }
            false
        }
    }
}

/// Tells the page the sync status (the lockout, once the token is refused).
fn show_status(
    engine: &AppEngine,
    transport: &FetchTransport,
    locked_out: &Option<SyncView>,
    hooks: &mut Hooks,
) {
    match locked_out {
        Some(view) => (hooks.on_status)(view.clone()),
        None => {
            let mut view = view_of(&engine.status(), transport.connection().is_some());
            view.pending_what = pending_words(engine, view.pending);
            (hooks.on_status)(view)
        }
    }
}

/// Where the device stands with its server.
fn standing(
    engine: &AppEngine,
    transport: &FetchTransport,
    locked_out: &Option<SyncView>,
) -> Standing {
    if locked_out.is_some() {
        Standing::Removed
    } else if transport.connection().is_none() {
        Standing::Unconnected
    } else if engine.can_write() {
        Standing::ReadWrite
    } else {
        Standing::ReadOnly
    }
}

/// Waits for the next kick from the page, the next head the live events
/// announce (if `head` is given: the engine to ask), `timer_ms` (if
/// given), or `idle_ms` (if given: the log's fold is due), whichever comes
/// first.
async fn wait(
    kicks: &mut UnboundedReceiver<Kick>,
    head: Option<&AppEngine>,
    timer_ms: Option<u64>,
    idle_ms: Option<u64>,
) -> Wake {
    let kick = kicks.next();
    let head = async {
        match head {
            Some(engine) => engine.wait_for_head().await.ok(),
            None => futures::future::pending::<Option<u64>>().await,
        }
    };
    let timer = async {
        match timer_ms {
            Some(ms) => sleep_ms(ms.min(i32::MAX as u64) as i32).await,
            None => futures::future::pending::<()>().await,
        }
    };
    let idle = async {
        match idle_ms {
            Some(ms) => sleep_ms(ms.min(i32::MAX as u64) as i32).await,
            None => futures::future::pending::<()>().await,
        }
    };
    futures::pin_mut!(kick, head, timer, idle);
    use futures::future::{Either, select};
    match select(select(kick, idle), select(head, timer)).await {
        Either::Left((Either::Left((kick, _)), _)) => Wake::Kick(kick),
        Either::Left((Either::Right(_), _)) => Wake::Idle,
        Either::Right((Either::Left((head, _)), _)) => Wake::Head(head),
        Either::Right(_) => Wake::Timer,
    }
}

enum Wake {
    Kick(Option<Kick>),
    Head(Option<u64>),
    Timer,
    /// The device has been idle long enough to fold its log.
    Idle,
}
