//! [`Engine`]: one workspace's document, its store and its transport.
//!
//! The host (a browser worker, the native device, a test) drives it:
//!
//! 1. [`Engine::open`] loads the document from the store.
//! 2. The UI edits [`Engine::doc`] (a shared handle), then calls
//!    [`Engine::save_local`]; once that returns, the edit is durable.
//! 3. [`Engine::sync`] runs one round (save, push, pull, compact).
//! 4. Between rounds the host does what
//!    [`next_action`](super::driver::next_action) decides: another round,
//!    await [`Engine::wait_for_head`] (the live events) or a local edit,
//!    back off after a failure, or stop.
//!
//! The engine never reads a clock (times are passed in), never sleeps and
//! never draws random numbers (the host passes them).

use loro::{ExportMode, IdSpan, LoroDoc};

use super::backoff::{Backoff, retry_delay};
use super::decide::Thresholds;
use super::error::EngineError;
use super::status::{LastRound, SyncStatus, derive_state};
use super::store::{Outbox, Store, SyncMeta};
use super::transport::Transport;
use crate::envelope::DEFAULT_MAX_RAW_LEN;

/// How the engine behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// zstd level of the envelopes it makes.
    pub compression_level: i32,
    /// Largest payload it opens.
    pub max_payload_bytes: usize,
    /// When to compact.
    pub thresholds: Thresholds,
    /// How retries are spaced.
    pub backoff: Backoff,
    /// The token may push and compact (false for a read-only token).
    pub can_write: bool,
    /// Most operations in one pushed entry (a character of text is one),
    /// so that a large first push stays under the server's body limit.
    pub max_batch_ops: i32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            compression_level: 3,
            max_payload_bytes: DEFAULT_MAX_RAW_LEN,
            thresholds: Thresholds::default(),
            backoff: Backoff::default(),
            can_write: true,
            max_batch_ops: 1_000_000,
        }
    }
}

/// A callback that sees every status change (for a UI).
pub type StatusObserver = Box<dyn FnMut(&SyncStatus)>;

/// A workspace's keys, for a device that encrypts what it sends: every key
/// epoch it holds, the one it writes with, this device's X25519 secret
/// (`ring.device`), the workspace they belong to, and the host's
/// cryptographic random source: 12-byte IVs, drawn per record, and 32-byte
/// ephemeral secrets, drawn per device a rotated key is wrapped for.
pub struct Keys {
    pub ring: crate::sealed::Keyring,
    pub workspace: crate::id::WorkspaceId,
    pub iv: Box<dyn FnMut() -> [u8; crate::sealed::IV_LEN]>,
    pub random: Box<dyn FnMut() -> [u8; 32]>,
}

/// The sync engine of one workspace on one device.
pub struct Engine<S, T> {
    /// The document; the UI holds clones of this handle.
    pub(super) doc: LoroDoc,
    pub(super) store: S,
    pub(super) transport: T,
    /// Persisted bookkeeping; every change goes to the store first.
    pub(super) meta: SyncMeta,
    /// The batch being pushed, as stored.
    pub(super) outbox: Option<Outbox>,
    pub(super) config: EngineConfig,
    /// This device's operations below this counter are in the store.
    pub(super) saved_counter: i32,
    /// Bytes of the store's log and snapshot (for compaction decisions).
    pub(super) local_log_bytes: u64,
    pub(super) local_snapshot_bytes: u64,
    /// The highest head the server announced.
    pub(super) known_head: u64,
    /// Consecutive failed rounds (for backoff).
    pub(super) failures: u32,
    pub(super) retry_after_ms: Option<u64>,
    pub(super) last_round: LastRound,
    pub(super) last_error: Option<String>,
    /// Entries skipped because they could not be opened or imported.
    pub(super) skipped: u64,
    /// Which entry was last skipped, and why.
    pub(super) last_skipped: Option<String>,
    /// Records refused because a removed device (or someone holding only
    /// the key epochs it held) wrote them after its removal.
    pub(super) refused: u64,
    /// What the owner's device found wrong with the devices' keys at its
    /// last rotation ("the server offered a different key for …").
    pub(super) key_warnings: Vec<String>,
    /// The newest version of each peer's edits that a pulled record
    /// carried (for telling withheld edits; see `roster::withheld`).
    pub(super) announced: loro::VersionVector,
    pub(super) in_round: bool,
    /// Most operations in the next batch: `max_batch_ops`, halved each
    /// time the server refuses a batch as too large.
    pub(super) batch_limit: i32,
    pub(super) observer: Option<StatusObserver>,
    /// The workspace's keys, once it is encrypted: every entry and snapshot
    /// this device sends is sealed, and only sealed records are imported.
    pub(super) keys: Option<Keys>,
    /// Whether the server's key epochs were checked against this device's
    /// keys (once per engine, before its first exchange with the server).
    pub(super) keys_checked: bool,
    /// The keyring gained an epoch since the host last took it (a rotation
    /// here, or a key wrapped for this device by the owner's).
    pub(super) ring_changed: bool,
}

