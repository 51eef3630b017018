//! The writer task of one open workspace: it takes whatever operations
//! wait, appends runs of entries with one sync (group commit), applies
//! snapshots in order, then publishes the head and answers. After a storage
//! failure it fails everything queued and ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hearth_shared::id::WorkspaceId;
use tokio::sync::{mpsc, oneshot, watch};

use super::{QUEUE, Workspace, WriteError};
use crate::clock::unix_now;
use crate::heads::Heads;
use crate::storage::room::{Refused, Room};
use crate::storage::{Appended, NewEntry, Snapshotted, StoreError, Undone, WorkspaceLog};

/// Most operations the writer takes into one batch.
const MAX_BATCH: usize = 512;

/// A write for the workspace's writer task.
pub(super) enum WriteOp {
    Append {
        entry: NewEntry,
        reply: oneshot::Sender<Result<Appended, WriteError>>,
    },
    Snapshot {
        upto: u64,
        data: crate::storage::payload::Payload,
        reply: oneshot::Sender<Result<Snapshotted, WriteError>>,
    },
    Undo {
        reply: oneshot::Sender<Result<Option<Undone>, WriteError>>,
    },
    Forget {
        reply: oneshot::Sender<Result<usize, WriteError>>,
    },
}

impl WriteOp {
    fn fail(self, err: impl Fn() -> WriteError) {
        match self {
            WriteOp::Append { reply, .. } => drop(reply.send(Err(err()))),
            WriteOp::Snapshot { reply, .. } => drop(reply.send(Err(err()))),
            WriteOp::Undo { reply } => drop(reply.send(Err(err()))),
            WriteOp::Forget { reply } => drop(reply.send(Err(err()))),
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            WriteOp::Append { entry, .. } => entry.payload.len(),
            WriteOp::Snapshot { data, .. } => data.len(),
            WriteOp::Undo { .. } | WriteOp::Forget { .. } => 0,
        }
    }
}

/// Starts the writer task of a freshly opened log.
pub(super) fn start(
    id: WorkspaceId,
    log: Arc<dyn WorkspaceLog>,
    heads: Arc<dyn Heads>,
    room: Arc<dyn Room>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Arc<Workspace> {
    let (tx, rx) = mpsc::channel(QUEUE);
    heads.publish(&id, log.position().head);
    let poisoned = Arc::new(AtomicBool::new(false));
    let (done_tx, writer_done) = watch::channel(());
    let writer = Writer {
        id: id.clone(),
        log: log.clone(),
        heads: heads.clone(),
        room,
        metrics,
        poisoned: poisoned.clone(),
    };
    tokio::spawn(async move {
        writer.run(rx).await;
        drop(done_tx);
    });
    Arc::new(Workspace {
        log,
        tx,
        id,
        heads,
        last_used: AtomicU64::new(unix_now()),
        poisoned,
        writer_done,
    })
}

/// The writer task of one workspace.
struct Writer {
    id: WorkspaceId,
    log: Arc<dyn WorkspaceLog>,
    heads: Arc<dyn Heads>,
    room: Arc<dyn Room>,
    metrics: Arc<crate::metrics::Metrics>,
    poisoned: Arc<AtomicBool>,
}

impl Writer {
    /// Takes whatever operations are waiting, appends runs of entries with
    /// one sync, applies snapshots in order, then announces the head and
    /// answers. After a storage failure it fails everything queued and ends.
    async fn run(self, mut rx: mpsc::Receiver<WriteOp>) {
        let this = Arc::new(self);
        while let Some(first) = rx.recv().await {
            let mut ops = vec![first];
            while ops.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            if let Some(failure) = this.apply(ops).await {
                this.poisoned.store(true, Ordering::Release);
                rx.close();
                while let Some(op) = rx.recv().await {
                    op.fail(|| WriteError::Store(behind(&failure)));
                }
                return;
            }
        }
    }

    /// Applies a batch; returns the failure of the log, if it failed
    /// (everything after the failure is failed too, never written).
    async fn apply(&self, ops: Vec<WriteOp>) -> Option<StoreError> {
        let batch_bytes: u64 = ops.iter().map(WriteOp::bytes).sum();
        if batch_bytes > 0
            && let Err(refused) = self.admit(batch_bytes).await
        {
            for op in ops {
                op.fail(|| WriteError::from(refused));
            }
            return None;
        }
        let quota = self.room.quota(&self.id);
        let mut ops = ops.into_iter().peekable();
        while let Some(op) = ops.next() {
            let before = self.log.position().bytes;
            let failed = match op {
                WriteOp::Snapshot { upto, data, reply } => {
                    let result = self.log.put_snapshot(upto, data, quota).await;
                    let failed = result.as_ref().err().map(behind);
                    let _ = reply.send(result.map_err(WriteError::from));
                    failed
                }
                WriteOp::Undo { reply } => {
                    let result = self.log.undo_compaction().await;
                    let failed = result.as_ref().err().map(behind);
                    let _ = reply.send(result.map_err(WriteError::from));
                    failed
                }
                WriteOp::Forget { reply } => {
                    let result = self.log.forget_compactions().await;
                    let failed = result.as_ref().err().map(behind);
                    let _ = reply.send(result.map_err(WriteError::from));
                    failed
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
                    let started = std::time::Instant::now();
                    let appended = self.log.append(entries, quota).await;
                    match appended {
                        Ok(outcomes) => {
                            let new = outcomes
                                .iter()
                                .filter(|o| matches!(o, Appended::New(_)))
                                .count();
                            self.metrics.commit(new, started.elapsed());
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(outcome));
                            }
                            None
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "appending to a workspace log failed");
                            let full = err.is_full();
                            for reply in replies {
                                let _ = reply.send(Err(if full {
                                    WriteError::Full("the server's disk is full")
                                } else {
                                    WriteError::Store(behind(&err))
                                }));
                            }
                            Some(behind(&err))
                        }
                    }
                }
            };
            self.room.moved(before, self.log.position().bytes);
            self.announce();
            if let Some(failure) = failed {
                for op in ops {
                    op.fail(|| WriteError::Store(behind(&failure)));
                }
                return Some(failure);
            }
        }
        None
    }

    /// Asks the room for `bytes` (a free-space check may block, so it runs
    /// on the blocking pool).
    async fn admit(&self, bytes: u64) -> Result<(), Refused> {
        if let Some(answer) = self.room.try_admit(bytes) {
            return answer;
        }
        let room = self.room.clone();
        tokio::task::spawn_blocking(move || room.admit(bytes))
            .await
            .unwrap_or(Err(Refused::Full("the room check failed")))
    }

    fn announce(&self) {
        self.heads.publish(&self.id, self.log.position().head);
    }
}

/// What the operations behind a failed one are told. They never reached
/// the storage: when it could not be reached (a database restarting, an
/// object store down) they are told the same, to retry shortly (503), as
/// the next request reopens the log; after any other failure, that the
/// log refuses writes until it is reopened.
fn behind(failure: &StoreError) -> StoreError {
    match failure {
        StoreError::Unavailable { at, detail } => StoreError::Unavailable {
            at: at.clone(),
            detail: detail.clone(),
        },
        _ => StoreError::Poisoned,
    }
}
