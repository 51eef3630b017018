//! The blob store: per workspace, an ordered log of opaque entries with
//! server-assigned sequence numbers, and at most one snapshot that covers
//! every entry up to its `upto` (the compaction floor).
//!
//! [`LogStore`] and [`WorkspaceLog`] are the storage traits, async, with
//! errors that say what happened, not where; [`disk`] is the single-node
//! implementation (append-only log files with CRCs, fsync before
//! acknowledging, atomic snapshot swaps). Handlers and the workspace
//! registry see only the traits.
//!
//! - [`disk`]: the single-node backend on the data directory (logs,
//!   snapshots, chunks, and the disk-only commands: backup, restore,
//!   doctor).
//! - [`memory`]: an in-memory store for tests.
//! - [`chunks`]: the chunk store's trait.
//! - [`room`]: the one owner of quotas and server-wide limits.
//! - [`payload`]: an upload's bytes, spooled to a file when large.
//! - [`offsite`]: backups copied to an S3-compatible store, checked there,
//!   and restored from there.

pub mod chunks;
pub mod cluster;
pub mod disk;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
#[cfg(any(test, feature = "test-support"))]
pub mod model_tests;
pub mod offsite;
pub mod payload;
pub mod room;

use std::sync::Arc;

use bytes::Bytes;
use hearth_shared::id::WorkspaceId;

/// Why a storage operation failed, in words that name no engine: `at`
/// says where (a file, an object, a table) for the log. Never shown to
/// clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage (or the quota on it) is full; nothing was written.
    #[error("{at}: the storage is full")]
    Full { at: String },
    /// The storage failed.
    #[error("{at}: {detail}")]
    Failed { at: String, detail: String },
    /// What was read is not what was written.
    #[error("{at} is corrupt: {detail}")]
    Corrupt { at: String, detail: String },
    #[error("an earlier write failed; the workspace log refuses writes until it is reopened")]
    Poisoned,
    /// The storage cannot be reached now (a database or object store
    /// that is down or restarting); nothing was written, and retrying
    /// later may succeed.
    #[error("{at}: unavailable: {detail}")]
    Unavailable { at: String, detail: String },
}

impl StoreError {
    /// An I/O error at `at`: `Full` when the file system (or a quota on
    /// it) is out of room, else `Failed`.
    pub fn io(at: impl std::fmt::Display, err: std::io::Error) -> StoreError {
        let at = at.to_string();
        if matches!(
            err.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) {
            StoreError::Full { at }
        } else {
            StoreError::Failed {
                at,
                detail: err.to_string(),
            }
        }
    }

    /// Whether the storage ran out of room: the client is told
    /// `storage_full`, not `internal`.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full { .. })
    }

    /// Whether the storage could not be reached: the client is told
    /// `unavailable` (503, retry shortly), not `internal`.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// The backends a contract test runs on: the comma-separated names in the
/// environment variable `var`, or `all` (every one this crate has).
#[cfg(test)]
pub fn backends_named(var: &str, all: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| all.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The client's idempotency key, if it sent one.
    pub key: Option<String>,
    /// SHA-256 of the payload, to tell a retry from a different body.
    pub hash: [u8; 32],
    pub payload: payload::Payload,
}

/// What happened to one appended entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored durably under this sequence number.
    New(u64),
    /// The key was seen before with the same body: this is its number.
    Duplicate(u64),
    /// The key was seen before with a different body.
    KeyConflict,
    /// Storing it would exceed the workspace's quota.
    OverQuota,
    /// It is larger than a log record can hold.
    TooLarge,
}

/// What happened to a snapshot upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshotted {
    /// Swapped in; this is the new floor.
    Done(u64),
    /// `upto` is beyond the head or below the current floor.
    Conflict { head: u64, floor: u64 },
    /// It would exceed the workspace's quota.
    OverQuota,
    /// It is larger than the store can hold.
    TooLarge,
}

/// Where a log stands after a compaction was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undone {
    pub floor: u64,
    pub head: u64,
}

/// Where a workspace's log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The highest sequence number given out (0 if none).
    pub head: u64,
    /// The `upto` of the snapshot (0 if none).
    pub floor: u64,
    /// Bytes stored for the workspace.
    pub bytes: u64,
}

/// A pull's answer: framed body (see `hearth_shared::frame`) and position.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub position: Position,
    pub body: Vec<u8>,
}

/// A pull's answer as a plan: byte strings and file ranges, in order, so
/// that the answer can be streamed to the client as it is read (memory per
/// pull stays a few chunks, whatever the answer's size). The file handles
/// are the ones the log held when the plan was made, so a concurrent
/// compaction never moves bytes under it.
pub struct PullPlan {
    pub position: Position,
    pub parts: Vec<Part>,
    /// Bytes of the whole answer.
    pub len: u64,
    /// For error messages.
    pub path: String,
}

