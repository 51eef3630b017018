//! The page's own reads of what IndexedDB holds (the worker stores the
//! open workspace): the stored workspace, read while the worker boots, and
//! the read-only copy that a tab not holding the workspace lock follows.

use std::rc::Rc;

use hearth_migrations::Workspace;
use hearth_shared::id::WorkspaceId;
use rexie::Rexie;

use crate::device::{self, DeviceRecord};
use crate::idb::IdbStore;

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

/// Opens the workspace read-only from `db` (already open, past the app
/// lock), for a tab that does not hold the workspace lock: the document as
/// stored, reloaded on [`reload_follower`].
pub async fn open_follower(
    db: Rc<Rexie>,
) -> Result<(Rc<Rexie>, DeviceRecord, IdbStore, Workspace), String> {
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
