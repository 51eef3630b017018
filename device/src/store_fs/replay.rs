//! Opening a store: replaying its journal into the state, and removing the
//! files a crash left unlisted.

use super::*;

/// Reads the journal at `path` into `state`, and cuts off a torn tail.
pub(super) fn replay(path: &Path, name: &str, state: &mut State) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(name, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| io_err(name, e))?;
    let replayed =
        journal::read(&bytes).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
    for record in &replayed.records {
        let json = bytes.get(record.json.clone()).unwrap_or_default();
        let meta: StoredMeta = serde_json::from_slice(json)
            .map_err(|e| StoreError::Corrupt(format!("{name}: a record's meta: {e}")))?;
        state
            .apply(record.kind, meta, placed(0, record.blobs.clone()))
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
    }
    let end = replayed.end as u64;
    if end < bytes.len() as u64 {
        file.set_len(end)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err(name, e))?;
    }
    state.journal = Some(Journal { file, len: end });
    Ok(())
}

/// Deletes the store's files (by their prefixes) that `live` does not list.
pub(super) fn remove_unlisted(dir: &Path, live: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = ["snap-", "upd-", "out-", "journal-"]
            .iter()
            .any(|p| name.starts_with(p))
            || name.starts_with('.');
        if ours && !live.contains(&name) {
            removed |= fs::remove_file(entry.path()).is_ok();
        }
    }
    if removed {
        let _ = sync_dir(dir);
    }
}