/// One piece of a [`PullPlan`].
pub enum Part {
    Bytes(Bytes),
    File {
        file: Arc<std::fs::File>,
        offset: u64,
        len: u64,
    },
}

impl PullPlan {
    /// A plan of bytes already in memory.
    pub fn whole(pulled: Pulled) -> PullPlan {
        PullPlan {
            position: pulled.position,
            len: pulled.body.len() as u64,
            parts: vec![Part::Bytes(Bytes::from(pulled.body))],
            path: String::new(),
        }
    }

    /// Reads the whole answer into memory (tests, small answers).
    pub async fn read_all(self) -> Result<Pulled, StoreError> {
        let position = self.position;
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        let body = self.reader().next_chunk(len).await?.unwrap_or_default();
        Ok(Pulled { position, body })
    }

    /// Reads the whole answer into memory on this thread (tests). Blocking.
    #[cfg(test)]
    pub fn read_all_blocking(self) -> Result<Pulled, StoreError> {
        let pieces = self
            .parts
            .into_iter()
            .map(|part| match part {
                Part::Bytes(b) => Piece::Bytes(b),
                Part::File { file, offset, len } => {
                    Piece::File(file, offset, usize::try_from(len).unwrap_or(0))
                }
            })
            .collect();
        let size = usize::try_from(self.len).unwrap_or(0);
        Ok(Pulled {
            position: self.position,
            body: read_pieces(pieces, size, &self.path)?,
        })
    }

    /// Reads the answer in order, a chunk at a time.
    pub fn reader(self) -> PlanReader {
        PlanReader {
            parts: self.parts.into(),
            done_in_part: 0,
            path: self.path,
        }
    }
}

/// Reads a [`PullPlan`] in order, in chunks; file ranges are read on the
/// blocking pool.
pub struct PlanReader {
    parts: std::collections::VecDeque<Part>,
    /// Bytes of the first part already read.
    done_in_part: u64,
    /// For error messages.
    path: String,
}

impl PlanReader {
    /// The next chunk of at most `max` bytes (more only when a single byte
    /// string is longer), `None` at the end. The file ranges of a chunk
    /// are read in one trip to the blocking pool.
    pub async fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let max = max.max(1);
        // What goes into this chunk, without reading anything yet.
        let mut pieces: Vec<Piece> = Vec::new();
        let mut size = 0usize;
        let mut any_file = false;
        while size < max {
            let Some(part) = self.parts.front() else {
                break;
            };
            match part {
                Part::Bytes(b) => {
                    size += b.len();
                    pieces.push(Piece::Bytes(b.clone()));
                    self.parts.pop_front();
                }
                Part::File { file, offset, len } => {
                    let left = len.saturating_sub(self.done_in_part);
                    let room = (max - size) as u64;
                    let take = usize::try_from(left.min(room)).unwrap_or(max);
                    pieces.push(Piece::File(file.clone(), offset + self.done_in_part, take));
                    any_file = true;
                    size += take;
                    self.done_in_part += take as u64;
                    if self.done_in_part >= *len {
                        self.parts.pop_front();
                        self.done_in_part = 0;
                    }
                }
            }
        }
        if pieces.is_empty() {
            return Ok(None);
        }
        let path = self.path.clone();
        let assemble = move || read_pieces(pieces, size, &path);
        let chunk = if any_file {
            tokio::task::spawn_blocking(assemble)
                .await
                .map_err(|e| StoreError::Failed {
                    at: self.path.clone(),
                    detail: e.to_string(),
                })??
        } else {
            assemble()?
        };
        Ok(Some(chunk))
    }
}

/// Reads `pieces` in order into one buffer of `size` bytes. Blocking when
/// a piece is a file range.
fn read_pieces(pieces: Vec<Piece>, size: usize, path: &str) -> Result<Vec<u8>, StoreError> {
    use std::os::unix::fs::FileExt as _;
    let mut out = Vec::with_capacity(size);
    for piece in pieces {
        match piece {
            Piece::Bytes(b) => out.extend_from_slice(&b),
            Piece::File(file, at, len) => {
                let start = out.len();
                out.resize(start + len, 0);
                file.read_exact_at(out.get_mut(start..).unwrap_or_default(), at)
                    .map_err(|source| StoreError::io(path, source))?;
            }
        }
    }
    Ok(out)
}

/// A piece of a chunk: bytes at hand, or a file range to read.
enum Piece {
    Bytes(Bytes),
    File(Arc<std::fs::File>, u64, usize),
}

/// An idempotency key as a log keeps it: the entry it named and the
/// body's hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyRow {
    pub key: String,
    pub seq: u64,
    pub hash: [u8; 32],
}

