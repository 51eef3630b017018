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

use bytes::Bytes;
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
    pub async fn snapshot(&self, upto: u64, data: Bytes) -> Result<Snapshotted, WriteError> {
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
            max_open: max_open.max(1),
            open_count: Arc::new(AtomicUsize::new(0)),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Room for new data: quotas and server-wide limits.
    pub fn room(&self) -> &Arc<dyn Room> {
        &self.room
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
            let opened = start(id, log, heads, room);
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
mod tests {
    use super::*;
    use crate::storage::disk::DiskStore;

    fn heads() -> Arc<dyn Heads> {
        Arc::new(crate::heads::LocalHeads::default())
    }

    fn test_room() -> Arc<dyn Room> {
        Arc::new(crate::storage::disk::room::DiskRoom::new(
            std::env::temp_dir(),
            u64::MAX,
            0,
            u64::MAX,
            0,
        ))
    }

    fn entry(body: &'static [u8], key: &str) -> NewEntry {
        use sha2::Digest as _;
        NewEntry {
            key: Some(key.to_owned()),
            hash: sha2::Sha256::digest(body).into(),
            payload: Bytes::from_static(body),
        }
    }

    #[tokio::test]
    async fn workspaces_open_lazily_and_close_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let spaces = Workspaces::new(
            Arc::new(DiskStore::new(dir.path())),
            heads(),
            test_room(),
            1000,
        );
        for i in 0..50u8 {
            let ws = spaces
                .get(&WorkspaceId::from_random([i; 16]))
                .await
                .unwrap();
            assert_eq!(ws.append(entry(b"x", "k")).await.unwrap(), Appended::New(1));
        }
        assert_eq!(spaces.open_count(), 50);
        let held = spaces
            .get(&WorkspaceId::from_random([0; 16]))
            .await
            .unwrap();
        let mut listener = spaces
            .get(&WorkspaceId::from_random([1; 16]))
            .await
            .unwrap()
            .subscribe();
        assert_eq!(*listener.borrow_and_update(), Some(1));
        assert_eq!(spaces.close_idle(unix_now()), 0, "nothing is idle yet");
        assert_eq!(spaces.close_idle(unix_now() + IDLE_SECS + 1), 49);
        assert_eq!(
            spaces.open_count(),
            1,
            "held workspaces stay open; a listener does not keep a log open"
        );
        // A listener hears the heads of a log closed and opened again.
        let reopened = spaces
            .get(&WorkspaceId::from_random([1; 16]))
            .await
            .unwrap();
        reopened.append(entry(b"y", "k2")).await.unwrap();
        listener.changed().await.unwrap();
        assert_eq!(*listener.borrow_and_update(), Some(2));
        drop((held, listener, reopened));
        // Reopened from disk with its state.
        spaces.close_all().await;
        let ws = spaces
            .get(&WorkspaceId::from_random([7; 16]))
            .await
            .unwrap();
        assert_eq!(ws.position().head, 1);
        assert_eq!(
            ws.append(entry(b"x", "k")).await.unwrap(),
            Appended::Duplicate(1)
        );
    }

    #[tokio::test]
    async fn concurrent_appends_get_distinct_numbers_and_announce_the_head() {
        let dir = tempfile::tempdir().unwrap();
        for store in [
            Arc::new(crate::storage::memory::MemoryStore::default()) as Arc<dyn LogStore>,
            Arc::new(DiskStore::new(dir.path())),
        ] {
            concurrent_appends(store).await;
        }
    }

    async fn concurrent_appends(store: Arc<dyn LogStore>) {
        let spaces = Arc::new(Workspaces::new(store, heads(), test_room(), 1000));
        let ws = spaces
            .get(&WorkspaceId::from_random([3; 16]))
            .await
            .unwrap();
        let mut heads = ws.subscribe();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let ws = ws.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("k{i}");
                ws.append(NewEntry {
                    key: Some(key),
                    hash: [i as u8; 32],
                    payload: Bytes::from(vec![i as u8; 8]),
                })
                .await
                .unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Appended::New(seq) => seqs.push(seq),
                other => panic!("{other:?}"),
            }
        }
        seqs.sort();
        assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
        heads.changed().await.unwrap();
        assert_eq!(*heads.borrow(), Some(64));
    }

    /// A store whose logs fail every `fail_every`-th append, and which
    /// checks that no two of its logs ever write at once.
    struct FlakyStore {
        inner: crate::storage::memory::MemoryStore,
        fail_every: u64,
        appends: Arc<AtomicU64>,
        writing: Arc<AtomicUsize>,
        overlaps: Arc<AtomicUsize>,
        opens: Arc<AtomicUsize>,
    }

    struct FlakyLog {
        inner: Arc<dyn WorkspaceLog>,
        fail_every: u64,
        appends: Arc<AtomicU64>,
        writing: Arc<AtomicUsize>,
        overlaps: Arc<AtomicUsize>,
        poisoned: AtomicBool,
    }

    #[async_trait::async_trait]
    impl LogStore for FlakyStore {
        async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
            self.opens.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(FlakyLog {
                inner: self.inner.open(ws).await?,
                fail_every: self.fail_every,
                appends: self.appends.clone(),
                writing: self.writing.clone(),
                overlaps: self.overlaps.clone(),
                poisoned: AtomicBool::new(false),
            }))
        }

        fn max_entry_len(&self) -> u64 {
            self.inner.max_entry_len()
        }
    }

    #[async_trait::async_trait]
    impl WorkspaceLog for FlakyLog {
        fn position(&self) -> Position {
            self.inner.position()
        }
        async fn append(
            &self,
            entries: Vec<NewEntry>,
            quota: u64,
        ) -> Result<Vec<Appended>, StoreError> {
            if self.poisoned.load(Ordering::SeqCst) {
                return Err(StoreError::Poisoned);
            }
            if self.writing.fetch_add(1, Ordering::SeqCst) != 0 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            // A write that takes a while, so that overlaps would show.
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
            let result = if n.is_multiple_of(self.fail_every) {
                self.poisoned.store(true, Ordering::SeqCst);
                Err(StoreError::Poisoned)
            } else {
                self.inner.append(entries, quota).await
            };
            self.writing.fetch_sub(1, Ordering::SeqCst);
            result
        }
        async fn pull(&self, after: u64, max: u64) -> Result<crate::storage::PullPlan, StoreError> {
            self.inner.pull(after, max).await
        }
        async fn put_snapshot(
            &self,
            upto: u64,
            data: Bytes,
            quota: u64,
        ) -> Result<Snapshotted, StoreError> {
            self.inner.put_snapshot(upto, data, quota).await
        }
        async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
            self.inner.undo_compaction().await
        }
        async fn forget_compactions(&self) -> Result<usize, StoreError> {
            self.inner.forget_compactions().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_log_is_reopened_only_after_its_writer_is_gone() {
        let store = Arc::new(FlakyStore {
            inner: crate::storage::memory::MemoryStore::default(),
            fail_every: 7,
            appends: Arc::default(),
            writing: Arc::default(),
            overlaps: Arc::default(),
            opens: Arc::default(),
        });
        let spaces = Arc::new(Workspaces::new(store.clone(), heads(), test_room(), 1000));
        let ws = WorkspaceId::from_random([5; 16]);
        let mut tasks = Vec::new();
        for client in 0..16u8 {
            let spaces = spaces.clone();
            let ws = ws.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..40u8 {
                    let key = format!("c{client}-{i}");
                    let body = vec![client, i];
                    // Retry a failed push with the same key, as a client does.
                    for _ in 0..50 {
                        let Ok(w) = spaces.get(&ws).await else {
                            continue;
                        };
                        use sha2::Digest as _;
                        let entry = NewEntry {
                            key: Some(key.clone()),
                            hash: sha2::Sha256::digest(&body).into(),
                            payload: Bytes::from(body.clone()),
                        };
                        match w.append(entry).await {
                            Ok(Appended::New(seq) | Appended::Duplicate(seq)) => {
                                acked.push((seq, body.clone()));
                                break;
                            }
                            Ok(other) => panic!("{other:?}"),
                            Err(_) => tokio::task::yield_now().await,
                        }
                    }
                }
                acked
            }));
        }
        let mut by_seq = std::collections::HashMap::new();
        for t in tasks {
            for (seq, body) in t.await.unwrap() {
                if let Some(other) = by_seq.insert(seq, body.clone()) {
                    assert_eq!(other, body, "seq {seq} acknowledged for two bodies");
                }
            }
        }
        assert_eq!(by_seq.len(), 16 * 40, "every push was acknowledged once");
        assert_eq!(
            store.overlaps.load(Ordering::SeqCst),
            0,
            "two writers wrote at once"
        );
        assert!(
            store.opens.load(Ordering::SeqCst) > 5,
            "failures reopened the log"
        );
        let pulled = spaces
            .get(&ws)
            .await
            .unwrap()
            .log
            .pull(0, u64::MAX)
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        let frames = hearth_shared::frame::decode_frames(&pulled.body).unwrap();
        for f in frames {
            assert_eq!(by_seq.get(&f.seq).map(Vec::as_slice), Some(f.payload));
        }
    }
}