impl<S: Store, T: Transport> Engine<S, T> {
    /// Loads the workspace from `store`. `fresh_peer_id` (random, drawn by
    /// the host) becomes this device's peer id if the store is new; a
    /// stored peer id is always kept.
    pub async fn open(
        store: S,
        transport: T,
        fresh_peer_id: u64,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        let loaded = store.load().await?;
        let meta = match loaded.meta {
            Some(meta) => meta,
            None => {
                let meta = SyncMeta::new(fresh_peer_id);
                store.append(&[], &meta).await?;
                meta
            }
        };
        let doc = LoroDoc::new();
        doc.set_peer_id(meta.peer_id)
            .map_err(|e| EngineError::Document(e.to_string()))?;
        let mut skipped = 0;
        let mut local_snapshot_bytes = 0;
        if let Some(snapshot) = &loaded.snapshot {
            local_snapshot_bytes = snapshot.len() as u64;
            doc.import(snapshot)
                .map_err(|e| EngineError::Document(e.to_string()))?;
        }
        let local_log_bytes = loaded.log.iter().map(|b| b.len() as u64).sum();
        skipped += import_all(&doc, &loaded.log);
        let known_head = meta.cursor;
        let mut engine = Self {
            doc,
            store,
            transport,
            meta,
            outbox: loaded.outbox,
            config,
            saved_counter: 0,
            local_log_bytes,
            local_snapshot_bytes,
            known_head,
            failures: 0,
            retry_after_ms: None,
            last_round: LastRound::None,
            last_error: None,
            skipped,
            last_skipped: None,
            refused: 0,
            key_warnings: Vec::new(),
            announced: loro::VersionVector::new(),
            in_round: false,
            observer: None,
            keys: None,
            keys_checked: false,
            ring_changed: false,
            batch_limit: config.max_batch_ops.max(1),
        };
        engine.saved_counter = engine.own_counter();
        Ok(engine)
    }

    /// Encrypts from now on: records are sealed with `keys`' current epoch,
    /// and pulled records must be sealed under one of its epochs.
    pub fn set_keys(&mut self, keys: Keys) {
        self.keys = Some(keys);
        self.keys_checked = false;
    }

    /// Whether this device holds keys of the workspace (it encrypts).
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The keyring, if it gained an epoch since the last call: the host
    /// keeps it (the device record, `keys.json`), so that the device still
    /// holds the key after a restart.
    pub fn take_changed_ring(&mut self) -> Option<crate::sealed::Keyring> {
        if !std::mem::take(&mut self.ring_changed) {
            return None;
        }
        self.keys.as_ref().map(|k| k.ring.clone())
    }

    /// Takes in what `ring` holds and the engine's lacks (see
    /// [`crate::keys::Keyring::merge`]: the host made a recovery key).
    pub fn merge_ring(&mut self, ring: &crate::sealed::Keyring) {
        if let Some(keys) = &mut self.keys {
            keys.ring.merge(ring);
        }
    }

    /// The token was replaced (the device was paired again): its keys are
    /// checked, and its public key registered, again before the next
    /// exchange.
    pub fn reconnected(&mut self) {
        self.keys_checked = false;
    }

    /// Seals a payload for the server: encrypted and signed (version 3)
    /// when the workspace has keys and this device a device secret,
    /// encrypted only (version 2) when it has keys but no device secret
    /// (a keyring from before device keys), in a plain envelope when it
    /// has no keys. Always with the newest key epoch it holds.
    pub(super) fn seal_record(
        &mut self,
        kind: crate::sealed::Kind,
        payload: &[u8],
    ) -> Result<Vec<u8>, EngineError> {
        let level = self.config.compression_level;
        match &mut self.keys {
            None => Ok(crate::envelope::seal(payload, level)?),
            Some(keys) => {
                let iv = (keys.iv)();
                let newest = keys.ring.newest();
                let key = crate::sealed::key_of(&keys.ring.epochs, newest).ok_or_else(|| {
                    EngineError::Document(format!(
                        "this device has no key for epoch {newest}, the one it must write with"
                    ))
                })?;
                match &keys.ring.device {
                    Some(secret) => Ok(crate::signed::seal(
                        key,
                        kind,
                        payload,
                        level,
                        iv,
                        &keys.workspace,
                        &crate::identity::DeviceSigner::of(secret),
                    )?),
                    None => Ok(crate::sealed::seal(key, kind, payload, level, iv)?),
                }
            }
        }
    }

