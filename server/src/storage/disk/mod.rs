//! The disk store: `<data dir>/workspaces/<ws>/` holds
//!
//! - `log`: the append-only record log ([`record`]);
//! - `snapshot`: the current snapshot ([`snapshot_file`]), replaced
//!   by write-temp, fsync, rename, fsync-directory, so a reader or a crash
//!   sees the old one or the new one.
//!
//! - `quarantine/`: bytes cut off a log at open because a record was
//!   damaged, kept for an operator (see [`open_log`] and `hearth doctor`);
//! - `undo/<time>-<floor>-<upto>/`: the snapshot and log a compaction
//!   replaced (hard links, so no copy), kept for a while so that the
//!   compaction can be undone ([`DiskLog::undo_compaction`]).
//!
//! An append writes all the batch's records at the end of `log` and syncs
//! once before anyone is told (group commit). A failed write or sync poisons
//! the log: it takes no further writes, and only a fresh [`DiskLog::open`]
//! (which recovers from what is on disk) writes again. After a snapshot the
//! log is rewritten without the entries it covers (keeping, for a while, their
//! idempotency keys), again by temp file and rename; the new file is opened
//! before the rename, and a failure after the rename poisons the log.
//!
//! Readers take the in-memory index under a read lock, then read payloads by
//! position from the file handle they were given, so a concurrent rewrite
//! never moves bytes under them.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use hearth_shared::frame::{FRAME_HEADER_LEN, FrameKind, encode_header};
use hearth_shared::id::WorkspaceId;

pub mod backup;
pub mod chunks;
pub mod doctor;
pub mod record;
pub mod room;
pub mod snapshot_file;

use self::record::{Kind, LOG_MAGIC, Stop};
pub use self::snapshot_file::SNAPSHOT_FILE;
use self::snapshot_file::{
    SNAPSHOT_HEADER_LEN, SNAPSHOT_TMP, Snap, WriteFailed, open_snapshot, write_snapshot,
};
use super::{
    Appended, LogStore, NewEntry, Part, Position, PullPlan, Snapshotted, StoreError, Undone,
    WorkspaceLog,
};
use crate::clock::unix_now;
use crate::fsutil::{create_dir_private, fsync_dir, make_private, private_file};
use bytes::Bytes;

/// The directory of all workspaces, under the data directory.
pub const WORKSPACES_DIR: &str = "workspaces";
/// File names inside a workspace directory.
pub const LOG_FILE: &str = "log";
const LOG_TMP: &str = "log.tmp";
/// Where damaged tails of the log are copied before they are cut off.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Where replaced snapshots and logs are kept for undoing a compaction.
pub const UNDO_DIR: &str = "undo";
/// How long a replaced snapshot and log are kept by default (7 days).
pub const UNDO_KEEP_SECS: u64 = 7 * 24 * 60 * 60;
/// At most this many compactions of one workspace are kept for undo, so
/// that a device that compacts in a loop cannot fill the disk with them
/// (they take at most this many times the workspace's quota).
pub const UNDO_KEEP_COUNT: usize = 2;
/// The largest payload one log record holds (its body also carries the
/// fixed fields and an idempotency key of up to 128 bytes). Longer entries
/// are refused, never written.
pub const MAX_ENTRY_LEN: u64 = record::MAX_BODY_LEN as u64 - 43 - 128;
/// Idempotency keys of compacted entries are kept for this many sequence
/// numbers below the floor.
pub const KEEP_KEYS_BELOW_FLOOR: u64 = 10_000;

