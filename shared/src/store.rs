//! The [`Store`] trait: where a device keeps its workspace between runs.
//!
//! A store holds, per workspace, the engine's [`SyncMeta`], the batch being
//! pushed ([`Outbox`], kept apart from the meta so that saving the meta never
//! rewrites the batch's bytes), at most one Loro snapshot, and a log of Loro
//! update blobs written since that snapshot. Each method is one atomic step:
//! after a crash the store shows either all of a call's effect or none of
//! it. The engine treats a local edit as saved only once [`Store::append`]
//! has returned.
//!
//! Implementations: `engine::MemoryStore` (feature `engine`); a file store
//! in the native device; an IndexedDB store in the browser, whose layout the
//! service worker shares to send a pending batch. The trait uses
//! `async fn` without a `Send` bound so that browser stores (whose futures
//! are not `Send`) implement it as they are.

use serde::{Deserialize, Serialize};

/// The sync bookkeeping of one workspace on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMeta {
    /// This device's Loro peer id for this workspace, fixed at creation.
    pub peer_id: u64,
    /// The last server sequence number whose entries are imported and
    /// stored here; the next pull asks for what comes after it.
    pub cursor: u64,
    /// This device's operations with a counter below this are on the server.
    pub acked_counter: i32,
    /// The last time the server acknowledged one of this device's batches.
    pub last_ack: Option<Ack>,
    /// The compaction floor of the server, as last seen.
    pub floor: u64,
    /// Bytes of server entries above the floor, as far as this device knows.
    pub server_log_bytes: u64,
    /// Bytes of the server's snapshot, as far as this device knows.
    pub server_snapshot_bytes: u64,
    /// The operations below `acked_counter` reached the server sealed
    /// under the workspace's key (or in a sealed snapshot). A device that
    /// pushed before it held the key (it was paired again after the
    /// workspace was encrypted) sends them all again, sealed, once.
    #[serde(default)]
    pub sealed: bool,
    /// This owner's device recorded a key epoch that it has not yet
    /// wrapped for every device (and the recovery key); it does so at its
    /// next round, so a rotation stopped half-way is finished.
    #[serde(default)]
    pub rotating: bool,
    /// Devices this owner's device removed whose removal the workspace's
    /// document does not record yet: each is recorded once the device has
    /// pulled everything (so that devices which recorded their keys before
    /// it are not mistaken for the removed one), before the new key epoch
    /// is given out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing: Vec<PendingRemoval>,
}

/// A removal waiting to be recorded (see [`SyncMeta::removing`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRemoval {
    pub token: crate::id::TokenId,
    /// The newest key epoch the removed device could hold.
    pub epoch: u32,
}

impl SyncMeta {
    /// The bookkeeping of a workspace that has never synced.
    pub fn new(peer_id: u64) -> Self {
        Self {
            peer_id,
            cursor: 0,
            acked_counter: 0,
            last_ack: None,
            floor: 0,
            server_log_bytes: 0,
            server_snapshot_bytes: 0,
            sealed: false,
            rotating: false,
            removing: Vec::new(),
        }
    }
}

/// A batch of this device's operations on its way to the server, kept so
/// that a retry sends the same bytes under the same idempotency key, even
/// after a restart.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    /// The `Idempotency-Key` of the push.
    pub key: String,
    /// The first counter of this device's operations in the batch.
    pub from: i32,
    /// One past the last counter in the batch.
    pub to: i32,
    /// The envelope that is pushed.
    pub envelope: Vec<u8>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("key", &self.key)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("envelope_len", &self.envelope.len())
            .finish()
    }
}

/// A server acknowledgement: the sequence number it gave a batch, and when
/// (milliseconds since the Unix epoch, as the host said).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
    pub at_ms: u64,
}

/// Everything a store holds for a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// `None` for a workspace this store has never seen.
    pub meta: Option<SyncMeta>,
    /// The batch being pushed, if any.
    pub outbox: Option<Outbox>,
    /// The Loro snapshot the log starts from.
    pub snapshot: Option<Vec<u8>>,
    /// Loro update blobs since the snapshot, oldest first.
    pub log: Vec<Vec<u8>>,
}

/// Why the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The storage could not be read or written (disk full, permission,
    /// browser quota...).
    #[error("local storage failed: {0}")]
    Io(String),
    /// What was stored cannot be read back.
    #[error("local storage is corrupt: {0}")]
    Corrupt(String),
}

/// Local persistence of one workspace.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Reads everything stored for the workspace.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// Appends update blobs to the log and replaces the meta, atomically.
    /// `updates` may be empty (a meta-only write).
    async fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError>;

    /// Replaces the snapshot, empties the log and replaces the meta,
    /// atomically.
    async fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError>;

    /// Replaces the pending batch (`None` clears it) and the meta,
    /// atomically: an acknowledged batch is cleared in the same step that
    /// moves `acked_counter` past it.
    ///
    /// Clearing must be durable when the call returns; setting a batch
    /// need not be (the native store does not wait for the disk, which
    /// takes a flush off every push): a batch lost with the machine is
    /// formed again from `acked_counter` and sent under a new key, so the
    /// server may hold it twice, which imports as once.
    async fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError>;
}
