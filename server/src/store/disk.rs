//! The disk store: `<data dir>/workspaces/<ws>/` holds
//!
//! - `log`: the append-only record log ([`super::record`]);
//! - `snapshot`: the current snapshot ([`super::snapshot_file`]), replaced
//!   by write-temp, fsync, rename, fsync-directory, so a reader or a crash
//!   sees the old one or the new one.
//!
//! An append writes all the batch's records at the end of `log` and syncs
//! once before anyone is told (group commit). A failed write is cut back off;
//! if even that fails the log refuses writes until it is reopened, so a torn
//! record can never sit in front of acknowledged ones. After a snapshot the
//! log is rewritten without the entries it covers (keeping, for a while, their
//! idempotency keys), again by temp file and rename.
//!
//! Readers take the in-memory index under a read lock, then read payloads by
//! position from the file handle they were given, so a concurrent rewrite
//! never moves bytes under them.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use hearth_shared::frame::{FRAME_HEADER_LEN, FrameKind, encode_header};
use hearth_shared::id::WorkspaceId;

use super::record::{self, Kind, LOG_MAGIC};
use super::snapshot_file::{
    SNAPSHOT_HEADER_LEN, SNAPSHOT_TMP, Snap, open_snapshot, write_snapshot,
};
use super::{
    Appended, BlobStore, NewEntry, Position, Pulled, Snapshotted, StoreError, WorkspaceLog,
};
use crate::fsutil::{create_dir_private, fsync_dir};

/// The directory of all workspaces, under the data directory.
pub const WORKSPACES_DIR: &str = "workspaces";
/// File names inside a workspace directory.
pub const LOG_FILE: &str = "log";
pub const SNAPSHOT_FILE: &str = "snapshot";
const LOG_TMP: &str = "log.tmp";
/// Idempotency keys of compacted entries are kept for this many sequence
/// numbers below the floor.
pub const KEEP_KEYS_BELOW_FLOOR: u64 = 10_000;

/// The disk store rooted at `<data dir>/workspaces`.
pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    pub fn new(data_dir: &Path) -> DiskStore {
        DiskStore {
            root: data_dir.join(WORKSPACES_DIR),
        }
    }
}

impl BlobStore for DiskStore {
    fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        // `WorkspaceId` admits only 32 lowercase hex characters: a safe name.
        let dir = self.root.join(ws.as_str());
        Ok(Arc::new(DiskLog::open(&dir)?))
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
        let (log, log_len, records) = open_log(dir)?;

        let mut entries = Vec::new();
        let mut keys = HashMap::new();
        let mut head = floor;
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
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
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
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp_path)
            .map_err(io_err(&tmp_path))?;
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
        drop(out);
        let log_path = self.dir.join(LOG_FILE);
        fs::rename(&tmp_path, &log_path).map_err(io_err(&log_path))?;
        fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;

        let mut st = self.write_state();
        st.log = Arc::new(file);
        st.log_len = written;
        st.entries = new_entries;
        st.keys = new_keys;
        Ok(())
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// Opens or creates `log`, scans it and cuts off a torn tail.
fn open_log(dir: &Path) -> Result<(File, u64, Vec<record::Record>), StoreError> {
    let path = dir.join(LOG_FILE);
    let err = io_err(&path);
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    let len = file.metadata().map_err(io_err(&path))?.len();
    if len < LOG_MAGIC.len() as u64 {
        // New, or a crash while it was being created.
        file.set_len(0).map_err(io_err(&path))?;
        file.write_all_at(LOG_MAGIC, 0).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        if created {
            fsync_dir(dir).map_err(io_err(dir))?;
        }
        return Ok((file, LOG_MAGIC.len() as u64, Vec::new()));
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
    let scan = record::scan(BufReader::with_capacity(1 << 16, &mut file)).map_err(io_err(&path))?;
    if scan.valid_len < len {
        tracing::warn!(path = %path.display(), kept = scan.valid_len, found = len, "cutting a torn tail off a log");
        file.set_len(scan.valid_len).map_err(io_err(&path))?;
        file.sync_all().map_err(err)?;
    }
    Ok((file, scan.valid_len, scan.records))
}

impl WorkspaceLog for DiskLog {
    fn position(&self) -> Position {
        let st = self.read_state();
        Position {
            head: st.head,
            floor: st.floor(),
            bytes: st.bytes(),
        }
    }

    fn append(&self, entries: &[NewEntry], quota: u64) -> Result<Vec<Appended>, StoreError> {
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
            // Cut the partial write off so nothing lands behind garbage.
            if file.set_len(start).and_then(|()| file.sync_data()).is_err() {
                self.poison();
            }
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

    fn pull(&self, after: u64, max_bytes: u64) -> Result<Pulled, StoreError> {
        let frame = |len: u64| len + FRAME_HEADER_LEN as u64;
        let (position, snap, file, locs) = {
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
            let mut n = 0;
            for l in &st.entries[i..] {
                let cost = frame(u64::from(l.len));
                if (snap.is_some() || n > 0) && budget.saturating_add(cost) > max_bytes {
                    break;
                }
                budget += cost;
                n += 1;
            }
            (
                position,
                snap,
                st.log.clone(),
                st.entries[i..i + n].to_vec(),
            )
        };
        let total: u64 = locs.iter().map(|l| frame(u64::from(l.len))).sum::<u64>()
            + snap.as_ref().map_or(0, |s| frame(s.len));
        let mut body = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        if let Some(s) = snap {
            let len = u32::try_from(s.len).unwrap_or(u32::MAX);
            body.extend_from_slice(&encode_header(FrameKind::Snapshot, s.upto, len));
            let at = body.len();
            body.resize(at + len as usize, 0);
            s.file
                .read_exact_at(&mut body[at..], SNAPSHOT_HEADER_LEN)
                .map_err(io_err(&self.dir))?;
        }
        for l in locs {
            body.extend_from_slice(&encode_header(FrameKind::Entry, l.seq, l.len));
            let at = body.len();
            body.resize(at + l.len as usize, 0);
            file.read_exact_at(&mut body[at..], l.offset)
                .map_err(io_err(&self.dir))?;
        }
        Ok(Pulled { position, body })
    }

    fn put_snapshot(&self, upto: u64, data: &[u8], quota: u64) -> Result<Snapshotted, StoreError> {
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
        if (data.len() as u64).saturating_add(kept_bytes) > quota {
            return Ok(Snapshotted::OverQuota);
        }

        let snap = write_snapshot(&self.dir, upto, data)?;
        {
            let mut st = self.write_state();
            st.snapshot = Some(snap);
            st.entries.retain(|l| l.seq > upto);
        }
        // The snapshot is in; dropping the covered entries from the file is
        // housekeeping, and recovery copes if it does not happen.
        if let Err(err) = self.rewrite_log(upto) {
            tracing::warn!(error = %err, "could not drop compacted entries from a log");
        }
        Ok(Snapshotted::Done(upto))
    }
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
