//! Opening this device's workspace in the worker: IndexedDB, the device
//! record (made on first run), the engine over the IndexedDB store and the
//! fetch transport, and the schema migrations.

use std::rc::Rc;

use hearth_migrations::{MigrationOutcome, Workspace};
use hearth_shared::engine::{Backoff, Engine, EngineConfig, peer_id_from_random};
use rexie::Rexie;

use crate::device::{self, DeviceRecord};
use crate::fetch::{Connection, FetchTransport};
use crate::idb::{self, IdbStore};
use crate::platform::{new_workspace_id, random8};

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
    let mut stages = loader_marks();
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
    stage("record");
    let (mut engine, transport) = open_engine(&db, &record).await?;
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

/// The loader's steps (`pwa/worker.js`), each `[name, time]` on the shared
/// clock; none when it left none.
fn loader_marks() -> Vec<(String, f64)> {
    let marks = js_sys::Reflect::get(&js_sys::global(), &"hearthLoaderMarks".into())
        .ok()
        .and_then(|m| wasm_bindgen::JsCast::dyn_into::<js_sys::Array>(m).ok());
    marks
        .map(|marks| {
            marks
                .iter()
                .filter_map(|mark| {
                    let mark = wasm_bindgen::JsCast::dyn_into::<js_sys::Array>(mark).ok()?;
                    Some((
                        format!("hearth-worker-{}", mark.get(0).as_string()?),
                        mark.get(1).as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The engine of `record`'s workspace, over IndexedDB and `fetch`.
async fn open_engine(
    db: &Rc<Rexie>,
    record: &DeviceRecord,
) -> Result<(AppEngine, Rc<FetchTransport>), String> {
    let transport = Rc::new(FetchTransport::new(Connection::of(record)));
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
    let mut engine = Engine::open(store, transport.clone(), peer, config)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(ring) = &record.keys {
        engine.set_keys(crate::platform::engine_keys(ring, &record.workspace_id));
    }
    Ok((engine, transport))
}

/// Opens another workspace of this device, to sync it in the background
/// (migrated only if a note is moved into it; else when it is opened).
pub async fn open_background(
    db: &Rc<Rexie>,
    record: &DeviceRecord,
) -> Result<(AppEngine, Rc<FetchTransport>), String> {
    open_engine(db, record).await
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
