//! The messages between the page and the sync worker, defined once.
//!
//! The worker owns the engine (IndexedDB store, fetch transport, the
//! device's copy of the document); the page owns the document the person
//! edits. Only the page makes changes under the device's peer id; the
//! worker only imports them, so the two copies never write concurrently.

use serde::{Deserialize, Serialize};

use hearth_shared::files::ChunkRef;
use hearth_storage::files::Upload;

use crate::device::DeviceRecord;
use crate::fetch::Connection;

/// Page → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToWorker {
    /// The app lock's key (32 bytes), opened by the passcode on the page:
    /// the device records' secrets are sealed under it. Sent before
    /// `Open` when the lock is on, and when it is turned on.
    Unlock { key: Vec<u8> },
    /// Open the device's workspace (creating it on first run).
    Open,
    /// What the page already read from IndexedDB itself: `workspace` at
    /// the version vector `vv` (encoded), or nothing. `Opened` answers with
    /// only what the page lacks.
    Have {
        workspace: Option<String>,
        vv: Vec<u8>,
    },
    /// The page's new changes (a Loro update); answered by `Saved` once
    /// they are durable in IndexedDB.
    Edit { update: Vec<u8> },
    /// The workspace was connected to a server (or its token replaced).
    Connect {
        connection: Connection,
        can_write: bool,
    },
    /// Sync now instead of waiting for the next retry.
    SyncNow,
    /// Delete the workspace from this device and stop; answered by `Left`
    /// (or `LeaveFailed`, and the worker goes on).
    Leave,
    /// Encrypt the workspace, which was not, with `ring` (already kept in
    /// the device record): catch up with the server, switch to the key,
    /// replace the server's log with a sealed snapshot and delete its undo
    /// copies; if the workspace has its key already, only the last two.
    /// Answered by `Encrypted`.
    Encrypt { ring: hearth_shared::keys::Keyring },
    /// Rotate the workspace key, after a device was removed: make a new
    /// key epoch, keep it in the device record, give it to every other
    /// device and write with it from now on. `removed`: the device whose
    /// token was just revoked, whose removal the workspace's document
    /// records first. Answered by `Rotated`.
    Rotate {
        removed: Option<hearth_shared::id::TokenId>,
    },
    /// The page changed the keyring (it made a recovery key): take in
    /// what `ring` holds and the engine's lacks.
    MergeRing { ring: hearth_shared::keys::Keyring },
    /// Add `note` to `workspace`, another workspace of this device, which
    /// this worker syncs in the background (its one writer, so nothing
    /// else touches its store). Answered by `MovedIn` with `request`.
    MoveIn {
        workspace: String,
        request: String,
        note: MovedNote,
    },
    /// The queue of files to send changed (a file was queued, or one is to
    /// be tried again): send what is queued. Answered by `Uploads`.
    Uploads,
    /// The page wrote queued file `upload`'s reference into its note (the
    /// `Edit` before this one): take it off the queue once that is durable.
    Attached { upload: String },
    /// Bring these chunks into this device's cache (from the server unless
    /// cached); answered by `Fetching` under `key`.
    Fetch {
        key: String,
        name: String,
        chunks: Vec<ChunkRef>,
    },
    /// The chunks of every file of the notes kept offline: keep them
    /// cached (fetching those missing), and let the others be evicted.
    /// Answered by `Kept` with the same `round`.
    Keep { chunks: Vec<ChunkRef>, round: u64 },
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromWorker {
    /// The workspace is open: the page's document is what it read itself
    /// (if `Have` named this workspace) plus `update`, or else a new
    /// document from `update` (then a snapshot); it edits as `peer_id`.
    Opened {
        peer_id: u64,
        update: Vec<u8>,
        record: Box<DeviceRecord>,
        /// The sync pill as the workspace opens.
        status: SyncView,
        /// When the worker finished each stage of opening (`hearth-worker-*`
        /// marks, on the clock of `platform::shared_clock_ms`).
        stages: Vec<(String, f64)>,
    },
    /// The workspace could not be opened.
    Failed { reason: String },
    /// This many `Edit`s are durable.
    Saved { edits: u32 },
    /// Saving failed: these edits are not durable.
    SaveFailed { edits: u32, reason: String },
    /// Changes from other devices, imported and stored.
    Remote { update: Vec<u8> },
    /// What the sync pill shows.
    Status(SyncView),
    /// The workspace is gone from this device; the worker has stopped.
    /// `next` is the workspace the device opens now, if it holds another.
    Left { next: Option<String> },
    /// Deleting the workspace failed; nothing was deleted.
    LeaveFailed { reason: String },
    /// Encrypting finished (`None`), or stopped with this reason.
    Encrypted { error: Option<String> },
    /// The rotation finished (`None`), or stopped with this reason (it is
    /// finished at the next sync).
    Rotated { error: Option<String> },
    /// The keyring gained an epoch and is kept in the device record.
    Keys { ring: hearth_shared::keys::Keyring },
    /// The queue of files to send, as it stands.
    Uploads(Vec<UploadView>),
    /// How a `Fetch` goes.
    Fetching(FetchView),
    /// How keeping the notes kept offline goes.
    Kept(KeptView),
    /// Another workspace of this device, synced in the background: how
    /// its sync stands, and how many notes it holds.
    Background(BackgroundView),
    /// A `MoveIn` is done (durable in that workspace), or failed.
    MovedIn {
        request: String,
        error: Option<String>,
    },
}

/// A note being moved into another workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovedNote {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub pinned: bool,
}

/// How a workspace synced in the background stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackgroundView {
    pub workspace: String,
    pub sync: SyncView,
    /// Its live notes, counted at this report.
    pub notes: usize,
}

/// A queued file and how sending it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadView {
    pub meta: Upload,
    pub state: UploadState,
    /// Bytes sent or found on the server.
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UploadState {
    /// Waiting for the files before it.
    Queued,
    Sending,
    /// Waiting for the server, for this reason (offline, not connected):
    /// it is sent when the server can be reached.
    Waiting(String),
    /// Stopped for good, for this reason, until the person tries again.
    Failed(String),
    /// Every chunk is stored; its reference is being written.
    Stored,
}

/// How bringing a file (or its thumbnail) to this device goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchView {
    pub key: String,
    pub done: u64,
    pub total: u64,
    /// Every chunk is in the cache now.
    pub finished: bool,
    pub error: Option<String>,
}

/// How keeping files offline goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeptView {
    /// Which `Keep` this answers (the page ignores older ones).
    pub round: u64,
    /// Bytes the notes kept offline need, and how many of them are here.
    pub wanted: u64,
    pub held: u64,
    /// Why the rest is not here yet.
    pub error: Option<String>,
}

/// What the sync pill shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncView {
    /// `local`, `saved`, `syncing`, `synced`, `offline`, `error`,
    /// `follower` (and `saving`, decided by the page).
    pub state: String,
    pub text: String,
    /// Operations not acknowledged by the server.
    pub pending: u64,
    /// What they change, in words ("2 notes and 1 task list"); empty when
    /// nothing is pending.
    pub pending_what: String,
    pub detail: Option<String>,
    /// The device is connected but has not yet received the server's copy
    /// of the workspace: an empty list means "not here yet", not "none".
    #[serde(default)]
    pub first_sync: bool,
}
