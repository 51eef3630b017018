//! The chunks of attached files: `<data dir>/workspaces/<ws>/chunks/` holds
//!
//! - `<aa>/<name>`: each chunk, named by the SHA-256 of its bytes (64 hex
//!   characters; `aa` is the name's first two, so no directory grows past a
//!   few thousand entries); opaque bytes, checked against the name before
//!   they are stored;
//! - `unreferenced/<name>`: chunks the owner's device said no note uses
//!   any more, moved aside with their modification time set to that moment;
//!   deleted once older than the grace period, and moved back if a device
//!   puts, asks for or fetches one before then;
//! - `tmp/`: chunks being written.
//!
//! A chunk is written to `tmp/`, synced (`fdatasync`), renamed into place
//! and its directory synced before the put is acknowledged, so an
//! acknowledged chunk survives a crash or power loss, and a failed write
//! (a full disk, a failed sync) leaves nothing under a chunk's name: the
//! client is told and puts it again. A chunk is immutable once named, so
//! concurrent readers never see a partial one, and putting it again
//! writes nothing.
//!
//! Calls are blocking; callers run them off the async threads. One lock
//! per store covers the moves between the three places (never the writing
//! of a chunk's bytes).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hearth_shared::id::{ChunkName, WorkspaceId};

use crate::fsutil::{create_dir_private, fsync_dir, private_file, random16};
use crate::secret::hex;
use crate::storage::chunks::{ChunkError, ChunkStore, RoomCheck};
use crate::storage::payload::Payload;

/// The directory of a workspace's chunks, inside its directory.
pub const CHUNKS_DIR: &str = "chunks";
/// Chunks set aside for deletion, inside [`CHUNKS_DIR`].
pub const UNREFERENCED_DIR: &str = "unreferenced";
pub(super) const TMP_DIR: &str = "tmp";

pub use crate::storage::chunks::Put;

/// A workspace's chunks as the store knows them.
#[derive(Debug, Default, Clone, Copy)]
struct Known {
    /// Bytes of every chunk, set aside or not.
    bytes: u64,
    /// Whether some are set aside (the sweep visits it).
    set_aside: bool,
}

/// The chunk store rooted at `<data dir>/workspaces`.
pub struct DiskChunks {
    root: PathBuf,
    /// Seconds a set-aside chunk waits before it is deleted.
    grace_secs: u64,
    known: Mutex<HashMap<WorkspaceId, Known>>,
}

pub(super) fn chunks_dir(root: &Path, ws: &WorkspaceId) -> PathBuf {
    root.join(ws.as_str()).join(CHUNKS_DIR)
}

fn live_path(dir: &Path, name: &ChunkName) -> PathBuf {
    let name = name.to_string();
    dir.join(name.get(..2).unwrap_or("00")).join(name)
}

fn aside_path(dir: &Path, name: &ChunkName) -> PathBuf {
    dir.join(UNREFERENCED_DIR).join(name.to_string())
}

fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Bytes of the chunk files under `dir` (recursively), skipping `tmp/`.
fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0u64;
    for entry in read {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() != TMP_DIR {
                total = total.saturating_add(dir_bytes(&entry.path())?);
            }
        } else if kind.is_file() {
            total = total.saturating_add(entry.metadata()?.len());
        }
    }
    Ok(total)
}

/// Bytes of every workspace's chunks under `workspaces` (start-up: what
/// counts toward the server-wide storage limit). Blocking.
pub fn stored_chunk_bytes(workspaces: &Path) -> io::Result<u64> {
    let read = match fs::read_dir(workspaces) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0u64;
    for dir in read {
        total = total.saturating_add(dir_bytes(&dir?.path().join(CHUNKS_DIR))?);
    }
    Ok(total)
}