/// Bytes of every workspace's log and snapshot under `data_dir` (what
/// counts toward the server-wide storage limit). Blocking.
pub fn stored_bytes(data_dir: &Path) -> io::Result<u64> {
    let root = data_dir.join(WORKSPACES_DIR);
    let read = match fs::read_dir(&root) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0u64;
    for dir in read {
        let dir = dir?.path();
        for name in [LOG_FILE, SNAPSHOT_FILE] {
            match fs::metadata(dir.join(name)) {
                Ok(meta) => total = total.saturating_add(meta.len()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(total)
}

/// The disk store rooted at `<data dir>/workspaces`.
pub struct DiskStore {
    root: PathBuf,
    /// Seconds a compaction stays undoable.
    undo_keep_secs: u64,
}

impl DiskStore {
    pub fn new(data_dir: &Path) -> DiskStore {
        DiskStore {
            root: data_dir.join(WORKSPACES_DIR),
            undo_keep_secs: UNDO_KEEP_SECS,
        }
    }

    /// Keeps what a compaction replaced for `secs` seconds.
    pub fn with_undo_window(mut self, secs: u64) -> DiskStore {
        self.undo_keep_secs = secs;
        self
    }
}

#[async_trait::async_trait]
impl LogStore for DiskStore {
    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        // `WorkspaceId` admits only 32 lowercase hex characters: a safe name.
        let dir = self.root.join(ws.as_str());
        let keep = self.undo_keep_secs;
        let log = blocking(&dir.clone(), move || {
            let mut log = DiskLog::open(&dir)?;
            log.undo_keep_secs = keep;
            Ok(log)
        })
        .await?;
        Ok(Arc::new(DiskLogHandle(Arc::new(log))))
    }

    fn max_entry_len(&self) -> u64 {
        MAX_ENTRY_LEN
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Io {
            path: path.display().to_string(),
            source: io::Error::other(e.to_string()),
        })?
}

/// A [`DiskLog`] behind the [`WorkspaceLog`] trait: each call runs on the
/// blocking pool.
pub struct DiskLogHandle(pub Arc<DiskLog>);

#[async_trait::async_trait]
impl WorkspaceLog for DiskLogHandle {
    fn position(&self) -> Position {
        self.0.position()
    }

    async fn append(
        &self,
        entries: Vec<NewEntry>,
        quota: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.append(&entries, quota)).await
    }

    async fn pull(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        // A plan reads no file, but its read lock may wait for a
        // compaction's directory sync: off the async threads too.
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.pull_plan(after, max_bytes)).await
    }

    async fn put_snapshot(
        &self,
        upto: u64,
        data: Bytes,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.put_snapshot(upto, &data, quota)).await
    }

    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.undo_compaction()).await
    }

    async fn forget_compactions(&self) -> Result<usize, StoreError> {
        let log = self.0.clone();
        blocking(&self.0.dir, move || log.forget_compactions()).await
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where an entry's payload lies.
#[derive(Debug, Clone, Copy)]
struct Loc {
    seq: u64,
    offset: u64,
    len: u32,
}

/// An idempotency key's entry.
#[derive(Debug, Clone, Copy)]
struct KeyRec {
    seq: u64,
    hash: [u8; 32],
}

/// The in-memory index of a log.
struct State {
    log: Arc<File>,
    log_len: u64,
    /// Entries above the floor, ascending.
    entries: Vec<Loc>,
    keys: HashMap<String, KeyRec>,
    head: u64,
    snapshot: Option<Snap>,
    poisoned: bool,
}

impl State {
    fn floor(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.upto)
    }

    fn bytes(&self) -> u64 {
        self.log_len + self.snapshot.as_ref().map_or(0, |s| s.file_len)
    }
}

/// One workspace's log on disk.
pub struct DiskLog {
    dir: PathBuf,
    state: RwLock<State>,
    /// Serialises writers (appends and snapshots) while readers go on.
    writer: Mutex<()>,
    /// Seconds a compaction stays undoable.
    undo_keep_secs: u64,
}

