//! Open workspaces: loaded lazily on first use, closed again when idle (or
//! when too many are open, least recently used first), each with one writer
//! task ([`writer`]) that batches concurrent pushes into one sync (group
//! commit) and publishes the head to the announcer ([`crate::heads`]).
//!
//! One writer per log, by construction: each workspace id has one [`Slot`]
//! whose async lock is held while a log is opened, and a new log is opened
//! only after the previous writer task has ended. A writer that meets a
//! storage failure fails the operation, everything queued behind it, and
//! ends; its workspace is marked poisoned, and the next request reopens the
//! log from disk (recovering it) once that writer is gone.
//!
//! Before each batch the writer asks the [`Room`] whether there is room
//! (the workspace's quota, free space above the reserve, the server-wide
//! storage limit). Without room, writes are refused (`storage_full`) before the file
//! system fails, and what is stored stays readable.
//!
//! Many workspaces may exist; only those in use cost memory.

mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::payload::Payload;
use hearth_shared::id::WorkspaceId;
use tokio::sync::{mpsc, oneshot, watch};

use self::writer::{WriteOp, start};
use crate::clock::unix_now;
use crate::heads::Heads;
use crate::storage::room::{Refused, Room};
use crate::storage::{
    Appended, LogStore, NewEntry, Position, Snapshotted, StoreError, Undone, WorkspaceLog,
};

/// Operations that may wait for a workspace's writer.
const QUEUE: usize = 4096;
/// A workspace unused for this long is closed (its listeners keep
/// listening to the announcer).
pub const IDLE_SECS: u64 = 10 * 60;

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace writer stopped")]
    Stopped,
    #[error("no room: {0}")]
    Full(&'static str),
}

impl From<Refused> for WriteError {
    fn from(refused: Refused) -> WriteError {
        match refused {
            Refused::Full(why) => WriteError::Full(why),
            Refused::Quota => WriteError::Full("the workspace's storage quota is reached"),
        }
    }
}

/// An open workspace.
pub struct Workspace {
    /// The log, for reads.
    pub log: Arc<dyn WorkspaceLog>,
    /// Queue of the writer task; dropping the workspace ends the task.
    tx: mpsc::Sender<WriteOp>,
    /// Its id, to publish and subscribe to its head.
    id: WorkspaceId,
    /// Where the writer publishes the head after each durable write.
    heads: Arc<dyn Heads>,
    /// Last use, seconds since the epoch, for idle closing.
    last_used: AtomicU64,
    /// Set by the writer when a storage failure stopped it.
    poisoned: Arc<AtomicBool>,
    /// Closed (all senders dropped) when the writer task has ended.
    writer_done: watch::Receiver<()>,
}

impl Workspace {
    fn touch(&self) {
        self.last_used.store(unix_now(), Ordering::Relaxed);
    }

    async fn write<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, WriteError>>) -> WriteOp,
    ) -> Result<T, WriteError> {
        self.touch();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(op(reply))
            .await
            .map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Appends one entry; resolves once it is durable.
    pub async fn append(&self, entry: NewEntry) -> Result<Appended, WriteError> {
        self.write(|reply| WriteOp::Append { entry, reply }).await
    }

    /// Swaps in a snapshot; resolves once it is durable.
    pub async fn snapshot(&self, upto: u64, data: Payload) -> Result<Snapshotted, WriteError> {
        self.write(|reply| WriteOp::Snapshot { upto, data, reply })
            .await
    }

    /// Undoes the latest compaction still kept.
    pub async fn undo_compaction(&self) -> Result<Option<Undone>, WriteError> {
        self.write(|reply| WriteOp::Undo { reply }).await
    }

    /// Deletes what compactions replaced and kept for undo.
    pub async fn forget_compactions(&self) -> Result<usize, WriteError> {
        self.write(|reply| WriteOp::Forget { reply }).await
    }

    /// Subscribes to head announcements (as [`Heads::subscribe`]; this
    /// workspace being open, its head is known).
    pub fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.touch();
        self.heads.subscribe(&self.id)
    }

    pub fn position(&self) -> Position {
        self.touch();
        self.log.position()
    }

    /// Set by the writer when a storage call failed (every failure that
    /// leaves the log unable to write is reported to it as an error).
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Whether nothing but the registry holds it.
    fn is_unused(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) == 1
    }
}

