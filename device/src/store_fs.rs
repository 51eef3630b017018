//! [`FsStore`]: the device's [`Store`] in a directory, crash-safe.
//!
//! Layout:
//!
//! ```text
//! state.json     the commit point: the meta (with the pending batch's
//!                key and counters), and which files are live
//! snap-N.hz      the snapshot, in an envelope (zstd + checksum)
//! upd-N.hz       one update blob each, in an envelope
//! out-N.bin      the in-flight batch's envelope (kept out of the JSON)
//! ```
//!
//! Every call first writes its new files (temp file, fsync, rename), then
//! replaces `state.json` the same way, then deletes files that are no
//! longer listed. A crash before the `state.json` rename leaves the old
//! state (plus unlisted files, removed at the next open); after it, the new
//! one. Disk work runs on tokio's blocking threads.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth_shared::engine::{Loaded, Outbox, Store, StoreError, SyncMeta};
use hearth_shared::envelope;
use serde::{Deserialize, Serialize};

use super::atomic::{sync_dir, write_atomic};

const STATE: &str = "state.json";
/// zstd level of stored blobs.
const LEVEL: i32 = 3;

/// What `state.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    meta: Option<StoredMeta>,
    snapshot: Option<String>,
    log: Vec<String>,
    /// The file holding the pending batch's envelope.
    outbox: Option<String>,
    /// The number of the next file.
    next_file: u64,
}

/// The meta as `state.json` keeps it: the engine's meta, and beside it the
/// pending batch's header (its bytes are in the `outbox` file). This is the
/// shape earlier versions wrote, so their stores open as they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredMeta {
    #[serde(flatten)]
    meta: SyncMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox: Option<OutboxHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OutboxHead {
    key: String,
    from: i32,
    to: i32,
}

impl State {
    fn live_files(&self) -> BTreeSet<String> {
        self.snapshot
            .iter()
            .chain(self.log.iter())
            .chain(self.outbox.iter())
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    state: Mutex<State>,
}

/// A store in a directory (one workspace per directory).
#[derive(Debug, Clone)]
pub struct FsStore {
    inner: Arc<Inner>,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

impl FsStore {
    /// Opens (creating if needed) the store in `dir`, and removes files a
    /// crash left unlisted.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_err("creating the store directory", e))?;
        let state = match fs::read(dir.join(STATE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{STATE}: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io_err(STATE, e)),
        };
        remove_unlisted(&dir, &state.live_files());
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                state: Mutex::new(state),
            }),
        })
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| io_err("store task", e))?
    }
}

/// Deletes the store's files (by their prefixes) that `live` does not list.
fn remove_unlisted(dir: &Path, live: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = ["snap-", "upd-", "out-"]
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

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_blob(
        &self,
        state: &mut State,
        prefix: &str,
        bytes: &[u8],
        seal: bool,
    ) -> Result<String, StoreError> {
        let name = format!(
            "{prefix}-{}.{}",
            state.next_file,
            if seal { "hz" } else { "bin" }
        );
        state.next_file += 1;
        let data = if seal {
            envelope::seal(bytes, LEVEL).map_err(|e| io_err("sealing a blob", e))?
        } else {
            bytes.to_vec()
        };
        write_atomic(&self.dir.join(&name), &data, false).map_err(|e| io_err(&name, e))?;
        Ok(name)
    }

    fn read_blob(&self, name: &str, sealed: bool) -> Result<Vec<u8>, StoreError> {
        let bytes = fs::read(self.dir.join(name)).map_err(|e| io_err(name, e))?;
        if !sealed {
            return Ok(bytes);
        }
        envelope::open(&bytes, envelope::DEFAULT_MAX_RAW_LEN)
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    }

    /// The meta to store: `meta`, keeping the pending batch header as it
    /// is.
    fn keep_outbox(next: &State, meta: &SyncMeta) -> StoredMeta {
        StoredMeta {
            meta: meta.clone(),
            outbox: next.meta.as_ref().and_then(|m| m.outbox.clone()),
        }
    }

    fn commit(&self, state: &mut State, next: State) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&next).map_err(|e| io_err("encoding the state", e))?;
        write_atomic(&self.dir.join(STATE), &json, false).map_err(|e| io_err(STATE, e))?;
        let old_files = state.live_files();
        *state = next;
        let live = state.live_files();
        let mut removed = false;
        for name in old_files.difference(&live) {
            removed |= fs::remove_file(self.dir.join(name)).is_ok();
        }
        if removed {
            let _ = sync_dir(&self.dir);
        }
        Ok(())
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let state = self.lock();
        let meta = state.meta.as_ref().map(|m| m.meta.clone());
        let outbox = match (
            state.meta.as_ref().and_then(|m| m.outbox.as_ref()),
            &state.outbox,
        ) {
            (Some(head), Some(name)) => Some(Outbox {
                key: head.key.clone(),
                from: head.from,
                to: head.to,
                envelope: self.read_blob(name, false)?,
            }),
            _ => None,
        };
        let snapshot = state
            .snapshot
            .as_deref()
            .map(|n| self.read_blob(n, true))
            .transpose()?;
        let log = state
            .log
            .iter()
            .map(|n| self.read_blob(n, true))
            .collect::<Result<_, _>>()?;
        Ok(Loaded {
            meta,
            outbox,
            snapshot,
            log,
        })
    }

    fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut next = state.clone();
        for update in updates {
            let name = self.write_blob(&mut next, "upd", update, true)?;
            next.log.push(name);
        }
        next.meta = Some(Self::keep_outbox(&next, meta));
        self.commit(&mut state, next)
    }

    fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut next = state.clone();
        next.snapshot = Some(self.write_blob(&mut next, "snap", snapshot, true)?);
        next.log.clear();
        next.meta = Some(Self::keep_outbox(&next, meta));
        self.commit(&mut state, next)
    }

    fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut next = state.clone();
        let head = outbox.map(|o| OutboxHead {
            key: o.key.clone(),
            from: o.from,
            to: o.to,
        });
        let same = head.is_some()
            && state.outbox.is_some()
            && state.meta.as_ref().and_then(|m| m.outbox.as_ref()) == head.as_ref();
        if !same {
            next.outbox = match outbox {
                Some(o) => Some(self.write_blob(&mut next, "out", &o.envelope, false)?),
                None => None,
            };
        }
        next.meta = Some(StoredMeta {
            meta: meta.clone(),
            outbox: head,
        });
        self.commit(&mut state, next)
    }
}

