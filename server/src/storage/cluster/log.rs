//! [`ClusterStore`]: workspace logs on PostgreSQL and an object store.
//!
//! Each workspace has a row in `logs` that every writer of it locks
//! (`SELECT … FOR UPDATE`), so appends to one workspace are serialised
//! across all nodes: a sequence number is taken only while the row is
//! held, and the row is let go only at commit, so a reader never sees a
//! gap that later fills. One group commit is one transaction. Idempotency
//! keys live beside the entries, checked under the same lock, so a retry
//! that reaches another node lands once.
//!
//! Entries up to [`INLINE_MAX`] bytes are kept in the row; larger ones,
//! and snapshots, are objects. A compaction marks the entries it covers
//! (`dropped_by`) instead of deleting them, so that it can be undone for
//! the undo window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::storage::payload::Payload;
use futures::{StreamExt as _, TryStreamExt as _};
use hearth_shared::frame::{FRAME_HEADER_LEN, FrameKind, encode_header};
use hearth_shared::id::WorkspaceId;

use super::objects::ObjectError;
use super::{Cluster, from_db, to_db};
use crate::storage::{
    Appended, KeyRow, LogDump, LogStore, NewEntry, Part, Position, PullPlan, Snapshotted,
    StoreError, Undone, WorkspaceLog,
};

/// Entries up to this many bytes are kept in the database; larger ones
/// are objects.
pub const INLINE_MAX: usize = 64 * 1024;
/// The largest entry or snapshot (a pull holds a snapshot in memory).
pub const MAX_ENTRY_LEN: u64 = 256 << 20;
/// Object reads a pull keeps in flight.
const PARALLEL_READS: usize = 8;
/// The frame header's bytes, as the byte counts use them.
pub(super) const HEADER: i64 = FRAME_HEADER_LEN as i64;

/// Workspace logs in the cluster's database and object store.
pub struct ClusterStore {
    cluster: Cluster,
    /// Seconds a compaction can be undone.
    undo_secs: u64,
}

impl ClusterStore {
    pub fn new(cluster: Cluster, undo_secs: u64) -> ClusterStore {
        ClusterStore { cluster, undo_secs }
    }
}

pub(super) fn now() -> u64 {
    crate::clock::unix_now()
}

#[async_trait::async_trait]
impl LogStore for ClusterStore {
    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        let id = ws.to_string();
        let client = self.cluster.client().await?;
        client
            .execute(
                "INSERT INTO logs (workspace_id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&id],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT head, floor, bytes FROM logs WHERE workspace_id = $1",
                &[&id],
            )
            .await?;
        Ok(Arc::new(ClusterLog {
            position: Mutex::new(position(&row)),
            dir: format!("w/{id}"),
            ws: id,
            cluster: self.cluster.clone(),
            undo_secs: self.undo_secs,
        }))
    }

    fn max_entry_len(&self) -> u64 {
        MAX_ENTRY_LEN
    }

    async fn stored_bytes(&self, ws: &WorkspaceId) -> Result<u64, StoreError> {
        let row = self
            .cluster
            .client()
            .await?
            .query_opt(
                "SELECT bytes FROM logs WHERE workspace_id = $1",
                &[&ws.to_string()],
            )
            .await?;
        Ok(row.map_or(0, |r| from_db(r.get(0))))
    }

    async fn load(&self, ws: &WorkspaceId, dump: LogDump) -> Result<(), StoreError> {
        self.load_dump(ws, dump).await
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        let id = ws.to_string();
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        let mut names: Vec<String> = Vec::new();
        for sql in [
            "DELETE FROM entries WHERE workspace_id = $1 AND object IS NOT NULL RETURNING object",
            "DELETE FROM compactions WHERE workspace_id = $1 AND prev_snapshot IS NOT NULL RETURNING prev_snapshot",
            "DELETE FROM logs WHERE workspace_id = $1 AND snapshot IS NOT NULL RETURNING snapshot",
        ] {
            names.extend(tx.query(sql, &[&id]).await?.iter().map(|r| r.get(0)));
        }
        for table in ["entries", "entry_keys", "compactions", "logs"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE workspace_id = $1"),
                &[&id],
            )
            .await?;
        }
        list_as_garbage(&tx, &names).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A key from `row`'s columns `at` (key), `at + 1` (seq), `at + 2` (hash).
pub fn key_row(row: &tokio_postgres::Row, at: usize) -> KeyRow {
    KeyRow {
        key: row.get(at),
        seq: from_db(row.get(at + 1)),
        hash: row
            .get::<_, Vec<u8>>(at + 2)
            .as_slice()
            .try_into()
            .unwrap_or([0; 32]),
    }
}

pub(super) fn position(row: &tokio_postgres::Row) -> Position {
    Position {
        head: from_db(row.get("head")),
        floor: from_db(row.get("floor")),
        bytes: from_db(row.get("bytes")),
    }
}

