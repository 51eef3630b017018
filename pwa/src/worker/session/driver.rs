//! Opening the workspace and driving its sync engine (in the sync worker).
//!
//! [`boot`] opens IndexedDB, finds (or creates) this device's workspace,
//! opens the engine over the IndexedDB store and the fetch transport, and
//! runs the schema migrations. [`drive`] then runs for the life of the
//! worker: it imports the page's edits and saves them to IndexedDB (only
//! then does the page show them as saved), and, when the workspace is
//! connected, syncs as `hearth_shared::engine::next_action` decides: after
//! each edit, whenever the live events announce a new head, at the safety
//! poll, and with backoff after failures; it stops syncing (and keeps
//! saving) once the server refuses the token for good.

use std::rc::Rc;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use hearth_migrations::{MigrationOutcome, Workspace};
use hearth_shared::engine::loro::ExportMode;
use hearth_shared::engine::{
    Action, Backoff, DriverFacts, Engine, EngineConfig, EngineError, KeyProblem, RoundOutcome,
    Standing, SyncState, SyncStatus, jitter_from_random, next_action, peer_id_from_random,
};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;
use rexie::Rexie;

use crate::device::{self, DeviceRecord};
use crate::fetch::{Connection, FetchTransport, Received};
use crate::idb::{self, IdbStore};
use crate::platform::{new_workspace_id, now_ms, random8};
use crate::protocol::SyncView;

/// The engine as the app uses it.
pub type AppEngine = Engine<IdbStore, Rc<FetchTransport>>;

/// Everything [`boot`] opened.
pub struct Booted {
    pub db: Rc<Rexie>,
    pub record: DeviceRecord,
    pub engine: AppEngine,
    pub transport: Rc<FetchTransport>,
    pub workspace: Workspace,
    /// When each stage of opening ended (see `FromWorker::Opened`).
    pub stages: Vec<(String, f64)>,
}

/// Opens this device's workspace, creating one on first run.
pub async fn boot() -> Result<Booted, String> {
    let mut stages = Vec::new();
    let mut stage = |name: &str| {
        stages.push((
            format!("hearth-worker-{name}"),
            crate::platform::shared_clock_ms(),
        ))
    };
    stage("started");
    let db = idb::open(idb::DB_NAME).await.map_err(|e| e.to_string())?;
    let mut record = match device::current(&db).await.map_err(|e| e.to_string())? {
        Some(record) => record,
        None => {
            let record = DeviceRecord::encrypted(
                new_workspace_id(),
                default_label(),
                crate::platform::secure_random()?,
            );
            device::save_current(&db, &record)
                .await
                .map_err(|e| e.to_string())?;
            record
        }
    };
    // Each device of an encrypted workspace has its own X25519 key pair
    // (a key rotated while it is away is wrapped for it).
    if let Some(ring) = &mut record.keys
        && ring.device.is_none()
    {
        ring.device = Some(hearth_shared::keys::DeviceSecret::new(
            crate::platform::secure_random()?,
        ));
        device::save_current(&db, &record)
            .await
            .map_err(|e| e.to_string())?;
    }
    let transport = Rc::new(FetchTransport::new(Connection::of(&record)));
    let store = IdbStore::new(db.clone(), record.workspace_id.clone());
    let peer = peer_id_from_random(random8());
    let config = EngineConfig {
        can_write: record.can_write(),
        // A home server that restarts should be found again within seconds.
        backoff: Backoff {
            base_ms: 1_000,
            max_ms: 30_000,
        },
        ..EngineConfig::default()
    };
    stage("record");
    let mut engine = Engine::open(store, transport.clone(), peer, config)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(ring) = &record.keys {
        engine.set_keys(crate::platform::engine_keys(ring, &record.workspace_id));
    }
    stage("engine");
    let doc = engine.doc().clone();
    let (workspace, outcome) = Workspace::open(doc).map_err(|e| e.to_string())?;
    let workspace = match outcome {
        // A brand-new workspace that was never synced gets the schema now;
        // one that joins a server gets it from the server's data.
        MigrationOutcome::Empty if record.server.is_none() => {
            Workspace::create(engine.doc().clone()).map_err(|e| e.to_string())?
        }
        _ => workspace,
    };
    stage("migrated");
    engine.save_local().await.map_err(|e| e.to_string())?;
    stage("saved");
    Ok(Booted {
        db,
        record,
        engine,
        transport,
        workspace,
        stages,
    })
}