/// Waits until the writer behind `done` has ended.
async fn writer_gone(mut done: watch::Receiver<()>) {
    while done.changed().await.is_ok() {}
}

/// One workspace id's place in the registry; its lock is held while a log
/// is opened.
type Slot = tokio::sync::Mutex<SlotState>;

#[derive(Default)]
struct SlotState {
    /// The open workspace, if any.
    open: Option<Arc<Workspace>>,
    /// The writer of the previous workspace, which must end before another
    /// log is opened on the same files.
    previous: Option<watch::Receiver<()>>,
}

impl SlotState {
    /// Closes the open workspace (its writer finishes what it holds, then
    /// ends).
    fn close(&mut self) {
        if let Some(ws) = self.open.take() {
            self.previous = Some(ws.writer_done.clone());
        }
    }

    fn previous_running(&self) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|done| done.has_changed().is_ok())
    }
}

/// The registry of open workspaces.
pub struct Workspaces {
    store: Arc<dyn LogStore>,
    heads: Arc<dyn Heads>,
    room: Arc<dyn Room>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Most workspaces open at once; beyond it the least recently used
    /// unused ones are closed.
    max_open: usize,
    open_count: Arc<AtomicUsize>,
    slots: Mutex<HashMap<WorkspaceId, Arc<Slot>>>,
}