impl DiskLog {
    /// Opens or creates the log in `dir`, recovering it.
    pub fn open(dir: &Path) -> Result<DiskLog, StoreError> {
        create_dir_private(dir).map_err(io_err(dir))?;
        for tmp in [LOG_TMP, SNAPSHOT_TMP] {
            let _ = fs::remove_file(dir.join(tmp));
        }
        let snapshot = open_snapshot(&dir.join(SNAPSHOT_FILE))?;
        let floor = snapshot.as_ref().map_or(0, |s| s.upto);
        let (log, log_len, records, claimed) = open_log(dir)?;

        let mut entries = Vec::new();
        let mut keys = HashMap::new();
        // A damaged or torn record's number may have been acknowledged:
        // new entries are numbered above it.
        let mut head = floor.max(claimed);
        for r in records {
            head = head.max(r.seq);
            if let Some(key) = r.key {
                keys.insert(
                    key,
                    KeyRec {
                        seq: r.seq,
                        hash: r.hash,
                    },
                );
            }
            if r.kind == Kind::Entry && r.seq > floor {
                entries.push(Loc {
                    seq: r.seq,
                    offset: r.payload_offset,
                    len: r.payload_len,
                });
            }
        }
        let state = State {
            log: Arc::new(log),
            log_len,
            entries,
            keys,
            head,
            snapshot,
            poisoned: false,
        };
        Ok(DiskLog {
            dir: dir.to_path_buf(),
            state: RwLock::new(state),
            writer: Mutex::new(()),
            undo_keep_secs: UNDO_KEEP_SECS,
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an earlier failure stopped this log from taking writes.
    fn is_poisoned(&self) -> bool {
        self.read_state().poisoned
    }

    fn poison(&self) {
        self.write_state().poisoned = true;
    }

    /// Rewrites the log without the entries at or below `floor`, keeping the
    /// recent keys. Called with the writer lock held.
    fn rewrite_log(&self, floor: u64) -> Result<(), StoreError> {
        let (old, entries, keys) = {
            let st = self.read_state();
            (st.log.clone(), st.entries.clone(), st.keys.clone())
        };
        let keep_from = floor.saturating_sub(KEEP_KEYS_BELOW_FLOOR);
        let mut by_seq: HashMap<u64, (&str, &KeyRec)> = HashMap::new();
        for (k, rec) in &keys {
            by_seq.insert(rec.seq, (k.as_str(), rec));
        }
        let mut key_only: Vec<(&str, &KeyRec)> = keys
            .iter()
            .filter(|(_, r)| r.seq <= floor && r.seq > keep_from)
            .map(|(k, r)| (k.as_str(), r))
            .collect();
        key_only.sort_by_key(|(_, r)| r.seq);

        let tmp_path = self.dir.join(LOG_TMP);
        // Opened for reading and writing now: this handle becomes the log,
        // so nothing has to be opened after the rename.
        let mut out = new_file(&tmp_path)?;
        let mut buf = LOG_MAGIC.to_vec();
        for (key, rec) in &key_only {
            record::encode(&mut buf, Kind::KeyOnly, rec.seq, &rec.hash, Some(key), &[]);
        }
        let mut new_entries = Vec::new();
        let mut new_keys: HashMap<String, KeyRec> = key_only
            .iter()
            .map(|(k, r)| ((*k).to_owned(), **r))
            .collect();
        let mut written = 0u64;
        let mut payload = Vec::new();
        for loc in entries.iter().filter(|l| l.seq > floor) {
            payload.resize(loc.len as usize, 0);
            old.read_exact_at(&mut payload, loc.offset)
                .map_err(io_err(&self.dir))?;
            let (key, hash) = match by_seq.get(&loc.seq) {
                Some((k, r)) => (Some(*k), r.hash),
                None => (None, sha256(&payload)),
            };
            let before = written + buf.len() as u64;
            record::encode(&mut buf, Kind::Entry, loc.seq, &hash, key, &payload);
            let payload_offset =
                before + record::encoded_len(key, payload.len()) - payload.len() as u64;
            new_entries.push(Loc {
                seq: loc.seq,
                offset: payload_offset,
                len: loc.len,
            });
            if let Some(k) = key {
                new_keys.insert(k.to_owned(), KeyRec { seq: loc.seq, hash });
            }
            if buf.len() > 1 << 20 {
                out.write_all(&buf).map_err(io_err(&tmp_path))?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        out.write_all(&buf).map_err(io_err(&tmp_path))?;
        written += buf.len() as u64;
        out.sync_all().map_err(io_err(&tmp_path))?;
        let log_path = self.dir.join(LOG_FILE);
        fs::rename(&tmp_path, &log_path).map_err(io_err(&log_path))?;
        // From here on the file on disk is the new log: the state must
        // follow it, or take no more writes.
        let mut st = self.write_state();
        if let Err(err) = fsync_dir(&self.dir) {
            st.poisoned = true;
            return Err(io_err(&self.dir)(err));
        }
        st.log = Arc::new(out);
        st.log_len = written;
        st.entries = new_entries;
        st.keys = new_keys;
        Ok(())
    }
}

/// Creates (or empties) an owner-only file for reading and writing: a new
/// log is written through the handle that then serves it.
fn new_file(path: &Path) -> Result<File, StoreError> {
    private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err(path))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// Opens or creates `log`, scans it and repairs it.
///
/// A torn tail (the file ends inside a record: a crash during a write that
/// was never acknowledged) is cut off. A damaged record is not cut off
/// blindly: everything from it to the end of the file is first copied into
/// `quarantine/`, then every whole record after the damage is found
/// ([`record::salvage`]) and written back after the good prefix, so that
/// one flipped bit loses one record, not all the ones after it. What was
/// lost and where the copy lies is logged (and `hearth doctor` reports it).
/// Returns the file, its valid length, its records, and the highest
/// sequence number that damaged or torn bytes claimed (0 if none), below
/// which no new entry may be numbered.
fn open_log(dir: &Path) -> Result<(File, u64, Vec<record::Record>, u64), StoreError> {
    let path = dir.join(LOG_FILE);
    let err = io_err(&path);
    let created = !path.exists();
    let mut file = private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    make_private(&path).map_err(io_err(&path))?;
    let len = file.metadata().map_err(io_err(&path))?.len();
    if len < LOG_MAGIC.len() as u64 {
        // New, or a crash while it was being created.
        file.set_len(0).map_err(io_err(&path))?;
        file.write_all_at(LOG_MAGIC, 0).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        if created {
            fsync_dir(dir).map_err(io_err(dir))?;
        }
        return Ok((file, LOG_MAGIC.len() as u64, Vec::new(), 0));
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0).map_err(io_err(&path))?;
    if &magic != LOG_MAGIC {
        return Err(StoreError::Corrupt {
            path: path.display().to_string(),
            detail: "not a hearth log".into(),
        });
    }
    file.seek(SeekFrom::Start(LOG_MAGIC.len() as u64))
        .map_err(io_err(&path))?;
    let mut scan =
        record::scan(BufReader::with_capacity(1 << 16, &mut file)).map_err(io_err(&path))?;
    if scan.valid_len >= len {
        return Ok((file, scan.valid_len, scan.records, 0));
    }

    // Nothing is cut off without a copy: read what follows the good prefix,
    // keep it in quarantine, and look for whole records in it.
    let rest_len = usize::try_from(len - scan.valid_len).map_err(|_| StoreError::Corrupt {
        path: path.display().to_string(),
        detail: "the damaged part is too large to read".into(),
    })?;
    let mut rest = vec![0u8; rest_len];
    file.read_exact_at(&mut rest, scan.valid_len)
        .map_err(io_err(&path))?;
    let last_seq = scan.records.last().map_or(0, |r| r.seq);
    let found = record::salvage(&rest, scan.valid_len, last_seq);
    // The sequence number the first cut record claims, if it is plausible:
    // it may have been acknowledged, so it is never given out again.
    let claimed = record::claimed_seq(&rest, last_seq);
    if scan.stop == Stop::Incomplete && found.is_empty() {
        // A torn tail: the file ends inside its last record, a write that
        // was cut short by a crash.
        let copy = quarantine(dir, "torn", scan.valid_len, &rest)?;
        tracing::warn!(path = %path.display(), kept = scan.valid_len, found = len, copy = %copy.display(), "cutting a torn tail off a log");
        file.set_len(scan.valid_len).map_err(io_err(&path))?;
        file.sync_all().map_err(err)?;
        return Ok((file, scan.valid_len, scan.records, claimed));
    }
    let copy = quarantine(dir, "damaged", scan.valid_len, &rest)?;
    let mut out = Vec::new();
    let mut at = scan.valid_len;
    for (mut rec, raw) in found {
        let header_and_fields = raw.len() as u64 - u64::from(rec.payload_len);
        rec.payload_offset = at + header_and_fields;
        at += raw.len() as u64;
        out.extend_from_slice(&raw);
        scan.records.push(rec);
    }
    let recovered = scan.records.len();
    file.set_len(scan.valid_len).map_err(io_err(&path))?;
    file.write_all_at(&out, scan.valid_len)
        .map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    let lost_bytes = rest.len() - out.len();
    tracing::error!(
        path = %path.display(),
        damaged_at = scan.valid_len,
        lost_bytes,
        salvaged_bytes = out.len(),
        records = recovered,
        quarantine = %copy.display(),
        "a log had a damaged record; the records after it were recovered, and the damaged part was copied aside"
    );
    let claimed = claimed.max(scan.records.last().map_or(0, |r| r.seq));
    Ok((file, at, scan.records, claimed))
}

/// Copies `bytes` (from file offset `offset` of the log) into a new file in
/// `quarantine/` named `<what>-<time>-at-<offset>` (`torn`: the tail of a
/// write a crash cut short, never acknowledged; `damaged`: a damaged record
/// and what followed it), durably, and returns its path.
fn quarantine(dir: &Path, what: &str, offset: u64, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let qdir = dir.join(QUARANTINE_DIR);
    create_dir_private(&qdir).map_err(io_err(&qdir))?;
    let name = format!("{what}-{}-at-{offset}", unix_now());
    let path = qdir.join(name);
    let mut f = private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&path))?;
    fsync_dir(&qdir).map_err(io_err(&qdir))?;
    Ok(path)
}

impl DiskLog {
    /// Where the log stands.
    pub fn position(&self) -> Position {
        let st = self.read_state();
        Position {
            head: st.head,
            floor: st.floor(),
            bytes: st.bytes(),
        }
    }

    /// Appends entries, all made durable by one sync (see
    /// [`WorkspaceLog::append`]). Blocking.
    pub fn append(&self, entries: &[NewEntry], quota: u64) -> Result<Vec<Appended>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (file, start, mut next, mut bytes, poisoned) = {
            let st = self.read_state();
            (
                st.log.clone(),
                st.log_len,
                st.head + 1,
                st.bytes(),
                st.poisoned,
            )
        };
        if poisoned {
            return Err(StoreError::Poisoned);
        }
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut buf = Vec::new();
        let mut new_locs = Vec::new();
        let mut new_keys: HashMap<&str, KeyRec> = HashMap::new();
        {
            let st = self.read_state();
            for e in entries {
                let seen = e
                    .key
                    .as_deref()
                    .and_then(|k| new_keys.get(k).or_else(|| st.keys.get(k)).copied());
                if let Some(prev) = seen {
                    outcomes.push(if prev.hash == e.hash {
                        Appended::Duplicate(prev.seq)
                    } else {
                        Appended::KeyConflict
                    });
                    continue;
                }
                if e.payload.len() as u64 > MAX_ENTRY_LEN {
                    outcomes.push(Appended::TooLarge);
                    continue;
                }
                let len = record::encoded_len(e.key.as_deref(), e.payload.len());
                if bytes.saturating_add(len) > quota {
                    outcomes.push(Appended::OverQuota);
                    continue;
                }
                let at = start + buf.len() as u64;
                record::encode(
                    &mut buf,
                    Kind::Entry,
                    next,
                    &e.hash,
                    e.key.as_deref(),
                    &e.payload,
                );
                let len32 = u32::try_from(e.payload.len()).unwrap_or(u32::MAX);
                new_locs.push(Loc {
                    seq: next,
                    offset: at + len - u64::from(len32),
                    len: len32,
                });
                if let Some(k) = e.key.as_deref() {
                    new_keys.insert(
                        k,
                        KeyRec {
                            seq: next,
                            hash: e.hash,
                        },
                    );
                }
                outcomes.push(Appended::New(next));
                next += 1;
                bytes += len;
            }
        }
        if buf.is_empty() {
            return Ok(outcomes);
        }
        let log_path = self.dir.join(LOG_FILE);
        let written = file
            .write_all_at(&buf, start)
            .and_then(|()| file.sync_data());
        if let Err(err) = written {
            // What reached the disk is unknown (after a failed fsync the
            // kernel may have dropped the pages): this log takes no more
            // writes. Cutting the partial write off is a courtesy; the next
            // open recovers from whatever is on disk either way.
            self.poison();
            let _ = file.set_len(start).and_then(|()| file.sync_data());
            return Err(io_err(&log_path)(err));
        }
        let mut st = self.write_state();
        st.log_len = start + buf.len() as u64;
        st.head = next - 1;
        st.entries.extend(new_locs);
        for (k, rec) in new_keys {
            st.keys.insert(k.to_owned(), rec);
        }
        Ok(outcomes)
    }

    /// A pull's answer, read whole (tests). Blocking.
    #[cfg(test)]
    pub fn pull(&self, after: u64, max_bytes: u64) -> Result<super::Pulled, StoreError> {
        self.pull_plan(after, max_bytes)?.read_all_blocking()
    }

    /// A pull's answer as a plan over the files this log holds open.
    pub fn pull_plan(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        let frame = |len: u64| len + FRAME_HEADER_LEN as u64;
        let st = self.read_state();
        let floor = st.floor();
        let position = Position {
            head: st.head,
            floor,
            bytes: st.bytes(),
        };
        let snap = st.snapshot.clone().filter(|_| after < floor);
        let from = after.max(floor);
        let i = st.entries.partition_point(|l| l.seq <= from);
        let mut budget = snap.as_ref().map_or(0, |s| frame(s.len));
        let mut parts = Vec::new();
        if let Some(s) = &snap {
            let len = u32::try_from(s.len).unwrap_or(u32::MAX);
            parts.push(Part::Bytes(Bytes::copy_from_slice(&encode_header(
                FrameKind::Snapshot,
                s.upto,
                len,
            ))));
            parts.push(Part::File {
                file: s.file.clone(),
                offset: SNAPSHOT_HEADER_LEN,
                len: u64::from(len),
            });
        }
        // At least one frame, even past the budget, so that a pull moves.
        let mut any = snap.is_some();
        for l in st.entries.get(i..).unwrap_or_default() {
            let cost = frame(u64::from(l.len));
            if any && budget.saturating_add(cost) > max_bytes {
                break;
            }
            budget += cost;
            any = true;
            parts.push(Part::Bytes(Bytes::copy_from_slice(&encode_header(
                FrameKind::Entry,
                l.seq,
                l.len,
            ))));
            parts.push(Part::File {
                file: st.log.clone(),
                offset: l.offset,
                len: u64::from(l.len),
            });
        }
        Ok(PullPlan {
            position,
            parts,
            len: budget,
            path: self.dir.display().to_string(),
        })
    }

    /// Swaps in a snapshot (see [`WorkspaceLog::put_snapshot`]). Blocking.
    pub fn put_snapshot(
        &self,
        upto: u64,
        data: &[u8],
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (head, floor, kept_bytes, poisoned) = {
            let st = self.read_state();
            let kept: u64 = st
                .entries
                .iter()
                .filter(|l| l.seq > upto)
                .map(|l| u64::from(l.len) + 64)
                .sum();
            (st.head, st.floor(), kept, st.poisoned)
        };
        if poisoned {
            return Err(StoreError::Poisoned);
        }
        if upto > head || upto < floor {
            return Ok(Snapshotted::Conflict { head, floor });
        }
        if data.len() as u64 > MAX_ENTRY_LEN {
            return Ok(Snapshotted::TooLarge);
        }
        if (data.len() as u64).saturating_add(kept_bytes) > quota {
            return Ok(Snapshotted::OverQuota);
        }

        // Keep what is replaced, so that the compaction can be undone.
        let now = unix_now();
        let kept = self.keep_for_undo(now, floor, upto)?;
        let snap = match write_snapshot(&self.dir, upto, data) {
            Ok(snap) => snap,
            Err(WriteFailed::Before(err)) => {
                // Nothing changed: no undo point for a compaction that did
                // not happen.
                let _ = fs::remove_dir_all(&kept);
                return Err(err);
            }
            Err(WriteFailed::After(err)) => {
                self.poison();
                return Err(err);
            }
        };
        {
            let mut st = self.write_state();
            st.snapshot = Some(snap);
            st.entries.retain(|l| l.seq > upto);
        }
        self.purge_undo(now);
        // The snapshot is in; dropping the covered entries from the file is
        // housekeeping, and recovery copes if it does not happen (entries at
        // or below the floor are skipped). A failure after the new log was
        // renamed into place has poisoned the log, and is reported.
        if let Err(err) = self.rewrite_log(upto) {
            let _ = fs::remove_file(self.dir.join(LOG_TMP));
            if self.is_poisoned() {
                return Err(err);
            }
            tracing::warn!(error = %err, "could not drop compacted entries from a log");
        }
        Ok(Snapshotted::Done(upto))
    }

    /// Deletes what compactions kept for undo. Blocking.
    pub fn forget_compactions(&self) -> Result<usize, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let kept = self.kept();
        let n = kept.len();
        for kept in kept {
            fs::remove_dir_all(&kept.dir).map_err(io_err(&kept.dir))?;
        }
        if n > 0 {
            let undo = self.dir.join(UNDO_DIR);
            fsync_dir(&undo).map_err(io_err(&undo))?;
        }
        Ok(n)
    }

    /// Undoes the latest compaction still kept. Blocking.
    pub fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        self.purge_undo(unix_now());
        let Some(kept) = self.latest_undo()? else {
            return Ok(None);
        };
        self.restore_undo(&kept).map(Some)
    }
}

