//! What `hearth migrate` needs of the disk backend: listing a workspace's
//! chunks, and writing a workspace's log from a [`LogDump`]: the snapshot file, then a log file of records in
//! sequence order, as a compaction writes them: a key-only record for
//! each key at or below the floor, an entry record (with its key, if it
//! had one) for each entry above it, and a key-only record without a key
//! at the head if no entry holds it, so the head survives the move.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use std::io;
use std::time::SystemTime;

use hearth_shared::id::{ChunkName, WorkspaceId};
use sha2::{Digest as _, Sha256};

use super::chunks::{DiskChunks, TMP_DIR, UNREFERENCED_DIR, chunks_dir};

use super::record::{self, Kind, LOG_MAGIC};
use super::snapshot_file::{SNAPSHOT_FILE, WriteFailed, write_snapshot};
use super::{LOG_FILE, LOG_TMP, io_err};
use crate::fsutil::{create_dir_private, fsync_dir, private_file};
use crate::storage::payload::Payload;
use crate::storage::{LogDump, StoreError};

/// A record to write: seq, kind, key, hash, payload.
type Rec<'a> = (u64, Kind, Option<&'a str>, [u8; 32], &'a [u8]);

/// Writes `dump` as the log in `dir`, which must hold none. Blocking.
pub fn load(dir: &Path, dump: &LogDump) -> Result<(), StoreError> {
    create_dir_private(dir).map_err(io_err(dir))?;
    for name in [LOG_FILE, SNAPSHOT_FILE] {
        if dir.join(name).exists() {
            return Err(StoreError::Failed {
                at: dir.display().to_string(),
                detail: "it has a log already".into(),
            });
        }
    }
    if let Some(snapshot) = &dump.snapshot {
        write_snapshot(dir, dump.floor, &Payload::from(snapshot.clone())).map_err(|e| match e {
            WriteFailed::Before(e) | WriteFailed::After(e) => e,
        })?;
    }
    let by_seq: HashMap<u64, &crate::storage::KeyRow> =
        dump.keys.iter().map(|k| (k.seq, k)).collect();
    let mut records: Vec<Rec<'_>> = Vec::new();
    let entry_seqs: std::collections::HashSet<u64> =
        dump.entries.iter().map(|(seq, _)| *seq).collect();
    for k in &dump.keys {
        if !entry_seqs.contains(&k.seq) {
            records.push((k.seq, Kind::KeyOnly, Some(&k.key), k.hash, &[]));
        }
    }
    for (seq, payload) in &dump.entries {
        let (key, hash) = match by_seq.get(seq) {
            Some(k) => (Some(k.key.as_str()), k.hash),
            None => (None, Sha256::digest(payload).into()),
        };
        records.push((*seq, Kind::Entry, key, hash, payload));
    }
    records.sort_by_key(|r| r.0);
    let top = records.last().map_or(0, |r| r.0);
    if dump.head > top.max(dump.floor) {
        records.push((dump.head, Kind::KeyOnly, None, [0; 32], &[]));
    }
    let mut out = LOG_MAGIC.to_vec();
    for (seq, kind, key, hash, payload) in records {
        record::encode(&mut out, kind, seq, &hash, key, payload);
    }
    let tmp = dir.join(LOG_TMP);
    let path = dir.join(LOG_FILE);
    let mut f = private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(&out)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    fsync_dir(dir).map_err(io_err(dir))
}

/// Every chunk of `ws`: the live ones in their two-character
/// directories, the set-aside ones with their time.
pub fn list_chunks(
    chunks: &DiskChunks,
    ws: &WorkspaceId,
) -> io::Result<Vec<(ChunkName, Option<SystemTime>)>> {
    let dir = chunks_dir(chunks.root(), ws);
    let mut found = Vec::new();
    let read = |d: &Path| match fs::read_dir(d) {
        Ok(rd) => rd.collect::<io::Result<Vec<_>>>(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    for sub in read(&dir)? {
        let sub_name = sub.file_name();
        let aside = sub_name == UNREFERENCED_DIR;
        if sub_name == TMP_DIR || !sub.file_type()?.is_dir() {
            continue;
        }
        for file in read(&sub.path())? {
            let Some(name) = file.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let when = if aside {
                Some(file.metadata()?.modified()?)
            } else {
                None
            };
            found.push((name, when));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hearth_shared::id::WorkspaceId;

    use crate::storage::disk::DiskStore;
    use crate::storage::{KeyRow, LogDump, LogStore as _};

    #[tokio::test]
    async fn a_loaded_log_reads_back_as_the_dump() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::new(dir.path());
        let ws = WorkspaceId::from_random([5; 16]);
        let dump = LogDump {
            head: 9,
            floor: 4,
            snapshot: Some(Bytes::from_static(b"up to four")),
            entries: vec![
                (5, Bytes::from_static(b"five")),
                (7, Bytes::from_static(b"seven")),
            ],
            keys: vec![
                KeyRow {
                    key: "a".into(),
                    seq: 2,
                    hash: [2; 32],
                },
                KeyRow {
                    key: "b".into(),
                    seq: 7,
                    hash: [7; 32],
                },
            ],
        };
        store.load(&ws, dump.clone()).await.unwrap();
        let log = store.open(&ws).await.unwrap();
        assert_eq!(LogDump::of(log.as_ref()).await.unwrap(), dump);
        assert!(store.load(&ws, dump).await.is_err(), "never over a log");
    }
}
