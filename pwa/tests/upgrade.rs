//! A browser that holds what an earlier version of the app stored (layout
//! 1: the device record under `devices["current"]`, the pending batch
//! inside the sync state as a JSON array of numbers) opens today's layout
//! with its notes, its pending edits and its token intact.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::rc::Rc;

use hearth_migrations::loro::{ExportMode, LoroDoc};
use hearth_migrations::{NewNote, NoteFilter, Workspace};
use hearth_pwa::fetch::FetchTransport;
use hearth_pwa::idb::{self, IdbStore};
use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::engine::{Engine, EngineConfig, Store};
use hearth_shared::envelope;
use hearth_shared::id::WorkspaceId;
use hearth_storage::{device, outbox};
use js_sys::{Array, Uint8Array};
use rexie::TransactionMode;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const WS: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const PEER: u64 = 0x1234_5678;

fn note(title: &str) -> NewNote<'_> {
    NewNote {
        title,
        body: "",
        tags: &[],
        pinned: false,
    }
}

/// Writes a workspace as version 1 of the app stored it: one note in the
/// snapshot, a second in the update log and in the pending batch (not yet on
/// the server), and a device record with the owner's token.
async fn write_layout_1(name: &str) -> (String, Vec<u8>) {
    let doc = LoroDoc::new();
    doc.set_peer_id(PEER).unwrap();
    let workspace = Workspace::create(doc.clone()).unwrap();
    workspace.add_note("n1", note("Synced before"), 1).unwrap();
    let snapshot = doc.export(ExportMode::Snapshot).unwrap();
    let acked = doc.oplog_vv().get(&PEER).copied().unwrap_or(0);
    let before = doc.oplog_vv();
    workspace
        .add_note("n2", note("Written offline"), 2)
        .unwrap();
    let update = doc.export(ExportMode::updates(&before)).unwrap();
    let to = doc.oplog_vv().get(&PEER).copied().unwrap_or(0);
    let batch = envelope::seal(&update, 3).unwrap();
    let key = format!("{PEER:016x}-{acked}-{to}-00000000");

    let db = hearth_storage::open_schema(name, 1, &["meta", "snapshots", "updates", "devices"])
        .await
        .unwrap();
    let tx = db
        .transaction(
            &["meta", "snapshots", "updates", "devices"],
            TransactionMode::ReadWrite,
        )
        .unwrap();
    let ws: JsValue = WS.into();
    let sealed =
        |b: &[u8]| -> JsValue { Uint8Array::from(&envelope::seal(b, 3).unwrap()[..]).into() };
    tx.store("snapshots")
        .unwrap()
        .put(&sealed(&snapshot), Some(&ws))
        .await
        .unwrap();
    let log_key: JsValue = Array::of2(&ws, &JsValue::from_f64(0.0)).into();
    tx.store("updates")
        .unwrap()
        .put(&sealed(&update), Some(&log_key))
        .await
        .unwrap();
    let meta = serde_json::json!({
        "peer_id": PEER, "cursor": 4, "acked_counter": acked,
        "outbox": {"key": key, "from": acked, "to": to, "envelope": batch},
        "last_ack": {"seq": 4, "at_ms": 1000},
        "floor": 0, "server_log_bytes": 300, "server_snapshot_bytes": 0
    });
    tx.store("meta")
        .unwrap()
        .put(&meta.to_string().into(), Some(&ws))
        .await
        .unwrap();
    let record = serde_json::json!({
        "workspace_id": WS, "label": "Phone", "server": "http://127.0.0.1:9",
        "token": "header.claims.signature", "role": "master", "scope": "rw"
    });
    tx.store("devices")
        .unwrap()
        .put(&record.to_string().into(), Some(&"current".into()))
        .await
        .unwrap();
    assert!(tx.done().await.unwrap().is_committed());
    db.close();
    (key, batch)
}