/// What one compaction replaced, kept in `undo/<time>-<floor>-<upto>[.n]/`.
struct Kept {
    dir: PathBuf,
    time: u64,
    /// The compaction's `upto`, then the tie-breaker `n`: compactions of one
    /// second are ordered by these (floors only rise), never by name.
    upto: u64,
    n: u64,
}

impl DiskLog {
    /// Hard-links the current snapshot and log into a new undo directory.
    /// Nothing is copied: the rename of the compaction's new files leaves
    /// the old ones reachable through these links.
    fn keep_for_undo(&self, now: u64, floor: u64, upto: u64) -> Result<PathBuf, StoreError> {
        let undo = self.dir.join(UNDO_DIR);
        create_dir_private(&undo).map_err(io_err(&undo))?;
        let mut n = 0u32;
        let kept = loop {
            let name = if n == 0 {
                format!("{now}-{floor}-{upto}")
            } else {
                format!("{now}-{floor}-{upto}.{n}")
            };
            let path = undo.join(name);
            if !path.exists() {
                break path;
            }
            n += 1;
        };
        let tmp = undo.join(".incomplete");
        let _ = fs::remove_dir_all(&tmp);
        create_dir_private(&tmp).map_err(io_err(&tmp))?;
        for name in [SNAPSHOT_FILE, LOG_FILE] {
            let src = self.dir.join(name);
            if src.exists() {
                fs::hard_link(&src, tmp.join(name)).map_err(io_err(&src))?;
            }
        }
        fsync_dir(&tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &kept).map_err(io_err(&kept))?;
        fsync_dir(&undo).map_err(io_err(&undo))?;
        Ok(kept)
    }

