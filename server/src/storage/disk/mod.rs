//! The disk store: `<data dir>/workspaces/<ws>/` holds
//!
//! - `log`: the append-only record log ([`record`]);
//! - `snapshot`: the current snapshot ([`snapshot_file`]), replaced
//!   by write-temp, fsync, rename, fsync-directory, so a reader or a crash
//!   sees the old one or the new one.
//!
//! - `quarantine/`: bytes cut off a log at open because a record was
//!   damaged, kept for an operator (see [`open_log`] and `hearth doctor`);
//! - `undo/<time>-<floor>-<upto>/`: the snapshot and log a compaction
//!   replaced (hard links, so no copy), kept for a while so that the
//!   compaction can be undone ([`DiskLog::undo_compaction`]).
//!
//! An append writes all the batch's records at the end of `log` and syncs
//! once before anyone is told (group commit). A failed write or sync poisons
//! the log: it takes no further writes, and only a fresh [`DiskLog::open`]
//! (which recovers from what is on disk) writes again. After a snapshot the
//! log is rewritten without the entries it covers (keeping, for a while, their
//! idempotency keys), again by temp file and rename; the new file is opened
//! before the rename, and a failure after the rename poisons the log.
//!
//! Readers take the in-memory index under a read lock, then read payloads by
//! position from the file handle they were given, so a concurrent rewrite
//! never moves bytes under them.
//!
//! - [`recover`]: opening after a crash (torn tails, quarantine, salvage);
//! - [`log`]: appending and planning pulls;
//! - [`compact`]: snapshots, the log rewrite, undo;
//! - [`record`], [`snapshot_file`]: the byte formats;
//! - [`chunks`], [`room`]: attached files' chunks, room on the volume;
//! - [`backup`], [`doctor`]: the disk-only commands.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use hearth_shared::frame::{FRAME_HEADER_LEN, FrameKind, encode_header};
use hearth_shared::id::WorkspaceId;

pub mod backup;
pub mod chunks;
mod compact;
pub mod doctor;
mod import;
mod log;
pub mod record;
mod recover;
pub mod room;
pub mod snapshot_file;

use self::recover::{open_log, scan_file};

use self::record::{Kind, LOG_MAGIC, Stop};
pub use self::snapshot_file::SNAPSHOT_FILE;
use self::snapshot_file::{
    SNAPSHOT_HEADER_LEN, SNAPSHOT_TMP, Snap, WriteFailed, open_snapshot, write_snapshot,
};
use super::payload::Payload;
use super::{
    Appended, LogStore, NewEntry, Part, Position, PullPlan, Snapshotted, StoreError, Undone,
    WorkspaceLog,
};
use crate::clock::unix_now;
use crate::fsutil::{create_dir_private, fsync_dir, make_private, private_file};
use bytes::Bytes;

/// The directory of all workspaces, under the data directory.
pub const WORKSPACES_DIR: &str = "workspaces";
/// File names inside a workspace directory.
pub const LOG_FILE: &str = "log";
const LOG_TMP: &str = "log.tmp";
/// Where damaged tails of the log are copied before they are cut off.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Where replaced snapshots and logs are kept for undoing a compaction.
pub const UNDO_DIR: &str = "undo";
/// How long a replaced snapshot and log are kept by default (7 days).
pub const UNDO_KEEP_SECS: u64 = 7 * 24 * 60 * 60;
/// At most this many compactions of one workspace are kept for undo, so
/// that a device that compacts in a loop cannot fill the disk with them
/// (they take at most this many times the workspace's quota).
pub const UNDO_KEEP_COUNT: usize = 2;
/// The largest payload one log record holds (its body also carries the
/// fixed fields and an idempotency key of up to 128 bytes). Longer entries
/// are refused, never written.
pub const MAX_ENTRY_LEN: u64 = record::MAX_BODY_LEN as u64 - 43 - 128;
/// Idempotency keys of compacted entries are kept for this many sequence
/// numbers below the floor.
pub const KEEP_KEYS_BELOW_FLOOR: u64 = 10_000;