    /// Opens a record from the server that came as `frame`: with the
    /// workspace's keys when it has them (refusing unencrypted records,
    /// which anyone with the server's disk could have written, records of
    /// another workspace, and a kind other than the frame's: an update
    /// cannot stand in for a snapshot or the other way round), else as a
    /// plain envelope.
    pub(super) fn open_record(
        &self,
        bytes: &[u8],
        frame: crate::frame::FrameKind,
    ) -> Result<crate::signed::Opened, String> {
        use crate::sealed::Kind;
        let max = self.config.max_payload_bytes;
        let expected = match frame {
            crate::frame::FrameKind::Entry => Kind::Update,
            crate::frame::FrameKind::Snapshot => Kind::Snapshot,
        };
        match &self.keys {
            Some(keys) => match crate::signed::open(&keys.ring.epochs, bytes, &keys.workspace, max)
            {
                Ok(opened) if opened.kind == expected => Ok(opened),
                Ok(opened) => Err(format!(
                    "it is a {:?} record where the server's log has a {expected:?}; it was not imported",
                    opened.kind
                )),
                Err(crate::sealed::OpenError::NotEncrypted(_)) => Err(
                    "it is not encrypted, and this workspace's entries must be; it was not imported"
                        .to_owned(),
                ),
                Err(e) => Err(e.to_string()),
            },
            None if crate::signed::peek(bytes).is_ok() => Err(
                "it is encrypted, and this device has no key for the workspace yet; pair it again by link, or enter the recovery key"
                    .to_owned(),
            ),
            None => crate::envelope::open(bytes, max)
                .map(|payload| crate::signed::Opened {
                    version: crate::envelope::VERSION,
                    kind: expected,
                    epoch: 0,
                    signer: None,
                    payload,
                })
                .map_err(|e| e.to_string()),
        }
    }

    /// The document. Clones share it; edit it, then [`Self::save_local`].
    pub fn doc(&self) -> &LoroDoc {
        &self.doc
    }

    /// This device's peer id.
    pub fn peer_id(&self) -> u64 {
        self.meta.peer_id
    }

    /// The persisted bookkeeping.
    pub fn meta(&self) -> &SyncMeta {
        &self.meta
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Switches between a read-write and a read-only token.
    pub fn set_can_write(&mut self, can_write: bool) {
        self.config.can_write = can_write;
    }

    /// Changes when the engine compacts.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.config.thresholds = thresholds;
    }

    /// Registers a callback that sees every status change.
    pub fn set_observer(&mut self, observer: StatusObserver) {
        self.observer = Some(observer);
    }

    /// The counter one past this device's last operation in the document.
    pub(super) fn own_counter(&self) -> i32 {
        self.doc
            .oplog_vv()
            .get(&self.meta.peer_id)
            .copied()
            .unwrap_or(0)
    }

    /// Makes the document's unsaved local edits durable in the store.
    /// Returns whether there was anything to save. Until this returns
    /// `Ok`, an edit is not saved.
    pub async fn save_local(&mut self) -> Result<bool, EngineError> {
        self.doc.commit();
        let current = self.own_counter();
        if current <= self.saved_counter {
            return Ok(false);
        }
        let span = IdSpan::new(self.meta.peer_id, self.saved_counter, current);
        let update = self
            .doc
            .export(ExportMode::updates_in_range(vec![span]))
            .map_err(|e| EngineError::Document(e.to_string()))?;
        let len = update.len() as u64;
        self.store.append(&[update], &self.meta).await?;
        self.saved_counter = current;
        self.local_log_bytes += len;
        self.notify();
        Ok(true)
    }

    /// Records a head announced by the live events stream.
    pub fn note_head(&mut self, head: u64) {
        if head > self.known_head {
            self.known_head = head;
            self.notify();
        }
    }

    /// Whether the server has announced entries this device lacks.
    pub fn behind(&self) -> bool {
        self.meta.cursor < self.known_head
    }

