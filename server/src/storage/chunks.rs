//! [`ChunkStore`]: where the chunks of attached files are kept, named by
//! the SHA-256 of their bytes. A chunk no note uses any more is set aside
//! and deleted by a sweep after a grace period, unless a device puts, asks
//! for or fetches it meanwhile. The store never opens a chunk.

use std::time::SystemTime;

use bytes::Bytes;
use hearth_shared::id::{ChunkName, WorkspaceId};

/// Why a chunk operation failed, in words that say nothing of the engine.
/// A failed operation stored nothing half-way.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The storage is full; retrying later may succeed.
    #[error("the chunk storage is full: {0}")]
    Full(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written and durable.
    Created,
    /// It was stored already (or set aside, and is kept again).
    Existed,
    /// The bytes do not hash to the name; nothing was written.
    Mismatch,
    /// Refused by the caller's room check; nothing was written.
    Refused,
}

/// Asked before a new chunk is written, with the bytes of the workspace's
/// chunks and the bytes to add; `false` refuses it. It runs while the
/// store holds the workspace's chunks still, so two puts cannot both pass
/// the check with room for one.
pub type RoomCheck = Box<dyn FnOnce(u64, u64) -> bool + Send>;

/// The chunk store's operations.
#[async_trait::async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores `data` under `name` (checked against its hash) unless it is
    /// there; durable at return. Returns what happened and the bytes added.
    async fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: Bytes,
        room: RoomCheck,
    ) -> Result<(Put, u64), ChunkError>;

    /// The bytes of chunk `name`, if stored (a set-aside one is kept again).
    async fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> Result<Option<Bytes>, ChunkError>;

    /// Which of `names` are not stored (set-aside ones are kept again and
    /// count as stored).
    async fn missing(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
    ) -> Result<Vec<ChunkName>, ChunkError>;

    /// Sets `names` aside for deletion after the grace period; how many
    /// were newly set aside.
    async fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
        now: SystemTime,
    ) -> Result<u64, ChunkError>;

    /// Deletes the chunks of `ws` set aside for longer than the grace
    /// period; the bytes freed.
    async fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> Result<u64, ChunkError>;

    /// Bytes of the chunks of `ws`, set aside or not.
    async fn bytes_used(&self, ws: &WorkspaceId) -> Result<u64, ChunkError>;

    /// The workspaces with set-aside chunks (`everywhere`: as the storage
    /// says, not only as this server saw; for the first sweep after start).
    async fn pending(&self, everywhere: bool) -> Vec<WorkspaceId>;

    /// Seconds a set-aside chunk waits before a sweep deletes it.
    fn grace_secs(&self) -> u64;
}