impl DiskChunks {
    pub fn new(workspaces: &Path, grace_secs: u64) -> DiskChunks {
        DiskChunks {
            root: workspaces.to_path_buf(),
            grace_secs,
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn grace_secs(&self) -> u64 {
        self.grace_secs
    }

    /// The `workspaces` directory it is rooted at.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the store knows of `ws`, scanning its directory the first time
    /// (and clearing what a crash left in `tmp/`). Called with the lock held.
    fn known_of(
        &self,
        known: &mut HashMap<WorkspaceId, Known>,
        ws: &WorkspaceId,
    ) -> io::Result<Known> {
        if let Some(k) = known.get(ws) {
            return Ok(*k);
        }
        let dir = chunks_dir(&self.root, ws);
        let tmp = dir.join(TMP_DIR);
        if tmp.is_dir() {
            fs::remove_dir_all(&tmp)?;
        }
        let set_aside = fs::read_dir(dir.join(UNREFERENCED_DIR))
            .map(|mut rd| rd.next().is_some())
            .unwrap_or(false);
        let k = Known {
            bytes: dir_bytes(&dir)?,
            set_aside,
        };
        known.insert(ws.clone(), k);
        Ok(k)
    }

    /// Bytes of `ws`'s chunks (what counts toward its quota).
    pub fn bytes(&self, ws: &WorkspaceId) -> io::Result<u64> {
        let mut known = self.lock();
        Ok(self.known_of(&mut known, ws)?.bytes)
    }

    /// Brings a set-aside chunk back; whether it was there. Lock held.
    fn revive(&self, dir: &Path, name: &ChunkName) -> io::Result<bool> {
        let aside = aside_path(dir, name);
        if !exists(&aside)? {
            return Ok(false);
        }
        let live = live_path(dir, name);
        if let Some(parent) = live.parent() {
            create_dir_private(parent)?;
        }
        fs::rename(&aside, &live)?;
        if let Some(parent) = live.parent() {
            fsync_dir(parent)?;
        }
        fsync_dir(&dir.join(UNREFERENCED_DIR))?;
        Ok(true)
    }

    /// Whether `name` is stored (a set-aside chunk is brought back). Lock
    /// held.
    fn holds(&self, dir: &Path, name: &ChunkName) -> io::Result<bool> {
        Ok(exists(&live_path(dir, name))? || self.revive(dir, name)?)
    }

    /// Stores `data` under `name` unless it is there. `room(bytes of the
    /// workspace's chunks, bytes to add)` may refuse it (quota, disk).
    /// Returns what happened and the bytes added.
    #[cfg(test)]
    pub fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: &[u8],
        room: impl FnOnce(u64, u64) -> bool,
    ) -> io::Result<(Put, u64)> {
        let data = Payload::from(Bytes::copy_from_slice(data));
        self.put_payload(ws, name, &data, room)
    }

    /// [`DiskChunks::put`] of an upload's payload, written in pieces.
    pub fn put_payload(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: &Payload,
        room: impl FnOnce(u64, u64) -> bool,
    ) -> io::Result<(Put, u64)> {
        if &data.sha256()? != name.digest() {
            return Ok((Put::Mismatch, 0));
        }
        let dir = chunks_dir(&self.root, ws);
        let len = data.len();
        {
            let mut known = self.lock();
            let k = self.known_of(&mut known, ws)?;
            if self.holds(&dir, name)? {
                return Ok((Put::Existed, 0));
            }
            if !room(k.bytes, len) {
                return Ok((Put::Refused, 0));
            }
            // Counted now, so that puts running at once cannot together
            // overrun the quota; given back below if it is not stored.
            let counted = known.entry(ws.clone()).or_default();
            counted.bytes = counted.bytes.saturating_add(len);
        }
        let give_back = |known: &mut HashMap<WorkspaceId, Known>| {
            let k = known.entry(ws.clone()).or_default();
            k.bytes = k.bytes.saturating_sub(len);
        };
        // Write and sync outside the lock.
        let tmp_dir = dir.join(TMP_DIR);
        create_dir_private(&tmp_dir)?;
        let tmp = tmp_dir.join(hex(&random16()?));
        let written = (|| {
            let mut file: File = private_file().write(true).create_new(true).open(&tmp)?;
            data.pieces(&mut |piece| file.write_all(piece))?;
            file.sync_data()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            give_back(&mut self.lock());
            return Err(e);
        }
        let mut known = self.lock();
        let live = live_path(&dir, name);
        let placed = (|| {
            if self.holds(&dir, name)? {
                return Ok(false);
            }
            if let Some(parent) = live.parent() {
                create_dir_private(parent)?;
            }
            fs::rename(&tmp, &live)?;
            if let Some(parent) = live.parent() {
                fsync_dir(parent)?;
            }
            Ok::<_, io::Error>(true)
        })();
        match placed {
            Ok(true) => Ok((Put::Created, len)),
            Ok(false) => {
                let _ = fs::remove_file(&tmp);
                give_back(&mut known);
                Ok((Put::Existed, 0))
            }
            Err(e) => {
                // Renamed but not synced: the name may hold a whole chunk
                // (the bytes were synced first); a retry finds it.
                let _ = fs::remove_file(&tmp);
                if !exists(&live).unwrap_or(false) {
                    give_back(&mut known);
                }
                Err(e)
            }
        }
    }

    /// The bytes of chunk `name`, `None` if it is not stored (a set-aside
    /// one is brought back: someone still uses it).
    pub fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> io::Result<Option<Vec<u8>>> {
        let dir = chunks_dir(&self.root, ws);
        let live = live_path(&dir, name);
        match fs::read(&live) {
            Ok(bytes) => return Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut known = self.lock();
        self.known_of(&mut known, ws)?;
        if !self.revive(&dir, name)? {
            return Ok(None);
        }
        drop(known);
        fs::read(&live).map(Some)
    }

    /// Which of `names` are not stored, in the order given (set-aside ones
    /// are brought back and count as stored).
    pub fn missing(&self, ws: &WorkspaceId, names: &[ChunkName]) -> io::Result<Vec<ChunkName>> {
        let dir = chunks_dir(&self.root, ws);
        let mut known = self.lock();
        self.known_of(&mut known, ws)?;
        let mut missing = Vec::new();
        for name in names {
            if !self.holds(&dir, name)? {
                missing.push(*name);
            }
        }
        Ok(missing)
    }

    /// Sets `names` aside for deletion after the grace period; returns how
    /// many were newly set aside (unknown or already set-aside names are
    /// skipped).
    pub fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: &[ChunkName],
        now: SystemTime,
    ) -> io::Result<u64> {
        let dir = chunks_dir(&self.root, ws);
        let aside_dir = dir.join(UNREFERENCED_DIR);
        let mut known = self.lock();
        self.known_of(&mut known, ws)?;
        let mut marked = 0u64;
        let mut dirs = std::collections::BTreeSet::new();
        for name in names {
            let live = live_path(&dir, name);
            let file = match File::options().write(true).open(&live) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if marked == 0 {
                create_dir_private(&aside_dir)?;
            }
            // The time first: a crash between the two leaves a live chunk
            // with a new time, never a set-aside one with an old time.
            file.set_modified(now)?;
            drop(file);
            fs::rename(&live, aside_path(&dir, name))?;
            if let Some(parent) = live.parent() {
                dirs.insert(parent.to_path_buf());
            }
            marked += 1;
        }
        if marked > 0 {
            for d in &dirs {
                fsync_dir(d)?;
            }
            fsync_dir(&aside_dir)?;
            known.entry(ws.clone()).or_default().set_aside = true;
        }
        Ok(marked)
    }

    /// Deletes `ws`'s chunks set aside for longer than the grace period;
    /// returns the bytes freed.
    pub fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> io::Result<u64> {
        let dir = chunks_dir(&self.root, ws);
        let aside_dir = dir.join(UNREFERENCED_DIR);
        let mut known = self.lock();
        self.known_of(&mut known, ws)?;
        let read = match fs::read_dir(&aside_dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                known.entry(ws.clone()).or_default().set_aside = false;
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let cutoff = now
            .checked_sub(Duration::from_secs(self.grace_secs))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let (mut freed, mut left) = (0u64, false);
        for entry in read {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.modified()? <= cutoff {
                fs::remove_file(entry.path())?;
                freed = freed.saturating_add(meta.len());
            } else {
                left = true;
            }
        }
        if freed > 0 {
            fsync_dir(&aside_dir)?;
        }
        let k = known.entry(ws.clone()).or_default();
        k.bytes = k.bytes.saturating_sub(freed);
        k.set_aside = left;
        Ok(freed)
    }

    /// Deletes every chunk of `ws`; returns the bytes freed.
    pub fn delete(&self, ws: &WorkspaceId) -> io::Result<u64> {
        let dir = chunks_dir(&self.root, ws);
        let mut known = self.lock();
        let bytes = self.known_of(&mut known, ws)?.bytes;
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = dir.parent().filter(|p| p.is_dir()) {
            fsync_dir(parent)?;
        }
        known.remove(ws);
        Ok(bytes)
    }

    /// Workspaces known to have chunks set aside.
    pub fn pending(&self) -> Vec<WorkspaceId> {
        self.lock()
            .iter()
            .filter(|(_, k)| k.set_aside)
            .map(|(ws, _)| ws.clone())
            .collect()
    }

    /// Every workspace with a directory of set-aside chunks on disk (the
    /// first sweep after start-up).
    pub fn pending_on_disk(&self) -> Vec<WorkspaceId> {
        let Ok(read) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        read.flatten()
            .filter_map(|e| WorkspaceId::parse(&e.file_name().to_string_lossy()).ok())
            .filter(|ws| chunks_dir(&self.root, ws).join(UNREFERENCED_DIR).is_dir())
            .collect()
    }
}

/// The disk's chunk store behind the [`ChunkStore`] trait: each operation
/// runs on a blocking thread.
#[derive(Clone)]
pub struct DiskChunkStore(pub Arc<DiskChunks>);

fn chunk_error(err: io::Error) -> ChunkError {
    if matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) {
        ChunkError::Full(err.to_string())
    } else {
        ChunkError::Other(err.to_string())
    }
}

impl DiskChunkStore {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskChunks) -> io::Result<T> + Send + 'static,
    ) -> Result<T, ChunkError> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| ChunkError::Other(format!("a blocking task failed: {e}")))?
            .map_err(chunk_error)
    }
}