/// The device's open workspace as IndexedDB holds it, read by the page
/// while the worker boots; `None` if there is none yet or it cannot be
/// read (the worker then sends everything).
pub async fn read_stored(
    db: &Rc<Rexie>,
) -> Option<(WorkspaceId, hearth_migrations::loro::LoroDoc)> {
    let record = device::current(db).await.ok()??;
    let store = IdbStore::new(db.clone(), record.workspace_id.clone());
    let doc = hearth_migrations::loro::LoroDoc::new();
    import_stored(&store, &doc).await.ok()?;
    Some((record.workspace_id, doc))
}

/// Imports what `store` holds (its snapshot, then its log) into `doc`.
/// Imports are idempotent, so importing everything again is safe.
async fn import_stored(
    store: &IdbStore,
    doc: &hearth_migrations::loro::LoroDoc,
) -> Result<(), String> {
    use hearth_shared::engine::Store;
    let loaded = store.load().await.map_err(|e| e.to_string())?;
    let mut blobs: Vec<Vec<u8>> = loaded.snapshot.into_iter().collect();
    blobs.extend(loaded.log);
    if !blobs.is_empty() {
        doc.import_batch(&blobs).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Opens the workspace read-only, for a tab that does not hold the
/// workspace lock: the document as stored, reloaded on [`reload_follower`].
pub async fn open_follower() -> Result<(Rc<Rexie>, DeviceRecord, IdbStore, Workspace), String> {
    let db = idb::open(idb::DB_NAME).await.map_err(|e| e.to_string())?;
    let record = device::current(&db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            "the other tab has not created the workspace yet; reload in a moment".to_owned()
        })?;
    let store = IdbStore::new(db.clone(), record.workspace_id.clone());
    let doc = hearth_migrations::loro::LoroDoc::new();
    let workspace = Workspace::open(doc).map_err(|e| e.to_string())?.0;
    let mut opened = (db, record, store, workspace);
    reload_follower(&opened.2, &mut opened.3).await?;
    Ok(opened)
}

/// Imports what is stored into a follower's document (imports are
/// idempotent, so importing everything again is safe).
pub async fn reload_follower(store: &IdbStore, workspace: &mut Workspace) -> Result<(), String> {
    import_stored(store, workspace.doc()).await?;
    workspace.refresh().map_err(|e| e.to_string())?;
    Ok(())
}

fn default_label() -> String {
    let agent = web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .unwrap_or_default();
    let kind = if agent.contains("Mobile") {
        "Phone"
    } else {
        "Browser"
    };
    format!(
        "{kind} {}",
        new_workspace_id()
            .as_str()
            .chars()
            .take(4)
            .collect::<String>()
    )
}

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
    Rotate,
    /// Take in the page's keyring (see `ToWorker::MergeRing`).
    MergeRing(hearth_shared::keys::Keyring),
    /// Queued file `0`'s reference is in the page's edits before this
    /// kick: take it off the queue once they are durable.
    Attached(String),
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
}