/// Lists objects as garbage in the transaction that lets go of them.
pub(super) async fn list_as_garbage(
    tx: &deadpool_postgres::Transaction<'_>,
    names: &[String],
) -> Result<(), tokio_postgres::Error> {
    if !names.is_empty() {
        tx.execute(
            "INSERT INTO garbage (object, since) SELECT unnest($1::TEXT[]), $2
             ON CONFLICT (object) DO NOTHING",
            &[&names, &to_db(now())],
        )
        .await?;
    }
    Ok(())
}

/// One workspace's log in the cluster.
pub struct ClusterLog {
    pub(super) ws: String,
    /// Where its objects are named: `w/<workspace>`.
    pub(super) dir: String,
    pub(super) cluster: Cluster,
    pub(super) undo_secs: u64,
    /// Where the log stood when this node last looked.
    position: Mutex<Position>,
}

impl ClusterLog {
    pub(super) fn saw(&self, position: Position) {
        *self.position.lock().unwrap_or_else(|p| p.into_inner()) = position;
    }

    pub(super) fn gone(&self) -> StoreError {
        StoreError::Failed {
            at: format!("workspace {}", self.ws),
            detail: "its log was deleted".into(),
        }
    }

    /// One attempt at a pull; `Ok(None)` when an object it named was
    /// deleted meanwhile (a compaction let go of it): try again.
    async fn try_pull(&self, after: u64, max_bytes: u64) -> Result<Option<PullPlan>, StoreError> {
        let mut client = self.cluster.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let Some(row) = tx
            .query_opt(
                "SELECT head, floor, bytes, snapshot FROM logs WHERE workspace_id = $1",
                &[&self.ws],
            )
            .await?
        else {
            return Ok(Some(PullPlan::whole(crate::storage::Pulled {
                position: Position::default(),
                body: Vec::new(),
            })));
        };
        let pos = position(&row);
        let snapshot: Option<String> = row.get("snapshot");
        let mut parts = Vec::new();
        let mut len: u64 = 0;
        if after < pos.floor
            && let Some(name) = &snapshot
        {
            let data = match self.cluster.objects.get(name).await {
                Ok(d) => d,
                Err(ObjectError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            len += push_frame(&mut parts, FrameKind::Snapshot, pos.floor, data)?;
        }
        let len_before_entries = len;
        let budget = max_bytes.saturating_sub(len);
        // Each frame is at least a header: no more rows than that can fit.
        let most = to_db(budget / FRAME_HEADER_LEN as u64 + 1);
        let rows = tx
            .query(
                "SELECT seq, len, payload, object FROM (
                    SELECT seq, len, payload, object,
                           (SUM(len + $3) OVER (ORDER BY seq))::BIGINT AS upto
                    FROM (SELECT * FROM entries
                          WHERE workspace_id = $1 AND seq > $2 AND dropped_by IS NULL
                          ORDER BY seq LIMIT $5) e
                 ) t
                 WHERE upto - (len + $3) < $4
                 ORDER BY seq",
                &[
                    &self.ws,
                    &to_db(after.max(pos.floor)),
                    &HEADER,
                    &to_db(budget),
                    &most,
                ],
            )
            .await?;
        tx.commit().await?;
        // Which rows fit: at least one frame in all, never past the budget.
        let mut taken = Vec::new();
        for row in rows {
            let cost = from_db(row.get::<_, i64>("len")) + FRAME_HEADER_LEN as u64;
            if len > 0 && len + cost > max_bytes {
                break;
            }
            len += cost;
            taken.push(row);
        }
        let fetched: Result<Vec<(u64, Bytes)>, ObjectError> =
            futures::stream::iter(taken.into_iter().map(|row| {
                let seq = from_db(row.get("seq"));
                let payload: Option<Vec<u8>> = row.get("payload");
                let object: Option<String> = row.get("object");
                let objects = self.cluster.objects.clone();
                async move {
                    match (payload, object) {
                        (Some(p), _) => Ok((seq, Bytes::from(p))),
                        (None, Some(name)) => objects.get(&name).await.map(|b| (seq, b)),
                        (None, None) => Err(ObjectError::NotFound(format!("entry {seq}"))),
                    }
                }
            }))
            .buffered(PARALLEL_READS)
            .try_collect()
            .await;
        let fetched = match fetched {
            Ok(f) => f,
            // A compaction let go of it under the pull.
            Err(ObjectError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut len = len_before_entries;
        for (seq, data) in fetched {
            len += push_frame(&mut parts, FrameKind::Entry, seq, data)?;
        }
        self.saw(pos);
        Ok(Some(PullPlan {
            position: pos,
            parts,
            len,
            path: format!("workspace {}", self.ws),
        }))
    }
}

/// The bytes of a payload small enough for a row (at most [`INLINE_MAX`]).
async fn read_small(payload: &Payload) -> Result<Bytes, StoreError> {
    if let Some(bytes) = payload.in_memory() {
        return Ok(bytes.clone());
    }
    let payload = payload.clone();
    tokio::task::spawn_blocking(move || payload.read_all())
        .await
        .map_err(|e| StoreError::Failed {
            at: "a spooled upload".into(),
            detail: e.to_string(),
        })?
        .map_err(|e| StoreError::io("a spooled upload", e))
}

/// Adds a frame's header and payload to `parts`; returns its bytes.
fn push_frame(
    parts: &mut Vec<Part>,
    kind: FrameKind,
    seq: u64,
    data: Bytes,
) -> Result<u64, StoreError> {
    let len = u32::try_from(data.len()).map_err(|_| StoreError::Corrupt {
        at: format!("frame {seq}"),
        detail: "longer than a frame can say".into(),
    })?;
    parts.push(Part::Bytes(Bytes::copy_from_slice(&encode_header(
        kind, seq, len,
    ))));
    parts.push(Part::Bytes(data));
    Ok(u64::from(len) + FRAME_HEADER_LEN as u64)
}

#[async_trait::async_trait]
impl WorkspaceLog for ClusterLog {
    fn position(&self) -> Position {
        *self.position.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn append(
        &self,
        entries: Vec<NewEntry>,
        quota: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        // Large payloads become objects first, outside the lock.
        // Small ones go in the row, read from their spool file if need be.
        let mut objects: Vec<Option<String>> = Vec::with_capacity(entries.len());
        let mut inline: Vec<Option<Bytes>> = Vec::with_capacity(entries.len());
        for e in &entries {
            let len = e.payload.len();
            if len > INLINE_MAX as u64 {
                objects.push(if len <= MAX_ENTRY_LEN {
                    let dir = format!("{}/e", self.dir);
                    Some(self.cluster.upload(&dir, e.payload.clone(), now()).await?)
                } else {
                    None
                });
                inline.push(None);
            } else {
                objects.push(None);
                inline.push(Some(read_small(&e.payload).await?));
            }
        }
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT head, floor, bytes FROM logs WHERE workspace_id = $1 FOR UPDATE",
                &[&self.ws],
            )
            .await?
            .ok_or_else(|| self.gone())?;
        let mut pos = position(&row);
        let keys: Vec<&str> = entries.iter().filter_map(|e| e.key.as_deref()).collect();
        let mut known: HashMap<String, (u64, Vec<u8>)> = HashMap::new();
        if !keys.is_empty() {
            for r in tx
                .query(
                    "SELECT key, seq, hash FROM entry_keys WHERE workspace_id = $1 AND key = ANY($2)",
                    &[&self.ws, &keys],
                )
                .await?
            {
                known.insert(r.get(0), (from_db(r.get(1)), r.get(2)));
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        let (mut seqs, mut lens, mut payloads, mut names) = (vec![], vec![], vec![], vec![]);
        let (mut key_names, mut key_seqs, mut key_hashes) = (vec![], vec![], vec![]);
        let mut adopted = Vec::new();
        let mut unused = Vec::new();
        for ((e, object), inline) in entries.iter().zip(objects).zip(&inline) {
            if let Some((seq, hash)) = e.key.as_ref().and_then(|k| known.get(k)) {
                out.push(if hash.as_slice() == e.hash {
                    Appended::Duplicate(*seq)
                } else {
                    Appended::KeyConflict
                });
                unused.extend(object);
                continue;
            }
            let len = e.payload.len();
            if len > MAX_ENTRY_LEN {
                out.push(Appended::TooLarge);
                continue;
            }
            let cost = len + FRAME_HEADER_LEN as u64;
            if pos.bytes.saturating_add(cost) > quota {
                out.push(Appended::OverQuota);
                unused.extend(object);
                continue;
            }
            pos.head += 1;
            pos.bytes += cost;
            seqs.push(to_db(pos.head));
            lens.push(to_db(len));
            payloads.push(inline.as_deref());
            if let Some(name) = &object {
                adopted.push(name.clone());
            }
            names.push(object);
            if let Some(k) = &e.key {
                known.insert(k.clone(), (pos.head, e.hash.to_vec()));
                key_names.push(k.as_str());
                key_seqs.push(to_db(pos.head));
                key_hashes.push(e.hash.as_slice());
            }
            out.push(Appended::New(pos.head));
        }
        if !seqs.is_empty() {
            tx.execute(
                "INSERT INTO entries (workspace_id, seq, len, payload, object)
                 SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::BYTEA[], $5::TEXT[])",
                &[&self.ws, &seqs, &lens, &payloads, &names],
            )
            .await?;
            if !key_names.is_empty() {
                tx.execute(
                    "INSERT INTO entry_keys (workspace_id, key, seq, hash)
                     SELECT $1, * FROM unnest($2::TEXT[], $3::BIGINT[], $4::BYTEA[])",
                    &[&self.ws, &key_names, &key_seqs, &key_hashes],
                )
                .await?;
            }
            tx.execute(
                "UPDATE logs SET head = $2, bytes = $3 WHERE workspace_id = $1",
                &[&self.ws, &to_db(pos.head), &to_db(pos.bytes)],
            )
            .await?;
            if !adopted.is_empty() {
                tx.execute("DELETE FROM garbage WHERE object = ANY($1)", &[&adopted])
                    .await?;
            }
        }
        tx.commit().await?;
        self.saw(pos);
        self.cluster.delete_unseen(unused).await;
        Ok(out)
    }

    async fn pull(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        // A compaction may let go of an object between reading its name
        // and reading it; the second look sees the compaction.
        for _ in 0..3 {
            if let Some(plan) = self.try_pull(after, max_bytes).await? {
                return Ok(plan);
            }
        }
        Err(StoreError::Failed {
            at: format!("workspace {}", self.ws),
            detail: "objects kept vanishing under a pull; compactions are racing it".into(),
        })
    }

    async fn put_snapshot(
        &self,
        upto: u64,
        data: Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        self.compact(upto, data, quota).await
    }

    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        self.undo().await
    }

    async fn forget_compactions(&self) -> Result<usize, StoreError> {
        self.forget_all().await
    }

    async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = self
            .cluster
            .client()
            .await?
            .query(
                "SELECT key, seq, hash FROM entry_keys WHERE workspace_id = $1",
                &[&self.ws],
            )
            .await?;
        Ok(rows.iter().map(|r| key_row(r, 0)).collect())
    }
}

impl ClusterStore {
    /// [`LogStore::load`]: the snapshot and large entries as objects
    /// first, then every row in one transaction.
    async fn load_dump(&self, ws: &WorkspaceId, dump: LogDump) -> Result<(), StoreError> {
        let id = ws.to_string();
        let dir = format!("w/{id}");
        let now = now();
        let mut adopted = Vec::new();
        let snapshot = match &dump.snapshot {
            Some(data) => {
                let name = self
                    .cluster
                    .upload(&format!("{dir}/s"), data.clone().into(), now)
                    .await?;
                adopted.push(name.clone());
                Some(name)
            }
            None => None,
        };
        let (mut seqs, mut lens, mut payloads, mut names) = (vec![], vec![], vec![], vec![]);
        let mut bytes = dump.snapshot.as_ref().map_or(0, |s| s.len() as u64);
        for (seq, payload) in &dump.entries {
            let object = if payload.len() > INLINE_MAX {
                let name = self
                    .cluster
                    .upload(&format!("{dir}/e"), payload.clone().into(), now)
                    .await?;
                adopted.push(name.clone());
                Some(name)
            } else {
                None
            };
            bytes += payload.len() as u64 + FRAME_HEADER_LEN as u64;
            seqs.push(to_db(*seq));
            lens.push(to_db(payload.len() as u64));
            payloads.push(object.is_none().then(|| payload.as_ref()));
            names.push(object);
        }
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO logs (workspace_id, head, floor, bytes, snapshot, snapshot_len)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &id,
                    &to_db(dump.head),
                    &to_db(dump.floor),
                    &to_db(bytes),
                    &snapshot,
                    &to_db(dump.snapshot.as_ref().map_or(0, |s| s.len() as u64)),
                ],
            )
            .await?;
        if inserted == 0 {
            drop(tx);
            self.cluster.delete_unseen(adopted).await;
            return Err(StoreError::Failed {
                at: format!("workspace {id}"),
                detail: "it has a log already".into(),
            });
        }
        tx.execute(
            "INSERT INTO entries (workspace_id, seq, len, payload, object)
             SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::BYTEA[], $5::TEXT[])",
            &[&id, &seqs, &lens, &payloads, &names],
        )
        .await?;
        let keys: Vec<&str> = dump.keys.iter().map(|k| k.key.as_str()).collect();
        let key_seqs: Vec<i64> = dump.keys.iter().map(|k| to_db(k.seq)).collect();
        let hashes: Vec<&[u8]> = dump.keys.iter().map(|k| k.hash.as_slice()).collect();
        tx.execute(
            "INSERT INTO entry_keys (workspace_id, key, seq, hash)
             SELECT $1, * FROM unnest($2::TEXT[], $3::BIGINT[], $4::BYTEA[])",
            &[&id, &keys, &key_seqs, &hashes],
        )
        .await?;
        tx.execute("DELETE FROM garbage WHERE object = ANY($1)", &[&adopted])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
