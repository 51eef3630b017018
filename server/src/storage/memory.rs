//! An in-memory [`LogStore`] and [`MemoryChunks`]: the same behaviour as the disk store without
//! durability, for tests of code above the store (and as a second
//! implementation that keeps the trait honest).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use hearth_shared::frame::{FRAME_HEADER_LEN, FrameKind, encode_frame};
use std::time::SystemTime;

use bytes::Bytes;
use hearth_shared::id::{ChunkName, WorkspaceId};

use super::chunks::{ChunkError, ChunkStore, Put, RoomCheck};
use super::{
    Appended, KeyRow, LogDump, LogStore, NewEntry, Position, PullPlan, Pulled, Snapshotted,
    StoreError, Undone, WorkspaceLog,
};

/// Workspaces in memory; opening the same id twice gives the same log.
#[derive(Default)]
pub struct MemoryStore {
    logs: Mutex<HashMap<WorkspaceId, Arc<MemoryLog>>>,
}

#[async_trait::async_trait]
impl LogStore for MemoryStore {
    fn max_entry_len(&self) -> u64 {
        u64::from(u32::MAX)
    }

    async fn stored_bytes(&self, ws: &WorkspaceId) -> Result<u64, StoreError> {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(logs.get(ws).map_or(0, |log| log.lock().bytes()))
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.remove(ws);
        Ok(())
    }

    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log: Arc<MemoryLog> = logs.entry(ws.clone()).or_default().clone();
        Ok(log)
    }

    async fn load(&self, ws: &WorkspaceId, dump: LogDump) -> Result<(), StoreError> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.contains_key(ws) {
            return Err(StoreError::Failed {
                at: format!("workspace {ws}"),
                detail: "it has a log already".into(),
            });
        }
        let state = State {
            entries: dump.entries.into_iter().collect(),
            keys: dump
                .keys
                .into_iter()
                .map(|k| (k.key, (k.seq, k.hash)))
                .collect(),
            head: dump.head,
            snapshot: dump.snapshot.map(|s| (dump.floor, s.to_vec())),
            undo: Vec::new(),
        };
        logs.insert(
            ws.clone(),
            Arc::new(MemoryLog {
                state: Mutex::new(state),
            }),
        );
        Ok(())
    }
}

#[derive(Default)]
struct State {
    entries: BTreeMap<u64, bytes::Bytes>,
    keys: HashMap<String, (u64, [u8; 32])>,
    head: u64,
    snapshot: Option<(u64, Vec<u8>)>,
    /// What each compaction replaced (snapshot, entries), newest last.
    undo: Vec<Replaced>,
}

/// A snapshot and the entries beside it, as a compaction found them.
type Replaced = (Option<(u64, Vec<u8>)>, BTreeMap<u64, bytes::Bytes>);

impl State {
    fn floor(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.0)
    }

    fn bytes(&self) -> u64 {
        let entries: usize = self
            .entries
            .values()
            .map(|e| e.len() + FRAME_HEADER_LEN)
            .sum();
        (entries + self.snapshot.as_ref().map_or(0, |s| s.1.len())) as u64
    }
}

/// One workspace in memory.
#[derive(Default)]
pub struct MemoryLog {
    state: Mutex<State>,
}

impl MemoryLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl WorkspaceLog for MemoryLog {
    fn position(&self) -> Position {
        let st = self.lock();
        Position {
            head: st.head,
            floor: st.floor(),
            bytes: st.bytes(),
        }
    }

    async fn append(
        &self,
        entries: Vec<NewEntry>,
        quota: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        let mut st = self.lock();
        let mut out = Vec::with_capacity(entries.len());
        for e in &entries {
            if let Some(&(seq, hash)) = e.key.as_ref().and_then(|k| st.keys.get(k)) {
                out.push(if hash == e.hash {
                    Appended::Duplicate(seq)
                } else {
                    Appended::KeyConflict
                });
                continue;
            }
            if st
                .bytes()
                .saturating_add(e.payload.len() + FRAME_HEADER_LEN as u64)
                > quota
            {
                out.push(Appended::OverQuota);
                continue;
            }
            st.head += 1;
            let seq = st.head;
            let payload = e
                .payload
                .read_all()
                .map_err(|e| StoreError::io("memory", e))?;
            st.entries.insert(seq, payload);
            if let Some(k) = &e.key {
                st.keys.insert(k.clone(), (seq, e.hash));
            }
            out.push(Appended::New(seq));
        }
        Ok(out)
    }