/// Bytes of every workspace's log and snapshot under `data_dir` (what
/// counts toward the server-wide storage limit). Blocking.
pub fn stored_bytes(data_dir: &Path) -> io::Result<u64> {
    let root = data_dir.join(WORKSPACES_DIR);
    let read = match fs::read_dir(&root) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0u64;
    for dir in read {
        let dir = dir?.path();
        for name in [LOG_FILE, SNAPSHOT_FILE] {
            match fs::metadata(dir.join(name)) {
                Ok(meta) => total = total.saturating_add(meta.len()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(total)
}

/// The disk store rooted at `<data dir>/workspaces`.
pub struct DiskStore {
    root: PathBuf,
    /// Seconds a compaction stays undoable.
    undo_keep_secs: u64,
}

impl DiskStore {
    pub fn new(data_dir: &Path) -> DiskStore {
        DiskStore {
            root: data_dir.join(WORKSPACES_DIR),
            undo_keep_secs: UNDO_KEEP_SECS,
        }
    }

    /// Keeps what a compaction replaced for `secs` seconds.
    pub fn with_undo_window(mut self, secs: u64) -> DiskStore {
        self.undo_keep_secs = secs;
        self
    }
}

#[async_trait::async_trait]
impl LogStore for DiskStore {
    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        // `WorkspaceId` admits only 32 lowercase hex characters: a safe name.
        let dir = self.root.join(ws.as_str());
        let keep = self.undo_keep_secs;
        let log = blocking(&dir.clone(), move || {
            let mut log = DiskLog::open(&dir)?;
            log.undo_keep_secs = keep;
            Ok(log)
        })
        .await?;
        Ok(Arc::new(DiskLogHandle(Arc::new(log))))
    }

    fn max_entry_len(&self) -> u64 {
        MAX_ENTRY_LEN
    }

    async fn stored_bytes(&self, ws: &WorkspaceId) -> Result<u64, StoreError> {
        let dir = self.root.join(ws.as_str());
        blocking(&dir.clone(), move || {
            let mut total = 0u64;
            for name in [LOG_FILE, SNAPSHOT_FILE] {
                let path = dir.join(name);
                match fs::metadata(&path) {
                    Ok(meta) => total = total.saturating_add(meta.len()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            Ok(total)
        })
        .await
    }

    async fn load(
        &self,
        ws: &WorkspaceId,
        dump: crate::storage::LogDump,
    ) -> Result<(), StoreError> {
        let dir = self.root.join(ws.as_str());
        blocking(&dir.clone(), move || import::load(&dir, &dump)).await
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        // The whole directory: log, snapshot, quarantine, undo (and the
        // chunks, which the chunk store has deleted first).
        let dir = self.root.join(ws.as_str());
        let root = self.root.clone();
        blocking(&dir.clone(), move || {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(&dir)(e)),
            }
            fsync_dir(&root).map_err(io_err(&root))
        })
        .await
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Failed {
            at: path.display().to_string(),
            detail: e.to_string(),
        })?
}

/// A [`DiskLog`] behind the [`WorkspaceLog`] trait: each call runs on the
/// blocking pool.
pub struct DiskLogHandle(pub Arc<DiskLog>);

#[async_trait::async_trait]
impl WorkspaceLog for DiskLogHandle {
    fn position(&self) -> Position {
        self.0.position()
    }

    async fn append(
        &self,
        entries: Vec<NewEntry>,
        quota: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.append(&entries, quota)).await
    }

    async fn pull(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        // A plan reads no file, but its read lock may wait for a
        // compaction's directory sync: off the async threads too.
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.pull_plan(after, max_bytes)).await
    }

    async fn put_snapshot(
        &self,
        upto: u64,
        data: Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.put_snapshot(upto, &data, quota)).await
    }

    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.undo_compaction()).await
    }

    async fn forget_compactions(&self) -> Result<usize, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.forget_compactions()).await
    }

    async fn keys(&self) -> Result<Vec<crate::storage::KeyRow>, StoreError> {
        let st = self.0.read_state();
        Ok(st
            .keys
            .iter()
            .map(|(key, rec)| crate::storage::KeyRow {
                key: key.clone(),
                seq: rec.seq,
                hash: rec.hash,
            })
            .collect())
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::io(path.display(), source)
}

/// Where an entry's payload lies.
#[derive(Debug, Clone, Copy)]
struct Loc {
    seq: u64,
    offset: u64,
    len: u32,
}

/// An idempotency key's entry.
#[derive(Debug, Clone, Copy)]
struct KeyRec {
    seq: u64,
    hash: [u8; 32],
}

/// The in-memory index of a log.
struct State {
    log: Arc<File>,
    log_len: u64,
    /// Entries above the floor, ascending.
    entries: Vec<Loc>,
    keys: HashMap<String, KeyRec>,
    head: u64,
    snapshot: Option<Snap>,
    poisoned: bool,
}

impl State {
    fn floor(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }

    fn bytes(&self) -> u64 {
        self.log_len + self.snapshot.as_ref().map_or(0, |s| s.file_len)
    }
}

/// One workspace's log on disk.
pub struct DiskLog {
    dir: PathBuf,
    state: RwLock<State>,
    /// Serialises writers (appends and snapshots) while readers go on.
    writer: Mutex<()>,
    /// Seconds a compaction stays undoable.
    undo_keep_secs: u64,
}

impl DiskLog {
    /// Opens or creates the log in `dir`, recovering it.
    pub fn open(dir: &Path) -> Result<DiskLog, StoreError> {
        create_dir_private(dir).map_err(io_err(dir))?;
        for tmp in [LOG_TMP, SNAPSHOT_TMP] {
            let _ = fs::remove_file(dir.join(tmp));
        }
        let snapshot = open_snapshot(&dir.join(SNAPSHOT_FILE))?;
        let floor = snapshot.as_ref().map_or(0, |s| s.upto);
        let (log, log_len, records, claimed) = open_log(dir)?;

        let mut entries = Vec::new();
        let mut keys = HashMap::new();
        // A damaged or torn record's number may have been acknowledged:
        // new entries are numbered above it.
        let mut head = floor.max(claimed);
        for r in records {
            head = head.max(r.seq);
            if let Some(key) = r.key {
                keys.insert(
                    key,
                    KeyRec {
                        seq: r.seq,
                        hash: r.hash,
                    },
                );
            }
            if r.kind == Kind::Entry && r.seq > floor {
                entries.push(Loc {
                    seq: r.seq,
                    offset: r.payload_offset,
                    len: r.payload_len,
                });
            }
        }
        let state = State {
            log: Arc::new(log),
            log_len,
            entries,
            keys,
            head,
            snapshot,
            poisoned: false,
        };
        Ok(DiskLog {
            dir: dir.to_path_buf(),
            state: RwLock::new(state),
            writer: Mutex::new(()),
            undo_keep_secs: UNDO_KEEP_SECS,
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an earlier failure stopped this log from taking writes.
    fn is_poisoned(&self) -> bool {
        self.read_state().poisoned
    }

    fn poison(&self) {
        self.write_state().poisoned = true;
    }
}

/// Creates (or empties) an owner-only file for reading and writing: a new
/// log is written through the handle that then serves it.
fn new_file(path: &Path) -> Result<File, StoreError> {
    private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err(path))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests;