#[async_trait::async_trait]
impl ChunkStore for DiskChunkStore {
    async fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: Payload,
        room: RoomCheck,
    ) -> Result<(Put, u64), ChunkError> {
        let (ws, name) = (ws.clone(), *name);
        self.blocking(move |s| s.put_payload(&ws, &name, &data, room))
            .await
    }

    async fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> Result<Option<Bytes>, ChunkError> {
        let (ws, name) = (ws.clone(), *name);
        let bytes = self.blocking(move |s| s.get(&ws, &name)).await?;
        Ok(bytes.map(Bytes::from))
    }

    async fn missing(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
    ) -> Result<Vec<ChunkName>, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| s.missing(&ws, &names)).await
    }

    async fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
        now: SystemTime,
    ) -> Result<u64, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| s.set_aside(&ws, &names, now)).await
    }

    async fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> Result<u64, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| s.sweep(&ws, now)).await
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| s.delete(&ws)).await
    }

    async fn bytes_used(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| s.bytes(&ws)).await
    }

    async fn list(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Vec<(ChunkName, Option<SystemTime>)>, ChunkError> {
        let ws = ws.clone();
        self.blocking(move |s| super::import::list_chunks(s, &ws))
            .await
    }

    async fn pending(&self, everywhere: bool) -> Vec<WorkspaceId> {
        if !everywhere {
            return self.0.pending();
        }
        self.blocking(|s| Ok(s.pending_on_disk()))
            .await
            .unwrap_or_default()
    }

    fn grace_secs(&self) -> u64 {
        self.0.grace_secs()
    }
}

#[cfg(test)]
#[path = "chunks_tests.rs"]
mod tests;