    async fn pull(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        let st = self.lock();
        let floor = st.floor();
        let mut body = Vec::new();
        if after < floor
            && let Some((upto, data)) = &st.snapshot
        {
            encode_frame(&mut body, FrameKind::Snapshot, *upto, data);
        }
        for (seq, payload) in st.entries.range(after.max(floor) + 1..) {
            let cost = (payload.len() + FRAME_HEADER_LEN) as u64;
            if !body.is_empty() && body.len() as u64 + cost > max_bytes {
                break;
            }
            encode_frame(&mut body, FrameKind::Entry, *seq, payload);
        }
        Ok(PullPlan::whole(Pulled {
            position: Position {
                head: st.head,
                floor,
                bytes: st.bytes(),
            },
            body,
        }))
    }

    async fn put_snapshot(
        &self,
        upto: u64,
        data: super::payload::Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        let data = data.read_all().map_err(|e| StoreError::io("memory", e))?;
        let mut st = self.lock();
        let (head, floor) = (st.head, st.floor());
        if upto > head || upto < floor {
            return Ok(Snapshotted::Conflict { head, floor });
        }
        if data.len() as u64 > quota {
            return Ok(Snapshotted::OverQuota);
        }
        let replaced = (st.snapshot.clone(), st.entries.clone());
        st.undo.push(replaced);
        st.snapshot = Some((upto, data.to_vec()));
        st.entries.retain(|seq, _| *seq > upto);
        Ok(Snapshotted::Done(upto))
    }

    async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(self
            .lock()
            .keys
            .iter()
            .map(|(key, (seq, hash))| KeyRow {
                key: key.clone(),
                seq: *seq,
                hash: *hash,
            })
            .collect())
    }

    async fn forget_compactions(&self) -> Result<usize, StoreError> {
        let mut st = self.lock();
        let n = st.undo.len();
        st.undo.clear();
        Ok(n)
    }

    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        let mut st = self.lock();
        let Some((snapshot, entries)) = st.undo.pop() else {
            return Ok(None);
        };
        let top = entries.keys().next_back().copied().unwrap_or(0);
        let newer: Vec<(u64, bytes::Bytes)> = st
            .entries
            .range(top + 1..)
            .map(|(s, e)| (*s, e.clone()))
            .collect();
        st.snapshot = snapshot;
        st.entries = entries;
        st.entries.extend(newer);
        Ok(Some(Undone {
            floor: st.floor(),
            head: st.head,
        }))
    }
}

/// A workspace's chunks: each with the time it was set aside, if it was.
type Chunks = HashMap<ChunkName, (Bytes, Option<SystemTime>)>;

/// Attached files' chunks in memory.
pub struct MemoryChunks {
    grace_secs: u64,
    chunks: Mutex<HashMap<WorkspaceId, Chunks>>,
}

