//! Open workspaces: loaded lazily on first use, closed again when idle, each
//! with one writer task that batches concurrent pushes into one sync (group
//! commit) and a watch channel that announces the head.
//!
//! Many workspaces may exist; only those in use cost memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hearth_shared::id::WorkspaceId;
use tokio::sync::{OnceCell, mpsc, oneshot, watch};

use crate::app::unix_now;
use crate::store::{
    Appended, BlobStore, NewEntry, Position, Snapshotted, StoreError, WorkspaceLog,
};

/// Most operations the writer takes into one batch.
const MAX_BATCH: usize = 512;
/// Operations that may wait for a workspace's writer.
const QUEUE: usize = 4096;
/// A workspace unused for this long (and with nobody listening) is closed.
pub const IDLE_SECS: u64 = 10 * 60;

/// A write for the workspace's writer task.
enum WriteOp {
    Append {
        entry: NewEntry,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
    Snapshot {
        upto: u64,
        data: Bytes,
        reply: oneshot::Sender<Result<Snapshotted, StoreError>>,
    },
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace writer stopped")]
    Stopped,
}

/// An open workspace.
pub struct Workspace {
    /// The log, for reads.
    pub log: Arc<dyn WorkspaceLog>,
    /// Queue of the writer task; dropping the workspace ends the task.
    tx: mpsc::Sender<WriteOp>,
    /// The head, announced after each durable write.
    head: Arc<watch::Sender<u64>>,
    /// Storage quota in bytes.
    quota: u64,
    /// Last use, seconds since the epoch, for idle closing.
    last_used: AtomicU64,
}

impl Workspace {
    fn touch(&self) {
        self.last_used.store(unix_now(), Ordering::Relaxed);
    }

    /// Appends one entry; resolves once it is durable.
    pub async fn append(&self, entry: NewEntry) -> Result<Appended, WriteError> {
        self.touch();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteOp::Append { entry, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        Ok(rx.await.map_err(|_| WriteError::Stopped)??)
    }

    /// Swaps in a snapshot; resolves once it is durable.
    pub async fn snapshot(&self, upto: u64, data: Bytes) -> Result<Snapshotted, WriteError> {
        self.touch();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteOp::Snapshot { upto, data, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        Ok(rx.await.map_err(|_| WriteError::Stopped)??)
    }

    /// Subscribes to head announcements.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.touch();
        self.head.subscribe()
    }

    pub fn position(&self) -> Position {
        self.touch();
        self.log.position()
    }
}

/// The registry of open workspaces.
pub struct Workspaces {
    store: Arc<dyn BlobStore>,
    quota: u64,
    open: Mutex<HashMap<WorkspaceId, Arc<OnceCell<Arc<Workspace>>>>>,
}

impl Workspaces {
    pub fn new(store: Arc<dyn BlobStore>, quota: u64) -> Workspaces {
        Workspaces {
            store,
            quota,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The open workspace `ws`, opening (and recovering) it if need be.
    pub async fn get(&self, ws: &WorkspaceId) -> Result<Arc<Workspace>, WriteError> {
        let cell = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.entry(ws.clone()).or_default().clone()
        };
        let workspace = cell
            .get_or_try_init(|| async {
                let store = self.store.clone();
                let id = ws.clone();
                let log = tokio::task::spawn_blocking(move || store.open(&id))
                    .await
                    .map_err(|_| WriteError::Stopped)??;
                Ok::<_, WriteError>(self.start(log))
            })
            .await?;
        workspace.touch();
        Ok(workspace.clone())
    }

    fn start(&self, log: Arc<dyn WorkspaceLog>) -> Arc<Workspace> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let head = Arc::new(watch::channel(log.position().head).0);
        tokio::spawn(writer(log.clone(), rx, head.clone(), self.quota));
        Arc::new(Workspace {
            log,
            tx,
            head,
            quota: self.quota,
            last_used: AtomicU64::new(unix_now()),
        })
    }

    /// Closes workspaces idle since `now - IDLE_SECS` that nobody holds.
    pub fn close_idle(&self, now: u64) -> usize {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let before = open.len();
        open.retain(|_, cell| match cell.get() {
            None => Arc::strong_count(cell) > 1,
            Some(ws) => {
                Arc::strong_count(ws) > 1
                    || ws.head.receiver_count() > 0
                    || ws
                        .last_used
                        .load(Ordering::Relaxed)
                        .saturating_add(IDLE_SECS)
                        > now
            }
        });
        before - open.len()
    }

    /// Forgets an open workspace after a storage failure, so that the next
    /// request reopens (and recovers) it from disk.
    pub fn forget(&self, ws: &WorkspaceId) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ws);
    }

    /// How many workspaces are open.
    pub fn open_count(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Closes every workspace; their writers finish what they hold.
    pub fn close_all(&self) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Workspace {
    /// The quota this workspace was opened with.
    pub fn quota(&self) -> u64 {
        self.quota
    }
}

/// The writer task: takes whatever operations are waiting, appends runs of
/// entries with one sync, applies snapshots in order, then announces the head
/// and answers.
async fn writer(
    log: Arc<dyn WorkspaceLog>,
    mut rx: mpsc::Receiver<WriteOp>,
    head: Arc<watch::Sender<u64>>,
    quota: u64,
) {
    while let Some(first) = rx.recv().await {
        let mut ops = vec![first];
        while ops.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let log = log.clone();
        let head = head.clone();
        let done = tokio::task::spawn_blocking(move || apply(&*log, ops, &head, quota)).await;
        if let Err(err) = done {
            tracing::error!(error = %err, "a workspace writer batch failed");
        }
    }
}

fn apply(log: &dyn WorkspaceLog, ops: Vec<WriteOp>, head: &watch::Sender<u64>, quota: u64) {
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        match op {
            WriteOp::Snapshot { upto, data, reply } => {
                let result = log.put_snapshot(upto, &data, quota);
                let _ = reply.send(result);
            }
            WriteOp::Append { entry, reply } => {
                let mut entries = vec![entry];
                let mut replies = vec![reply];
                while let Some(WriteOp::Append { .. }) = ops.peek() {
                    if let Some(WriteOp::Append { entry, reply }) = ops.next() {
                        entries.push(entry);
                        replies.push(reply);
                    }
                }
                match log.append(&entries, quota) {
                    Ok(outcomes) => {
                        head.send_if_modified(|h| {
                            let new = log.position().head;
                            let changed = new != *h;
                            *h = new;
                            changed
                        });
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "appending to a workspace log failed");
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Poisoned));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::disk::DiskStore;

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
        let spaces = Workspaces::new(Arc::new(DiskStore::new(dir.path())), u64::MAX);
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
        let listener = spaces
            .get(&WorkspaceId::from_random([1; 16]))
            .await
            .unwrap()
            .subscribe();
        assert_eq!(spaces.close_idle(unix_now()), 0, "nothing is idle yet");
        assert_eq!(spaces.close_idle(unix_now() + IDLE_SECS + 1), 48);
        assert_eq!(
            spaces.open_count(),
            2,
            "held and listened-to workspaces stay open"
        );
        drop((held, listener));
        // Reopened from disk with its state.
        spaces.close_all();
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
            Arc::new(crate::store::memory::MemoryStore::default()) as Arc<dyn BlobStore>,
            Arc::new(DiskStore::new(dir.path())),
        ] {
            concurrent_appends(store).await;
        }
    }

    async fn concurrent_appends(store: Arc<dyn BlobStore>) {
        let spaces = Arc::new(Workspaces::new(store, u64::MAX));
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
        assert_eq!(*heads.borrow(), 64);
    }
}