impl Workspaces {
    pub fn new(
        store: Arc<dyn LogStore>,
        heads: Arc<dyn Heads>,
        room: Arc<dyn Room>,
        max_open: usize,
    ) -> Workspaces {
        Workspaces {
            store,
            heads,
            room,
            metrics: Arc::new(crate::metrics::Metrics::new()),
            max_open: max_open.max(1),
            open_count: Arc::new(AtomicUsize::new(0)),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Room for new data: quotas and server-wide limits.
    pub fn room(&self) -> &Arc<dyn Room> {
        &self.room
    }

    /// Counts the writers' group commits in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Workspaces {
        self.metrics = metrics;
        self
    }

    /// The log store the workspaces are opened from.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// The head announcer the writers publish to.
    pub fn heads(&self) -> &Arc<dyn Heads> {
        &self.heads
    }

    /// The head of `ws` as its log says (opening the log if need be).
    pub async fn head(&self, ws: &WorkspaceId) -> Result<u64, WriteError> {
        Ok(self.get(ws).await?.position().head)
    }

    fn slot(&self, ws: &WorkspaceId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(ws.clone()).or_default().clone()
    }

    /// The open workspace `ws`, opening (and recovering) it if need be. A
    /// poisoned one is closed, its writer awaited, and the log reopened.
    ///
    /// Opening runs in a task of its own that holds the slot's lock until
    /// the new workspace is in the slot, so a caller that goes away (a
    /// client that disconnects, shutdown) never leaves a half-done open or a
    /// forgotten wait behind: no two logs on one directory, ever.
    pub async fn get(&self, ws: &WorkspaceId) -> Result<Arc<Workspace>, WriteError> {
        let slot = self.slot(ws);
        {
            let st = slot.lock().await;
            if let Some(open) = &st.open
                && !open.is_poisoned()
            {
                open.touch();
                return Ok(open.clone());
            }
        }
        let store = self.store.clone();
        let heads = self.heads.clone();
        let room = self.room.clone();
        let metrics = self.metrics.clone();
        let open_count = self.open_count.clone();
        let id = ws.clone();
        let opening = tokio::spawn(async move {
            let mut st = slot.lock_owned().await;
            if let Some(open) = &st.open {
                if !open.is_poisoned() {
                    return Ok(open.clone());
                }
                tracing::warn!(workspace = %id, "reopening a workspace log after a storage failure");
                st.close();
                open_count.fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(done) = st.previous.clone() {
                writer_gone(done).await;
                st.previous = None;
            }
            let log = {
                let id = id.clone();
                store.open(&id).await?
            };
            let opened = start(id, log, heads, room, metrics);
            st.open = Some(opened.clone());
            open_count.fetch_add(1, Ordering::Relaxed);
            Ok::<_, WriteError>(opened)
        });
        let opened = opening.await.map_err(|_| WriteError::Stopped)??;
        opened.touch();
        if self.open_count() > self.max_open {
            self.close_lru(self.max_open - self.max_open / 10);
        }
        Ok(opened)
    }

    /// Closes `ws` (waiting until its writer has finished what it holds),
    /// runs `then` while nothing may open it again, and lets it open after.
    pub async fn closed_while<T>(
        &self,
        ws: &WorkspaceId,
        then: impl std::future::Future<Output = T>,
    ) -> T {
        let slot = self.slot(ws);
        let mut st = slot.lock().await;
        if st.open.is_some() {
            st.close();
            self.open_count.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(done) = st.previous.take() {
            writer_gone(done).await;
        }
        then.await
    }

    /// Closes unused workspaces for which `close` says so; forgets slots
    /// that hold nothing. Slots that are busy (being opened) are left alone.
    fn sweep(&self, mut close: impl FnMut(&Workspace) -> bool) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        slots.retain(|_, slot| {
            let Ok(mut st) = slot.try_lock() else {
                return true;
            };
            if let Some(ws) = &st.open
                && ws.is_unused()
                && close(ws)
            {
                st.close();
                closed += 1;
            }
            // A slot may go once it holds nothing, nobody else has it, and
            // its last writer has ended; otherwise the next `get` must find
            // it to wait for that writer.
            st.open.is_some() || st.previous_running() || Arc::strong_count(slot) > 1
        });
        self.open_count.fetch_sub(closed, Ordering::Relaxed);
        closed
    }

    /// Closes workspaces idle since `now - IDLE_SECS` that nobody holds.
    pub fn close_idle(&self, now: u64) -> usize {
        self.sweep(|ws| {
            ws.last_used
                .load(Ordering::Relaxed)
                .saturating_add(IDLE_SECS)
                <= now
        })
    }

    /// Closes the least recently used unused workspaces until at most
    /// `target` are open.
    fn close_lru(&self, target: usize) {
        let excess = self.open_count().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut times: Vec<u64> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .values()
                .filter_map(|slot| {
                    let st = slot.try_lock().ok()?;
                    let ws = st.open.as_ref()?;
                    ws.is_unused().then(|| ws.last_used.load(Ordering::Relaxed))
                })
                .collect()
        };
        if times.is_empty() {
            return;
        }
        times.sort_unstable();
        let cutoff = times[excess.min(times.len()) - 1];
        let mut left = excess;
        self.sweep(|ws| {
            if left > 0 && ws.last_used.load(Ordering::Relaxed) <= cutoff {
                left -= 1;
                true
            } else {
                false
            }
        });
    }

    /// How many workspaces are open.
    pub fn open_count(&self) -> usize {
        self.open_count.load(Ordering::Relaxed)
    }

    /// Closes every workspace and waits until their writers have finished
    /// what they hold (and so no longer touch the files).
    pub async fn close_all(&self) {
        let slots: Vec<Arc<Slot>> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.values().cloned().collect()
        };
        let mut writers = Vec::new();
        for slot in slots {
            // Waits for an open in progress, so that its writer is seen too.
            let mut st = slot.lock().await;
            if st.open.is_some() {
                st.close();
                self.open_count.fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(done) = st.previous.clone() {
                writers.push(done);
            }
        }
        for done in writers {
            writer_gone(done).await;
        }
    }
}

#[cfg(test)]
mod tests;
