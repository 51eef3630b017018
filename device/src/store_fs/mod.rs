//! [`FsStore`]: the device's [`Store`] in a directory, crash-safe.
//!
//! Layout:
//!
//! ```text
//! state.json     the checkpoint: the meta (with the pending batch's key and
//!                counters), the files live at that point, and the journal
//!                that follows it
//! snap-N.hz      the snapshot, in an envelope (zstd + checksum)
//! upd-N.hz       update blobs, one each, in an envelope (written by
//!                earlier versions; folded into the next snapshot)
//! out-N.bin      the pending batch's envelope at the checkpoint
//! journal-N.log  every call since the checkpoint, one record each
//!                (see [`journal`](crate::journal))
//! ```
//!
//! An append or a change of the pending batch is one record written at the
//! journal's end and made durable with one `fdatasync` before the call
//! returns (a batch being set is not synced: the record that clears it,
//! or any synced one before, takes it to the disk; see
//! `Store::set_outbox`); a write that fails is cut off again, so the
//! journal never holds a record after a bad one. A compaction writes the snapshot (and the
//! pending batch, if the journal holds it) as files (temp file, fsync,
//! rename), starts a new empty journal, then replaces `state.json` the same
//! way, and deletes what is no longer listed. A crash before the
//! `state.json` rename leaves the old checkpoint and journal; after it, the
//! new ones. Opening replays the journal and cuts off a record a crash
//! tore. Disk work runs on tokio's blocking threads.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth_shared::engine::{Loaded, Outbox, Store, StoreError, SyncMeta};
use hearth_shared::envelope;
use serde::{Deserialize, Serialize};

use super::atomic::{sync_dir, write_atomic};
use crate::journal;

mod replay;
use replay::{remove_unlisted, replay};

const STATE: &str = "state.json";
/// zstd level of stored blobs.
const LEVEL: i32 = 3;
/// Bytes of the journal that nothing needs any more (metas replaced,
/// batches sent) above which it is rewritten (and above half of it).
const JOURNAL_SLACK: u64 = 4 << 20;

/// What `state.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    meta: Option<StoredMeta>,
    snapshot: Option<String>,
    log: Vec<String>,
    /// The file holding the pending batch's envelope.
    outbox: Option<String>,
    /// The number of the next file.
    next_file: u64,
    /// The journal of the calls since (none before the first call, and in
    /// stores written by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
}

/// The meta as `state.json` and the journal keep it: the engine's meta,
/// and beside it the pending batch's header (its bytes are in the `outbox`
/// file or the journal). This is the shape earlier versions wrote, so their
/// stores open as they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredMeta {
    #[serde(flatten)]
    meta: SyncMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox: Option<OutboxHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OutboxHead {
    key: String,
    from: i32,
    to: i32,
}

impl Checkpoint {
    fn live_files(&self) -> BTreeSet<String> {
        self.snapshot
            .iter()
            .chain(self.log.iter())
            .chain(self.outbox.iter())
            .chain(self.journal.iter())
            .cloned()
            .collect()
    }

    fn file_name(&mut self, prefix: &str, ext: &str) -> String {
        let name = format!("{prefix}-{}.{ext}", self.next_file);
        self.next_file += 1;
        name
    }
}

/// Where the pending batch's envelope is.
#[derive(Debug, Clone)]
enum OutboxAt {
    File(String),
    Journal(Range<u64>),
}

/// The open journal.
#[derive(Debug)]
struct Journal {
    file: File,
    /// Where the next record goes (the end of the good records).
    len: u64,
}

/// The store's state: the checkpoint and what the journal added to it.
#[derive(Debug, Default)]
struct State {
    checkpoint: Checkpoint,
    meta: Option<StoredMeta>,
    outbox: Option<OutboxAt>,
    /// The updates the journal holds, in order (each in an envelope).
    updates: Vec<Range<u64>>,
    journal: Option<Journal>,
    /// Set when a failed write could not be cut off: nothing more is
    /// written until the store is opened again (which cuts it off).
    broken: Option<String>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    state: Mutex<State>,
}

/// A store in a directory (one workspace per directory).
#[derive(Debug, Clone)]
pub struct FsStore {
    inner: Arc<Inner>,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

fn to_json(meta: &StoredMeta) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(meta).map_err(|e| io_err("encoding the meta", e))
}

/// The bytes at `r` of the journal's `bytes`.
fn slice<'a>(bytes: &'a [u8], r: &Range<u64>) -> Result<&'a [u8], StoreError> {
    let start = usize::try_from(r.start).ok();
    let end = usize::try_from(r.end).ok();
    start
        .zip(end)
        .and_then(|(start, end)| bytes.get(start..end))
        .ok_or_else(|| StoreError::Corrupt("the store's journal is shorter than it was".into()))
}