#[wasm_bindgen_test]
async fn an_install_of_the_earlier_layout_opens_with_everything_intact() {
    let name = format!("hearth-test-upgrade-{}", js_sys::Math::random());
    let (key, batch) = write_layout_1(&name).await;

    let db = idb::open(&name).await.unwrap();
    // The token and the rest of the record, now typed.
    let record = device::current(&db)
        .await
        .unwrap()
        .expect("the record moved");
    let ws = WorkspaceId::parse(WS).unwrap();
    assert_eq!(record.workspace_id, ws);
    assert_eq!(record.token.as_deref(), Some("header.claims.signature"));
    assert_eq!(record.server.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(
        (record.role, record.scope),
        (Some(Role::Master), Some(Scope::ReadWrite))
    );
    assert_eq!(record.label, "Phone");

    // The pending batch, byte for byte under its key, where the service
    // worker looks for it.
    let pending = outbox::all(&db).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, ws);
    assert_eq!(
        (pending[0].1.key.as_str(), &pending[0].1.envelope),
        (key.as_str(), &batch)
    );

    // The sync state without the batch in it, and the notes.
    let store = IdbStore::new(db.clone(), ws.clone());
    let loaded = store.load().await.unwrap();
    let meta = loaded.meta.clone().unwrap();
    assert_eq!((meta.peer_id, meta.cursor), (PEER, 4));
    assert_eq!(loaded.outbox.as_ref().map(|o| &o.envelope), Some(&batch));
    let engine = Engine::open(
        store,
        Rc::new(FetchTransport::new(None)),
        1,
        EngineConfig::default(),
    )
    .await
    .unwrap();
    assert!(engine.pending() > 0, "the offline edit is still pending");
    let (workspace, _) = Workspace::open(engine.doc().clone()).unwrap();
    let mut titles: Vec<String> = workspace
        .list_notes(NoteFilter::default())
        .into_iter()
        .map(|n| n.title)
        .collect();
    titles.sort();
    assert_eq!(titles, ["Synced before", "Written offline"]);

    // Nothing of the earlier layout is left, and opening again changes
    // nothing.
    let tx = db
        .transaction(&["devices", "meta"], TransactionMode::ReadOnly)
        .unwrap();
    let legacy = tx
        .store("devices")
        .unwrap()
        .get("current".into())
        .await
        .unwrap();
    assert!(legacy.is_none());
    let meta_text = tx
        .store("meta")
        .unwrap()
        .get(WS.into())
        .await
        .unwrap()
        .and_then(|v| v.as_string())
        .unwrap();
    assert!(!meta_text.contains("outbox"), "{meta_text}");
    drop(tx);
    let again = idb::open(&name).await.unwrap();
    assert_eq!(device::current(&again).await.unwrap(), Some(record));
    assert_eq!(outbox::all(&again).await.unwrap().len(), 1);
}

#[wasm_bindgen_test]
async fn a_damaged_record_of_the_earlier_layout_is_reported_and_nothing_moves() {
    let name = format!("hearth-test-upgrade-bad-{}", js_sys::Math::random());
    let db = hearth_storage::open_schema(&name, 1, &["meta", "snapshots", "updates", "devices"])
        .await
        .unwrap();
    let tx = db
        .transaction(&["devices"], TransactionMode::ReadWrite)
        .unwrap();
    // A workspace id that is short and not hex: from a pasted token.
    let record = r#"{"workspace_id":"éé","label":"x"}"#;
    tx.store("devices")
        .unwrap()
        .put(&record.into(), Some(&"current".into()))
        .await
        .unwrap();
    assert!(tx.done().await.unwrap().is_committed());
    db.close();
    let error = match idb::open(&name).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a damaged record opened"),
    };
    assert!(error.contains("settings"), "{error}");
    // The record is still where it was, for a later version to read.
    let db =
        hearth_storage::open_schema(&name, hearth_storage::DB_VERSION, &hearth_storage::STORES)
            .await
            .unwrap();
    let tx = db
        .transaction(&["devices"], TransactionMode::ReadOnly)
        .unwrap();
    let kept = tx
        .store("devices")
        .unwrap()
        .get("current".into())
        .await
        .unwrap();
    assert_eq!(kept.and_then(|v| v.as_string()).as_deref(), Some(record));
}