    /// The kept compactions, oldest first.
    fn kept(&self) -> Vec<Kept> {
        let undo = self.dir.join(UNDO_DIR);
        let Ok(read) = fs::read_dir(&undo) else {
            return Vec::new();
        };
        let mut kept: Vec<Kept> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (stem, n) = match name.split_once('.') {
                    Some((stem, n)) => (stem.to_owned(), n.parse().ok()?),
                    None => (name.clone(), 0),
                };
                let mut parts = stem.split('-');
                let time = parts.next()?.parse().ok()?;
                let _floor: u64 = parts.next()?.parse().ok()?;
                let upto = parts.next()?.parse().ok()?;
                Some(Kept {
                    dir: e.path(),
                    time,
                    upto,
                    n,
                })
            })
            .collect();
        kept.sort_by_key(|k| (k.time, k.upto, k.n));
        kept
    }

    fn latest_undo(&self) -> Result<Option<Kept>, StoreError> {
        Ok(self.kept().pop())
    }

    /// Deletes what compactions older than the undo window replaced, and all
    /// but the newest [`UNDO_KEEP_COUNT`].
    fn purge_undo(&self, now: u64) {
        let kept = self.kept();
        let excess = kept.len().saturating_sub(UNDO_KEEP_COUNT);
        for (i, kept) in kept.into_iter().enumerate() {
            if (i < excess || kept.time.saturating_add(self.undo_keep_secs) < now)
                && let Err(err) = fs::remove_dir_all(&kept.dir)
            {
                tracing::warn!(path = %kept.dir.display(), error = %err, "cannot remove an expired compaction undo");
            }
        }
    }

    /// Puts back the snapshot and log of `kept`, keeping every entry that
    /// arrived after that compaction. Called with the writer lock held.
    ///
    /// The log is restored first, the snapshot second: between the two the
    /// old entries lie below the (new) floor and are not served, so a crash
    /// at any point leaves either the compacted or the restored state.
    fn restore_undo(&self, kept: &Kept) -> Result<Undone, StoreError> {
        let old_log = kept.dir.join(LOG_FILE);
        let old_snapshot = open_snapshot(&kept.dir.join(SNAPSHOT_FILE))?;
        let old_records = scan_file(&old_log)?;
        let old_top = old_records.last().map_or(0, |(r, _)| r.seq);
        let (cur_file, cur_entries, cur_keys) = {
            let st = self.read_state();
            (st.log.clone(), st.entries.clone(), st.keys.clone())
        };
        let mut buf = LOG_MAGIC.to_vec();
        for (_, raw) in &old_records {
            buf.extend_from_slice(raw);
        }
        // Entries pushed after the compaction (above what the old log held).
        let mut by_seq: HashMap<u64, (&str, [u8; 32])> = HashMap::new();
        for (k, rec) in &cur_keys {
            by_seq.insert(rec.seq, (k.as_str(), rec.hash));
        }
        let mut payload = Vec::new();
        for loc in cur_entries.iter().filter(|l| l.seq > old_top) {
            payload.resize(loc.len as usize, 0);
            cur_file
                .read_exact_at(&mut payload, loc.offset)
                .map_err(io_err(&self.dir))?;
            let (key, hash) = match by_seq.get(&loc.seq) {
                Some((k, h)) => (Some(*k), *h),
                None => (None, sha256(&payload)),
            };
            record::encode(&mut buf, Kind::Entry, loc.seq, &hash, key, &payload);
        }
        let tmp_path = self.dir.join(LOG_TMP);
        let mut out = new_file(&tmp_path)?;
        out.write_all(&buf)
            .and_then(|()| out.sync_all())
            .map_err(io_err(&tmp_path))?;
        let log_path = self.dir.join(LOG_FILE);
        fs::rename(&tmp_path, &log_path).map_err(io_err(&log_path))?;
        let after = (|| {
            fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
            let snap_path = self.dir.join(SNAPSHOT_FILE);
            match &old_snapshot {
                Some(_) => {
                    let tmp = self.dir.join(SNAPSHOT_TMP);
                    fs::hard_link(kept.dir.join(SNAPSHOT_FILE), &tmp).map_err(io_err(&tmp))?;
                    fs::rename(&tmp, &snap_path).map_err(io_err(&snap_path))?;
                }
                None => match fs::remove_file(&snap_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&snap_path)(e)),
                },
            }
            fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
            fs::remove_dir_all(&kept.dir).map_err(io_err(&kept.dir))?;
            Ok(())
        })();
        if let Err(err) = after {
            self.poison();
            return Err(err);
        }
        // Rebuild the in-memory index from what is now on disk.
        let fresh = DiskLog::open(&self.dir)?;
        let fresh_state = fresh.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let undone = Undone {
            floor: fresh_state.floor(),
            head: fresh_state.head,
        };
        *self.write_state() = fresh_state;
        Ok(undone)
    }
}

/// Every record of a log file with its raw bytes (a whole prefix: scanning
/// stops at the first bad record).
fn scan_file(path: &Path) -> Result<Vec<(record::Record, Vec<u8>)>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let Some(body) = bytes
        .get(LOG_MAGIC.len()..)
        .filter(|_| bytes.starts_with(LOG_MAGIC))
    else {
        return Err(StoreError::Corrupt {
            path: path.display().to_string(),
            detail: "not a hearth log".into(),
        });
    };
    let scan = record::scan(body).map_err(io_err(path))?;
    let mut out = Vec::with_capacity(scan.records.len());
    let mut at = LOG_MAGIC.len();
    for r in scan.records {
        let len = usize::try_from(record::encoded_len(
            r.key.as_deref(),
            r.payload_len as usize,
        ))
        .unwrap_or(usize::MAX);
        let raw = bytes
            .get(at..at.saturating_add(len))
            .unwrap_or_default()
            .to_vec();
        at = at.saturating_add(len);
        out.push((r, raw));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