/// Where the blobs of a record (`ranges` in its frame) lie in the journal,
/// the frame written at `base`.
fn placed(base: u64, ranges: Vec<Range<usize>>) -> Vec<Range<u64>> {
    ranges
        .into_iter()
        .map(|r| base + r.start as u64..base + r.end as u64)
        .collect()
}

impl State {
    /// Takes in one journal record, written now or replayed: its meta,
    /// and where its blobs lie in the journal.
    fn apply(&mut self, kind: u8, meta: StoredMeta, blobs: Vec<Range<u64>>) -> Result<(), String> {
        match kind {
            journal::APPEND => self.updates.extend(blobs),
            journal::OUTBOX => match (&meta.outbox, blobs.into_iter().next()) {
                (None, _) => self.outbox = None,
                (Some(_), Some(at)) => self.outbox = Some(OutboxAt::Journal(at)),
                (Some(_), None) => {}
            },
            other => return Err(format!("a record of unknown kind {other}")),
        }
        self.meta = Some(meta);
        Ok(())
    }
}

impl FsStore {
    /// Opens (creating if needed) the store in `dir`: reads the checkpoint,
    /// replays the journal (cutting off a record a crash tore), and removes
    /// files a crash left unlisted.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_err("creating the store directory", e))?;
        let checkpoint: Checkpoint = match fs::read(dir.join(STATE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{STATE}: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Checkpoint::default(),
            Err(e) => return Err(io_err(STATE, e)),
        };
        remove_unlisted(&dir, &checkpoint.live_files());
        let mut state = State {
            meta: checkpoint.meta.clone(),
            outbox: checkpoint.outbox.clone().map(OutboxAt::File),
            checkpoint,
            ..State::default()
        };
        if let Some(name) = state.checkpoint.journal.clone() {
            replay(&dir.join(&name), &name, &mut state)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                state: Mutex::new(state),
            }),
        })
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| io_err("store task", e))?
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` (sealed in an envelope if `seal`) as a new file of
    /// the checkpoint `next`.
    fn write_blob(
        &self,
        next: &mut Checkpoint,
        prefix: &str,
        bytes: &[u8],
        seal: bool,
    ) -> Result<String, StoreError> {
        let name = next.file_name(prefix, if seal { "hz" } else { "bin" });
        let data = if seal {
            envelope::seal(bytes, LEVEL).map_err(|e| io_err("sealing a blob", e))?
        } else {
            bytes.to_vec()
        };
        write_atomic(&self.dir.join(&name), &data, false).map_err(|e| io_err(&name, e))?;
        Ok(name)
    }

    fn read_blob(&self, name: &str, sealed: bool) -> Result<Vec<u8>, StoreError> {
        let bytes = fs::read(self.dir.join(name)).map_err(|e| io_err(name, e))?;
        if !sealed {
            return Ok(bytes);
        }
        envelope::open(&bytes, envelope::DEFAULT_MAX_RAW_LEN)
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    }

    /// The journal's bytes, read afresh.
    fn journal_bytes(&self, state: &State) -> Result<Vec<u8>, StoreError> {
        match &state.checkpoint.journal {
            Some(name) => fs::read(self.dir.join(name)).map_err(|e| io_err(name, e)),
            None => Ok(Vec::new()),
        }
    }

    /// Replaces `state.json` by `next` and deletes the files it no longer
    /// lists.
    fn commit(&self, state: &mut State, next: Checkpoint) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&next).map_err(|e| io_err("encoding the state", e))?;
        write_atomic(&self.dir.join(STATE), &json, false).map_err(|e| io_err(STATE, e))?;
        let old_files = state.checkpoint.live_files();
        state.checkpoint = next;
        let live = state.checkpoint.live_files();
        let mut removed = false;
        for name in old_files.difference(&live) {
            removed |= fs::remove_file(self.dir.join(name)).is_ok();
        }
        if removed {
            let _ = sync_dir(&self.dir);
        }
        Ok(())
    }

    /// The checkpoint as it stands now: the files of the last one, with
    /// the current meta and the pending batch's file if it is in one (not
    /// in the journal).
    fn current(state: &State) -> Checkpoint {
        let mut next = state.checkpoint.clone();
        next.meta = state.meta.clone();
        next.outbox = match &state.outbox {
            Some(OutboxAt::File(name)) => Some(name.clone()),
            _ => None,
        };
        next
    }

    /// Starts a new journal after checkpoint `next`, holding `updates` and
    /// the pending batch's `outbox` bytes (if given) under `next`'s meta,
    /// and commits it. The old journal stays the live one until then.
    fn start_journal(
        &self,
        state: &mut State,
        mut next: Checkpoint,
        updates: &[&[u8]],
        outbox: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut bytes = journal::MAGIC.to_vec();
        let json = next
            .meta
            .as_ref()
            .map(to_json)
            .transpose()?
            .unwrap_or_default();
        let at = |bytes: &mut Vec<u8>, kind, blobs: &[&[u8]]| {
            let (frame, ranges) = journal::encode(kind, &json, blobs);
            let base = bytes.len() as u64;
            bytes.extend(frame);
            placed(base, ranges)
        };
        let new_updates = if updates.is_empty() {
            Vec::new()
        } else {
            at(&mut bytes, journal::APPEND, updates)
        };
        let new_outbox = match outbox {
            Some(batch) => at(&mut bytes, journal::OUTBOX, &[batch])
                .into_iter()
                .next()
                .map(OutboxAt::Journal),
            None => next.outbox.clone().map(OutboxAt::File),
        };
        let name = next.file_name("journal", "log");
        let path = self.dir.join(&name);
        write_atomic(&path, &bytes, false).map_err(|e| io_err(&name, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&name, e))?;
        next.journal = Some(name);
        self.commit(state, next)?;
        state.meta = state.checkpoint.meta.clone();
        state.updates = new_updates;
        state.outbox = new_outbox;
        state.journal = Some(Journal {
            file,
            len: bytes.len() as u64,
        });
        Ok(())
    }

    /// Appends one record to the journal (starting one first if there is
    /// none) and, if `durable`, makes it durable. Returns where its blobs
    /// lie.
    fn record(
        &self,
        state: &mut State,
        kind: u8,
        meta: &StoredMeta,
        blobs: &[&[u8]],
        durable: bool,
    ) -> Result<Vec<Range<u64>>, StoreError> {
        if let Some(reason) = &state.broken {
            return Err(io_err("the store's journal", reason));
        }
        if state.journal.is_none() {
            self.start_journal(state, Self::current(state), &[], None)?;
        }
        let json = to_json(meta)?;
        let (frame, ranges) = journal::encode(kind, &json, blobs);
        let Some(open) = state.journal.as_mut() else {
            return Err(io_err("the store's journal", "not open"));
        };
        let at = open.len;
        let written = open
            .file
            .seek(SeekFrom::Start(at))
            .and_then(|_| open.file.write_all(&frame))
            .and_then(|()| {
                if durable {
                    open.file.sync_data()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            // Cut off what may have reached the file, so that no record
            // ever follows a bad one.
            let cut = open.file.set_len(at).and_then(|()| open.file.sync_data());
            if let Err(cut) = cut {
                state.broken = Some(format!("a failed write could not be cut off: {cut}"));
            }
            return Err(io_err("writing the store's journal", e));
        }
        open.len = at + frame.len() as u64;
        Ok(placed(at, ranges))
    }

    /// Rewrites the journal as what it holds now (its updates, the meta and
    /// the pending batch) when what it no longer needs (metas replaced,
    /// batches sent) passes [`JOURNAL_SLACK`] and half of it. Compactions
    /// start a new journal too; this bounds one between them. Best effort:
    /// the old journal stays the live one until the new one is committed.
    fn tidy(&self, state: &mut State) -> Result<(), StoreError> {
        let Some(len) = state.journal.as_ref().map(|j| j.len) else {
            return Ok(());
        };
        let needed: u64 = state.updates.iter().map(|r| r.end - r.start).sum::<u64>()
            + match &state.outbox {
                Some(OutboxAt::Journal(r)) => r.end - r.start,
                _ => 0,
            };
        let slack = len.saturating_sub(needed);
        if slack < JOURNAL_SLACK || slack < len / 2 {
            return Ok(());
        }
        let old = self.journal_bytes(state)?;
        let updates = state
            .updates
            .iter()
            .map(|r| slice(&old, r))
            .collect::<Result<Vec<_>, _>>()?;
        let outbox = match &state.outbox {
            Some(OutboxAt::Journal(r)) => Some(slice(&old, r)?),
            _ => None,
        };
        self.start_journal(state, Self::current(state), &updates, outbox)
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let state = self.lock();
        let meta = state.meta.as_ref().map(|m| m.meta.clone());
        let journal =
            if state.updates.is_empty() && !matches!(state.outbox, Some(OutboxAt::Journal(_))) {
                Vec::new()
            } else {
                self.journal_bytes(&state)?
            };
        let outbox = match (
            state.meta.as_ref().and_then(|m| m.outbox.as_ref()),
            &state.outbox,
        ) {
            (Some(head), Some(at)) => Some(Outbox {
                key: head.key.clone(),
                from: head.from,
                to: head.to,
                envelope: match at {
                    OutboxAt::File(name) => self.read_blob(name, false)?,
                    OutboxAt::Journal(r) => slice(&journal, r)?.to_vec(),
                },
            }),
            _ => None,
        };
        let snapshot = state
            .checkpoint
            .snapshot
            .as_deref()
            .map(|n| self.read_blob(n, true))
            .transpose()?;
        let mut log = state
            .checkpoint
            .log
            .iter()
            .map(|n| self.read_blob(n, true))
            .collect::<Result<Vec<_>, _>>()?;
        for r in &state.updates {
            let update = envelope::open(slice(&journal, r)?, envelope::DEFAULT_MAX_RAW_LEN)
                .map_err(|e| StoreError::Corrupt(format!("an update in the journal: {e}")))?;
            log.push(update);
        }
        Ok(Loaded {
            meta,
            outbox,
            snapshot,
            log,
        })
    }

    /// The meta to store: `meta`, keeping the pending batch header as it
    /// is.
    fn keep_outbox(state: &State, meta: &SyncMeta) -> StoredMeta {
        StoredMeta {
            meta: meta.clone(),
            outbox: state.meta.as_ref().and_then(|m| m.outbox.clone()),
        }
    }

    fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let sealed = updates
            .iter()
            .map(|u| envelope::seal(u, LEVEL).map_err(|e| io_err("sealing an update", e)))
            .collect::<Result<Vec<_>, _>>()?;
        let blobs: Vec<&[u8]> = sealed.iter().map(Vec::as_slice).collect();
        let stored = Self::keep_outbox(&state, meta);
        let at = self.record(&mut state, journal::APPEND, &stored, &blobs, true)?;
        state
            .apply(journal::APPEND, stored, at)
            .map_err(|e| io_err("the store's journal", e))?;
        // The record is durable: a failed tidy costs only space.
        let _ = self.tidy(&mut state);
        Ok(())
    }

    fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut next = state.checkpoint.clone();
        next.snapshot = Some(self.write_blob(&mut next, "snap", snapshot, true)?);
        next.log.clear();
        next.meta = Some(Self::keep_outbox(&state, meta));
        // The pending batch goes on in the new journal.
        next.outbox = None;
        let batch = match &state.outbox {
            Some(OutboxAt::Journal(r)) => Some(slice(&self.journal_bytes(&state)?, r)?.to_vec()),
            Some(OutboxAt::File(name)) => Some(self.read_blob(name, false)?),
            None => None,
        };
        self.start_journal(&mut state, next, &[], batch.as_deref())
    }

    fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError> {
        let mut state = self.lock();
        let head = outbox.map(|o| OutboxHead {
            key: o.key.clone(),
            from: o.from,
            to: o.to,
        });
        let same = head.is_some()
            && state.outbox.is_some()
            && state.meta.as_ref().and_then(|m| m.outbox.as_ref()) == head.as_ref();
        let blobs: Vec<&[u8]> = match outbox {
            Some(o) if !same => vec![o.envelope.as_slice()],
            _ => Vec::new(),
        };
        let stored = StoredMeta {
            meta: meta.clone(),
            outbox: head,
        };
        // A batch set is not synced (see `Store::set_outbox`): the
        // journal's next synced record, at the latest the one that clears
        // it, makes it durable with everything before it.
        let at = self.record(
            &mut state,
            journal::OUTBOX,
            &stored,
            &blobs,
            outbox.is_none(),
        )?;
        state
            .apply(journal::OUTBOX, stored, at)
            .map_err(|e| io_err("the store's journal", e))?;
        // The record is written: a failed tidy costs only space.
        let _ = self.tidy(&mut state);
        Ok(())
    }
}

impl Store for FsStore {
    async fn load(&self) -> Result<Loaded, StoreError> {
        self.blocking(|inner| inner.load()).await
    }

    async fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let (updates, meta) = (updates.to_vec(), meta.clone());
        self.blocking(move |inner| inner.append(&updates, &meta))
            .await
    }

    async fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let (snapshot, meta) = (snapshot.to_vec(), meta.clone());
        self.blocking(move |inner| inner.compact(&snapshot, &meta))
            .await
    }

    async fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError> {
        let (outbox, meta) = (outbox.cloned(), meta.clone());
        self.blocking(move |inner| inner.set_outbox(outbox.as_ref(), &meta))
            .await
    }
}

#[cfg(test)]
mod tests;