/// Runs for the life of the worker, doing what [`next_action`] decides.
pub async fn drive(
    mut engine: AppEngine,
    transport: Rc<FetchTransport>,
    mut kicks: UnboundedReceiver<Kick>,
    mut hooks: Hooks,
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
                keep_changed_ring(&mut engine, &mut hooks).await;
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
                wait(&mut kicks, Some(&engine), Some(poll_ms), fold_in).await
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
        let mut rotate = false;
        let mut attached = Vec::new();
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
                Kick::Rotate => rotate = true,
                Kick::MergeRing(ring) => engine.merge_ring(&ring),
                Kick::Attached(upload) => {
                    if !import_failed {
                        attached.push(upload);
                    }
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
        if store_edits(&mut engine, &mut hooks, edits).await {
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
        if rotate {
            let result = rotate_key(&mut engine).await;
            keep_changed_ring(&mut engine, &mut hooks).await;
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

/// Makes a new key epoch, keeps it in the device record first (so that a
/// device stopped half-way still holds the key it wrote with), then has
/// the engine rotate to it.
async fn rotate_key(engine: &mut AppEngine) -> Result<(), String> {
    let db = engine.store().db_handle();
    let mut record = device::current(&db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("this device holds no workspace")?;
    let Some(ring) = &record.keys else {
        return Err("this workspace is not encrypted; there is no key to rotate".into());
    };
    let ring = ring.with_new_epoch(crate::platform::secure_random()?);
    record.keys = Some(ring.clone());
    device::save_current(&db, &record)
        .await
        .map_err(|e| e.to_string())?;
    engine
        .rotate(&ring, now_ms().max(0) as u64)
        .await
        .map_err(|e| e.to_string())
}

/// Keeps the engine's keyring in the device record if it gained an epoch,
/// and tells the page.
async fn keep_changed_ring(engine: &mut AppEngine, hooks: &mut Hooks) {
    let Some(ring) = engine.take_changed_ring() else {
        return;
    };
    let db = engine.store().db_handle();
    if let Ok(Some(mut record)) = device::current(&db).await
        && record.workspace_id == *engine.store().workspace()
    {
        let mut kept = record.keys.take().unwrap_or_else(|| ring.clone());
        kept.merge(&ring);
        record.keys = Some(kept.clone());
        if device::save_current(&db, &record).await.is_ok() {
            (hooks.on_keys)(kept);
        }
    }
}

/// How long the device must be idle, after its log last grew, before the
/// log is folded into its snapshot.
const FOLD_AFTER_IDLE_MS: i64 = 5_000;
/// At most one fold this often (each writes the whole snapshot).
const FOLD_AT_MOST_EVERY_MS: i64 = 30_000;

/// When to fold the local log into the snapshot (see
/// `Engine::fold_local_log`): once the device has been idle a while.
struct IdleFold {
    seen_bytes: u64,
    grew_at: i64,
    folded_at: i64,
}

impl IdleFold {
    fn new(engine: &AppEngine) -> Self {
        Self {
            seen_bytes: engine.local_log_bytes(),
            grew_at: now_ms(),
            folded_at: now_ms() - FOLD_AT_MOST_EVERY_MS,
        }
    }

    /// Milliseconds until the fold is due, if there is anything to fold.
    fn due_in(&mut self, engine: &AppEngine) -> Option<u64> {
        let bytes = engine.local_log_bytes();
        if bytes == 0 {
            self.seen_bytes = 0;
            return None;
        }
        if bytes != self.seen_bytes {
            self.seen_bytes = bytes;
            self.grew_at = now_ms();
        }
        let at = (self.grew_at + FOLD_AFTER_IDLE_MS).max(self.folded_at + FOLD_AT_MOST_EVERY_MS);
        Some((at - now_ms()).max(0) as u64)
    }

    async fn fold(&mut self, engine: &mut AppEngine) -> Result<bool, EngineError> {
        // A failed fold is tried again later, not at once.
        self.folded_at = now_ms();
        engine.fold_local_log().await
    }
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

/// What this device's unacknowledged operations change, in words.
fn pending_words(engine: &AppEngine, pending: u64) -> String {
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

/// The status to show, for good, when the server refuses this device's
/// token: it was revoked, or it expired. Syncing stops; the data stays.
fn lockout_of(e: &EngineError) -> Option<SyncView> {
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

enum Wake {
    Kick(Option<Kick>),
    Head(Option<u64>),
    Timer,
    /// The device has been idle long enough to fold its log.
    Idle,
}

/// Waits `ms` milliseconds.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        if let Ok(set_timeout) = js_sys::Reflect::get(&global, &"setTimeout".into())
            && let Ok(set_timeout) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(set_timeout)
        {
            let _ = set_timeout.call2(&global, &resolve, &ms.into());
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