    /// Waits for the server to announce a head above what this device has.
    pub async fn wait_for_head(&self) -> Result<u64, EngineError> {
        let known = self.meta.cursor.max(self.known_head);
        Ok(self.transport.next_head(known).await?)
    }

    /// How long the host should wait before the next round, if the last
    /// one failed (`None` when it did not). `jitter` is random.
    pub fn retry_delay(&self, jitter: u64) -> Option<u64> {
        if self.failures == 0 {
            return None;
        }
        Some(retry_delay(
            &self.config.backoff,
            self.failures,
            jitter,
            self.retry_after_ms,
        ))
    }

    /// Consecutive failed rounds (0 after a successful one).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The server's `Retry-After` after the last failed round, in
    /// milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after_ms
    }

    /// How retries are spaced.
    pub fn backoff(&self) -> &Backoff {
        &self.config.backoff
    }

    /// Whether the token may push.
    pub fn can_write(&self) -> bool {
        self.config.can_write
    }

    /// Local changes not yet acknowledged by the server.
    pub fn pending(&self) -> u64 {
        u64::try_from(self.own_counter().saturating_sub(self.meta.acked_counter)).unwrap_or(0)
    }

    /// What the UI shows.
    pub fn status(&self) -> SyncStatus {
        let members = super::roster::members(&self.doc);
        SyncStatus {
            withheld: super::roster::withheld(&self.doc, &self.announced, &members),
            taken_after_removal: super::roster::taken_after_removal(&self.doc, &members),
            ..self.status_at_open()
        }
    }

    /// [`Engine::status`] without what the roster warns of (edits the
    /// server keeps back, edits of removed devices), for the first answer
    /// of a start: reading the roster decodes the whole document's state
    /// (over 100 ms at 10,000 notes in the browser), which nothing else at
    /// the start needs. The full status follows from the driver.
    pub fn status_at_open(&self) -> SyncStatus {
        let pending = self.pending();
        SyncStatus {
            state: derive_state(
                self.in_round,
                self.last_round,
                pending,
                self.meta.cursor,
                self.known_head,
            ),
            pending,
            last_ack: self.meta.last_ack,
            last_error: self.last_error.clone(),
            cursor: self.meta.cursor,
            head: self.known_head,
            skipped_entries: self.skipped,
            last_skipped: self.last_skipped.clone(),
            refused_from_removed: self.refused,
            key_warnings: self.key_warnings.clone(),
            withheld: Vec::new(),
            taken_after_removal: Vec::new(),
        }
    }

    pub(super) fn notify(&mut self) {
        if self.observer.is_some() {
            let status = self.status();
            if let Some(observer) = self.observer.as_mut() {
                observer(&status);
            }
        }
    }
}

/// Imports update blobs, all at once if they are sound, else one by one,
/// skipping those Loro refuses. Returns how many were skipped.
pub(super) fn import_all(doc: &LoroDoc, blobs: &[Vec<u8>]) -> u64 {
    if blobs.is_empty() || doc.import_batch(blobs).is_ok() {
        return 0;
    }
    blobs.iter().filter(|b| doc.import(b).is_err()).count() as u64
}

/// Imports blobs that came from the network: each is first decoded into a
/// scratch document, and one that makes the decoder fail or panic is
/// skipped (a blob with a valid checksum can still crash Loro's decoder;
/// see the fuzz regressions). Returns the blobs kept and how many were
/// skipped.
pub(super) fn import_untrusted(doc: &LoroDoc, blobs: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, u64) {
    let total = blobs.len();
    let sound: Vec<Vec<u8>> = blobs.into_iter().filter(|b| decodes(b)).collect();
    let rejected = (total - sound.len()) as u64;
    let skipped = import_all(doc, &sound);
    (sound, rejected + skipped)
}

/// Whether Loro decodes `blob` without error or panic, in a throwaway
/// document. Where panics abort (wasm release builds), it cannot tell and
/// says yes.
#[cfg(panic = "unwind")]
pub(super) fn decodes(blob: &[u8]) -> bool {
    let scratch = LoroDoc::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scratch.import(blob).is_ok()
    }));
    match result {
        Ok(ok) => ok,
        Err(_) => {
            // A document whose import panicked holds poisoned locks, and
            // dropping it would panic again: leak it (a few bytes, once
            // per hostile blob).
            std::mem::forget(scratch);
            false
        }
    }
}

#[cfg(not(panic = "unwind"))]
pub(super) fn decodes(_blob: &[u8]) -> bool {
    true
}