impl Store for FsStore {
    async fn load(&self) -> Result<Loaded, StoreError> {
        self.blocking(|inner| inner.load()).await
    }

    async fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let (updates, meta) = (updates.to_vec(), meta.clone());
        self.blocking(move |inner| inner.append(&updates, &meta))
            .await
    }

    async fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let (snapshot, meta) = (snapshot.to_vec(), meta.clone());
        self.blocking(move |inner| inner.compact(&snapshot, &meta))
            .await
    }

    async fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError> {
        let (outbox, meta) = (outbox.cloned(), meta.clone());
        self.blocking(move |inner| inner.set_outbox(outbox.as_ref(), &meta))
            .await
    }
}

#[cfg(test)]
mod tests {
    use hearth_shared::engine::Outbox;

    use super::*;

    fn meta(cursor: u64) -> SyncMeta {
        let mut m = SyncMeta::new(42);
        m.cursor = cursor;
        m
    }

    fn outbox(key: &str) -> Outbox {
        Outbox {
            key: key.into(),
            from: 0,
            to: 3,
            envelope: key.as_bytes().repeat(10),
        }
    }

    #[tokio::test]
    async fn what_was_stored_comes_back_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        assert_eq!(store.load().await.unwrap(), Loaded::default());
        store
            .append(&[b"one".to_vec(), b"two".to_vec()], &meta(1))
            .await
            .unwrap();
        store
            .set_outbox(Some(&outbox("k1")), &meta(1))
            .await
            .unwrap();
        store.append(&[b"three".to_vec()], &meta(2)).await.unwrap();
        drop(store);
        let store = FsStore::open(dir.path()).unwrap();
        let loaded = store.load().await.unwrap();
        assert_eq!(
            loaded.log,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        assert_eq!(loaded.meta, Some(meta(2)));
        assert_eq!(loaded.outbox, Some(outbox("k1")));

        store.compact(b"snapshot", &meta(3)).await.unwrap();
        assert_eq!(store.load().await.unwrap().outbox, Some(outbox("k1")));
        store.set_outbox(None, &meta(3)).await.unwrap();
        store.append(&[b"four".to_vec()], &meta(4)).await.unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let loaded = store.load().await.unwrap();
        assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
        assert_eq!(loaded.log, vec![b"four".to_vec()]);
        assert_eq!(loaded.meta, Some(meta(4)));
        assert_eq!(loaded.outbox, None);
        // Only live files remain: state, snapshot, one update.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[tokio::test]
    async fn a_store_written_by_an_earlier_version_opens_with_its_pending_batch() {
        let dir = tempfile::tempdir().unwrap();
        // Earlier versions kept the batch header inside the meta, with its
        // bytes in `out-N.bin`.
        fs::write(dir.path().join("out-0.bin"), b"batch bytes").unwrap();
        let state = r#"{"meta":{"peer_id":42,"cursor":7,"acked_counter":2,
            "outbox":{"key":"k-old","from":2,"to":5,"envelope":[]},"last_ack":null,
            "floor":0,"server_log_bytes":0,"server_snapshot_bytes":0},
            "snapshot":null,"log":[],"outbox":"out-0.bin","next_file":1}"#;
        fs::write(dir.path().join(STATE), state).unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        let loaded = store.load().await.unwrap();
        assert_eq!(
            loaded.meta.map(|m| (m.cursor, m.acked_counter)),
            Some((7, 2))
        );
        let outbox = loaded.outbox.unwrap();
        assert_eq!(
            (outbox.key.as_str(), outbox.from, outbox.to),
            ("k-old", 2, 5)
        );
        assert_eq!(outbox.envelope, b"batch bytes");
        // Saving the meta keeps the batch and does not write it again.
        store.append(&[], &meta(8)).await.unwrap();
        assert_eq!(
            store.load().await.unwrap().outbox.unwrap().envelope,
            b"batch bytes"
        );
        assert!(dir.path().join("out-0.bin").exists());
    }

    #[tokio::test]
    async fn files_a_crash_left_behind_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.append(&[b"kept".to_vec()], &meta(1)).await.unwrap();
        // A crash after writing an update file, before the state commit.
        fs::write(dir.path().join("upd-99.hz"), b"half").unwrap();
        fs::write(dir.path().join(".state.json.tmp"), b"{").unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        assert_eq!(store.load().await.unwrap().log, vec![b"kept".to_vec()]);
        assert!(!dir.path().join("upd-99.hz").exists());
        assert!(!dir.path().join(".state.json.tmp").exists());
    }

    #[tokio::test]
    async fn a_damaged_blob_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.append(&[vec![7u8; 1000]], &meta(1)).await.unwrap();
        let name = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("upd-"))
            .unwrap();
        let path = dir.path().join(name);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
    }
}