impl MemoryChunks {
    pub fn new(grace_secs: u64) -> MemoryChunks {
        MemoryChunks {
            grace_secs,
            chunks: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Chunks>> {
        self.chunks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl ChunkStore for MemoryChunks {
    async fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: super::payload::Payload,
        room: RoomCheck,
    ) -> Result<(Put, u64), ChunkError> {
        let read = |e: std::io::Error| ChunkError::Other(e.to_string());
        let digest = data.sha256().map_err(read)?;
        let data = data.read_all().map_err(read)?;
        if &digest != name.digest() {
            return Ok((Put::Mismatch, 0));
        }
        let mut all = self.lock();
        let chunks = all.entry(ws.clone()).or_default();
        if let Some(kept) = chunks.get_mut(name) {
            kept.1 = None;
            return Ok((Put::Existed, 0));
        }
        let used: u64 = chunks.values().map(|(b, _)| b.len() as u64).sum();
        let len = data.len() as u64;
        if !room(used, len) {
            return Ok((Put::Refused, 0));
        }
        chunks.insert(*name, (data, None));
        Ok((Put::Created, len))
    }

    async fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> Result<Option<Bytes>, ChunkError> {
        let mut all = self.lock();
        Ok(all.get_mut(ws).and_then(|c| c.get_mut(name)).map(|kept| {
            kept.1 = None;
            kept.0.clone()
        }))
    }

    async fn missing(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
    ) -> Result<Vec<ChunkName>, ChunkError> {
        let mut all = self.lock();
        let chunks = all.entry(ws.clone()).or_default();
        Ok(names
            .into_iter()
            .filter(|n| match chunks.get_mut(n) {
                Some(kept) => {
                    kept.1 = None;
                    false
                }
                None => true,
            })
            .collect())
    }

    async fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
        now: SystemTime,
    ) -> Result<u64, ChunkError> {
        let mut all = self.lock();
        let chunks = all.entry(ws.clone()).or_default();
        let mut marked = 0;
        for name in names {
            if let Some(kept) = chunks.get_mut(&name)
                && kept.1.is_none()
            {
                kept.1 = Some(now);
                marked += 1;
            }
        }
        Ok(marked)
    }

    async fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> Result<u64, ChunkError> {
        let cutoff = now
            .checked_sub(std::time::Duration::from_secs(self.grace_secs))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut all = self.lock();
        let chunks = all.entry(ws.clone()).or_default();
        let mut freed = 0;
        chunks.retain(|_, (bytes, aside)| {
            let gone = aside.is_some_and(|at| at <= cutoff);
            if gone {
                freed += bytes.len() as u64;
            }
            !gone
        });
        Ok(freed)
    }

    async fn list(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Vec<(ChunkName, Option<SystemTime>)>, ChunkError> {
        Ok(self
            .lock()
            .get(ws)
            .map(|c| c.iter().map(|(n, (_, aside))| (*n, *aside)).collect())
            .unwrap_or_default())
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        Ok(self
            .lock()
            .remove(ws)
            .map_or(0, |c| c.values().map(|(b, _)| b.len() as u64).sum()))
    }

    async fn bytes_used(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        Ok(self
            .lock()
            .get(ws)
            .map_or(0, |c| c.values().map(|(b, _)| b.len() as u64).sum()))
    }

    async fn pending(&self, _everywhere: bool) -> Vec<WorkspaceId> {
        self.lock()
            .iter()
            .filter(|(_, c)| c.values().any(|(_, aside)| aside.is_some()))
            .map(|(ws, _)| ws.clone())
            .collect()
    }

    fn grace_secs(&self) -> u64 {
        self.grace_secs
    }
}

/// The chunk stores to run the contract on: `HEARTH_TEST_CHUNK_STORES`
/// (comma-separated: `disk`, `memory`, `cluster`), or every one this
/// crate has.
#[cfg(test)]
fn chunk_stores() -> Vec<String> {
    crate::storage::backends_named("HEARTH_TEST_CHUNK_STORES", "disk,memory,cluster")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hearth_shared::frame::decode_frames;

    #[tokio::test]
    async fn every_chunk_store_keeps_the_contract() {
        for name in chunk_stores() {
            let dir = tempfile::tempdir().unwrap();
            let store: Box<dyn ChunkStore> = match name.as_str() {
                "disk" => Box::new(crate::storage::disk::chunks::DiskChunkStore(
                    std::sync::Arc::new(crate::storage::disk::chunks::DiskChunks::new(
                        dir.path(),
                        60,
                    )),
                )),
                "memory" => Box::new(MemoryChunks::new(60)),
                "cluster" => Box::new(crate::storage::cluster::chunks::ClusterChunks::new(
                    crate::storage::cluster::testing::fresh().await,
                    60,
                )),
                other => panic!("no chunk store called {other} (HEARTH_TEST_CHUNK_STORES)"),
            };
            crate::storage::chunks::contract::keeps_chunks(store.as_ref()).await;
        }
    }

    #[tokio::test]
    async fn the_memory_store_keeps_the_contract() {
        let store = MemoryStore::default();
        let ws = WorkspaceId::from_random([1; 16]);
        let log = store.open(&ws).await.unwrap();
        let e = |k: &str, b: &'static [u8]| NewEntry {
            key: Some(k.into()),
            hash: [b[0]; 32],
            payload: Bytes::from_static(b).into(),
        };
        let out = log
            .append(
                vec![e("a", b"1"), e("a", b"1"), e("a", b"2"), e("b", b"3")],
                u64::MAX,
            )
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                Appended::New(1),
                Appended::Duplicate(1),
                Appended::KeyConflict,
                Appended::New(2)
            ]
        );
        assert_eq!(
            log.put_snapshot(3, Bytes::from_static(b"s").into(), u64::MAX)
                .await
                .unwrap(),
            Snapshotted::Conflict { head: 2, floor: 0 }
        );
        assert_eq!(
            log.put_snapshot(1, Bytes::from_static(b"s").into(), u64::MAX)
                .await
                .unwrap(),
            Snapshotted::Done(1)
        );
        let pulled = log
            .pull(0, u64::MAX)
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        let frames = decode_frames(&pulled.body).unwrap();
        assert_eq!(
            frames.iter().map(|f| (f.kind, f.seq)).collect::<Vec<_>>(),
            vec![(FrameKind::Snapshot, 1), (FrameKind::Entry, 2)]
        );
        assert_eq!(
            store.open(&ws).await.unwrap().position().head,
            2,
            "the same log again"
        );
    }
}