/// A workspace log's content, whole: what a device can observe of it
/// (head, floor, snapshot, entries) and what makes retries land once (the
/// keys). `hearth migrate` moves logs between backends as dumps; what
/// compactions kept for undo does not move.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogDump {
    pub head: u64,
    pub floor: u64,
    /// The snapshot covering every entry up to `floor`, if any.
    pub snapshot: Option<Bytes>,
    /// The entries above the floor, ascending.
    pub entries: Vec<(u64, Bytes)>,
    /// Sorted.
    pub keys: Vec<KeyRow>,
}

impl LogDump {
    /// Reads a log whole.
    pub async fn of(log: &dyn WorkspaceLog) -> Result<LogDump, StoreError> {
        use hearth_shared::frame::{FrameKind, decode_frames};
        let pulled = log.pull(0, u64::MAX).await?.read_all().await?;
        let mut dump = LogDump {
            head: pulled.position.head,
            floor: pulled.position.floor,
            ..LogDump::default()
        };
        let frames = decode_frames(&pulled.body).map_err(|e| StoreError::Corrupt {
            at: "a pull of the whole log".into(),
            detail: e.to_string(),
        })?;
        for f in frames {
            let payload = Bytes::copy_from_slice(f.payload);
            match f.kind {
                FrameKind::Snapshot => dump.snapshot = Some(payload),
                FrameKind::Entry => dump.entries.push((f.seq, payload)),
            }
        }
        dump.keys = log.keys().await?;
        dump.keys.sort();
        Ok(dump)
    }

    /// A SHA-256 over everything in the dump, to check a copy against its
    /// source.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(self.head.to_le_bytes());
        h.update(self.floor.to_le_bytes());
        match &self.snapshot {
            Some(s) => {
                h.update([1]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s);
            }
            None => h.update([0]),
        }
        for (seq, payload) in &self.entries {
            h.update(seq.to_le_bytes());
            h.update((payload.len() as u64).to_le_bytes());
            h.update(payload);
        }
        for k in &self.keys {
            h.update((k.key.len() as u64).to_le_bytes());
            h.update(k.key.as_bytes());
            h.update(k.seq.to_le_bytes());
            h.update(k.hash);
        }
        h.finalize().into()
    }
}

/// Opens workspace logs.
#[async_trait::async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Opens a workspace's log, creating it if need be and recovering it
    /// after a crash (a torn tail is cut off).
    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError>;

    /// The largest entry or snapshot a log can hold, in bytes.
    fn max_entry_len(&self) -> u64;

    /// Bytes of a workspace's log and snapshot, without opening it (0 if
    /// it has none).
    async fn stored_bytes(&self, ws: &WorkspaceId) -> Result<u64, StoreError>;

    /// Deletes a workspace's log and snapshot, and what compactions kept.
    /// The caller has closed it and keeps it closed meanwhile.
    async fn delete(&self, ws: &WorkspaceId) -> Result<(), StoreError>;

    /// Writes a workspace's log from a dump, durably; the workspace must
    /// have no log yet (`hearth migrate`, with no server running).
    async fn load(&self, ws: &WorkspaceId, dump: LogDump) -> Result<(), StoreError>;
}

/// One workspace's log and snapshot. Every mutating call is durable when
/// it returns `Ok`, and safe against concurrent callers by the backend's
/// own means (the group-commit writer batches them, but nothing depends on
/// there being one). A mutating call that returns an error may have left
/// the log unable to take writes; its caller then stops using it, and a
/// fresh [`LogStore::open`] recovers.
#[async_trait::async_trait]
pub trait WorkspaceLog: Send + Sync + 'static {
    /// Where the log stands, as this handle last saw it.
    fn position(&self) -> Position;

    /// Appends entries, all made durable by one sync before this returns.
    /// Entries whose key was seen before are not stored again.
    async fn append(&self, entries: Vec<NewEntry>, quota: u64)
    -> Result<Vec<Appended>, StoreError>;

    /// What follows `after`: the snapshot first if `after` is below the
    /// floor, then the entries, as frames, as a plan to read in order.
    /// Stops before a frame that would take the body past `max_bytes` (but
    /// always carries at least one frame when there is one); the client
    /// pulls again from the last frame's seq until it reaches the head.
    async fn pull(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError>;

    /// Swaps in a snapshot covering every entry up to `upto`, then drops
    /// those entries. What it replaced is kept for a while, so that
    /// [`WorkspaceLog::undo_compaction`] can put it back.
    async fn put_snapshot(
        &self,
        upto: u64,
        data: payload::Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError>;

    /// Undoes the latest compaction still kept: its snapshot and entries are
    /// back, and every entry pushed since stays. `None` if none is kept.
    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError>;

    /// Deletes every snapshot and log that compactions replaced and kept
    /// for undo (after a workspace is encrypted, they are its last
    /// plaintext). Returns how many compactions can no longer be undone.
    async fn forget_compactions(&self) -> Result<usize, StoreError>;

    /// The idempotency keys the log remembers.
    async fn keys(&self) -> Result<Vec<KeyRow>, StoreError>;
}
